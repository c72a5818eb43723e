/*
 * localchan.h: the channel (channel.h) to the local Recursor over UDP,
 * which a proxy's UDP clients' queries always go to.
 *
 * Every upstream UDP socket has its own 16-bit ID space, an ID pool
 * (net/idpool.h): free IDs start as a random permutation and are reused
 * first-in first-out, so an ID comes back as late as possible. The
 * channel writes the ID into the caller's buffer, queues the query, and
 * flush sends what was queued with one sendmmsg on one socket; the next
 * flush uses the next socket. An answer is matched by source, ID and
 * question: each socket is connected to the Recursor, so the kernel
 * delivers datagrams from its address and port only (and the source
 * recvmmsg reports is checked once more, which costs a compare); the ID
 * must be in flight on that socket; the question must be the query's
 * (dns_qkey, dns/qkey.h, over the raw question bytes, so an answer that
 * does not parse is matched as well). An answer that fails any of the
 * three is dropped and counted as unexpected. IDs in flight are on the
 * pool's list in send order, so the sweep finds the timed-out ones by
 * looking at the oldest only.
 *
 * Counters (in the proxy's struct proxy_stats): answers, malformed and
 * unexpected (mismatched) responses, timeouts, send errors, and queries
 * not sent for want of a free ID (overload_drops).
 *
 * Ownership: one data path thread's loop; the receive buffers are the
 * caller's (borrowed), shared with its client side: an answer handed to
 * the answer callback lives there until the channel's flush callback
 * returned.
 */
#ifndef RECMESH_LOCALCHAN_H
#define RECMESH_LOCALCHAN_H

#include "net/netaddr.h"
#include "proxy/channel.h"
#include "proxy/proxy.h"

#include <ev.h>

#define LOCALCHAN_BATCH 32      /* datagrams per sendmmsg and recvmmsg */
#define LOCALCHAN_RX_SIZE 65536 /* bytes of each receive buffer */
#define LOCALCHAN_IDS 65536     /* queries in flight per socket at most */

struct localchan_config {
	const struct netaddr *upstream;
	unsigned sockets;    /* 1 to 256 */
	uint64_t timeout_ns; /* an unanswered query fails (CHANNEL_TIMEOUT) after this */
	uint32_t qseed;      /* the question keys' seed */
	uint8_t *rx_bufs;    /* LOCALCHAN_BATCH * LOCALCHAN_RX_SIZE bytes, borrowed */
	struct proxy_stats *st;
};

struct localchan;

/* Opens and connects the sockets; NULL with a reason in err */
struct localchan *localchan_create(struct ev_loop *loop, const struct localchan_config *cfg,
				   const struct channel_user *user, char *err, size_t err_size);
void localchan_destroy(struct localchan *lc);
struct channel localchan_channel(struct localchan *lc);
/* Fails the queries unanswered for the timeout (the caller's sweep, every 0.1 s) */
void localchan_sweep(struct localchan *lc, uint64_t now_ns);
/* Queries in flight */
uint64_t localchan_in_flight(const struct localchan *lc);
/* Queries the channel can hold in flight at once */
uint32_t localchan_capacity(const struct localchan *lc);

#endif
