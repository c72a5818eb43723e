/*
 * pacer.h: the warm-up's adaptive rate. A pure module: no I/O, no clock;
 * every function takes the time (seconds, any monotonic origin) from the
 * caller, so tests drive it with made-up times.
 *
 * The rate starts at qps. Queries are sent against a token bucket that
 * holds at most a tenth of a second of queries (at least one). The caller
 * reports every answer and every timeout with the time its query was sent;
 * only queries sent since the rate last changed count for the next
 * decision, so the echo of an old rate cannot move the new one.
 *
 * Every PACER_WINDOW seconds (once PACER_MIN_SAMPLES outcomes are in):
 *   - any timeout, or more than a tenth of the answers slower than
 *     slow_after: back off, rate * PACER_DOWN, never below the floor;
 *   - otherwise, when the rate was the limit (the window's sends used at
 *     least three quarters of what the rate allowed; with the concurrency
 *     the limit, a higher rate would change nothing): rate * PACER_UP,
 *     never above max_qps.
 * A back-off needs no minimum of outcomes: one timeout is enough.
 * With max_qps <= qps the rate stays at qps whatever happens (fixed pacing).
 */
#ifndef RECMESH_PACER_H
#define RECMESH_PACER_H

#include <stddef.h>

#define PACER_WINDOW 0.5
#define PACER_MIN_SAMPLES 20
#define PACER_UP 1.25
#define PACER_DOWN 0.5

struct pacer_config {
	double qps;        /* start (and, with max_qps <= qps, fixed) rate; > 0 */
	double max_qps;    /* never above */
	double min_qps;    /* never below (the floor); capped at qps, at least 1 */
	double slow_after; /* an answer later than this (seconds) is slow */
};

struct pacer {
	struct pacer_config cfg;
	double rate, tokens, last_refill;
	double changed;      /* when the rate last changed (or started) */
	double window_start; /* of the current decision window */
	size_t answers, slow, timeouts, sent;
	size_t raises, backoffs;
	double peak;
};

void pacer_init(struct pacer *p, const struct pacer_config *cfg, double now);

/* Whole queries that may be sent now (refills the bucket first) */
unsigned pacer_allowed(struct pacer *p, double now);
/* One query was sent (takes a token) */
void pacer_sent(struct pacer *p, double now);
/* An answer came for a query sent at sent */
void pacer_answer(struct pacer *p, double sent, double now);
/* A query sent at sent timed out */
void pacer_timeout(struct pacer *p, double sent, double now);
/* Decides when a window is over; call it every tick */
void pacer_tick(struct pacer *p, double now);

static inline double pacer_rate(const struct pacer *p)
{
	return p->rate;
}

#endif
