/*
 * natslink.c: one owner's NATS news and said-once state; see natslink.h.
 *
 * The counters and flags are atomics (libnats' threads and the owner's
 * touch them); the lines and the connections are under the link's lock,
 * held for a copy at most.
 */
#include "config.h"

#include "nats/natslink.h"

#include "base/clock.h"
#include "base/log.h"
#include "base/names.h"
#include "base/notes.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct natslink {
	atomic_int refs;
	atomic_int failure_said;  /* the last failure kind said, -1: none since a connect */
	atomic_int closed_said;   /* a close for good said since a connect */
	atomic_int denied_said;   /* the first permissions violation said */
	atomic_uint_fast64_t denied;
	atomic_uint once;         /* enum natslink_once, one bit each */
	atomic_int closing;       /* connections closed on purpose whose closed callback is due */
	pthread_mutex_t lock;
	/* under lock */
	struct natslink_conn *conns[NATSLINK_CONNS]; /* open connections, found by their nc */
	int unreach_pending;
	double unreach_due;
	char unreach_shown[512];
	char denied_subject[NAMES_SUBJECT_MAX + 2]; /* quoted as the server quotes it */
	struct notes news;
};

struct natslink *natslink_new(void)
{
	struct natslink *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	atomic_init(&l->refs, 1);
	atomic_init(&l->failure_said, -1);
	pthread_mutex_init(&l->lock, NULL);
	return l;
}

void natslink_ref(struct natslink *l)
{
	atomic_fetch_add(&l->refs, 1);
}

void natslink_drop(struct natslink *l)
{
	if (!l || atomic_fetch_sub(&l->refs, 1) != 1)
		return;
	pthread_mutex_destroy(&l->lock);
	free(l);
}

int natslink_wait(struct natslink *l, double timeout)
{
	struct timespec ts = {0, 1000 * 1000};
	double end = clock_mono() + timeout;
	while (atomic_load(&l->closing) > 0) {
		if (clock_mono() >= end)
			return 0;
		nanosleep(&ts, NULL);
	}
	return 1;
}

int natslink_say(struct natslink *l, int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pthread_mutex_lock(&l->lock);
	int kept = notes_vadd(&l->news, level, fmt, ap);
	pthread_mutex_unlock(&l->lock);
	va_end(ap);
	return kept;
}

int natslink_next(struct natslink *l, int *level, char *text, size_t size)
{
	pthread_mutex_lock(&l->lock);
	int got = notes_next(&l->news, level, text, size);
	pthread_mutex_unlock(&l->lock);
	return got;
}

struct natslink_conn {
	struct natslink *l; /* a reference */
	atomic_int refs;    /* libnats' (the closed callback's) and natsconn_open's */
	int background;
	/* under l->lock */
	const void *nc; /* set by natslink_conn_attach */
	int slot;       /* in l->conns, -1: none */
	int closing, closed;
};

struct natslink_conn *natslink_conn_new(struct natslink *l, int background)
{
	struct natslink_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	natslink_ref(l);
	c->l = l;
	atomic_init(&c->refs, 2);
	c->background = background;
	c->slot = -1;
	return c;
}

void natslink_conn_attach(struct natslink_conn *c, const void *nc)
{
	struct natslink *l = c->l;
	int full = 0;
	pthread_mutex_lock(&l->lock);
	c->nc = nc;
	if (!c->closed) { /* the closed callback may have come already */
		full = 1;
		for (int i = 0; i < NATSLINK_CONNS; i++)
			if (!l->conns[i]) {
				l->conns[i] = c;
				c->slot = i;
				full = 0;
				break;
			}
	}
	pthread_mutex_unlock(&l->lock);
	if (full) /* more than an owner ever has: its close on purpose may then be said */
		natslink_say(l, LOG_LVL_DEBUG, "NATS: more than %d connections on one link",
			     NATSLINK_CONNS);
}

struct natslink *natslink_conn_link(const struct natslink_conn *c)
{
	return c->l;
}

void natslink_conn_drop(struct natslink_conn *c)
{
	if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	struct natslink *l = c->l;
	free(c);
	natslink_drop(l);
}

void natslink_closing(struct natslink *l, const void *nc)
{
	pthread_mutex_lock(&l->lock);
	for (int i = 0; i < NATSLINK_CONNS; i++) {
		struct natslink_conn *c = l->conns[i];
		if (c && c->nc == nc && !c->closing) {
			c->closing = 1;
			atomic_fetch_add(&l->closing, 1);
			break;
		}
	}
	pthread_mutex_unlock(&l->lock);
}

void natslink_connected(struct natslink *l)
{
	atomic_store(&l->failure_said, -1);
	atomic_store(&l->closed_said, 0);
	pthread_mutex_lock(&l->lock);
	l->unreach_pending = 0;
	pthread_mutex_unlock(&l->lock);
}

int natslink_conn_disconnected(struct natslink_conn *c)
{
	pthread_mutex_lock(&c->l->lock);
	int closing = c->closing;
	pthread_mutex_unlock(&c->l->lock);
	return !closing;
}

int natslink_failed(struct natslink *l, enum natsconn_failure f)
{
	if (f == NATSCONN_UNREACHABLE)
		return 0;
	return atomic_exchange(&l->failure_said, (int)f) != (int)f;
}

void natslink_count_denied(struct natslink *l, const char *subject)
{
	pthread_mutex_lock(&l->lock);
	snprintf(l->denied_subject, sizeof(l->denied_subject), "\"%s\"", subject);
	pthread_mutex_unlock(&l->lock);
}

uint64_t natslink_denied(const struct natslink *l)
{
	return atomic_load(&((struct natslink *)l)->denied);
}

/* detail: "Permissions Violation for Publish to "SUBJECT"" */
int natslink_denied_by(struct natslink *l, const char *detail)
{
	if (detail && strstr(detail, "Publish")) {
		pthread_mutex_lock(&l->lock);
		int ours = l->denied_subject[0] && strstr(detail, l->denied_subject);
		pthread_mutex_unlock(&l->lock);
		if (ours)
			atomic_fetch_add(&l->denied, 1);
	}
	return !atomic_exchange(&l->denied_said, 1);
}

int natslink_conn_closed(struct natslink_conn *c)
{
	struct natslink *l = c->l;
	pthread_mutex_lock(&l->lock);
	c->closed = 1;
	if (c->slot >= 0)
		l->conns[c->slot] = NULL;
	c->slot = -1;
	int ours = c->closing;
	if (ours)
		atomic_fetch_sub(&l->closing, 1);
	pthread_mutex_unlock(&l->lock);
	int f = atomic_load(&l->failure_said);
	if (ours || !c->background || (f != NATSCONN_AUTH && f != NATSCONN_TLS) ||
	    atomic_exchange(&l->closed_said, 1))
		return -1;
	return f;
}

void natslink_unreach_due(struct natslink *l, const char *shown, double due)
{
	pthread_mutex_lock(&l->lock);
	snprintf(l->unreach_shown, sizeof(l->unreach_shown), "%s", shown);
	l->unreach_due = due;
	l->unreach_pending = 1;
	pthread_mutex_unlock(&l->lock);
}

int natslink_tick(struct natslink *l, int connected, double now, char *shown, size_t size)
{
	pthread_mutex_lock(&l->lock);
	int due = l->unreach_pending && now >= l->unreach_due;
	if (due) {
		l->unreach_pending = 0;
		snprintf(shown, size, "%s", l->unreach_shown);
	}
	pthread_mutex_unlock(&l->lock);
	int f = atomic_load(&l->failure_said);
	return due && !connected && f != NATSCONN_AUTH && f != NATSCONN_TLS;
}

int natslink_once(struct natslink *l, unsigned what)
{
	unsigned bit = 1u << what;
	return !(atomic_fetch_or(&l->once, bit) & bit);
}

int natslink_said(struct natslink *l, unsigned what)
{
	return (atomic_load(&l->once) >> what) & 1;
}

void natslink_log(struct natslink *l)
{
	int level;
	char text[NATSLINK_LINE_MAX];
	if (!l)
		return;
	while (natslink_next(l, &level, text, sizeof(text)))
		log_msg(level, "%s", text);
}
