/* test_hot.c: the decaying hot-name table */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dns/event.h"
#include "tables/hot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add(struct hot_table *t, const char *name, uint16_t qtype, double now, int times)
{
	uint8_t w[DNS_MAX_NAME];
	int l = dnsmsg_name_from_text(name, w, sizeof(w));
	assert_true(l > 0);
	for (int i = 0; i < times; i++)
		hot_add(t, w, (size_t)l, qtype, now);
}

static void item_name(const struct hot_item *it, char *out, size_t size)
{
	assert_true(dnsmsg_name_to_text(it->qname, it->qname_len, out, size) > 0);
}

static void test_ranking(void **state)
{
	struct hot_table *t = hot_create(100, 600);
	struct hot_item items[10];
	char name[DNS_MAX_NAME_TEXT];
	add(t, "b.example.", 1, 1000, 5);
	add(t, "a.example.", 1, 1000, 9);
	add(t, "a.example.", 28, 1000, 2);
	add(t, "c.example.", 1, 1000, 1);
	assert_int_equal(hot_count(t), 4);
	size_t n = hot_top(t, 1000, items, 10);
	assert_int_equal(n, 4);
	item_name(&items[0], name, sizeof(name));
	assert_string_equal(name, "a.example.");
	assert_int_equal(items[0].qtype, 1);
	assert_true(fabs(items[0].score - 9) < 1e-9);
	item_name(&items[1], name, sizeof(name));
	assert_string_equal(name, "b.example.");
	assert_int_equal(items[2].qtype, 28);
	assert_true(fabs(items[3].score - 1) < 1e-9);
	/* fewer than asked */
	assert_int_equal(hot_top(t, 1000, items, 2), 2);
	hot_destroy(t);
}

static void test_decay(void **state)
{
	/* half-life 10 s: 10 hits at t=0 are worth 5 at t=10, less than 6 fresh ones */
	struct hot_table *t = hot_create(100, 10);
	struct hot_item items[2];
	char name[DNS_MAX_NAME_TEXT];
	add(t, "old.example.", 1, 0, 10);
	add(t, "new.example.", 1, 10, 6);
	assert_int_equal(hot_top(t, 10, items, 2), 2);
	item_name(&items[0], name, sizeof(name));
	assert_string_equal(name, "new.example.");
	assert_true(fabs(items[0].score - 6) < 1e-9);
	assert_true(fabs(items[1].score - 5) < 1e-9);
	/* an hour later both have faded to almost nothing */
	hot_top(t, 3610, items, 2);
	assert_true(items[0].score < 1e-50);
	hot_destroy(t);
}

static void test_rebase(void **state)
{
	/* far more half-lives than a double's exponent allows without rebasing */
	struct hot_table *t = hot_create(100, 1);
	struct hot_item items[3];
	char name[DNS_MAX_NAME_TEXT];
	add(t, "gone.example.", 1, 0, 3);
	for (int k = 1; k <= 20; k++)
		add(t, "steady.example.", 1, k * 100.0, 1);
	add(t, "steady.example.", 1, 2000, 1);
	size_t n = hot_top(t, 2000, items, 3);
	/* the long-cold entry was forgotten on a rebase */
	assert_int_equal(n, 1);
	item_name(&items[0], name, sizeof(name));
	assert_string_equal(name, "steady.example.");
	assert_true(isfinite(items[0].score));
	assert_true(fabs(items[0].score - 2) < 1e-9);
	hot_destroy(t);
}

static void test_capacity(void **state)
{
	struct hot_table *t = hot_create(100, 600);
	struct hot_item *items = calloc(200, sizeof(*items));
	char name[64];
	/* ten hot names, then a thousand names seen once */
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "hot%d.example.", i);
		add(t, name, 1, 0, 50);
	}
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "cold%d.example.", i);
		add(t, name, 1, 1, 1);
		assert_true(hot_count(t) <= 100);
	}
	assert_true(hot_evictions(t) >= 900);
	size_t n = hot_top(t, 1, items, 200);
	assert_true(n <= 100);
	for (int i = 0; i < 10; i++) {
		char got[DNS_MAX_NAME_TEXT];
		item_name(&items[i], got, sizeof(got));
		assert_int_equal(strncmp(got, "hot", 3), 0);
	}
	free(items);
	hot_destroy(t);
}

static void test_eligible(void **state)
{
	struct rm_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.qtype = 1;
	ev.qclass = 1;
	ev.flags = EV_RD;
	assert_true(hot_eligible(&ev));
	ev.rcode = DNS_RCODE_NXDOMAIN;
	assert_true(hot_eligible(&ev));
	ev.rcode = DNS_RCODE_SERVFAIL;
	assert_true(hot_eligible(&ev));
	ev.rcode = DNS_RCODE_REFUSED;
	assert_false(hot_eligible(&ev));
	ev.rcode = DNS_RCODE_FORMERR;
	assert_false(hot_eligible(&ev));
	ev.rcode = DNS_RCODE_NOTIMP;
	assert_false(hot_eligible(&ev));
	ev.rcode = 0;
	ev.flags = EV_CD;
	assert_false(hot_eligible(&ev));
	ev.flags = EV_WARM;
	assert_false(hot_eligible(&ev));
	ev.flags = 0;
	ev.qclass = 3; /* CHAOS */
	assert_false(hot_eligible(&ev));
	ev.qclass = 1;
	ev.qtype = DNS_TYPE_ANY;
	assert_false(hot_eligible(&ev));
	ev.qtype = DNS_TYPE_AXFR;
	assert_false(hot_eligible(&ev));
	ev.qtype = DNS_TYPE_IXFR;
	assert_false(hot_eligible(&ev));
}

static void test_bad_args(void **state)
{
	assert_null(hot_create(0, 10));
	assert_null(hot_create(10, 0));
	assert_null(hot_create(10, -1));
	hot_destroy(NULL);
}

/* Times from outside (a protobuf frame's timeSec) can never make a score inf or nan */
static void test_hostile_times(void **state)
{
	struct hot_item items[4];
	double now = 1.7e9;
	struct hot_table *t = hot_create(100, 1800);
	add(t, "good.example.", 1, now, 3);
	add(t, "nan.example.", 1, NAN, 1);
	add(t, "inf.example.", 1, INFINITY, 1);
	add(t, "neg.example.", 1, -5, 1);
	add(t, "future.example.", 1, 4294967295.0, 1); /* timeSec 0xFFFFFFFF */
	assert_int_equal(hot_count(t), 1);
	size_t n = hot_top(t, now, items, 4);
	assert_int_equal(n, 1);
	assert_true(isfinite(items[0].score));
	assert_true(fabs(items[0].score - 3) < 1e-9);
	/* a reader whose clock is far behind the reference still gets finite scores */
	n = hot_top(t, now - 365 * 86400.0, items, 4);
	assert_int_equal(n, 1);
	assert_true(isfinite(items[0].score));
	hot_destroy(t);

	/* an absurd first time becomes the reference: readers still see finite scores */
	t = hot_create(100, 1800);
	add(t, "future.example.", 1, 4.0e9, 1);
	add(t, "good.example.", 1, now, 2);
	n = hot_top(t, now, items, 4);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++)
		assert_true(isfinite(items[i].score));
	hot_destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ranking),  cmocka_unit_test(test_decay),
		cmocka_unit_test(test_rebase),   cmocka_unit_test(test_capacity),
		cmocka_unit_test(test_eligible), cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_hostile_times),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
