/* test_hotlist.c: the hot list's KV format and the fleet merge */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/names.h"
#include "tables/hotlist.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void make_item(struct hot_item *it, const char *name, uint16_t qtype, double score)
{
	int l = dnsmsg_name_from_text(name, it->qname, sizeof(it->qname));
	assert_true(l > 0);
	it->qname_len = (uint8_t)l;
	it->qtype = qtype;
	it->score = score;
}

struct got {
	struct hot_item items[2000];
	int n;
};

static void collect(const struct hot_item *it, void *arg)
{
	struct got *g = arg;
	g->items[g->n++] = *it;
}

static void test_roundtrip(void **state)
{
	struct hot_item items[3];
	struct hotlist_chunk *chunks;
	size_t n;
	struct hotlist_header h;
	struct got *g = calloc(1, sizeof(*g));
	char err[160];
	make_item(&items[0], "www.z1.com.", 1, 1234.5);
	make_item(&items[1], "odd\\032name.z2.net.", 16, 7);
	make_item(&items[2], ".", 2, 0.25);
	assert_int_equal(hotlist_encode(items, 3, "node-1", 1700000000.5, 42, 64 * 1024, &chunks, &n), 0);
	assert_int_equal(n, 1);
	assert_non_null(strstr(chunks[0].data, "#recmesh-hot 1 node=node-1 time=1700000000.500 gen=42 chunk=0/1\n"));
	assert_non_null(strstr(chunks[0].data, "\n1234.500 A www.z1.com.\n"));
	assert_int_equal(hotlist_parse(chunks[0].data, chunks[0].len, &h, collect, g, err, sizeof(err)), 3);
	assert_string_equal(h.node, "node-1");
	assert_int_equal(h.gen, 42);
	assert_int_equal(h.chunks, 1);
	assert_true(fabs(h.time - 1700000000.5) < 1e-6);
	assert_int_equal(g->n, 3);
	assert_int_equal(g->items[1].qtype, 16);
	assert_int_equal(g->items[1].qname_len, items[1].qname_len);
	assert_memory_equal(g->items[1].qname, items[1].qname, items[1].qname_len);
	assert_true(fabs(g->items[2].score - 0.25) < 1e-9);
	hotlist_chunks_free(chunks, n);

	/* an empty list still makes one chunk */
	assert_int_equal(hotlist_encode(items, 0, "n", 1, 1, 4096, &chunks, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(hotlist_parse(chunks[0].data, chunks[0].len, &h, NULL, NULL, err, sizeof(err)), 0);
	hotlist_chunks_free(chunks, n);
	/* a bad node name is refused */
	assert_int_equal(hotlist_encode(items, 1, "a.b", 1, 1, 4096, &chunks, &n), -1);
	free(g);
}

static void test_chunks(void **state)
{
	struct hot_item *items = calloc(1000, sizeof(*items));
	struct hotlist_chunk *chunks;
	size_t n;
	struct got *g = calloc(1, sizeof(*g));
	char name[64], err[160];
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "name%d.zone%d.example.", i, i % 7);
		make_item(&items[i], name, 1, 1000 - i);
	}
	assert_int_equal(hotlist_encode(items, 1000, "n1", 5, 9, 4096, &chunks, &n), 0);
	assert_true(n > 5);
	for (size_t c = 0; c < n; c++) {
		struct hotlist_header h;
		assert_true(chunks[c].len <= 4096);
		assert_true(hotlist_parse(chunks[c].data, chunks[c].len, &h, collect, g, err, sizeof(err)) > 0);
		assert_int_equal(h.chunk, c);
		assert_int_equal(h.chunks, n);
		assert_int_equal(h.gen, 9);
	}
	/* every item, in order */
	assert_int_equal(g->n, 1000);
	for (int i = 0; i < 1000; i++)
		assert_true(fabs(g->items[i].score - (1000 - i)) < 1e-9);
	hotlist_chunks_free(chunks, n);
	free(items);
	free(g);
}

/*
 * Found by tests/fuzz/fuzz_hotlist: a list read with a long time (any
 * finite time is valid) and written again had a header longer than the
 * room kept for it; items were dropped and the chunk was not terminated.
 */
static void test_long_time(void **state)
{
	struct hot_item *items = calloc(170, sizeof(*items));
	struct hotlist_chunk *chunks;
	size_t n, total = 0;
	struct got *g = calloc(1, sizeof(*g));
	char name[64], err[160];
	for (int i = 0; i < 170; i++) {
		snprintf(name, sizeof(name), "host%d.example.com.", i);
		make_item(&items[i], name, 1, i + 0.5);
	}
	assert_int_equal(hotlist_encode(items, 170, "n", 1e300, 1, 2000, &chunks, &n), 0);
	for (size_t c = 0; c < n; c++) {
		struct hotlist_header h;
		if (chunks[c].len > 2000 || strlen(chunks[c].data) != chunks[c].len)
			fail_msg("chunk %zu: %zu octets, strlen %zu, limit 2000", c, chunks[c].len,
				 strlen(chunks[c].data));
		int got = hotlist_parse(chunks[c].data, chunks[c].len, &h, collect, g, err, sizeof(err));
		if (got < 0)
			fail_msg("chunk %zu does not parse: %s", c, err);
		total += (size_t)got;
	}
	if (total != 170)
		fail_msg("%zu of 170 items came back", total);
	hotlist_chunks_free(chunks, n);
	/* 1400 octets: room for a short header and a line, not for this header and a line */
	assert_int_equal(hotlist_encode(items, 1, "n", 1e300, 1, 1400, &chunks, &n), -1);
	/* a time that is not finite is refused */
	assert_int_equal(hotlist_encode(items, 1, "n", INFINITY, 1, 4096, &chunks, &n), -1);
	free(items);
	free(g);
}

static void expect_bad(const char *text, const char *reason_part)
{
	struct hotlist_header h;
	char err[160] = "";
	assert_int_equal(hotlist_parse(text, strlen(text), &h, NULL, NULL, err, sizeof(err)), -1);
	if (!strstr(err, reason_part))
		fail_msg("'%s' rejected for '%s', expected '%s'", text, err, reason_part);
}

static void test_hostile(void **state)
{
	const char *hdr = "#recmesh-hot 1 node=n time=1 gen=1 chunk=0/1\n";
	char buf[4096];
	expect_bad("", "empty");
	expect_bad("hello\n", "header");
	expect_bad("#recmesh-hot 2 node=n time=1 gen=1 chunk=0/1\n", "version");
	expect_bad("#recmesh-hot 1 node=n time=1 gen=1 chunk=1/1\n", "header");
	expect_bad("#recmesh-hot 1 node=n time=1 gen=1 chunk=0/0\n", "header");
	expect_bad("#recmesh-hot 1 node=n time=nan gen=1 chunk=0/1\n", "header");
	expect_bad("#recmesh-hot 1 node=n.x time=1 gen=1 chunk=0/1\n", "header");
	expect_bad("#recmesh-hot 1 node=n time=1 gen=1 chunk=0/1 extra\n", "header");
	/* strict numbers and single spaces in the header */
	expect_bad("#recmesh-hot 1 node=n time=0x1p3 gen=1 chunk=0/1\n", "header");
	expect_bad("#recmesh-hot 1 node=n time=inf gen=1 chunk=0/1\n", "header");
	expect_bad("#recmesh-hot 1 node=n time=-1 gen=1 chunk=0/1\n", "header");
	expect_bad("#recmesh-hot 1 node=n time=1 gen=-1 chunk=0/1\n", "header");
	expect_bad("#recmesh-hot 1 node=n time=1 gen=18446744073709551616 chunk=0/1\n", "header");
	expect_bad("#recmesh-hot 1 node=n time=1 gen=1 chunk=-1/1\n", "header");
	expect_bad("#recmesh-hot 1 node=n time=1 gen=1 chunk=0/4097\n", "header");
	expect_bad("#recmesh-hot  1 node=n time=1 gen=1 chunk=0/1\n", "header");
	expect_bad("#recmesh-hot 1 node= time=1 gen=1 chunk=0/1\n", "header");
	const char *bad_items[] = {
		"x A www.z1.com.",     "nan A www.z1.com.", "-1 A www.z1.com.",
		"1e20 A www.z1.com.",  "1 NOTATYPE www.",   "1 A a..b.",
		"1 A www.z1.com. junk", "1 A",              "1 TYPE0 www.",
		"0x10 A www.z1.com.",  "+1 A www.z1.com.", "inf A www.z1.com.",
		"1  A www.z1.com.",    " 1 A www.z1.com.", "1 A www.z1.com. ",
	};
	for (size_t i = 0; i < sizeof(bad_items) / sizeof(bad_items[0]); i++) {
		snprintf(buf, sizeof(buf), "%s%s\n", hdr, bad_items[i]);
		expect_bad(buf, "bad item");
	}
	/* a label over 63 octets */
	char lab[70];
	memset(lab, 'q', 64);
	lab[64] = '\0';
	snprintf(buf, sizeof(buf), "%s1 A %s.\n", hdr, lab);
	expect_bad(buf, "bad item");
	/* a line too long */
	size_t o = (size_t)snprintf(buf, sizeof(buf), "%s1 A ", hdr);
	memset(buf + o, 'a', 2000);
	buf[o + 2000] = '\0';
	expect_bad(buf, "too long");
	/* a NUL inside */
	struct hotlist_header h;
	char err[160];
	char nul[] = "#recmesh-hot 1 node=n time=1 gen=1 chunk=0/1\n1 A a\0b.\n";
	assert_int_equal(hotlist_parse(nul, sizeof(nul) - 1, &h, NULL, NULL, err, sizeof(err)), -1);
	/* and a good one passes, without a final newline too */
	snprintf(buf, sizeof(buf), "%s1 A www.z1.com.", hdr);
	assert_int_equal(hotlist_parse(buf, strlen(buf), &h, NULL, NULL, err, sizeof(err)), 1);
}

static void test_merge(void **state)
{
	struct hotmerge *m = hotmerge_create(100);
	struct hot_item it, out[10];
	/* three lists; a name's scores from different lists are summed */
	hotmerge_begin_list(m);
	make_item(&it, "a.", 1, 3);
	hotmerge_add(m, &it);
	make_item(&it, "b.", 1, 4);
	hotmerge_add(m, &it);
	hotmerge_begin_list(m);
	make_item(&it, "a.", 1, 2);
	hotmerge_add(m, &it);
	hotmerge_begin_list(m);
	make_item(&it, "a.", 28, 1);
	hotmerge_add(m, &it);
	assert_int_equal(hotmerge_count(m), 3);
	assert_int_equal(hotmerge_top(m, out, 10), 3);
	assert_int_equal(out[0].qname_len, 3);
	assert_memory_equal(out[0].qname, "\1a\0", 3);
	assert_true(fabs(out[0].score - 5) < 1e-9);
	assert_true(fabs(out[1].score - 4) < 1e-9);
	assert_int_equal(out[2].qtype, 28);
	assert_int_equal(hotmerge_top(m, out, 1), 1);
	hotmerge_destroy(m);
}

/* The attacks on the text format, one by one, with their outcome */
static void test_attacks(void **state)
{
	const char *hdr = "#recmesh-hot 1 node=n time=1 gen=1 chunk=0/1\n";
	struct hotlist_header h;
	char buf[4096], err[160];
	/* hex floats, in scores and times */
	snprintf(buf, sizeof(buf), "%s0x1p40 A a.\n", hdr);
	expect_bad(buf, "bad item");
	expect_bad("#recmesh-hot 1 node=n time=0x1p40 gen=1 chunk=0/1\n", "header");
	/* gen=-1, and the largest generation is a number like any other */
	expect_bad("#recmesh-hot 1 node=n time=1 gen=-1 chunk=0/1\n", "header");
	const char *top = "#recmesh-hot 1 node=n time=1 gen=18446744073709551615 chunk=0/1\n";
	assert_int_equal(hotlist_parse(top, strlen(top), &h, NULL, NULL, err, sizeof(err)), 0);
	assert_true(h.gen == UINT64_MAX);
	/* TYPE-1 and TYPE+5 (the mnemonic lookup would read them as 65535 and 5) */
	snprintf(buf, sizeof(buf), "%s1 TYPE-1 a.\n", hdr);
	expect_bad(buf, "bad item");
	snprintf(buf, sizeof(buf), "%s1 TYPE+5 a.\n", hdr);
	expect_bad(buf, "bad item");
	snprintf(buf, sizeof(buf), "%s1 TYPE a.\n", hdr);
	expect_bad(buf, "bad item");
	snprintf(buf, sizeof(buf), "%s1 TYPE65535 a.\n", hdr);
	assert_int_equal(hotlist_parse(buf, strlen(buf), &h, NULL, NULL, err, sizeof(err)), 1);
	/* the score bound: 10^15 is the most */
	snprintf(buf, sizeof(buf), "%s1000000000000000 A a.\n", hdr);
	assert_int_equal(hotlist_parse(buf, strlen(buf), &h, NULL, NULL, err, sizeof(err)), 1);
	snprintf(buf, sizeof(buf), "%s1000000000000001 A a.\n", hdr);
	expect_bad(buf, "bad item");
	/* duplicates, also in another letter case, reject the chunk; another type is another item */
	snprintf(buf, sizeof(buf), "%s5 A www.z1.com.\n4 AAAA www.z1.com.\n3 A WWW.Z1.COM.\n", hdr);
	expect_bad(buf, "duplicate item on line 4");
	snprintf(buf, sizeof(buf), "%s5 A www.z1.com.\n4 AAAA www.z1.com.\n3 A www.z1.com\n", hdr);
	expect_bad(buf, "duplicate item on line 4");
	snprintf(buf, sizeof(buf), "%s5 A www.z1.com.\n4 AAAA www.z1.com.\n", hdr);
	assert_int_equal(hotlist_parse(buf, strlen(buf), &h, NULL, NULL, err, sizeof(err)), 2);
	/* meta and obsolete types: left out, counted */
	snprintf(buf, sizeof(buf),
		 "%s9 ANY a.\n8 AXFR a.\n7 IXFR a.\n6 OPT a.\n5 TSIG a.\n4 TKEY a.\n3 MAILA a.\n"
		 "2 MAILB a.\n1 NULL a.\n1 MD a.\n1 MF a.\n1 A a.\n",
		 hdr);
	assert_int_equal(hotlist_parse(buf, strlen(buf), &h, NULL, NULL, err, sizeof(err)), 1);
	assert_int_equal(h.refused, 11);
	/* a duplicate of a left-out type still rejects the chunk */
	snprintf(buf, sizeof(buf), "%s9 ANY a.\n8 ANY a.\n", hdr);
	expect_bad(buf, "duplicate");
	/* many items: the duplicate check grows its table and stays exact */
	size_t o = (size_t)snprintf(buf, sizeof(buf), "%s", hdr);
	for (int i = 0; i < 300; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "1 A %d.\n", i);
	assert_int_equal(hotlist_parse(buf, strlen(buf), &h, NULL, NULL, err, sizeof(err)), 300);
	snprintf(buf + o, sizeof(buf) - o, "1 A 17.\n");
	expect_bad(buf, "duplicate item on line 302");
	for (unsigned t = 0; t < 65536; t++) {
		int want = t == 0 || t == 3 || t == 4 || t == 10 || t == 41 || (t >= 249 && t <= 255);
		if (dnsmsg_type_is_meta((uint16_t)t) != want)
			fail_msg("type %u refused %d, want %d", t, dnsmsg_type_is_meta((uint16_t)t), want);
	}
}

/* A list naming an item twice counts it once; the fair share per list */
static void test_merge_fair(void **state)
{
	struct hotmerge *m = hotmerge_create(4);
	struct hot_item it, out[4];
	hotmerge_begin_list(m);
	make_item(&it, "x.", 1, 1e15);
	hotmerge_add(m, &it);
	hotmerge_add(m, &it);
	assert_int_equal(hotmerge_duplicates(m), 1);
	make_item(&it, "y.", 1, 1e15);
	hotmerge_add(m, &it);
	make_item(&it, "z.", 1, 1e15);
	hotmerge_add(m, &it);
	hotmerge_begin_list(m);
	make_item(&it, "a.", 1, 1);
	hotmerge_add(m, &it);
	make_item(&it, "b.", 1, 1);
	hotmerge_add(m, &it);
	make_item(&it, "c.", 1, 1);
	hotmerge_add(m, &it);
	assert_int_equal(hotmerge_lists(m), 2);
	/* ceil(4 / 2) = 2 own names each */
	assert_int_equal(hotmerge_top(m, out, 4), 4);
	assert_true(out[0].score == 1e15 && out[1].score == 1e15);
	assert_true(out[2].score == 1 && out[3].score == 1);
	hotmerge_destroy(m);
}

static void test_names(void **state)
{
	assert_true(names_valid("edge-01_a"));
	assert_false(names_valid(""));
	assert_false(names_valid("a.b"));
	assert_false(names_valid("a b"));
	assert_false(names_valid("a*"));
	assert_false(names_valid("a>"));
	char long_name[80];
	memset(long_name, 'x', 70);
	long_name[70] = '\0';
	assert_false(names_valid(long_name));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_chunks),
		cmocka_unit_test(test_hostile),   cmocka_unit_test(test_merge),
		cmocka_unit_test(test_names),     cmocka_unit_test(test_attacks),
		cmocka_unit_test(test_merge_fair),
		cmocka_unit_test(test_long_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
