/*
 * fuzz_nstable.c: libFuzzer harness for nstable_parse (src/nstable.c), the
 * reader of the authoritative-server tables every node stores in the KV
 * bucket recmesh_ns.
 *
 * Checked: a table is refused with a reason or accepted whole, the same
 * with and without a callback; accepted items are within the documented
 * bounds; the items written again with nstable_encode and parsed again
 * come back the same (times and RTTs to the 3 decimals the text keeps);
 * and the fleet merge takes them without breaking its own rules.
 */
#include "config.h"

#include "fuzz.h"

#include "names.h"
#include "nstable.h"

#include <math.h>
#include <string.h>

struct items {
	struct nstable_item *v;
	size_t n, cap;
};

static void collect(const struct nstable_item *it, void *arg)
{
	struct items *s = arg;
	fuzz_push(&s->v, &s->n, &s->cap, it, sizeof(*it));
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
		return 0;
	}
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
	}

	/* round trip */
	size_t len = 0;
	char *enc = nstable_encode(a.v, a.n, node, t, 4096 + 256 * a.n, &len);
	FUZZ_CHECK(enc != NULL && strlen(enc) == len, "cannot encode %zu parsed items", a.n);
	int m = nstable_parse(enc, len, node2, &t2, collect, &b, err, sizeof(err));
	FUZZ_CHECK(m == n, "our table reads back as %d items (%s), not %d", m, m < 0 ? err : "", n);
	FUZZ_CHECK(strcmp(node, node2) == 0 && near(t, t2), "header back as '%s' %.6f (was %.6f)", node2, t2, t);
	for (size_t i = 0; i < a.n; i++) {
		const struct nstable_item *x = &a.v[i], *y = &b.v[i];
		FUZZ_CHECK(x->family == y->family && memcmp(x->addr, y->addr, x->family == 4 ? 4 : 16) == 0 &&
				   x->answers == y->answers && x->timeouts == y->timeouts && x->streak == y->streak &&
				   near(x->srtt_ms, y->srtt_ms) && near(x->last_answer, y->last_answer) &&
				   near(x->last_timeout, y->last_timeout) && near(x->last_seen, y->last_seen),
			   "item %zu differs after the round trip", i);
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
	free(b.v);
	return 0;
}
