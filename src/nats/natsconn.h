/*
 * natsconn.h: connecting to NATS and opening the KV buckets recmesh uses.
 *
 * The connection settings (server list, TLS, credentials) and the bucket
 * settings are process-wide: natsconn_configure checks and loads them once
 * at start (options_apply calls it), natsconn_open and natsconn_kv_open use
 * them. natsconn_reload replaces the credentials (a node's SIGHUP); they are
 * guarded by a mutex that no caller ever sees. Secrets (passwords, tokens) are read from files there and kept only
 * in this module's memory, wiped by natsconn_unconfigure; they never appear
 * in an error message or a log line. URLs are printed only through
 * natsconn_redact.
 *
 * Every call that talks to the server may block (network round trips):
 * never call them on the libev thread of the data path.
 */
#ifndef RECMESH_NATSCONN_H
#define RECMESH_NATSCONN_H

#include "base/names.h"
#include "nats/natslink.h"

#include <nats/nats.h>
#include <stddef.h>

#define NATSCONN_JS_WAIT_MS 5000
#define NATSCONN_MAX_SERVERS 32  /* URLs in one --nats list */
#define NATSCONN_MAX_URL 1024    /* bytes in one URL */
#define NATSCONN_SECRET_MAX 1024 /* bytes in a password or token file */
#define NATSCONN_MAX_REPLICAS 5  /* JetStream's limit */
#define NATSCONN_AUTO_REPLICAS 3 /* on a clustered JetStream, without --kv-replicas */
#define NATSCONN_MAX_DETAIL 256  /* bytes of a server's error text that are logged */

/* What options_apply hands over; every pointer is borrowed for the call */
struct natsconn_settings {
	const char *urls;          /* --nats, comma-separated */
	const char *tls_ca;        /* --nats-tls-ca */
	const char *tls_cert;      /* --nats-tls-cert */
	const char *tls_key;       /* --nats-tls-key */
	const char *creds;         /* --nats-creds */
	const char *nkey;          /* --nats-nkey: a user NKey seed file */
	const char *user;          /* --nats-user */
	const char *password_file; /* --nats-password-file */
	const char *token_file;    /* --nats-token-file */
	unsigned kv_replicas;      /* 0: 3 on a clustered JetStream, else 1 */
	double kv_ttl;             /* seconds a key lives without a rewrite; 0: forever */
};

/*
 * Checks the settings (the URL list, that each file is readable, that the
 * password and token files are neither empty nor over NATSCONN_SECRET_MAX,
 * that the options go together) and keeps them for natsconn_open. Returns
 * 0, or -1 with a reason that holds no secret.
 */
int natsconn_configure(const struct natsconn_settings *s, char *err, size_t err_size);
/*
 * Reads every credential file of s again (TLS files, --nats-creds,
 * --nats-nkey, the password and token files; s->urls and the bucket
 * settings are ignored) and, when all are valid, uses them from the next
 * connect: the next natsconn_open, and libnats' own reconnects of open
 * connections with --nats-creds (its callbacks read the current JWT and
 * key). Open --nats-nkey connections keep signing with the key they were
 * opened with; those superseded keys are kept until natsconn_unconfigure,
 * at most NATSCONN_MAX_RETIRED of them (a further new key is refused).
 * Any thread; returns 0, or -1 with a reason that holds no secret (and
 * nothing changed).
 */
int natsconn_reload(const struct natsconn_settings *s, char *err, size_t err_size);
#define NATSCONN_MAX_RETIRED 16
/*
 * Forgets the settings, wiping the secrets (no connection may be open);
 * does nothing while a thread holds them (natsconn_hold)
 */
void natsconn_unconfigure(void);
/* The TTL a bucket recmesh creates gets, in milliseconds (0: none) */
int64_t natsconn_kv_ttl_ms(void);

/*
 * Connects to urls (comma-separated list; NULL: the configured list) for
 * the owner of link l (natslink.h), which every callback of the
 * connection tells what happened; none of them logs. The
 * servers are tried in random order; reconnects walk the list and the
 * servers the cluster announces. With background set, a server that is
 * down at start is not an error: the connection keeps retrying forever and
 * reconnects after every loss (the proxy's mode); refused credentials and
 * TLS failures are said once each, as what they are. Without it, failing
 * to connect within timeout_ms is an error (the one-shot commands). An
 * NKey login whose nonce signature libnats before 3.8.0 would drop (a
 * zero first byte, one in 256) is not sent: a new connection, with a new
 * nonce, is tried (at most 4 in all; libnats' retry in the background).
 * Returns the connection or NULL with a reason in err.
 */
natsConnection *natsconn_open(struct natslink *l, const char *urls, const char *name, int background,
			      int64_t timeout_ms, char *err, size_t err_size);
/*
 * Closes and frees nc (NULL: nothing), opened with l. It is marked as
 * closed on purpose first, so its own callbacks say nothing of this close;
 * other connections' callbacks are not affected.
 */
void natsconn_close(struct natslink *l, natsConnection *nc);
/*
 * What natsconn_open would make of urls (NULL: the configured list) without
 * connecting: 0, or -1 with the reason natsconn_open would give (a bad
 * setting, a TLS file libnats refuses, no memory). Any thread; no network.
 */
int natsconn_check(const char *urls, char *err, size_t err_size);
/*
 * A thread that may still be connecting, or closing what it opened, when
 * the process stops (the publisher's opener, left to finish on its own by
 * a stop during its connect) holds the settings from before it starts
 * until it is done: natsconn_unconfigure leaves them alone meanwhile
 * (libnats may still call back with them; the process is exiting).
 */
void natsconn_hold(void);
void natsconn_release(void);
/*
 * Waits until no thread holds the settings, at most timeout seconds: a
 * process that stops calls it before nats_Close, so that an opener left
 * behind finishes its close (and its callbacks) first. 1 when none holds
 * them, 0 at the timeout.
 */
int natsconn_wait_released(double timeout);
#define NATSCONN_STOP_WAIT 2.5 /* seconds a stop waits for openers left behind */

/*
 * A background connection whose first try failed is said to be "not
 * reachable yet" only once libnats has had time to try every server of the
 * list again (servers x (connect timeout + reconnect wait) + 1 s) and it is
 * still down without a refusal or a TLS failure said meanwhile: the reason read right
 * after the first try can be gone already (libnats' reconnect thread clears
 * it as it starts), and a refused login then looked like an unreachable
 * server. The connection's owner calls this now and then (the publisher's
 * thread does, every pass); now: clock_mono().
 */
void natsconn_tick(struct natslink *l, natsConnection *nc, double now);

/*
 * A node whose connection libnats closed for good (refused credentials, TLS
 * failure) opens a new one after natsconn_reopen_delay(failures, r)
 * seconds: NATSCONN_REOPEN_MIN doubling with each failure in a row up to
 * NATSCONN_REOPEN_MAX, times a jitter of +-NATSCONN_REOPEN_JITTER taken
 * from r in [0, 1] (0.5 when out of range), never above the maximum. Pure.
 */
#define NATSCONN_REOPEN_MIN 1.0
#define NATSCONN_REOPEN_MAX 60.0
#define NATSCONN_REOPEN_JITTER 0.2
double natsconn_reopen_delay(unsigned failures, double r);

/*
 * Opens (and with create, creates when missing) a KV bucket; l, whose
 * connection nc is, may be NULL when create is 0. replicas > 0
 * overrides the configured --kv-replicas. A bucket recmesh creates keeps
 * one value per key and forgets keys not rewritten within the configured
 * TTL (--max-age). An existing bucket whose settings differ from these is
 * used as it is, and the difference is said once per link (natslink.h) with how
 * to fix it, as is the creation of a bucket.
 * On success returns 0 and sets *js and *kv (destroy both with
 * natsconn_kv_close). On failure returns -1 with a reason; *missing is set
 * when JetStream answered but the bucket does not exist, *no_js when
 * JetStream is not enabled on the server.
 */
int natsconn_kv_open(struct natslink *l, natsConnection *nc, const char *bucket, int create, int replicas, jsCtx **js,
		     kvStore **kv, int *missing, int *no_js, char *err, size_t err_size);
void natsconn_kv_close(jsCtx *js, kvStore *kv);

/*
 * The largest chunk of a KV value that fits, with a KV write's headers, into
 * one message of a server announcing max_payload (0: not known yet): 4096
 * bytes less, or an eighth less below 32 KiB, never under 2048 bytes; 1 MiB
 * less 4096 while it is not known (doc/nats.md, "Keys and chunks").
 */
size_t natsconn_kv_chunk_max(int64_t max_payload);

/*
 * Refused publishes (natslink_count_denied): the server answers a
 * connection's publishes in order, and libnats calls the error handler in
 * order, soon after the server's -ERR has been read. The handler reads
 * the text as the connection's last error: when another violation (a KV
 * put also refused) follows within that moment, the refusal before it may
 * be read as that one and not counted.
 */

/* A natsStatus with the library's last error detail, for log messages */
const char *natsconn_strerror(natsStatus s, char *buf, size_t size);

/*
 * A text from the server or the library (an -ERR detail) made fit to log:
 * control bytes replaced by '?', cut at NATSCONN_MAX_DETAIL bytes (and at
 * size), every configured secret (password, token, a URL's user
 * information and its password alone) replaced by "***". NULL gives "".
 * Returns buf.
 */
char *natsconn_sanitize(const char *text, char *buf, size_t size);

/*
 * Pure helpers (unit-tested).
 *
 * natsconn_redact: urls with the user information (user, password, token)
 * of every URL of the list replaced by "***@"; always NUL-terminated, cut
 * at size. Returns buf.
 *
 * natsconn_split: splits a comma-separated list into at most max URLs
 * (spaces around each are dropped) written to out[] as pointers into a
 * copy in store (store_size bytes). Each is nats://, tls:// or no scheme
 * (host:port), has a host, no space or control character and at most
 * NATSCONN_MAX_URL - 1 bytes; an empty item is an error. Returns the
 * count, or -1 with a reason that shows the list redacted.
 *
 * natsconn_has_password: 1 when some URL of the list carries a password or
 * token in its user information.
 *
 * natsconn_nkey_public: the user public key ("U...") of a user NKey seed
 * ("SU..."); returns 0, or -1 with a reason (the seed is never quoted).
 *
 * natsconn_classify: what a failed connect means: NATSCONN_AUTH (refused
 * credentials), NATSCONN_TLS, NATSCONN_DENIED (a permissions violation:
 * the credentials are good, a subject is not allowed), or
 * NATSCONN_UNREACHABLE; detail is the
 * library's last error text (may be NULL).
 */
char *natsconn_redact(const char *urls, char *buf, size_t size);
int natsconn_split(const char *urls, char *store, size_t store_size, const char **out, int max,
		   char *err, size_t err_size);
int natsconn_has_password(const char *urls);
int natsconn_nkey_public(const char *seed, char *pub, size_t pub_size, char *err, size_t err_size);

enum natsconn_failure natsconn_classify(natsStatus s, const char *detail, int tls);

#endif
