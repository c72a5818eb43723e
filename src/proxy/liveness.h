/*
 * liveness.h: the restart shield (`recmesh proxy --peer`, recmesh(1)
 * "Restarts and peers"), stepped once for the process from whether the
 * local Recursor is down (net/recstate.h: what every data path thread,
 * /health and the auto-warm saw of it) and the auto-warm's phase.
 *
 * One per process, shared by the peers (peer.h) of every data path thread
 * (workers.h). The shield (peer_shield_step) is stepped here: its mode,
 * the restarts shielded, the warmed set's clearing and the lines that say
 * so are the same for every thread and logged once. The threads share out
 * its summary: each adds what its own counters moved during the shield
 * (liveness_report) and the last one to do so logs the sum.
 *
 * Threads: every function may be called from any data path thread. What
 * is loaded on every query (the mode, the inputs the mode was stepped
 * with, its deadline, and the recstate's down flag and count) is written
 * only when it changes; the shield is stepped under a mutex only when an
 * input changed or its deadline passed, so no lock and no written cache
 * line sits on the path of a query otherwise.
 */
#ifndef RECMESH_LIVENESS_H
#define RECMESH_LIVENESS_H

#include "net/recstate.h"
#include "proxy/peer.h"

#include <stdatomic.h>
#include <stdint.h>

struct liveness;

/*
 * rec: whether the local Recursor is down (borrowed; it must outlive the
 * liveness); hedge_delay and shield_max: seconds (peer_config's, for the
 * shield and its lines); warmed: the set cleared when the shield finds it
 * down (NULL: none; borrowed). NULL when out of memory.
 */
struct liveness *liveness_create(struct recstate *rec, double hedge_delay, double shield_max,
				 struct warmset *warmed);
void liveness_destroy(struct liveness *l);

/*
 * A data path thread's peers join before their first query and leave when
 * destroyed: the summary waits for the report of every member.
 */
void liveness_join(struct liveness *l);
void liveness_leave(struct liveness *l);

/* Whether a shield is on (the mode of the last step is not PEER_OFF) */
int liveness_shielding(const struct liveness *l);

/*
 * The shield's mode now, from the auto-warm's phase (enum rec_phase; NULL:
 * none, idle) and the down flag; steps the shield when either changed (a
 * down and up again since the last step counts) or its deadline passed.
 * The phase is read again under the lock, so steps see it change in
 * order whichever thread steps. now_ns: the monotonic clock
 * (clock_mono_ns), any thread's.
 */
enum peer_mode liveness_mode(struct liveness *l, const atomic_int *phase, uint64_t now_ns);
/* Restarts shielded so far (started), and shields ended so far */
uint64_t liveness_started(const struct liveness *l);
uint64_t liveness_ended(const struct liveness *l);
/*
 * A member's counters moved by delta during shield number ended (the value
 * liveness_ended returned when it saw the end); the last member to report
 * logs the summary. A report for an older shield is dropped.
 */
void liveness_report(struct liveness *l, uint64_t ended, const struct peer_stats *delta);
/* 1 the first time it is asked since the warmed set was last cleared here (to say "full" once) */
int liveness_say_warmed_full(struct liveness *l);

#endif
