/* test_intel.c: the intelligence file: content, bound, order, safe writing */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "intel.h"

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
	size_t len, left = 99;
	struct nstable_item it[3] = {dead_item(1, 1, 1, NOW - 1), dead_item(2, 2, 1, NOW - 1),
				     dead_item(3, 5, 2, NOW - 5000)}; /* not dead, dead, stale */
	snprintf(path, sizeof(path), "%s/intel.txt", dir);
	assert_int_equal(intel_write_file(path, it, 3, NOW, 10, &left, err, sizeof(err)), 1);
	assert_int_equal(left, 0);
	char *text = slurp(path, &len);
	assert_string_equal(text, "# recmesh-intel 1 time=1700000000.000\ndead 10.0.0.2\n");
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
	size_t len, left = 0;
	for (uint32_t i = 0; i < N; i++)
		it[i] = dead_item(i, 2 + i % 50, 1 + i % 3, NOW - (i % 7));
	snprintf(path, sizeof(path), "%s/intel.txt", dir);
	assert_int_equal(intel_write_file(path, it, N, NOW, 100, &left, err, sizeof(err)), 100);
	assert_int_equal(left, N - 100);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_content, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bound_and_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_final, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_temp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_dir, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
