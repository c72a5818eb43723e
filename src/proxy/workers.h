/*
 * workers.h: the data path's threads (`recmesh proxy --threads N`).
 *
 * Each worker is a thread with a libev loop and a proxy (proxy.h) of its
 * own: its listening sockets (with N above 1 bound with SO_REUSEPORT, so
 * the kernel spreads the clients over the workers by address and port),
 * its upstream sockets, ID pools and slot tables, its TCP clients, its
 * peers and its event sink (one queue per worker, publisher.h). No lock
 * and no written cache line is shared on the path of a query: a worker's
 * counters go to a slot of its own (pathstats.h) and the readers add them
 * up. What the workers share is read-only on the data path (the auto-warm's
 * phase), lock-free (the set of warmed names, warmset.h) or written only
 * when it changes (the local Recursor's liveness and the shield,
 * liveness.h: one for every worker's peers).
 *
 * With N above 1 every listen address is first bound alone, once: a port
 * another process holds is refused at start as with one thread, never
 * shared through SO_REUSEPORT.
 *
 * Limits of the whole process are divided so that the workers together
 * never go over them: worker k of N takes limit / N, plus 1 when
 * k < limit % N, of --max-tcp-clients, --peer-max-qps and
 * --peer-max-inflight (a worker whose share of the peer limits is 0 asks
 * no peer); --max-tcp-per-client is divided the same way but is at least 1
 * per worker.
 *
 * Threads: every function is called from the thread that created the
 * workers (the node's loop thread); the workers run between workers_start
 * and workers_stop.
 */
#ifndef RECMESH_WORKERS_H
#define RECMESH_WORKERS_H

#include "dns/sink.h"
#include "proxy/proxy.h"
#include "proxy/schedpol.h"

#include <stdatomic.h>
#include <stddef.h>

/* --threads: the most, and the default (0: chosen from the machine, workers_auto) */
#define WORKERS_MAX 64

struct workers;

/* Worker k's share of limit over n workers (above): the n shares add up to limit exactly */
unsigned workers_share(unsigned limit, unsigned n, unsigned k);

/*
 * The default number of workers: one per 4 CPUs this process may run on,
 * at least 1 and at most 16 (a Recursor behind the proxy needs the others).
 */
unsigned workers_auto(void);

/*
 * Makes n workers (1 to WORKERS_MAX) with a copy of cfg each (its limits
 * divided, above) and binds every worker's sockets; the threads start with
 * workers_start. policy: the scheduling policy each worker thread runs
 * under (schedpol.h; auto: each follows its own load). NULL with a reason.
 */
struct workers *workers_create(unsigned n, const struct proxy_config *cfg, enum schedpol policy,
			       char *err, size_t err_size);
unsigned workers_count(const struct workers *w);
/* Before workers_start: where worker k's events go (the sink's ctx must outlive the workers) */
void workers_set_sink(struct workers *w, unsigned k, struct event_sink sink);
/* Before workers_start: the auto-warm's phase (proxy_set_phase) for every worker */
void workers_set_phase(struct workers *w, const atomic_int *phase);
/* Starts the threads (every signal blocked in them); -1 with a reason */
int workers_start(struct workers *w, char *err, size_t err_size);
/*
 * Has every running worker publish its counters now (pathstats.h) and
 * waits for them, WORKERS_SYNC_WAIT_MS at most: the counters read next are
 * those of this moment, not of the last 0.1 s sweep.
 */
void workers_sync(struct workers *w);
#define WORKERS_SYNC_WAIT_MS 200
/*
 * Liveness, for the service manager's watchdog: 0 with a reason when a
 * running worker has not answered the previous call's request (its loop
 * has not turned since); then asks every worker again without waiting.
 */
int workers_alive(struct workers *w, char *why, size_t why_size);
/*
 * Stops every worker's loop and joins its thread; each publishes its
 * counters last (pathstats_proxy_read then has the final ones).
 */
void workers_stop(struct workers *w);
/* Stops them if running, closes every socket, frees everything; NULL is fine */
void workers_destroy(struct workers *w);

#endif
