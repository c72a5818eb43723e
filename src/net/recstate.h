/*
 * recstate.h: whether the local Recursor is up, as every part of a node
 * sees it together: one state machine, fed by everything that asks it
 * something, read by everything that acts on it (recmesh(1) "The local
 * Recursor").
 *
 * Inputs:
 *  - the data path's client queries (proxy/proxy.c, each data path thread
 *    with a view of its own): a refusal (ECONNREFUSED) takes it for down at
 *    once; RECSTATE_DOWN_TIMEOUTS of one thread's queries in a row timing
 *    out take it for down (a query sent before it last came back does not
 *    count); an answer takes it for up again;
 *  - the probes (`. NS`) of /health (ops/health.c) and of the auto-warm
 *    (warm/autowarm.c): one refused takes it for down at once;
 *    RECSTATE_DOWN_PROBES in a row (of either) not answered within their
 *    timeout take it for down, unless a client query was answered since
 *    the probe was sent (the probe was lost, not the Recursor); one
 *    answered (any rcode) takes it for up. A probe sent before the
 *    Recursor last came back says nothing of now.
 * An answer to a query or probe sent before the down takes it for up only
 * when it was sent after the down: the process that went away may have
 * sent it, read late.
 *
 * A down for client timeouts alone may be slow names; any other down
 * (refused, probes) is certain, and a refusal or the probes during a down
 * for timeouts make it certain. Readers: the peers' shield
 * (proxy/liveness.c: any down), /health (unhealthy at once on a certain
 * down, whoever saw it) and the auto-warm (warms after a certain down,
 * even one over before its next probe: recstate_certain_downs).
 *
 * Lines: each down and the up that ends it are logged once; a down for
 * timeouts, and its up, at most once per RECSTATE_TIMEOUTS_LOG seconds.
 *
 * Threads: every function may be called from any thread. The down flag is
 * loaded on every answer with a relaxed load and written only when it
 * changes, under a mutex; nothing shared is written on the path of a
 * query while the Recursor is up.
 */
#ifndef RECMESH_RECSTATE_H
#define RECMESH_RECSTATE_H

#include <stdint.h>

#define RECSTATE_DOWN_TIMEOUTS 3  /* one thread's client queries in a row timing out that mean "down" */
#define RECSTATE_DOWN_PROBES 2    /* probes in a row not answered in time that mean "down" */
#define RECSTATE_TIMEOUTS_LOG 10  /* seconds between the lines of downs for timeouts */
#define RECSTATE_ANSWER_NOTE_NS 100000000ull /* a thread tells of its answers at most this often */

/* What took it for down last */
enum recstate_cause {
	RECSTATE_NONE = 0,  /* never down */
	RECSTATE_REFUSED,   /* a client query was refused */
	RECSTATE_TIMEOUTS,  /* RECSTATE_DOWN_TIMEOUTS client queries in a row timed out */
	RECSTATE_PROBE,     /* a probe was refused, or RECSTATE_DOWN_PROBES in a row not answered */
};

/* What became of a probe */
enum recstate_probe_result { RECSTATE_PROBE_ANSWERED = 0, RECSTATE_PROBE_REFUSED, RECSTATE_PROBE_TIMEOUT };

struct recstate;

/* upstream: named in the log lines (copied). NULL when out of memory */
struct recstate *recstate_create(const char *upstream);
void recstate_destroy(struct recstate *rs);

/* One data path thread's own part: its timeouts in a row, when it last saw an answer, ... */
struct recstate_view {
	unsigned timeouts;
	uint64_t last_answer_ns;
	uint64_t up_seen; /* the return it last knew of */
	uint64_t rescued; /* the down it last was told of as news */
	uint64_t published_ns; /* when it last told the others it saw an answer */
};

/*
 * A refusal of a client query, seen by the thread of v: 1 when that is
 * news to this thread (the first refusal it sees since the Recursor was
 * last taken for up: its queries in flight are to be asked again
 * elsewhere). A refusal while down moves the down's time on: answers to
 * queries sent before it are old too.
 */
int recstate_refused(struct recstate *rs, struct recstate_view *v, uint64_t now_ns);
/* A client query of this thread sent at sent_ns timed out */
void recstate_timeout(struct recstate *rs, struct recstate_view *v, uint64_t sent_ns, uint64_t now_ns);
/* The Recursor answered a client query of this thread sent at sent_ns */
void recstate_answer(struct recstate *rs, struct recstate_view *v, uint64_t sent_ns, uint64_t now_ns);
/*
 * A probe sent at sent_ns ended at now_ns: answered (whatever its rcode),
 * refused or timed out (why: what went wrong, for the log; may be NULL)
 */
void recstate_probe(struct recstate *rs, enum recstate_probe_result r, const char *why, uint64_t sent_ns,
		    uint64_t now_ns);

/*
 * The same, from what rootprobe_ask (net/rootprobe.h) returned: 0
 * answered, ROOTPROBE_REFUSED, ROOTPROBE_TIMEOUT; ROOTPROBE_LOCAL (no
 * socket here) says nothing of the Recursor and is not reported
 */
void recstate_probed(struct recstate *rs, int rootprobe_rc, const char *why, uint64_t sent_ns, uint64_t now_ns);

/* Whether it is taken for down (a relaxed load) */
int recstate_down(const struct recstate *rs);
/* Times it was taken for down so far; a reader that saw a number sees the down flag of that down or later */
uint64_t recstate_downs(const struct recstate *rs);
/* When it was last taken for up again (monotonic ns; 0: never down) */
uint64_t recstate_up_ns(const struct recstate *rs);
/* When it was last taken for down, or refused while down (answers to what was sent before are old) */
uint64_t recstate_down_ns(const struct recstate *rs);
/* When it was last taken for down (0: never) */
uint64_t recstate_down_since(const struct recstate *rs);
/* What took it for down last (a down for timeouts made certain since: that) */
enum recstate_cause recstate_cause(const struct recstate *rs);
/* Downs so far by what took it for down first (index: enum recstate_cause; [RECSTATE_NONE] is 0) */
#define RECSTATE_CAUSES 4
void recstate_downs_by_cause(const struct recstate *rs, uint64_t out[RECSTATE_CAUSES]);
/* Certain downs so far: those not for timeouts, and those for timeouts made certain since */
uint64_t recstate_certain_downs(const struct recstate *rs);
/* The down flag, the count and the last up, read together (under the lock: not on every query) */
struct recstate_snap {
	int down;
	uint64_t downs, up_ns;
};
void recstate_snapshot(struct recstate *rs, struct recstate_snap *snap);
/* "its client queries were refused", ... (RECSTATE_NONE: "") */
const char *recstate_cause_text(enum recstate_cause c);

#endif
