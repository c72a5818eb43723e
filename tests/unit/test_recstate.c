/*
 * test_recstate.c: whether the local Recursor is up, as every part of a
 * node sees it (recstate.h), on an injected clock: a refusal or an
 * unanswered probe takes it for down at once and is news once to each
 * thread; client query timeouts count per thread, in a row, from its last
 * return, and make a down that is not certain until a refusal or the
 * probes say so; an answer or a probe sent before the down does not take
 * it for up, one sent after does; each change is logged once, with its
 * cause, those for timeouts at most once every 10 s.
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
		recstate_timeout(rs, &a, 5 * S, 12 * S);
	assert_false(recstate_down(rs));
	recstate_timeout(rs, &a, 5 * S, 12 * S);
	assert_true(recstate_down(rs));
	const char *out = capture_end();
	assert_int_equal(capture_count(out, "taken for down: 3 client queries in a row timed out"), 2);
	recstate_destroy(rs);
}

/*
 * Probes (/health's, the auto-warm's): one refused takes it for down at
 * once, RECSTATE_DOWN_PROBES in a row not answered in time do; one
 * answered takes it for up only if it was sent after the down; one sent
 * before the Recursor came back says nothing
 */
static void probes(void **state)
{
	(void)state;
	struct recstate *rs = recstate_create("u");
	struct recstate_view a = {0};
	capture_start();
	recstate_probe(rs, RECSTATE_PROBE_ANSWERED, NULL, 1 * S, 1 * S + 1 * MS); /* up already: nothing */
	assert_false(recstate_down(rs));
	/* one probe lost is not a down; the next in a row is, from when it was sent */
	recstate_probe(rs, RECSTATE_PROBE_TIMEOUT, "no answer within 1 s", 2 * S, 3 * S);
	assert_false(recstate_down(rs));
	recstate_probe(rs, RECSTATE_PROBE_TIMEOUT, "no answer within 1 s", 4 * S, 5 * S);
	assert_true(recstate_down(rs));
	assert_int_equal(recstate_cause(rs), RECSTATE_PROBE);
	assert_int_equal(recstate_down_since(rs), 4 * S);
	assert_int_equal(recstate_certain_downs(rs), 1);
	/* a probe sent before that, answered late: still down; a client query sent after it: up */
	recstate_probe(rs, RECSTATE_PROBE_ANSWERED, NULL, 3 * S + 500 * MS, 5 * S + 100 * MS);
	assert_true(recstate_down(rs));
	recstate_answer(rs, &a, 4 * S + 500 * MS, 5 * S + 200 * MS);
	assert_false(recstate_down(rs));
	/* a probe sent before that return times out after it: says nothing of now */
	recstate_probe(rs, RECSTATE_PROBE_TIMEOUT, NULL, 5 * S, 6 * S);
	recstate_probe(rs, RECSTATE_PROBE_TIMEOUT, NULL, 5 * S, 6 * S);
	assert_false(recstate_down(rs));
	/* an answered probe ends a run of lost ones */
	recstate_probe(rs, RECSTATE_PROBE_TIMEOUT, NULL, 7 * S, 8 * S);
	recstate_probe(rs, RECSTATE_PROBE_ANSWERED, NULL, 8 * S, 8 * S);
	recstate_probe(rs, RECSTATE_PROBE_TIMEOUT, NULL, 9 * S, 10 * S);
	assert_false(recstate_down(rs));
	/* a refused probe is a down at once; a probe answered after it is an up */
	recstate_probe(rs, RECSTATE_PROBE_REFUSED, "Connection refused", 11 * S, 11 * S);
	assert_true(recstate_down(rs));
	assert_int_equal(recstate_certain_downs(rs), 2);
	recstate_probe(rs, RECSTATE_PROBE_ANSWERED, NULL, 12 * S, 12 * S);
	assert_false(recstate_down(rs));
	assert_int_equal(recstate_downs(rs), 2);
	const char *out = capture_end();
	assert_int_equal(capture_count(out, "taken for down: its probes were not answered (no answer within 1 s)"), 1);
	assert_int_equal(capture_count(out, "taken for down: its probes were not answered (Connection refused)"), 1);
	assert_int_equal(capture_count(out, "taken for up again: it answered a probe"), 1);
	assert_int_equal(capture_count(out, "taken for up again: it answered a client query"), 1);
	assert_int_equal(capture_count(out, "taken for down:"), 2);
	recstate_destroy(rs);
}

/*
 * A down for client timeouts is not certain (slow names) until a refusal
 * or the probes say so; its lines come at most once every
 * RECSTATE_TIMEOUTS_LOG seconds
 */
static void certain_and_rated(void **state)
{
	(void)state;
	struct recstate *rs = recstate_create("u");
	struct recstate_view a = {0};
	struct recstate_snap snap;
	capture_start();
	for (int i = 0; i < RECSTATE_DOWN_TIMEOUTS; i++)
		recstate_timeout(rs, &a, 1 * S, 2 * S);
	assert_true(recstate_down(rs));
	assert_int_equal(recstate_cause(rs), RECSTATE_TIMEOUTS);
	assert_int_equal(recstate_certain_downs(rs), 0);
	/* a refusal makes it certain, once; it is not a new down */
	assert_int_equal(recstate_refused(rs, &a, 3 * S), 1); /* news to this thread */
	assert_int_equal(recstate_cause(rs), RECSTATE_REFUSED);
	assert_int_equal(recstate_certain_downs(rs), 1);
	assert_int_equal(recstate_downs(rs), 1);
	recstate_refused(rs, &a, 3 * S + 1 * MS);
	assert_int_equal(recstate_certain_downs(rs), 1);
	recstate_snapshot(rs, &snap);
	assert_true(snap.down);
	assert_int_equal(snap.downs, 1);
	recstate_answer(rs, &a, 4 * S, 4 * S);
	recstate_snapshot(rs, &snap);
	assert_false(snap.down);
	assert_int_equal(snap.up_ns, 4 * S);
	/* timeouts again at 5 s and 7 s: within 10 s of the line at 2 s, neither down nor its up is said */
	for (int i = 0; i < RECSTATE_DOWN_TIMEOUTS; i++)
		recstate_timeout(rs, &a, 5 * S, 5 * S);
	recstate_answer(rs, &a, 6 * S, 6 * S);
	for (int i = 0; i < RECSTATE_DOWN_TIMEOUTS; i++)
		recstate_timeout(rs, &a, 7 * S, 7 * S);
	recstate_answer(rs, &a, 8 * S, 8 * S);
	/* the probes make a down for timeouts certain too */
	for (int i = 0; i < RECSTATE_DOWN_TIMEOUTS; i++)
		recstate_timeout(rs, &a, 20 * S, 20 * S);
	recstate_probe(rs, RECSTATE_PROBE_REFUSED, NULL, 21 * S, 21 * S);
	assert_int_equal(recstate_cause(rs), RECSTATE_PROBE);
	assert_int_equal(recstate_certain_downs(rs), 2);
	assert_int_equal(recstate_downs(rs), 4);
	const char *out = capture_end();
	/* at 2 s and 20 s; not at 5 s or 7 s */
	assert_int_equal(capture_count(out, "3 client queries in a row timed out"), 2);
	assert_int_equal(capture_count(out, "taken for down: its client queries were refused"), 1);
	assert_int_equal(capture_count(out, "taken for down: its probes were not answered"), 1);
	assert_int_equal(capture_count(out, "taken for up again"), 1); /* at 4 s; not at 6 s or 8 s */
	recstate_destroy(rs);
}

/*
 * Lost probes while clients are answered: the probes were lost, not the
 * Recursor, and the run of lost probes starts over
 */
static void lost_probes_while_answering(void **state)
{
	(void)state;
	struct recstate *rs = recstate_create("u");
	struct recstate_view a = {0};
	recstate_answer(rs, &a, 1 * S, 1 * S);
	recstate_probe(rs, RECSTATE_PROBE_TIMEOUT, NULL, 2 * S, 3 * S);
	recstate_answer(rs, &a, 4 * S, 4 * S + 500 * MS); /* after the next probe was sent */
	recstate_answer(rs, &a, 4 * S + 550 * MS, 4 * S + 550 * MS); /* within 0.1 s: not told again */
	recstate_probe(rs, RECSTATE_PROBE_TIMEOUT, NULL, 4 * S, 5 * S);
	assert_false(recstate_down(rs));
	/* no answer since: the run starts over, so one more lost probe is not yet a down */
	recstate_probe(rs, RECSTATE_PROBE_TIMEOUT, NULL, 6 * S, 7 * S);
	assert_false(recstate_down(rs));
	recstate_probe(rs, RECSTATE_PROBE_TIMEOUT, NULL, 8 * S, 9 * S);
	assert_true(recstate_down(rs));
	assert_int_equal(recstate_down_since(rs), 8 * S);
	recstate_destroy(rs);
}

static void cause_texts(void **state)
{
	(void)state;
	assert_string_equal(recstate_cause_text(RECSTATE_NONE), "");
	assert_string_equal(recstate_cause_text(RECSTATE_REFUSED), "its client queries were refused");
	assert_string_equal(recstate_cause_text(RECSTATE_TIMEOUTS), "client queries in a row timed out");
	assert_string_equal(recstate_cause_text(RECSTATE_PROBE), "its probes were not answered");
	assert_string_equal(recstate_cause_text((enum recstate_cause)99), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(refusal_news),
		cmocka_unit_test(timeouts),
		cmocka_unit_test(probes),
		cmocka_unit_test(certain_and_rated),
		cmocka_unit_test(lost_probes_while_answering),
		cmocka_unit_test(cause_texts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
