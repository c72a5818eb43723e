/* test_options.c: defaults, config file and command line */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char conf_path[64];

static void write_conf(const char *text)
{
	strcpy(conf_path, "/tmp/recmesh-test-options.XXXXXX");
	int fd = mkstemp(conf_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_defaults(void **state)
{
	char *argv[] = {"proxy", "--listen", "127.0.0.1:53", "-u", "127.0.0.1:5300", "--cluster", "c", NULL};
	struct rm_options o;
	assert_int_equal(options_parse(CMD_PROXY, 7, argv, &o), 0);
	assert_int_equal(o.nlisten, 1);
	assert_string_equal(o.listen[0], "127.0.0.1:53");
	assert_string_equal(o.upstream, "127.0.0.1:5300");
	assert_string_equal(o.nats, "nats://127.0.0.1:4222");
	assert_int_equal(o.hot_capacity, 100000);
	assert_true(o.hot_interval == 30);
	assert_true(o.upstream_timeout == 5);
	assert_int_equal(o.mirror_client_ip, 0);
	assert_null(o.node);
	options_free(&o);
}

static void test_config_file(void **state)
{
	write_conf("# a comment\n"
		   "listen = 127.0.0.1:5353\n"
		   "listen 127.0.0.2:5353\n"
		   "upstream=127.0.0.1:5300   # trailing comment\n"
		   "cluster = fleet\n"
		   "hot-interval = 2.5\n"
		   "mirror-client-ip = yes\n"
		   "\n");
	char *argv[] = {"proxy", "--config", conf_path, "--hot-interval", "7", NULL};
	struct rm_options o;
	assert_int_equal(options_parse(CMD_PROXY, 5, argv, &o), 0);
	assert_int_equal(o.nlisten, 2);
	assert_string_equal(o.listen[1], "127.0.0.2:5353");
	assert_string_equal(o.cluster, "fleet");
	assert_true(o.hot_interval == 7); /* the command line wins */
	assert_int_equal(o.mirror_client_ip, 1);
	options_free(&o);

	/* a list on the command line replaces the file's */
	char *argv2[] = {"proxy", "-c", conf_path, "-l", "[::1]:53", NULL};
	assert_int_equal(options_parse(CMD_PROXY, 5, argv2, &o), 0);
	assert_int_equal(o.nlisten, 1);
	assert_string_equal(o.listen[0], "[::1]:53");
	options_free(&o);
	unlink(conf_path);

	/* "" gives a string option the empty value (no intelligence file), other types refuse it */
	write_conf("cluster = fleet\nintel-file = \"\"\n");
	char *argv3[] = {"warm", "-c", conf_path, NULL};
	assert_int_equal(options_parse(CMD_WARM, 3, argv3, &o), 0);
	assert_non_null(o.intel_file);
	assert_string_equal(o.intel_file, "");
	options_free(&o);
	unlink(conf_path);
	write_conf("cluster = fleet\nqps = \"\"\n");
	assert_int_equal(options_parse(CMD_WARM, 3, argv3, &o), -1);
	options_free(&o);
	unlink(conf_path);
	write_conf("cluster = fleet\nintel-file =\n");
	assert_int_equal(options_parse(CMD_WARM, 3, argv3, &o), -1);
	options_free(&o);
	unlink(conf_path);
}

static void test_errors(void **state)
{
	struct rm_options o;
	write_conf("listen = 127.0.0.1:53\nbogus = 1\n");
	char *argv[] = {"proxy", "--config", conf_path, NULL};
	assert_int_equal(options_parse(CMD_PROXY, 3, argv, &o), -1);
	options_free(&o);
	unlink(conf_path);
	/* an option of another command */
	write_conf("count = 5\n");
	assert_int_equal(options_parse(CMD_PROXY, 3, argv, &o), -1);
	options_free(&o);
	unlink(conf_path);
	/* a missing file */
	assert_int_equal(options_parse(CMD_PROXY, 3, argv, &o), -1);
	options_free(&o);

	char *bad_num[] = {"proxy", "--hot-capacity", "12x", NULL};
	assert_int_equal(options_parse(CMD_PROXY, 3, bad_num, &o), -1);
	options_free(&o);
	char *neg[] = {"proxy", "--hot-capacity", "-5", NULL};
	assert_int_equal(options_parse(CMD_PROXY, 3, neg, &o), -1);
	options_free(&o);
	char *bad_secs[] = {"proxy", "--hot-interval", "soon", NULL};
	assert_int_equal(options_parse(CMD_PROXY, 3, bad_secs, &o), -1);
	options_free(&o);
	char *unknown[] = {"hot", "--listen", "x", NULL};
	assert_int_equal(options_parse(CMD_HOT, 3, unknown, &o), -1);
	options_free(&o);
	char *extra[] = {"hot", "stray", NULL};
	assert_int_equal(options_parse(CMD_HOT, 2, extra, &o), -1);
	options_free(&o);
}

static void test_help(void **state)
{
	struct rm_options o;
	char *argv[] = {"hot", "--help", NULL};
	assert_int_equal(options_parse(CMD_HOT, 2, argv, &o), 1);
	options_free(&o);
	char *argv2[] = {"hot", "--top", "5", "--json", NULL};
	assert_int_equal(options_parse(CMD_HOT, 4, argv2, &o), 0);
	assert_int_equal(o.top, 5);
	assert_int_equal(o.json, 1);
	options_free(&o);
}

/* The warm-up options: defaults and ranges (recmesh warm, proxy --auto-warm) */
static void test_warm_ranges(void **state)
{
	struct rm_options o;
	char err[256];
	char *argv[] = {"warm", "--target", "127.0.0.1:53", "--cluster", "c", NULL};
	assert_int_equal(options_parse(CMD_WARM, 5, argv, &o), 0);
	assert_int_equal(o.qps, 1000);
	assert_int_equal(o.max_qps, 5000);
	assert_int_equal(o.concurrency, 1000);
	assert_true(o.query_timeout == 5 && o.wait_timeout == 60 && o.intel_wait == 1.5);
	assert_int_equal(options_check_warm(CMD_WARM, &o, err, sizeof(err)), 0);
	/* the limits themselves are fine */
	o.concurrency = 60000;
	o.query_timeout = o.wait_timeout = o.intel_wait = 3600;
	assert_int_equal(options_check_warm(CMD_WARM, &o, err, sizeof(err)), 0);
	o.concurrency = 60001;
	assert_int_equal(options_check_warm(CMD_WARM, &o, err, sizeof(err)), -1);
	assert_string_equal(err, "--concurrency must be 1 to 60000, not 60001");
	o.concurrency = 0;
	assert_int_equal(options_check_warm(CMD_WARM, &o, err, sizeof(err)), -1);
	o.concurrency = 1000;
	o.query_timeout = 3600.5;
	assert_int_equal(options_check_warm(CMD_WARM, &o, err, sizeof(err)), -1);
	assert_string_equal(err, "--query-timeout must be above 0 and at most 3600 seconds, not 3600.5");
	o.query_timeout = 0;
	assert_int_equal(options_check_warm(CMD_WARM, &o, err, sizeof(err)), -1);
	o.query_timeout = 5;
	o.wait_timeout = 1e30;
	assert_int_equal(options_check_warm(CMD_WARM, &o, err, sizeof(err)), -1);
	assert_string_equal(err, "--wait-timeout must be at most 3600 seconds, not 1e+30");
	o.wait_timeout = 60;
	o.intel_wait = 4000;
	assert_int_equal(options_check_warm(CMD_WARM, &o, err, sizeof(err)), -1);
	assert_string_equal(err, "--intel-wait must be at most 3600 seconds, not 4000");
	o.intel_wait = 1.5;
	o.qps = 0;
	assert_int_equal(options_check_warm(CMD_WARM, &o, err, sizeof(err)), -1);
	options_free(&o);

	/* the proxy: the same, from its command line (it has no --intel-wait) */
	char *pargv[] = {"proxy", "-l", "127.0.0.1:53", "-u", "127.0.0.1:5300", "--auto-warm",
			 "--query-timeout", "1e10", NULL};
	assert_int_equal(options_parse(CMD_PROXY, 8, pargv, &o), 0);
	assert_int_equal(o.concurrency, 1000);
	assert_int_equal(options_check_warm(CMD_PROXY, &o, err, sizeof(err)), -1);
	assert_string_equal(err, "--query-timeout must be above 0 and at most 3600 seconds, not 1e+10");
	options_free(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_config_file),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_warm_ranges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
