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

#include "base/clock.h"
#include "warm/reccontrol.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
	"closehang) exec >&-; exec sleep 30 ;;\n"
	"exit2) echo 4711; exit 2 ;;\n"
	/* the standard signals (1-31) a child of it has blocked or ignored, as a number */
	"signals) set -- $(grep -E '^Sig(Blk|Ign):' /proc/self/status)\n"
	"  echo $(( (0x$2 | 0x$4) & 0x7fffffff )) ;;\n"
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

/* A child that closes its output but does not exit cannot hold the caller past the deadline */
static void test_closed_output_then_hang(void **state)
{
	char err[256] = "";
	long v = 99;
	put("mode", "closehang\n");
	double t0 = clock_mono();
	assert_int_equal(reccontrol_get(dir, "uptime", 0.5, &v, err, sizeof(err)), -1);
	double took = clock_mono() - t0;
	assert_non_null(strstr(err, "did not finish"));
	if (!(took >= 0.5 && took < 3))
		fail_msg("took %.3f s (%s)", took, err);
	assert_int_equal(v, 99);
}

/* A number on standard output does not make a failed run a success */
static void test_number_but_nonzero_exit(void **state)
{
	char err[256] = "";
	long v = 99;
	put("mode", "exit2\n");
	assert_int_equal(reccontrol_get(dir, "uptime", 5, &v, err, sizeof(err)), -1);
	if (!strstr(err, "status 2"))
		fail_msg("err: %s", err);
	assert_int_equal(v, 99);
}

/* The child gets no blocked and no ignored signal from the caller */
static void test_signals_reset(void **state)
{
	char err[256] = "";
	long v = 99;
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	void (*old_int)(int) = signal(SIGINT, SIG_IGN);
	put("mode", "signals\n");
	int rc = reccontrol_get(dir, "uptime", 5, &v, err, sizeof(err));
	signal(SIGINT, old_int);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0 || v != 0)
		fail_msg("rc %d, the child had signals blocked or ignored: mask %#lx (%s)", rc, v, err);
}

/* Another reaper (libev's SIGCHLD watcher) takes the child first: the output decides */
static atomic_int reaped;
static void *reaper(void *arg)
{
	int st;
	if (waitpid(-1, &st, 0) > 0)
		atomic_store(&reaped, 1);
	return NULL;
}

static void test_reaped_elsewhere(void **state)
{
	char err[256] = "";
	long v = 99;
	pthread_t t;
	atomic_store(&reaped, 0);
	put("mode", "ok\n");
	assert_int_equal(pthread_create(&t, NULL, reaper, NULL), 0);
	int rc = reccontrol_get(dir, "uptime", 5, &v, err, sizeof(err));
	pthread_join(t, NULL);
	if (rc != 0 || v != 4711)
		fail_msg("rc %d, value %ld, reaped by the other thread: %d (%s)", rc, v, atomic_load(&reaped), err);
	/* reaped elsewhere and no number: still a failure */
	put("mode", "fail\n");
	assert_int_equal(pthread_create(&t, NULL, reaper, NULL), 0);
	rc = reccontrol_get(dir, "uptime", 5, &v, err, sizeof(err));
	pthread_join(t, NULL);
	assert_int_equal(rc, -1);
	assert_int_equal(v, 4711);
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
		cmocka_unit_test(test_not_found),  cmocka_unit_test(test_closed_output_then_hang),
		cmocka_unit_test(test_number_but_nonzero_exit), cmocka_unit_test(test_signals_reset),
		cmocka_unit_test(test_reaped_elsewhere),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
