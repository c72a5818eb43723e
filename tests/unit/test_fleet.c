/* test_fleet.c: the hot-list assembler (fleet_asm_*): chunks in, merged lists and reasons out, without NATS */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dns/dnsmsg.h"
#include "base/names.h"
#include "nats/fleet.h"
#include "nats/merge.h"
#include "tables/hotlist.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOW 1700000000.0

/* A list of n names "<prefix><i>.example." scored n-i, encoded into chunks of max_chunk bytes */
static struct hotlist_chunk *make_list(const char *node, double time, uint64_t gen, const char *prefix,
				       size_t n, size_t max_chunk, size_t *nchunks)
{
	struct hot_item *items = calloc(n ? n : 1, sizeof(*items));
	struct hotlist_chunk *chunks = NULL;
	char name[64];
	assert_non_null(items);
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s%zu.example.", prefix, i);
		int l = dnsmsg_name_from_text(name, items[i].qname, sizeof(items[i].qname));
		assert_true(l > 0);
		items[i].qname_len = (uint8_t)l;
		items[i].qtype = 1;
		items[i].score = (double)(n - i);
	}
	assert_int_equal(hotlist_encode(items, n, node, time, gen, max_chunk, &chunks, nchunks), 0);
	free(items);
	return chunks;
}

static void feed(struct fleet_asm *a, const struct hotlist_chunk *c)
{
	fleet_asm_feed(a, c->data, c->len, "test", NULL);
}

/* The merged score of name (type A), or -1 when it is not in the merge */
static double score_of(struct hotmerge *m, const char *name)
{
	static struct hot_item out[512];
	char text[DNS_MAX_NAME_TEXT];
	size_t n = hotmerge_top(m, out, 512);
	for (size_t i = 0; i < n; i++)
		if (dnsmsg_name_to_text(out[i].qname, out[i].qname_len, text, sizeof(text)) >= 0 &&
		    !strcmp(text, name))
			return out[i].score;
	return -1;
}

static const struct fleet_node_report *node_report(const struct fleet_report *r, const char *node)
{
	for (size_t i = 0; i < r->nodes; i++)
		if (!strcmp(r->node[i].node, node))
			return &r->node[i];
	fail_msg("node '%s' not in the report (%zu nodes)", node, r->nodes);
	return NULL;
}

static void test_complete_lists_merged(void **state)
{
	size_t na, nb;
	struct hotlist_chunk *a = make_list("a", NOW, 5, "n", 200, 1400, &na);
	struct hotlist_chunk *b = make_list("b", NOW, 7, "n", 3, 4096, &nb);
	struct fleet_asm *as = fleet_asm_create(0);
	struct hotmerge *m = hotmerge_create(100);
	struct fleet_report rep = {0};

	if (na < 2)
		fail_msg("node a's list should span several chunks, got %zu", na);
	/* any order: continuation chunks before the head, nodes interleaved, a duplicate */
	for (size_t i = na; i-- > 0;) {
		feed(as, &a[i]);
		if (i < nb)
			feed(as, &b[i]);
	}
	feed(as, &a[0]);
	fleet_asm_feed(as, "#recmesh-hot garbage", 20, "test", NULL); /* malformed: ignored */
	fleet_asm_finish(as, NOW, 60, 0, m, &rep);
	assert_int_equal(rep.nodes, 2);
	assert_int_equal(rep.used, 2);
	assert_string_equal(rep.node[0].node, "a"); /* sorted by name */
	assert_int_equal(rep.node[0].items, 200);
	assert_int_equal(rep.node[1].items, 3);
	assert_int_equal(hotmerge_count(m), 200);
	/* sums: a 200 + 199 + ... + 1 = 20100, b 3 + 2 + 1 = 6 */
	if (fabs(rep.node[0].sum - 20100) > 1e-6 || fabs(rep.node[1].sum - 6) > 1e-9)
		fail_msg("sums %g and %g, want 20100 and 6", rep.node[0].sum, rep.node[1].sum);
	/*
	 * each name weighs its share of its list in percent, at most 5: n0 is
	 * 100 * 200 / 20100 in a plus 100 * 3 / 6 = 50, capped to 5, in b;
	 * n199 only 100 * 1 / 20100 in a
	 */
	double want0 = 100.0 * 200 / 20100 + 5, want199 = 100.0 / 20100;
	if (fabs(score_of(m, "n0.example.") - want0) > 1e-9 ||
	    fabs(score_of(m, "n199.example.") - want199) > 1e-9)
		fail_msg("merged scores: n0 %g (want %g), n199 %g (want %g)", score_of(m, "n0.example."),
			 want0, score_of(m, "n199.example."), want199);
	fleet_report_free(&rep);
	hotmerge_destroy(m);
	fleet_asm_destroy(as);
	hotlist_chunks_free(a, na);
	hotlist_chunks_free(b, nb);
}

static void test_missing_chunk_incomplete(void **state)
{
	size_t na, nb;
	struct hotlist_chunk *a = make_list("a", NOW, 5, "n", 200, 1400, &na);
	struct hotlist_chunk *b = make_list("b", NOW, 5, "m", 2, 4096, &nb);
	struct fleet_asm *as = fleet_asm_create(0);
	struct hotmerge *m = hotmerge_create(100);
	struct fleet_report rep = {0};
	char want[160];

	assert_true(na >= 2);
	for (size_t i = 0; i + 1 < na; i++) /* the last chunk never comes */
		feed(as, &a[i]);
	feed(as, &b[0]);
	fleet_asm_finish(as, NOW, 60, 0, m, &rep);
	assert_int_equal(rep.nodes, 2);
	assert_int_equal(rep.used, 1);
	const struct fleet_node_report *r = node_report(&rep, "a");
	assert_false(r->used);
	snprintf(want, sizeof(want), "incomplete: %zu of %zu chunks", na - 1, na);
	assert_string_equal(r->why, want);
	assert_true(node_report(&rep, "b")->used);
	/* only b's names */
	assert_int_equal(hotmerge_count(m), 2);
	assert_true(score_of(m, "n0.example.") < 0);
	fleet_report_free(&rep);
	hotmerge_destroy(m);
	fleet_asm_destroy(as);
	hotlist_chunks_free(a, na);
	hotlist_chunks_free(b, nb);
}

/* Feeds gen 1 (names "old") and gen 2 (names "new") of node a in the given order */
static void check_generations(int newer_first)
{
	size_t n1, n2;
	struct hotlist_chunk *g1 = make_list("a", NOW - 30, 1, "old", 200, 1400, &n1);
	struct hotlist_chunk *g2 = make_list("a", NOW, 2, "new", 4, 4096, &n2);
	struct fleet_asm *as = fleet_asm_create(0);
	struct hotmerge *m = hotmerge_create(100);
	struct fleet_report rep = {0};

	assert_true(n1 >= 2);
	if (newer_first)
		feed(as, &g2[0]);
	feed(as, &g1[0]); /* half of gen 1 ... */
	if (!newer_first)
		feed(as, &g2[0]);
	for (size_t i = 1; i < n1; i++) /* ... and the rest after gen 2 was seen */
		feed(as, &g1[i]);
	fleet_asm_finish(as, NOW, 60, 0, m, &rep);
	assert_int_equal(rep.nodes, 1);
	if (rep.used != 1 || rep.node[0].items != 4)
		fail_msg("newer_first=%d: used %zu, items %zu (want 1 and 4: gen 2 only), why '%s'",
			 newer_first, rep.used, rep.node[0].items, rep.node[0].why);
	assert_int_equal(hotmerge_count(m), 4);
	assert_true(score_of(m, "new0.example.") > 0);
	assert_true(score_of(m, "old0.example.") < 0);
	fleet_report_free(&rep);
	hotmerge_destroy(m);
	fleet_asm_destroy(as);
	hotlist_chunks_free(g1, n1);
	hotlist_chunks_free(g2, n2);
}

static void test_newer_generation_replaces(void **state)
{
	check_generations(0);
}

static void test_older_generation_ignored(void **state)
{
	check_generations(1);
}

static void test_chunk_counts_disagree(void **state)
{
	size_t n2, n3;
	/* the same node and generation, once in 2 chunks and once in more */
	struct hotlist_chunk *c2 = make_list("a", NOW, 9, "n", 200, 2000, &n2);
	struct hotlist_chunk *c3 = make_list("a", NOW, 9, "n", 200, 1400, &n3);
	struct fleet_asm *as = fleet_asm_create(0);
	struct hotmerge *m = hotmerge_create(100);
	struct fleet_report rep = {0};

	if (n2 == n3)
		fail_msg("the two encodings should differ in chunk count, both have %zu", n2);
	feed(as, &c2[0]);
	feed(as, &c3[1]);
	for (size_t i = 1; i < n2; i++)
		feed(as, &c2[i]);
	fleet_asm_finish(as, NOW, 60, 0, m, &rep);
	assert_int_equal(rep.nodes, 1);
	assert_int_equal(rep.used, 0);
	assert_string_equal(rep.node[0].why, "chunks disagree on the list's length");
	assert_int_equal(hotmerge_count(m), 0);
	fleet_report_free(&rep);
	hotmerge_destroy(m);
	fleet_asm_destroy(as);
	hotlist_chunks_free(c2, n2);
	hotlist_chunks_free(c3, n3);
}

static void test_stale_skipped(void **state)
{
	size_t n;
	struct hotlist_chunk *c = make_list("a", NOW - 100, 3, "n", 2, 4096, &n);
	struct fleet_asm *as = fleet_asm_create(0);
	struct hotmerge *m = hotmerge_create(100);
	struct fleet_report rep = {0};

	feed(as, &c[0]);
	fleet_asm_finish(as, NOW, 50, 0, m, &rep);
	assert_int_equal(rep.used, 0);
	assert_string_equal(rep.node[0].why, "stale: 100.0 s old, --max-age is 50 s");
	if (fabs(rep.node[0].age - 100) > 1e-6)
		fail_msg("age %g, want 100", rep.node[0].age);
	assert_int_equal(hotmerge_count(m), 0);
	fleet_report_free(&rep);
	hotmerge_destroy(m);

	/* max_age 0: no limit */
	m = hotmerge_create(100);
	feed(as, &c[0]);
	fleet_asm_finish(as, NOW, 0, 0, m, &rep);
	assert_int_equal(rep.used, 1);
	fleet_report_free(&rep);
	hotmerge_destroy(m);
	fleet_asm_destroy(as);
	hotlist_chunks_free(c, n);
}

static void test_decay_to_now(void **state)
{
	size_t n;
	/* scores 100 down to 1 (sum 5050), taken one half-life (600 s) before now */
	struct hotlist_chunk *c = make_list("a", NOW - 600, 3, "n", 100, 4096, &n);
	struct fleet_asm *as = fleet_asm_create(0);
	struct hotmerge *m = hotmerge_create(100);
	struct fleet_report rep = {0};
	double w0 = 100.0 * 100 / 5050, w1 = 100.0 * 99 / 5050;

	for (size_t i = 0; i < n; i++)
		feed(as, &c[i]);
	fleet_asm_finish(as, NOW, 0, 600, m, &rep);
	if (fabs(score_of(m, "n0.example.") - w0 / 2) > 1e-9 ||
	    fabs(score_of(m, "n1.example.") - w1 / 2) > 1e-9 || fabs(rep.node[0].sum - 2525) > 1e-6)
		fail_msg("decayed scores %g and %g, sum %g; want %g, %g and 2525",
			 score_of(m, "n0.example."), score_of(m, "n1.example."), rep.node[0].sum,
			 w0 / 2, w1 / 2);
	fleet_report_free(&rep);
	hotmerge_destroy(m);

	/* half_life 0: as written */
	m = hotmerge_create(100);
	for (size_t i = 0; i < n; i++)
		feed(as, &c[i]);
	fleet_asm_finish(as, NOW, 0, 0, m, &rep);
	if (fabs(score_of(m, "n0.example.") - w0) > 1e-9 || fabs(rep.node[0].sum - 5050) > 1e-6)
		fail_msg("undecayed score %g and sum %g, want %g and 5050", score_of(m, "n0.example."),
			 rep.node[0].sum, w0);
	fleet_report_free(&rep);
	hotmerge_destroy(m);
	fleet_asm_destroy(as);
	hotlist_chunks_free(c, n);
}

static void test_destroy_unfinished(void **state)
{
	size_t n;
	struct hotlist_chunk *c = make_list("a", NOW, 3, "n", 200, 1400, &n);
	struct fleet_asm *as = fleet_asm_create(0);
	feed(as, &c[0]);
	fleet_asm_destroy(as); /* frees what was collected (the sanitizer build checks) */
	fleet_asm_destroy(NULL);
	hotlist_chunks_free(c, n);
}

/* Runs one chunk of text (already with its header) through an assembler; the report of node */
static void one_chunk(const char *text, const char *key_node, double now,
		      struct fleet_report *rep, struct hotmerge *m)
{
	struct fleet_asm *as = fleet_asm_create(0);
	fleet_asm_feed(as, text, strlen(text), "prod.x", key_node);
	fleet_asm_finish(as, now, 0, 0, m, rep);
	fleet_asm_destroy(as);
}

/* A list under another node's key, even with the highest generation, is not read as that node's */
static void test_hostile_key_and_generation(void **state)
{
	size_t nr, nh;
	struct hotlist_chunk *real = make_list("p1", NOW, 5, "real", 3, 4096, &nr);
	struct hotlist_chunk *evil = make_list("p1", NOW, UINT64_MAX, "evil", 3, 4096, &nh);
	struct fleet_asm *as = fleet_asm_create(0);
	struct hotmerge *m = hotmerge_create(100);
	struct fleet_report rep = {0};

	assert_int_equal(fleet_asm_feed(as, evil[0].data, evil[0].len, "prod.x", "x"),
			 FLEET_FEED_IGNORED);
	assert_int_equal(fleet_asm_feed(as, real[0].data, real[0].len, "prod.p1", "p1"), FLEET_FEED_OK);
	fleet_asm_finish(as, NOW, 0, 0, m, &rep);
	assert_int_equal(rep.nodes, 1);
	assert_int_equal(rep.used, 1);
	assert_true(score_of(m, "real0.example.") > 0);
	assert_true(score_of(m, "evil0.example.") < 0);
	fleet_report_free(&rep);
	hotmerge_destroy(m);

	/* gen 2^64-1 under its own key: it is p1's own (newest) list, and only that */
	m = hotmerge_create(100);
	fleet_asm_feed(as, real[0].data, real[0].len, "prod.p1", "p1");
	fleet_asm_feed(as, evil[0].data, evil[0].len, "prod.p1", "p1");
	fleet_asm_finish(as, NOW, 0, 0, m, &rep);
	assert_int_equal(rep.used, 1);
	assert_int_equal(hotmerge_count(m), 3);
	fleet_report_free(&rep);
	hotmerge_destroy(m);
	fleet_asm_destroy(as);
	hotlist_chunks_free(real, nr);
	hotlist_chunks_free(evil, nh);
}

static void test_future_time(void **state)
{
	struct fleet_report rep = {0};
	struct hotmerge *m = hotmerge_create(100);
	char text[256];
	/* beyond the skew: refused, with a reason */
	snprintf(text, sizeof(text), "#recmesh-hot 1 node=f time=%.3f gen=1 chunk=0/1\n1 A a.\n",
		 NOW + FLEET_MAX_SKEW + 1);
	one_chunk(text, "f", NOW, &rep, m);
	assert_int_equal(rep.used, 0);
	if (!strstr(rep.node[0].why, "in the future"))
		fail_msg("a list %g s ahead: why '%s'", FLEET_MAX_SKEW + 1, rep.node[0].why);
	assert_int_equal(hotmerge_count(m), 0);
	fleet_report_free(&rep);
	/* within the skew: used */
	snprintf(text, sizeof(text), "#recmesh-hot 1 node=f time=%.3f gen=1 chunk=0/1\n1 A a.\n",
		 NOW + FLEET_MAX_SKEW - 1);
	one_chunk(text, "f", NOW, &rep, m);
	assert_int_equal(rep.used, 1);
	fleet_report_free(&rep);
	hotmerge_destroy(m);
}

/* Each attack on the items, as a one-chunk list: the node is skipped with the reason */
static void test_hostile_items(void **state)
{
	static const struct {
		const char *item, *why;
	} cases[] = {
		{"1 A a.\n2 A A.\n", "duplicate item on line 3"},
		{"0x1p3 A a.\n", "bad item on line 2"},
		{"1e16 A a.\n", "bad item on line 2"},
		{"1 TYPE-1 a.\n", "bad item on line 2"},
		{"1 TYPE+5 a.\n", "bad item on line 2"},
		{"1 TYPE0 a.\n", "bad item on line 2"},
	};
	char text[256];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fleet_report rep = {0};
		struct hotmerge *m = hotmerge_create(100);
		snprintf(text, sizeof(text), "#recmesh-hot 1 node=h time=%.3f gen=1 chunk=0/1\n%s", NOW,
			 cases[i].item);
		one_chunk(text, "h", NOW, &rep, m);
		if (rep.used != 0 || !strstr(rep.node[0].why, cases[i].why) || hotmerge_count(m) != 0)
			fail_msg("'%s': used %zu, why '%s' (want '%s'), %zu merged", cases[i].item,
				 rep.used, rep.node[0].why, cases[i].why, hotmerge_count(m));
		fleet_report_free(&rep);
		hotmerge_destroy(m);
	}
	/* gen=-1 never gets as far as a node */
	struct fleet_asm *as = fleet_asm_create(0);
	const char *neg = "#recmesh-hot 1 node=h time=1 gen=-1 chunk=0/1\n1 A a.\n";
	assert_int_equal(fleet_asm_feed(as, neg, strlen(neg), "prod.h", "h"), FLEET_FEED_IGNORED);
	fleet_asm_destroy(as);
}

/* Meta and obsolete types are left out of the list (and so never replayed); the rest is used */
static void test_meta_types_left_out(void **state)
{
	static const char *const meta[] = {"ANY", "AXFR", "IXFR", "OPT", "TSIG", "TKEY", "MAILA",
					   "MAILB", "NULL", "MD", "MF", "TYPE255", "TYPE41"};
	struct fleet_report rep = {0};
	struct hotmerge *m = hotmerge_create(100);
	char text[2048];
	size_t o = (size_t)snprintf(text, sizeof(text),
				    "#recmesh-hot 1 node=t time=%.3f gen=1 chunk=0/1\n", NOW);
	for (size_t i = 0; i < sizeof(meta) / sizeof(meta[0]); i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "100 %s m%zu.example.\n", meta[i], i);
	snprintf(text + o, sizeof(text) - o, "1 A a.example.\n");
	one_chunk(text, "t", NOW, &rep, m);
	assert_int_equal(rep.used, 1);
	assert_int_equal(rep.node[0].items, 1);
	assert_int_equal(hotmerge_count(m), 1);
	assert_true(score_of(m, "a.example.") > 0);
	fleet_report_free(&rep);
	hotmerge_destroy(m);
}

/* The text of a one-chunk list of node whose names "<prefix><i>.example." all score the maximum */
static size_t max_list(char *text, size_t size, const char *node, const char *prefix, int names)
{
	size_t o = (size_t)snprintf(text, size, "#recmesh-hot 1 node=%s time=%.3f gen=1 chunk=0/1\n",
				    node, NOW);
	for (int i = 0; i < names; i++)
		o += (size_t)snprintf(text + o, size - o, "1000000000000000 A %s%d.example.\n", prefix, i);
	assert_true(o < size);
	return o;
}

/*
 * Lists with the highest accepted scores buy no rank (doc/nats.md,
 * "Ranking"): beside three honest lists of the same 20 names (scores 20
 * down to 1, sum 210), a list of 100 made-up names at 10^15 weighs 1 per
 * name and comes after every name the honest lists share; a list of one
 * name at 10^15 weighs FLEET_MAX_SHARE (5), as much as a name that
 * takes 5 % of one honest node's traffic, and no more.
 */
static void test_ranking_against_max_scores(void **state)
{
	size_t n1, n2, n3;
	struct hotlist_chunk *l1 = make_list("a", NOW, 1, "n", 20, 4096, &n1);
	struct hotlist_chunk *l2 = make_list("b", NOW, 1, "n", 20, 4096, &n2);
	struct hotlist_chunk *l3 = make_list("c", NOW, 1, "n", 20, 4096, &n3);
	char *evil = malloc(64 * 1024), one[256];
	size_t le = max_list(evil, 64 * 1024, "evil", "evil", 100);
	size_t lo = max_list(one, sizeof(one), "one", "one", 1);
	struct fleet_asm *as = fleet_asm_create(0);
	struct hotmerge *m = hotmerge_create(40);
	struct fleet_report rep = {0};
	struct hot_item out[40];
	char name[DNS_MAX_NAME_TEXT];

	fleet_asm_feed(as, evil, le, "prod.evil", "evil");
	fleet_asm_feed(as, one, lo, "prod.one", "one");
	feed(as, &l1[0]);
	feed(as, &l2[0]);
	feed(as, &l3[0]);
	fleet_asm_finish(as, NOW, 0, 0, m, &rep);
	assert_int_equal(rep.used, 5);
	size_t n = hotmerge_top(m, out, 40), first_evil = 0, evils = 0, one_rank = 0;
	for (size_t i = 0; i < n; i++) {
		dnsmsg_name_to_text(out[i].qname, out[i].qname_len, name, sizeof(name));
		if (!strncmp(name, "evil", 4)) {
			evils++;
			if (!first_evil)
				first_evil = i + 1;
			if (fabs(out[i].score - 1.0) > 1e-9)
				fail_msg("%s weighs %g, want 1 (100 %% over 100 names)", name, out[i].score);
		}
		if (!strcmp(name, "one0.example.")) {
			one_rank = i + 1;
			if (fabs(out[i].score - FLEET_MAX_SHARE) > 1e-9)
				fail_msg("one0 weighs %g, want %g", out[i].score, FLEET_MAX_SHARE);
		}
	}
	dnsmsg_name_to_text(out[0].qname, out[0].qname_len, name, sizeof(name));
	/* n0 takes 100 * 20 / 210 > 5 % of each honest list: 3 * 5 */
	assert_string_equal(name, "n0.example.");
	assert_true(fabs(out[0].score - 15) < 1e-9);
	/* 20 shared names and one0 before any made-up name; the fair share still holds (ceil(40 / 5)) */
	if (first_evil != 22 || evils != 8)
		fail_msg("first made-up name at rank %zu, %zu of them in the top %zu (want 22 and 8)",
			 first_evil, evils, n);
	/* n16 weighs 3 * 100 * 4 / 210 = 5.71, n17 3 * 100 * 3 / 210 = 4.29: one0 between them */
	if (one_rank != 18)
		fail_msg("one0 at rank %zu, want 18", one_rank);
	fleet_report_free(&rep);
	hotmerge_destroy(m);
	fleet_asm_destroy(as);
	free(evil);
	hotlist_chunks_free(l1, n1);
	hotlist_chunks_free(l2, n2);
	hotlist_chunks_free(l3, n3);
}

/*
 * A list whose scores add up to almost nothing (one at 1e-320, the rest 0)
 * still weighs at most 100: the seed name FLEET_MAX_SHARE, the zeros 0.
 * Dividing 100 by such a sum first made it infinite, and 0 * inf NaN, which
 * the cap turned into FLEET_MAX_SHARE for every name.
 */
static void test_tiny_sum(void **state)
{
	char text[4096];
	size_t o = (size_t)snprintf(text, sizeof(text),
				    "#recmesh-hot 1 node=tiny time=%.3f gen=1 chunk=0/1\n1e-320 A seed.example.\n", NOW);
	for (int i = 0; i < 50; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "0 A z%d.example.\n", i);
	struct fleet_asm *as = fleet_asm_create(0);
	struct hotmerge *m = hotmerge_create(100);
	struct fleet_report rep = {0};
	struct hot_item out[100];
	double total = 0;

	assert_int_equal(fleet_asm_feed(as, text, o, "prod.tiny", "tiny"), FLEET_FEED_OK);
	fleet_asm_finish(as, NOW, 0, 0, m, &rep);
	assert_int_equal(rep.used, 1);
	size_t n = hotmerge_top(m, out, 100);
	for (size_t i = 0; i < n; i++) {
		if (!(out[i].score >= 0 && out[i].score <= FLEET_MAX_SHARE))
			fail_msg("item %zu weighs %g", i, out[i].score);
		total += out[i].score;
	}
	if (fabs(score_of(m, "seed.example.") - FLEET_MAX_SHARE) > 1e-9 || fabs(total - FLEET_MAX_SHARE) > 1e-9)
		fail_msg("seed weighs %g, the list %g in all; want %g and %g", score_of(m, "seed.example."),
			 total, FLEET_MAX_SHARE, FLEET_MAX_SHARE);
	fleet_report_free(&rep);
	hotmerge_destroy(m);
	fleet_asm_destroy(as);
}

/* The assembler keeps at most its byte budget of chunk text; a node given up says why */
static void test_budget_and_fail(void **state)
{
	size_t n;
	struct hotlist_chunk *c = make_list("big", NOW, 1, "n", 200, 1400, &n);
	/* room for the first chunk and the list's chunk slots, not for the second chunk */
	size_t budget = c[0].len + n * FLEET_CHUNK_SLOT + 10;
	struct fleet_asm *as = fleet_asm_create(budget);
	struct hotmerge *m = hotmerge_create(100);
	struct fleet_report rep = {0};
	char want[96];

	assert_true(n >= 2);
	assert_int_equal(fleet_asm_feed(as, c[0].data, c[0].len, "r", NULL), FLEET_FEED_OK);
	assert_int_equal(fleet_asm_feed(as, c[1].data, c[1].len, "r", NULL), FLEET_FEED_FULL);
	fleet_asm_fail(as, "gone", "cannot read key 'prod.gone': Timeout (3 tries)");
	fleet_asm_finish(as, NOW, 0, 0, m, &rep);
	assert_int_equal(rep.nodes, 2);
	assert_int_equal(rep.used, 0);
	snprintf(want, sizeof(want), "over the byte budget of %zu bytes", budget);
	assert_string_equal(node_report(&rep, "big")->why, want);
	assert_string_equal(node_report(&rep, "gone")->why,
			    "cannot read key 'prod.gone': Timeout (3 tries)");
	fleet_report_free(&rep);
	hotmerge_destroy(m);
	fleet_asm_destroy(as);
	hotlist_chunks_free(c, n);
}

/* Fifty lists of 2000 names each, folded one at a time: the candidates held stay bounded */
static void test_bounded_candidates(void **state)
{
	struct hotmerge *m = hotmerge_create(100); /* cap max(2 * 100, 1000) = 1000 */
	struct hot_item it, out[100];
	char name[64], text[DNS_MAX_NAME_TEXT];
	for (int l = 0; l < 50; l++) {
		hotmerge_begin_list(m);
		for (int i = 0; i < 2000; i++) {
			/* the first 50 names are everybody's; the rest each list's own */
			if (i < 50)
				snprintf(name, sizeof(name), "shared%d.example.", i);
			else
				snprintf(name, sizeof(name), "own%d-%d.example.", l, i);
			int k = dnsmsg_name_from_text(name, it.qname, sizeof(it.qname));
			assert_true(k > 0);
			it.qname_len = (uint8_t)k;
			it.qtype = 1;
			it.score = 3000 - i;
			hotmerge_add(m, &it);
		}
	}
	size_t bound = 1000 + 1000 / 2;
	if (hotmerge_peak(m) > bound || hotmerge_count(m) > bound)
		fail_msg("candidates: peak %zu, now %zu, bound %zu", hotmerge_peak(m), hotmerge_count(m),
			 bound);
	size_t n = hotmerge_top(m, out, 100), shared = 0;
	for (size_t i = 0; i < n; i++) {
		dnsmsg_name_to_text(out[i].qname, out[i].qname_len, text, sizeof(text));
		shared += !strncmp(text, "shared", 6);
	}
	/* the 50 shared names first, then at most ceil(100 / 50) = 2 of each list's own */
	if (n != 100 || shared != 50)
		fail_msg("top 100: %zu names, %zu shared (want 100 and 50)", n, shared);
	dnsmsg_name_to_text(out[0].qname, out[0].qname_len, text, sizeof(text));
	assert_string_equal(text, "shared0.example.");
	assert_true(fabs(out[0].score - 50 * 3000.0) < 1e-6);
	hotmerge_destroy(m);
}

/*
 * Every node announcing 4096 chunks in a one-line reply: the chunk slots
 * count against the byte budget, so the assembler says full long before
 * FLEET_MAX_NODES such nodes (each would hold 4096 slots)
 */
static void test_chunk_slots_charged(void **state)
{
	struct fleet_asm *as = fleet_asm_create(0);
	char text[160];
	int i, full = -1;
	size_t per = 4096 * FLEET_CHUNK_SLOT, most = FLEET_BYTE_BUDGET / per;
	for (i = 0; i < FLEET_MAX_NODES && full < 0; i++) {
		int l = snprintf(text, sizeof(text),
				 "#recmesh-hot 1 node=n%d time=%.3f gen=1 chunk=0/4096\n1 A a%d.\n", i,
				 NOW, i);
		enum fleet_feed f = fleet_asm_feed(as, text, (size_t)l, "r", NULL);
		if (f == FLEET_FEED_FULL)
			full = i;
		else if (f != FLEET_FEED_OK)
			fail_msg("node %d: feed gave %d", i, f);
	}
	if (full < 0 || (size_t)full > most)
		fail_msg("budget %u bytes, %zu bytes of slots a node: full at node %d (want at most %zu)",
			 FLEET_BYTE_BUDGET, per, full, most);
	fleet_asm_destroy(as);
}

/*
 * 1000 malformed replies make a bounded number of notes for the caller to
 * log (the library logs nothing): the first few and a total
 */
static void test_bad_chunks_log_bounded(void **state)
{
	struct fleet_asm *as = fleet_asm_create(0);
	struct hotmerge *m = hotmerge_create(10);
	static struct fleet_report rep;
	char line[NOTES_LINE_MAX];
	size_t lines = 0, total = 0, first = 0;
	int level;
	(void)state;
	memset(&rep, 0, sizeof(rep));
	for (int i = 0; i < 1000; i++)
		assert_int_equal(fleet_asm_feed(as, "garbage\n", 8, "r", NULL), FLEET_FEED_IGNORED);
	fleet_asm_finish(as, NOW, 0, 0, m, &rep);
	while (notes_next(&rep.notes, &level, line, sizeof(line))) {
		lines++;
		assert_int_equal(level, LOG_LVL_WARN);
		total += strstr(line, "1000 malformed or mismatched chunk(s) ignored in all") != NULL;
		first += strstr(line, "ignoring malformed hot list chunk from 'r'") != NULL;
	}
	if (lines > 11 || total != 1 || first != 10)
		fail_msg("1000 malformed chunks made %zu notes, %zu with the total, %zu one by one "
			 "(want at most 11, 1, 10)",
			 lines, total, first);
	fleet_report_free(&rep);
	hotmerge_destroy(m);
	fleet_asm_destroy(as);
}

/* At most FLEET_MAX_NODES nodes per run; folding one node at a time keeps each verdict */
static void test_node_limit_and_fold(void **state)
{
	struct fleet_asm *as = fleet_asm_create(0);
	struct hotmerge *m = hotmerge_create(100);
	struct fleet_report rep = {0};
	char text[160];
	for (int i = 0; i <= FLEET_MAX_NODES; i++) {
		int l = snprintf(text, sizeof(text),
				 "#recmesh-hot 1 node=n%d time=%.3f gen=1 chunk=0/1\n1 A a%d.\n", i, NOW, i);
		enum fleet_feed f = fleet_asm_feed(as, text, (size_t)l, "r", NULL);
		if (f != (i < FLEET_MAX_NODES ? FLEET_FEED_OK : FLEET_FEED_FULL))
			fail_msg("node %d of at most %d: feed gave %d", i, FLEET_MAX_NODES, f);
		if (i == 0) { /* folded at once: used, and later copies of it are ignored */
			fleet_asm_fold(as, NOW, 0, 0, m);
			assert_int_equal(hotmerge_lists(m), 1);
			assert_int_equal(fleet_asm_feed(as, text, (size_t)l, "r", NULL), FLEET_FEED_IGNORED);
		}
	}
	fleet_asm_finish(as, NOW, 0, 0, m, &rep);
	assert_int_equal(rep.nodes, FLEET_MAX_NODES);
	assert_int_equal(rep.used, FLEET_MAX_NODES);
	assert_int_equal(hotmerge_lists(m), FLEET_MAX_NODES);
	fleet_report_free(&rep);
	hotmerge_destroy(m);
	fleet_asm_destroy(as);
}

/* The merge lease's text (doc/nats.md, "The merged list"): what is written reads back; anything else is not a lease */
static void test_lease_text(void **state)
{
	(void)state;
	char buf[160], node[64];
	double until = -1;
	int l = merge_lease_format(buf, sizeof(buf), "m1", 1700000600.25);
	assert_true(l > 0);
	assert_string_equal(buf, "#recmesh-lease 1 node=m1 until=1700000600.250\n");
	assert_int_equal(merge_lease_parse(buf, (size_t)l, node, &until), 0);
	assert_string_equal(node, "m1");
	assert_true(fabs(until - 1700000600.25) < 1e-6);
	/* without the line feed too */
	assert_int_equal(merge_lease_parse("#recmesh-lease 1 node=a_b-9 until=5", 35, node, &until), 0);
	assert_string_equal(node, "a_b-9");
	static const char *bad[] = {
		"",
		"#recmesh-lease 2 node=m1 until=5\n",   /* another version */
		"#recmesh-hot 1 node=m1 until=5\n",     /* another magic */
		"#recmesh-lease 1 node=m1\n",           /* no time */
		"#recmesh-lease 1 node= until=5\n",     /* no node */
		"#recmesh-lease 1 node=m.1 until=5\n",  /* a dot */
		"#recmesh-lease 1 node=m1 until=5 x\n", /* more after it */
		"#recmesh-lease 1 node=m1 until=5\n\n",
		"#recmesh-lease 1 node=m1 until=inf\n",
		"#recmesh-lease 1 node=m1 until=nan\n",
		"#recmesh-lease 1 node=m1 until=-5\n",
		"#recmesh-lease 1 node=m1 until=1e999\n",
		"#recmesh-lease 1 node=m1 until=\n",
		"#recmesh-lease 1 node=m1 until=5x\n",
		"#recmesh-lease 1 node=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa until=5\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (merge_lease_parse(bad[i], strlen(bad[i]), node, &until) == 0)
			fail_msg("taken as a lease: '%s'", bad[i]);
	}
	/* a NUL byte inside, and more than a lease can be */
	assert_int_equal(merge_lease_parse("#recmesh-lease 1 node=m1\0until=5\n", 33, node, &until), -1);
	char big[400];
	memset(big, 'a', sizeof(big));
	assert_int_equal(merge_lease_parse(big, sizeof(big), node, &until), -1);
	assert_int_equal(merge_lease_parse(NULL, 10, node, &until), -1);
}

/* The merged list's keys are no node's: a reader never takes them for a node list's head */
static void test_merge_keys(void **state)
{
	(void)state;
	char key[NAMES_KEY_MAX];
	assert_int_equal(fleet_merge_key(key, sizeof(key), "prod", 0), 0);
	assert_string_equal(key, "prod.=merge");
	assert_int_equal(names_key_node(key, "prod", NULL), 0);
	assert_int_equal(fleet_merge_key(key, sizeof(key), "prod", 3), 0);
	assert_string_equal(key, "prod.=merge.3");
	assert_int_equal(names_key_node(key, "prod", NULL), 0);
	assert_int_equal(names_key_node("prod." FLEET_LEASE_NAME, "prod", NULL), 0);
	assert_int_equal(fleet_merge_key(key, 8, "prod", 0), -1); /* does not fit */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_complete_lists_merged),
		cmocka_unit_test(test_missing_chunk_incomplete),
		cmocka_unit_test(test_newer_generation_replaces),
		cmocka_unit_test(test_older_generation_ignored),
		cmocka_unit_test(test_chunk_counts_disagree),
		cmocka_unit_test(test_stale_skipped),
		cmocka_unit_test(test_decay_to_now),
		cmocka_unit_test(test_destroy_unfinished),
		cmocka_unit_test(test_hostile_key_and_generation),
		cmocka_unit_test(test_future_time),
		cmocka_unit_test(test_hostile_items),
		cmocka_unit_test(test_meta_types_left_out),
		cmocka_unit_test(test_ranking_against_max_scores),
		cmocka_unit_test(test_tiny_sum),
		cmocka_unit_test(test_budget_and_fail),
		cmocka_unit_test(test_chunk_slots_charged),
		cmocka_unit_test(test_bad_chunks_log_bounded),
		cmocka_unit_test(test_bounded_candidates),
		cmocka_unit_test(test_node_limit_and_fold),
		cmocka_unit_test(test_lease_text),
		cmocka_unit_test(test_merge_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
