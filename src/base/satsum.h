/*
 * satsum.h: saturating sums of counters (a counter that would wrap stays
 * at its largest value instead)
 */
#ifndef RECMESH_SATSUM_H
#define RECMESH_SATSUM_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t sat_add_u64(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

/* One more, saturating */
static inline void sat_inc(uint64_t *c)
{
	if (*c != UINT64_MAX)
		(*c)++;
}

/* sum[i] += x[i] for n words, each saturating (for structs made of uint64_t counters) */
static inline void sat_add_words(uint64_t *sum, const uint64_t *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sum[i] = sat_add_u64(sum[i], x[i]);
}

#endif
