/* test_restart.c: the restart detector: down, back, uptime going back, unknown uptime, slow reads, no double trigger */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "warm/restart.h"

#include <string.h>

static void test_two_failed_probes_mean_down(void **state)
{
	struct restart r;
	restart_init(&r);
	assert_int_equal(restart_step(&r, 1, -1, 0, 0), RESTART_NONE);
	assert_int_equal(restart_step(&r, 0, -1, 1, 0), RESTART_NONE);
	assert_int_equal(restart_step(&r, 0, -1, 2, 0), RESTART_DOWN);
	/* said once, not again while it stays down */
	assert_int_equal(restart_step(&r, 0, -1, 3, 0), RESTART_NONE);
	assert_int_equal(restart_step(&r, 0, -1, 4, 0), RESTART_NONE);
	assert_string_equal(restart_event_text(RESTART_DOWN), "went down");
}

static void test_single_failed_probe_is_not_down(void **state)
{
	struct restart r;
	restart_init(&r);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(restart_step(&r, 0, -1, 2 * i, 0), RESTART_NONE);
		assert_int_equal(restart_step(&r, 1, -1, 2 * i + 1, 0), RESTART_NONE);
	}
}

/* A down seen elsewhere (recstate.h) is said at once and once; the next answered probe is back, with a new start */
static void test_down_seen_elsewhere(void **state)
{
	struct restart r;
	restart_init(&r);
	assert_int_equal(restart_step(&r, 1, 100, 0, 0), RESTART_NONE);
	assert_int_equal(restart_seen_down(&r), RESTART_DOWN);
	assert_int_equal(restart_seen_down(&r), RESTART_NONE);
	assert_int_equal(restart_step(&r, 0, -1, 1, 0), RESTART_NONE); /* a failed probe after it: still said once */
	assert_int_equal(restart_step(&r, 1, 1, 2, 0), RESTART_BACK);
	/* the new process's start is the reference: no second warm-up from its uptime */
	assert_int_equal(restart_step(&r, 1, 2, 3, 0), RESTART_NONE);
	/* down and back between two probes: the answered probe right after says back */
	assert_int_equal(restart_seen_down(&r), RESTART_DOWN);
	assert_int_equal(restart_step(&r, 1, 0, 4, 0), RESTART_BACK);
	assert_int_equal(restart_step(&r, 1, 1, 5, 0), RESTART_NONE);
}

static void test_back_after_down(void **state)
{
	struct restart r;
	restart_init(&r);
	restart_step(&r, 1, 100, 0, 0);
	restart_step(&r, 0, -1, 1, 0);
	assert_int_equal(restart_step(&r, 0, -1, 2, 0), RESTART_DOWN);
	assert_int_equal(restart_step(&r, 1, 0, 3, 0), RESTART_BACK);
	assert_string_equal(restart_event_text(RESTART_BACK), "is back");
	/* the new, later start was taken: no second trigger for the same restart */
	assert_int_equal(restart_step(&r, 1, 1, 4, 0), RESTART_NONE);
	assert_int_equal(restart_step(&r, 1, 30, 33, 0), RESTART_NONE);
}

static void test_uptime_went_back(void **state)
{
	struct restart r;
	restart_init(&r);
	assert_int_equal(restart_step(&r, 1, 500, 1000, 0), RESTART_NONE);
	assert_int_equal(restart_step(&r, 1, 501, 1001, 0), RESTART_NONE);
	/* restarted between two probes, both answered */
	assert_int_equal(restart_step(&r, 1, 0, 1002, 0), RESTART_UPTIME);
	assert_string_equal(restart_event_text(RESTART_UPTIME), "restarted: uptime went back");
	assert_int_equal(restart_step(&r, 1, 1, 1003, 0), RESTART_NONE);
	/* a restart hidden by a long gap (a warm-up ran): uptime grew, but less than the time */
	assert_int_equal(restart_step(&r, 1, 40, 1100, 0), RESTART_UPTIME);
	assert_int_equal(restart_step(&r, 1, 41, 1101, 0), RESTART_NONE);
}

static void test_uptime_jitter_is_no_restart(void **state)
{
	struct restart r;
	restart_init(&r);
	/* whole seconds and a slow read: the start seems to move by a second or so */
	assert_int_equal(restart_step(&r, 1, 100, 1000.9, 0), RESTART_NONE);
	assert_int_equal(restart_step(&r, 1, 100, 1001.8, 0), RESTART_NONE);
	assert_int_equal(restart_step(&r, 1, 101, 1002.1, 0), RESTART_NONE);
	assert_int_equal(restart_step(&r, 1, 101, 1002.9, 0), RESTART_NONE);
}

static void test_unknown_uptime(void **state)
{
	struct restart r;
	restart_init(&r);
	/* never known: only the probes count */
	for (int i = 0; i < 5; i++)
		assert_int_equal(restart_step(&r, 1, -1, i, 0), RESTART_NONE);
	/* known, then unknown for a while: the old start is kept */
	assert_int_equal(restart_step(&r, 1, 50, 10, 0), RESTART_NONE);
	assert_int_equal(restart_step(&r, 1, -1, 11, 0), RESTART_NONE);
	assert_int_equal(restart_step(&r, 1, -1, 12, 0), RESTART_NONE);
	assert_int_equal(restart_step(&r, 1, 2, 13, 0), RESTART_UPTIME);
}

static void test_no_double_trigger(void **state)
{
	struct restart r;
	restart_init(&r);
	restart_step(&r, 1, 1000, 1000, 0);
	restart_step(&r, 0, -1, 1001, 0);
	assert_int_equal(restart_step(&r, 0, -1, 1002, 0), RESTART_DOWN);
	/* back with an uptime that also went back: one event, not two */
	assert_int_equal(restart_step(&r, 1, 0, 1003, 0), RESTART_BACK);
	int events = 0;
	for (int i = 1; i < 20; i++)
		events += restart_step(&r, 1, i, 1003 + i, 0) != RESTART_NONE;
	assert_int_equal(events, 0);
}

/*
 * A slow rec_control (a busy Recursor): now is taken before the read, and
 * the read's duration widens the start's interval instead of moving it
 */
static void test_slow_read_is_no_restart(void **state)
{
	struct restart r;
	restart_init(&r);
	/* started at 900.0; a fast read, then one taking 3 s that read the uptime at its start */
	assert_int_equal(restart_step(&r, 1, 100, 1000.05, 0.05), RESTART_NONE);
	assert_int_equal(restart_step(&r, 1, 110, 1010.0, 3.0), RESTART_NONE);
	/* a read that took 4 s and got the uptime at its end: the start seems 3 s earlier */
	assert_int_equal(restart_step(&r, 1, 123, 1020.0, 4.0), RESTART_NONE);
	/* a fast read after it must not look like a restart (the old detector's 2 s slack did) */
	for (int i = 0; i < 5; i++)
		assert_int_equal(restart_step(&r, 1, 130 + i, 1030.0 + i, 0.05), RESTART_NONE);

	/* the same when the first read of all was the slow one */
	restart_init(&r);
	assert_int_equal(restart_step(&r, 1, 103, 1000.0, 4.0), RESTART_NONE);
	assert_int_equal(restart_step(&r, 1, 110, 1010.0, 0.05), RESTART_NONE);
	assert_int_equal(restart_step(&r, 1, 111, 1011.0, 0.05), RESTART_NONE);
	/* and a real restart after it is still seen */
	assert_int_equal(restart_step(&r, 1, 10, 1020.0, 0.05), RESTART_UPTIME);
	assert_int_equal(restart_step(&r, 1, 11, 1021.0, 2.5), RESTART_NONE);
}

/* Back while the uptime cannot be read: the next good read must not trigger a second warm-up */
static void test_back_with_unknown_uptime(void **state)
{
	struct restart r;
	restart_init(&r);
	assert_int_equal(restart_step(&r, 1, 1000, 1000, 0.05), RESTART_NONE);
	assert_int_equal(restart_step(&r, 0, -1, 1001, 0), RESTART_NONE);
	assert_int_equal(restart_step(&r, 0, -1, 1002, 0), RESTART_DOWN);
	assert_int_equal(restart_step(&r, 1, -1, 1003, 3.0), RESTART_BACK); /* rec_control failed */
	assert_int_equal(restart_step(&r, 1, 2, 1004, 0.05), RESTART_NONE);
	assert_int_equal(restart_step(&r, 1, 3, 1005, 0.05), RESTART_NONE);
	/* and the new start is the reference from then on */
	assert_int_equal(restart_step(&r, 1, 1, 1010, 0.05), RESTART_UPTIME);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_failed_probes_mean_down),
		cmocka_unit_test(test_single_failed_probe_is_not_down),
		cmocka_unit_test(test_back_after_down),
		cmocka_unit_test(test_down_seen_elsewhere),
		cmocka_unit_test(test_uptime_went_back),
		cmocka_unit_test(test_uptime_jitter_is_no_restart),
		cmocka_unit_test(test_unknown_uptime),
		cmocka_unit_test(test_no_double_trigger),
		cmocka_unit_test(test_slow_read_is_no_restart),
		cmocka_unit_test(test_back_with_unknown_uptime),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
