/*
 * pathstats.c: the data path's counters as other threads may read them;
 * see pathstats.h.
 *
 * The snapshots are seqlocks made of C11 atomics (Boehm's pattern): the
 * writer makes the sequence odd, stores every word relaxed, and makes it
 * even again with release; a reader retries while the sequence is odd or
 * changed under it. The writer never waits; a reader retries at most while
 * one 0.1 s publication is half done.
 */
#include "config.h"

#include "proxy/pathstats.h"

#include "base/satsum.h"

#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#define SNAP_WORDS 64 /* the proxy's counters with the peers' (peer.h) fit */

struct snap {
	atomic_uint_fast64_t seq; /* 0: never published; odd: being written */
	atomic_uint_fast64_t v[SNAP_WORDS];
};

_Static_assert(sizeof(struct proxy_stats) % sizeof(uint64_t) == 0,
	       "proxy_stats is made of uint64_t");
_Static_assert(sizeof(struct proxy_stats) / sizeof(uint64_t) + 1 <= SNAP_WORDS,
	       "snapshot too small");
_Static_assert(sizeof(struct pbstream_stats) % sizeof(uint64_t) == 0,
	       "pbstream_stats is made of uint64_t");
_Static_assert(sizeof(struct pbstream_stats) / sizeof(uint64_t) <= SNAP_WORDS,
	       "snapshot too small");

/* one writer each: a data path thread's own snapshot and histogram, a cache line apart from the next */
struct slot {
	struct snap proxy;
	atomic_uint_fast64_t lat_bucket[2][PATHSTATS_LATENCY_NBOUNDS + 1]; /* not cumulative */
	atomic_uint_fast64_t lat_sum_ns[2];
	atomic_uint_fast64_t rcodes[PATHSTATS_RCODES + 1];
} __attribute__((aligned(64)));

static struct slot slots[PATHSTATS_THREADS];
static struct snap pb_snap;
static _Thread_local unsigned my_slot; /* pathstats_set_thread; 0 by default */

void pathstats_set_thread(unsigned k)
{
	my_slot = k < PATHSTATS_THREADS ? k : PATHSTATS_THREADS - 1;
}

static void snap_write(struct snap *s, const uint64_t *v, size_t n)
{
	uint_fast64_t q = atomic_load_explicit(&s->seq, memory_order_relaxed);
	atomic_store_explicit(&s->seq, q + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	for (size_t i = 0; i < n; i++)
		atomic_store_explicit(&s->v[i], v[i], memory_order_relaxed);
	atomic_store_explicit(&s->seq, q + 2, memory_order_release);
}

static int snap_read(struct snap *s, uint64_t *v, size_t n)
{
	for (;;) {
		uint_fast64_t q1 = atomic_load_explicit(&s->seq, memory_order_acquire);
		if (q1 == 0)
			return -1;
		if (q1 & 1) {
			sched_yield();
			continue;
		}
		for (size_t i = 0; i < n; i++)
			v[i] = atomic_load_explicit(&s->v[i], memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&s->seq, memory_order_relaxed) == q1)
			return 0;
	}
}

void pathstats_proxy_publish(const struct proxy_stats *st, uint64_t in_flight)
{
	uint64_t v[SNAP_WORDS];
	size_t n = sizeof(*st) / sizeof(uint64_t);
	memcpy(v, st, sizeof(*st));
	v[n] = in_flight;
	snap_write(&slots[my_slot].proxy, v, n + 1);
}

int pathstats_proxy_read(struct proxy_stats *st, uint64_t *in_flight)
{
	uint64_t v[SNAP_WORDS];
	size_t n = sizeof(*st) / sizeof(uint64_t);
	int found = 0;
	memset(st, 0, sizeof(*st));
	*in_flight = 0;
	for (unsigned k = 0; k < PATHSTATS_THREADS; k++) {
		struct proxy_stats one;
		if (snap_read(&slots[k].proxy, v, n + 1) < 0)
			continue;
		memcpy(&one, v, sizeof(one));
		proxy_stats_add(st, &one);
		*in_flight = sat_add_u64(*in_flight, v[n]);
		found = 1;
	}
	return found ? 0 : -1;
}

void pathstats_pbstream_publish(const struct pbstream_stats *st)
{
	uint64_t v[SNAP_WORDS];
	memcpy(v, st, sizeof(*st));
	snap_write(&pb_snap, v, sizeof(*st) / sizeof(uint64_t));
}

int pathstats_pbstream_read(struct pbstream_stats *st)
{
	uint64_t v[SNAP_WORDS];
	if (snap_read(&pb_snap, v, sizeof(*st) / sizeof(uint64_t)) < 0)
		return -1;
	memcpy(st, v, sizeof(*st));
	return 0;
}

/* The histogram and the rcodes: one writer per slot, so a relaxed load and store make an increment */
const double pathstats_latency_bounds[PATHSTATS_LATENCY_NBOUNDS] = PATHSTATS_LATENCY_BOUNDS;

static inline void bump(atomic_uint_fast64_t *c, uint64_t by)
{
	uint64_t v = atomic_load_explicit(c, memory_order_relaxed);
	atomic_store_explicit(c, v + by < v ? UINT64_MAX : v + by, memory_order_relaxed);
}

void pathstats_answer(uint64_t latency_ns, int tcp, int rcode)
{
	struct slot *m = &slots[my_slot];
	int p = tcp ? 1 : 0;
	double s = (double)latency_ns / 1e9;
	int b = 0;
	while (b < PATHSTATS_LATENCY_NBOUNDS && s > pathstats_latency_bounds[b])
		b++;
	bump(&m->lat_bucket[p][b], 1);
	bump(&m->lat_sum_ns[p], latency_ns);
	if (rcode >= 0)
		bump(&m->rcodes[rcode < PATHSTATS_RCODES ? rcode : PATHSTATS_RCODES], 1);
}

void pathstats_reset(void)
{
	atomic_store(&pb_snap.seq, 0);
	for (unsigned k = 0; k < PATHSTATS_THREADS; k++) {
		struct slot *m = &slots[k];
		atomic_store(&m->proxy.seq, 0);
		for (int p = 0; p < 2; p++) {
			for (int b = 0; b <= PATHSTATS_LATENCY_NBOUNDS; b++)
				atomic_store(&m->lat_bucket[p][b], 0);
			atomic_store(&m->lat_sum_ns[p], 0);
		}
		for (int i = 0; i <= PATHSTATS_RCODES; i++)
			atomic_store(&m->rcodes[i], 0);
	}
}

uint64_t pathstats_latency(int tcp, int bucket, uint64_t *sum_ns)
{
	int p = tcp ? 1 : 0;
	uint64_t n = 0, sum = 0;
	for (unsigned k = 0; k < PATHSTATS_THREADS; k++) {
		sum = sat_add_u64(sum, atomic_load_explicit(&slots[k].lat_sum_ns[p], memory_order_relaxed));
		n = sat_add_u64(n, atomic_load_explicit(&slots[k].lat_bucket[p][bucket], memory_order_relaxed));
	}
	if (sum_ns)
		*sum_ns = sum;
	return n;
}

uint64_t pathstats_rcode(int i)
{
	uint64_t n = 0;
	for (unsigned k = 0; k < PATHSTATS_THREADS; k++)
		n = sat_add_u64(n, atomic_load_explicit(&slots[k].rcodes[i], memory_order_relaxed));
	return n;
}
