/*
 * ring.h: a bounded single-producer single-consumer queue of events.
 *
 * The data path (the libev thread, through the publisher's sink) is the
 * only producer and never waits: when the ring is full, ring_push fails and
 * the caller counts a drop. The publisher's drain thread is the only
 * consumer. Slots are copied in and out by value; the ring owns no pointer.
 */
#ifndef RECMESH_RING_H
#define RECMESH_RING_H

#include "dns/event.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct ring {
	_Atomic size_t head; /* next slot to read (consumer) */
	char pad1[64 - sizeof(size_t)];
	_Atomic size_t tail; /* next slot to write (producer) */
	char pad2[64 - sizeof(size_t)];
	size_t mask;
	struct rm_event *slots;
};

/* size is rounded up to a power of two */
static inline struct ring *ring_create(size_t size)
{
	size_t n = 1;
	while (n < size)
		n <<= 1;
	struct ring *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->slots = calloc(n, sizeof(*r->slots));
	if (!r->slots) {
		free(r);
		return NULL;
	}
	r->mask = n - 1;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	return r;
}

static inline void ring_destroy(struct ring *r)
{
	if (!r)
		return;
	free(r->slots);
	free(r);
}

/* Producer side: returns 0, or -1 when full */
static inline int ring_push(struct ring *r, const struct rm_event *ev)
{
	size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	if (tail - head > r->mask)
		return -1;
	struct rm_event *slot = &r->slots[tail & r->mask];
	/* copy only the used part of the name */
	size_t fixed = offsetof(struct rm_event, qname);
	memcpy(slot, ev, fixed + ev->qname_len);
	atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
	return 0;
}

/* Consumer side: returns 0 and copies the oldest event out, or -1 when empty */
static inline int ring_pop(struct ring *r, struct rm_event *ev)
{
	size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	if (head == tail)
		return -1;
	const struct rm_event *slot = &r->slots[head & r->mask];
	size_t fixed = offsetof(struct rm_event, qname);
	memcpy(ev, slot, fixed + slot->qname_len);
	atomic_store_explicit(&r->head, head + 1, memory_order_release);
	return 0;
}

static inline size_t ring_used(struct ring *r)
{
	return atomic_load(&r->tail) - atomic_load(&r->head);
}

#endif
