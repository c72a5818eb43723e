/* test_log.c: log_rated, one message per interval for limits hit by hostile input */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "capture.h"

#include "base/log.h"
#include "base/notes.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Runs fn with stderr going to a file; returns what was written */
static const char *capture(void (*fn)(void))
{
	capture_start();
	fn();
	return capture_end();
}

static struct log_rate r;
static int logged;

static void burst(void)
{
	for (int i = 0; i < 1000; i++)
		logged += log_rated(&r, 3600, LOG_LVL_WARN, "limit reached %d", i);
}

static void after_interval(void)
{
	logged += log_rated(&r, 0, LOG_LVL_WARN, "limit reached again");
}

static void test_rated(void **state)
{
	log_init("test", 0, LOG_LVL_INFO);
	const char *out = capture(burst);
	assert_int_equal(logged, 1);
	assert_int_equal(capture_count(out, "limit reached"), 1);
	assert_non_null(strstr(out, "limit reached 0"));
	assert_int_equal(r.held, 999);
	/* the next message that goes out says how many were held back */
	out = capture(after_interval);
	assert_int_equal(logged, 2);
	assert_non_null(strstr(out, "limit reached again (999 more since the last)"));
	assert_int_equal(r.held, 0);
	/* below the level: not written, but the interval still starts */
	struct log_rate q = {0};
	assert_int_equal(log_rated(&q, 3600, LOG_LVL_DEBUG, "quiet"), 1);
	assert_int_equal(log_rated(&q, 3600, LOG_LVL_DEBUG, "quiet"), 0);
}

/* Said once per condition, whatever the text; said again after it cleared */
static void test_once(void **state)
{
	(void)state;
	struct log_once o = {0};
	assert_int_equal(log_once_clear(&o), 0); /* nothing said: no recovery to say */
	assert_int_equal(log_once_enter(&o, 3), 1);
	for (int i = 0; i < 100; i++)
		assert_int_equal(log_once_enter(&o, 3), 0);
	assert_int_equal(log_once_enter(&o, 5), 1); /* another condition: said too */
	assert_int_equal(log_once_enter(&o, 5), 0);
	assert_int_equal(log_once_clear(&o), 1); /* it works: said once */
	assert_int_equal(log_once_clear(&o), 0);
	assert_int_equal(log_once_enter(&o, 3), 1); /* failing again is news */
}

/* Notes: in order, bounded (the lines lost counted and said first), cut, moved, logged */
static void test_notes(void **state)
{
	(void)state;
	static struct notes a, b;
	char text[NOTES_LINE_MAX + 16], big[2 * NOTES_LINE_MAX];
	int level;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	assert_int_equal(notes_next(&a, &level, text, sizeof(text)), 0);
	notes_add(NULL, LOG_LVL_ERR, "nowhere"); /* no notes: nothing */
	log_set_level(LOG_LVL_INFO);
	for (int i = 0; i < NOTES_MAX + 3; i++)
		assert_int_equal(notes_add(&a, LOG_LVL_INFO, "line %d", i), i < NOTES_MAX);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	notes_add(&b, LOG_LVL_ERR, "%s", big);
	assert_int_equal(notes_add(&b, LOG_LVL_DEBUG, "not debugging: not kept"), 0);
	assert_int_equal(notes_add(&b, LOG_LVL_INFO, "b's second"), 1);
	notes_move(&b, &a); /* b: its 2 lines, then 30 of a's; 5 lost in all */
	assert_int_equal(notes_next(&a, &level, text, sizeof(text)), 0);
	assert_int_equal(notes_next(&b, &level, text, sizeof(text)), 1);
	assert_int_equal(level, LOG_LVL_WARN);
	assert_string_equal(text, "5 more line(s) not logged: more than 32 came at once");
	assert_int_equal(notes_next(&b, &level, text, sizeof(text)), 1);
	assert_int_equal(level, LOG_LVL_ERR);
	assert_int_equal(strlen(text), NOTES_LINE_MAX - 1);
	assert_int_equal(notes_next(&b, &level, text, sizeof(text)), 1);
	assert_string_equal(text, "b's second");
	for (int i = 0; i < NOTES_MAX - 2; i++) {
		char want[32];
		snprintf(want, sizeof(want), "line %d", i);
		assert_int_equal(notes_next(&b, &level, text, sizeof(text)), 1);
		assert_string_equal(text, want);
		assert_int_equal(level, LOG_LVL_INFO);
	}
	assert_int_equal(notes_next(&b, &level, text, sizeof(text)), 0);
	/* notes_log: every line to the log, then empty */
	notes_add(&a, LOG_LVL_WARN, "a warning for the log");
	capture_start();
	notes_log(&a);
	const char *out = capture_end();
	if (!strstr(out, "a warning for the log"))
		fail_msg("notes_log wrote '%s'", out);
	assert_int_equal(notes_next(&a, &level, text, sizeof(text)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rated),
		cmocka_unit_test(test_once),
		cmocka_unit_test(test_notes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
