/*
 * channel.h: where a client query goes to be answered. The proxy's front
 * ends (proxy.c for UDP clients, proxy_tcp.c for TCP clients) hold the
 * clients; the router (router.h) says which channels a query goes to and
 * when; a channel only sends, matches answers to queries and times out.
 * The local Recursor over UDP (localchan.h) and the warm peers (peer.h)
 * are channels alike: the front end asks each through this interface and
 * hears back from each through the same callbacks.
 *
 * A query given to a channel is named by the caller's token (any value
 * but 0); the channel returns a handle (nonzero; 0: not sent, counted by
 * the channel where it has a counter for why). Exactly one of answer or
 * fail comes back for a handle,
 * unless the caller cancels it first. A handle the channel has ended is
 * ignored by cancel, so the caller cancels whenever it forgets a query.
 *
 * Ownership and threads: a channel belongs to one data path thread's
 * libev loop. An answer's buffer belongs to the channel and is valid
 * during the call only (the callee may change its ID). Callbacks may call
 * cancel on any channel but must not destroy one.
 */
#ifndef RECMESH_CHANNEL_H
#define RECMESH_CHANNEL_H

#include "dns/dnsmsg.h"

#include <stddef.h>
#include <stdint.h>

/* Why a channel gave up a query */
enum channel_failure {
	CHANNEL_TIMEOUT = 1, /* no answer in time (or the answer was no use) */
	CHANNEL_UNSENT,      /* it could not be sent: pkt in the callback is the query */
	CHANNEL_REFUSED,     /* it could not be sent: the server refused (ICMP); pkt as for UNSENT */
};

struct channel_user {
	/*
	 * The answer to token's query (its ID is the channel's); r: its parse
	 * (NULL when it did not parse, or the channel does not parse answers);
	 * sent_ns: when the query was sent; now_ns: the clock, read once per
	 * batch of answers (also in fail)
	 */
	void (*answer)(void *ctx, uint64_t token, uint8_t *pkt, size_t len,
		       const struct dns_msg_info *r, uint64_t sent_ns, uint64_t now_ns);
	/*
	 * token's query ends without an answer; pkt: the query, for
	 * CHANNEL_UNSENT and CHANNEL_REFUSED from a channel that still has
	 * it (NULL otherwise). A refusal is reported first (refused).
	 */
	void (*fail)(void *ctx, uint64_t token, enum channel_failure why, const uint8_t *pkt,
		     size_t len, uint64_t sent_ns, uint64_t now_ns);
	/* the channel handed over all it read at once: send what the callbacks queued (may be NULL) */
	void (*flush)(void *ctx);
	/* the server behind the channel refused a query (ICMP port unreachable; may be NULL) */
	void (*refused)(void *ctx);
	void *ctx;
};

/* A client query as a channel takes it */
struct channel_query {
	uint8_t *pkt; /* the query; the channel may write its own ID into it (the caller's buffer) */
	size_t len;
	const struct dns_msg_info *msg; /* its parse, NULL when it did not parse */
	int tcp;                        /* the client came over TCP (a truncated answer is no answer) */
	int counted_as;                 /* the router's reason (router.h enum peer_mode), for counters */
};

struct channel_ops {
	/*
	 * Sends the query (or queues it for flush); the buffer must stay
	 * valid until flush. Returns the handle, or 0 when not sent (counted).
	 */
	uint64_t (*send)(void *impl, const struct channel_query *q, uint64_t token, uint64_t now_ns);
	/* Sends what send queued (NULL: send sends at once) */
	void (*flush)(void *impl);
	/* Forgets a query (answered elsewhere, its client went); lost_race: another channel answered first */
	void (*cancel)(void *impl, uint64_t handle, int lost_race);
};

struct channel {
	const struct channel_ops *ops;
	void *impl;
};

static inline uint64_t channel_send(const struct channel *c, const struct channel_query *q,
				    uint64_t token, uint64_t now_ns)
{
	return c->ops->send(c->impl, q, token, now_ns);
}

static inline void channel_flush(const struct channel *c)
{
	if (c->ops->flush)
		c->ops->flush(c->impl);
}

static inline void channel_cancel(const struct channel *c, uint64_t handle, int lost_race)
{
	if (handle)
		c->ops->cancel(c->impl, handle, lost_race);
}

#endif
