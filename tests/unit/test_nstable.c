/* test_nstable.c: the authoritative-server table, its KV text, the fleet merge, hostile tables */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "nstable.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const uint8_t A1[4] = {192, 0, 2, 1}, A2[4] = {192, 0, 2, 2};
/* the merge tests' clock: their timeouts (at 100 and so on) are fresh */
#define NOW 200.0

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
		/* one table naming an address twice would count as two nodes' evidence */
		{"#recmesh-ns 1 node=n time=10\n192.0.2.1 0 0 5 5 0 9 9\n192.0.2.2 0 0 1 1 0 9 9\n"
		 "192.0.2.1 0 0 5 5 0 9 9\n",
		 "duplicate address on line 4"},
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
	struct nstable_item *out = nstable_merge_items(m, NOW, &n);
	assert_int_equal(n, 1);
	assert_int_equal(nstable_state_of(&out[0], NOW), NS_OK);
	free(out);
	/* a second node's timeout makes it dead */
	it = mk(A1, 0, 1, 1, 0, 101);
	nstable_merge_add(m, &it);
	out = nstable_merge_items(m, NOW, &n);
	assert_int_equal(nstable_state_of(&out[0], NOW), NS_DEAD);
	assert_int_equal(out[0].nodes, 2);
	free(out);
	/* a third node that saw it answer after the last timeout clears it */
	it = mk(A1, 1, 0, 0, 102, 0);
	nstable_merge_add(m, &it);
	out = nstable_merge_items(m, NOW, &n);
	assert_int_equal(nstable_state_of(&out[0], NOW), NS_SLOW); /* it answers, in 300 ms */
	free(out);
	/*
	 * after that answer, a node's older run does not count: one new timeout
	 * is not enough, and one node's run alone counts for nothing in a fleet
	 */
	it = mk(A1, 0, 5, 5, 0, 101.5);
	nstable_merge_add(m, &it);
	it = mk(A1, 0, 1, 1, 0, 103);
	nstable_merge_add(m, &it);
	out = nstable_merge_items(m, NOW, &n);
	assert_int_equal(out[0].streak, 0);
	assert_int_not_equal(nstable_state_of(&out[0], NOW), NS_DEAD);
	free(out);
	/* an old answer does not clear a newer run of timeouts (reported by two nodes) */
	it = mk(A2, 5, 0, 0, 50, 0);
	nstable_merge_add(m, &it);
	it = mk(A2, 0, 3, 3, 0, 90);
	nstable_merge_add(m, &it);
	out = nstable_merge_items(m, NOW, &n);
	if (nstable_state_of(&out[0], NOW) == NS_DEAD || nstable_state_of(&out[1], NOW) == NS_DEAD)
		fail_msg("one node's run made a server dead (streaks %u, %u)", out[0].streak, out[1].streak);
	free(out);
	it = mk(A2, 0, 1, 1, 0, 91);
	nstable_merge_add(m, &it);
	out = nstable_merge_items(m, NOW, &n);
	assert_int_equal(n, 2);
	assert_int_equal(out[0].streak, 4);
	assert_memory_equal(out[0].addr, A2, 4); /* dead ones first */
	assert_int_equal(nstable_state_of(&out[0], NOW), NS_DEAD);
	assert_string_equal(nstable_state_name(NS_DEAD), "dead");

	free(out);
	nstable_merge_destroy(m);
}

/* Attack: one node's table cannot make a server dead for a fleet of several; alone it can */
static void test_one_node_evidence(void **state)
{
	struct nstable_merge *m = nstable_merge_create();
	struct nstable_item it, *out;
	size_t n;
	/* three nodes' tables; one says 1000 timeouts in a row, fresh */
	nstable_merge_table(m);
	it = mk(A1, 0, 1000, 1000, 0, NOW - 1);
	nstable_merge_add(m, &it);
	nstable_merge_table(m);
	nstable_merge_table(m);
	out = nstable_merge_items(m, NOW, &n);
	assert_int_equal(n, 1);
	if (nstable_state_of(&out[0], NOW) == NS_DEAD || out[0].streak != 0)
		fail_msg("one node of 3: state %s, streak %u (want not dead, 0)",
			 nstable_state_name(nstable_state_of(&out[0], NOW)), out[0].streak);
	free(out);
	/* a second node's timeout corroborates it */
	it = mk(A1, 0, 1, 1, 0, NOW - 2);
	nstable_merge_add(m, &it);
	out = nstable_merge_items(m, NOW, &n);
	assert_int_equal(nstable_state_of(&out[0], NOW), NS_DEAD);
	assert_int_equal(out[0].streak, 1001);
	free(out);
	nstable_merge_destroy(m);
	/* a fleet of one node: its own run decides */
	m = nstable_merge_create();
	nstable_merge_table(m);
	it = mk(A1, 0, 2, 2, 0, NOW - 1);
	nstable_merge_add(m, &it);
	out = nstable_merge_items(m, NOW, &n);
	assert_int_equal(nstable_state_of(&out[0], NOW), NS_DEAD);
	free(out);
	nstable_merge_destroy(m);
}

/* The merge keeps at most NS_MERGE_MAX_ENTRIES addresses and counts what it leaves out */
static void test_merge_bound(void **state)
{
	struct nstable_merge *m = nstable_merge_create();
	struct nstable_item it = mk(A1, 1, 0, 0, NOW, 0);
	size_t n;
	for (uint32_t i = 0; i < NS_MERGE_MAX_ENTRIES + 10; i++) {
		it.family = 6;
		memset(it.addr, 0, 16);
		it.addr[0] = 0x20;
		it.addr[1] = 0x01;
		it.addr[12] = (uint8_t)(i >> 24);
		it.addr[13] = (uint8_t)(i >> 16);
		it.addr[14] = (uint8_t)(i >> 8);
		it.addr[15] = (uint8_t)i;
		nstable_merge_add(m, &it);
	}
	struct nstable_item *out = nstable_merge_items(m, NOW, &n);
	if (n != NS_MERGE_MAX_ENTRIES || nstable_merge_left_out(m) != 10)
		fail_msg("kept %zu, left out %zu (want %d and 10)", n, nstable_merge_left_out(m),
			 NS_MERGE_MAX_ENTRIES);
	free(out);
	nstable_merge_destroy(m);
}

/* A table of one item, parsed at now; returns what nstable_parse_at returned */
static int parse_one(double now, double header, const char *item, struct got *g, char *err, size_t err_size)
{
	char text[512], node[64];
	double t;
	snprintf(text, sizeof(text), "#recmesh-ns 1 node=n time=%.3f\n%s\n", header, item);
	return nstable_parse_at(text, strlen(text), now, node, &t, g ? collect : NULL, g, err, err_size);
}

/* Attack: a future last_timeout (or table time) must not mark a server dead forever */
static void test_future_times(void **state)
{
	const double now = 1700000000;
	char err[128], item[256];
	/* a table from the future: refused */
	snprintf(item, sizeof(item), "192.0.2.1 0 0 5 5 0 %.3f %.3f", now, now);
	assert_int_equal(parse_one(now, now + NS_CLOCK_SKEW + 1, item, NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "time in the future");
	/* within the skew: taken */
	assert_int_equal(parse_one(now, now + NS_CLOCK_SKEW - 1, item, NULL, err, sizeof(err)), 1);
	/* an item time after the table's time: refused, whichever of the three */
	const char *fmt[] = {"192.0.2.1 0 0 5 5 %.3f 0 0", "192.0.2.1 0 0 5 5 0 %.3f 0",
			     "192.0.2.1 0 0 5 5 0 0 %.3f"};
	for (int i = 0; i < 3; i++) {
		snprintf(item, sizeof(item), fmt[i], now + 1e6);
		assert_int_equal(parse_one(now, now, item, NULL, err, sizeof(err)), -1);
		if (strcmp(err, "time after the table's on line 2") != 0)
			fail_msg("item %d: rejected for '%s'", i, err);
	}
	/* an item that got past a parser (or a peer with a bad clock within the skew): not dead when in the future */
	struct nstable_merge *m = nstable_merge_create();
	struct nstable_item it = mk(A1, 0, 9, 9, 0, now + NS_CLOCK_SKEW + 3600);
	size_t n;
	nstable_merge_add(m, &it);
	struct nstable_item *out = nstable_merge_items(m, now, &n);
	assert_int_equal(n, 1);
	if (nstable_state_of(&out[0], now) == NS_DEAD)
		fail_msg("a future timeout made it dead (streak %u)", out[0].streak);
	free(out);
	nstable_merge_destroy(m);
	/* fresh evidence only: the same run is dead while fresh, not once it is old */
	m = nstable_merge_create();
	it = mk(A1, 0, 3, 3, 0, now - 10);
	nstable_merge_add(m, &it);
	out = nstable_merge_items(m, now, &n);
	assert_int_equal(nstable_state_of(&out[0], now), NS_DEAD);
	free(out);
	out = nstable_merge_items(m, now + NS_DEAD_FRESH, &n);
	if (nstable_state_of(&out[0], now + NS_DEAD_FRESH) == NS_DEAD)
		fail_msg("a run %.0f s old still dead (streak %u)", NS_DEAD_FRESH + 10, out[0].streak);
	assert_int_equal(out[0].streak, 0);
	free(out);
	nstable_merge_destroy(m);

	/* a Recursor clock ahead: the node writes what happened as now, and its peers take it */
	struct nstable *t = nstable_create(10, 3600);
	struct nstable_item snap[2];
	nstable_observe(t, 4, A1, 0, 1, now + 5000);
	nstable_observe(t, 4, A1, 0, 1, now + 5001);
	assert_int_equal(nstable_snapshot(t, now, snap, 2), 1);
	assert_true(snap[0].last_timeout == now && snap[0].last_seen == now);
	size_t len;
	char *text = nstable_encode(snap, 1, "n1", now, 4096, &len);
	char node[64];
	double ht;
	assert_int_equal(nstable_parse_at(text, len, now, node, &ht, NULL, NULL, err, sizeof(err)), 1);
	free(text);
	/* the encoder clamps item times to the table's time by itself */
	snap[0].last_seen = snap[0].last_timeout = now + 100;
	text = nstable_encode(snap, 1, "n1", now, 4096, &len);
	if (nstable_parse_at(text, len, now, node, &ht, NULL, NULL, err, sizeof(err)) != 1)
		fail_msg("own table refused: %s\n%s", err, text);
	free(text);
	nstable_destroy(t);
}

/* Attack: streaks and counters that would wrap must saturate, and a truly dead server stay dead */
static void test_saturation(void **state)
{
	const double now = 1700000000;
	char err[128], item[256];
	struct got g = {.n = 0};
	/* streaks of UINT32_MAX and 5 on two nodes: the sum saturates, never wraps to 4 */
	snprintf(item, sizeof(item), "192.0.2.1 0 0 4294967295 4294967295 0 %.3f %.3f", now - 1, now - 1);
	assert_int_equal(parse_one(now, now, item, &g, err, sizeof(err)), 1);
	snprintf(item, sizeof(item), "192.0.2.1 0 0 5 5 0 %.3f %.3f", now - 2, now - 2);
	assert_int_equal(parse_one(now, now, item, &g, err, sizeof(err)), 1);
	/* answers: two of UINT64_MAX at 10 ms and 30 ms */
	snprintf(item, sizeof(item), "192.0.2.2 10 18446744073709551615 0 0 %.3f 0 %.3f", now - 1, now - 1);
	assert_int_equal(parse_one(now, now, item, &g, err, sizeof(err)), 1);
	snprintf(item, sizeof(item), "192.0.2.2 30 18446744073709551615 18446744073709551615 0 %.3f 0 %.3f",
		 now - 1, now - 1);
	assert_int_equal(parse_one(now, now, item, &g, err, sizeof(err)), 1);
	struct nstable_merge *m = nstable_merge_create();
	for (int i = 0; i < g.n; i++)
		nstable_merge_add(m, &g.items[i]);
	size_t n;
	struct nstable_item *out = nstable_merge_items(m, now, &n);
	assert_int_equal(n, 2);
	assert_memory_equal(out[0].addr, A1, 4); /* the dead one first */
	if (out[0].streak != UINT32_MAX || out[0].timeouts != 4294967300ull ||
	    nstable_state_of(&out[0], now) != NS_DEAD)
		fail_msg("wrapped: streak %u timeouts %llu state %s", out[0].streak,
			 (unsigned long long)out[0].timeouts, nstable_state_name(nstable_state_of(&out[0], now)));
	if (out[1].answers != UINT64_MAX || out[1].timeouts != UINT64_MAX || !isfinite(out[1].srtt_ms) ||
	    fabs(out[1].srtt_ms - 20) > 1e-9)
		fail_msg("answers %llu timeouts %llu srtt %f", (unsigned long long)out[1].answers,
			 (unsigned long long)out[1].timeouts, out[1].srtt_ms);
	free(out);
	/* more of the same: still saturated, still finite */
	for (int i = 0; i < g.n; i++)
		nstable_merge_add(m, &g.items[i]);
	out = nstable_merge_items(m, now, &n);
	assert_true(out[1].answers == UINT64_MAX && isfinite(out[1].srtt_ms));
	assert_int_equal(out[0].streak, UINT32_MAX);
	assert_int_equal(out[0].nodes, 4);
	free(out);
	nstable_merge_destroy(m);
}

/* Attack: one huge latency from the stream must not get the node's table refused by its peers */
static void test_huge_srtt(void **state)
{
	const double now = 1700000000;
	struct nstable *t = nstable_create(10, 3600);
	struct nstable_item snap[2];
	char err[128], node[64];
	double ht;
	size_t len;
	nstable_observe(t, 4, A1, UINT32_MAX, 0, now - 2); /* 4295 s */
	nstable_observe(t, 4, A1, UINT32_MAX, 0, now - 1);
	nstable_observe(t, 4, A2, 0, 0, NAN); /* not a time: ignored */
	nstable_observe(t, 4, A2, 0, 0, INFINITY);
	nstable_observe(t, 4, A2, 0, 0, -5);
	assert_int_equal(nstable_snapshot(t, now, snap, 2), 1);
	if (snap[0].srtt_ms != NS_SRTT_MAX_MS)
		fail_msg("srtt %f, expected the bound %f", snap[0].srtt_ms, NS_SRTT_MAX_MS);
	char *text = nstable_encode(snap, 1, "n1", now, 4096, &len);
	struct got g = {.n = 0};
	if (nstable_parse_at(text, len, now, node, &ht, collect, &g, err, sizeof(err)) != 1)
		fail_msg("a peer refuses the table: %s\n%s", err, text);
	assert_true(g.items[0].srtt_ms == NS_SRTT_MAX_MS);
	free(text);
	/* one above the bound: refused */
	char item[256];
	snprintf(item, sizeof(item), "192.0.2.1 1000000.001 1 0 0 %.3f 0 %.3f", now, now);
	assert_int_equal(parse_one(now, now, item, NULL, err, sizeof(err)), -1);
	/* not finite in memory (never from the parser): written as 0, not "nan" */
	snap[0].srtt_ms = NAN;
	text = nstable_encode(snap, 1, "n1", now, 4096, &len);
	assert_null(strstr(text, "nan"));
	assert_int_equal(nstable_parse_at(text, len, now, node, &ht, NULL, NULL, err, sizeof(err)), 1);
	free(text);
	assert_null(nstable_encode(snap, 1, "n1", NAN, 4096, &len));
	nstable_destroy(t);
}

/* The tiniest JSON check: one flat object of "key":value, values strings, numbers or null */
static int flat_json_ok(const char *s)
{
	if (*s++ != '{')
		return 0;
	for (;;) {
		if (*s++ != '"')
			return 0;
		while (*s && *s != '"')
			s++;
		if (*s++ != '"' || *s++ != ':')
			return 0;
		if (*s == '"') {
			s++;
			while (*s && *s != '"')
				s += *s == '\\' ? 2 : 1;
			if (*s++ != '"')
				return 0;
		} else if (!strncmp(s, "null", 4)) {
			s += 4;
		} else {
			const char *b = s;
			if (*s == '-')
				s++;
			while (isdigit((unsigned char)*s) || *s == '.')
				s++;
			if (s == b)
				return 0;
			if (*s == 'e' || *s == 'E') { /* an exponent: e, a sign, digits */
				s++;
				if (*s == '+' || *s == '-')
					s++;
				if (!isdigit((unsigned char)*s))
					return 0;
				while (isdigit((unsigned char)*s))
					s++;
			}
		}
		if (*s == '}')
			return s[1] == '\0';
		if (*s++ != ',')
			return 0;
	}
}

/* recmesh ns --json: valid whatever the tables held */
static void test_json(void **state)
{
	const double now = 1700000000;
	char buf[1024];
	struct nstable_item it = mk(A1, UINT64_MAX, UINT64_MAX, UINT32_MAX, now - 1, now);
	it.nodes = UINT32_MAX;
	it.srtt_ms = INFINITY;
	assert_true(nstable_item_json(&it, now, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"address\":\"192.0.2.1\",\"state\":\"dead\",\"rtt_ms\":null,"
				 "\"answers\":18446744073709551615,\"timeouts\":18446744073709551615,"
				 "\"streak\":4294967295,\"nodes\":4294967295,\"last_seen\":1700000000.000}");
	const double odd[] = {NAN, -INFINITY, 1e300, -0.0, 1e-300};
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		it.srtt_ms = it.last_seen = it.last_timeout = odd[i];
		assert_true(nstable_item_json(&it, now, buf, sizeof(buf)) > 0);
		if (!flat_json_ok(buf) || strstr(buf, "inf") || strstr(buf, "nan"))
			fail_msg("not valid JSON for %g: %s", odd[i], buf);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_observe),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_merge_states),
		cmocka_unit_test(test_one_node_evidence),
		cmocka_unit_test(test_merge_bound),
		cmocka_unit_test(test_future_times),
		cmocka_unit_test(test_saturation),
		cmocka_unit_test(test_huge_srtt),
		cmocka_unit_test(test_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
