/*
 * metrics.h: the node's counters in the Prometheus text format (GET
 * /metrics, see recmesh(1) METRICS).
 *
 * The data path's counters are written by its thread only and must not be
 * read from the HTTP thread: the data path publishes a copy into a
 * seqlock-protected snapshot (metrics_proxy_publish from the proxy's 0.1 s
 * sweep, metrics_pbstream_publish from the node's timer) and the reader
 * copies it out consistently. The answer-time histogram and the answers by
 * rcode are kept here as relaxed atomics with one writer (the data path,
 * metrics_answer). The publisher's and the auto-warm's counters are
 * atomics of their own and are read through their get_stats functions.
 *
 * Process-wide state: one node per process. Every function may be called
 * from any thread unless it says otherwise.
 */
#ifndef RECMESH_METRICS_H
#define RECMESH_METRICS_H

#include "pbstream.h"
#include "proxy.h"

#include <stddef.h>
#include <stdint.h>

struct publisher;
struct autowarm;
struct health;
struct http_server;

/* Upper bounds (seconds) of the answer-time histogram's buckets; +Inf follows */
#define METRICS_LATENCY_BOUNDS                                                                     \
	{                                                                                          \
		0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0     \
	}
#define METRICS_LATENCY_NBOUNDS 13

/* Data path thread only (one writer): an answer relayed after latency_ns; rcode < 0: unknown */
void metrics_answer(uint64_t latency_ns, int tcp, int rcode);
/* Data path thread only: publishes a copy of the proxy's counters and the queries in flight */
void metrics_proxy_publish(const struct proxy_stats *st, uint64_t in_flight);
/* Data path thread only: publishes a copy of the protobuf listener's counters */
void metrics_pbstream_publish(const struct pbstream_stats *st);
/* The last published proxy counters: 0, or -1 when none were published yet */
int metrics_proxy_read(struct proxy_stats *st, uint64_t *in_flight);

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
/* Forgets every snapshot and the histogram (unit tests) */
void metrics_reset(void);

#endif
