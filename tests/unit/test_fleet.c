/* test_fleet.c: the hot-list assembler (fleet_asm_*): chunks in, merged lists and reasons out, without NATS */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dnsmsg.h"
#include "fleet.h"
#include "hotlist.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	/* n0 is 200 in a and 3 in b; n199 only in a */
	if (fabs(score_of(m, "n0.example.") - 203) > 1e-9 || fabs(score_of(m, "n199.example.") - 1) > 1e-9)
		fail_msg("merged scores: n0 %g (want 203), n199 %g (want 1)", score_of(m, "n0.example."),
			 score_of(m, "n199.example."));
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
	/* scores 2 and 1, taken one half-life (600 s) before now */
	struct hotlist_chunk *c = make_list("a", NOW - 600, 3, "n", 2, 4096, &n);
	struct fleet_asm *as = fleet_asm_create(0);
	struct hotmerge *m = hotmerge_create(100);
	struct fleet_report rep = {0};

	feed(as, &c[0]);
	fleet_asm_finish(as, NOW, 0, 600, m, &rep);
	if (fabs(score_of(m, "n0.example.") - 1.0) > 1e-9 || fabs(score_of(m, "n1.example.") - 0.5) > 1e-9)
		fail_msg("decayed scores %g and %g, want 1 and 0.5", score_of(m, "n0.example."),
			 score_of(m, "n1.example."));
	fleet_report_free(&rep);
	hotmerge_destroy(m);

	/* half_life 0: as written */
	m = hotmerge_create(100);
	feed(as, &c[0]);
	fleet_asm_finish(as, NOW, 0, 0, m, &rep);
	if (fabs(score_of(m, "n0.example.") - 2.0) > 1e-9)
		fail_msg("undecayed score %g, want 2", score_of(m, "n0.example."));
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
