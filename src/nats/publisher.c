/*
 * publisher.c: the node's event publisher; see publisher.h.
 *
 * Threads and ownership:
 *   - a producer (a data path thread) only touches its own ring and the
 *     counters it increments, through its sink;
 *   - the drain thread owns the hot table, the NS table and the batch
 *     buffer, and hands snapshots to the KV writer (kvwriter.h), which
 *     takes them over;
 *   - the drain thread also owns the connection. The publisher starts
 *     without one: the drain thread has the first opened at once, and a
 *     new one with backoff whenever libnats closed the current one for good
 *     (refused credentials, TLS). Opening waits for the servers (up to
 *     2 s each for one that takes TCP and says nothing), so an opener
 *     thread does it (struct opening) while the drain thread goes on (its
 *     batches are dropped and counted meanwhile, as when NATS is down);
 *     the drain thread swaps the new connection in under nc_lock
 *     (publisher_get_stats reads it under the lock) and hands it to the KV
 *     writer, which destroys the old one once its own threads are done
 *     with it (kvwriter_set_connection). A stop does not wait for an
 *     opener: it closes what it opens when it is done (natsconn_hold).
 *   - every connection of the node, the drain thread's and the KV
 *     writer's, is opened with the publisher's link (natslink.h), which
 *     the opener holds a reference to; the drain thread logs its news
 *     every pass, and publisher_destroy once more at the end.
 */
#include "config.h"

#include "nats/publisher.h"

#include "base/clock.h"
#include "base/log.h"
#include "base/names.h"
#include "base/satsum.h"
#include "dns/ring.h"
#include "nats/kvwriter.h"
#include "nats/natsconn.h"
#include "tables/hot.h"
#include "tables/hotlist.h"
#include "tables/nstable.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PUBLISHER_IDLE_SLEEP_NS (5 * 1000 * 1000)
#define PUBLISHER_CLOSED_CHECK 0.25 /* seconds between looks at a closed connection */
#define PUBLISHER_CONNECT_TIMEOUT_MS 2000 /* per server, for every connect and reconnect */
#define PUBLISHER_CLOSE_WAIT 2.0 /* seconds a stop waits for libnats' last callbacks */

struct opening;

#define PUBLISHER_SETTLE_INTERVAL 0.5 /* seconds between flushes that settle sent batches */
#define PUBLISHER_SETTLE_FLUSH_MS 500 /* how long such a flush waits for the server */
#define PUBLISHER_UNSETTLED_MAX 4096  /* sent batches awaiting their fate, at most */

/* What the publisher says once while it lasts (log_once) */
enum publisher_said { SAID_MAX_PAYLOAD };

/*
 * Sent batches whose fate is not known yet (drain thread only). The server
 * refuses a publish it does not permit with an -ERR, not through
 * natsConnection_Publish's status: a batch counts as published only once
 * a flush has shown the server read it, and an interval later, when the
 * refusals read by then (natslink_denied, in order) have been matched to
 * the oldest such batches.
 */
struct settle {
	uint32_t count[PUBLISHER_UNSETTLED_MAX]; /* events per batch, a ring, oldest at head */
	size_t head, n;
	size_t flushed;	      /* the oldest this many were sent before the last good flush */
	uint64_t denied_seen; /* natslink_denied() when last read */
	uint64_t owed;	      /* refusals not yet matched to a batch */
	double next;	      /* monotonic */
};

/* One producer's queue: written by its thread only (the counters too), read by the drain thread */
struct producer {
	struct ring *ring;
	atomic_uint_fast64_t submitted, dropped_full;
} __attribute__((aligned(64)));

struct publisher {
	struct publisher_config cfg;
	char *url, *cluster, *node;
	char subject[NAMES_SUBJECT_MAX], node_key[NAMES_KEY_MAX];

	struct producer *prod; /* cfg.producers */
	natsConnection *nc; /* written by the drain thread under nc_lock; read elsewhere under it */
	struct natslink *link; /* what the node's connections say (natslink.h) */
	pthread_mutex_t nc_lock;
	char conn_name[200];
	struct kvwriter *kv;
	struct opening *opening; /* a connection being opened: the drain thread's (destroy's after the join) */

	pthread_t thread;
	int started;
	atomic_int stop;

	atomic_uint_fast64_t published, dropped_nats, batches;
	atomic_uint_fast64_t dropped_payload, dropped_denied;
	struct log_once said; /* enum publisher_said */
	struct settle settle; /* drain thread only */
	atomic_uint_fast64_t hot_entries, ns_entries, ns_observations;
	atomic_uint_fast64_t hot_interval_us;
	atomic_uint_fast64_t reopens; /* new connections opened after a close */ /* cfg.hot_interval, changed by a reload */
};

void publisher_set_hot_interval(struct publisher *p, double seconds)
{
	atomic_store(&p->hot_interval_us, (uint_fast64_t)(seconds * 1e6));
}

int publisher_set_intel_file(struct publisher *p, const char *path, char *err, size_t err_size)
{
	return kvwriter_set_intel_file(p->kv, path, err, err_size);
}

static double hot_interval(struct publisher *p)
{
	return atomic_load(&p->hot_interval_us) / 1e6;
}

/* One writer: a relaxed load and store make an increment */
static inline void bump(atomic_uint_fast64_t *c)
{
	uint_fast64_t v = atomic_load_explicit(c, memory_order_relaxed);
	if (v != UINT64_MAX)
		atomic_store_explicit(c, v + 1, memory_order_relaxed);
}

/* The sink: the data path's only entry */
static int publisher_push(void *ctx, const struct rm_event *ev)
{
	struct producer *q = ctx;
	bump(&q->submitted);
	if (ring_push(q->ring, ev) < 0) {
		bump(&q->dropped_full);
		return -1;
	}
	return 0;
}

struct event_sink publisher_sink(struct publisher *p)
{
	return publisher_sink_for(p, 0);
}

struct event_sink publisher_sink_for(struct publisher *p, unsigned k)
{
	struct event_sink s = {publisher_push, &p->prod[k < p->cfg.producers ? k : 0]};
	return s;
}

/* The next event of any producer, taking them in turn from *next on: 0, or -1 when all are empty */
static int pop_any(struct publisher *p, unsigned *next, struct rm_event *ev)
{
	unsigned n = p->cfg.producers;
	for (unsigned i = 0; i < n; i++) {
		unsigned k = (*next + i) % n;
		if (ring_pop(p->prod[k].ring, ev) == 0) {
			*next = (k + 1) % n;
			return 0;
		}
	}
	return -1;
}

void publisher_get_stats(struct publisher *p, struct publisher_stats *st)
{
	struct kvwriter_stats ks;
	kvwriter_get_stats(p->kv, &ks);
	st->submitted = st->dropped_full = 0;
	for (unsigned k = 0; k < p->cfg.producers; k++) {
		uint64_t a = atomic_load(&p->prod[k].submitted), b = atomic_load(&p->prod[k].dropped_full);
		st->submitted = sat_add_u64(st->submitted, a);
		st->dropped_full = sat_add_u64(st->dropped_full, b);
	}
	st->published = atomic_load(&p->published);
	st->dropped_nats = atomic_load(&p->dropped_nats);
	st->dropped_payload = atomic_load(&p->dropped_payload);
	st->dropped_denied = atomic_load(&p->dropped_denied);
	st->batches = atomic_load(&p->batches);
	st->hot_writes = ks.hot_writes;
	st->hot_write_errors = ks.hot_write_errors;
	st->hot_age = clock_mono() - ks.hot_last_ok;
	st->hot_stale = st->hot_age > HOTLIST_STALE_INTERVALS * hot_interval(p);
	st->hot_entries = atomic_load(&p->hot_entries);
	st->ns_entries = atomic_load(&p->ns_entries);
	st->ns_observations = atomic_load(&p->ns_observations);
	st->intel_writes = ks.intel_writes;
	st->intel_dead = ks.intel_dead;
	st->get_answered = ks.get_answered;
	st->get_refused_inbox = ks.get_refused_inbox;
	st->get_refused_repeat = ks.get_refused_repeat;
	st->get_refused_rate = ks.get_refused_rate;
	st->nats_reopens = atomic_load(&p->reopens);
	pthread_mutex_lock(&p->nc_lock);
	st->connected = p->nc && natsConnection_Status(p->nc) == NATS_CONN_STATUS_CONNECTED;
	pthread_mutex_unlock(&p->nc_lock);
}

/* The batch size that fits both our buffer and the server's max payload (0: not known yet) */
static size_t batch_room(struct publisher *p, size_t bufsize)
{
	int64_t maxp = p->nc ? natsConnection_GetMaxPayload(p->nc) : 0;
	return maxp > 0 && (uint64_t)maxp < bufsize ? (size_t)maxp : bufsize;
}

/* Events dropped because the server's max payload cannot carry them; said once */
static void drop_payload(struct publisher *p, uint64_t events, size_t bytes)
{
	atomic_fetch_add(&p->dropped_payload, events);
	if (log_once_enter(&p->said, SAID_MAX_PAYLOAD))
		log_warn("events dropped: %zu bytes do not fit the NATS server's max_payload of %lld "
			 "(said once; see recmesh_events_dropped_total{reason=\"max_payload\"})",
			 bytes, (long long)(p->nc ? natsConnection_GetMaxPayload(p->nc) : 0));
}

/* One sent batch's fate is known: published, or refused by the server */
static void settle_one(struct publisher *p, struct settle *st)
{
	uint32_t c = st->count[st->head];
	st->head = (st->head + 1) % PUBLISHER_UNSETTLED_MAX;
	st->n--;
	if (st->flushed)
		st->flushed--;
	if (st->owed) {
		st->owed--;
		atomic_fetch_add(&p->dropped_denied, c);
	} else {
		atomic_fetch_add(&p->published, c);
		atomic_fetch_add(&p->batches, 1);
	}
}

/* A batch of count events went to the server */
static void settle_sent(struct publisher *p, struct settle *st, uint32_t count)
{
	if (st->n == PUBLISHER_UNSETTLED_MAX)
		settle_one(p, st); /* no flush for this long: the oldest's fate stays unknown */
	st->count[(st->head + st->n) % PUBLISHER_UNSETTLED_MAX] = count;
	st->n++;
}

/*
 * Every PUBLISHER_SETTLE_INTERVAL (and when stopping): the batches the
 * last flush covered get the refusals read since (libnats has had the
 * interval to report them), then a new flush covers the ones sent since.
 * Stopping, it waits a moment for the last flush's refusals; a batch no
 * flush covered then is lost with the connection (dropped, reason nats).
 */
static void settle_tick(struct publisher *p, struct settle *st, double now, int stopping)
{
	if (!stopping && now < st->next)
		return;
	st->next = now + PUBLISHER_SETTLE_INTERVAL;
	for (int round = 0; round < (stopping ? 2 : 1); round++) {
		uint64_t d = natslink_denied(p->link);
		st->owed += d - st->denied_seen;
		st->denied_seen = d;
		while (st->flushed)
			settle_one(p, st);
		if (!st->n || !p->nc || natsConnection_Status(p->nc) != NATS_CONN_STATUS_CONNECTED ||
		    natsConnection_FlushTimeout(p->nc, PUBLISHER_SETTLE_FLUSH_MS) != NATS_OK)
			break;
		st->flushed = st->n;
		if (stopping) {
			struct timespec ts = {0, 200 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	}
	if (stopping) {
		for (; st->n; st->n--, st->head = (st->head + 1) % PUBLISHER_UNSETTLED_MAX)
			atomic_fetch_add(&p->dropped_nats, st->count[st->head]);
		st->flushed = 0;
	}
}

static void publish_batch(struct publisher *p, struct event_batch *b, size_t bufsize)
{
	if (b->count == 0)
		return;
	size_t len = event_batch_finish(b);
	/* before the first connection is opened, as when NATS is down: dropped */
	natsStatus s = p->nc ? natsConnection_Publish(p->nc, p->subject, b->buf, (int)len) : NATS_NOT_YET_CONNECTED;
	if (s == NATS_OK)
		settle_sent(p, &p->settle, b->count);
	else if (s == NATS_MAX_PAYLOAD) /* the server's limit fell since the batch began */
		drop_payload(p, b->count, len);
	else
		atomic_fetch_add(&p->dropped_nats, b->count);
	event_batch_init(b, b->buf, batch_room(p, bufsize), p->cfg.client_ip);
}

/* Encodes the hot list and the NS table and hands both to the KV writer */
static void take_snapshot(struct publisher *p, struct hot_table *hot, struct hot_item *items,
			  uint64_t *gen, struct nstable *ns, struct nstable_item *ns_items)
{
	double now = clock_unix();
	size_t n = hot_top(hot, now, items, p->cfg.hot_publish);
	int64_t maxp = p->nc ? natsConnection_GetMaxPayload(p->nc) : 0;
	size_t chunk = natsconn_kv_chunk_max(maxp);
	struct hotlist_chunk *chunks;
	size_t nchunks;

	atomic_store(&p->hot_entries, hot_count(hot));
	if (hotlist_encode(items, n, p->node, now, ++*gen, chunk, &chunks, &nchunks) < 0) {
		log_err("cannot encode the hot list (%zu names)", n);
		return;
	}
	size_t ns_n = nstable_snapshot(ns, now, ns_items, p->cfg.ns_capacity), ns_len = 0;
	atomic_store(&p->ns_entries, nstable_count(ns));
	char *ns_text = nstable_encode(ns_items, ns_n, p->node, now, chunk, &ns_len);
	kvwriter_submit(p->kv, chunks, nchunks, ns_text, ns_len);
}

/*
 * A connection being opened by its own thread: the opener fills it in, the
 * drain thread takes it. Two references, the opener's and the publisher's;
 * publisher_destroy drops its own without waiting, and an opener left alone
 * closes what it opened.
 */
struct opening {
	pthread_mutex_t lock;
	int refs; /* under lock */
	int done; /* under lock: nc and err are set */
	natsConnection *nc;
	char err[512];
	char *url;
	char name[200];
	struct natslink *link; /* a reference of the opener's */
};

static void opening_free(struct opening *o)
{
	natslink_drop(o->link);
	pthread_mutex_destroy(&o->lock);
	free(o->url);
	free(o);
}

static void *opener_main(void *arg)
{
	struct opening *o = arg;
	char err[512] = "";
	natsConnection *nc = natsconn_open(o->link, o->url, o->name, 1, PUBLISHER_CONNECT_TIMEOUT_MS, err,
					   sizeof(err));
	pthread_mutex_lock(&o->lock);
	int alone = --o->refs == 0;
	o->nc = nc;
	snprintf(o->err, sizeof(o->err), "%s", err);
	o->done = 1;
	pthread_mutex_unlock(&o->lock);
	if (alone) {
		/* the publisher is gone: wait for the close's callback, so the record is freed */
		natsconn_close(o->link, nc);
		natslink_wait(o->link, PUBLISHER_CLOSE_WAIT);
		opening_free(o);
	}
	natsconn_release();
	return NULL;
}

/* Starts an opener thread (detached: nobody waits for it); NULL with a reason */
static struct opening *opening_start(struct publisher *p, char *err, size_t err_size)
{
	struct opening *o = calloc(1, sizeof(*o));
	pthread_attr_t attr;
	pthread_t t;
	if (!o || !(o->url = strdup(p->url))) {
		free(o);
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&o->lock, NULL);
	o->refs = 2;
	natslink_ref(p->link);
	o->link = p->link;
	snprintf(o->name, sizeof(o->name), "%s", p->conn_name);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	natsconn_hold(); /* released by the opener when it is done */
	int rc = pthread_create(&t, &attr, opener_main, o);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		natsconn_release();
		opening_free(o);
		snprintf(err, err_size, "cannot start a thread to connect");
		return NULL;
	}
	return o;
}

/*
 * 1 when the opener is done: *nc is the new connection (NULL: err says why)
 * and o is freed; 0 while it still connects
 */
static int opening_take(struct opening *o, natsConnection **nc, char *err, size_t err_size)
{
	pthread_mutex_lock(&o->lock);
	int done = o->done;
	if (done) {
		*nc = o->nc;
		snprintf(err, err_size, "%s", o->err);
	}
	pthread_mutex_unlock(&o->lock);
	if (done)
		opening_free(o);
	return done;
}

/* The publisher stops: the opener, when still connecting, closes what it opens */
static void opening_abandon(struct opening *o)
{
	natsConnection *nc = NULL;
	char err[512];
	pthread_mutex_lock(&o->lock);
	int done = o->done;
	if (!done)
		o->refs--;
	pthread_mutex_unlock(&o->lock);
	if (done) {
		struct natslink *l = o->link;
		natslink_ref(l); /* opening_take frees o */
		if (opening_take(o, &nc, err, sizeof(err)))
			natsconn_close(l, nc);
		natslink_drop(l);
	}
	else if (!done)
		log_debug("a NATS connect still under way is left to finish and close on its own");
}

/* The drain thread's view of the connection being opened or replaced */
struct reopen {
	double next_check; /* monotonic */
	double at;	   /* when to open the next one; 0: none due */
	unsigned failures; /* closes and failed opens in a row without a connect in between */
	unsigned seed;	   /* the jitter's */
};

/* A new connection (or none: err) from the opener. Drain thread only. */
static void opened(struct publisher *p, struct reopen *r, natsConnection *nc, const char *err, double now)
{
	if (!nc) {
		/* only a bad setting or no memory; the backoff bounds the lines */
		double delay = natsconn_reopen_delay(r->failures, rand_r(&r->seed) / (double)RAND_MAX);
		if (r->failures < 1000)
			r->failures++;
		r->at = now + delay;
		log_warn("cannot open a NATS connection: %s (trying again in %.1f s)", err, delay);
		return;
	}
	int first = !p->nc;
	pthread_mutex_lock(&p->nc_lock);
	p->nc = nc;
	pthread_mutex_unlock(&p->nc_lock);
	kvwriter_set_connection(p->kv, nc);
	if (first)
		return; /* natsconn says how the connect went */
	uint64_t n = atomic_fetch_add(&p->reopens, 1) + 1;
	log_info("opened a new NATS connection (reopen %llu)", (unsigned long long)n);
}

/*
 * Has the first connection opened, and a new one when libnats closed the
 * current one for good, after natsconn_reopen_delay; the old one goes to
 * the KV writer, which destroys it when its threads are done with it.
 * Never waits for the network. Drain thread only.
 */
static void maybe_reopen(struct publisher *p, struct reopen *r, double now)
{
	char err[512];
	if (p->opening) {
		natsConnection *nc = NULL;
		if (opening_take(p->opening, &nc, err, sizeof(err))) {
			p->opening = NULL;
			opened(p, r, nc, err, now);
		}
		return;
	}
	if (now < r->next_check)
		return;
	r->next_check = now + PUBLISHER_CLOSED_CHECK;
	if (!r->at) {
		if (!p->nc)
			return; /* a failed open set r->at */
		natsConnStatus st = natsConnection_Status(p->nc);
		if (st == NATS_CONN_STATUS_CONNECTED)
			r->failures = 0;
		if (st != NATS_CONN_STATUS_CLOSED)
			return;
		double delay = natsconn_reopen_delay(r->failures, rand_r(&r->seed) / (double)RAND_MAX);
		r->at = now + delay;
		if (r->failures < 1000)
			r->failures++;
		log_debug("NATS connection closed: a new one in %.1f s", delay);
		return;
	}
	if (now < r->at)
		return;
	r->at = 0;
	if (!(p->opening = opening_start(p, err, sizeof(err))))
		opened(p, r, NULL, err, now);
}

static void *drain_main(void *arg)
{
	struct publisher *p = arg;
	struct hot_table *hot = hot_create(p->cfg.hot_capacity, p->cfg.hot_half_life);
	struct nstable *ns = nstable_create(p->cfg.ns_capacity, p->cfg.ns_max_age);
	struct nstable_item *ns_items = calloc(p->cfg.ns_capacity, sizeof(*ns_items));
	struct hot_item *items = calloc(p->cfg.hot_publish ? p->cfg.hot_publish : 1, sizeof(*items));
	size_t bufsize = p->cfg.batch_max_bytes;
	uint8_t *buf = malloc(bufsize);
	struct event_batch batch;
	struct rm_event ev;
	uint64_t gen = (uint64_t)clock_unix() * 1000; /* grows across restarts */
	double batch_started = 0, next_hot;
	unsigned next_prod = 0;
	/* the first connection is opened at once */
	struct reopen reopen = {.at = clock_mono(), .seed = (unsigned)(clock_mono() * 1e6) ^ (unsigned)(uintptr_t)p};

	if (!hot || !items || !buf || !ns || !ns_items) {
		log_err("event publisher: out of memory, no events are published");
		goto out;
	}
	event_batch_init(&batch, buf, batch_room(p, bufsize), p->cfg.client_ip);
	next_hot = clock_mono() + hot_interval(p);
	for (;;) {
		int stopping = atomic_load(&p->stop);
		int got = 0;
		while (pop_any(p, &next_prod, &ev) == 0) {
			got++;
			if (ev.flags & EV_OUTGOING) {
				/* the NS name the Recursor asked, when its stream carries one */
				char nsname[DNS_MAX_NAME_TEXT];
				int named = (ev.flags & EV_NS_NAME) &&
					    dnsmsg_name_to_text(ev.qname, ev.qname_len, nsname, sizeof(nsname)) > 0;
				nstable_observe_q(ns, ev.client_family, ev.client, ev.latency_us,
						  (ev.flags & EV_NS_TIMEOUT) != 0, ev.time_us / 1e6, named ? nsname : NULL,
						  ev.qkey);
				atomic_fetch_add(&p->ns_observations, 1);
				continue;
			}
			if (hot_eligible(&ev))
				hot_add(hot, ev.qname, ev.qname_len, ev.qtype, ev.time_us / 1e6);
			if (batch.count == 0) {
				batch_started = clock_mono();
				/* the server's max payload as it is now (known once connected) */
				event_batch_init(&batch, buf, batch_room(p, bufsize),
						 p->cfg.client_ip);
			}
			if (event_batch_add(&batch, &ev) < 0) {
				publish_batch(p, &batch, bufsize);
				batch_started = clock_mono();
				/* alone, it is larger than that */
				if (event_batch_add(&batch, &ev) < 0)
					drop_payload(p, 1, EVENT_HDR_LEN + EVENT_FIXED_LEN +
								   ev.qname_len);
			}
			if (got >= 4096 && !stopping)
				break; /* look at the clock now and then; drain all when stopping */
		}
		double now = clock_mono();
		if (batch.count && (stopping || now - batch_started >= p->cfg.batch_delay))
			publish_batch(p, &batch, bufsize);
		if (stopping || now >= next_hot) {
			take_snapshot(p, hot, items, &gen, ns, ns_items);
			next_hot = now + hot_interval(p);
		}
		settle_tick(p, &p->settle, now, stopping);
		if (stopping)
			break;
		maybe_reopen(p, &reopen, now);
		natsconn_tick(p->link, p->nc, now);
		natslink_log(p->link);
		if (!got) {
			struct timespec ts = {0, PUBLISHER_IDLE_SLEEP_NS};
			nanosleep(&ts, NULL);
		}
	}
out:
	hot_destroy(hot);
	nstable_destroy(ns);
	free(ns_items);
	free(items);
	free(buf);
	return NULL;
}

/* Fills in the defaults and the limits */
static void apply_defaults(struct publisher_config *c)
{
	if (c->ring_size == 0)
		c->ring_size = PUBLISHER_RING_SIZE;
	if (c->producers == 0)
		c->producers = 1;
	if (c->producers > PUBLISHER_PRODUCERS_MAX)
		c->producers = PUBLISHER_PRODUCERS_MAX;
	if (c->batch_delay <= 0)
		c->batch_delay = PUBLISHER_BATCH_DELAY;
	if (c->batch_max_bytes == 0)
		c->batch_max_bytes = PUBLISHER_BATCH_BYTES;
	if (c->batch_max_bytes < PUBLISHER_BATCH_BYTES_MIN)
		c->batch_max_bytes = PUBLISHER_BATCH_BYTES_MIN;
	if (c->batch_max_bytes > PUBLISHER_BATCH_BYTES_MAX)
		c->batch_max_bytes = PUBLISHER_BATCH_BYTES_MAX;
	if (c->ns_capacity == 0)
		c->ns_capacity = PUBLISHER_NS_CAPACITY;
	if (c->ns_max_age <= 0)
		c->ns_max_age = PUBLISHER_NS_MAX_AGE;
}

struct publisher *publisher_create(const struct publisher_config *cfg, char *err, size_t err_size)
{
	struct publisher *p;

	if (!names_valid(cfg->cluster) || !names_valid(cfg->node)) {
		snprintf(err, err_size, "cluster and node names may only hold letters, digits, '-' and '_'");
		return NULL;
	}
	if (!(p = calloc(1, sizeof(*p)))) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	p->cfg = *cfg;
	pthread_mutex_init(&p->nc_lock, NULL);
	publisher_set_hot_interval(p, cfg->hot_interval);
	apply_defaults(&p->cfg);
	p->url = strdup(cfg->nats_url);
	p->cluster = strdup(cfg->cluster);
	p->node = strdup(cfg->node);
	p->cfg.nats_url = p->url;
	p->cfg.cluster = p->cluster;
	p->cfg.node = p->node;
	p->cfg.intel_file = NULL; /* the KV writer keeps its own copy */
	names_traffic_subject(p->subject, sizeof(p->subject), cfg->cluster, cfg->node);
	if (!(p->link = natslink_new())) {
		snprintf(err, err_size, "out of memory");
		goto fail;
	}
	natslink_count_denied(p->link, p->subject);
	names_node_key(p->node_key, sizeof(p->node_key), cfg->cluster, cfg->node);
	if (!p->url || !p->cluster || !p->node ||
	    !(p->prod = aligned_alloc(64, sizeof(*p->prod) * p->cfg.producers))) {
		snprintf(err, err_size, "out of memory");
		goto fail;
	}
	memset(p->prod, 0, sizeof(*p->prod) * p->cfg.producers);
	/* the queue's room is shared out between the producers */
	size_t each = p->cfg.ring_size / p->cfg.producers;
	for (unsigned k = 0; k < p->cfg.producers; k++)
		if (!(p->prod[k].ring = ring_create(each < PUBLISHER_RING_MIN ? PUBLISHER_RING_MIN : each))) {
			snprintf(err, err_size, "out of memory");
			goto fail;
		}

	snprintf(p->conn_name, sizeof(p->conn_name), "recmesh %s/%s", cfg->cluster, cfg->node);
	/* a bad setting stops the start; connecting is the drain thread's (never waited for here) */
	if (natsconn_check(cfg->nats_url, err, err_size) < 0)
		goto fail;
	struct kvwriter_config kc = {
		.cluster = cfg->cluster,
		.node = cfg->node,
		.kv_replicas = cfg->kv_replicas,
		.intel_file = cfg->intel_file,
		.intel_max_age = cfg->intel_max_age,
	};
	if (!(p->kv = kvwriter_create(p->link, p->nc, &kc, err, err_size)))
		goto fail;
	if (pthread_create(&p->thread, NULL, drain_main, p) != 0) {
		snprintf(err, err_size, "cannot start the drain thread");
		goto fail;
	}
	p->started = 1;
	log_info("mirroring events to '%s', hot list every %g s to KV '%s' key '%s'", p->subject,
		 cfg->hot_interval, NAMES_HOT_BUCKET, p->node_key);
	return p;
fail:
	publisher_destroy(p);
	return NULL;
}

void publisher_destroy(struct publisher *p)
{
	if (!p)
		return;
	atomic_store(&p->stop, 1);
	if (p->started)
		pthread_join(p->thread, NULL); /* it hands a last snapshot to the KV writer */
	if (p->opening)
		opening_abandon(p->opening);
	kvwriter_destroy(p->kv);
	if (p->nc) {
		if (natsConnection_Status(p->nc) == NATS_CONN_STATUS_CONNECTED)
			natsConnection_FlushTimeout(p->nc, 1000);
		natsconn_close(p->link, p->nc);
	}
	if (p->link) {
		natslink_wait(p->link, PUBLISHER_CLOSE_WAIT);
		natslink_log(p->link);
		natslink_drop(p->link); /* the connections' closed callbacks drop theirs */
	}
	for (unsigned k = 0; p->prod && k < p->cfg.producers; k++)
		ring_destroy(p->prod[k].ring);
	free(p->prod);
	pthread_mutex_destroy(&p->nc_lock);
	free(p->url);
	free(p->cluster);
	free(p->node);
	free(p);
}
