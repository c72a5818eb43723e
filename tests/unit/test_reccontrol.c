/*
 * test_reccontrol.c: rec_control without a shell. A stand-in rec_control
 * (a shell script put first in the PATH) prints its arguments' effect: the
 * value, garbage, nothing, too much, or hangs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "clock.h"
#include "reccontrol.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

/* The stand-in: behaves as the file MODE in the socket directory says */
static const char *fake =
	"#!/bin/sh\n"
	"d=${1#--socket-dir=}\n"
	"[ \"$2\" = --timeout=2 ] && [ \"$3\" = get ] || exit 3\n"
	"echo \"$d\" > \"$FAKE_DIR/last-dir\"\n"
	"case $(cat \"$FAKE_DIR/mode\") in\n"
	"ok) echo 4711 ;;\n"
	"garbage) echo '12abc' ;;\n"
	"fail) echo 'Error: no such socket' >&2; exit 1 ;;\n"
	"big) head -c 5000 /dev/zero | tr '\\0' 1 ;;\n"
	"hang) exec sleep 30 ;;\n"
	"esac\n";

static void put(const char *name, const char *text)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	char path[600];
	snprintf(dir, sizeof(dir), "/tmp/test_reccontrol.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	put("rec_control", fake);
	snprintf(path, sizeof(path), "%s/rec_control", dir);
	chmod(path, 0755);
	snprintf(path, sizeof(path), "%s:%s", dir, getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	setenv("PATH", path, 1);
	setenv("FAKE_DIR", dir, 1);
	return 0;
}

static int teardown(void **state)
{
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_value(void **state)
{
	char err[256] = "";
	long v = -1;
	put("mode", "ok\n");
	assert_int_equal(reccontrol_get("/run/x", "uptime", 5, &v, err, sizeof(err)), 0);
	assert_int_equal(v, 4711);
}

static void test_no_shell(void **state)
{
	char err[256] = "", path[400], buf[256] = "";
	long v = -1;
	const char *evil = "/tmp/a'; touch /tmp/recmesh-pwned; '";
	put("mode", "ok\n");
	assert_int_equal(reccontrol_get(evil, "uptime", 5, &v, err, sizeof(err)), 0);
	/* the directory arrived as one argument, quote and all */
	snprintf(path, sizeof(path), "%s/last-dir", dir);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	assert_string_equal(buf, evil);
	assert_int_equal(access("/tmp/recmesh-pwned", F_OK), -1);
}

static void test_failures(void **state)
{
	char err[256] = "";
	long v = 99;
	put("mode", "garbage\n");
	assert_int_equal(reccontrol_get(dir, "uptime", 5, &v, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no number"));
	put("mode", "fail\n");
	assert_int_equal(reccontrol_get(dir, "uptime", 5, &v, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "status 1"));
	put("mode", "big\n");
	assert_int_equal(reccontrol_get(dir, "uptime", 5, &v, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than"));
	assert_int_equal(v, 99); /* out-parameter untouched */
}

static void test_deadline(void **state)
{
	char err[256] = "";
	long v = 99;
	put("mode", "hang\n");
	double t0 = clock_mono();
	assert_int_equal(reccontrol_get(dir, "uptime", 0.3, &v, err, sizeof(err)), -1);
	double took = clock_mono() - t0;
	assert_non_null(strstr(err, "did not finish"));
	if (!(took >= 0.3 && took < 3))
		fail_msg("took %.3f s", took);
}

static void test_not_found(void **state)
{
	char err[256] = "";
	long v = 99;
	char *old = strdup(getenv("PATH"));
	setenv("PATH", "/nonexistent", 1);
	assert_int_equal(reccontrol_get(dir, "uptime", 1, &v, err, sizeof(err)), -1);
	setenv("PATH", old, 1);
	free(old);
	assert_true(strstr(err, "cannot run") || strstr(err, "not found"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_value),    cmocka_unit_test(test_no_shell),
		cmocka_unit_test(test_failures), cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_not_found),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
