/*
 * publisher.c: the node's event publisher; see publisher.h.
 *
 * Threads and ownership:
 *   - the producer (data path) only touches the ring and the atomic
 *     counters it increments, through the sink;
 *   - the drain thread owns the hot table, the NS table and the batch
 *     buffer, and hands snapshots to the KV writer (kvwriter.h), which
 *     takes them over;
 *   - the drain thread also owns the connection: when libnats closed it for
 *     good (refused credentials, TLS), it opens a new one with backoff,
 *     swaps it in under nc_lock (publisher_get_stats reads it under the
 *     lock) and hands it to the KV writer, which destroys the old one once
 *     its own threads are done with it (kvwriter_set_connection).
 */
#include "config.h"

#include "publisher.h"

#include "clock.h"
#include "hot.h"
#include "hotlist.h"
#include "kvwriter.h"
#include "log.h"
#include "names.h"
#include "natsconn.h"
#include "nstable.h"
#include "ring.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PUBLISHER_IDLE_SLEEP_NS (5 * 1000 * 1000)
#define PUBLISHER_PAYLOAD_MARGIN 4096
#define PUBLISHER_CLOSED_CHECK 0.25 /* seconds between looks at a closed connection */

struct publisher {
	struct publisher_config cfg;
	char *url, *cluster, *node;
	char subject[NAMES_SUBJECT_MAX], node_key[NAMES_KEY_MAX];

	struct ring *ring;
	natsConnection *nc; /* written by the drain thread under nc_lock; read elsewhere under it */
	pthread_mutex_t nc_lock;
	char conn_name[200];
	struct kvwriter *kv;

	pthread_t thread;
	int started;
	atomic_int stop;

	atomic_uint_fast64_t submitted, dropped_full, published, dropped_nats, batches;
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

/* The sink: the data path's only entry */
static int publisher_push(void *ctx, const struct rm_event *ev)
{
	struct publisher *p = ctx;
	atomic_fetch_add_explicit(&p->submitted, 1, memory_order_relaxed);
	if (ring_push(p->ring, ev) < 0) {
		atomic_fetch_add_explicit(&p->dropped_full, 1, memory_order_relaxed);
		return -1;
	}
	return 0;
}

struct event_sink publisher_sink(struct publisher *p)
{
	struct event_sink s = {publisher_push, p};
	return s;
}

void publisher_get_stats(struct publisher *p, struct publisher_stats *st)
{
	struct kvwriter_stats ks;
	kvwriter_get_stats(p->kv, &ks);
	st->submitted = atomic_load(&p->submitted);
	st->dropped_full = atomic_load(&p->dropped_full);
	st->published = atomic_load(&p->published);
	st->dropped_nats = atomic_load(&p->dropped_nats);
	st->batches = atomic_load(&p->batches);
	st->hot_writes = ks.hot_writes;
	st->hot_write_errors = ks.hot_write_errors;
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

/* The batch size that fits both our buffer and the server's max payload */
static size_t batch_room(struct publisher *p, size_t bufsize)
{
	int64_t maxp = p->nc ? natsConnection_GetMaxPayload(p->nc) : 0;
	if (maxp > 1024 && (size_t)maxp - 512 < bufsize)
		return (size_t)maxp - 512;
	return bufsize;
}

static void publish_batch(struct publisher *p, struct event_batch *b, size_t bufsize)
{
	if (b->count == 0)
		return;
	size_t len = event_batch_finish(b);
	natsStatus s = natsConnection_Publish(p->nc, p->subject, b->buf, (int)len);
	if (s == NATS_OK) {
		atomic_fetch_add(&p->published, b->count);
		atomic_fetch_add(&p->batches, 1);
	} else {
		atomic_fetch_add(&p->dropped_nats, b->count);
	}
	event_batch_init(b, b->buf, batch_room(p, bufsize), p->cfg.client_ip);
}

/* Encodes the hot list and the NS table and hands both to the KV writer */
static void take_snapshot(struct publisher *p, struct hot_table *hot, struct hot_item *items,
			  uint64_t *gen, struct nstable *ns, struct nstable_item *ns_items)
{
	double now = clock_unix();
	size_t n = hot_top(hot, now, items, p->cfg.hot_publish);
	int64_t maxp = p->nc ? natsConnection_GetMaxPayload(p->nc) : 0;
	/* room for the KV headers; never below what one chunk needs */
	size_t chunk = maxp > 0 ? (size_t)maxp - (maxp > 8 * PUBLISHER_PAYLOAD_MARGIN ? PUBLISHER_PAYLOAD_MARGIN
										 : (size_t)maxp / 8)
				: 1024 * 1024 - PUBLISHER_PAYLOAD_MARGIN;
	if (chunk < 2048)
		chunk = 2048;
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

/* The drain thread's view of a closed connection being replaced */
struct reopen {
	double next_check; /* monotonic */
	double at;	   /* when to open the new one; 0: not closed */
	unsigned failures; /* closes in a row without a connect in between */
	unsigned seed;	   /* the jitter's */
};

/*
 * Opens a new connection when libnats closed the current one for good,
 * after natsconn_reopen_delay; the old one goes to the KV writer, which
 * destroys it when its threads are done with it. Drain thread only.
 */
static void maybe_reopen(struct publisher *p, struct reopen *r, double now)
{
	char err[512];
	if (now < r->next_check)
		return;
	r->next_check = now + PUBLISHER_CLOSED_CHECK;
	if (!r->at) {
		natsConnStatus st = natsConnection_Status(p->nc);
		if (st == NATS_CONN_STATUS_CONNECTED)
			r->failures = 0;
		if (st != NATS_CONN_STATUS_CLOSED)
			return;
		double delay = natsconn_reopen_delay(r->failures, rand_r(&r->seed) / (double)RAND_MAX);
		r->at = now + delay;
		log_debug("NATS connection closed: a new one in %.1f s", delay);
		return;
	}
	if (now < r->at)
		return;
	r->at = 0;
	if (r->failures < 1000)
		r->failures++;
	natsConnection *nc = natsconn_open(p->url, p->conn_name, 1, 2000, err, sizeof(err));
	if (!nc) {
		/* only a bad setting or no memory; the backoff bounds the lines */
		log_warn("cannot open a new NATS connection: %s (trying again)", err);
		return;
	}
	pthread_mutex_lock(&p->nc_lock);
	p->nc = nc;
	pthread_mutex_unlock(&p->nc_lock);
	kvwriter_set_connection(p->kv, nc);
	uint64_t n = atomic_fetch_add(&p->reopens, 1) + 1;
	log_info("opened a new NATS connection (reopen %llu)", (unsigned long long)n);
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
	struct reopen reopen = {.seed = (unsigned)(clock_mono() * 1e6) ^ (unsigned)(uintptr_t)p};

	if (!hot || !items || !buf || !ns || !ns_items) {
		log_err("event publisher: out of memory, no events are published");
		goto out;
	}
	event_batch_init(&batch, buf, batch_room(p, bufsize), p->cfg.client_ip);
	next_hot = clock_mono() + hot_interval(p);
	for (;;) {
		int stopping = atomic_load(&p->stop);
		int got = 0;
		while (ring_pop(p->ring, &ev) == 0) {
			got++;
			if (ev.flags & EV_OUTGOING) {
				nstable_observe(ns, ev.client_family, ev.client, ev.latency_us,
						(ev.flags & EV_NS_TIMEOUT) != 0, ev.time_us / 1e6);
				atomic_fetch_add(&p->ns_observations, 1);
				continue;
			}
			if (hot_eligible(&ev))
				hot_add(hot, ev.qname, ev.qname_len, ev.qtype, ev.time_us / 1e6);
			if (batch.count == 0)
				batch_started = clock_mono();
			if (event_batch_add(&batch, &ev) < 0) {
				publish_batch(p, &batch, bufsize);
				batch_started = clock_mono();
				if (event_batch_add(&batch, &ev) < 0)
					atomic_fetch_add(&p->dropped_nats, 1);
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
		if (stopping)
			break;
		maybe_reopen(p, &reopen, now);
		natsconn_tick(p->nc, now);
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
	names_node_key(p->node_key, sizeof(p->node_key), cfg->cluster, cfg->node);
	if (!p->url || !p->cluster || !p->node || !(p->ring = ring_create(p->cfg.ring_size))) {
		snprintf(err, err_size, "out of memory");
		goto fail;
	}

	snprintf(p->conn_name, sizeof(p->conn_name), "recmesh %s/%s", cfg->cluster, cfg->node);
	if (!(p->nc = natsconn_open(cfg->nats_url, p->conn_name, 1, 2000, err, err_size)))
		goto fail;
	struct kvwriter_config kc = {
		.cluster = cfg->cluster,
		.node = cfg->node,
		.kv_replicas = cfg->kv_replicas,
		.intel_file = cfg->intel_file,
		.intel_max_age = cfg->intel_max_age,
	};
	if (!(p->kv = kvwriter_create(p->nc, &kc, err, err_size)))
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
	kvwriter_destroy(p->kv);
	if (p->nc) {
		natsConnection_FlushTimeout(p->nc, 1000);
		natsconn_close(p->nc);
	}
	ring_destroy(p->ring);
	pthread_mutex_destroy(&p->nc_lock);
	free(p->url);
	free(p->cluster);
	free(p->node);
	free(p);
}
