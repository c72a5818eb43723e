/*
 * test_liveness.c: the restart shield (liveness.h) on the local Recursor's
 * state (recstate.h) as every data path thread reports it: one thread's
 * answer is every thread's, the shield is stepped once for the process on
 * an injected clock, its lines are said once and its summary adds up every
 * member's report; and threads that read the mode while others change it
 * all end up seeing the last one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "capture.h"

#include "base/clock.h"
#include "net/recphase.h"
#include "net/recstate.h"
#include "proxy/liveness.h"
#include "tables/warmset.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S 1000000000ull
#define MS 1000000ull

/* liveness_mode with the auto-warm's phase at phase */
static enum peer_mode mode_at(struct liveness *l, int phase, uint64_t now_ns)
{
	static _Thread_local atomic_int ph;
	atomic_store(&ph, phase);
	return liveness_mode(l, &ph, now_ns);
}

/* One thread's refusal takes the Recursor for down for every thread; any thread's answer for up */
static void one_view_for_all(void **state)
{
	(void)state;
	struct recstate *rs = recstate_create("u");
	struct liveness *l = liveness_create(rs, 0.05, 60, NULL);
	assert_non_null(l);
	struct recstate_view a = {0}, b = {0};
	capture_start();
	assert_int_equal(mode_at(l, REC_PHASE_IDLE, 1 * S), PEER_OFF);
	assert_int_equal(recstate_refused(rs, &a, 1 * S), 1);
	assert_int_equal(recstate_refused(rs, &a, 1 * S), 0); /* not news to a again */
	assert_true(recstate_down(rs));
	/* b sent nothing yet, yet sees it down: its queries go to a peer at once */
	assert_int_equal(mode_at(l, REC_PHASE_IDLE, 2 * S), PEER_NOW);
	/* b's own first refusal of this down is news to b: it rescues its own queries in flight */
	assert_int_equal(recstate_refused(rs, &b, 2 * S), 1);
	assert_int_equal(recstate_refused(rs, &b, 2 * S), 0);
	/* a's answer: up for b as well, shielded (hedge) */
	recstate_answer(rs, &a, 3 * S, 3 * S);
	assert_false(recstate_down(rs));
	assert_int_equal(mode_at(l, REC_PHASE_IDLE, 3 * S), PEER_HEDGE);
	assert_true(liveness_shielding(l));
	/* down again: news to both once more */
	assert_int_equal(recstate_refused(rs, &b, 4 * S), 1);
	assert_int_equal(recstate_refused(rs, &a, 4 * S), 1);
	const char *out = capture_end();
	/* said once each, whichever thread stepped */
	assert_int_equal(capture_count(out, "peers: the upstream does not answer"), 1);
	assert_int_equal(capture_count(out, "peers: the upstream is back and being warmed"), 1);
	liveness_destroy(l);
	recstate_destroy(rs);
}

/*
 * An answer to a query sent before the down (the process that went away
 * sent it, read late) does not take the Recursor for up; one sent after
 * does. A down and up again before any thread stepped the shield still
 * starts it: the warmed set is cleared, the restart counted and said.
 */
static void late_answer_and_missed_down(void **state)
{
	(void)state;
	struct warmset *w = warmset_create(7);
	struct recstate *rs = recstate_create("u");
	struct liveness *l = liveness_create(rs, 0.05, 60, w);
	struct recstate_view a = {0}, b = {0};
	uint64_t k = warmset_key(w, (const uint8_t *)"\3www\7example\0", 13, 1);
	capture_start();
	assert_int_equal(mode_at(l, REC_PHASE_IDLE, 1 * S), PEER_OFF);
	assert_int_equal(recstate_refused(rs, &a, 5 * S), 1);
	recstate_answer(rs, &b, 4 * S, 6 * S);
	assert_true(recstate_down(rs));
	/* refused again at 5.2 s (still not listening): an answer sent at 5.1 s is old too */
	assert_int_equal(recstate_refused(rs, &b, 5 * S + 200 * MS), 1);
	recstate_answer(rs, &b, 5 * S + 100 * MS, 6 * S);
	assert_true(recstate_down(rs));
	recstate_answer(rs, &b, 5 * S + 500 * MS, 6 * S);
	assert_false(recstate_down(rs));
	assert_int_equal(mode_at(l, REC_PHASE_IDLE, 6 * S), PEER_HEDGE);
	assert_int_equal(liveness_started(l), 1);
	/* down at 10 s and up at 11 s with no step in between */
	assert_int_equal(mode_at(l, REC_PHASE_IDLE, 100 * S), PEER_OFF); /* ended at --shield-max */
	assert_int_equal(warmset_add(w, k), 1);
	recstate_refused(rs, &a, 110 * S);
	recstate_answer(rs, &b, 111 * S, 111 * S);
	assert_false(recstate_down(rs));
	assert_int_equal(mode_at(l, REC_PHASE_IDLE, 112 * S), PEER_HEDGE);
	assert_int_equal(liveness_started(l), 2);
	assert_false(warmset_has(w, k));
	const char *out = capture_end();
	assert_int_equal(capture_count(out, "peers: the upstream does not answer"), 2);
	assert_int_equal(capture_count(out, "peers: the upstream is back and being warmed"), 2);
	liveness_destroy(l);
	recstate_destroy(rs);
	warmset_destroy(w);
}

/*
 * The shield's clock starts when the Recursor is back (not when it went
 * down), and --shield-max ends the shield on time with no input changing:
 * the deadline, not a query, steps it
 */
static void shield_max_from_return(void **state)
{
	(void)state;
	struct recstate *rs = recstate_create("u");
	struct liveness *l = liveness_create(rs, 0.05, 5, NULL);
	struct recstate_view a = {0};
	capture_start();
	recstate_refused(rs, &a, 1 * S);
	assert_int_equal(mode_at(l, REC_PHASE_IDLE, 1 * S), PEER_NOW);
	assert_int_equal(liveness_started(l), 1);
	/* down 9 s (longer than --shield-max), back at 10 s */
	assert_int_equal(mode_at(l, REC_PHASE_IDLE, 9 * S), PEER_NOW);
	recstate_answer(rs, &a, 10 * S, 10 * S);
	assert_int_equal(mode_at(l, REC_PHASE_IDLE, 10 * S), PEER_HEDGE);
	assert_int_equal(mode_at(l, REC_PHASE_IDLE, 15 * S), PEER_HEDGE);
	assert_int_equal(liveness_ended(l), 0);
	assert_int_equal(mode_at(l, REC_PHASE_IDLE, 15 * S + 1 * MS), PEER_OFF);
	assert_int_equal(liveness_ended(l), 1);
	assert_int_equal(liveness_started(l), 1); /* one restart shielded */
	/* a clock read a little earlier by another thread does not bring it back */
	assert_int_equal(mode_at(l, REC_PHASE_IDLE, 14 * S), PEER_OFF);
	/* the auto-warm's phase is an input too: a warm-up shields again */
	assert_int_equal(mode_at(l, REC_PHASE_WARMING, 20 * S), PEER_HEDGE);
	assert_int_equal(liveness_started(l), 2);
	assert_int_equal(mode_at(l, REC_PHASE_IDLE, 21 * S), PEER_OFF);
	assert_int_equal(liveness_ended(l), 2);
	capture_end();
	liveness_destroy(l);
	recstate_destroy(rs);
}

/* The summary waits for every member's report, adds them up, and is said once */
static void summary_of_members(void **state)
{
	(void)state;
	struct recstate *rs = recstate_create("u");
	struct liveness *l = liveness_create(rs, 0.05, 60, NULL);
	struct recstate_view a = {0};
	liveness_join(l);
	liveness_join(l);
	liveness_join(l);
	capture_start();
	recstate_refused(rs, &a, 1 * S);
	mode_at(l, REC_PHASE_IDLE, 1 * S);
	recstate_answer(rs, &a, 2 * S, 2 * S);
	mode_at(l, REC_PHASE_WARMING, 2 * S);
	assert_int_equal(mode_at(l, REC_PHASE_IDLE, 9 * S + 500 * MS), PEER_OFF);
	uint64_t e = liveness_ended(l);
	assert_int_equal(e, 1);
	struct peer_stats d1 = {.sent_down = 3, .sent_warming = 4, .first = 5, .limited_rate = 1};
	struct peer_stats d2 = {.sent_down = 10, .sent_cold = 2, .lost_race = 7, .no_peer = 2};
	struct peer_stats zero = {0};
	liveness_report(l, e, &d1);
	liveness_report(l, e - 1, &d2); /* an older shield's: dropped */
	liveness_report(l, e, &d2);
	const char *out = capture_end();
	assert_int_equal(capture_count(out, "was shielded"), 0); /* one member has not reported */
	capture_start();
	liveness_leave(l); /* that member's thread stops: the two reports are all there is */
	liveness_report(l, e, &zero); /* late: already said */
	out = capture_end();
	assert_int_equal(capture_count(out, "was shielded"), 1);
	/* 1 s down + 7.5 s warming; 3+4+10+2 sent (13 down, 6 warming of which 2 cold); 3 not sent */
	assert_non_null(strstr(out, "shielded for 8.5 s: 19 queries to peers (13 while down, 6 while warming, "
				    "2 of them at once for names not warmed yet), 5 answered first, 7 lost the race, "
				    "0 failed, 3 not sent (rate 1, in flight 0, hedge queue 0, all benched 2)"));
	/*
	 * A shield that ends before every member reported the last one: the
	 * last one's summary says what it has, of how many threads, and how
	 * long that shield lasted (not the next one's start)
	 */
	liveness_join(l);
	capture_start();
	recstate_refused(rs, &a, 20 * S);
	liveness_mode(l, NULL, 20 * S);
	recstate_answer(rs, &a, 21 * S, 21 * S);
	assert_int_equal(liveness_mode(l, NULL, 23 * S), PEER_HEDGE);
	assert_int_equal(liveness_mode(l, NULL, 81 * S + 1 * MS), PEER_OFF); /* --shield-max 60 from 21 s */
	e = liveness_ended(l);
	liveness_report(l, e, &d1); /* 1 of 3 */
	recstate_refused(rs, &a, 90 * S);
	liveness_mode(l, NULL, 90 * S);
	recstate_answer(rs, &a, 95 * S, 95 * S);
	liveness_mode(l, NULL, 95 * S);
	assert_int_equal(liveness_mode(l, NULL, 155 * S + 1 * MS), PEER_OFF);
	out = capture_end();
	assert_int_equal(capture_count(out, "was shielded"), 1);
	if (!strstr(out, "shielded for 61.0 s: 7 queries to peers (3 while down, 4 while warming, 0 of them at once "
			 "for names not warmed yet), 5 answered first, 0 lost the race, 0 failed, 1 not sent (rate 1, "
			 "in flight 0, hedge queue 0, all benched 0) (the shares of 1 of 3 threads)"))
		fail_msg("partial summary: %s", out);
	/* the threads stop before any reported the second: nothing to say of it */
	capture_start();
	liveness_leave(l);
	liveness_leave(l);
	liveness_leave(l);
	out = capture_end();
	assert_int_equal(capture_count(out, "was shielded"), 0);
	liveness_destroy(l);
	recstate_destroy(rs);
}

/* Down clears the warmed set once; "full" is said once until the next clear */
static void warmed_set(void **state)
{
	(void)state;
	struct warmset *w = warmset_create(1000);
	assert_non_null(w);
	struct recstate *rs = recstate_create("u");
	struct liveness *l = liveness_create(rs, 0.05, 60, w);
	struct recstate_view a = {0};
	uint64_t k = warmset_key(w, (const uint8_t *)"\3www\7example\0", 13, 1);
	assert_int_equal(warmset_add(w, k), 1);
	capture_start();
	recstate_refused(rs, &a, 1 * S);
	assert_int_equal(mode_at(l, REC_PHASE_IDLE, 1 * S), PEER_NOW);
	assert_false(warmset_has(w, k));
	assert_int_equal(warmset_add(w, k), 1);
	assert_int_equal(mode_at(l, REC_PHASE_DOWN, 2 * S), PEER_NOW); /* still down: not cleared again */
	assert_true(warmset_has(w, k));
	assert_int_equal(liveness_say_warmed_full(l), 1);
	assert_int_equal(liveness_say_warmed_full(l), 0);
	recstate_answer(rs, &a, 3 * S, 3 * S);
	assert_int_equal(mode_at(l, REC_PHASE_IDLE, 3 * S), PEER_HEDGE);
	recstate_refused(rs, &a, 4 * S);
	assert_int_equal(mode_at(l, REC_PHASE_IDLE, 4 * S), PEER_NOW);
	assert_int_equal(liveness_say_warmed_full(l), 1); /* a new shield: said again */
	capture_end();
	liveness_destroy(l);
	recstate_destroy(rs);
	warmset_destroy(w);
}

/* Threads that read the mode while another changes the inputs all end up seeing the last mode */
#define READERS 4
static atomic_int stop_readers;
struct reader {
	struct liveness *l;
	struct recstate *rs;
	atomic_ulong calls;
	enum peer_mode last;
	struct recstate_view v;
};

static void *reader(void *arg)
{
	struct reader *r = arg;
	uint64_t now = 100 * S;
	while (!atomic_load(&stop_readers)) {
		r->last = mode_at(r->l, REC_PHASE_IDLE, now);
		if (atomic_fetch_add(&r->calls, 1) % 64 == 63)
			recstate_answer(r->rs, &r->v, now, now); /* readers answer too, as data path threads do */
	}
	r->last = mode_at(r->l, REC_PHASE_IDLE, now);
	return NULL;
}

static void threads_converge(void **state)
{
	(void)state;
	struct recstate *rs = recstate_create("u");
	struct liveness *l = liveness_create(rs, 0.05, 1000, NULL);
	struct reader rd[READERS];
	pthread_t t[READERS];
	struct recstate_view a = {0};
	capture_start();
	atomic_store(&stop_readers, 0);
	for (int i = 0; i < READERS; i++) {
		rd[i].l = l;
		rd[i].rs = rs;
		atomic_init(&rd[i].calls, 0);
		rd[i].v = (struct recstate_view){0};
		assert_int_equal(pthread_create(&t[i], NULL, reader, &rd[i]), 0);
	}
	/* every reader runs before the flips start */
	for (int i = 0; i < READERS; i++)
		while (atomic_load(&rd[i].calls) == 0)
			sched_yield();
	/*
	 * refusals while the readers' answers bring it back, over and over:
	 * 20000 of them, and until the readers read the mode 100000 times
	 * more (10 s at most)
	 */
	unsigned long before = 0;
	for (int i = 0; i < READERS; i++)
		before += atomic_load(&rd[i].calls);
	uint64_t t0 = clock_mono_ns();
	for (int i = 0;; i++) {
		recstate_refused(rs, &a, 100 * S);
		mode_at(l, REC_PHASE_IDLE, 100 * S);
		unsigned long during = 0;
		for (int j = 0; j < READERS; j++)
			during += atomic_load(&rd[j].calls);
		if ((i >= 20000 && during - before >= 100000) || clock_mono_ns() - t0 > 10 * S)
			break;
	}
	/* the last input: up (a reader's answer or this one) */
	recstate_answer(rs, &a, 100 * S, 100 * S);
	atomic_store(&stop_readers, 1);
	unsigned long calls = 0;
	for (int i = 0; i < READERS; i++) {
		pthread_join(t[i], NULL);
		calls += atomic_load(&rd[i].calls);
	}
	capture_end();
	enum peer_mode m = mode_at(l, REC_PHASE_IDLE, 100 * S);
	print_message("%lu mode reads by %d threads; last mode %d\n", calls, READERS, m);
	assert_false(recstate_down(rs));
	assert_int_equal(m, PEER_HEDGE);
	for (int i = 0; i < READERS; i++)
		assert_int_equal(rd[i].last, m);
	liveness_destroy(l);
	recstate_destroy(rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(one_view_for_all),
		cmocka_unit_test(shield_max_from_return), cmocka_unit_test(summary_of_members),
		cmocka_unit_test(warmed_set),           cmocka_unit_test(threads_converge),
		cmocka_unit_test(late_answer_and_missed_down),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
