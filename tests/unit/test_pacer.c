/*
 * test_pacer.c: adaptive pacing against simulated Recursors. Outcomes come
 * back in the order they happen (not the order sent), with the replay's
 * timeouts: up under fast clean answers, no rise past what the Recursor
 * takes, down when it slows down because of the rate, no back-off spiral
 * over names that are slow anyway, bounds, fixed mode.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "warm/pacer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the simulated Recursor does with a query */
struct model {
	double lat_min, lat_max;   /* answer time, uniform */
	double tail_share;         /* share of queries slow anyway (dead servers) ... */
	double tail_min, tail_max; /* ... taking this long */
	double tail_from;          /* from this time on */
	double lose_share;         /* share lost whatever the rate ... */
	double lose_from;          /* ... from this time on */
	double capacity;           /* queries a second it takes (0: any number) ... */
	double capacity_from;      /* ... from this time on */
	double queue_max;          /* 0: above capacity, queries are dropped; > 0: they wait in a
				      queue up to this long (then dropped) */
	/*
	 * Names in list order, zone after zone, as a hot list of one zone's
	 * names sorted together: zone_size names a zone (0: off); zone_dead
	 * of a hundred zones have one of their two servers dead. Until the
	 * Recursor has waited out its first timeout there (dead_wait after
	 * the zone's first query), half of the zone's queries go to the dead
	 * server and cost dead_wait more.
	 */
	unsigned zone_size, zone_dead;
	double dead_wait;
};

struct event {
	double at, sent;
	int timeout;
};

#define HEAP_MAX 600000
#define ZONES_MAX 4096

static struct sim {
	struct model m;
	double t, timeout;
	unsigned max_inflight;
	struct event heap[HEAP_MAX];
	size_t nheap, inflight;
	unsigned long sent, answered, timeouts;
	unsigned long limit; /* send no more than this many (0: no limit) */
	double zone_first[ZONES_MAX];
	unsigned long zone_of[ZONES_MAX];
	double server_free, tokens, last;
	uint64_t rng;
	double settle, max_rate; /* the highest rate seen from settle on */
} sim;

static double rnd(void)
{
	sim.rng ^= sim.rng << 13;
	sim.rng ^= sim.rng >> 7;
	sim.rng ^= sim.rng << 17;
	return (double)(sim.rng >> 11) / (double)(1ull << 53);
}

static void push(struct event e)
{
	assert_true(sim.nheap < HEAP_MAX);
	size_t i = sim.nheap++;
	while (i > 0 && sim.heap[(i - 1) / 2].at > e.at) {
		sim.heap[i] = sim.heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	sim.heap[i] = e;
}

static struct event pop(void)
{
	struct event top = sim.heap[0], last = sim.heap[--sim.nheap];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= sim.nheap)
			break;
		if (c + 1 < sim.nheap && sim.heap[c + 1].at < sim.heap[c].at)
			c++;
		if (sim.heap[c].at >= last.at)
			break;
		sim.heap[i] = sim.heap[c];
		i = c;
	}
	if (sim.nheap > 0)
		sim.heap[i] = last;
	return top;
}

static void sim_init(const struct model *m, double timeout, unsigned max_inflight)
{
	memset(&sim, 0, sizeof(sim));
	sim.m = *m;
	sim.timeout = timeout;
	sim.max_inflight = max_inflight;
	sim.rng = 0x9e3779b97f4a7c15ull;
	sim.settle = 1e9;
}

/* When the answer to a query sent now comes (-1: never) */
static double outcome(void)
{
	const struct model *m = &sim.m;
	double t = sim.t, extra = 0;
	if (m->lose_share > 0 && t >= m->lose_from && rnd() < m->lose_share)
		return -1;
	if (m->capacity > 0 && t >= m->capacity_from) {
		if (m->queue_max > 0) {
			double start = sim.server_free > t ? sim.server_free : t;
			if (start - t > m->queue_max)
				return -1;
			sim.server_free = start + 1 / m->capacity;
			extra = sim.server_free - t;
		} else {
			sim.tokens += (t - sim.last) * m->capacity;
			sim.last = t;
			if (sim.tokens > m->capacity * 0.02)
				sim.tokens = m->capacity * 0.02;
			if (sim.tokens < 1)
				return -1;
			sim.tokens -= 1;
		}
	}
	double lat = m->lat_min + rnd() * (m->lat_max - m->lat_min);
	if (m->zone_size > 0) {
		unsigned long z = sim.sent / m->zone_size;
		size_t i = z % ZONES_MAX;
		if (sim.zone_of[i] != z + 1) {
			sim.zone_of[i] = z + 1;
			sim.zone_first[i] = t;
		}
		int dead = (unsigned)((z * 2654435761u) >> 8) % 100 < m->zone_dead;
		if (dead && t - sim.zone_first[i] < m->dead_wait && rnd() < 0.5)
			lat += m->dead_wait;
	}
	if (m->tail_share > 0 && t >= m->tail_from && rnd() < m->tail_share)
		lat = m->tail_min + rnd() * (m->tail_max - m->tail_min);
	return t + extra + lat;
}

static int trace; /* PACER_TRACE=1: print every rate change */

/* Runs for seconds in 1 ms steps, as the replay does: outcomes, sends, then the pacer's tick */
static void run(struct pacer *p, double seconds)
{
	double end = sim.t + seconds;
	for (; sim.t < end; sim.t += 0.001) {
		while (sim.nheap && sim.heap[0].at <= sim.t) {
			struct event e = pop();
			if (e.timeout) {
				pacer_timeout(p, e.sent, sim.t);
				sim.timeouts++;
			} else {
				pacer_answer(p, e.sent, sim.t);
				sim.answered++;
			}
			sim.inflight--;
		}
		for (unsigned k = pacer_allowed(p, sim.t);
		     k > 0 && sim.inflight < sim.max_inflight && (!sim.limit || sim.sent < sim.limit); k--) {
			pacer_sent(p, sim.t);
			double at = outcome();
			struct event e = {at, sim.t, 0};
			if (at < 0 || at - sim.t > sim.timeout)
				e = (struct event){sim.t + sim.timeout, sim.t, 1};
			push(e);
			sim.inflight++;
			sim.sent++;
		}
		double was = pacer_rate(p);
		pacer_tick(p, sim.t);
		if (trace && pacer_rate(p) != was)
			fprintf(stderr, "t=%.3f rate %.0f -> %.0f (raises %zu, back-offs %zu, holds %zu) sent %lu timeouts %lu\n",
				sim.t, was, pacer_rate(p), p->raises, p->backoffs, p->holds, sim.sent, sim.timeouts);
		if (sim.t >= sim.settle && pacer_rate(p) > sim.max_rate)
			sim.max_rate = pacer_rate(p);
	}
}

/* Replays n names: the time until the last one is answered or timed out */
static double finish(struct pacer *p, unsigned long n)
{
	sim.limit = n;
	while (sim.sent < n || sim.inflight > 0)
		run(p, 0.1);
	return sim.t;
}

/* A cold Recursor in good shape: 20-80 ms per recursion */
static const struct model healthy = {.lat_min = 0.02, .lat_max = 0.08};

static const struct pacer_config standard = {.qps = 1000, .max_qps = 5000, .min_qps = 100, .slow_after = 1};

static void test_raises_when_fast_and_clean(void **state)
{
	struct pacer p;
	struct pacer_config c = standard;
	sim_init(&healthy, 5, 60000);
	pacer_init(&p, &c, 0);
	run(&p, 15);
	if (!(pacer_rate(&p) == 5000 && p.backoffs == 0))
		fail_msg("rate %.0f after 15 s, %zu raises, %zu back-offs", pacer_rate(&p), p.raises, p.backoffs);
	/* 1000 -> 5000 takes 8 raises, one every window + lag (1.5 s) */
	assert_int_equal(p.raises, 8);
	assert_true(p.peak == 5000);
	run(&p, 5);
	assert_true(pacer_rate(&p) == 5000); /* and no further */
	assert_int_equal(sim.timeouts, 0);

	/* from a low start too */
	c = (struct pacer_config){.qps = 100, .max_qps = 1000, .min_qps = 10, .slow_after = 1};
	sim_init(&(struct model){.lat_min = 0.01, .lat_max = 0.01}, 2, 60000);
	pacer_init(&p, &c, 0);
	run(&p, 7);
	if (!(pacer_rate(&p) > 200))
		fail_msg("rate %.0f after 7 s, %zu raises", pacer_rate(&p), p.raises);
	run(&p, 20);
	assert_true(pacer_rate(&p) == 1000);
	assert_int_equal(p.backoffs, 0);
}

/*
 * The review's case: a Recursor that takes 2000 q/s and drops the rest,
 * 60000 in flight allowed, a 5 s timeout. The old pacer climbed to 5000
 * with about 60% lost.
 */
static void test_no_rise_past_capacity(void **state)
{
	struct pacer p;
	struct model m = healthy;
	m.capacity = 2000;
	sim_init(&m, 5, 60000);
	sim.settle = 10;
	pacer_init(&p, &standard, 0);
	run(&p, 60);
	double lost = (double)sim.timeouts / sim.sent;
	/* once it has met the limit, it creeps up on it (PACER_UP_NEAR) instead of jumping past it */
	if (!(sim.max_rate <= 2000 * PACER_UP && lost < 0.03 && p.backoffs >= 2))
		fail_msg("highest rate after 10 s %.0f, %.1f%% lost of %lu, %zu raises, %zu back-offs, now %.0f",
			 sim.max_rate, 100 * lost, sim.sent, p.raises, p.backoffs, pacer_rate(&p));
	/* and it used the Recursor: over 60 s, at least 1400 a second on average */
	if (!(sim.answered >= 60 * 1400))
		fail_msg("%lu answers in 60 s", sim.answered);
}

/* The same Recursor, but the excess waits in its queue (up to 2 s) before it is dropped */
static void test_backs_off_when_answers_slow_down(void **state)
{
	struct pacer p;
	struct model m = healthy;
	m.capacity = 2000;
	m.queue_max = 2;
	sim_init(&m, 5, 60000);
	sim.settle = 10;
	pacer_init(&p, &standard, 0);
	run(&p, 60);
	double lost = (double)sim.timeouts / sim.sent;
	if (!(sim.max_rate <= 2000 * PACER_UP * PACER_UP && lost < 0.05 && p.backoffs >= 2))
		fail_msg("highest rate after 10 s %.0f, %.1f%% lost of %lu, %zu raises, %zu back-offs, now %.0f",
			 sim.max_rate, 100 * lost, sim.sent, p.raises, p.backoffs, pacer_rate(&p));
}

/* A tenth of the names hit a dead server first (1.5-3 s): the Recursor's normal, not overload */
static const struct model dead_tail = {.lat_min = 0.02, .lat_max = 0.08, .tail_share = 0.1, .tail_min = 1.5,
				       .tail_max = 3};

static void test_constant_slow_tail(void **state)
{
	struct pacer p;
	sim_init(&dead_tail, 5, 60000);
	pacer_init(&p, &standard, 0);
	run(&p, 20);
	if (!(pacer_rate(&p) == 5000 && p.backoffs == 0))
		fail_msg("rate %.0f after 20 s, %zu raises, %zu back-offs, %zu holds", pacer_rate(&p), p.raises,
			 p.backoffs, p.holds);
}

/*
 * A slow tail that starts later (a new batch of zones with dead servers):
 * a back-off, which does not help, so the rate holds and rises again
 */
static void test_tail_appearing_later(void **state)
{
	struct pacer p;
	struct model m = dead_tail;
	m.tail_from = 6;
	sim_init(&m, 5, 60000);
	pacer_init(&p, &standard, 0);
	run(&p, 40);
	if (!(p.backoffs >= 1 && p.backoffs <= 2 && p.holds >= 1 && pacer_rate(&p) == 5000))
		fail_msg("rate %.0f after 40 s, %zu raises, %zu back-offs, %zu holds", pacer_rate(&p), p.raises,
			 p.backoffs, p.holds);
}

/*
 * bench/warm.sh's tree as the simulation has it: 50000 names of 100 zones
 * in list order, 14 of the zones with a dead server, a Recursor that takes
 * 2000 q/s and queues the rest. Dead servers make bursts of slow answers
 * whatever the rate; adaptive pacing must not take them for overload and
 * must finish sooner than the fixed start rate.
 */
static void test_dead_zones_in_list_order(void **state)
{
	struct pacer p;
	struct model m = healthy;
	m.capacity = 2000;
	m.queue_max = 2;
	m.zone_size = 500;
	m.zone_dead = 14;
	m.dead_wait = 1.5;
	struct pacer_config fixed = {.qps = 1000, .max_qps = 1000, .min_qps = 100, .slow_after = 1};
	sim_init(&m, 5, 1000);
	pacer_init(&p, &fixed, 0);
	double t_fixed = finish(&p, 50000);
	unsigned long lost_fixed = sim.timeouts;
	sim_init(&m, 5, 1000);
	pacer_init(&p, &standard, 0);
	double t_adaptive = finish(&p, 50000);
	fprintf(stderr, "50000 names: fixed %.1f s (%lu lost), adaptive %.1f s (%lu lost; peak %.0f q/s, %zu raises, "
		"%zu back-offs, %zu holds)\n", t_fixed, lost_fixed, t_adaptive, sim.timeouts, p.peak, p.raises,
		p.backoffs, p.holds);
	if (!(t_adaptive < t_fixed * 0.8 && sim.timeouts <= lost_fixed + 50))
		fail_msg("adaptive %.1f s, %lu lost; fixed %.1f s, %lu lost", t_adaptive, sim.timeouts, t_fixed,
			 lost_fixed);
}

/* Loss that starts while the replay runs: back off, then hold when backing off does not help */
static void test_backs_off_on_new_loss(void **state)
{
	struct pacer p;
	struct pacer_config c = {.qps = 1000, .max_qps = 5000, .min_qps = 100, .slow_after = 1};
	sim_init(&(struct model){.lat_min = 0.01, .lat_max = 0.01, .lose_share = 0.05, .lose_from = 3}, 0.2, 60000);
	pacer_init(&p, &c, 0);
	run(&p, 3);
	size_t raises = p.raises;
	double before = pacer_rate(&p);
	assert_int_equal(p.backoffs, 0);
	run(&p, 3); /* a late share alone counts from the PACER_LATE_RUN-th window in a row */
	if (!(p.backoffs == 1 && pacer_rate(&p) < before))
		fail_msg("rate %.0f (%.0f before the loss), %zu back-offs", pacer_rate(&p), before, p.backoffs);
	run(&p, 10);
	/* halving did not lower the loss: the rate holds, then rises again over the new normal */
	if (!(p.backoffs == 1 && p.holds == 1 && p.raises > raises))
		fail_msg("rate %.0f, %zu raises (%zu before), %zu back-offs, %zu holds", pacer_rate(&p), p.raises,
			 raises, p.backoffs, p.holds);
}

/*
 * A provisional step open when sending stops (the end of a replay): with
 * no window left to judge, the timeouts alone settle it a while later
 */
static void test_step_settles_when_sending_stops(void **state)
{
	struct pacer p;
	sim_init(&(struct model){.lat_min = 0.01, .lat_max = 0.01, .lose_share = 0.3, .lose_from = 3}, 2, 60000);
	pacer_init(&p, &standard, 0);
	while (!p.pend.on && sim.t < 20)
		run(&p, 0.01);
	if (!p.pend.on)
		fail_msg("no provisional step in 20 s: rate %.0f, %zu back-offs", pacer_rate(&p), p.backoffs);
	sim.limit = sim.sent; /* nothing more to send */
	double opened = sim.t;
	run(&p, 20);
	if (p.pend.on || p.confirmed + p.holds != 1)
		fail_msg("20 s after sending stopped (step opened at %.1f s): open %d, %zu confirmed, %zu holds",
			 opened, p.pend.on, p.confirmed, p.holds);
	assert_int_equal(p.confirmed, 1); /* the late ones were lost, and nothing contradicts the step */
}

/* Everything lost from the start: nothing to compare with, so no raise (and no spiral) */
static void test_no_raise_when_most_are_late(void **state)
{
	struct pacer p;
	sim_init(&(struct model){.lat_min = 0.8, .lat_max = 1.5}, 5, 60000);
	pacer_init(&p, &(struct pacer_config){.qps = 1000, .max_qps = 5000, .min_qps = 100, .slow_after = 0.5},
		   0);
	run(&p, 10);
	if (!(pacer_rate(&p) == 1000 && p.raises == 0 && p.backoffs == 0))
		fail_msg("rate %.0f, %zu raises, %zu back-offs", pacer_rate(&p), p.raises, p.backoffs);
}

/* A Recursor that collapses (50 q/s from t = 5 s): down to the floor, and no lower */
static void test_floor(void **state)
{
	struct pacer p;
	struct model m = healthy;
	m.capacity = 50;
	m.capacity_from = 5;
	sim_init(&m, 5, 60000);
	pacer_init(&p, &standard, 0);
	run(&p, 40);
	if (!(pacer_rate(&p) == 100 && p.backoffs >= 4))
		fail_msg("rate %.0f, %zu raises, %zu back-offs, %zu holds", pacer_rate(&p), p.raises, p.backoffs,
			 p.holds);
	/* a floor above the start rate is brought down to it */
	struct pacer_config c = standard;
	c.min_qps = 2000;
	pacer_init(&p, &c, 0);
	assert_true(p.cfg.min_qps == 1000);
}

/* After a back-off the token bucket is empty: no burst at the old rate */
static void test_no_burst_after_backoff(void **state)
{
	struct pacer p;
	struct model m = healthy;
	m.capacity = 2000;
	sim_init(&m, 5, 60000);
	pacer_init(&p, &standard, 0);
	while (p.backoffs == 0 && sim.t < 30)
		run(&p, 0.001);
	assert_int_equal(p.backoffs, 1);
	unsigned k = pacer_allowed(&p, sim.t);
	if (k > 1)
		fail_msg("%u queries allowed at once right after the back-off to %.0f", k, pacer_rate(&p));
	/* (sim.t is a step past the back-off already) */
	double since = sim.t + 0.01 - p.backed_off;
	k = pacer_allowed(&p, sim.t + 0.01);
	if (k > pacer_rate(&p) * since + 1)
		fail_msg("%u queries allowed %.0f ms after the back-off to %.0f", k, 1000 * since, pacer_rate(&p));
}

static void test_fixed_when_max_is_qps(void **state)
{
	struct pacer p;
	struct pacer_config c = {.qps = 500, .max_qps = 500, .min_qps = 50, .slow_after = 1};
	sim_init(&(struct model){.lat_min = 0.001, .lat_max = 0.001}, 1, 60000);
	pacer_init(&p, &c, 0);
	run(&p, 5);
	assert_true(pacer_rate(&p) == 500);
	/* and it sent at that rate: 5 s at 500/s, give or take the bucket */
	if (!(sim.sent >= 2400 && sim.sent <= 2600))
		fail_msg("%lu sent in 5 s at 500/s", sim.sent);
	/* whatever happens */
	struct model m = healthy;
	m.capacity = 100;
	sim_init(&m, 0.1, 60000);
	pacer_init(&p, &c, 0);
	run(&p, 5);
	assert_true(pacer_rate(&p) == 500);
	assert_int_equal(p.backoffs, 0);
	/* a maximum below qps means fixed too */
	c.max_qps = 0;
	pacer_init(&p, &c, 0);
	assert_true(p.cfg.max_qps == 500);
}

static void test_no_raise_when_rate_not_the_limit(void **state)
{
	struct pacer p;
	pacer_init(&p, &standard, 0);
	/* answers come fast, but only 100 queries a second are sent (concurrency bound) */
	for (double t = 0; t < 10; t += 0.01) {
		if (pacer_allowed(&p, t) > 0) {
			pacer_sent(&p, t);
			pacer_answer(&p, t, t + 0.001);
		}
		pacer_tick(&p, t);
	}
	assert_true(pacer_rate(&p) == 1000);
	assert_int_equal(p.raises, 0);
	assert_true(p.judged > 0);
	/* the concurrency bound as the simulation has it: 20 in flight, 50 ms each = 400/s */
	sim_init(&(struct model){.lat_min = 0.05, .lat_max = 0.05}, 5, 20);
	pacer_init(&p, &standard, 0);
	run(&p, 10);
	assert_true(pacer_rate(&p) == 1000);
	assert_int_equal(p.raises, 0);
}

int main(void)
{
	trace = getenv("PACER_TRACE") != NULL;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_raises_when_fast_and_clean),
		cmocka_unit_test(test_no_rise_past_capacity),
		cmocka_unit_test(test_backs_off_when_answers_slow_down),
		cmocka_unit_test(test_constant_slow_tail),
		cmocka_unit_test(test_tail_appearing_later),
		cmocka_unit_test(test_dead_zones_in_list_order),
		cmocka_unit_test(test_backs_off_on_new_loss),
		cmocka_unit_test(test_step_settles_when_sending_stops),
		cmocka_unit_test(test_no_raise_when_most_are_late),
		cmocka_unit_test(test_floor),
		cmocka_unit_test(test_no_burst_after_backoff),
		cmocka_unit_test(test_fixed_when_max_is_qps),
		cmocka_unit_test(test_no_raise_when_rate_not_the_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
