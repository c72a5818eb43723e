/* warmset.c: the names a restarted Recursor has answered; see warmset.h */
#include "config.h"

#include "tables/warmset.h"

#include <stdatomic.h>
#include <stdlib.h>

#define KEY_BITS 40
#define KEY_MASK ((UINT64_C(1) << KEY_BITS) - 1)
#define GEN_MASK ((UINT64_C(1) << (64 - KEY_BITS)) - 1)

struct warmset {
	uint64_t seed;
	atomic_uint_fast64_t gen; /* never 0 */
	atomic_size_t count;      /* names of the current generation (approximate across a clear) */
	atomic_uint_fast64_t refused;
	atomic_uint_fast64_t slot[WARMSET_SLOTS]; /* gen << KEY_BITS | key; 0: never used */
};

struct warmset *warmset_create(uint64_t seed)
{
	struct warmset *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->seed = seed;
	atomic_init(&w->gen, 1);
	return w;
}

void warmset_destroy(struct warmset *w)
{
	free(w);
}

static uint64_t mix(uint64_t x)
{
	/* splitmix64's finalizer */
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

uint64_t warmset_key(const struct warmset *w, const uint8_t *qname, size_t len, uint16_t qtype)
{
	uint64_t h = UINT64_C(14695981039346656037) ^ mix(w->seed);
	for (size_t i = 0; i < len; i++) {
		uint8_t c = qname[i];
		h = (h ^ (uint8_t)(c >= 'A' && c <= 'Z' ? c + 32 : c)) * UINT64_C(1099511628211);
	}
	h = (h ^ qtype) * UINT64_C(1099511628211);
	uint64_t k = mix(h ^ w->seed) & KEY_MASK;
	return k ? k : 1;
}

static uint64_t gen_of(uint64_t v)
{
	return v >> KEY_BITS;
}

size_t warmset_slot_of(uint64_t key)
{
	return (size_t)mix(key & KEY_MASK) & (WARMSET_SLOTS - 1);
}

int warmset_add(struct warmset *w, uint64_t key)
{
	uint64_t gen = atomic_load_explicit(&w->gen, memory_order_acquire) & GEN_MASK;
	uint64_t want = gen << KEY_BITS | (key & KEY_MASK);
	size_t at = warmset_slot_of(key);
	for (unsigned i = 0; i < WARMSET_PROBES; i++) {
		atomic_uint_fast64_t *s = &w->slot[(at + i) & (WARMSET_SLOTS - 1)];
		uint64_t v = atomic_load_explicit(s, memory_order_acquire);
		for (;;) {
			if (v == want)
				return 0;
			if (v != 0 && gen_of(v) == gen)
				break; /* another name of this generation: the next slot */
			/* free, or of another generation: older, unless a clear began since we looked */
			if (v != 0 && (atomic_load_explicit(&w->gen, memory_order_acquire) & GEN_MASK) != gen)
				return 0; /* a clear came in between: this name belonged to the set it ended */
			if (atomic_load_explicit(&w->count, memory_order_relaxed) >= WARMSET_MAX) {
				atomic_fetch_add_explicit(&w->refused, 1, memory_order_relaxed);
				return -1;
			}
			if (atomic_compare_exchange_weak_explicit(s, &v, want, memory_order_acq_rel,
								  memory_order_acquire)) {
				atomic_fetch_add_explicit(&w->count, 1, memory_order_relaxed);
				return 1;
			}
			/* v now holds what another writer put there: look at it again */
		}
	}
	atomic_fetch_add_explicit(&w->refused, 1, memory_order_relaxed);
	return -1;
}

int warmset_has(const struct warmset *w, uint64_t key)
{
	uint64_t gen = atomic_load_explicit(&w->gen, memory_order_acquire) & GEN_MASK;
	uint64_t want = gen << KEY_BITS | (key & KEY_MASK);
	size_t at = warmset_slot_of(key);
	for (unsigned i = 0; i < WARMSET_PROBES; i++) {
		uint64_t v = atomic_load_explicit(&w->slot[(at + i) & (WARMSET_SLOTS - 1)], memory_order_acquire);
		if (v == want)
			return 1;
		if (v == 0 || gen_of(v) != gen)
			return 0; /* a free slot ends the sequence of this generation's names */
	}
	return 0;
}

void warmset_clear(struct warmset *w)
{
	uint64_t g = atomic_load_explicit(&w->gen, memory_order_relaxed);
	uint64_t next = (g + 1) & GEN_MASK;
	if (next == 0) {
		/* after 2^24 clears the generations come round: wipe the slots once */
		for (size_t i = 0; i < WARMSET_SLOTS; i++)
			atomic_store_explicit(&w->slot[i], 0, memory_order_relaxed);
		next = 1;
	}
	atomic_store_explicit(&w->count, 0, memory_order_relaxed);
	atomic_store_explicit(&w->refused, 0, memory_order_relaxed);
	atomic_store_explicit(&w->gen, next, memory_order_release);
}

size_t warmset_count(const struct warmset *w)
{
	return atomic_load_explicit(&w->count, memory_order_relaxed);
}

uint64_t warmset_refused(const struct warmset *w)
{
	return atomic_load_explicit(&w->refused, memory_order_relaxed);
}
