/* test_pacer.c: adaptive pacing: up under fast clean answers, down on timeouts, bounds, fixed mode */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pacer.h"

/*
 * Drives the pacer for seconds of time in 1 ms steps: sends what it allows
 * (at most max_inflight waiting), and every query is answered after latency
 * seconds, or times out after timeout seconds when lost says so.
 */
struct sim {
	double t;
	double latency, timeout;
	int lose_every; /* 0: none lost; k: every k-th query is lost */
	unsigned long n;
	double ring[100000];
	int lost[100000];
	size_t head, tail;
};

static void run(struct pacer *p, struct sim *s, double seconds)
{
	double end = s->t + seconds;
	for (; s->t < end; s->t += 0.001) {
		while (s->head != s->tail) {
			double sent = s->ring[s->head];
			int lost = s->lost[s->head];
			if (!lost && s->t - sent >= s->latency)
				pacer_answer(p, sent, s->t);
			else if (lost && s->t - sent >= s->timeout)
				pacer_timeout(p, sent, s->t);
			else
				break;
			s->head = (s->head + 1) % 100000;
		}
		for (unsigned k = pacer_allowed(p, s->t); k > 0; k--) {
			pacer_sent(p, s->t);
			s->ring[s->tail] = s->t;
			s->lost[s->tail] = s->lose_every && ++s->n % (unsigned long)s->lose_every == 0;
			s->tail = (s->tail + 1) % 100000;
		}
		pacer_tick(p, s->t);
	}
}

static struct sim sim;

static void test_raises_when_fast_and_clean(void **state)
{
	struct pacer p;
	struct pacer_config c = {.qps = 100, .max_qps = 1000, .min_qps = 10, .slow_after = 1};
	sim = (struct sim){.latency = 0.01, .timeout = 2};
	pacer_init(&p, &c, 0);
	run(&p, &sim, 3);
	assert_true(pacer_rate(&p) > 200);
	run(&p, &sim, 10);
	assert_true(pacer_rate(&p) == 1000); /* and no further */
	assert_true(p.raises > 0);
	assert_int_equal(p.backoffs, 0);
}

static void test_backs_off_on_timeouts(void **state)
{
	struct pacer p;
	struct pacer_config c = {.qps = 1000, .max_qps = 5000, .min_qps = 100, .slow_after = 1};
	sim = (struct sim){.latency = 0.01, .timeout = 0.2, .lose_every = 50};
	pacer_init(&p, &c, 0);
	run(&p, &sim, 1.5);
	assert_true(p.backoffs > 0);
	assert_true(pacer_rate(&p) < 1000);
	assert_true(pacer_rate(&p) >= 100);
	assert_int_equal(p.raises, 0);
}

static void test_backs_off_on_slow_answers(void **state)
{
	struct pacer p;
	struct pacer_config c = {.qps = 1000, .max_qps = 5000, .min_qps = 100, .slow_after = 0.5};
	sim = (struct sim){.latency = 0.8, .timeout = 5};
	pacer_init(&p, &c, 0);
	run(&p, &sim, 1.5);
	assert_true(p.backoffs > 0);
	assert_true(pacer_rate(&p) <= 500);
}

static void test_floor(void **state)
{
	struct pacer p;
	struct pacer_config c = {.qps = 1000, .max_qps = 5000, .min_qps = 100, .slow_after = 1};
	sim = (struct sim){.latency = 0.01, .timeout = 0.1, .lose_every = 2};
	pacer_init(&p, &c, 0);
	run(&p, &sim, 20);
	assert_true(pacer_rate(&p) == 100);
	assert_true(p.backoffs >= 4); /* 1000 -> 500 -> 250 -> 125 -> 100 */
	/* a floor above the start rate is brought down to it */
	c.min_qps = 2000;
	pacer_init(&p, &c, 0);
	assert_true(p.cfg.min_qps == 1000);
}

static void test_fixed_when_max_is_qps(void **state)
{
	struct pacer p;
	struct pacer_config c = {.qps = 500, .max_qps = 500, .min_qps = 50, .slow_after = 1};
	sim = (struct sim){.latency = 0.001, .timeout = 1};
	pacer_init(&p, &c, 0);
	run(&p, &sim, 5);
	assert_true(pacer_rate(&p) == 500);
	/* and it sent at that rate: 5 s at 500/s, give or take the bucket */
	assert_true(sim.tail >= 2400 && sim.tail <= 2600);
	sim = (struct sim){.latency = 0.01, .timeout = 0.1, .lose_every = 2};
	pacer_init(&p, &c, 0);
	run(&p, &sim, 5);
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
	struct pacer_config c = {.qps = 1000, .max_qps = 5000, .min_qps = 100, .slow_after = 1};
	pacer_init(&p, &c, 0);
	/* answers come fast, but only 100 queries a second are sent (concurrency bound) */
	for (double t = 0; t < 5; t += 0.01) {
		if (pacer_allowed(&p, t) > 0) {
			pacer_sent(&p, t);
			pacer_answer(&p, t, t + 0.001);
		}
		pacer_tick(&p, t);
	}
	assert_true(pacer_rate(&p) == 1000);
	assert_int_equal(p.raises, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_raises_when_fast_and_clean),
		cmocka_unit_test(test_backs_off_on_timeouts),
		cmocka_unit_test(test_backs_off_on_slow_answers),
		cmocka_unit_test(test_floor),
		cmocka_unit_test(test_fixed_when_max_is_qps),
		cmocka_unit_test(test_no_raise_when_rate_not_the_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
