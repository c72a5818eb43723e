/*
 * router.h: the policy of `recmesh proxy --peer` (recmesh(1) "Restarts and
 * peers"), apart from packets: which upstreams a client query goes to, and
 * when. Pure: no socket, no loop, no clock of its own; the unit tests
 * (test_router) drive it with theirs.
 *
 *  - the shield (peer_shield_step): from the auto-warm's phase and whether
 *    the local Recursor is down (net/recstate.h), whether client queries go
 *    to the local Recursor only (PEER_OFF), to it and after a hedge delay to
 *    a peer as well (PEER_HEDGE, while it is being warmed), or to it and at
 *    once to a peer (PEER_NOW, while it is down); stepped once for the
 *    process (liveness.h);
 *  - the route of one query (router_route): from the shield's mode, whether
 *    a peer proxy sent the query, and whether its name is warmed yet
 *    (tables/warmset.h): the local Recursor only, a peer at once as well
 *    (counted as sent while down, while warming, or cold), or a peer after
 *    the hedge delay;
 *  - the admission of a query to a peer (router_admit): the in-flight
 *    limit, a usable peer in turn (the bench: a peer that times out or
 *    refuses is left alone for a while, doubling each time), the rate limit
 *    (a token bucket), in that order;
 *  - what became of a query (router_failed, router_answered), which feeds
 *    the bench.
 *
 * The channels (channel.h) only send, match answers and time out: the
 * local Recursor's is always asked (localchan.c for UDP clients; a TCP
 * client's own upstream connection, proxy_tcp.c); the peers' (peer.c)
 * asks router_admit before it sends and tells the router what came back.
 *
 * Ownership: a struct router belongs to one data path thread's peers; no
 * locks.
 */
#ifndef RECMESH_ROUTER_H
#define RECMESH_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#define PEER_MAX 16           /* --peer entries at most */
#define PEER_BENCH_FAILS 3    /* timeouts in a row that bench a peer (a refusal benches at once) */
#define PEER_BENCH_MIN 1.0    /* seconds of the first bench */
#define PEER_BENCH_MAX 60.0   /* seconds a bench lasts at most */


/*
 * The shield's modes; PEER_COLD is a query's, never the shield's: in
 * PEER_HEDGE, a name not warmed yet, sent to a peer at once
 */
enum peer_mode { PEER_OFF = 0, PEER_HEDGE = 1, PEER_NOW = 2, PEER_COLD = 3 };

/* The shield: when client queries go to peers too */
struct peer_shield {
	int active;        /* between the local Recursor going down (or being warmed) and the end */
	int saw_warming;   /* the warm-up was seen running since the Recursor came back */
	int expired;       /* ended at max_ns while a warm-up still runs: not again for it */
	uint64_t since_ns; /* when the Recursor came back (or the warm-up started) */
};
void peer_shield_init(struct peer_shield *s);
/*
 * One step: phase is the auto-warm's (REC_PHASE_IDLE without one),
 * local_down whether the data path sees the local Recursor down. Returns
 * the mode; *ended is set to 1 when the shield has just ended (the warm-up
 * finished after the Recursor came back, or max_ns passed since then: then
 * it stays off until that warm-up ends or the Recursor goes down again).
 */
enum peer_mode peer_shield_step(struct peer_shield *s, int phase, int local_down, uint64_t now_ns,
				uint64_t max_ns, int *ended);

/* The bench of one peer */
struct peer_bench {
	unsigned fails;    /* timeouts in a row */
	double next;       /* seconds of the next bench */
	uint64_t until_ns; /* benched until then */
};
void peer_bench_init(struct peer_bench *b);
int peer_bench_usable(const struct peer_bench *b, uint64_t now_ns);
/* A timeout (refused 0) or a refusal (1); returns the seconds benched now, or 0 when not */
double peer_bench_fail(struct peer_bench *b, int refused, uint64_t now_ns);
/* An answer: the failures in a row and the next bench's length start over */
void peer_bench_ok(struct peer_bench *b);

/* The rate limit: max_qps per second, bursts of a tenth of a second */
struct peer_rate {
	double tokens, rate, burst;
	uint64_t last_ns;
};
void peer_rate_init(struct peer_rate *r, unsigned max_qps, uint64_t now_ns);
/* 1 and one token taken, or 0 over the rate */
int peer_rate_take(struct peer_rate *r, uint64_t now_ns);

/* Where a client query goes besides the local Recursor, which is always asked */
enum route {
	ROUTE_LOCAL = 0,   /* nowhere else */
	ROUTE_PEER_NOW,    /* to a peer at once */
	ROUTE_PEER_HEDGED, /* to a peer if the local Recursor has not answered after the hedge delay */
};

struct route_decision {
	enum route route;
	enum peer_mode counted_as; /* ROUTE_PEER_*: the counter it is sent under (PEER_NOW, _HEDGE, _COLD) */
};

/*
 * mode: the shield's (PEER_OFF, _HEDGE, _NOW); from_peer: a peer proxy
 * sent the query (it never goes to a peer again: no loop between proxies);
 * cold: its name is not warmed yet; hedge_ns: --peer-hedge-delay
 */
struct route_decision router_route(enum peer_mode mode, int from_peer, int cold, uint64_t hedge_ns);

/* The state of one thread's admission of queries to peers */
struct router {
	struct peer_bench bench[PEER_MAX];
	unsigned npeers;       /* at most PEER_MAX */
	unsigned next;         /* the peer to try first next time (in turn) */
	unsigned max_inflight; /* --peer-max-inflight (this thread's share) */
	struct peer_rate rate; /* --peer-max-qps (this thread's share) */
};

/* Why router_admit sent a query to no peer */
enum router_refusal {
	ROUTER_INFLIGHT = 1, /* in_flight at max_inflight, or no query slot free */
	ROUTER_NO_PEER,      /* every peer benched */
	ROUTER_RATE,         /* over max_qps */
};

/* npeers is capped at PEER_MAX */
void router_init(struct router *r, unsigned npeers, unsigned max_qps, unsigned max_inflight, uint64_t now_ns);
/*
 * The peer a query goes to now (its index), or -1 with why in *refusal:
 * in_flight queries sent to peers and not ended, slot_free whether the
 * channel has a query slot free. A peer picked is next tried last; a
 * token of the rate is taken only when a peer was found.
 */
int router_admit(struct router *r, unsigned in_flight, int slot_free, uint64_t now_ns,
		 enum router_refusal *refusal);
/* Peer i timed out (refused 0) or refused (1): the seconds it is benched now, or 0 */
double router_failed(struct router *r, unsigned i, int refused, uint64_t now_ns);
/* Peer i answered: its failures in a row and its next bench's length start over */
void router_answered(struct router *r, unsigned i);

#endif
