/* test_nstable.c: the authoritative-server table, its KV text, the fleet merge, the intel file */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "nstable.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const uint8_t A1[4] = {192, 0, 2, 1}, A2[4] = {192, 0, 2, 2};

static void test_observe(void **state)
{
	struct nstable *t = nstable_create(10, 3600);
	struct nstable_item it[4];
	nstable_observe(t, 4, A1, 40000, 0, 100);
	nstable_observe(t, 4, A1, 80000, 0, 101);
	nstable_observe(t, 4, A2, 0, 1, 102);
	nstable_observe(t, 4, A2, 0, 1, 103);
	nstable_observe(t, 5, A2, 0, 1, 103); /* bad family: ignored */
	assert_int_equal(nstable_count(t), 2);
	assert_int_equal(nstable_snapshot(t, 104, it, 4), 2);
	/* most recently seen first */
	assert_memory_equal(it[0].addr, A2, 4);
	assert_int_equal(it[0].timeouts, 2);
	assert_int_equal(it[0].streak, 2);
	assert_int_equal(it[0].answers, 0);
	assert_true(it[1].srtt_ms > 40 && it[1].srtt_ms < 80); /* smoothed */
	assert_true(fabs(it[1].srtt_ms - 50) < 1e-9);      /* 0.75 * 40 + 0.25 * 80 */
	/* an answer ends the streak */
	nstable_observe(t, 4, A2, 10000, 0, 105);
	nstable_snapshot(t, 105, it, 4);
	assert_int_equal(it[0].streak, 0);
	assert_int_equal(it[0].timeouts, 2);
	/* aged out */
	assert_int_equal(nstable_snapshot(t, 105 + 3601, it, 4), 0);
	assert_int_equal(nstable_count(t), 0);
	nstable_destroy(t);
}

static void test_bound(void **state)
{
	struct nstable *t = nstable_create(20, 0);
	uint8_t a[4] = {10, 0, 0, 0};
	for (int i = 0; i < 200; i++) {
		a[3] = (uint8_t)i;
		a[2] = (uint8_t)(i >> 8);
		nstable_observe(t, 4, a, 1000, 0, i);
		assert_true(nstable_count(t) <= 20);
	}
	struct nstable_item it[20];
	assert_true(nstable_snapshot(t, 200, it, 20) > 0);
	assert_int_equal(it[0].addr[3], 199); /* the newest survive */
	nstable_destroy(t);
}

struct got {
	struct nstable_item items[10];
	int n;
};

static void collect(const struct nstable_item *it, void *arg)
{
	struct got *g = arg;
	g->items[g->n++] = *it;
}

static void test_text(void **state)
{
	struct nstable_item in[2];
	memset(in, 0, sizeof(in));
	in[0].family = 4;
	memcpy(in[0].addr, A1, 4);
	in[0].srtt_ms = 12.5;
	in[0].answers = 7;
	in[0].last_answer = in[0].last_seen = 1000;
	in[1].family = 6;
	inet_pton(AF_INET6, "2001:db8::53", in[1].addr);
	in[1].timeouts = 3;
	in[1].streak = 3;
	in[1].last_timeout = in[1].last_seen = 1001;
	size_t len;
	char *text = nstable_encode(in, 2, "n1", 1002, 4096, &len);
	assert_non_null(text);
	assert_non_null(strstr(text, "#recmesh-ns 1 node=n1 time=1002.000\n192.0.2.1 12.500 7 0 0 "));
	struct got g = {.n = 0};
	char node[64], err[128];
	double t;
	assert_int_equal(nstable_parse(text, len, node, &t, collect, &g, err, sizeof(err)), 2);
	assert_string_equal(node, "n1");
	assert_int_equal(g.items[1].family, 6);
	assert_memory_equal(g.items[1].addr, in[1].addr, 16);
	assert_int_equal(g.items[1].streak, 3);
	free(text);
	/* too small: the stalest entries are cut, the header stays */
	text = nstable_encode(in, 2, "n1", 1002, 100, &len);
	assert_true(len <= 100);
	assert_int_equal(nstable_parse(text, len, node, &t, NULL, NULL, err, sizeof(err)), 1);
	free(text);
	/* no room even for the header */
	assert_null(nstable_encode(in, 2, "n1", 1002, 20, &len));

	const char *bad[] = {
		"",
		"#recmesh-ns 2 node=n time=1\n",
		"#recmesh-ns 1 node=n time=nan\n",
		"#recmesh-ns 1 node=n time=1\n300.1.1.1 1 1 0 0 1 1 1\n",
		"#recmesh-ns 1 node=n time=1\n192.0.2.1 -1 1 0 0 1 1 1\n",
		"#recmesh-ns 1 node=n time=1\n192.0.2.1 1 1 0 5 1 1 1\n", /* streak > timeouts */
		"#recmesh-ns 1 node=n time=1\n192.0.2.1 1 1 0 0 1 1\n",
		"#recmesh-ns 1 node=n time=1\n192.0.2.1 1 1 0 0 1 1 1 extra\n",
		"#recmesh-ns 1 node=n time=1\nhello\n",
		"#recmesh-ns 1 node=n time=0x10\n",
		"#recmesh-ns 1 node=n time=1e11\n",
		"#recmesh-ns 1 node=n  time=1\n",
		"#recmesh-ns 1 node=n time=1\n192.0.2.1 0x1 1 0 0 1 1 1\n",
		"#recmesh-ns 1 node=n time=1\n192.0.2.1 1 +1 0 0 1 1 1\n",
		"#recmesh-ns 1 node=n time=1\n192.0.2.1 1 18446744073709551616 0 0 1 1 1\n",
		"#recmesh-ns 1 node=n time=1\n192.0.2.1 1 1 4294967296 4294967296 1 1 1\n",
		"#recmesh-ns 1 node=n time=1\n192.0.2.1 1 1 0 0 1 1 inf\n",
		"#recmesh-ns 1 node=n time=1\n192.0.2.1  1 1 0 0 1 1 1\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (nstable_parse(bad[i], strlen(bad[i]), node, &t, NULL, NULL, err, sizeof(err)) != -1)
			fail_msg("accepted: %s", bad[i]);

	/* the reasons doc/nats.md quotes */
	char longer[400];
	snprintf(longer, sizeof(longer), "#recmesh-ns 1 node=n time=1\n%0300d\n", 1);
	const struct {
		const char *text, *reason;
	} why[] = {
		{"", "empty value"},
		{"#recmesh-ns 1 node=n\n", "bad header line"},
		{"#recmesh-ns 2 node=n time=1\n", "unsupported version or bad time"},
		{"#recmesh-ns 1 node=n time=1\n\n192.0.2.1 1 1 0 0 1 1\n", "bad item on line 3"},
		{"#recmesh-ns 1 node=n time=1\nexample.com 1 1 0 0 1 1 1\n", "bad address on line 2"},
		{longer, "bad line 2"},
	};
	for (size_t i = 0; i < sizeof(why) / sizeof(why[0]); i++) {
		err[0] = '\0';
		assert_int_equal(nstable_parse(why[i].text, strlen(why[i].text), node, &t, NULL, NULL, err,
					       sizeof(err)), -1);
		if (strcmp(err, why[i].reason) != 0)
			fail_msg("'%.40s' rejected for '%s', expected '%s'", why[i].text, err, why[i].reason);
	}
}

static struct nstable_item mk(const uint8_t *addr, uint64_t ans, uint64_t tos, uint32_t streak, double la,
			 double lt)
{
	struct nstable_item it;
	memset(&it, 0, sizeof(it));
	it.family = 4;
	memcpy(it.addr, addr, 4);
	it.answers = ans;
	it.timeouts = tos;
	it.streak = streak;
	it.srtt_ms = ans ? 300 : 0;
	it.last_answer = la;
	it.last_timeout = lt;
	it.last_seen = la > lt ? la : lt;
	return it;
}

static void test_merge_states(void **state)
{
	struct nstable_merge *m = nstable_merge_create();
	struct nstable_item it;
	size_t n;
	/* one node, one timeout: never dead on a single observation */
	it = mk(A1, 0, 1, 1, 0, 100);
	nstable_merge_add(m, &it);
	struct nstable_item *out = nstable_merge_items(m, &n);
	assert_int_equal(n, 1);
	assert_int_equal(nstable_state_of(&out[0]), NS_OK);
	free(out);
	/* a second node's timeout makes it dead */
	it = mk(A1, 0, 1, 1, 0, 101);
	nstable_merge_add(m, &it);
	out = nstable_merge_items(m, &n);
	assert_int_equal(nstable_state_of(&out[0]), NS_DEAD);
	assert_int_equal(out[0].nodes, 2);
	free(out);
	/* a third node that saw it answer after the last timeout clears it */
	it = mk(A1, 1, 0, 0, 102, 0);
	nstable_merge_add(m, &it);
	out = nstable_merge_items(m, &n);
	assert_int_equal(nstable_state_of(&out[0]), NS_SLOW); /* it answers, in 300 ms */
	free(out);
	/* after that answer, a node's older run does not count: one new timeout is not enough */
	it = mk(A1, 0, 5, 5, 0, 101.5);
	nstable_merge_add(m, &it);
	it = mk(A1, 0, 1, 1, 0, 103);
	nstable_merge_add(m, &it);
	out = nstable_merge_items(m, &n);
	assert_int_equal(out[0].streak, 1);
	assert_int_not_equal(nstable_state_of(&out[0]), NS_DEAD);
	free(out);
	/* an old answer does not clear a newer run of timeouts */
	it = mk(A2, 5, 0, 0, 50, 0);
	nstable_merge_add(m, &it);
	it = mk(A2, 0, 3, 3, 0, 90);
	nstable_merge_add(m, &it);
	out = nstable_merge_items(m, &n);
	assert_int_equal(n, 2);
	assert_memory_equal(out[0].addr, A2, 4); /* dead ones first */
	assert_int_equal(nstable_state_of(&out[0]), NS_DEAD);
	assert_string_equal(nstable_state_name(NS_DEAD), "dead");

	/* the intel file lists the dead, atomically */
	char path[] = "/tmp/recmesh-intel-test.XXXXXX", err[256], line[128];
	int fd = mkstemp(path);
	close(fd);
	assert_int_equal(nstable_write_intel(path, out, n, 1234, err, sizeof(err)), 1);
	FILE *f = fopen(path, "r");
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "# recmesh-intel 1 time=1234.000\n");
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "dead 192.0.2.2\n");
	assert_null(fgets(line, sizeof(line), f));
	fclose(f);
	unlink(path);
	assert_int_equal(nstable_write_intel("/nonexistent-dir/x", out, n, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot write"));
	free(out);
	nstable_merge_destroy(m);
}

/*
 * Found by tests/fuzz/fuzz_nstable: tables from the KV may say any count up
 * to 2^64 - 1; summed in the merge they wrapped (an RTT of inf, a run of
 * timeouts back to a small number). Counters saturate.
 */
static void test_merge_saturates(void **state)
{
	struct nstable_merge *m = nstable_merge_create();
	struct nstable_item it;
	size_t n;
	it = mk(A1, UINT64_MAX, UINT64_MAX, UINT32_MAX, 1, 5);
	nstable_merge_add(m, &it);
	it = mk(A1, 1, 1, UINT32_MAX, 1, 6);
	nstable_merge_add(m, &it);
	struct nstable_item *out = nstable_merge_items(m, &n);
	assert_int_equal(n, 1);
	if (!(out[0].srtt_ms > 299.9 && out[0].srtt_ms < 300.1))
		fail_msg("merged RTT %g, want 300", out[0].srtt_ms);
	if (out[0].answers != UINT64_MAX || out[0].timeouts != UINT64_MAX || out[0].streak != UINT32_MAX)
		fail_msg("merged %llu answers, %llu timeouts, streak %u: not saturated",
			 (unsigned long long)out[0].answers, (unsigned long long)out[0].timeouts, out[0].streak);
	assert_int_equal(nstable_state_of(&out[0]), NS_DEAD);
	free(out);
	nstable_merge_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_observe),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_merge_states),
		cmocka_unit_test(test_merge_saturates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
