/*
 * autowarm.h: `recmesh proxy --auto-warm`. A watcher thread probes the
 * Recursor behind the proxy about every second (`. NS`, straight to it),
 * reads its uptime through rec_control when a socket directory is given
 * (reccontrol.h), feeds both into the restart detector (restart.h), and
 * when that says the Recursor is back or has restarted, runs the warm-up
 * pipeline (warmup.h) while the proxy keeps forwarding clients. Nothing
 * here touches the data path's thread.
 *
 * The config's strings are copied; the counters can be read from any
 * thread at any time.
 */
#ifndef RECMESH_AUTOWARM_H
#define RECMESH_AUTOWARM_H

#include <stdatomic.h>
#include <stdint.h>

struct warmset;

#define AUTOWARM_INTEL_WAIT 1.5 /* seconds between writing the intelligence file and replaying */

struct autowarm_config {
	const char *upstream;
	const char *nats_url;
	const char *cluster;
	const char *rec_socket_dir; /* may be NULL */
	const char *intel_file;     /* the node's --intel-file: written before each replay; may be NULL */
	unsigned top, qps, max_qps, concurrency;
	unsigned sample; /* node lists read beside the merged list (fleet_top) */
	double max_age, query_timeout, wait_timeout;
	double nats_timeout; /* KV reads tried again for this long (0: the default) */
	double half_life; /* decay each node's list to now with it (0: not) */
	/* the names each warm-up's replay warmed (replay.h; may be NULL); borrowed, outlives the watcher */
	struct warmset *warmed;
	/*
	 * Whether the upstream is down, as the node sees it (net/recstate.h):
	 * the watcher's probes are reported there, and a down others saw (a
	 * refused client query, /health's probe) is a down it warms after,
	 * even one over before its next probe. Borrowed, outlives the watcher;
	 * NULL: one of its own.
	 */
	struct recstate *rec;
};

struct autowarm_stats {
	uint64_t runs;      /* warm-ups whose replay ran */
	uint64_t failed;    /* warm-ups that could not replay (no list, no NATS, not ready) */
	uint64_t names;     /* names replayed */
	uint64_t answered;  /* of them answered */
	uint64_t timeouts;  /* of them timed out */
	uint64_t servfails; /* of them answered SERVFAIL */
	/* the warm-up running now (or the last one): running 1 while it runs; names to replay, done */
	uint64_t running;
	uint64_t planned, done;
};

struct autowarm;
/* NULL when out of memory or the thread could not start */
struct autowarm *autowarm_create(const struct autowarm_config *cfg);
/* Stops the watcher, interrupting a warm-up in progress; accepts NULL */
void autowarm_destroy(struct autowarm *a);
/* The counters so far (each read atomically; all zero for NULL) */
void autowarm_get_stats(const struct autowarm *a, struct autowarm_stats *st);

/*
 * The watcher's phase (enum rec_phase, net/recphase.h), where the proxy's
 * peers load it (proxy_set_phase); it lives as long as a
 */
const atomic_int *autowarm_phase(const struct autowarm *a);

#endif
