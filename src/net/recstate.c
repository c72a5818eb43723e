/* recstate.c: whether the local Recursor is up, as every part of a node sees it; see recstate.h */
#include "config.h"

#include "net/recstate.h"

#include "net/rootprobe.h"

#include "base/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct recstate {
	atomic_int down;                /* loaded on every answer; written when it changes */
	_Atomic uint64_t downs;         /* times taken for down */
	_Atomic uint64_t certain_downs; /* of them, certain (or made certain) */
	_Atomic uint64_t by_cause[RECSTATE_CAUSES]; /* of them, by what took it for down first */
	_Atomic uint64_t up_ns;         /* when last taken for up again */
	_Atomic uint64_t down_ns;       /* when last taken for down, or refused while down */
	_Atomic uint64_t down_since;    /* when last taken for down */
	atomic_int cause;               /* enum recstate_cause of the last down */
	atomic_uint probe_timeouts;     /* probes in a row not answered in time */
	_Atomic uint64_t answered_ns;   /* a client query was answered then (told at most every 0.1 s a thread) */
	pthread_mutex_t lock;           /* every change of down (and what goes with it) */
	uint64_t timeouts_said_ns;      /* under lock: when a down for timeouts was last logged */
	int down_said;                  /* under lock: this down was logged (its up is, too) */
	char *upstream;
};

struct recstate *recstate_create(const char *upstream)
{
	struct recstate *rs = calloc(1, sizeof(*rs));
	if (!rs || !(rs->upstream = strdup(upstream ? upstream : "upstream"))) {
		free(rs);
		return NULL;
	}
	pthread_mutex_init(&rs->lock, NULL);
	atomic_init(&rs->down, 0);
	atomic_init(&rs->downs, 0);
	atomic_init(&rs->certain_downs, 0);
	for (int i = 0; i < RECSTATE_CAUSES; i++)
		atomic_init(&rs->by_cause[i], 0);
	atomic_init(&rs->up_ns, 0);
	atomic_init(&rs->down_ns, 0);
	atomic_init(&rs->down_since, 0);
	atomic_init(&rs->cause, RECSTATE_NONE);
	atomic_init(&rs->probe_timeouts, 0);
	atomic_init(&rs->answered_ns, 0);
	return rs;
}

void recstate_destroy(struct recstate *rs)
{
	if (!rs)
		return;
	pthread_mutex_destroy(&rs->lock);
	free(rs->upstream);
	free(rs);
}

const char *recstate_cause_text(enum recstate_cause c)
{
	switch (c) {
	case RECSTATE_REFUSED:
		return "its client queries were refused";
	case RECSTATE_TIMEOUTS:
		return "client queries in a row timed out";
	case RECSTATE_PROBE:
		return "its probes were not answered";
	default:
		return "";
	}
}

/*
 * Takes it for down at now unless it is already (the count first, so that
 * whoever sees the flag sees the count); a certain cause makes a down for
 * timeouts certain. 1 when it was up.
 */
static int take_down(struct recstate *rs, enum recstate_cause cause, const char *why, uint64_t now)
{
	int news = 0, say = 0;
	pthread_mutex_lock(&rs->lock);
	if (!atomic_load(&rs->down)) {
		atomic_store(&rs->down_ns, now);
		atomic_store(&rs->down_since, now);
		atomic_store(&rs->cause, cause);
		if (cause != RECSTATE_TIMEOUTS)
			atomic_fetch_add(&rs->certain_downs, 1);
		atomic_fetch_add(&rs->by_cause[cause], 1);
		atomic_fetch_add(&rs->downs, 1);
		atomic_store(&rs->down, 1);
		news = 1;
		say = cause != RECSTATE_TIMEOUTS || !rs->timeouts_said_ns ||
		      now - rs->timeouts_said_ns >= (uint64_t)RECSTATE_TIMEOUTS_LOG * 1000000000u;
		if (say && cause == RECSTATE_TIMEOUTS)
			rs->timeouts_said_ns = now;
		rs->down_said = say;
	} else if (cause != RECSTATE_TIMEOUTS && atomic_load(&rs->cause) == RECSTATE_TIMEOUTS) {
		atomic_store(&rs->cause, cause); /* slow names, or down: down */
		atomic_fetch_add(&rs->certain_downs, 1);
		say = rs->down_said = 1;
	}
	pthread_mutex_unlock(&rs->lock);
	if (!say)
		return news;
	if (cause == RECSTATE_TIMEOUTS)
		log_warn("upstream '%s' taken for down: %d client queries in a row timed out (such lines at most "
			 "once every %d s)",
			 rs->upstream, RECSTATE_DOWN_TIMEOUTS, RECSTATE_TIMEOUTS_LOG);
	else
		log_warn("upstream '%s' taken for down: %s%s%s%s", rs->upstream, recstate_cause_text(cause),
			 why ? " (" : "", why ? why : "", why ? ")" : "");
	return news;
}

/* Refused while down: not listening now either, so answers to queries sent before now are old too */
static void move_down_on(struct recstate *rs, uint64_t now)
{
	uint64_t d = atomic_load_explicit(&rs->down_ns, memory_order_relaxed);
	while (d < now && !atomic_compare_exchange_weak(&rs->down_ns, &d, now))
		;
}

/* A certain sign at now: down unless it is already for certain; when it is, the down moves on */
static int certain_down(struct recstate *rs, enum recstate_cause cause, const char *why, uint64_t now)
{
	if (atomic_load(&rs->down) && atomic_load(&rs->cause) != RECSTATE_TIMEOUTS) {
		move_down_on(rs, now); /* the common case while down: no lock */
		return 0;
	}
	int news = take_down(rs, cause, why, now);
	if (!news)
		move_down_on(rs, now);
	return news;
}

/* Taken for up by an answer to something sent at sent */
static void take_up(struct recstate *rs, const char *by, uint64_t sent, uint64_t now)
{
	if (!atomic_load_explicit(&rs->down, memory_order_relaxed))
		return; /* the common case: nothing shared is written */
	int news = 0, say = 0;
	uint64_t was = 0;
	pthread_mutex_lock(&rs->lock);
	/* an answer to a query sent before the down says nothing of now (the old process sent it) */
	if (atomic_load(&rs->down) && sent >= atomic_load(&rs->down_ns)) {
		was = atomic_load(&rs->down_since);
		atomic_store(&rs->up_ns, now);
		atomic_store(&rs->down, 0);
		news = 1;
		say = rs->down_said;
	}
	pthread_mutex_unlock(&rs->lock);
	if (news)
		atomic_store(&rs->probe_timeouts, 0);
	if (say)
		log_info("upstream '%s' taken for up again: it answered %s, %.1f s after it was taken for down",
			 rs->upstream, by, now > was ? (double)(now - was) / 1e9 : 0.0);
}

int recstate_refused(struct recstate *rs, struct recstate_view *v, uint64_t now_ns)
{
	certain_down(rs, RECSTATE_REFUSED, NULL, now_ns);
	uint64_t d = atomic_load(&rs->downs);
	if (v->rescued == d)
		return 0;
	v->rescued = d;
	return 1;
}

void recstate_timeout(struct recstate *rs, struct recstate_view *v, uint64_t sent_ns, uint64_t now_ns)
{
	uint64_t up = atomic_load(&rs->up_ns);
	if (up != v->up_seen) { /* back since this thread's last timeout: its run starts again */
		v->up_seen = up;
		v->timeouts = 0;
	}
	if (sent_ns < v->last_answer_ns || sent_ns < up)
		return; /* sent while it was down, before it answered again */
	if (++v->timeouts < RECSTATE_DOWN_TIMEOUTS || atomic_load(&rs->down))
		return;
	take_down(rs, RECSTATE_TIMEOUTS, NULL, now_ns);
}

void recstate_answer(struct recstate *rs, struct recstate_view *v, uint64_t sent_ns, uint64_t now_ns)
{
	v->last_answer_ns = now_ns;
	v->timeouts = 0;
	if (now_ns - v->published_ns >= RECSTATE_ANSWER_NOTE_NS) { /* rarely: a shared line written */
		v->published_ns = now_ns;
		atomic_store_explicit(&rs->answered_ns, now_ns, memory_order_relaxed);
	}
	take_up(rs, "a client query", sent_ns, now_ns);
}

void recstate_probe(struct recstate *rs, enum recstate_probe_result r, const char *why, uint64_t sent_ns,
		    uint64_t now_ns)
{
	if (r == RECSTATE_PROBE_ANSWERED) {
		atomic_store(&rs->probe_timeouts, 0);
		take_up(rs, "a probe", sent_ns, now_ns);
		return;
	}
	if (sent_ns < atomic_load(&rs->up_ns))
		return; /* sent before it came back: says nothing of now */
	if (r == RECSTATE_PROBE_TIMEOUT && atomic_load_explicit(&rs->answered_ns, memory_order_relaxed) > sent_ns) {
		atomic_store(&rs->probe_timeouts, 0); /* clients are answered: the probe was lost, not the Recursor */
		return;
	}
	if (r == RECSTATE_PROBE_TIMEOUT && atomic_fetch_add(&rs->probe_timeouts, 1) + 1 < RECSTATE_DOWN_PROBES)
		return;
	/* refused now; or not answered since it was sent: an answer to a query sent later counts */
	certain_down(rs, RECSTATE_PROBE, why, r == RECSTATE_PROBE_REFUSED ? now_ns : sent_ns);
}

void recstate_probed(struct recstate *rs, int rc, const char *why, uint64_t sent_ns, uint64_t now_ns)
{
	if (rc == ROOTPROBE_LOCAL)
		return;
	recstate_probe(rs,
		       rc == 0			     ? RECSTATE_PROBE_ANSWERED
		       : rc == ROOTPROBE_TIMEOUT ? RECSTATE_PROBE_TIMEOUT
						 : RECSTATE_PROBE_REFUSED,
		       rc == 0 ? NULL : why, sent_ns, now_ns);
}

int recstate_down(const struct recstate *rs)
{
	return atomic_load_explicit(&rs->down, memory_order_relaxed);
}

uint64_t recstate_downs(const struct recstate *rs)
{
	return atomic_load_explicit(&rs->downs, memory_order_acquire);
}

void recstate_downs_by_cause(const struct recstate *rs, uint64_t out[RECSTATE_CAUSES])
{
	for (int i = 0; i < RECSTATE_CAUSES; i++)
		out[i] = atomic_load_explicit(&rs->by_cause[i], memory_order_relaxed);
}

uint64_t recstate_certain_downs(const struct recstate *rs)
{
	return atomic_load(&rs->certain_downs);
}

uint64_t recstate_up_ns(const struct recstate *rs)
{
	return atomic_load(&rs->up_ns);
}

uint64_t recstate_down_ns(const struct recstate *rs)
{
	return atomic_load(&rs->down_ns);
}

uint64_t recstate_down_since(const struct recstate *rs)
{
	return atomic_load(&rs->down_since);
}

enum recstate_cause recstate_cause(const struct recstate *rs)
{
	return (enum recstate_cause)atomic_load(&rs->cause);
}

void recstate_snapshot(struct recstate *rs, struct recstate_snap *snap)
{
	pthread_mutex_lock(&rs->lock);
	snap->down = atomic_load(&rs->down);
	snap->downs = atomic_load(&rs->downs);
	snap->up_ns = atomic_load(&rs->up_ns);
	pthread_mutex_unlock(&rs->lock);
}
