/*
 * hot.c: the decaying hot-name table; see hot.h.
 *
 * Decay without touching every entry: an entry stores its score in units of
 * the reference time t_ref; a hit at time t adds exp((t - t_ref) / tau), and
 * the score at time t is stored * exp(-(t - t_ref) / tau). When the
 * increment grows large the table is rebased (every entry multiplied once),
 * which also drops entries that have decayed to nothing.
 */
#include "config.h"

#include "tables/hot.h"

#include "base/topn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#define HOT_REBASE_EXP 30.0 /* rebase when increments reach e^30 */
#define HOT_FORGET 1e-3
#define HOT_MAX_JUMP (10.0 * 365 * 86400) /* a hit this far after the reference time is absurd */     /* entries below this decayed score are dropped on rebase */

struct hot_entry {
	UT_hash_handle hh;
	double score; /* in units of t_ref */
	uint16_t key_len;
	uint8_t key[]; /* qtype (2 octets) then the wire qname */
};

struct hot_table {
	struct hot_entry *entries;
	size_t count, capacity, evictions;
	double tau, t_ref;
	int have_ref;
};

struct hot_table *hot_create(size_t capacity, double half_life_s)
{
	if (capacity == 0 || !(half_life_s > 0))
		return NULL;
	struct hot_table *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->capacity = capacity;
	t->tau = half_life_s / M_LN2;
	return t;
}

void hot_destroy(struct hot_table *t)
{
	if (!t)
		return;
	TOPN_CLEAR(t->entries, struct hot_entry, free);
	free(t);
}

static int cmp_score_asc(const void *a, const void *b)
{
	const struct hot_entry *x = *(struct hot_entry *const *)a, *y = *(struct hot_entry *const *)b;
	return (x->score > y->score) - (x->score < y->score);
}

static int cmp_score_desc(const void *a, const void *b)
{
	return cmp_score_asc(b, a);
}

static void rebase(struct hot_table *t, double now)
{
	double f = exp(-(now - t->t_ref) / t->tau);
	struct hot_entry *e, *tmp;
	HASH_ITER(hh, t->entries, e, tmp)
	{
		e->score *= f;
		if (e->score < HOT_FORGET) {
			HASH_DEL(t->entries, e);
			free(e);
			t->count--;
		}
	}
	t->t_ref = now;
}

/* Drops the coldest tenth (at least one entry) */
static void evict(struct hot_table *t)
{
	size_t n, drop, i;
	struct hot_entry **all = (struct hot_entry **)TOPN_SORTED(t->entries, struct hot_entry,
								  cmp_score_asc, &n);
	if (!all) {
		/* no memory for the sort: drop an arbitrary entry */
		struct hot_entry *e = t->entries;
		HASH_DEL(t->entries, e);
		free(e);
		t->count--;
		t->evictions++;
		return;
	}
	drop = n / 10 ? n / 10 : 1;
	for (i = 0; i < drop; i++) {
		HASH_DEL(t->entries, all[i]);
		free(all[i]);
	}
	t->count -= drop;
	t->evictions += drop;
	free(all);
}

void hot_add(struct hot_table *t, const uint8_t *qname, size_t qname_len, uint16_t qtype,
	     double now)
{
	uint8_t key[2 + DNS_MAX_NAME];
	struct hot_entry *e;

	/*
	 * Times come from outside (the protobuf stream's timeSec): a time that
	 * is not finite or lies more than HOT_MAX_JUMP after the reference
	 * would make exp() overflow to inf, and one inf score makes the whole
	 * table unreadable, so such a hit is ignored.
	 */
	if (qname_len == 0 || qname_len > DNS_MAX_NAME || !isfinite(now) || now < 0)
		return;
	if (t->have_ref && now - t->t_ref > HOT_MAX_JUMP)
		return;
	if (!t->have_ref) {
		t->t_ref = now;
		t->have_ref = 1;
	}
	if (now < t->t_ref)
		now = t->t_ref; /* clock went back: count at the reference time */
	if ((now - t->t_ref) / t->tau > HOT_REBASE_EXP)
		rebase(t, now);
	double inc = exp((now - t->t_ref) / t->tau);

	key[0] = (uint8_t)(qtype >> 8);
	key[1] = (uint8_t)qtype;
	memcpy(key + 2, qname, qname_len);
	unsigned key_len = (unsigned)qname_len + 2;
	HASH_FIND(hh, t->entries, key, key_len, e);
	if (e) {
		e->score += inc;
		return;
	}
	if (t->count >= t->capacity)
		evict(t);
	e = malloc(sizeof(*e) + key_len);
	if (!e)
		return;
	e->score = inc;
	e->key_len = (uint16_t)key_len;
	memcpy(e->key, key, key_len);
	HASH_ADD(hh, t->entries, key, key_len, e);
	t->count++;
}

size_t hot_count(const struct hot_table *t)
{
	return t->count;
}

size_t hot_evictions(const struct hot_table *t)
{
	return t->evictions;
}

size_t hot_top(struct hot_table *t, double now, struct hot_item *out, size_t max)
{
	size_t n;
	struct hot_entry **all;

	if (max == 0 ||
	    !(all = (struct hot_entry **)TOPN_SORTED(t->entries, struct hot_entry, cmp_score_desc, &n)))
		return 0;
	/* a reader's clock behind the reference counts as the reference, as in hot_add: f <= 1, finite */
	double f = now > t->t_ref ? exp(-(now - t->t_ref) / t->tau) : 1.0;
	max = topn_take(n, max);
	for (size_t i = 0; i < max; i++) {
		const struct hot_entry *e = all[i];
		out[i].score = e->score * f;
		out[i].qtype = (uint16_t)((e->key[0] << 8) | e->key[1]);
		out[i].qname_len = (uint8_t)(e->key_len - 2);
		memcpy(out[i].qname, e->key + 2, e->key_len - 2u);
	}
	free(all);
	return max;
}
