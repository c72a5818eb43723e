/*
 * metrics.h: the node's counters in the Prometheus text format (GET
 * /metrics, see recmesh(1) METRICS).
 *
 * The data path's counters come from its snapshots (proxy/pathstats.h);
 * the publisher's and the auto-warm's counters are atomics of their own
 * and are read through their get_stats functions.
 *
 * Process-wide state: one node per process. Every function may be called
 * from any thread unless it says otherwise.
 */
#ifndef RECMESH_METRICS_H
#define RECMESH_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct publisher;
struct autowarm;
struct health;
struct http_server;

/* What the exposition reads besides the snapshots; each pointer may be NULL */
struct metrics_sources {
	const char *version;
	struct publisher *pub;
	const struct autowarm *autowarm;
	const struct health *health;
	const struct http_server *http;
	double start_time;     /* unix seconds */
	double last_hot_write; /* unix seconds of the last successful hot-list write seen; 0: none */
};

/*
 * Renders every family (# HELP, # TYPE, samples) into a malloc'd,
 * NUL-terminated buffer (the caller frees it); its length in *len.
 * NULL when out of memory.
 */
char *metrics_render(const struct metrics_sources *src, size_t *len);

#endif
