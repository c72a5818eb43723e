/*
 * clock.h: the clocks recmesh reads. Monotonic time for intervals and
 * timeouts, wall-clock (unix) time for what is published.
 *
 * No state: callable from any thread.
 */
#ifndef RECMESH_CLOCK_H
#define RECMESH_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline double clock_mono(void)
{
	return clock_mono_ns() / 1e9;
}

static inline uint64_t clock_unix_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}

static inline double clock_unix(void)
{
	return clock_unix_us() / 1e6;
}

#endif
