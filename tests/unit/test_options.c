/* test_options.c: defaults, config file and command line */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "natsconn.h"
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

/* The NATS security options: files on every command, checked at parse time */
static void test_nats_security(void **state)
{
	struct rm_options o;
	char pw[64] = "/tmp/recmesh-test-options-pw.XXXXXX";
	int fd = mkstemp(pw);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hunter2\n", 8), 8);
	close(fd);

	char *def[] = {"proxy", NULL};
	assert_int_equal(options_parse(CMD_PROXY, 1, def, &o), 0);
	assert_int_equal(o.kv_replicas, 0); /* automatic: 3 on a cluster, else 1 */
	assert_null(o.nats_user);
	options_free(&o);

	char conf[256];
	snprintf(conf, sizeof(conf),
		 "nats = nats://a:4222,tls://b:4443\nnats-user = node1\nnats-password-file = %s\n", pw);
	write_conf(conf);
	char *argv[] = {"warm", "--config", conf_path, NULL};
	assert_int_equal(options_parse(CMD_WARM, 3, argv, &o), 0);
	assert_string_equal(o.nats_user, "node1");
	assert_string_equal(o.nats_password_file, pw);
	options_free(&o);
	unlink(conf_path);

	char *both[] = {"hot", "--nats-token-file", pw, "--nats-user", "u", "--nats-password-file", pw, NULL};
	assert_int_equal(options_parse(CMD_HOT, 7, both, &o), -1);
	options_free(&o);
	char *alone[] = {"ns", "--nats-password-file", pw, NULL};
	assert_int_equal(options_parse(CMD_NS, 3, alone, &o), -1);
	options_free(&o);
	char *missing[] = {"events", "--nats-token-file", "/nonexistent/token", NULL};
	assert_int_equal(options_parse(CMD_EVENTS, 3, missing, &o), -1);
	options_free(&o);
	char *keyonly[] = {"mirror", "--nats-tls-key", pw, NULL};
	assert_int_equal(options_parse(CMD_MIRROR, 3, keyonly, &o), -1);
	options_free(&o);
	char *badlist[] = {"hot", "--nats", "nats://a,,nats://b", NULL};
	assert_int_equal(options_parse(CMD_HOT, 3, badlist, &o), -1);
	options_free(&o);
	char *replicas[] = {"proxy", "--kv-replicas", "6", NULL};
	assert_int_equal(options_parse(CMD_PROXY, 3, replicas, &o), -1);
	options_free(&o);
	char *replicas5[] = {"proxy", "--kv-replicas", "5", NULL};
	assert_int_equal(options_parse(CMD_PROXY, 3, replicas5, &o), 0);
	assert_int_equal(o.kv_replicas, 5);
	options_free(&o);
	/* the buckets' TTL: a node's --max-age, at least two --hot-interval; none for readers */
	char *ttl[] = {"proxy", "--max-age", "3600", NULL};
	assert_int_equal(options_parse(CMD_PROXY, 3, ttl, &o), 0);
	assert_int_equal(natsconn_kv_ttl_ms(), 3600000);
	options_free(&o);
	char *ttl_short[] = {"mirror", "--max-age", "10", "--hot-interval", "30", NULL};
	assert_int_equal(options_parse(CMD_MIRROR, 5, ttl_short, &o), 0);
	assert_int_equal(natsconn_kv_ttl_ms(), 60000);
	options_free(&o);
	char *ttl_none[] = {"proxy", "--max-age", "0", NULL};
	assert_int_equal(options_parse(CMD_PROXY, 3, ttl_none, &o), 0);
	assert_int_equal(natsconn_kv_ttl_ms(), 0);
	options_free(&o);
	char *ttl_reader[] = {"warm", "--max-age", "3600", NULL};
	assert_int_equal(options_parse(CMD_WARM, 3, ttl_reader, &o), 0);
	assert_int_equal(natsconn_kv_ttl_ms(), 0);
	options_free(&o);
	/* no option takes a secret itself ("--nats-password" is read as an abbreviation of
	 * --nats-password-file, and no file of that name exists) */
	char *secret[] = {"hot", "--nats-password", "hunter2", NULL};
	assert_int_equal(options_parse(CMD_HOT, 3, secret, &o), -1);
	options_free(&o);
	unlink(pw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_config_file),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_nats_security),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
