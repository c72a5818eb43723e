/* test_linefmt.c: the hostile-text line parser */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/linefmt.h"

#include <float.h>
#include <stdio.h>
#include <string.h>

static void test_lines(void **state)
{
	const char text[] = "one\n\nthree";
	char buf[8], err[64], *line;
	size_t l;
	struct linefmt lf;
	linefmt_init(&lf, text, strlen(text));
	assert_int_equal(linefmt_next(&lf, buf, sizeof(buf), &line, &l, err, sizeof(err)), 1);
	assert_string_equal(line, "one");
	assert_int_equal(l, 3);
	assert_int_equal(linefmt_next(&lf, buf, sizeof(buf), &line, &l, err, sizeof(err)), 1);
	assert_string_equal(line, "");
	assert_int_equal(linefmt_next(&lf, buf, sizeof(buf), &line, &l, err, sizeof(err)), 1);
	assert_string_equal(line, "three"); /* without a final LF */
	assert_int_equal(lf.lineno, 3);
	assert_int_equal(linefmt_next(&lf, buf, sizeof(buf), &line, &l, err, sizeof(err)), 0);

	/* nothing at all: no line */
	linefmt_init(&lf, "", 0);
	assert_int_equal(linefmt_next(&lf, buf, sizeof(buf), &line, &l, err, sizeof(err)), 0);
	assert_int_equal(lf.lineno, 0);
}

static void test_line_limits(void **state)
{
	char buf[8], err[64] = "", *line = NULL;
	size_t l;
	struct linefmt lf;
	/* 7 bytes fit a buffer of 8, 8 do not */
	linefmt_init(&lf, "1234567\n12345678\n", 17);
	assert_int_equal(linefmt_next(&lf, buf, sizeof(buf), &line, &l, err, sizeof(err)), 1);
	assert_int_equal(l, 7);
	assert_int_equal(linefmt_next(&lf, buf, sizeof(buf), &line, &l, err, sizeof(err)), -1);
	if (strcmp(err, "line 2 too long") != 0)
		fail_msg("reason '%s'", err);

	const char nul[] = "ok\na\0b\n";
	linefmt_init(&lf, nul, sizeof(nul) - 1);
	assert_int_equal(linefmt_next(&lf, buf, sizeof(buf), &line, &l, err, sizeof(err)), 1);
	assert_int_equal(linefmt_next(&lf, buf, sizeof(buf), &line, &l, err, sizeof(err)), -1);
	if (strcmp(err, "NUL byte on line 2") != 0)
		fail_msg("reason '%s'", err);
}

static void test_split(void **state)
{
	char *f[4];
	char a[] = "a bb c";
	assert_int_equal(linefmt_split(a, f, 4), 3);
	assert_string_equal(f[0], "a");
	assert_string_equal(f[1], "bb");
	assert_string_equal(f[2], "c");
	char b[] = "one";
	assert_int_equal(linefmt_split(b, f, 1), 1);
	const char *bad[] = {"", " a", "a ", "a  b", "a b c d e"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char tmp[32];
		snprintf(tmp, sizeof(tmp), "%s", bad[i]);
		int n = linefmt_split(tmp, f, 4);
		if (n != -1)
			fail_msg("'%s' split into %d fields", bad[i], n);
	}
	assert_string_equal(linefmt_value("node=x", "node"), "x");
	assert_string_equal(linefmt_value("node=", "node"), "");
	assert_null(linefmt_value("nodes=x", "node"));
	assert_null(linefmt_value("node", "node"));
	assert_null(linefmt_value("time=1", "node"));
}

static void test_decimal(void **state)
{
	double v = -1;
	const char *good[] = {"0", "1", "1.5", "0.001", "1000000000000000", "-0", "2e3", "1E-2", "007"};
	const double want[] = {0, 1, 1.5, 0.001, 1e15, 0, 2000, 0.01, 7};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (linefmt_decimal(good[i], -1, 1e15, &v) != 0)
			fail_msg("'%s' rejected", good[i]);
		if (v != want[i])
			fail_msg("'%s' read as %g, expected %g", good[i], v, want[i]);
	}
	const char *bad[] = {"",     "+1",  " 1",   "1 ",   "0x10", "0x1p3", "inf", "nan",
			     "-inf", "1.",  ".5",   "1e",   "1e+",  "--1",   "1,5", "1e400",
			     "2e15", "-2",  "1.5x", "NaN"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 42;
		if (linefmt_decimal(bad[i], -1, 1e15, &v) != -1)
			fail_msg("'%s' accepted as %g", bad[i], v);
		if (v != 42)
			fail_msg("'%s' changed the out-parameter to %g", bad[i], v);
	}
	assert_int_equal(linefmt_decimal("1e308", 0, DBL_MAX, &v), 0);
	/* no sign where min is 0 (a score, a count): "-0" too */
	assert_int_equal(linefmt_decimal("-0", 0, 1e15, &v), -1);
	assert_int_equal(linefmt_decimal("-0.000", 0, 1e15, &v), -1);
	assert_int_equal(linefmt_decimal("0", 0, 1e15, &v), 0);
}

static void test_unsigned(void **state)
{
	uint64_t v = 7;
	assert_int_equal(linefmt_unsigned("0", UINT64_MAX, &v), 0);
	assert_true(v == 0);
	assert_int_equal(linefmt_unsigned("18446744073709551615", UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(linefmt_unsigned("4294967295", UINT32_MAX, &v), 0);
	assert_true(v == UINT32_MAX);
	const char *bad[] = {"", "-1", "+1", " 1", "1 ", "1.0", "0x1", "18446744073709551616",
			     "99999999999999999999999", "4294967296"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 7;
		if (linefmt_unsigned(bad[i], UINT32_MAX, &v) != -1)
			fail_msg("'%s' accepted as %llu", bad[i], (unsigned long long)v);
		assert_true(v == 7);
	}
}

static void test_fail(void **state)
{
	char err[16];
	assert_int_equal(linefmt_fail(err, sizeof(err), "line %d: %s", 12, "a long reason"), -1);
	assert_string_equal(err, "line 12: a long");
	assert_int_equal(linefmt_fail(NULL, 0, "no room"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),   cmocka_unit_test(test_line_limits),
		cmocka_unit_test(test_split),   cmocka_unit_test(test_decimal),
		cmocka_unit_test(test_unsigned), cmocka_unit_test(test_fail),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
