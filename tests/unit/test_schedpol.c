/* test_schedpol.c: policy names, and the load follower of --scheduling auto (thresholds, hysteresis) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proxy/schedpol.h"

#include <string.h>

#define STEP_NS 100000000ull /* the proxy's sweep interval */

struct feed {
	struct schedpol_follower f;
	uint64_t now, count;
};

static void feed_init(struct feed *d)
{
	memset(d, 0, sizeof(*d));
	schedpol_follower_init(&d->f);
	d->now = 5000000000ull;
	d->count = 123;
	/* the first call takes the baseline and never switches */
	assert_int_equal(schedpol_follow(&d->f, d->now, d->count), SCHEDPOL_NORMAL);
}

/* n sweeps of 0.1 s at qps; returns the policy after the last one */
static enum schedpol feed(struct feed *d, double qps, unsigned n)
{
	enum schedpol p = d->f.current;
	for (unsigned i = 0; i < n; i++) {
		d->now += STEP_NS;
		d->count += (uint64_t)(qps / 10 + 0.5);
		p = schedpol_follow(&d->f, d->now, d->count);
	}
	return p;
}

static void test_parse_and_names(void **state)
{
	enum schedpol p = SCHEDPOL_BATCH;
	assert_int_equal(schedpol_parse("normal", &p), 0);
	assert_int_equal(p, SCHEDPOL_NORMAL);
	assert_int_equal(schedpol_parse("batch", &p), 0);
	assert_int_equal(p, SCHEDPOL_BATCH);
	assert_int_equal(schedpol_parse("auto", &p), 0);
	assert_int_equal(p, SCHEDPOL_AUTO);
	assert_int_equal(schedpol_parse("fast", &p), -1);
	assert_int_equal(schedpol_parse("", &p), -1);
	assert_int_equal(schedpol_parse("Batch", &p), -1);
	assert_int_equal(schedpol_parse(NULL, &p), -1);
	assert_int_equal(p, SCHEDPOL_AUTO); /* untouched on failure */
	assert_string_equal(schedpol_name(SCHEDPOL_NORMAL), "normal");
	assert_string_equal(schedpol_name(SCHEDPOL_BATCH), "batch");
	assert_string_equal(schedpol_name(SCHEDPOL_AUTO), "auto");
	char err[128] = "";
	assert_int_equal(schedpol_apply(SCHEDPOL_AUTO, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "auto"));
}

static void test_thresholds_ordered(void **state)
{
	/* the band between them is what keeps the follower from flapping */
	assert_true(SCHEDPOL_DOWN_QPS < SCHEDPOL_UP_QPS);
	assert_true(SCHEDPOL_UP_INTERVALS >= 2);
	assert_true(SCHEDPOL_DOWN_INTERVALS >= 2);
	assert_true(SCHEDPOL_MIN_INTERVAL_NS < STEP_NS);
}

static void test_switches_up_at_threshold(void **state)
{
	struct feed d;
	feed_init(&d);
	/* just below the threshold, for long: stays normal */
	assert_int_equal(feed(&d, SCHEDPOL_UP_QPS - 100, 100), SCHEDPOL_NORMAL);
	/* at the threshold: one measurement short of the run stays normal, the next switches */
	assert_int_equal(feed(&d, SCHEDPOL_UP_QPS, SCHEDPOL_UP_INTERVALS - 1), SCHEDPOL_NORMAL);
	assert_int_equal(feed(&d, SCHEDPOL_UP_QPS, 1), SCHEDPOL_BATCH);
	assert_true(d.f.last_qps >= SCHEDPOL_UP_QPS - 1);
}

static void test_switches_down_at_threshold(void **state)
{
	struct feed d;
	feed_init(&d);
	assert_int_equal(feed(&d, 2 * SCHEDPOL_UP_QPS, SCHEDPOL_UP_INTERVALS), SCHEDPOL_BATCH);
	/* at the lower threshold itself: not below it, stays batch */
	assert_int_equal(feed(&d, SCHEDPOL_DOWN_QPS, 100), SCHEDPOL_BATCH);
	assert_int_equal(feed(&d, SCHEDPOL_DOWN_QPS - 100, SCHEDPOL_DOWN_INTERVALS - 1),
			 SCHEDPOL_BATCH);
	assert_int_equal(feed(&d, SCHEDPOL_DOWN_QPS - 100, 1), SCHEDPOL_NORMAL);
	/* idle is below it too, and the follower can go up again */
	assert_int_equal(feed(&d, 0, 10), SCHEDPOL_NORMAL);
	assert_int_equal(feed(&d, 2 * SCHEDPOL_UP_QPS, SCHEDPOL_UP_INTERVALS), SCHEDPOL_BATCH);
	assert_int_equal(feed(&d, 0, SCHEDPOL_DOWN_INTERVALS), SCHEDPOL_NORMAL);
}

static void test_hysteresis_band(void **state)
{
	double mid = (SCHEDPOL_UP_QPS + SCHEDPOL_DOWN_QPS) / 2;
	struct feed d;
	feed_init(&d);
	/* a load inside the band keeps whatever the follower has: normal ... */
	assert_int_equal(feed(&d, mid, 1000), SCHEDPOL_NORMAL);
	/* ... or batch */
	assert_int_equal(feed(&d, SCHEDPOL_UP_QPS, SCHEDPOL_UP_INTERVALS), SCHEDPOL_BATCH);
	assert_int_equal(feed(&d, mid, 1000), SCHEDPOL_BATCH);
}

static void test_no_flapping(void **state)
{
	struct feed d;
	feed_init(&d);
	/* a load that jumps across both thresholds every sweep never makes a run: no switch */
	for (int i = 0; i < 500; i++) {
		assert_int_equal(feed(&d, 2 * SCHEDPOL_UP_QPS, 1), SCHEDPOL_NORMAL);
		assert_int_equal(feed(&d, 0, 1), SCHEDPOL_NORMAL);
	}
	/* the same from batch: short lulls do not bring back the normal policy */
	assert_int_equal(feed(&d, 2 * SCHEDPOL_UP_QPS, SCHEDPOL_UP_INTERVALS), SCHEDPOL_BATCH);
	for (int i = 0; i < 500; i++) {
		assert_int_equal(feed(&d, 0, SCHEDPOL_DOWN_INTERVALS - 1), SCHEDPOL_BATCH);
		assert_int_equal(feed(&d, 2 * SCHEDPOL_UP_QPS, 1), SCHEDPOL_BATCH);
	}
	/* a load hovering around the upper threshold switches once and stays */
	feed_init(&d);
	int switches = 0;
	enum schedpol last = SCHEDPOL_NORMAL;
	for (int i = 0; i < 2000; i++) {
		enum schedpol p = feed(&d, SCHEDPOL_UP_QPS + ((i % 7) - 3) * 1000.0, 1);
		switches += p != last;
		last = p;
	}
	assert_int_equal(switches, 1);
	assert_int_equal(last, SCHEDPOL_BATCH);
}

static void test_timing_and_resets(void **state)
{
	struct feed d;
	feed_init(&d);
	/* a call sooner than the minimum interval is not measured on its own ... */
	d.now += SCHEDPOL_MIN_INTERVAL_NS / 10;
	d.count += 1000000;
	assert_int_equal(schedpol_follow(&d.f, d.now, d.count), SCHEDPOL_NORMAL);
	assert_int_equal(d.f.streak, 0);
	assert_true(d.f.last_qps == 0);
	/* ... but its queries count in the next measurement, over the whole time */
	d.now += SCHEDPOL_MIN_INTERVAL_NS;
	assert_int_equal(schedpol_follow(&d.f, d.now, d.count), SCHEDPOL_NORMAL);
	assert_int_equal(d.f.streak, 1);
	assert_true(d.f.last_qps > 1000000 / (1.1 * SCHEDPOL_MIN_INTERVAL_NS / 1e9) - 1);
	assert_true(d.f.last_qps < 1000000 / (1.1 * SCHEDPOL_MIN_INTERVAL_NS / 1e9) + 1);
	/* a late timer: one measurement over 2 s at a high rate is still one measurement */
	feed_init(&d);
	d.now += 20 * STEP_NS;
	d.count += (uint64_t)(2 * SCHEDPOL_UP_QPS * 2);
	assert_int_equal(schedpol_follow(&d.f, d.now, d.count), SCHEDPOL_NORMAL);
	assert_int_equal(d.f.streak, 1);
	/* a counter that went down, or a clock that went back, takes a new baseline */
	d.count = 0;
	assert_int_equal(schedpol_follow(&d.f, d.now + STEP_NS, d.count), SCHEDPOL_NORMAL);
	assert_int_equal(d.f.streak, 0);
	assert_int_equal(schedpol_follow(&d.f, d.now - STEP_NS, d.count + 100000), SCHEDPOL_NORMAL);
	assert_int_equal(d.f.streak, 0);
	/* the same clock reading twice: no division by zero, nothing changes */
	assert_int_equal(schedpol_follow(&d.f, d.now - STEP_NS, d.count + 200000), SCHEDPOL_NORMAL);
}

static void test_auto_tick_inactive(void **state)
{
	struct schedpol_auto a;
	memset(&a, 0, sizeof(a));
	/* NULL and a follower that was never started do nothing */
	schedpol_auto_tick(NULL, 1, 1);
	schedpol_auto_tick(&a, STEP_NS, 1000000);
	schedpol_auto_tick(&a, 2 * STEP_NS, 2000000);
	assert_int_equal(a.switches, 0);
	assert_int_equal(a.f.started, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_names),
		cmocka_unit_test(test_thresholds_ordered),
		cmocka_unit_test(test_switches_up_at_threshold),
		cmocka_unit_test(test_switches_down_at_threshold),
		cmocka_unit_test(test_hysteresis_band),
		cmocka_unit_test(test_no_flapping),
		cmocka_unit_test(test_timing_and_resets),
		cmocka_unit_test(test_auto_tick_inactive),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
