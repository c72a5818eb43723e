/*
 * tcpchan.h: a channel (channel.h) over one pipelined DNS-over-TCP
 * connection to one server. A TCP client's queries to the local Recursor
 * go over one of their own (proxy_tcp.c: one channel per client
 * connection), and so does a peer's TCP fallback (peer.c: one query).
 *
 * The connection opens at the first send, and again at the first send
 * after it failed. Each query is framed into the connection's output
 * buffer with a random ID of the channel's, never two alike in flight
 * (the caller's buffer is not changed); answers are matched by ID and
 * question (dns_qkey, the one matcher) in whatever order they come. When
 * the connection fails (the connect is refused or fails, a read or write
 * fails, the server closes it) every query in flight fails: CHANNEL_REFUSED
 * after the refused callback when the connect was refused, CHANNEL_UNSENT
 * otherwise; pkt is NULL in those callbacks (the caller keeps its own
 * copy when it needs one); a failure is logged at debug level.
 * tcpchan_sweep fails the queries unanswered for a timeout
 * (CHANNEL_TIMEOUT). After the answers of one read, and after a failure,
 * the flush callback comes.
 *
 * send never calls back but the refused callback (a connect refused at
 * once), and returns 0 when the query is not sent: max_inflight in flight,
 * a connect that failed at once, out of memory.
 *
 * Ownership: one data path thread's loop. The answer's buffer is the
 * connection's frame buffer. A callback may destroy the channel: the
 * destroy then completes when the callback returned, and no callback
 * comes after a destroy.
 */
#ifndef RECMESH_TCPCHAN_H
#define RECMESH_TCPCHAN_H

#include "net/netaddr.h"
#include "proxy/channel.h"

#include <ev.h>

#define TCPCHAN_MAX_INFLIGHT 1024 /* max_inflight at most (IDs are found by a walk) */

/* Where the channel counts (each may be NULL) */
struct tcpchan_counters {
	uint64_t *answers;    /* answers matched */
	uint64_t *unexpected; /* messages matching no query in flight (of those, mismatched: another question) */
	uint64_t *mismatched;
	uint64_t *malformed;  /* answers matched that did not parse */
	uint64_t *timeouts;   /* queries failed by tcpchan_sweep */
};

struct tcpchan_config {
	const struct netaddr *server;
	uint32_t qseed;        /* the question keys' seed */
	unsigned max_inflight; /* 1 to TCPCHAN_MAX_INFLIGHT */
	struct tcpchan_counters count;
};

struct tcpchan;

/* NULL when out of memory or max_inflight is out of range; nothing is opened yet */
struct tcpchan *tcpchan_create(struct ev_loop *loop, const struct tcpchan_config *cfg,
			       const struct channel_user *user);
/* Closes the connection; the queries in flight are dropped without a callback */
void tcpchan_destroy(struct tcpchan *tc);
struct channel tcpchan_channel(struct tcpchan *tc);
/* Fails the queries unanswered for timeout_ns (CHANNEL_TIMEOUT) */
void tcpchan_sweep(struct tcpchan *tc, uint64_t now_ns, uint64_t timeout_ns);
/* Queries in flight */
unsigned tcpchan_in_flight(const struct tcpchan *tc);

#endif
