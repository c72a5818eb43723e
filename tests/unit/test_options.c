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

/* The data path's limits: defaults, values, out-of-range values (exit status 2) */
static void test_limits(void **state)
{
	struct rm_options o;
	char *argv[] = {"proxy", "-l", "127.0.0.1:53", "-u", "127.0.0.1:5300", NULL};
	assert_int_equal(options_parse(CMD_PROXY, 5, argv, &o), 0);
	assert_int_equal(o.max_tcp_per_client, 64);
	assert_true(o.tcp_max_duration == 120);
	assert_int_equal(o.protobuf_max_connections, 64);
	assert_int_equal(o.nprotobuf_allow_from, 1);
	assert_string_equal(o.protobuf_allow_from[0], "127.0.0.0/8,::1");
	options_free(&o);

	/* a given list replaces the default; repeated and comma-separated entries add up */
	char *set[] = {"proxy", "--max-tcp-per-client", "5", "--tcp-max-duration", "30",
		       "--protobuf-allow-from", "10.0.0.0/8,::1", "--protobuf-allow-from", "192.0.2.1",
		       "--protobuf-max-connections", "3", "-l", "127.0.0.1:53", NULL};
	assert_int_equal(options_parse(CMD_PROXY, 13, set, &o), 0);
	assert_int_equal(o.max_tcp_per_client, 5);
	assert_true(o.tcp_max_duration == 30);
	assert_int_equal(o.protobuf_max_connections, 3);
	assert_int_equal(o.nprotobuf_allow_from, 2);
	assert_string_equal(o.protobuf_allow_from[1], "192.0.2.1");
	assert_int_equal(o.nlisten, 1); /* two lists on one command line: each replaced once */
	options_free(&o);

	write_conf("protobuf-allow-from = 10.1.0.0/16\n");
	char *file[] = {"mirror", "--config", conf_path, NULL};
	assert_int_equal(options_parse(CMD_MIRROR, 3, file, &o), 0);
	assert_int_equal(o.nprotobuf_allow_from, 1); /* the file's list replaces the default */
	assert_string_equal(o.protobuf_allow_from[0], "10.1.0.0/16");
	options_free(&o);
	unlink(conf_path);

	const char *bad[][2] = {{"--max-tcp-per-client", "0"},     {"--max-tcp-per-client", "65536"},
				{"--tcp-max-duration", "0"},       {"--tcp-max-duration", "86401"},
				{"--protobuf-max-connections", "0"}, {"--protobuf-max-connections", "4097"},
				{"--protobuf-allow-from", "10.0.0.0/33"}, {"--protobuf-allow-from", "nowhere"}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *b[] = {"proxy", (char *)bad[i][0], (char *)bad[i][1], NULL};
		assert_int_equal(options_parse(CMD_PROXY, 3, b, &o), -1);
		options_free(&o);
	}
}

static void test_peers(void **state)
{
	struct rm_options o;
	char *argv[] = {"proxy", "-l", "127.0.0.1:53", "-u", "127.0.0.1:5300", NULL};
	assert_int_equal(options_parse(CMD_PROXY, 5, argv, &o), 0);
	assert_int_equal(o.npeer, 0);
	assert_true(o.peer_hedge_delay == 0.05);
	assert_true(o.shield_max == 120);
	assert_int_equal(o.peer_max_qps, 1000);
	assert_int_equal(o.peer_max_inflight, 256);
	options_free(&o);

	char *set[] = {"proxy", "--peer", "192.0.2.1", "--peer", "[2001:db8::1]:5300",
		       "--peer-hedge-delay", "0", "--shield-max", "30", "--peer-max-qps", "50",
		       "--peer-max-inflight", "8", NULL};
	assert_int_equal(options_parse(CMD_PROXY, 13, set, &o), 0);
	assert_int_equal(o.npeer, 2);
	assert_string_equal(o.peer[1], "[2001:db8::1]:5300");
	assert_true(o.peer_hedge_delay == 0);
	assert_true(o.shield_max == 30);
	assert_int_equal(o.peer_max_qps, 50);
	assert_int_equal(o.peer_max_inflight, 8);
	options_free(&o);

	write_conf("peer = 192.0.2.7:53\npeer = 192.0.2.8\npeer-max-qps = 10\n");
	char *file[] = {"proxy", "--config", conf_path, NULL};
	assert_int_equal(options_parse(CMD_PROXY, 3, file, &o), 0);
	assert_int_equal(o.npeer, 2);
	assert_string_equal(o.peer[0], "192.0.2.7:53");
	assert_int_equal(o.peer_max_qps, 10);
	options_free(&o);
	unlink(conf_path);

	/* the mirror has no peers */
	char *mirror[] = {"mirror", "--peer", "192.0.2.1", NULL};
	assert_int_equal(options_parse(CMD_MIRROR, 3, mirror, &o), -1);
	options_free(&o);

	const char *bad[][2] = {{"--peer-hedge-delay", "10.5"}, {"--shield-max", "0"},
				{"--shield-max", "86401"},     {"--peer-max-qps", "0"},
				{"--peer-max-qps", "1000001"}, {"--peer-max-inflight", "0"},
				{"--peer-max-inflight", "65537"}, {"--peer-hedge-delay", "-1"}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *b[] = {"proxy", (char *)bad[i][0], (char *)bad[i][1], NULL};
		assert_int_equal(options_parse(CMD_PROXY, 3, b, &o), -1);
		options_free(&o);
	}
	/* 16 peers at most */
	char *many[40] = {"proxy"};
	int n = 1;
	for (int i = 0; i < 17; i++) {
		many[n++] = "--peer";
		many[n++] = "192.0.2.1";
	}
	assert_int_equal(options_parse(CMD_PROXY, n, many, &o), -1);
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

static void test_metrics_listen_and_version(void **state)
{
	char *argv[] = {"mirror", "--protobuf-listen", "127.0.0.1:4242", "--cluster", "c",
			"--metrics-listen", "127.0.0.1:9154", "-u", "127.0.0.1:53", NULL};
	struct rm_options o;
	assert_int_equal(options_parse(CMD_MIRROR, 9, argv, &o), 0);
	assert_string_equal(o.metrics_listen, "127.0.0.1:9154");
	assert_string_equal(o.upstream, "127.0.0.1:53");
	options_free(&o);
	char *proxy[] = {"proxy", "--listen", "127.0.0.1:53", "-u", "127.0.0.1:5300", "--cluster", "c", NULL};
	assert_int_equal(options_parse(CMD_PROXY, 7, proxy, &o), 0);
	assert_null(o.metrics_listen); /* off by default */
	options_free(&o);
	/* not an option of the read-only commands */
	char *hot[] = {"hot", "--cluster", "c", "--metrics-listen", "127.0.0.1:1", NULL};
	assert_int_equal(options_parse(CMD_HOT, 5, hot, &o), -1);
	options_free(&o);
	/* --version after every command: printed, the caller exits 0 */
	enum rm_command cmds[] = {CMD_PROXY, CMD_HOT, CMD_EVENTS, CMD_WARM, CMD_MIRROR, CMD_NS};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char *v[] = {"x", "--version", NULL}, *sv[] = {"x", "-V", NULL};
		assert_int_equal(options_parse(cmds[i], 2, v, &o), 1);
		options_free(&o);
		assert_int_equal(options_parse(cmds[i], 2, sv, &o), 1);
		options_free(&o);
	}
}

struct diff_seen {
	char names[512];
	char last_old[64], last_new[64];
};

static void on_diff(void *arg, const char *name, const char *old_value, const char *new_value)
{
	struct diff_seen *d = arg;
	strcat(d->names, name);
	strcat(d->names, " ");
	snprintf(d->last_old, sizeof(d->last_old), "%s", old_value);
	snprintf(d->last_new, sizeof(d->last_new), "%s", new_value);
}

static void test_diff(void **state)
{
	char *a1[] = {"proxy", "--listen", "127.0.0.1:53", "-u", "127.0.0.1:5300", "--cluster", "c", NULL};
	char *a2[] = {"proxy", "--listen", "127.0.0.1:53", "--listen", "127.0.0.2:53", "-u", "127.0.0.1:5300",
		      "--cluster", "c", "--stats-interval", "5", "-v", NULL};
	struct rm_options a, b;
	struct diff_seen d = {{0}, {0}, {0}};
	assert_int_equal(options_parse(CMD_PROXY, 7, a1, &a), 0);
	assert_int_equal(options_parse(CMD_PROXY, 12, a2, &b), 0);
	options_diff(CMD_PROXY, &a, &a, on_diff, &d);
	assert_string_equal(d.names, "");
	options_diff(CMD_PROXY, &a, &b, on_diff, &d);
	assert_string_equal(d.names, "listen stats-interval verbose ");
	assert_string_equal(d.last_old, "no");
	assert_string_equal(d.last_new, "yes");
	options_free(&a);
	options_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_config_file),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_metrics_listen_and_version),
		cmocka_unit_test(test_diff),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_peers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
