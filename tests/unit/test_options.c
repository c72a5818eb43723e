/* test_options.c: defaults, config file and command line */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "nats/intel.h"
#include "nats/natsconn.h"
#include "ops/options.h"
#include "manpage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
	/* long options by their whole name only: an abbreviation is refused, not guessed */
	char *abbrev[] = {"hot", "--cluster", "c", "--nats-password", "hunter2", NULL};
	assert_int_equal(options_parse(CMD_HOT, 5, abbrev, &o), -1);
	options_free(&o);
	char *abbrev_eq[] = {"hot", "--clus=c", NULL};
	assert_int_equal(options_parse(CMD_HOT, 2, abbrev_eq, &o), -1);
	options_free(&o);
	char *whole_eq[] = {"hot", "--cluster=c", "--top=7", NULL};
	assert_int_equal(options_parse(CMD_HOT, 3, whole_eq, &o), 0);
	assert_int_equal(o.top, 7);
	options_free(&o);
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

/* --hot-publish, --max-tcp-clients, --tcp-idle-timeout: defaults, both ends of each range, beyond them */
static void test_node_ranges(void **state)
{
	(void)state;
	struct rm_options o;
	char *def[] = {"proxy", "-l", "127.0.0.1:53", "-u", "127.0.0.1:5300", NULL};
	assert_int_equal(options_parse(CMD_PROXY, 5, def, &o), 0);
	assert_int_equal(o.hot_publish, 50000);
	assert_int_equal(o.max_tcp_clients, 1000);
	assert_true(o.tcp_idle_timeout == 10);
	options_free(&o);

	const char *good[][2] = {{"--hot-publish", "1"},         {"--hot-publish", "1000000"},
				 {"--max-tcp-clients", "1"},     {"--max-tcp-clients", "65535"},
				 {"--tcp-idle-timeout", "0.1"},  {"--tcp-idle-timeout", "3600"}};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char *g[] = {"proxy", (char *)good[i][0], (char *)good[i][1], NULL};
		int rc = options_parse(CMD_PROXY, 3, g, &o);
		if (rc != 0)
			fail_msg("%s %s: options_parse returned %d, expected 0", good[i][0], good[i][1], rc);
		options_free(&o);
	}
	const char *bad[][2] = {{"--hot-publish", "0"},          {"--hot-publish", "1000001"},
				{"--max-tcp-clients", "0"},      {"--max-tcp-clients", "65536"},
				{"--tcp-idle-timeout", "0"},     {"--tcp-idle-timeout", "0.09"},
				{"--tcp-idle-timeout", "3601"}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *b[] = {"proxy", (char *)bad[i][0], (char *)bad[i][1], NULL};
		int rc = options_parse(CMD_PROXY, 3, b, &o);
		if (rc != -1)
			fail_msg("%s %s: options_parse returned %d, expected -1", bad[i][0], bad[i][1], rc);
		options_free(&o);
	}
	/* the mirror checks --hot-publish too, also from a configuration file */
	write_conf("hot-publish = 0\n");
	char *file[] = {"mirror", "--config", conf_path, NULL};
	assert_int_equal(options_parse(CMD_MIRROR, 3, file, &o), -1);
	options_free(&o);
	unlink(conf_path);
}

/* --nats-timeout: default, a value, the limits (exit status 2 comes from the -1) */
static void test_nats_timeout(void **state)
{
	struct rm_options o;
	char *def[] = {"hot", "--cluster", "c", NULL};
	assert_int_equal(options_parse(CMD_HOT, 3, def, &o), 0);
	assert_true(o.nats_timeout == 5);
	options_free(&o);
	char *set[] = {"warm", "--nats-timeout", "2.5", NULL};
	assert_int_equal(options_parse(CMD_WARM, 3, set, &o), 0);
	assert_true(o.nats_timeout == 2.5);
	options_free(&o);
	char *low[] = {"hot", "--nats-timeout", "0.05", NULL};
	assert_int_equal(options_parse(CMD_HOT, 3, low, &o), -1);
	options_free(&o);
	char *high[] = {"proxy", "--nats-timeout", "301", NULL};
	assert_int_equal(options_parse(CMD_PROXY, 3, high, &o), -1);
	options_free(&o);
	char *ns[] = {"ns", "--nats-timeout", "300", NULL};
	assert_int_equal(options_parse(CMD_NS, 3, ns, &o), 0);
	options_free(&o);
	char *other[] = {"events", "--nats-timeout", "3", NULL};
	assert_int_equal(options_parse(CMD_EVENTS, 3, other, &o), -1);
	options_free(&o);
}

/* options_parse, then (when it parsed) options_apply, as a command starts: its status */
static int parse_apply(enum rm_command cmd, int argc, char **argv, struct rm_options *o)
{
	int rc = options_parse(cmd, argc, argv, o);
	return rc == 0 ? options_apply(cmd, o) : rc;
}

/* --intel-max-entries: default, range (exit status 2 means -1 here), the process-wide bound */
static void test_intel_max_entries(void **state)
{
	struct rm_options o;
	char *def[] = {"mirror", "--protobuf-listen", "127.0.0.1:4242", "--cluster", "c", NULL};
	assert_int_equal(parse_apply(CMD_MIRROR, 5, def, &o), 0);
	assert_int_equal(o.intel_max_entries, 10000);
	assert_int_equal(intel_max_entries(), 10000);
	options_free(&o);
	char *set[] = {"warm", "--target", "127.0.0.1:53", "--cluster", "c", "--intel-max-entries", "250", NULL};
	assert_int_equal(parse_apply(CMD_WARM, 7, set, &o), 0);
	assert_int_equal(o.intel_max_entries, 250);
	assert_int_equal(intel_max_entries(), 250);
	options_free(&o);
	const char *bad[] = {"0", "100001", "-1", "ten"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[] = {"proxy", "-l", "127.0.0.1:53", "-u", "127.0.0.1:5300", "--cluster", "c",
				"--intel-max-entries", (char *)bad[i], NULL};
		if (parse_apply(CMD_PROXY, 9, argv, &o) != -1)
			fail_msg("--intel-max-entries %s accepted", bad[i]);
		options_free(&o);
	}
	assert_int_equal(intel_max_entries(), 250); /* a refused value changes nothing */
	char *ns[] = {"ns", "--cluster", "c", "--intel-max-entries", "5", NULL};
	assert_int_equal(parse_apply(CMD_NS, 5, ns, &o), -1); /* not an option of ns */
	options_free(&o);
	intel_set_max_entries(INTEL_MAX_ENTRIES_DEFAULT);
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
	/* each list given on the command line replaces the file's own, whichever comes first */
	write_conf("peer = 192.0.2.7\nprotobuf-allow-from = 10.0.0.0/8\n");
	char *both[] = {"proxy", "--config", conf_path, "--protobuf-allow-from", "10.1.0.0/16", "--peer",
			"192.0.2.8", "-l", "127.0.0.1:53", "-u", "127.0.0.1:5300", NULL};
	assert_int_equal(options_parse(CMD_PROXY, 11, both, &o), 0);
	assert_int_equal(o.npeer, 1);
	assert_string_equal(o.peer[0], "192.0.2.8");
	assert_int_equal(o.nprotobuf_allow_from, 1);
	assert_string_equal(o.protobuf_allow_from[0], "10.1.0.0/16");
	options_free(&o);
	unlink(conf_path);
}


/* --rec-network-timeout: default, config file, both ends of the range, beyond them, not for other commands */
static void test_rec_network_timeout(void **state)
{
	struct rm_options o;
	char *def[] = {"mirror", "--protobuf-listen", "127.0.0.1:4242", NULL};
	assert_int_equal(options_parse(CMD_MIRROR, 3, def, &o), 0);
	assert_int_equal(o.rec_network_timeout, 1500); /* the Recursor's default network-timeout */
	options_free(&o);
	write_conf("rec-network-timeout = 800\n");
	char *file[] = {"proxy", "--config", conf_path, "-l", "127.0.0.1:53", NULL};
	assert_int_equal(options_parse(CMD_PROXY, 5, file, &o), 0);
	assert_int_equal(o.rec_network_timeout, 800);
	options_free(&o);
	unlink(conf_path);
	const char *good[] = {"1", "600000"};
	for (size_t i = 0; i < 2; i++) {
		char *g[] = {"mirror", "--rec-network-timeout", (char *)good[i], NULL};
		assert_int_equal(options_parse(CMD_MIRROR, 3, g, &o), 0);
		assert_int_equal(o.rec_network_timeout, (unsigned)atoi(good[i]));
		options_free(&o);
	}
	const char *bad[] = {"0", "600001", "1.5", "-1", "soon"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *b[] = {"mirror", "--rec-network-timeout", (char *)bad[i], NULL};
		assert_int_equal(options_parse(CMD_MIRROR, 3, b, &o), -1);
		options_free(&o);
	}
	char *warm[] = {"warm", "--rec-network-timeout", "1500", NULL};
	assert_int_equal(options_parse(CMD_WARM, 3, warm, &o), -1);
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

/* The warm-up options: defaults and ranges (recmesh warm, proxy --auto-warm) */
/* options_reparse's errors for argv (NULL when it parsed); the caller frees them */
static char *parse_errors(enum rm_command cmd, int argc, char **argv)
{
	struct rm_options o;
	char *errors = NULL;
	int rc = options_reparse(cmd, argc, argv, &o, &errors);
	options_free(&o);
	if (rc == 0)
		assert_null(errors);
	else
		assert_non_null(errors);
	return errors;
}

static void expect_error(enum rm_command cmd, const char *opt, const char *val, const char *want)
{
	char *argv[] = {"x", (char *)opt, (char *)val, NULL};
	char *e = parse_errors(cmd, 3, argv);
	if (!e || strcmp(e, want))
		fail_msg("%s %s: said '%s', expected '%s'", opt, val, e ? e : "(nothing)", want);
	free(e);
}

/* The warm-up's ranges, in recmesh warm and in the proxy (checked at parse, --auto-warm or not) */
static void test_warm_ranges(void **state)
{
	struct rm_options o;
	char *argv[] = {"warm", "--target", "127.0.0.1:53", "--cluster", "c", NULL};
	assert_int_equal(options_parse(CMD_WARM, 5, argv, &o), 0);
	assert_int_equal(o.qps, 1000);
	assert_int_equal(o.max_qps, 5000); /* adaptive pacing unless fixed */
	assert_int_equal(o.concurrency, 1000);
	assert_true(o.query_timeout == 5 && o.wait_timeout == 60 && o.intel_wait == 1.5);
	options_free(&o);
	/* the limits themselves are fine */
	char *ends[] = {"warm", "--concurrency", "60000", "--query-timeout", "3600", "--wait-timeout", "3600",
			"--intel-wait", "3600", NULL};
	assert_null(parse_errors(CMD_WARM, 9, ends));
	expect_error(CMD_WARM, "--concurrency", "60001", "recmesh: --concurrency must be 1 to 60000, not 60001\n");
	expect_error(CMD_WARM, "--concurrency", "0", "recmesh: --concurrency must be 1 to 60000, not 0\n");
	expect_error(CMD_WARM, "--query-timeout", "3600.5",
		     "recmesh: --query-timeout must be 0.001 to 3600 seconds, not 3600.5\n");
	expect_error(CMD_WARM, "--query-timeout", "0", "recmesh: --query-timeout must be 0.001 to 3600 seconds, not 0\n");
	expect_error(CMD_WARM, "--wait-timeout", "1e30", "recmesh: --wait-timeout must be at most 3600 seconds, not 1e+30\n");
	expect_error(CMD_WARM, "--intel-wait", "4000", "recmesh: --intel-wait must be at most 3600 seconds, not 4000\n");
	expect_error(CMD_WARM, "--qps", "0", "recmesh: --qps must be 1 to 4294967295, not 0\n");
	expect_error(CMD_WARM, "--top", "0", "recmesh: --top must be 1 to 4294967295, not 0\n");
	/* the proxy: the same, from its command line (it has no --intel-wait) */
	expect_error(CMD_PROXY, "--query-timeout", "1e10",
		     "recmesh: --query-timeout must be 0.001 to 3600 seconds, not 1e+10\n");
	/* and the bounds of merge and the sampled read */
	expect_error(CMD_MERGE, "--top", "200001", "recmesh: --top must be 1 to 200000, not 200001\n");
	expect_error(CMD_MERGE, "--lease", "9", "recmesh: --lease must be 10 to 600 seconds, not 9\n");
	expect_error(CMD_MERGE, "--lease", "601", "recmesh: --lease must be 10 to 600 seconds, not 601\n");
	expect_error(CMD_HOT, "--sample", "257", "recmesh: --sample must be at most 256, not 257\n");
	expect_error(CMD_PROXY, "--stats-interval", "0.01",
		     "recmesh: --stats-interval must be 0 (off) or 0.1 to 86400 seconds, not 0.01\n");
}

/* The schema keeps its own rules, and recmesh(1)'s table of options is made from it */
static void test_schema_and_man_table(void **state)
{
	char err[200], buf[200];
	if (options_schema_check(err, sizeof(err)) < 0)
		fail_msg("the option schema: %s", err);
	/* what a reload applies, and how a changed value is shown */
	assert_true(options_reloadable(CMD_PROXY, "stats-interval"));
	assert_true(options_reloadable(CMD_MIRROR, "intel-file"));
	assert_false(options_reloadable(CMD_PROXY, "upstream-timeout"));
	assert_false(options_reloadable(CMD_PROXY, "no-such-option"));
	assert_string_equal(options_shown(CMD_PROXY, "nats", "nats://u:pw@h:4222", buf, sizeof(buf)),
			    "nats://***@h:4222");
	assert_string_equal(options_shown(CMD_PROXY, "nats-password-file", "/etc/p", buf, sizeof(buf)), "/etc/p");
	assert_string_equal(options_shown(CMD_PROXY, "no-such-option", "x", buf, sizeof(buf)), "(not shown)");
	char *table = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&table, &len);
	assert_non_null(f);
	options_man_table(f);
	fclose(f);

	char path[4096];
	char *man = man_read(path, sizeof(path));
	const char *begin = ".\\\" options-table: begin\n", *end = ".\\\" options-table: end\n";
	char *a = strstr(man, begin), *b = a ? strstr(a, end) : NULL;
	if (!a || !b)
		fail_msg("recmesh(1) has no '%s' ... '%s' block", begin, end);
	a += strlen(begin);
	if ((size_t)(b - a) != len || memcmp(a, table, len)) {
		if (getenv("RECMESH_WRITE_MAN")) {
			/* a maintainer's way to write the table into the man page */
			FILE *w = fopen(path, "w");
			assert_non_null(w);
			fwrite(man, 1, (size_t)(a - man), w);
			fwrite(table, 1, len, w);
			fputs(b, w);
			fclose(w);
			print_message("wrote the table into %s\n", path);
		} else {
			fail_msg("recmesh(1)'s table of options is not the schema's; it should read:\n%s"
				 "(RECMESH_WRITE_MAN=1 writes it)",
				 table);
		}
	}

	/*
	 * Every range the table states is the one the parser holds: both ends
	 * pass, beyond them is refused, with the first command listed.
	 */
	static const struct {
		const char *name;
		enum rm_command cmd;
	} cmds[] = {{"every command", CMD_HOT}, {"proxy", CMD_PROXY}, {"mirror", CMD_MIRROR},
		    {"hot", CMD_HOT},           {"events", CMD_EVENTS}, {"warm", CMD_WARM},
		    {"ns", CMD_NS},             {"merge", CMD_MERGE}};
	unsigned ranges = 0;
	char *save = NULL, opt[100] = "";
	for (char *ln = strtok_r(table, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(ln, ".B \\-\\-", 7)) {
			size_t k = 0;
			for (const char *p = ln + 3; *p && k + 1 < sizeof(opt); p++)
				if (*p != '\\')
					opt[k++] = *p;
			opt[k] = '\0';
			continue;
		}
		if (ln[0] == '.')
			continue;
		enum rm_command cmd = 0;
		for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]) && !cmd; i++)
			if (!strncmp(ln, cmds[i].name, strlen(cmds[i].name)))
				cmd = cmds[i].cmd;
		assert_true(cmd != 0);
		double lo = 0, hi = 0;
		int zero_off = strstr(ln, "0 (off) or ") != NULL, seconds = strstr(ln, " seconds") != NULL;
		const char *r = strstr(ln, ", at most ");
		if (r)
			hi = strtod(r + 10, NULL);
		else if ((r = strstr(ln, " to ")) != NULL) {
			const char *p = r;
			while (p > ln && p[-1] != ' ')
				p--;
			lo = strtod(p, NULL);
			hi = strtod(r + 4, NULL);
		} else
			continue;
		ranges++;
		char v[64];
		double below = lo == 0 ? -1 : seconds ? lo * 0.9 : lo - 1; /* -1: no such probe */
		const struct {
			double x;
			int ok;
		} probes[] = {
			{lo, 1},
			{hi, 1},
			{below, below == 0 && zero_off},     /* under the range (0 only with "0 (off)") */
			{seconds ? hi * 1.01 + 1 : hi + 1, 0}, /* over it (or over a whole number's 32 bits) */
			{0, lo == 0 || zero_off},
		};
		for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
			if (probes[i].x < 0)
				continue;
			snprintf(v, sizeof(v), "%.10g", probes[i].x);
			char *argv[] = {"x", opt, v, NULL};
			char *e = parse_errors(cmd, 3, argv);
			int ok = e == NULL;
			if (ok != probes[i].ok)
				fail_msg("%s %s (%s): %s, expected %s: %s", opt, v, ln, ok ? "taken" : "refused",
					 probes[i].ok ? "taken" : "refused", e ? e : "");
			free(e);
		}
	}
	print_message("%u ranges of the table probed at both ends\n", ranges);
	assert_true(ranges >= 30);
	free(table);
}

/* The NATS security options: files on every command, checked as a command starts (options_apply) */
static void test_nats_security(void **state)
{
	struct rm_options o;
	char pw[64] = "/tmp/recmesh-test-options-pw.XXXXXX";
	int fd = mkstemp(pw);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hunter2\n", 8), 8);
	close(fd);

	char *def[] = {"proxy", NULL};
	assert_int_equal(parse_apply(CMD_PROXY, 1, def, &o), 0);
	assert_int_equal(o.kv_replicas, 0); /* automatic: 3 on a cluster, else 1 */
	assert_null(o.nats_user);
	options_free(&o);

	char conf[256];
	snprintf(conf, sizeof(conf),
		 "nats = nats://a:4222,tls://b:4443\nnats-user = node1\nnats-password-file = %s\n", pw);
	write_conf(conf);
	char *argv[] = {"warm", "--config", conf_path, NULL};
	assert_int_equal(parse_apply(CMD_WARM, 3, argv, &o), 0);
	assert_string_equal(o.nats_user, "node1");
	assert_string_equal(o.nats_password_file, pw);
	options_free(&o);
	unlink(conf_path);

	char *both[] = {"hot", "--nats-token-file", pw, "--nats-user", "u", "--nats-password-file", pw, NULL};
	assert_int_equal(parse_apply(CMD_HOT, 7, both, &o), -1);
	options_free(&o);
	char *alone[] = {"ns", "--nats-password-file", pw, NULL};
	assert_int_equal(parse_apply(CMD_NS, 3, alone, &o), -1);
	options_free(&o);
	char *missing[] = {"events", "--nats-token-file", "/nonexistent/token", NULL};
	assert_int_equal(parse_apply(CMD_EVENTS, 3, missing, &o), -1);
	options_free(&o);
	char *keyonly[] = {"mirror", "--nats-tls-key", pw, NULL};
	assert_int_equal(parse_apply(CMD_MIRROR, 3, keyonly, &o), -1);
	options_free(&o);
	char *badlist[] = {"hot", "--nats", "nats://a,,nats://b", NULL};
	assert_int_equal(parse_apply(CMD_HOT, 3, badlist, &o), -1);
	options_free(&o);
	char *replicas[] = {"proxy", "--kv-replicas", "6", NULL};
	assert_int_equal(parse_apply(CMD_PROXY, 3, replicas, &o), -1);
	options_free(&o);
	char *replicas5[] = {"proxy", "--kv-replicas", "5", NULL};
	assert_int_equal(parse_apply(CMD_PROXY, 3, replicas5, &o), 0);
	assert_int_equal(o.kv_replicas, 5);
	options_free(&o);
	/* options_parse alone reads no file and sets nothing process-wide */
	char *unread[] = {"events", "--nats-token-file", "/nonexistent/token", NULL};
	assert_int_equal(options_parse(CMD_EVENTS, 3, unread, &o), 0);
	options_free(&o);
	/* the buckets' TTL: a node's --max-age, at least two --hot-interval; none for readers */
	char *ttl[] = {"proxy", "--max-age", "3600", NULL};
	assert_int_equal(parse_apply(CMD_PROXY, 3, ttl, &o), 0);
	assert_int_equal(natsconn_kv_ttl_ms(), 3600000);
	options_free(&o);
	char *ttl_short[] = {"mirror", "--max-age", "10", "--hot-interval", "30", NULL};
	assert_int_equal(parse_apply(CMD_MIRROR, 5, ttl_short, &o), 0);
	assert_int_equal(natsconn_kv_ttl_ms(), 60000);
	options_free(&o);
	char *ttl_none[] = {"proxy", "--max-age", "0", NULL};
	assert_int_equal(parse_apply(CMD_PROXY, 3, ttl_none, &o), 0);
	assert_int_equal(natsconn_kv_ttl_ms(), 0);
	options_free(&o);
	char *ttl_reader[] = {"warm", "--max-age", "3600", NULL};
	assert_int_equal(parse_apply(CMD_WARM, 3, ttl_reader, &o), 0);
	assert_int_equal(natsconn_kv_ttl_ms(), 0);
	options_free(&o);
	/* no option takes a secret itself ("--nats-password" is read as an abbreviation of
	 * --nats-password-file, and no file of that name exists) */
	char *secret[] = {"hot", "--nats-password", "hunter2", NULL};
	assert_int_equal(parse_apply(CMD_HOT, 3, secret, &o), -1);
	options_free(&o);
	unlink(pw);
}

/* The options in seconds have upper bounds: huge values must not reach a conversion */
static void test_seconds_bounds(void **state)
{
	struct rm_options o;
	const struct {
		enum rm_command cmd;
		const char *cmdname, *opt, *val;
		int rc;
	} cases[] = {
		{CMD_PROXY, "proxy", "--max-age", "0", 0},
		{CMD_PROXY, "proxy", "--max-age", "315360000", 0},
		{CMD_PROXY, "proxy", "--max-age", "315360001", -1},
		{CMD_WARM, "warm", "--max-age", "1e300", -1},
		{CMD_HOT, "hot", "--max-age", "9.3e9", -1},
		{CMD_NS, "ns", "--max-age", "1e12", -1},
		{CMD_MIRROR, "mirror", "--hot-interval", "86400", 0},
		{CMD_MIRROR, "mirror", "--hot-interval", "86401", -1},
		{CMD_PROXY, "proxy", "--hot-interval", "1e300", -1},
		{CMD_PROXY, "proxy", "--hot-interval", "0.05", -1},
		{CMD_PROXY, "proxy", "--upstream-timeout", "3600", 0},
		{CMD_PROXY, "proxy", "--upstream-timeout", "3601", -1},
		{CMD_PROXY, "proxy", "--upstream-timeout", "1e300", -1},
		{CMD_PROXY, "proxy", "--upstream-timeout", "0", -1},
		{CMD_PROXY, "proxy", "--hot-half-life", "1e300", -1},
		{CMD_HOT, "hot", "--hot-half-life", "0", 0},
		{CMD_WARM, "warm", "--hot-half-life", "1e300", -1},
		{CMD_PROXY, "proxy", "--stats-interval", "0", 0},
		{CMD_PROXY, "proxy", "--stats-interval", "86400", 0},
		{CMD_PROXY, "proxy", "--stats-interval", "1e300", -1},
		{CMD_MIRROR, "mirror", "--stats-interval", "0.001", -1},
		{CMD_EVENTS, "events", "--timeout", "1e300", -1},
		{CMD_EVENTS, "events", "--timeout", "60", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[] = {(char *)cases[i].cmdname, (char *)cases[i].opt, (char *)cases[i].val, NULL};
		int rc = options_parse(cases[i].cmd, 3, argv, &o);
		if (rc != cases[i].rc)
			fail_msg("%s %s %s: options_parse returned %d, expected %d", cases[i].cmdname,
				 cases[i].opt, cases[i].val, rc, cases[i].rc);
		options_free(&o);
		natsconn_unconfigure();
	}
}

/* Parses "proxy --config path" (options_parse: the start's rules); returns its status */
static int parse_config_at(const char *path, struct rm_options *o)
{
	char *argv[] = {"proxy",          "-l",       "127.0.0.1:53", "-u",
			"127.0.0.1:5300", "--config", (char *)path,   NULL};
	return options_parse(CMD_PROXY, 7, argv, o);
}

/* A config file of n lines, each line text */
static void write_conf_lines(const char *text, int n)
{
	size_t len = strlen(text);
	char *all = malloc(len * (size_t)n + 1);
	assert_non_null(all);
	for (int i = 0; i < n; i++)
		memcpy(all + len * (size_t)i, text, len);
	all[len * (size_t)n] = '\0';
	write_conf(all);
	free(all);
}

/*
 * The config file's limits, at start as on a reload: only a regular file
 * (a FIFO or /dev/zero is refused at once, never read), at most 1 MiB,
 * 10000 lines, 4095 bytes a line (a longer line is an error, never split
 * into a comment and an option), 16 peers.
 */
static void test_config_file_limits(void **state)
{
	struct rm_options o;
	char dir[] = "/tmp/recmesh-test-cfg.XXXXXX", path[128];
	assert_non_null(mkdtemp(dir));

	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(parse_config_at(path, &o), -1);
	options_free(&o);
	unlink(path);
	snprintf(path, sizeof(path), "%s/zero", dir);
	assert_int_equal(symlink("/dev/zero", path), 0);
	assert_int_equal(parse_config_at(path, &o), -1);
	options_free(&o);
	unlink(path);
	assert_int_equal(parse_config_at(dir, &o), -1);
	options_free(&o);
	rmdir(dir);

	/* a symlink to a regular file is fine */
	write_conf("stats-interval = 3\n");
	snprintf(path, sizeof(path), "%s.link", conf_path);
	assert_int_equal(symlink(conf_path, path), 0);
	assert_int_equal(parse_config_at(path, &o), 0);
	assert_true(o.stats_interval == 3);
	options_free(&o);
	unlink(path);
	unlink(conf_path);

	/* a commented-out line over 4095 bytes: an error, its tail is not an option */
	char line[4200];
	memset(line, 'x', sizeof(line));
	line[0] = '#';
	strcpy(line + 4095 - 18, "stats-interval = 7\n");
	write_conf(line); /* 4095 bytes and its newline: the longest line taken */
	assert_int_equal(parse_config_at(conf_path, &o), 0);
	assert_true(o.stats_interval == 60);
	options_free(&o);
	unlink(conf_path);
	memset(line, 'x', sizeof(line));
	line[0] = '#';
	strcpy(line + 4096 - 18, "stats-interval = 7\n");
	write_conf(line);
	assert_int_equal(parse_config_at(conf_path, &o), -1);
	options_free(&o);
	unlink(conf_path);

	/* 10000 lines, then 10001 */
	write_conf_lines("# a comment\n", 10000);
	assert_int_equal(parse_config_at(conf_path, &o), 0);
	options_free(&o);
	unlink(conf_path);
	write_conf_lines("# a comment\n", 10001);
	assert_int_equal(parse_config_at(conf_path, &o), -1);
	options_free(&o);
	unlink(conf_path);

	/* 1 MiB (8192 lines of 128 bytes), then one byte more */
	char l128[129];
	memset(l128, 'x', 127);
	l128[0] = '#';
	l128[127] = '\n';
	l128[128] = '\0';
	write_conf_lines(l128, 8192);
	assert_int_equal(parse_config_at(conf_path, &o), 0);
	options_free(&o);
	FILE *f = fopen(conf_path, "a");
	assert_non_null(f);
	fputc('\n', f);
	fclose(f);
	assert_int_equal(parse_config_at(conf_path, &o), -1);
	options_free(&o);
	unlink(conf_path);

	/* a NUL byte */
	write_conf("stats-interval = 3\n");
	f = fopen(conf_path, "a");
	fputs("# x", f);
	fputc('\0', f);
	fputs("\n", f);
	fclose(f);
	assert_int_equal(parse_config_at(conf_path, &o), -1);
	options_free(&o);
	unlink(conf_path);
}

/*
 * Reparses the config file written (conf_path) and expects an error whose
 * text holds want, formatted with conf_path (%1$s); removes the file
 */
static void expect_reparse_error(const char *want_fmt)
{
	struct rm_options o;
	char *errors = NULL, want[300];
	char *argv[] = {"proxy",          "-l",       "127.0.0.1:53", "-u",
			"127.0.0.1:5300", "--config", conf_path,      NULL};
	assert_int_equal(options_reparse(CMD_PROXY, 7, argv, &o, &errors), -1);
	snprintf(want, sizeof(want), want_fmt, conf_path);
	assert_non_null(errors);
	if (!strstr(errors, want))
		fail_msg("expected '%s' in '%s'", want, errors);
	options_free(&o);
	free(errors);
	unlink(conf_path);
}

/* The reload's errors name the file and line; an empty file changes nothing */
static void test_reparse_errors(void **state)
{
	struct rm_options o;
	char *errors = NULL;
	char *argv[] = {"proxy",          "-l",       "127.0.0.1:53", "-u",
			"127.0.0.1:5300", "--config", conf_path,      NULL};

	/* at start an empty file is no error: everything may be on the command line */
	write_conf("");
	assert_int_equal(options_parse(CMD_PROXY, 7, argv, &o), 0);
	options_free(&o);
	/* on a reload it would reset every option */
	expect_reparse_error("config file '%s' holds no option");
	write_conf("# only comments\n\n   \n");
	expect_reparse_error("config file '%s' holds no option");

	write_conf("stats-interval = 2\n");
	assert_int_equal(options_reparse(CMD_PROXY, 7, argv, &o, &errors), 0);
	assert_null(errors);
	assert_true(o.stats_interval == 2);
	options_free(&o);
	unlink(conf_path);

	/* the 17th peer is an error at its line, before any further line is read */
	write_conf_lines("peer = 192.0.2.1\n", 17);
	expect_reparse_error("%s:17: --peer may be given 16 times at most");
	write_conf("stats-interval = 2\nhot-interval = x\n");
	expect_reparse_error("%s:2: --hot-interval wants a number of seconds, not 'x'");
	char line[5000];
	memset(line, ' ', sizeof(line));
	strcpy(line + 4990, "\n");
	write_conf(line);
	expect_reparse_error("%s:1: the line has 4990 bytes, more than 4095: not read");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_config_file),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_intel_max_entries),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_metrics_listen_and_version),
		cmocka_unit_test(test_diff),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_rec_network_timeout),
		cmocka_unit_test(test_node_ranges),
		cmocka_unit_test(test_nats_timeout),
		cmocka_unit_test(test_warm_ranges),
		cmocka_unit_test(test_schema_and_man_table),
		cmocka_unit_test(test_nats_security),
		cmocka_unit_test(test_seconds_bounds),
		cmocka_unit_test(test_peers),
		cmocka_unit_test(test_config_file_limits),
		cmocka_unit_test(test_reparse_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
