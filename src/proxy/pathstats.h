/*
 * pathstats.h: the data path's counters as other threads may read them
 * (the HTTP thread's /metrics, ops/metrics.c).
 *
 * The data path's counters are written by its thread only and must not be
 * read from another thread: the data path publishes a copy into a
 * seqlock-protected snapshot (pathstats_proxy_publish from the proxy's 0.1 s
 * sweep, pathstats_pbstream_publish from the node's timer) and a reader
 * copies it out consistently. The answer-time histogram and the answers by
 * rcode are kept here as relaxed atomics with one writer (the data path,
 * pathstats_answer).
 *
 * Several data path threads (recmesh proxy --threads): each has a slot of
 * its own (pathstats_set_thread), written by that thread only, and a
 * reader adds the slots up (proxy_stats_add).
 *
 * Process-wide state: one node per process. Every function may be called
 * from any thread unless it says otherwise.
 */
#ifndef RECMESH_PATHSTATS_H
#define RECMESH_PATHSTATS_H

#include "proxy/pbstream.h"
#include "proxy/proxy.h"

#include <stdint.h>

/* Upper bounds (seconds) of the answer-time histogram's buckets; +Inf follows */
#define PATHSTATS_LATENCY_BOUNDS                                                                   \
	{                                                                                          \
		0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0     \
	}
#define PATHSTATS_LATENCY_NBOUNDS 13
extern const double pathstats_latency_bounds[PATHSTATS_LATENCY_NBOUNDS];
/* rcodes 0 to PATHSTATS_RCODES - 1 are counted each; PATHSTATS_RCODES counts all above */
#define PATHSTATS_RCODES 24

/* Slots, one per data path thread: the most threads a proxy runs */
#define PATHSTATS_THREADS 64
/* On a data path thread, before its first answer: its slot, 0 to PATHSTATS_THREADS - 1 (0 if never called) */
void pathstats_set_thread(unsigned k);
/* Data path thread only (one writer): an answer relayed after latency_ns; rcode < 0: unknown */
void pathstats_answer(uint64_t latency_ns, int tcp, int rcode);
/* Data path thread only: publishes a copy of the proxy's counters and the queries in flight */
void pathstats_proxy_publish(const struct proxy_stats *st, uint64_t in_flight);
/* Data path thread only: publishes a copy of the protobuf listener's counters */
void pathstats_pbstream_publish(const struct pbstream_stats *st);
/* The last published proxy counters, every thread's added up: 0, or -1 when none were published yet */
int pathstats_proxy_read(struct proxy_stats *st, uint64_t *in_flight);
/* The last published protobuf listener counters: 0, or -1 when none were published yet */
int pathstats_pbstream_read(struct pbstream_stats *st);
/*
 * Answers in the histogram's bucket (0 to PATHSTATS_LATENCY_NBOUNDS, the
 * last one +Inf; not cumulative) over UDP (tcp 0) or TCP; the sum of their
 * times in *sum_ns unless NULL
 */
uint64_t pathstats_latency(int tcp, int bucket, uint64_t *sum_ns);
/* Answers with rcode i (0 to PATHSTATS_RCODES) */
uint64_t pathstats_rcode(int i);
/* Forgets every snapshot and the histogram (unit tests) */
void pathstats_reset(void);

#endif
