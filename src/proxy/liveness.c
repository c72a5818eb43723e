/* liveness.c: the restart shield, stepped once for every data path thread; see liveness.h */
#include "config.h"

#include "proxy/liveness.h"

#include "base/log.h"
#include "net/recphase.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct liveness {
	struct recstate *rec; /* borrowed: whether the local Recursor is down, and since when */
	/* loaded on every query; written when they change */
	atomic_int mode;           /* enum peer_mode after the last step */
	_Atomic uint64_t in_downs; /* the inputs of the last step: downs, down and the phase */
	atomic_int in_down;
	atomic_int in_phase;
	_Atomic uint64_t deadline_ns; /* the next step is due then without a change (the shield's end) */
	_Atomic uint64_t started, ended;
	atomic_int warmed_full_said;

	pthread_mutex_t lock; /* every change of the above, and the rest */
	struct peer_shield shield;
	uint64_t max_ns, last_now, start_ns;
	uint64_t shielded_ns; /* how long the last shield that ended lasted */
	double hedge_delay, shield_max;
	struct warmset *warmed;
	unsigned members;
	unsigned reported;     /* members that reported the last shield; UINT32_MAX: said (or none ended) */
	struct peer_stats sum; /* their reports */
};

struct liveness *liveness_create(struct recstate *rec, double hedge_delay, double shield_max,
				 struct warmset *warmed)
{
	struct liveness *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->rec = rec;
	pthread_mutex_init(&l->lock, NULL);
	peer_shield_init(&l->shield);
	l->hedge_delay = hedge_delay;
	l->shield_max = shield_max;
	l->max_ns = (uint64_t)(shield_max * 1e9);
	l->warmed = warmed;
	l->reported = UINT32_MAX; /* no summary waits */
	atomic_init(&l->mode, PEER_OFF);
	/* a down before it was made (a probe's) is not one to step for, unless it still is */
	atomic_init(&l->in_downs, recstate_downs(rec));
	atomic_init(&l->in_down, 0);
	atomic_init(&l->in_phase, REC_PHASE_IDLE);
	atomic_init(&l->deadline_ns, UINT64_MAX);
	atomic_init(&l->started, 0);
	atomic_init(&l->ended, 0);
	atomic_init(&l->warmed_full_said, 0);
	return l;
}

void liveness_destroy(struct liveness *l)
{
	if (!l)
		return;
	pthread_mutex_destroy(&l->lock);
	free(l);
}

/* Under the lock: the summary of the shield that ended (complete: every member reported) */
static void say_summary(struct liveness *l)
{
	char partial[64] = "";
	if (l->reported < l->members)
		snprintf(partial, sizeof(partial), " (the shares of %u of %u threads)", l->reported,
			 l->members);
	l->reported = UINT32_MAX; /* said */
	const struct peer_stats *s = &l->sum;
	log_info("peers: the upstream's restart was shielded for %.1f s: %llu queries to peers "
		 "(%llu while down, %llu while warming, %llu of them at once for names not warmed yet), "
		 "%llu answered first, %llu lost the race, "
		 "%llu failed, %llu not sent (rate %llu, in flight %llu, hedge queue %llu, all benched %llu)%s",
		 (double)l->shielded_ns / 1e9,
		 (unsigned long long)(s->sent_down + s->sent_warming + s->sent_cold),
		 (unsigned long long)s->sent_down, (unsigned long long)(s->sent_warming + s->sent_cold),
		 (unsigned long long)s->sent_cold, (unsigned long long)s->first,
		 (unsigned long long)s->lost_race, (unsigned long long)s->failed,
		 (unsigned long long)(s->limited_rate + s->limited_inflight + s->limited_queue + s->no_peer),
		 (unsigned long long)s->limited_rate, (unsigned long long)s->limited_inflight,
		 (unsigned long long)s->limited_queue, (unsigned long long)s->no_peer, partial);
}

static void summary_if_complete(struct liveness *l)
{
	if (l->reported != UINT32_MAX && l->reported >= l->members)
		say_summary(l);
}

void liveness_join(struct liveness *l)
{
	pthread_mutex_lock(&l->lock);
	l->members++;
	pthread_mutex_unlock(&l->lock);
}

void liveness_leave(struct liveness *l)
{
	pthread_mutex_lock(&l->lock);
	if (l->members)
		l->members--;
	if (l->reported > 0)
		summary_if_complete(l); /* it waited for this member only (none reported: nothing to say) */
	pthread_mutex_unlock(&l->lock);
}

int liveness_shielding(const struct liveness *l)
{
	return atomic_load_explicit(&l->mode, memory_order_acquire) != PEER_OFF;
}

/* Under the lock: one step of the shield with these inputs, and what follows from it */
static enum peer_mode shield_step(struct liveness *l, int phase, int down, uint64_t now)
{
	int ended;
	int was_active = l->shield.active;
	enum peer_mode old = atomic_load(&l->mode);
	enum peer_mode m = peer_shield_step(&l->shield, phase, down, now, l->max_ns, &ended);
	/*
	 * Down: what was warm before is gone. (A warm-up that starts without a
	 * down seen here clears the set itself before it replays: clearing at
	 * the shield's start would race with its first answers.)
	 */
	if (m == PEER_NOW && old != PEER_NOW && l->warmed) {
		warmset_clear(l->warmed);
		atomic_store(&l->warmed_full_said, 0);
	}
	if (!was_active && l->shield.active) {
		l->start_ns = now;
		atomic_fetch_add(&l->started, 1);
	}
	if (m != old) {
		if (m == PEER_NOW)
			log_warn("peers: the upstream does not answer: client queries go to a peer as well");
		else if (m == PEER_HEDGE)
			log_info("peers: the upstream is back and being warmed: queries unanswered after "
				 "%.0f ms go to a peer as well, for %.0f s at most",
				 l->hedge_delay * 1e3, l->shield_max);
	}
	if (ended) {
		if (l->reported != UINT32_MAX)
			say_summary(l); /* the last shield's, still waiting for a thread: what it has */
		l->shielded_ns = now - l->start_ns;
		memset(&l->sum, 0, sizeof(l->sum));
		l->reported = 0;
		atomic_fetch_add(&l->ended, 1);
	}
	atomic_store(&l->mode, m);
	return m;
}

/*
 * Under the lock: steps the shield with the inputs of now. The phase is
 * read here, under the lock, so that the steps see it change in the order
 * it changed whichever thread steps.
 */
static void step(struct liveness *l, const atomic_int *phasep, uint64_t now)
{
	int phase = phasep ? atomic_load(phasep) : REC_PHASE_IDLE;
	struct recstate_snap rs; /* together: a down being taken is seen whole or not at all */
	recstate_snapshot(l->rec, &rs);
	uint64_t downs = rs.downs;
	int down = rs.down;
	uint64_t prev = l->last_now;
	if (now < prev)
		now = prev; /* another thread's clock read a little later stepped first */
	l->last_now = now;
	int was_down = atomic_load(&l->in_down), was_phase_down = atomic_load(&l->in_phase) == REC_PHASE_DOWN;
	int missed = downs != atomic_load(&l->in_downs) && !down; /* down and up again since the last step */
	/*
	 * Seen down until now (or down in between): its return starts the
	 * clock, the answer that took it for up (between the last step and
	 * this one), or this step when the phase said down
	 */
	if ((was_down || was_phase_down || missed) && !down && phase != REC_PHASE_DOWN) {
		uint64_t back = now;
		if (was_down || missed) {
			back = rs.up_ns;
			back = back < prev ? prev : back > now ? now : back;
		}
		shield_step(l, phase, 1, back);
	}
	shield_step(l, phase, down, now);
	uint64_t deadline = UINT64_MAX;
	if (l->shield.active && l->shield.since_ns < UINT64_MAX - l->max_ns - 1)
		deadline = l->shield.since_ns + l->max_ns + 1;
	/* the mode and deadline first: a thread that sees the new inputs sees them too */
	atomic_store(&l->deadline_ns, deadline);
	atomic_store(&l->in_downs, downs);
	atomic_store(&l->in_down, down);
	atomic_store(&l->in_phase, phase);
}

enum peer_mode liveness_mode(struct liveness *l, const atomic_int *phasep, uint64_t now_ns)
{
	int phase = phasep ? atomic_load_explicit(phasep, memory_order_relaxed) : REC_PHASE_IDLE;
	if (atomic_load_explicit(&l->in_downs, memory_order_acquire) == recstate_downs(l->rec) &&
	    atomic_load_explicit(&l->in_down, memory_order_acquire) == recstate_down(l->rec) &&
	    atomic_load_explicit(&l->in_phase, memory_order_acquire) == phase &&
	    now_ns < atomic_load_explicit(&l->deadline_ns, memory_order_relaxed))
		return (enum peer_mode)atomic_load_explicit(&l->mode, memory_order_acquire);
	pthread_mutex_lock(&l->lock);
	step(l, phasep, now_ns);
	enum peer_mode m = atomic_load(&l->mode);
	pthread_mutex_unlock(&l->lock);
	return m;
}

uint64_t liveness_started(const struct liveness *l)
{
	return atomic_load_explicit(&l->started, memory_order_relaxed);
}

uint64_t liveness_ended(const struct liveness *l)
{
	return atomic_load_explicit(&l->ended, memory_order_acquire);
}

void liveness_report(struct liveness *l, uint64_t ended, const struct peer_stats *d)
{
	pthread_mutex_lock(&l->lock);
	if (ended == atomic_load(&l->ended) && l->reported != UINT32_MAX) {
		peer_stats_add(&l->sum, d);
		l->reported++;
		summary_if_complete(l);
	}
	pthread_mutex_unlock(&l->lock);
}

int liveness_say_warmed_full(struct liveness *l)
{
	int said = 0;
	return atomic_compare_exchange_strong(&l->warmed_full_said, &said, 1);
}
