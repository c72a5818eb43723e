/*
 * natsconn.h: connecting to NATS and opening the KV buckets recmesh uses.
 *
 * Every call here may block (network round trips): never call them on the
 * libev thread of the data path.
 */
#ifndef RECMESH_NATSCONN_H
#define RECMESH_NATSCONN_H

#include "names.h"

#include <nats/nats.h>
#include <stddef.h>

#define NATSCONN_JS_WAIT_MS 5000

/*
 * Connects to urls (comma-separated list). With background set, a server
 * that is down at start is not an error: the connection keeps retrying
 * forever and reconnects after every loss (the proxy's mode). Without it,
 * failing to connect within timeout_ms is an error (the one-shot commands).
 * Returns the connection or NULL with a reason in err.
 */
natsConnection *natsconn_open(const char *urls, const char *name, int background,
			      int64_t timeout_ms, char *err, size_t err_size);
void natsconn_close(natsConnection *nc);

/*
 * Opens (and with create, creates when missing) a KV bucket. On success
 * returns 0 and sets *js and *kv (destroy both with natsconn_kv_close).
 * On failure returns -1 with a reason; *missing is set when JetStream
 * answered but the bucket does not exist, *no_js when JetStream is not
 * enabled on the server.
 */
int natsconn_kv_open(natsConnection *nc, const char *bucket, int create, int replicas,
		     jsCtx **js, kvStore **kv, int *missing, int *no_js, char *err, size_t err_size);
void natsconn_kv_close(jsCtx *js, kvStore *kv);

/* A natsStatus with the library's last error detail, for log messages */
const char *natsconn_strerror(natsStatus s, char *buf, size_t size);

#endif
