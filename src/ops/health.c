/*
 * health.c: the upstream probe thread behind GET /health; see health.h.
 *
 * The thread wakes every 0.5 s (so that a stop is quick and a hot-list
 * write is noticed within a second) and probes every HEALTH_INTERVAL. The
 * result is kept under a mutex that only this thread and readers take,
 * never the data path.
 */
#include "config.h"

#include "ops/health.h"

#include "net/recstate.h"
#include "net/rootprobe.h"

#include "base/clock.h"
#include "base/log.h"
#include "dns/dnsmsg.h"
#include "nats/publisher.h"
#include "net/netaddr.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HEALTH_TICK_MS 500

struct health {
	char *upstream;
	struct netaddr addr;
	struct publisher *pub;
	struct recstate *rec;     /* whether the upstream is down, whoever saw it: borrowed, or own_rec */
	struct recstate *own_rec; /* made here: none was given */
	pthread_t thread;
	atomic_int stop;
	pthread_mutex_t lock;
	struct health_state st; /* under lock: the last probe's verdict (judge() adds the recstate's) */
	int said_up;            /* the verdict last logged (the probe thread's own) */
	uint64_t hot_writes;    /* the probe thread's own */
};

/*
 * The verdict: the last probe's, unless the upstream is taken for down for
 * certain, by anyone (recstate.h: a refused client query, the probes): then
 * it is unhealthy at once, without waiting for the next probe. Client
 * queries timing out may be slow names: the next probe says whether it
 * answers.
 */
static void judge(const struct health *h, struct health_state *st)
{
	uint64_t by[RECSTATE_CAUSES];
	recstate_downs_by_cause(h->rec, by);
	st->downs_refused = by[RECSTATE_REFUSED];
	st->downs_timeouts = by[RECSTATE_TIMEOUTS];
	st->downs_probes = by[RECSTATE_PROBE];
	if (!h->upstream || !recstate_down(h->rec))
		return;
	enum recstate_cause c = recstate_cause(h->rec);
	if (c == RECSTATE_TIMEOUTS || (c == RECSTATE_PROBE && !st->up))
		return; /* its own probe's line says it best */
	uint64_t now = clock_mono_ns(), at = recstate_down_since(h->rec);
	st->up = 0;
	st->probed = 1;
	snprintf(st->reason, sizeof(st->reason), "upstream '%s' does not answer: %s, since %.1f s", h->upstream,
		 recstate_cause_text(c), now > at ? (double)(now - at) / 1e9 : 0.0);
}

/* One probe: 0 with the rcode in *rcode, or a ROOTPROBE_ code with what went wrong in why */
static int probe(struct health *h, int *rcode, double *took, char *why, size_t why_size)
{
	return rootprobe_ask((struct sockaddr *)&h->addr.ss, h->addr.len, HEALTH_TIMEOUT, rcode, took, why,
			     why_size);
}

static void *health_thread(void *arg)
{
	struct health *h = arg;
	double next_probe = 0;
	while (!atomic_load(&h->stop)) {
		struct publisher_stats ps = {0};
		if (h->pub)
			publisher_get_stats(h->pub, &ps);
		double now = clock_mono();
		pthread_mutex_lock(&h->lock);
		h->st.nats_connected = ps.connected;
		if (ps.hot_writes != h->hot_writes) {
			h->hot_writes = ps.hot_writes;
			h->st.last_hot_write = clock_unix();
		}
		pthread_mutex_unlock(&h->lock);
		if (now >= next_probe) {
			char why[160], line[256], rc[16];
			int rcode = 0, up, rc_probe;
			double took = 0;
			uint64_t sent = clock_mono_ns();
			if (!h->upstream) {
				up = 1;
				snprintf(line, sizeof(line), "ok: no upstream to probe");
			} else if ((rc_probe = probe(h, &rcode, &took, why, sizeof(why))) < 0) {
				up = 0;
				char whose[200];
				snprintf(whose, sizeof(whose), "/health's: %s", why);
				recstate_probed(h->rec, rc_probe, whose, sent, clock_mono_ns());
				snprintf(line, sizeof(line), "upstream '%s' does not answer: %s",
					 h->upstream, why);
			} else {
				recstate_probed(h->rec, 0, NULL, sent, clock_mono_ns());
				up = rcode == 0;
				snprintf(line, sizeof(line),
					 "%supstream '%s' answers %s in %.0f ms", up ? "ok: " : "",
					 h->upstream, dnsmsg_rcode_to_text(rcode, rc), took * 1000);
			}
			pthread_mutex_lock(&h->lock);
			h->st.up = up;
			h->st.probed = 1;
			snprintf(h->st.reason, sizeof(h->st.reason), "%s", line);
			pthread_mutex_unlock(&h->lock);
			next_probe = clock_mono() + HEALTH_INTERVAL;
		}
		/* a change of the verdict is logged, whoever's news it was (every tick: the recstate may change) */
		struct health_state v;
		health_get(h, &v);
		if (v.probed && h->said_up >= 0 && v.up != h->said_up)
			log_info("health: %s", v.reason);
		if (v.probed)
			h->said_up = v.up;
		poll(NULL, 0, HEALTH_TICK_MS);
	}
	return NULL;
}

struct health *health_create(const char *upstream, struct publisher *pub, struct recstate *rec,
			     char *err, size_t err_size)
{
	struct health *h = calloc(1, sizeof(*h));
	if (!h || (upstream && !(h->upstream = strdup(upstream))) ||
	    (!(h->rec = rec) && !(h->rec = h->own_rec = recstate_create(upstream)))) {
		if (h)
			free(h->upstream);
		free(h);
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	if (upstream && netaddr_parse(upstream, 53, &h->addr) < 0) {
		snprintf(err, err_size, "bad upstream address '%s'", upstream);
		recstate_destroy(h->own_rec);
		free(h->upstream);
		free(h);
		return NULL;
	}
	h->said_up = -1; /* the first verdict is not logged, only its changes */
	h->pub = pub;
	atomic_init(&h->stop, 0);
	pthread_mutex_init(&h->lock, NULL);
	snprintf(h->st.reason, sizeof(h->st.reason), "starting: no probe yet");
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = pthread_create(&h->thread, NULL, health_thread, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, err_size, "cannot start the health thread: %s", strerror(rc));
		pthread_mutex_destroy(&h->lock);
		recstate_destroy(h->own_rec);
		free(h->upstream);
		free(h);
		return NULL;
	}
	return h;
}

void health_get(const struct health *h, struct health_state *st)
{
	struct health *m = (struct health *)h; /* the lock is not part of the value */
	pthread_mutex_lock(&m->lock);
	*st = m->st;
	pthread_mutex_unlock(&m->lock);
	judge(h, st);
}

void health_destroy(struct health *h)
{
	if (!h)
		return;
	atomic_store(&h->stop, 1);
	pthread_join(h->thread, NULL);
	pthread_mutex_destroy(&h->lock);
	recstate_destroy(h->own_rec);
	free(h->upstream);
	free(h);
}
