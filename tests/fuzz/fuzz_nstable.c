/*
 * fuzz_nstable.c: libFuzzer harness for nstable_parse (src/nstable.c), the
 * reader of the authoritative-server tables every node stores in the KV
 * bucket recmesh_ns.
 *
 * Checked: a table (version 1 or 2) is refused with a reason or accepted
 * whole, the same with and without a callback; accepted items are within
 * the documented bounds, their NS names valid, at most NS_NAMES_MAX, none
 * twice; the items written again with nstable_encode (version 2) and
 * parsed again come back the same (times and RTTs to the 3 decimals the
 * text keeps, names unchanged); and the fleet merge takes them without
 * breaking its own rules, names included.
 */
#include "config.h"

#include "fuzz.h"

#include "base/names.h"
#include "tables/nstable.h"

#include <math.h>
#include <string.h>

struct items {
	struct nstable_item *v;
	size_t n, cap;
	char (*names)[NS_NAME_MAX + 1]; /* copies: the parser's are temporaries */
	size_t nn, ncap;
};

static void collect(const struct nstable_item *it, void *arg)
{
	struct items *s = arg;
	struct nstable_item copy = *it;
	for (uint8_t k = 0; k < it->nnames && k < NS_NAMES_MAX; k++) {
		char name[NS_NAME_MAX + 1];
		size_t len = strlen(it->names[k]);
		FUZZ_CHECK(len <= NS_NAME_MAX, "a name of %zu characters", len);
		memcpy(name, it->names[k], len + 1);
		fuzz_push(&s->names, &s->nn, &s->ncap, name, sizeof(name));
		copy.names[k] = NULL; /* linked below, once every item is in */
	}
	fuzz_push(&s->v, &s->n, &s->cap, &copy, sizeof(copy));
}

/* Points the collected items' names at their copies (the array has moved while it grew) */
static void link_names(struct items *s)
{
	size_t j = 0;
	for (size_t i = 0; i < s->n; i++)
		for (uint8_t k = 0; k < s->v[i].nnames; k++)
			s->v[i].names[k] = s->names[j++];
}

static int near(double a, double b)
{
	return fabs(a - b) <= 0.0005 + fabs(a) * 1e-15;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct items a = {0}, b = {0};
	char node[64], node2[64], err[160] = "";
	double t = 0, t2 = 0;
	const char *text = (const char *)data;

	int checked = nstable_parse(text, size, node, &t, NULL, NULL, err, sizeof(err));
	int n = nstable_parse(text, size, node, &t, collect, &a, err, sizeof(err));
	FUZZ_CHECK(n == checked, "two parses: %d and %d", checked, n);
	if (n < 0) {
		FUZZ_CHECK(err[0] != '\0', "refused without a reason");
		free(a.v);
		free(a.names);
		return 0;
	}
	link_names(&a);
	FUZZ_CHECK((size_t)n == a.n, "%d items, %zu delivered", n, a.n);
	FUZZ_CHECK(names_valid(node) && isfinite(t) && t >= 0, "header node '%s' time %g", node, t);
	for (size_t i = 0; i < a.n; i++) {
		const struct nstable_item *it = &a.v[i];
		FUZZ_CHECK((it->family == 4 || it->family == 6) && isfinite(it->srtt_ms) && it->srtt_ms >= 0 &&
				   it->streak <= it->timeouts && isfinite(it->last_answer) && isfinite(it->last_timeout) &&
				   isfinite(it->last_seen) && it->last_answer >= 0 && it->last_timeout >= 0 &&
				   it->last_seen >= 0,
			   "item %zu: family %u srtt %g streak %u of %llu", i, it->family, it->srtt_ms, it->streak,
			   (unsigned long long)it->timeouts);
		FUZZ_CHECK(it->nnames <= NS_NAMES_MAX, "item %zu: %u names", i, it->nnames);
		for (uint8_t k = 0; k < it->nnames; k++) {
			FUZZ_CHECK(nstable_ns_name_ok(it->names[k], strlen(it->names[k])) &&
					   isfinite(it->name_seen[k]) && it->name_seen[k] >= 0 && it->name_seen[k] <= t,
				   "item %zu: name '%s' seen %g", i, it->names[k], it->name_seen[k]);
			for (uint8_t j = 0; j < k; j++)
				FUZZ_CHECK(strcmp(it->names[j], it->names[k]) != 0, "item %zu: '%s' twice", i,
					   it->names[k]);
		}
	}

	/* round trip */
	size_t len = 0;
	char *enc = nstable_encode(a.v, a.n, node, t, 4096 + NS_LINE_MAX * a.n, &len);
	FUZZ_CHECK(enc != NULL && strlen(enc) == len, "cannot encode %zu parsed items", a.n);
	int m = nstable_parse(enc, len, node2, &t2, collect, &b, err, sizeof(err));
	FUZZ_CHECK(m == n, "our table reads back as %d items (%s), not %d", m, m < 0 ? err : "", n);
	link_names(&b);
	FUZZ_CHECK(strcmp(node, node2) == 0 && near(t, t2), "header back as '%s' %.6f (was %.6f)", node2, t2, t);
	for (size_t i = 0; i < a.n; i++) {
		const struct nstable_item *x = &a.v[i], *y = &b.v[i];
		FUZZ_CHECK(x->family == y->family && memcmp(x->addr, y->addr, x->family == 4 ? 4 : 16) == 0 &&
				   x->answers == y->answers && x->timeouts == y->timeouts && x->streak == y->streak &&
				   near(x->srtt_ms, y->srtt_ms) && near(x->last_answer, y->last_answer) &&
				   near(x->last_timeout, y->last_timeout) && near(x->last_seen, y->last_seen),
			   "item %zu differs after the round trip", i);
		FUZZ_CHECK(x->nnames == y->nnames, "item %zu: %u names, back %u", i, x->nnames, y->nnames);
		for (uint8_t k = 0; k < x->nnames; k++)
			FUZZ_CHECK(strcmp(x->names[k], y->names[k]) == 0 && near(x->name_seen[k], y->name_seen[k]),
				   "item %zu: name %u '%s' came back as '%s'", i, k, x->names[k], y->names[k]);
	}
	free(enc);

	/* the merge of what was read: every item once per address, states named */
	struct nstable_merge *mg = nstable_merge_create();
	FUZZ_CHECK(mg != NULL, "out of memory");
	nstable_merge_table(mg); /* the items of one node's table */
	for (size_t i = 0; i < a.n; i++)
		nstable_merge_add(mg, &a.v[i]);
	size_t mn = 0;
	struct nstable_item *merged = nstable_merge_items(mg, t, &mn);
	FUZZ_CHECK(mn <= a.n && (mn == 0 || merged != NULL), "%zu merged from %zu", mn, a.n);
	for (size_t i = 0; i < mn; i++) {
		char addr[64];
		FUZZ_CHECK(nstable_state_name(nstable_state_of(&merged[i], t)) != NULL, "no state name");
		FUZZ_CHECK(isfinite(merged[i].srtt_ms) && merged[i].srtt_ms >= 0, "merged srtt %g",
			   merged[i].srtt_ms);
		nstable_addr_text(&merged[i], addr, sizeof(addr));
		FUZZ_CHECK(merged[i].nnames <= NS_NAMES_MAX, "merged: %u names", merged[i].nnames);
		for (uint8_t k = 0; k < merged[i].nnames; k++) {
			FUZZ_CHECK(nstable_ns_name_ok(merged[i].names[k], strlen(merged[i].names[k])),
				   "merged name '%s'", merged[i].names[k]);
			FUZZ_CHECK(k == 0 || merged[i].name_seen[k] <= merged[i].name_seen[k - 1],
				   "merged names not the most recently seen first");
		}
	}
	/*
	 * Counters saturate: a merged item never says less than one of its
	 * parts (the run of timeouts counts only while fresh: not compared).
	 */
	for (size_t i = 0; i < a.n && a.n <= 256; i++) {
		const struct nstable_item *it = &a.v[i], *x = NULL;
		for (size_t k = 0; k < mn && !x; k++)
			if (merged[k].family == it->family && memcmp(merged[k].addr, it->addr, 16) == 0)
				x = &merged[k];
		FUZZ_CHECK(x != NULL, "item %zu missing from the merge", i);
		FUZZ_CHECK(x->answers >= it->answers && x->timeouts >= it->timeouts,
			   "merged %llu/%llu less than a part's %llu/%llu", (unsigned long long)x->answers,
			   (unsigned long long)x->timeouts, (unsigned long long)it->answers,
			   (unsigned long long)it->timeouts);
	}
	free(merged);
	nstable_merge_destroy(mg);
	free(a.v);
	free(a.names);
	free(b.v);
	free(b.names);
	return 0;
}
