/*
 * schedpol.h: the scheduling policy of the proxy's data path thread.
 *
 * Three policies: normal (the usual Linux policy), batch (SCHED_BATCH: a
 * woken thread does not preempt the one running on its CPU, so packets that
 * arrive meanwhile are taken in one batch; this saves CPU under load but
 * delays each wake-up a little at low load) and auto, the default, which
 * runs the thread normally at low load and under SCHED_BATCH at high load.
 *
 * auto is a load follower: it is fed the data path's cumulative query
 * count every sweep (0.1 s) and measures the query rate. It switches to
 * batch after SCHEDPOL_UP_INTERVALS measurements in a row at or above
 * SCHEDPOL_UP_QPS, and back to normal after SCHEDPOL_DOWN_INTERVALS in a
 * row below SCHEDPOL_DOWN_QPS. Between the two rates it keeps what it has,
 * so a load near one threshold does not make it flap.
 *
 * The file is named schedpol, not sched: src/ is on the include path, and a
 * src/sched.h would hide the system's <sched.h>.
 */
#ifndef RECMESH_SCHEDPOL_H
#define RECMESH_SCHEDPOL_H

#include <stddef.h>
#include <stdint.h>

enum schedpol { SCHEDPOL_NORMAL, SCHEDPOL_BATCH, SCHEDPOL_AUTO };

/* auto switches to batch at or above this query rate, sustained */
#define SCHEDPOL_UP_QPS 40000.0
/* and back to normal below this one, sustained */
#define SCHEDPOL_DOWN_QPS 25000.0
#define SCHEDPOL_UP_INTERVALS 3
#define SCHEDPOL_DOWN_INTERVALS 5
/* a measurement spans at least this long; shorter calls add to the next one */
#define SCHEDPOL_MIN_INTERVAL_NS 50000000ull

/* "normal", "batch" or "auto" into *out; -1 for anything else (out untouched) */
int schedpol_parse(const char *name, enum schedpol *out);
/* The name of a policy (a static string) */
const char *schedpol_name(enum schedpol p);

/*
 * Puts the calling thread under p (normal or batch; auto is refused).
 * -1 with a reason in err when the kernel refuses.
 */
int schedpol_apply(enum schedpol p, char *err, size_t err_size);

/* The pure load follower: no system calls, no clock of its own */
struct schedpol_follower {
	enum schedpol current; /* SCHEDPOL_NORMAL or SCHEDPOL_BATCH */
	uint64_t last_ns, last_count;
	int started;
	unsigned streak; /* measurements in a row that point to the other policy */
	double last_qps; /* the latest measured rate */
};

/* Starts in normal; the first call to schedpol_follow only takes its baseline */
void schedpol_follower_init(struct schedpol_follower *f);
/*
 * Feeds the cumulative query count at monotonic time now_ns and returns the
 * policy the thread should run under from now on. A count that went down
 * (a reset) or a clock that did not move takes a new baseline.
 */
enum schedpol schedpol_follow(struct schedpol_follower *f, uint64_t now_ns, uint64_t count);

/*
 * auto for the data path: the follower, plus applying its decisions to the
 * thread that calls schedpol_auto_tick (which must be the data path thread).
 * Owned by the caller of schedpol_auto_start; lives as long as the proxy.
 */
struct schedpol_auto {
	int on; /* started: ticks follow the load; otherwise ticks do nothing */
	struct schedpol_follower f;
	enum schedpol applied;
	uint64_t switches; /* policy changes made so far (saturates) */
	int failed;        /* the kernel refused a change: stop trying */
};

/* Puts the calling thread under the normal policy and starts following; -1 with err */
int schedpol_auto_start(struct schedpol_auto *a, char *err, size_t err_size);
/* Feeds the count (see schedpol_follow) and applies a change; a (and not on) may be NULL */
void schedpol_auto_tick(struct schedpol_auto *a, uint64_t now_ns, uint64_t count);

#endif
