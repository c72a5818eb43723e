/* test_options.c: defaults, config file and command line */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "intel.h"
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

/* --intel-max-entries: default, range (exit status 2 means -1 here), the process-wide bound */
static void test_intel_max_entries(void **state)
{
	struct rm_options o;
	char *def[] = {"mirror", "--protobuf-listen", "127.0.0.1:4242", "--cluster", "c", NULL};
	assert_int_equal(options_parse(CMD_MIRROR, 5, def, &o), 0);
	assert_int_equal(o.intel_max_entries, 10000);
	assert_int_equal(intel_max_entries(), 10000);
	options_free(&o);
	char *set[] = {"warm", "--target", "127.0.0.1:53", "--cluster", "c", "--intel-max-entries", "250", NULL};
	assert_int_equal(options_parse(CMD_WARM, 7, set, &o), 0);
	assert_int_equal(o.intel_max_entries, 250);
	assert_int_equal(intel_max_entries(), 250);
	options_free(&o);
	const char *bad[] = {"0", "100001", "-1", "ten"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[] = {"proxy", "-l", "127.0.0.1:53", "-u", "127.0.0.1:5300", "--cluster", "c",
				"--intel-max-entries", (char *)bad[i], NULL};
		if (options_parse(CMD_PROXY, 9, argv, &o) != -1)
			fail_msg("--intel-max-entries %s accepted", bad[i]);
		options_free(&o);
	}
	assert_int_equal(intel_max_entries(), 250); /* a refused value changes nothing */
	char *ns[] = {"ns", "--cluster", "c", "--intel-max-entries", "5", NULL};
	assert_int_equal(options_parse(CMD_NS, 5, ns, &o), -1); /* not an option of ns */
	options_free(&o);
	intel_set_max_entries(INTEL_MAX_ENTRIES_DEFAULT);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_config_file),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_intel_max_entries),
		cmocka_unit_test(test_help),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
