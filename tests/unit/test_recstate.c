/*
 * test_recstate.c: whether the local Recursor is up, as every part of a
 * node sees it (recstate.h), on an injected clock: a refusal or an
 * unanswered probe takes it for down at once and is news once to each
 * thread; client query timeouts count per thread, in a row, from its last
 * return; an answer or a probe sent before the down does not take it for
 * up, one sent after does; each change is logged once, with its cause.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "capture.h"

#include "net/recstate.h"

#include <string.h>

#define S 1000000000ull
#define MS 1000000ull

/* A refusal is news once to each thread, and once more after the next down */
static void refusal_news(void **state)
{
	(void)state;
	struct recstate *rs = recstate_create("127.0.0.1:5300");
	assert_non_null(rs);
	struct recstate_view a = {0}, b = {0};
	assert_false(recstate_down(rs));
	assert_int_equal(recstate_cause(rs), RECSTATE_NONE);
	capture_start();
	assert_int_equal(recstate_refused(rs, &a, 1 * S), 1);
	assert_int_equal(recstate_refused(rs, &a, 1 * S), 0);
	assert_true(recstate_down(rs));
	assert_int_equal(recstate_downs(rs), 1);
	assert_int_equal(recstate_cause(rs), RECSTATE_REFUSED);
	assert_int_equal(recstate_refused(rs, &b, 2 * S), 1);
	assert_int_equal(recstate_down_ns(rs), 2 * S); /* refused again: the down moved on */
	assert_int_equal(recstate_down_since(rs), 1 * S);
	recstate_answer(rs, &b, 3 * S, 3 * S + 10 * MS);
	assert_false(recstate_down(rs));
	assert_int_equal(recstate_up_ns(rs), 3 * S + 10 * MS);
	assert_int_equal(recstate_refused(rs, &a, 4 * S), 1);
	assert_int_equal(recstate_downs(rs), 2);
	const char *out = capture_end();
	assert_int_equal(capture_count(out, "upstream '127.0.0.1:5300' taken for down: its client queries were refused"), 2);
	assert_int_equal(capture_count(out, "upstream '127.0.0.1:5300' taken for up again: it answered a client query, 2.0 s after it was taken for down"), 1);
	recstate_destroy(rs);
}

/* Timeouts in a row are one thread's; a query sent before the Recursor came back does not count */
static void timeouts(void **state)
{
	(void)state;
	struct recstate *rs = recstate_create("u");
	struct recstate_view a = {0}, b = {0};
	recstate_answer(rs, &a, 1 * S, 1 * S);
	recstate_answer(rs, &b, 1 * S, 1 * S);
	capture_start();
	for (unsigned i = 0; i < RECSTATE_DOWN_TIMEOUTS - 1; i++) {
		recstate_timeout(rs, &a, 2 * S, 2 * S);
		recstate_timeout(rs, &b, 2 * S, 2 * S);
	}
	assert_false(recstate_down(rs)); /* 2 in a row each: neither thread's run is long enough */
	recstate_timeout(rs, &a, 2 * S, 2 * S);
	assert_true(recstate_down(rs));
	assert_int_equal(recstate_cause(rs), RECSTATE_TIMEOUTS);
	/* b's answer brings it back at 4 s; a's queries sent at 3.5 s (while down) time out after it */
	recstate_answer(rs, &b, 4 * S, 4 * S);
	for (unsigned i = 0; i < 2 * RECSTATE_DOWN_TIMEOUTS; i++)
		recstate_timeout(rs, &a, 3 * S + 500 * MS, 3 * S + 500 * MS);
	assert_false(recstate_down(rs));
	/* those a sends after the return do count, from 0 again: its run before the return is over */
	for (unsigned i = 0; i < RECSTATE_DOWN_TIMEOUTS - 1; i++)
		recstate_timeout(rs, &a, 5 * S, 7 * S);
	assert_false(recstate_down(rs));
	recstate_timeout(rs, &a, 5 * S, 7 * S);
	assert_true(recstate_down(rs));
	const char *out = capture_end();
	assert_int_equal(capture_count(out, "taken for down: 3 client queries in a row timed out"), 2);
	recstate_destroy(rs);
}

/*
 * A probe (/health's, the auto-warm's) not answered takes it for down; one
 * answered takes it for up only if it was sent after the down, and a client
 * query's answer does the same for a probe's down
 */
static void probes(void **state)
{
	(void)state;
	struct recstate *rs = recstate_create("u");
	struct recstate_view a = {0};
	capture_start();
	recstate_probe(rs, 1, NULL, 1 * S, 1 * S + 1 * MS); /* up already: nothing */
	assert_false(recstate_down(rs));
	recstate_probe(rs, 0, "no answer within 1 s", 2 * S, 3 * S);
	assert_true(recstate_down(rs));
	assert_int_equal(recstate_cause(rs), RECSTATE_PROBE);
	assert_int_equal(recstate_down_ns(rs), 3 * S);
	/* another probe sent before the down, answered late: still down */
	recstate_probe(rs, 1, NULL, 2 * S + 500 * MS, 3 * S + 100 * MS);
	assert_true(recstate_down(rs));
	/* a second probe fails, sent at 4 s: down since 4 s at least */
	recstate_probe(rs, 0, "no answer within 1 s", 4 * S, 5 * S);
	assert_int_equal(recstate_downs(rs), 1);
	assert_int_equal(recstate_down_ns(rs), 4 * S);
	recstate_answer(rs, &a, 3 * S + 500 * MS, 5 * S); /* sent before that: old */
	assert_true(recstate_down(rs));
	recstate_probe(rs, 1, NULL, 6 * S, 6 * S + 2 * MS);
	assert_false(recstate_down(rs));
	/* a probe's up clears a client's down and the other way round */
	recstate_refused(rs, &a, 7 * S);
	recstate_probe(rs, 1, NULL, 8 * S, 8 * S);
	assert_false(recstate_down(rs));
	recstate_probe(rs, 0, NULL, 9 * S, 10 * S);
	recstate_answer(rs, &a, 10 * S, 10 * S);
	assert_false(recstate_down(rs));
	assert_int_equal(recstate_downs(rs), 3);
	const char *out = capture_end();
	assert_int_equal(capture_count(out, "taken for down: a probe was not answered (no answer within 1 s)"), 1);
	assert_int_equal(capture_count(out, "taken for down: a probe was not answered\n"), 1);
	assert_int_equal(capture_count(out, "taken for up again: it answered a probe"), 2);
	assert_int_equal(capture_count(out, "taken for up again: it answered a client query"), 1);
	assert_int_equal(capture_count(out, "taken for down:"), 3);
	assert_int_equal(capture_count(out, "taken for up again:"), 3);
	recstate_destroy(rs);
}

static void cause_texts(void **state)
{
	(void)state;
	assert_string_equal(recstate_cause_text(RECSTATE_NONE), "");
	assert_string_equal(recstate_cause_text(RECSTATE_REFUSED), "its client queries were refused");
	assert_string_equal(recstate_cause_text(RECSTATE_TIMEOUTS), "client queries in a row timed out");
	assert_string_equal(recstate_cause_text(RECSTATE_PROBE), "a probe was not answered");
	assert_string_equal(recstate_cause_text((enum recstate_cause)99), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(refusal_news),
		cmocka_unit_test(timeouts),
		cmocka_unit_test(probes),
		cmocka_unit_test(cause_texts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
