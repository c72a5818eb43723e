/* test_ring.c: the SPSC event ring, alone and under a producer and a consumer thread */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dns/ring.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS 200000
#define RING_SIZE 64

/* Event seq: its sequence number in time_us, a name whose length and bytes follow from it */
static void make_event(struct rm_event *ev, uint64_t seq)
{
	memset(ev, 0, offsetof(struct rm_event, qname));
	ev->time_us = seq;
	ev->qtype = (uint16_t)seq;
	ev->qname_len = (uint8_t)(1 + seq % 200);
	for (unsigned i = 0; i < ev->qname_len; i++)
		ev->qname[i] = (uint8_t)(seq + i);
}

static int event_ok(const struct rm_event *ev)
{
	uint64_t seq = ev->time_us;
	if (ev->qtype != (uint16_t)seq || ev->qname_len != (uint8_t)(1 + seq % 200))
		return 0;
	for (unsigned i = 0; i < ev->qname_len; i++)
		if (ev->qname[i] != (uint8_t)(seq + i))
			return 0;
	return 1;
}

static void test_full_and_empty(void **state)
{
	struct ring *r = ring_create(5); /* rounded up to 8 */
	struct rm_event ev;
	int pushed = 0, drops = 0;
	assert_non_null(r);
	assert_int_equal(ring_pop(r, &ev), -1);
	for (uint64_t s = 0; s < 10; s++) {
		make_event(&ev, s);
		if (ring_push(r, &ev) == 0)
			pushed++;
		else
			drops++;
	}
	if (pushed != 8 || drops != 2)
		fail_msg("pushed %d, dropped %d into a ring of 8 (want 8 and 2)", pushed, drops);
	assert_int_equal(ring_used(r), 8);
	for (uint64_t s = 0; s < 8; s++) {
		assert_int_equal(ring_pop(r, &ev), 0);
		if (ev.time_us != s || !event_ok(&ev))
			fail_msg("popped seq %llu (intact %d), want %llu", (unsigned long long)ev.time_us,
				 event_ok(&ev), (unsigned long long)s);
	}
	assert_int_equal(ring_pop(r, &ev), -1);
	/* room again after the consumer took them */
	make_event(&ev, 42);
	assert_int_equal(ring_push(r, &ev), 0);
	assert_int_equal(ring_pop(r, &ev), 0);
	assert_int_equal(ev.time_us, 42);
	ring_destroy(r);
	ring_destroy(NULL);
}

struct shared {
	struct ring *r;
	atomic_int go;       /* the consumer waits for it: the producer has filled the ring */
	uint8_t *accepted;   /* per seq, written by the producer only */
	uint8_t *got;        /* per seq, written by the consumer only */
	uint64_t drops;      /* producer's count */
	uint64_t received;   /* consumer's count */
	uint64_t bad_order, bad_content, last;
	int have_last;
};

static void *producer(void *arg)
{
	struct shared *sh = arg;
	struct rm_event ev;
	for (uint64_t s = 0; s < EVENTS; s++) {
		make_event(&ev, s);
		if (ring_push(sh->r, &ev) == 0) {
			sh->accepted[s] = 1;
		} else {
			sh->drops++;
			atomic_store(&sh->go, 1); /* full at least once: let the consumer start */
		}
		if (s % 1024 == 0)
			sched_yield();
	}
	atomic_store(&sh->go, 2); /* done */
	return NULL;
}

static void *consumer(void *arg)
{
	struct shared *sh = arg;
	struct rm_event ev;
	while (atomic_load(&sh->go) == 0)
		sched_yield();
	for (;;) {
		int done = atomic_load(&sh->go) == 2; /* read before popping: nothing comes after */
		if (ring_pop(sh->r, &ev) < 0) {
			if (done)
				break;
			sched_yield();
			continue;
		}
		sh->received++;
		if (!event_ok(&ev) || ev.time_us >= EVENTS) {
			sh->bad_content++;
			continue;
		}
		sh->got[ev.time_us]++;
		if (sh->have_last && ev.time_us <= sh->last)
			sh->bad_order++;
		sh->last = ev.time_us;
		sh->have_last = 1;
	}
	return NULL;
}

static void test_two_threads(void **state)
{
	struct shared sh = {0};
	pthread_t pt, ct;
	sh.r = ring_create(RING_SIZE);
	sh.accepted = calloc(EVENTS, 1);
	sh.got = calloc(EVENTS, 1);
	assert_non_null(sh.r);
	assert_non_null(sh.got);
	assert_non_null(sh.accepted);
	atomic_init(&sh.go, 0);
	assert_int_equal(pthread_create(&ct, NULL, consumer, &sh), 0);
	assert_int_equal(pthread_create(&pt, NULL, producer, &sh), 0);
	pthread_join(pt, NULL);
	pthread_join(ct, NULL);

	uint64_t accepted = 0;
	for (size_t i = 0; i < EVENTS; i++) {
		accepted += sh.accepted[i];
		if (sh.got[i] != sh.accepted[i])
			fail_msg("event %zu: accepted %d, received %d times", i, sh.accepted[i], sh.got[i]);
	}
	if (sh.bad_order || sh.bad_content)
		fail_msg("%llu events out of order, %llu damaged, of %llu received",
			 (unsigned long long)sh.bad_order, (unsigned long long)sh.bad_content,
			 (unsigned long long)sh.received);
	/* every accepted event arrived once, every other was counted as dropped */
	if (sh.received != accepted || accepted + sh.drops != EVENTS || sh.drops == 0)
		fail_msg("received %llu, accepted %llu, dropped %llu of %d (want received == accepted, "
			 "accepted + dropped == %d, dropped > 0)",
			 (unsigned long long)sh.received, (unsigned long long)accepted,
			 (unsigned long long)sh.drops, EVENTS, EVENTS);
	assert_int_equal(ring_used(sh.r), 0);
	ring_destroy(sh.r);
	free(sh.accepted);
	free(sh.got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_and_empty),
		cmocka_unit_test(test_two_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
