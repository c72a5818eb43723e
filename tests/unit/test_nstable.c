/* test_nstable.c: the authoritative-server table, its KV text, the fleet merge, hostile tables */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tables/nstable.h"

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
	nstable_observe(t, 4, A1, 40000, 0, 100, NULL);
	nstable_observe(t, 4, A1, 80000, 0, 101, NULL);
	nstable_observe(t, 4, A2, 0, 1, 102, NULL);
	nstable_observe(t, 4, A2, 0, 1, 103, NULL);
	nstable_observe(t, 5, A2, 0, 1, 103, NULL); /* bad family: ignored */
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
	nstable_observe(t, 4, A2, 10000, 0, 105, NULL);
	nstable_snapshot(t, 105, it, 4);
	assert_int_equal(it[0].streak, 0);
	assert_int_equal(it[0].timeouts, 2);
	/* an answer without an RTT (0: the stream gave no query time) counts, but does not
	 * pull the smoothed RTT towards 0; the first answer with one sets it */
	nstable_observe(t, 4, A1, 0, 0, 106, NULL);
	nstable_snapshot(t, 106, it, 4);
	assert_memory_equal(it[0].addr, A1, 4);
	assert_int_equal(it[0].answers, 3);
	assert_true(fabs(it[0].srtt_ms - 50) < 1e-9);
	nstable_observe(t, 4, A2, 0, 0, 107, NULL);
	nstable_snapshot(t, 107, it, 4);
	assert_memory_equal(it[0].addr, A2, 4);
	assert_true(fabs(it[0].srtt_ms - 10) < 1e-9);
	struct nstable *u = nstable_create(10, 3600);
	nstable_observe(u, 4, A1, 0, 0, 100, NULL);
	nstable_observe(u, 4, A1, 30000, 0, 101, NULL);
	assert_int_equal(nstable_snapshot(u, 101, it, 4), 1);
	assert_true(fabs(it[0].srtt_ms - 30) < 1e-9);
	assert_int_equal(it[0].answers, 2);
	nstable_destroy(u);
	/* aged out */
	assert_int_equal(nstable_snapshot(t, 107 + 3601, it, 4), 0);
	assert_int_equal(nstable_count(t), 0);
	nstable_destroy(t);
}

/*
 * A Recursor chains a query onto an identical one in flight to the same
 * server: both get the one answer, the chained one first, with a shorter
 * RTT. Of the answers for one query key within 50 ms only the longest counts.
 */
static void test_chained(void **state)
{
	(void)state;
	struct nstable *t = nstable_create(10, 3600);
	struct nstable_item it[2];
	const uint8_t www[] = "\3www\2z2\3net", WWW[] = "\3WWW\2z2\3NET", mail[] = "\4mail\2z2\3net";
	uint32_t k = nstable_query_key(www, sizeof(www), 1);
	assert_int_equal(k, nstable_query_key(WWW, sizeof(WWW), 1)); /* case does not matter */
	assert_int_not_equal(k, nstable_query_key(www, sizeof(www), 28));
	assert_int_not_equal(k, nstable_query_key(mail, sizeof(mail), 1));
	assert_int_not_equal(0, nstable_query_key(NULL, 0, 0));
	/* two chained answers (12 and 25 ms), then the one sent (40 ms), within a millisecond */
	nstable_observe_q(t, 4, A1, 12000, 0, 100.0000, NULL, k);
	nstable_observe_q(t, 4, A1, 25000, 0, 100.0003, NULL, k);
	nstable_observe_q(t, 4, A1, 40000, 0, 100.0006, NULL, k);
	assert_int_equal(nstable_snapshot(t, 101, it, 2), 1);
	assert_true(fabs(it[0].srtt_ms - 40) < 1e-9);
	assert_int_equal(it[0].answers, 3); /* every one is an answer */
	/* the same query 100 ms later is a new sample; another key's in between waits its turn */
	nstable_observe_q(t, 4, A1, 80000, 0, 100.1006, NULL, k);
	nstable_observe_q(t, 4, A1, 60000, 0, 100.1010, NULL, nstable_query_key(mail, sizeof(mail), 1));
	nstable_observe_q(t, 4, A1, 20000, 0, 100.1012, NULL, k); /* chained on the 80 ms one */
	assert_int_equal(nstable_snapshot(t, 101, it, 2), 1);
	/* 40, then 60, then 80: a key's samples go in at its last answer (the one sent answers last) */
	double want = 0.75 * (0.75 * 40 + 0.25 * 60) + 0.25 * 80;
	assert_true(fabs(it[0].srtt_ms - want) < 1e-9);
	/* the window is the Recursor's clock: a sample 51 ms after another of its key counts */
	nstable_observe_q(t, 4, A2, 40000, 0, 200.000, NULL, k);
	nstable_observe_q(t, 4, A2, 20000, 0, 200.051, NULL, k);
	/* more keys in the window than slots: the oldest is folded to make room, none is lost */
	for (uint16_t q = 2; q <= 7; q++) /* type 1 would be k */
		nstable_observe_q(t, 4, A2, 20000, 0, 200.060 + q * 0.001, NULL, nstable_query_key(www, sizeof(www), q));
	assert_int_equal(nstable_snapshot(t, 201, it, 2), 2);
	assert_memory_equal(it[0].addr, A2, 4);
	want = 40;
	for (int i = 0; i < 7; i++)
		want = 0.75 * want + 0.25 * 20;
	assert_true(fabs(it[0].srtt_ms - want) < 1e-9);
	assert_int_equal(it[0].answers, 8);
	/* key 0: no key, counts at once (nstable_observe) */
	nstable_observe(t, 4, A2, 100000, 0, 202, NULL);
	nstable_observe_q(t, 4, A2, 1000, 0, 202, NULL, 0);
	assert_int_equal(nstable_snapshot(t, 203, it, 2), 2);
	want = 0.75 * (0.75 * want + 0.25 * 100) + 0.25 * 1;
	assert_true(fabs(it[0].srtt_ms - want) < 1e-9);
	nstable_destroy(t);
}

static void test_bound(void **state)
{
	struct nstable *t = nstable_create(20, 0);
	uint8_t a[4] = {10, 0, 0, 0};
	for (int i = 0; i < 200; i++) {
		a[3] = (uint8_t)i;
		a[2] = (uint8_t)(i >> 8);
		nstable_observe(t, 4, a, 1000, 0, i, NULL);
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
	assert_non_null(strstr(text, "#recmesh-ns 2 node=n1 time=1002.000\n192.0.2.1 12.500 7 0 0 "));
	assert_non_null(strstr(text, " 1001.000 -\n")); /* no names */
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
		"#recmesh-ns 3 node=n time=1\n",
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
		{"#recmesh-ns 3 node=n time=1\n", "unsupported version or bad time"},
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
	nstable_observe(t, 4, A1, 0, 1, now + 5000, NULL);
	nstable_observe(t, 4, A1, 0, 1, now + 5001, NULL);
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
	nstable_observe(t, 4, A1, UINT32_MAX, 0, now - 2, NULL); /* 4295 s */
	nstable_observe(t, 4, A1, UINT32_MAX, 0, now - 1, NULL);
	nstable_observe(t, 4, A2, 0, 0, NAN, NULL); /* not a time: ignored */
	nstable_observe(t, 4, A2, 0, 0, INFINITY, NULL);
	nstable_observe(t, 4, A2, 0, 0, -5, NULL);
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
		} else if (*s == '[') { /* an array of plain strings */
			s++;
			while (*s == '"') {
				s++;
				while (*s && *s != '"' && *s != '\\')
					s++;
				if (*s++ != '"')
					return 0;
				if (*s == ',' && s[1] == '"')
					s++;
			}
			if (*s++ != ']')
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
				 "\"streak\":4294967295,\"nodes\":4294967295,\"last_seen\":1700000000.000,"
				 "\"names\":[]}");
	it.nnames = 2;
	it.names[0] = "ns1.example.";
	it.names[1] = "ns_2.example.";
	assert_true(nstable_item_json(&it, now, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, ",\"names\":[\"ns1.example.\",\"ns_2.example.\"]}"));
	assert_true(flat_json_ok(buf));
	const double odd[] = {NAN, -INFINITY, 1e300, -0.0, 1e-300};
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		it.srtt_ms = it.last_seen = it.last_timeout = odd[i];
		assert_true(nstable_item_json(&it, now, buf, sizeof(buf)) > 0);
		if (!flat_json_ok(buf) || strstr(buf, "inf") || strstr(buf, "nan"))
			fail_msg("not valid JSON for %g: %s", odd[i], buf);
	}
}


/* The node's table keeps up to NS_NAMES_MAX NS names per address, the most recently seen first */
static void test_names(void **state)
{
	struct nstable *t = nstable_create(10, 3600);
	struct nstable_item it[2];
	nstable_observe(t, 4, A1, 1000, 0, 100, "ns1.example.");
	nstable_observe(t, 4, A1, 1000, 0, 101, "ns2.example.");
	nstable_observe(t, 4, A1, 0, 1, 102, "ns1.example."); /* seen again: first */
	nstable_observe(t, 4, A1, 1000, 0, 103, NULL);         /* a 4.8 stream: no name */
	nstable_observe(t, 4, A1, 1000, 0, 103, "NS9.example."); /* not lower-case: ignored */
	nstable_observe(t, 4, A1, 1000, 0, 103, "ns9.example");  /* no dot: ignored */
	assert_int_equal(nstable_snapshot(t, 200, it, 2), 1);
	assert_int_equal(it[0].nnames, 2);
	assert_string_equal(it[0].names[0], "ns1.example.");
	assert_true(it[0].name_seen[0] == 102);
	assert_string_equal(it[0].names[1], "ns2.example.");
	assert_int_equal(it[0].timeouts, 1);
	/* a fifth name replaces the one seen longest ago */
	nstable_observe(t, 4, A1, 1000, 0, 104, "ns3.example.");
	nstable_observe(t, 4, A1, 1000, 0, 105, "ns4.example.");
	nstable_observe(t, 4, A1, 1000, 0, 106, "ns5.example.");
	assert_int_equal(nstable_snapshot(t, 200, it, 2), 1);
	assert_int_equal(it[0].nnames, NS_NAMES_MAX);
	const char *want[] = {"ns5.example.", "ns4.example.", "ns3.example.", "ns1.example."};
	for (int i = 0; i < NS_NAMES_MAX; i++)
		assert_string_equal(it[0].names[i], want[i]);
	/* the Recursor's clock ahead: the names' times are clamped with the others */
	nstable_observe(t, 4, A2, 1000, 0, 500, "ns.example.");
	assert_int_equal(nstable_snapshot(t, 300, it, 2), 2);
	assert_true(it[0].name_seen[0] == 300 && it[0].last_seen == 300);

	/* the text carries them; a table reads back the same */
	size_t len;
	char *text = nstable_encode(it, 2, "n1", 300, 4096, &len);
	assert_non_null(text);
	printf("%s", text);
	assert_non_null(strstr(text, " ns.example.@300.000\n"));
	assert_non_null(strstr(text, " ns5.example.@106.000,ns4.example.@105.000,ns3.example.@104.000,"
				     "ns1.example.@102.000\n"));
	struct got g = {.n = 0};
	char node[64], err[128];
	double tt;
	assert_int_equal(nstable_parse(text, len, node, &tt, collect, &g, err, sizeof(err)), 2);
	free(text);
	nstable_destroy(t);
	assert_int_equal(g.items[1].nnames, 4);
	assert_true(g.items[1].name_seen[3] == 102);

	/* the longest name, four times: the longest line a version 2 table has */
	char longest[NS_NAME_MAX + 1], other[4][NS_NAME_MAX + 1];
	memset(longest, 'a', NS_NAME_MAX);
	for (int k = 63; k < NS_NAME_MAX; k += 64)
		longest[k] = '.';
	longest[NS_NAME_MAX - 1] = '.';
	longest[NS_NAME_MAX] = '\0';
	assert_true(nstable_ns_name_ok(longest, NS_NAME_MAX));
	struct nstable_item big;
	memset(&big, 0, sizeof(big));
	big.family = 6;
	memset(big.addr, 0xff, 16);
	big.srtt_ms = NS_SRTT_MAX_MS;
	big.answers = big.timeouts = UINT64_MAX;
	big.streak = UINT32_MAX;
	big.last_answer = big.last_timeout = big.last_seen = 99999999999.999;
	big.nnames = 4;
	for (int k = 0; k < 4; k++) {
		memcpy(other[k], longest, sizeof(longest));
		other[k][0] = (char)('b' + k);
		big.names[k] = other[k];
		big.name_seen[k] = 99999999999.999 - k;
	}
	text = nstable_encode(&big, 1, "n1", 99999999999.999, 1 << 16, &len);
	assert_non_null(text);
	size_t line = strlen(strchr(text, '\n') + 1) - 1;
	printf("# the longest line: %zu bytes (NS_LINE_MAX %d)\n", line, NS_LINE_MAX);
	assert_true(line <= NS_LINE_MAX);
	g.n = 0;
	assert_int_equal(nstable_parse_at(text, len, 99999999999.0, node, &tt, collect, &g, err, sizeof(err)), 1);
	assert_string_equal(g.items[0].names[3], other[3]);
	free(text);
}

/* What a reader refuses in a version 2 table's names, and what it still takes from version 1 */
static void test_names_hostile(void **state)
{
	char node[64], err[128];
	double t;
	const char *bad[] = {
		"#recmesh-ns 2 node=n time=9\n192.0.2.1 1 1 0 0 1 1 1\n",               /* no names field */
		"#recmesh-ns 2 node=n time=9\n192.0.2.1 1 1 0 0 1 1 1 \n",              /* an empty one */
		"#recmesh-ns 2 node=n time=9\n192.0.2.1 1 1 0 0 1 1 1 a.@1 b.@1\n",     /* ten fields */
		"#recmesh-ns 2 node=n time=9\n192.0.2.1 1 1 0 0 1 1 1 a.\n",            /* no time */
		"#recmesh-ns 2 node=n time=9\n192.0.2.1 1 1 0 0 1 1 1 a.@\n",
		"#recmesh-ns 2 node=n time=9\n192.0.2.1 1 1 0 0 1 1 1 a.@10\n",         /* after the table's */
		"#recmesh-ns 2 node=n time=9\n192.0.2.1 1 1 0 0 1 1 1 a.@nan\n",
		"#recmesh-ns 2 node=n time=9\n192.0.2.1 1 1 0 0 1 1 1 A.@1\n",          /* upper case */
		"#recmesh-ns 2 node=n time=9\n192.0.2.1 1 1 0 0 1 1 1 a@1\n",           /* relative */
		"#recmesh-ns 2 node=n time=9\n192.0.2.1 1 1 0 0 1 1 1 .@1\n",           /* the root */
		"#recmesh-ns 2 node=n time=9\n192.0.2.1 1 1 0 0 1 1 1 a..@1\n",
		"#recmesh-ns 2 node=n time=9\n192.0.2.1 1 1 0 0 1 1 1 a\\.b.@1\n",
		"#recmesh-ns 2 node=n time=9\n192.0.2.1 1 1 0 0 1 1 1 a.@1,a.@2\n",     /* twice */
		"#recmesh-ns 2 node=n time=9\n192.0.2.1 1 1 0 0 1 1 1 a.@1,\n",
		"#recmesh-ns 2 node=n time=9\n192.0.2.1 1 1 0 0 1 1 1 a.@1,b.@1,c.@1,d.@1,e.@1\n", /* five */
		"#recmesh-ns 2 node=n time=9\n192.0.2.1 1 1 0 0 1 1 1 -,a.@1\n",
		"#recmesh-ns 1 node=n time=9\n192.0.2.1 1 1 0 0 1 1 1 -\n", /* names in a version 1 table */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (nstable_parse(bad[i], strlen(bad[i]), node, &t, NULL, NULL, err, sizeof(err)) != -1)
			fail_msg("accepted: %s", bad[i]);
		if (strncmp(err, "bad names on line 2", 19) != 0 && strncmp(err, "bad item on line 2", 18) != 0)
			fail_msg("'%s' refused for '%s'", bad[i], err);
	}
	const char *good = "#recmesh-ns 2 node=n time=9\n192.0.2.1 1 1 0 0 1 1 1 a-b_c.d.@1.5,e.@9\n";
	struct got g = {.n = 0};
	assert_int_equal(nstable_parse(good, strlen(good), node, &t, collect, &g, err, sizeof(err)), 1);
	/* a line of a version 2 table may be longer than version 1's 256 bytes, not beyond NS_LINE_MAX */
	char longline[NS_LINE_MAX + 400]; /* room for the last name added past NS_LINE_MAX + 100 */
	int l = snprintf(longline, sizeof(longline), "#recmesh-ns 2 node=n time=9\n192.0.2.1 1 1 0 0 1 1 1 ");
	for (int k = 0; l < NS_LINE_MAX + 100; k++)
		l += snprintf(longline + l, sizeof(longline) - (size_t)l, "%s%0240d.@1", k ? "," : "", k);
	assert_true((size_t)l < sizeof(longline));
	assert_int_equal(nstable_parse(longline, (size_t)l, node, &t, NULL, NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "bad line 2");
	/* an old node's table (version 1) still reads, without names */
	const char *v1 = "#recmesh-ns 1 node=old time=9\n192.0.2.1 1.5 1 0 0 1 1 1\n";
	g.n = 0;
	assert_int_equal(nstable_parse(v1, strlen(v1), node, &t, collect, &g, err, sizeof(err)), 1);
	assert_int_equal(g.items[0].nnames, 0);
	assert_true(g.items[0].srtt_ms == 1.5);
}

struct names_in {
	char name[NS_NAME_MAX + 1];
};

/* The fleet merge keeps each address's NS_NAMES_MAX most recently seen names, copied */
static void test_merge_names(void **state)
{
	struct nstable_merge *m = nstable_merge_create();
	struct nstable_item a = mk(A1, 5, 0, 0, 100, 0), b = mk(A1, 5, 0, 0, 110, 0);
	size_t n;
	static const char three[] = "ns1.example.\0ns2.example.\0ns3.example.";
	char *buf = malloc(sizeof(three));
	assert_non_null(buf);
	memcpy(buf, three, sizeof(three));
	a.nnames = 2;
	a.names[0] = buf;
	a.name_seen[0] = 100;
	a.names[1] = buf + 13;
	a.name_seen[1] = 50;
	b.nnames = 3;
	b.names[0] = buf + 26;
	b.name_seen[0] = 110;
	b.names[1] = buf; /* also on the first node, seen there earlier */
	b.name_seen[1] = 90;
	b.names[2] = "ns4.example.";
	b.name_seen[2] = 20;
	nstable_merge_table(m);
	nstable_merge_add(m, &a);
	nstable_merge_table(m);
	nstable_merge_add(m, &b);
	free(buf); /* the merge holds copies */
	struct nstable_item *out = nstable_merge_items(m, NOW, &n);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].nnames, 4);
	const char *want[] = {"ns3.example.", "ns1.example.", "ns2.example.", "ns4.example."};
	const double when[] = {110, 100, 50, 20};
	for (int i = 0; i < 4; i++) {
		assert_string_equal(out[0].names[i], want[i]);
		assert_true(out[0].name_seen[i] == when[i]);
	}
	free(out);
	/* a fifth name, more recent than the oldest, takes its place; an older one does not */
	struct nstable_item c = mk(A1, 1, 0, 0, 120, 0);
	c.nnames = 2;
	c.names[0] = "ns5.example.";
	c.name_seen[0] = 30;
	c.names[1] = "ns6.example.";
	c.name_seen[1] = 10;
	nstable_merge_table(m);
	nstable_merge_add(m, &c);
	out = nstable_merge_items(m, NOW, &n);
	assert_string_equal(out[0].names[3], "ns5.example.");
	assert_int_equal(out[0].nnames, 4);
	free(out);
	assert_int_equal(nstable_merge_names_left_out(m), 0);
	nstable_merge_destroy(m);
}

/* A merge holds at most NS_MERGE_MAX_NAME_BYTES of names: beyond, names are left out and counted */
static void test_merge_names_budget(void **state)
{
	struct nstable_merge *m = nstable_merge_create();
	char names[4][NS_NAME_MAX + 1];
	struct nstable_item it;
	size_t n, held = 0;
	memset(&it, 0, sizeof(it));
	it.family = 4;
	it.nnames = 4;
	for (int k = 0; k < 4; k++) {
		memset(names[k], 'a' + k, NS_NAME_MAX);
		for (int d = 63; d < NS_NAME_MAX; d += 64)
			names[k][d] = '.';
		names[k][NS_NAME_MAX - 1] = '.';
		names[k][NS_NAME_MAX] = '\0';
		it.names[k] = names[k];
		it.name_seen[k] = 100 - k;
	}
	/* 20000 addresses with four names of 255 bytes each: 20 MB asked */
	enum { ADDRS = 20000 };
	for (uint32_t i = 0; i < ADDRS; i++) {
		it.addr[0] = 10;
		it.addr[1] = (uint8_t)(i >> 16);
		it.addr[2] = (uint8_t)(i >> 8);
		it.addr[3] = (uint8_t)i;
		nstable_merge_add(m, &it);
	}
	struct nstable_item *out = nstable_merge_items(m, NOW, &n);
	assert_int_equal(n, ADDRS);
	for (size_t i = 0; i < n; i++)
		held += out[i].nnames;
	printf("# %u names asked, %zu held (%zu bytes), %zu left out\n", 4 * ADDRS, held,
	       held * (NS_NAME_MAX + 1), nstable_merge_names_left_out(m));
	assert_true(held * (NS_NAME_MAX + 1) <= NS_MERGE_MAX_NAME_BYTES);
	assert_int_equal(held + nstable_merge_names_left_out(m), 4 * ADDRS);
	assert_true(nstable_merge_names_left_out(m) > 0);
	free(out);
	nstable_merge_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_observe),
		cmocka_unit_test(test_chained),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_merge_states),
		cmocka_unit_test(test_one_node_evidence),
		cmocka_unit_test(test_merge_bound),
		cmocka_unit_test(test_future_times),
		cmocka_unit_test(test_saturation),
		cmocka_unit_test(test_huge_srtt),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_names_hostile),
		cmocka_unit_test(test_merge_names),
		cmocka_unit_test(test_merge_names_budget),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
