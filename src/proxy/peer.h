/*
 * peer.h: warm peers as a fallback while the Recursor behind a proxy
 * restarts (`recmesh proxy --peer`, recmesh(1) "Restarts and peers").
 *
 * The policy (which upstreams a query goes to, and when: the shield, the
 * route of a query, the bench, the limits) is router.h's, pure; the
 * shield is stepped once for the process (liveness.h).
 *
 * This is the channel to the peers (struct peers; channel.h: peers_channel
 * is its send and cancel, the callbacks its answers and failures), on the
 * data path's libev loop only, which asks the router and tells it what
 * became of each query:
 * one ID pool per peer and a connected UDP socket per query (a new
 * random source port each; --peer-max-inflight of them at most); a peer's
 * answer is matched by source (the socket is connected), ID and question
 * (dns_qkey), like the Recursor's, and handed to the caller's answer
 * callback, never to the local Recursor. A UDP client's question already
 * in flight to a peer is not sent again: it waits for that answer
 * (PEER_WAITERS at most), which goes to every one waiting. A truncated answer to a TCP
 * client's query is asked again over TCP (one connection, tcpchan.h: an
 * ID of its own, the same timeout; a UDP
 * client gets the truncated answer and retries over TCP itself). Queries waiting for their hedge
 * delay are copied into a bounded queue. Everything the caller holds is a
 * handle (nonzero; 0 is "none"); peers_cancel takes one that is no longer
 * valid without harm, so the caller cancels whenever it forgets a query.
 *
 * Ownership: the answer buffer handed to the answer callback belongs to
 * peers and is valid during the call only (the callee may change its ID).
 * Callbacks may call peers_cancel but must not destroy the peers.
 */
#ifndef RECMESH_PEER_H
#define RECMESH_PEER_H

#include "dns/dnsmsg.h"
#include "net/recphase.h"
#include "proxy/channel.h"
#include "proxy/router.h"
#include "tables/warmset.h"

#include <ev.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

#define PEER_QMAX 512         /* bytes of a query that may wait for its hedge delay */
#define PEER_HEDGE_QUEUE 4096 /* queries waiting for their hedge delay at most */
#define PEER_TIMEOUT_MAX 2.0  /* seconds a peer's answer is waited for at most */
#define PEER_WAITERS 4096     /* queries coalesced onto identical ones in flight, at most */

/* The forwarder's counters (in struct proxy_stats; the data path's thread writes them) */
struct peer_stats {
	uint64_t sent_down;    /* queries sent to a peer while the local Recursor was down */
	uint64_t sent_warming; /* ... while it was being warmed (after the hedge delay) */
	uint64_t sent_cold;    /* ... while it was being warmed, at once: the name was not warmed yet */
	uint64_t first;        /* peer answers relayed to the client (the peer was first) */
	uint64_t lost_race;    /* peer queries dropped: the local Recursor answered first */
	uint64_t failed;       /* peer queries that timed out or could not be sent */
	uint64_t refused;      /* of those: the peer refused (ICMP) */
	uint64_t truncated;    /* peer answers with TC for a TCP client (asked again over TCP) */
	uint64_t unexpected;   /* peer messages matching no query in flight */
	uint64_t rejected;     /* peer answers not relayed: an error rcode or no RA (also in failed) */
	uint64_t from_peer;    /* client queries a peer proxy sent (marked): never sent to a peer (loops) */
	uint64_t coalesced;    /* client queries that waited for an identical one in flight to a peer */
	uint64_t limited_rate; /* queries not sent: --peer-max-qps */
	uint64_t limited_inflight; /* queries not sent: --peer-max-inflight */
	uint64_t
		limited_queue; /* queries not hedged: the hedge queue was full or the query too big */
	uint64_t no_peer;      /* queries not sent: every peer benched */
	uint64_t benched;      /* times a peer was benched */
	uint64_t shields;      /* restarts shielded (the local Recursor went down or was warmed) */
	uint64_t in_flight;    /* gauge: peer queries in flight */
	uint64_t in_flight_max; /* the most in flight at once */
	uint64_t mode;          /* gauge: enum peer_mode */
};

/*
 * What the counters moved from a to b (a gauge's field holds its change,
 * which means nothing: read the counters only), and a saturating sum
 */
struct peer_stats peer_stats_moved(const struct peer_stats *a, const struct peer_stats *b);
void peer_stats_add(struct peer_stats *sum, const struct peer_stats *x);

struct peer_config {
	char *const *peers; /* "ADDR[:PORT]" entries, port 53 by default */
	size_t npeers;
	double hedge_delay; /* seconds; 0: at once */
	double shield_max;  /* seconds */
	double timeout;     /* seconds a peer's answer is waited for */
	unsigned max_qps, max_inflight;
	unsigned threads; /* data path threads (workers.h): above 1 the limits are this thread's share */
	/*
	 * The names warmed since the local Recursor last went down (NULL: none
	 * is known, every query waits for the hedge delay); cleared when the
	 * shield finds it down and when the auto-warm starts a warm-up, filled
	 * by the local Recursor's answers during a shield (peers_local_answer)
	 * and by the auto-warm's replay. Borrowed: it must outlive the peers.
	 */
	struct warmset *warmed;
	/*
	 * The local Recursor's liveness and the shield, shared by every data
	 * path thread's peers (liveness.h; borrowed: it must outlive them);
	 * NULL: these peers make their own, on rec
	 */
	struct liveness *live;
	/* whether the local Recursor is down (borrowed), for a liveness made here */
	struct recstate *rec;
};

struct liveness;

struct peer_callbacks {
	/*
	 * What became of a query sent (channel.h): a peer answered it first
	 * (relay pkt, its ID still the peer's; r is NULL), or it failed
	 * (CHANNEL_TIMEOUT: a timeout, a send error, a refusal, an unusable
	 * answer, the TCP fallback failed); flush after each answer (the
	 * answer's buffer is handed to every query coalesced onto one: send
	 * or copy it before the next callback); refused
	 * is not called (a refusing peer is benched)
	 */
	struct channel_user user;
	/* the hedge delay of token passed: the caller may now send pkt (ctx: user.ctx) */
	void (*hedge)(void *ctx, uint64_t token, uint8_t *pkt, size_t len);
};

struct peers;

/* Opens a socket per peer; NULL with a reason in err. st must outlive the peers */
struct peers *peers_create(struct ev_loop *loop, const struct peer_config *cfg,
			   const struct peer_callbacks *cb, uint32_t qseed, struct peer_stats *st,
			   char *err, size_t err_size);
void peers_destroy(struct peers *ps);

/*
 * The mode for a query now: the shield of the liveness these peers share
 * (liveness.h), stepped with phase; adds this thread's share to the
 * summary of a shield it sees ended. Called at least every 0.1 s (the
 * proxy's sweep), so that the summary waits for no thread longer.
 */
enum peer_mode peers_mode(struct peers *ps, const atomic_int *phase, uint64_t now_ns);
/*
 * The local Recursor answered a query during a shield (r: its parsed
 * answer; NULL: it did not parse): its name is warmed, one a client asks
 * again goes to it alone. Whether it is up is the recstate's to say
 * (net/recstate.h; the data path reports there).
 */
void peers_local_answer(struct peers *ps, const struct dns_msg_info *r);
/*
 * Whether a client's query (parsed: q) came from a peer proxy: it carries
 * RECMESH_EDNS_OPT_PEER, which peers_send adds to every query with EDNS
 * that it sends. Such a query never goes to a peer again, which would
 * make a loop between proxies that peer each other: the data path asks
 * this first, and peers_send asks it too (the rescue of queries in flight
 * when the upstream refuses sends without the data path) and returns 0.
 * A query it returns 1 for is counted (from_peer) and said once.
 */
int peers_from_peer(struct peers *ps, const struct dns_msg_info *q);
/*
 * Whether a query (parsed: q) is for a name not warmed since the shield
 * started; 0 without a warmed set
 */
int peers_name_cold(const struct peers *ps, const struct dns_msg_info *q);

/*
 * Sends a copy of the query (len at least a header) to a usable peer,
 * within the limits; tcp: the client came over TCP (a truncated answer is
 * a failure). mode says which counter it counts in (PEER_NOW: sent_down,
 * PEER_HEDGE: sent_warming, PEER_COLD: sent_cold). Returns a handle, or 0
 * when it was not sent (counted).
 */
uint64_t peers_send(struct peers *ps, const uint8_t *pkt, size_t len, int tcp, uint64_t token,
		    enum peer_mode mode, uint64_t now_ns);
/* The peers as a channel (channel.h): its send is peers_send (counted_as: the mode), its cancel peers_cancel */
struct channel peers_channel(struct peers *ps);
/* Queues a copy of the query until the hedge delay passed; returns a handle or 0 (counted) */
uint64_t peers_hedge(struct peers *ps, const uint8_t *pkt, size_t len, uint64_t token,
		     uint64_t now_ns);
/* Whether a handle is a query still waiting for its hedge delay (not sent yet) */
static inline int peers_handle_queued(uint64_t handle)
{
	return (handle >> 63) != 0;
}
/* Forgets a query sent or queued (the local Recursor answered, the client went); 0 is ignored */
void peers_cancel(struct peers *ps, uint64_t handle, int lost_race);
/* The configured hedge delay in nanoseconds */
uint64_t peers_hedge_ns(const struct peers *ps);

#endif
