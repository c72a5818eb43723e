/*
 * pacer.h: the warm-up's adaptive rate. A pure module: no I/O, no clock,
 * no allocation; every function takes the time (seconds, any monotonic
 * origin) from the caller, so tests drive it with made-up times.
 *
 * The rate starts at qps. Queries are sent against a token bucket that
 * holds at most a tenth of a second of queries (at least one); when the
 * rate goes down the bucket is emptied, so no burst at the old rate
 * follows a back-off.
 *
 * Outcomes are counted by send window: the queries sent in one window
 * (PACER_WINDOW seconds, longer until PACER_MIN_SAMPLES were sent, at
 * most PACER_MAX_WINDOW; a rate change ends a window, so each window has
 * one rate) are judged together `lag` seconds after the window ended,
 * lag = slow_after (at most PACER_MAX_LAG). By then every query of the
 * window that will be answered in time has been: the rest are late
 * (slow, or lost). A window's figures: the late fraction, and the median
 * time to answer (late ones counting as endless).
 *
 * A window is judged against a baseline, what the Recursor showed in the
 * last PACER_BASE_WINDOWS good windows (the middle late fraction and
 * the middle median among them), not against fixed thresholds: a cold
 * Recursor's recursions take tens to hundreds of milliseconds, and every
 * dead authoritative costs it seconds, whatever the rate. It is bad when
 *   - its late fraction is above the baseline's by more than
 *     PACER_LATE_MARGIN plus three standard deviations of the difference
 *     of two windows of its count (a few queries by chance), or
 *   - its median is above PACER_SLOW_FACTOR times the baseline's plus
 *     PACER_SLOW_MARGIN seconds: the Recursor slows down (queues), more
 *     than the mix of names in a window moves the median by itself.
 * Slower (the median) means the Recursor queues: back off to PACER_DOWN
 * times the lowest of the rate, the rate the window was sent at and the
 * rate it really sent at (the concurrency may have held it lower), never
 * below the floor, unless the window was sent before the last back-off
 * (that back-off answered it already). Whether that back-off helped is
 * told by the second window sent after it (the first may still queue
 * behind what came before): it helped when the late fraction or the
 * median went back most of the way to the baseline, or the answers in
 * time per second did not fall below PACER_HELD of what they were.
 * While the windows keep getting better it waits (up to PACER_CHECK_WAIT
 * windows). When the back-off did not help, the slowness is the names'
 * and not the rate's: that window becomes the baseline and the rate
 * stays (a hold).
 *
 * Late alone (PACER_LATE_RUN windows in a row, the median as before) is
 * either queries the Recursor lost (overload) or answers that wait on a
 * dead authoritative (the names: the queries of a zone sent before the
 * Recursor has timed out on its dead server once, 1.5 s, whatever the
 * rate). Only the end tells, so the step down is provisional, by
 * PACER_DOWN_LATE from the rate (not from the rate really sent: answers
 * waiting on dead servers fill the concurrency and hold that one low
 * whatever the rate), and no raise comes while it is open. It ends once
 * the late window's queries were all answered or timed out (`timeout`
 * after the window) and two windows sent after the step were judged (or,
 * with too few queries to judge windows, a while later on the timeouts
 * alone): at least half of the late ones lost and the lower rate cured
 * the late share: overload, the step stands and later raises creep up on
 * the rate it came from (below); otherwise (they came, only late; or as
 * many late at the lower rate) a hold: the late window becomes the
 * baseline as the names' normal, and the rate goes back to where it was.
 * Only good windows (and a hold's) make the baseline.
 *
 * Good (not even one late window), sent entirely at the current rate,
 * at most half of it late, no provisional step open, and
 * the rate was the limit (the window's sends used at least three
 * quarters of what the rate allowed; with the concurrency the limit, a
 * higher rate would change nothing): raise to rate * PACER_UP, never
 * above max_qps; within PACER_NEAR of the rate the last back-off came
 * from, by PACER_UP_NEAR only, so the rate creeps up on a limit it has
 * met instead of jumping a quarter past it (a good window above that
 * rate forgets it). So one raise needs a window plus the lag: with the
 * default lag of 1 s, a raise every 1.5 s at most.
 *
 * Below PACER_MIN_SAMPLES / PACER_MAX_WINDOW (4 q/s) no window has
 * enough queries to be judged, and the rate stays where it is.
 *
 * With max_qps <= qps the rate stays at qps whatever happens (fixed
 * pacing).
 */
#ifndef RECMESH_PACER_H
#define RECMESH_PACER_H

#include <stddef.h>

#define PACER_WINDOW 0.5
#define PACER_MAX_WINDOW 5.0
#define PACER_MIN_SAMPLES 20
#define PACER_MAX_LAG 10.0
#define PACER_UP 1.25
#define PACER_UP_NEAR 1.05 /* the step within PACER_NEAR of the last back-off's rate */
#define PACER_NEAR 0.9
#define PACER_DOWN 0.5
#define PACER_DOWN_LATE 0.75 /* the provisional step down on a late share alone */
#define PACER_HELD 0.75
#define PACER_CHECK_WAIT 4
#define PACER_BASE_WINDOWS 8
#define PACER_LATE_MARGIN 0.01
/*
 * A window's median answer time follows the names it held as much as the
 * load: on a tree whose authoritatives are 20-80 ms away it moved between
 * 19 and 76 ms from one window to the next at a steady rate (bench/warm.sh
 * --pacing), and a factor of 2 plus 10 ms backed off 16 times for that
 * alone. A Recursor that slows down because of the replay queues its
 * answers by hundreds of milliseconds.
 */
#define PACER_LATE_RUN 3 /* late-only windows in a row before a back-off */
#define PACER_SLOW_FACTOR 3.0
#define PACER_SLOW_MARGIN 0.1
#define PACER_RING 64 /* windows kept until judged; a full ring judges its oldest at once */
#define PACER_BINS 32 /* answer-time histogram: < 1 ms, then 1 ms * 2^(k/2) */

struct pacer_config {
	double qps;        /* start (and, with max_qps <= qps, fixed) rate; > 0 */
	double max_qps;    /* never above */
	double min_qps;    /* never below (the floor); capped at qps, at least 1 */
	double slow_after; /* an answer later than this (seconds) is late */
	double timeout;    /* a query unanswered this long never will be (the replay's
			      timeout); 0: five times slow_after */
};

/* One send window (internal) */
struct pacer_window {
	double start, end; /* end: only once closed */
	double rate;       /* the rate while it was open */
	int closed;
	unsigned sent, fast, late_answers, timeouts;
	unsigned hist[PACER_BINS]; /* times of the answers in time */
};

struct pacer_figures {
	double late;   /* fraction of a window's queries not answered in time */
	double median; /* seconds; INFINITY when at least half were late */
};

struct pacer {
	struct pacer_config cfg;
	double lag;
	double rate, tokens, last_refill, peak;
	double changed;    /* when the rate last changed (or started) */
	double backed_off; /* when it last went down (-1: never) */
	struct pacer_window ring[PACER_RING];
	size_t first, count; /* the ring's oldest window, and how many (the newest is open) */
	struct pacer_figures base[PACER_BASE_WINDOWS];
	size_t nbase, base_next;
	/* the last back-off, until the first window after it says whether it helped */
	int checking; /* 1: the next window sent after it is let pass; 2: the one after that decides */
	int waited;   /* windows waited while the figures got better */
	struct pacer_figures prev;
	int trig_late, trig_slow; /* what was bad */
	unsigned late_run; /* windows in a row whose late share alone was bad */
	struct pacer_figures trig, trig_base;
	double trig_good; /* answers in time per second in the window that caused it */
	double trouble;   /* the rate of that window (0: none, or passed since) */
	/*
	 * A provisional back-off on a late share alone, until its window's
	 * late queries are all answered or timed out (end + timeout) and two
	 * windows sent after it were judged
	 */
	struct {
		int on;
		double start, end; /* the late window */
		double at;         /* when the rate went down */
		double rate;       /* the rate it stepped down from */
		unsigned late;     /* the window's queries not answered in time */
		unsigned timeouts; /* of those, never answered */
		struct pacer_figures f;
		unsigned nafter; /* windows sent after `at`, judged */
		int after_bad;   /* the last of them still late beyond the baseline */
	} pend;
	/* the last judged window and the baseline it was judged against (for logs) */
	struct pacer_figures last, last_base;
	const char *why; /* the last decision, in words (for logs); static */
	/* outcome counters, for the caller's summary */
	size_t raises, backoffs, holds, confirmed;
	size_t judged; /* windows judged */
};

void pacer_init(struct pacer *p, const struct pacer_config *cfg, double now);

/* Whole queries that may be sent now (refills the bucket first) */
unsigned pacer_allowed(struct pacer *p, double now);
/* One query was sent now (takes a token) */
void pacer_sent(struct pacer *p, double now);
/* An answer came now for a query sent at sent */
void pacer_answer(struct pacer *p, double sent, double now);
/* A query sent at sent timed out */
void pacer_timeout(struct pacer *p, double sent, double now);
/* Ends windows and judges those whose lag has passed; call it every tick */
void pacer_tick(struct pacer *p, double now);

static inline double pacer_rate(const struct pacer *p)
{
	return p->rate;
}

#endif
