/* test_intel.c: the intelligence file (version 2): dead and ns lines, bound, order, safe writing */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "nats/intel.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NOW 1700000000.0

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/recmesh-intel-test.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[512];
	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			if (unlink(p) < 0 && errno == EISDIR)
				rmdir(p);
		}
	if (d)
		closedir(d);
	rmdir(dir);
	return 0;
}

/* A merged item: dead (a fresh run of streak timeouts on nodes nodes) unless streak < 2 */
static struct nstable_item dead_item(uint32_t i, uint32_t streak, uint32_t nodes, double last_timeout)
{
	struct nstable_item it;
	memset(&it, 0, sizeof(it));
	it.family = 4;
	it.addr[0] = 10;
	it.addr[1] = (uint8_t)(i >> 16);
	it.addr[2] = (uint8_t)(i >> 8);
	it.addr[3] = (uint8_t)i;
	it.timeouts = it.streak = streak;
	it.nodes = nodes;
	it.last_timeout = it.last_seen = last_timeout;
	return it;
}

static char *slurp(const char *path, size_t *len)
{
	static char buf[1 << 20];
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	*len = fread(buf, 1, sizeof(buf) - 1, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static size_t count_entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;
	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static void test_content(void **state)
{
	char path[128], err[256];
	size_t len;
	struct intel_counts c = {99, 99, 99, 99};
	struct nstable_item it[3] = {dead_item(1, 1, 1, NOW - 1), dead_item(2, 2, 1, NOW - 1),
				     dead_item(3, 5, 2, NOW - 5000)}; /* not dead, dead, stale */
	snprintf(path, sizeof(path), "%s/intel.txt", dir);
	assert_int_equal(intel_write_file(path, it, 3, NOW, 10, &c, err, sizeof(err)), 1);
	assert_int_equal(c.dead, 1);
	assert_int_equal(c.dead_left_out, 0);
	assert_int_equal(c.ns + c.ns_left_out, 0); /* no names (a 4.8 fleet): no ns lines */
	char *text = slurp(path, &len);
	assert_string_equal(text, "# recmesh-intel 2 time=1700000000.000\ndead 10.0.0.2\n");
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_int_equal(count_entries(), 1); /* no temporary file left behind */
}

/* Bounded: at most max_entries, the strongest evidence first; every line short */
static void test_bound_and_order(void **state)
{
	enum { N = 5000 };
	struct nstable_item *it = calloc(N, sizeof(*it));
	char path[128], err[256];
	size_t len;
	struct intel_counts cnt;
	for (uint32_t i = 0; i < N; i++)
		it[i] = dead_item(i, 2 + i % 50, 1 + i % 3, NOW - (i % 7));
	snprintf(path, sizeof(path), "%s/intel.txt", dir);
	assert_int_equal(intel_write_file(path, it, N, NOW, 100, &cnt, err, sizeof(err)), 100);
	assert_int_equal(cnt.dead_left_out, N - 100);
	char *text = slurp(path, &len);
	/* 100 lines of the longest run (51): i % 50 == 49, most nodes first, then the latest timeout */
	size_t lines = 0;
	uint32_t prev_nodes = 99;
	for (char *l = strchr(text, '\n') + 1; *l; l = strchr(l, '\n') + 1) {
		unsigned a, b, c, d;
		assert_true(strchr(l, '\n') - l + 1 <= INTEL_LINE_MAX);
		assert_int_equal(sscanf(l, "dead %u.%u.%u.%u", &a, &b, &c, &d), 4);
		uint32_t i = (b << 16) | (c << 8) | d;
		if (i % 50 != 49)
			fail_msg("line %zu: 10.%u.%u.%u has a run of %u, not the longest", lines, b, c, d,
				 2 + i % 50);
		assert_true(1 + i % 3 <= prev_nodes);
		prev_nodes = 1 + i % 3;
		lines++;
	}
	assert_int_equal(lines, 100);
	assert_true(len <= 64 + 100 * INTEL_LINE_MAX);
	/* the process-wide bound and its clamps */
	intel_set_max_entries(0);
	assert_int_equal(intel_max_entries(), 1);
	intel_set_max_entries(10u * INTEL_MAX_ENTRIES_LIMIT);
	assert_int_equal(intel_max_entries(), INTEL_MAX_ENTRIES_LIMIT);
	intel_set_max_entries(INTEL_MAX_ENTRIES_DEFAULT);
	assert_int_equal(intel_max_entries(), INTEL_MAX_ENTRIES_DEFAULT);
	/* the longest address makes the longest line */
	struct nstable_item v6 = dead_item(0, 3, 1, NOW);
	v6.family = 6;
	memset(v6.addr, 0xff, 16);
	assert_int_equal(intel_write_file(path, &v6, 1, NOW, 10, NULL, err, sizeof(err)), 1);
	text = slurp(path, &len);
	assert_non_null(strstr(text, "\ndead ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff\n"));
	free(it);
}

/* A symlink at the final name is replaced, its target untouched */
static void test_symlink_final(void **state)
{
	char path[128], victim[128], err[256];
	size_t len;
	struct nstable_item it = dead_item(7, 3, 1, NOW);
	snprintf(path, sizeof(path), "%s/intel.txt", dir);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	FILE *f = fopen(victim, "w");
	fputs("precious\n", f);
	fclose(f);
	assert_int_equal(symlink(victim, path), 0);
	assert_int_equal(intel_write_file(path, &it, 1, NOW, 10, NULL, err, sizeof(err)), 1);
	assert_string_equal(slurp(victim, &len), "precious\n");
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_non_null(strstr(slurp(path, &len), "dead 10.0.0.7\n"));
}

/* Symlinks at the names the old writer used (FILE.tmp.PID): never followed, never removed */
static void test_symlink_temp(void **state)
{
	char path[128], victim[128], tmp[160], err[256];
	size_t len;
	struct nstable_item it = dead_item(8, 3, 1, NOW);
	snprintf(path, sizeof(path), "%s/intel.txt", dir);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	FILE *f = fopen(victim, "w");
	fputs("precious\n", f);
	fclose(f);
	assert_int_equal(symlink(victim, tmp), 0);
	for (int i = 0; i < 20; i++)
		assert_int_equal(intel_write_file(path, &it, 1, NOW, 10, NULL, err, sizeof(err)), 1);
	assert_string_equal(slurp(victim, &len), "precious\n");
	struct stat st;
	assert_int_equal(lstat(tmp, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(count_entries(), 3); /* victim, the planted link, the file: no leftovers */
}

/* A missing directory: the writer refuses it by name; only intel_make_parent creates it */
static void test_missing_dir(void **state)
{
	char path[160], sub[128], err[256];
	struct nstable_item it = dead_item(9, 3, 1, NOW);
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	snprintf(path, sizeof(path), "%s/intel.txt", sub);
	assert_int_equal(intel_write_file(path, &it, 1, NOW, 10, NULL, err, sizeof(err)), -1);
	char want[256];
	snprintf(want, sizeof(want), "directory '%s' does not exist", sub);
	assert_string_equal(err, want);
	struct stat st;
	assert_int_equal(stat(sub, &st), -1); /* not created */
	assert_int_equal(intel_make_parent(path, err, sizeof(err)), 0);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755 & ~umask(022));
	assert_int_equal(intel_write_file(path, &it, 1, NOW, 10, NULL, err, sizeof(err)), 1);
	unlink(path);
	rmdir(sub);
	/* a file where the directory should be */
	assert_int_equal(intel_write_file("/dev/null/intel.txt", &it, 1, NOW, 10, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "does not exist"));
}

/*
 * A directory at the file's name: every try fails to rename a temporary
 * file of a new random name, so the texts differ while the condition is
 * the same (what a node says once)
 */
static void test_fail_kind(void **state)
{
	char path[160], err1[512], err2[512];
	struct nstable_item it = dead_item(9, 3, 1, NOW);
	enum intel_fail f1 = INTEL_FAIL_NONE, f2 = INTEL_FAIL_NONE;
	(void)state;
	snprintf(path, sizeof(path), "%s/isdir", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(intel_write_file_why(path, &it, 1, NOW, 10, NULL, &f1, err1, sizeof(err1)), -1);
	assert_int_equal(intel_write_file_why(path, &it, 1, NOW, 10, NULL, &f2, err2, sizeof(err2)), -1);
	assert_int_equal(f1, INTEL_FAIL_RENAME);
	assert_int_equal(f2, INTEL_FAIL_RENAME);
	assert_string_not_equal(err1, err2);
	assert_int_equal(rmdir(path), 0); /* the temporary files are gone */
	snprintf(path, sizeof(path), "%s/nodir/intel.txt", dir);
	assert_int_equal(intel_write_file_why(path, &it, 1, NOW, 10, NULL, &f1, err1, sizeof(err1)), -1);
	assert_int_equal(f1, INTEL_FAIL_NO_DIR);
	snprintf(path, sizeof(path), "%s/intel.txt", dir);
	assert_int_equal(intel_write_file_why(path, &it, 1, NOW, 10, NULL, &f1, err1, sizeof(err1)), 1);
	assert_int_equal(f1, INTEL_FAIL_NONE);
	unlink(path);
}


/* A merged working server: answers from nodes nodes, the last at last_answer, with srtt_ms */
static struct nstable_item working_item(uint32_t i, uint32_t nodes, uint64_t answers, double srtt_ms,
					double last_answer)
{
	struct nstable_item it = dead_item(i, 0, nodes, 0);
	it.answers = answers;
	it.srtt_ms = srtt_ms;
	it.last_answer = it.last_seen = last_answer;
	return it;
}

static void name_it(struct nstable_item *it, const char *a, const char *b)
{
	it->nnames = b ? 2 : 1;
	it->names[0] = a;
	it->name_seen[0] = it->last_seen;
	it->names[1] = b;
	it->name_seen[1] = it->last_seen - 1;
}

/* Version 2: dead lines, then ns lines of dead servers, then of working ones by evidence */
static void test_ns_lines(void **state)
{
	char path[128], err[256];
	size_t len;
	struct intel_counts c;
	struct nstable_item it[10];
	it[0] = dead_item(1, 3, 2, NOW - 400); /* dead, but its last timeout too old for ns lines */
	name_it(&it[0], "old.d.example.", NULL);
	it[1] = dead_item(2, 5, 2, NOW - 10);
	name_it(&it[1], "ns1.d.example.", "ns2.d.example.");
	it[2] = working_item(3, 1, 1000, 0.0006, NOW - 1); /* 0.6 us: the least RTT, 1 */
	name_it(&it[2], "tiny.example.", NULL);
	it[3] = working_item(4, 3, 100, 12.3456, NOW - 5);
	name_it(&it[3], "a.example.", "b_2.example.");
	it[4] = working_item(5, 3, 50, 20000, NOW - 5); /* 20 s: cut to 10 s */
	name_it(&it[4], "slow.example.", NULL);
	it[5] = working_item(6, 2, 7, 300, NOW - 299);
	name_it(&it[5], "ns.example.", NULL);
	it[6] = working_item(7, 9, 9, 10, NOW - 301); /* no answer in the last 300 s */
	name_it(&it[6], "stale.example.", NULL);
	it[7] = working_item(8, 9, 9, 0, NOW - 1); /* never measured */
	name_it(&it[7], "zero.example.", NULL);
	it[8] = working_item(9, 9, 9, 10, NOW - 1); /* no names: a 4.8 stream */
	it[9] = working_item(10, 9, 9, 10, NOW - 1);
	name_it(&it[9], "Bad.example.", "ok.example."); /* a name the reader would refuse is left out */
	snprintf(path, sizeof(path), "%s/intel.txt", dir);
	assert_int_equal(intel_write_file(path, it, 10, NOW, 100, &c, err, sizeof(err)), 2);
	char *text = slurp(path, &len);
	printf("%s", text);
	assert_string_equal(text, "# recmesh-intel 2 time=1700000000.000\n"
				  "dead 10.0.0.2\n"
				  "dead 10.0.0.1\n"
				  "ns ns1.d.example. 10.0.0.2 1000000\n"
				  "ns ns2.d.example. 10.0.0.2 1000000\n"
				  "ns ok.example. 10.0.0.10 10000\n"
				  "ns a.example. 10.0.0.4 12346\n"
				  "ns b_2.example. 10.0.0.4 12346\n"
				  "ns slow.example. 10.0.0.5 10000000\n"
				  "ns ns.example. 10.0.0.6 300000\n"
				  "ns tiny.example. 10.0.0.3 1\n");
	assert_int_equal(c.dead, 2);
	assert_int_equal(c.ns, 8);
	assert_int_equal(c.ns_left_out, 0);

	/* the bound counts every line: the dead ones first, then the dead servers' speeds */
	assert_int_equal(intel_write_file(path, it, 10, NOW, 3, &c, err, sizeof(err)), 2);
	text = slurp(path, &len);
	assert_string_equal(text, "# recmesh-intel 2 time=1700000000.000\n"
				  "dead 10.0.0.2\n"
				  "dead 10.0.0.1\n"
				  "ns ns1.d.example. 10.0.0.2 1000000\n");
	assert_int_equal(c.ns, 1);
	assert_int_equal(c.ns_left_out, 7);
	assert_int_equal(intel_write_file(path, it, 10, NOW, 1, &c, err, sizeof(err)), 1);
	assert_int_equal(c.dead_left_out, 1);
	assert_int_equal(c.ns_left_out, 8);

	/* the longest line: a name of 254 characters, the longest IPv6 text, the largest RTT */
	char longest[NS_NAME_MAX + 1];
	memset(longest, 'a', NS_NAME_MAX);
	for (int k = 63; k < NS_NAME_MAX; k += 64)
		longest[k] = '.';
	longest[NS_NAME_MAX - 1] = '.';
	longest[NS_NAME_MAX] = '\0';
	struct nstable_item v6 = working_item(0, 1, 1, 1e6, NOW);
	v6.family = 6;
	memset(v6.addr, 0xff, 16);
	name_it(&v6, longest, NULL);
	assert_int_equal(intel_write_file(path, &v6, 1, NOW, 10, &c, err, sizeof(err)), 0);
	text = slurp(path, &len);
	char *line = strchr(text, '\n') + 1;
	printf("# the longest line: %zu bytes (INTEL_LINE_MAX %d)\n", strlen(line), INTEL_LINE_MAX);
	assert_int_equal(strlen(line), 3 + NS_NAME_MAX + 1 + 39 + 1 + 8 + 1);
	assert_true(strlen(line) <= INTEL_LINE_MAX);
	assert_int_equal(c.ns, 1);
}

/* The time a running Recursor's script needs for a file: its slices, its imports, one more call */
static void test_load_seconds(void **state)
{
	(void)state;
	assert_true(intel_load_seconds(0, 0) == 1.0);
	assert_true(intel_load_seconds(1, 0) == 2.0);
	assert_true(intel_load_seconds(INTEL_LUA_STEP_BYTES, 0) == 2.0);
	assert_true(intel_load_seconds(INTEL_LUA_STEP_BYTES + 1, 0) == 3.0);
	assert_true(intel_load_seconds(450000, 10000) == 7.0 + 5.0 + 1.0);
	/* the largest file the script takes: under the longest --intel-wait */
	assert_true(intel_load_seconds((size_t)INTEL_LINE_MAX * (INTEL_MAX_ENTRIES_LIMIT + 1),
				       INTEL_MAX_ENTRIES_LIMIT) <= 3600.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_content, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bound_and_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ns_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_final, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_temp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fail_kind, setup, teardown),
		cmocka_unit_test(test_load_seconds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
