/*
 * mirror.c: event batches and hot lists onto NATS; see mirror.h.
 *
 * Threads and ownership:
 *   - the producer (data path) only touches the ring and the atomic
 *     counters it increments;
 *   - the mirror thread owns the hot table and the batch buffer;
 *   - the KV thread owns the KV handles; the latest encoded hot list
 *     (snapshot) moves from the mirror thread to it under snap_lock, and the
 *     hot.get responder (a nats.c thread) reads it under the same lock.
 */
#include "config.h"

#include "mirror.h"

#include "clock.h"
#include "hot.h"
#include "hotlist.h"
#include "log.h"
#include "names.h"
#include "fleet.h"
#include "natsconn.h"
#include "nstable.h"
#include "ring.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIRROR_IDLE_SLEEP_NS (5 * 1000 * 1000)
#define MIRROR_PAYLOAD_MARGIN 4096

struct mirror {
	struct mirror_config cfg;
	char *url, *cluster, *node, *intel_path;
	char subject[256], hot_key[160], get_subject[256];

	struct ring *ring;
	natsConnection *nc;
	natsSubscription *get_sub;

	pthread_t mirror_thread, kv_thread;
	int mirror_started, kv_started;
	atomic_int stop;

	/* snapshot hand-over */
	pthread_mutex_t snap_lock;
	pthread_cond_t snap_cond;
	struct hotlist_chunk *pending; /* written by the KV thread next */
	size_t pending_n;
	struct hotlist_chunk *served; /* last written, answered on hot.get */
	size_t served_n;
	char *ns_pending; /* the NS table's KV value, written next */
	size_t ns_len;
	int kv_stop;

	atomic_uint_fast64_t submitted, dropped_full, published, dropped_nats, batches;
	atomic_uint_fast64_t hot_writes, hot_write_errors, hot_entries;
	atomic_uint_fast64_t ns_entries, ns_observations, intel_writes, intel_dead;
};

int mirror_submit(struct mirror *m, const struct rm_event *ev)
{
	atomic_fetch_add_explicit(&m->submitted, 1, memory_order_relaxed);
	if (ring_push(m->ring, ev) < 0) {
		atomic_fetch_add_explicit(&m->dropped_full, 1, memory_order_relaxed);
		return -1;
	}
	return 0;
}

void mirror_get_stats(struct mirror *m, struct mirror_stats *st)
{
	st->submitted = atomic_load(&m->submitted);
	st->dropped_full = atomic_load(&m->dropped_full);
	st->published = atomic_load(&m->published);
	st->dropped_nats = atomic_load(&m->dropped_nats);
	st->batches = atomic_load(&m->batches);
	st->hot_writes = atomic_load(&m->hot_writes);
	st->hot_write_errors = atomic_load(&m->hot_write_errors);
	st->hot_entries = atomic_load(&m->hot_entries);
	st->ns_entries = atomic_load(&m->ns_entries);
	st->ns_observations = atomic_load(&m->ns_observations);
	st->intel_writes = atomic_load(&m->intel_writes);
	st->intel_dead = atomic_load(&m->intel_dead);
	st->connected = m->nc && natsConnection_Status(m->nc) == NATS_CONN_STATUS_CONNECTED;
}

/* The batch size that fits both our buffer and the server's max payload */
static size_t batch_room(struct mirror *m, size_t bufsize)
{
	int64_t maxp = m->nc ? natsConnection_GetMaxPayload(m->nc) : 0;
	if (maxp > 1024 && (size_t)maxp - 512 < bufsize)
		return (size_t)maxp - 512;
	return bufsize;
}

static void publish_batch(struct mirror *m, struct event_batch *b, size_t bufsize)
{
	if (b->count == 0)
		return;
	size_t len = event_batch_finish(b);
	natsStatus s = natsConnection_Publish(m->nc, m->subject, b->buf, (int)len);
	if (s == NATS_OK) {
		atomic_fetch_add(&m->published, b->count);
		atomic_fetch_add(&m->batches, 1);
	} else {
		atomic_fetch_add(&m->dropped_nats, b->count);
	}
	event_batch_init(b, b->buf, batch_room(m, bufsize), m->cfg.client_ip);
}

/* Takes the hot list and hands it to the KV thread (replacing an unwritten one) */
static void take_snapshot(struct mirror *m, struct hot_table *hot, struct hot_item *items,
			  uint64_t *gen, struct nstable *ns, struct nstable_item *ns_items)
{
	double now = clock_unix();
	size_t n = hot_top(hot, now, items, m->cfg.hot_publish);
	int64_t maxp = m->nc ? natsConnection_GetMaxPayload(m->nc) : 0;
	/* room for the KV headers; never below what one chunk needs */
	size_t chunk = maxp > 0 ? (size_t)maxp - (maxp > 8 * MIRROR_PAYLOAD_MARGIN ? MIRROR_PAYLOAD_MARGIN : (size_t)maxp / 8)
				: 1024 * 1024 - MIRROR_PAYLOAD_MARGIN;
	if (chunk < 2048)
		chunk = 2048;
	struct hotlist_chunk *chunks;
	size_t nchunks;

	atomic_store(&m->hot_entries, hot_count(hot));
	if (hotlist_encode(items, n, m->node, now, ++*gen, chunk, &chunks, &nchunks) < 0) {
		log_err("cannot encode the hot list (%zu names)", n);
		return;
	}
	size_t ns_n = nstable_snapshot(ns, now, ns_items, m->cfg.ns_capacity), ns_len = 0;
	atomic_store(&m->ns_entries, nstable_count(ns));
	char *ns_text = nstable_encode(ns_items, ns_n, m->node, now, chunk, &ns_len);
	pthread_mutex_lock(&m->snap_lock);
	hotlist_chunks_free(m->pending, m->pending_n);
	m->pending = chunks;
	m->pending_n = nchunks;
	free(m->ns_pending);
	m->ns_pending = ns_text;
	m->ns_len = ns_len;
	pthread_cond_signal(&m->snap_cond);
	pthread_mutex_unlock(&m->snap_lock);
}

static void *mirror_main(void *arg)
{
	struct mirror *m = arg;
	struct hot_table *hot = hot_create(m->cfg.hot_capacity, m->cfg.hot_half_life);
	struct nstable *ns = nstable_create(m->cfg.ns_capacity, m->cfg.ns_max_age);
	struct nstable_item *ns_items = calloc(m->cfg.ns_capacity, sizeof(*ns_items));
	struct hot_item *items = calloc(m->cfg.hot_publish ? m->cfg.hot_publish : 1, sizeof(*items));
	size_t bufsize = m->cfg.batch_max_bytes;
	uint8_t *buf = malloc(bufsize);
	struct event_batch batch;
	struct rm_event ev;
	uint64_t gen = (uint64_t)clock_unix() * 1000; /* grows across restarts */
	double batch_started = 0, next_hot;

	if (!hot || !items || !buf || !ns || !ns_items) {
		log_err("mirror thread: out of memory, mirroring is off");
		goto out;
	}
	event_batch_init(&batch, buf, batch_room(m, bufsize), m->cfg.client_ip);
	next_hot = clock_mono() + m->cfg.hot_interval;
	for (;;) {
		int stopping = atomic_load(&m->stop);
		int got = 0;
		while (ring_pop(m->ring, &ev) == 0) {
			got++;
			if (ev.flags & EV_OUTGOING) {
				nstable_observe(ns, ev.client_family, ev.client, ev.latency_us,
						(ev.flags & EV_NS_TIMEOUT) != 0, ev.time_us / 1e6);
				atomic_fetch_add(&m->ns_observations, 1);
				continue;
			}
			if (hot_eligible(&ev))
				hot_add(hot, ev.qname, ev.qname_len, ev.qtype, ev.time_us / 1e6);
			if (batch.count == 0)
				batch_started = clock_mono();
			if (event_batch_add(&batch, &ev) < 0) {
				publish_batch(m, &batch, bufsize);
				batch_started = clock_mono();
				if (event_batch_add(&batch, &ev) < 0)
					atomic_fetch_add(&m->dropped_nats, 1);
			}
			if (got >= 4096 && !stopping)
				break; /* look at the clock now and then; drain all when stopping */
		}
		double now = clock_mono();
		if (batch.count && (stopping || now - batch_started >= m->cfg.batch_delay))
			publish_batch(m, &batch, bufsize);
		if (stopping || now >= next_hot) {
			take_snapshot(m, hot, items, &gen, ns, ns_items);
			next_hot = now + m->cfg.hot_interval;
		}
		if (stopping)
			break;
		if (!got) {
			struct timespec ts = {0, MIRROR_IDLE_SLEEP_NS};
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

static void chunk_key(const struct mirror *m, size_t i, char *key, size_t size)
{
	names_chunk_key(key, size, m->cluster, m->node, (unsigned)i);
}

/* Writes the continuation chunks first, then the head, so a reader that sees the head finds the rest */
static int write_hot(struct mirror *m, kvStore *kv, const struct hotlist_chunk *c, size_t n)
{
	char key[200], ebuf[256];
	for (size_t k = n; k-- > 0;) {
		chunk_key(m, k, key, sizeof(key));
		natsStatus s = kvStore_Put(NULL, kv, key, c[k].data, (int)c[k].len);
		if (s != NATS_OK) {
			log_warn("cannot write hot list key '%s': %s", key,
				 natsconn_strerror(s, ebuf, sizeof(ebuf)));
			return -1;
		}
	}
	return 0;
}

static void on_hot_get(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	struct mirror *m = closure;
	const char *reply = natsMsg_GetReply(msg);
	if (reply && *reply) {
		pthread_mutex_lock(&m->snap_lock);
		for (size_t i = 0; i < m->served_n; i++)
			natsConnection_Publish(nc, reply, m->served[i].data, (int)m->served[i].len);
		pthread_mutex_unlock(&m->snap_lock);
	}
	natsMsg_Destroy(msg);
}

/* Writes the NS table; the bucket handle is opened (and created) on first use */
static void write_ns(struct mirror *m, kvStore **nskv, jsCtx **nsjs, const char *text, size_t len)
{
	char err[512];
	if (!*nskv && natsconn_kv_open(m->nc, NAMES_NS_BUCKET, 1, m->cfg.kv_replicas, nsjs, nskv,
				       NULL, NULL, err, sizeof(err)) < 0) {
		log_debug("NS table not written: %s", err);
		return;
	}
	natsStatus s = kvStore_Put(NULL, *nskv, m->hot_key, text, (int)len);
	if (s != NATS_OK) {
		log_debug("NS table not written: %s", natsStatus_GetText(s));
		natsconn_kv_close(*nsjs, *nskv);
		*nsjs = NULL;
		*nskv = NULL;
	}
}

/* Refreshes the intelligence file from the fleet's merged NS table */
static void write_intel(struct mirror *m)
{
	char err[512];
	struct fleet_intel fi;
	if (fleet_write_intel(m->nc, m->cluster, m->cfg.intel_max_age, m->cfg.intel_file, 1, &fi,
			      err, sizeof(err)) < 0) {
		/* no NS bucket yet is normal and quiet; a file that cannot be written is not */
		if (fi.tables < 0)
			log_debug("intelligence file '%s' not refreshed: %s", m->cfg.intel_file, err);
		else
			log_warn("%s", err);
		return;
	}
	if (!fi.written)
		return;
	if ((uint64_t)fi.dead != atomic_load(&m->intel_dead))
		log_info("intelligence file '%s': %d dead server(s) of %zu known", m->cfg.intel_file,
			 fi.dead, fi.servers);
	atomic_store(&m->intel_dead, (uint64_t)fi.dead);
	atomic_fetch_add(&m->intel_writes, 1);
}

static void *kv_main(void *arg)
{
	struct mirror *m = arg;
	jsCtx *js = NULL, *nsjs = NULL;
	kvStore *kv = NULL, *nskv = NULL;
	char err[512];
	int warned = 0, ns_seen = 0;
	size_t last_n = 0;

	for (;;) {
		pthread_mutex_lock(&m->snap_lock);
		while (!m->pending && !m->kv_stop)
			pthread_cond_wait(&m->snap_cond, &m->snap_lock);
		struct hotlist_chunk *c = m->pending;
		size_t n = m->pending_n;
		char *ns_text = m->ns_pending;
		size_t ns_len = m->ns_len;
		int stopping = m->kv_stop;
		m->pending = NULL;
		m->pending_n = 0;
		m->ns_pending = NULL;
		pthread_mutex_unlock(&m->snap_lock);
		if (ns_text && natsConnection_Status(m->nc) == NATS_CONN_STATUS_CONNECTED) {
			/* even an empty table, so that a stale one in the bucket is replaced */
			if (ns_seen || (strchr(ns_text, '\n') && strchr(ns_text, '\n')[1] != '\0')) {
				write_ns(m, &nskv, &nsjs, ns_text, ns_len);
				ns_seen = 1;
			}
			if (m->cfg.intel_file)
				write_intel(m);
		}
		free(ns_text);
		if (!c)
			break;

		int ok = 0;
		if (natsConnection_Status(m->nc) != NATS_CONN_STATUS_CONNECTED) {
			if (!warned++)
				log_warn("hot list not written: not connected to NATS");
		} else {
			if (!kv && natsconn_kv_open(m->nc, NAMES_HOT_BUCKET, 1, m->cfg.kv_replicas,
						    &js, &kv, NULL, NULL, err, sizeof(err)) < 0) {
				if (!warned++)
					log_warn("hot list not written: %s (said once until it works)", err);
			} else if (write_hot(m, kv, c, n) == 0) {
				ok = 1;
			} else {
				/* the handle may be stale (bucket deleted, server replaced) */
				natsconn_kv_close(js, kv);
				js = NULL;
				kv = NULL;
			}
		}
		if (ok) {
			atomic_fetch_add(&m->hot_writes, 1);
			if (warned)
				log_info("hot list written again after %d failed attempts", warned);
			warned = 0;
			log_debug("hot list written: %zu chunk(s)", n);
			/* drop continuation chunks the previous, longer list left behind */
			for (size_t k = n; k < last_n; k++) {
				char key[200];
				chunk_key(m, k, key, sizeof(key));
				kvStore_Delete(kv, key);
			}
			last_n = n;
		} else {
			atomic_fetch_add(&m->hot_write_errors, 1);
		}
		pthread_mutex_lock(&m->snap_lock);
		hotlist_chunks_free(m->served, m->served_n);
		m->served = c;
		m->served_n = n;
		pthread_mutex_unlock(&m->snap_lock);
		if (stopping)
			break;
	}
	natsconn_kv_close(js, kv);
	natsconn_kv_close(nsjs, nskv);
	return NULL;
}

struct mirror *mirror_create(const struct mirror_config *cfg)
{
	char err[512];
	struct mirror *m;

	if (!names_valid(cfg->cluster) || !names_valid(cfg->node)) {
		log_err("cluster and node names may only hold letters, digits, '-' and '_'");
		return NULL;
	}
	if (!(m = calloc(1, sizeof(*m))))
		return NULL;
	m->cfg = *cfg;
	if (m->cfg.batch_max_bytes < 4096)
		m->cfg.batch_max_bytes = 4096;
	m->url = strdup(cfg->nats_url);
	m->cluster = strdup(cfg->cluster);
	m->node = strdup(cfg->node);
	m->cfg.nats_url = m->url;
	m->cfg.cluster = m->cluster;
	m->cfg.node = m->node;
	m->cfg.intel_file = NULL;
	if (cfg->intel_file && !(m->intel_path = strdup(cfg->intel_file)))
		goto fail;
	m->cfg.intel_file = m->intel_path;
	if (m->cfg.ns_capacity == 0)
		m->cfg.ns_capacity = 10000;
	names_traffic_subject(m->subject, sizeof(m->subject), cfg->cluster, cfg->node);
	names_hot_get_subject(m->get_subject, sizeof(m->get_subject), cfg->cluster);
	names_node_key(m->hot_key, sizeof(m->hot_key), cfg->cluster, cfg->node);
	pthread_mutex_init(&m->snap_lock, NULL);
	pthread_cond_init(&m->snap_cond, NULL);
	if (!m->url || !m->cluster || !m->node || !(m->ring = ring_create(cfg->ring_size)))
		goto fail;

	char name[200];
	snprintf(name, sizeof(name), "recmesh %s/%s", cfg->cluster, cfg->node);
	m->nc = natsconn_open(cfg->nats_url, name, 1, 2000, err, sizeof(err));
	if (!m->nc) {
		log_err("%s", err);
		goto fail;
	}
	if (m->cfg.batch_max_bytes > 1024 * 1024)
		m->cfg.batch_max_bytes = 1024 * 1024;
	natsStatus s = natsConnection_Subscribe(&m->get_sub, m->nc, m->get_subject, on_hot_get, m);
	if (s != NATS_OK)
		log_warn("cannot answer hot-list requests on '%s': %s", m->get_subject,
			 natsStatus_GetText(s));
	if (pthread_create(&m->kv_thread, NULL, kv_main, m) != 0)
		goto fail;
	m->kv_started = 1;
	if (pthread_create(&m->mirror_thread, NULL, mirror_main, m) != 0)
		goto fail;
	m->mirror_started = 1;
	log_info("mirroring events to '%s', hot list every %g s to KV '%s' key '%s'", m->subject,
		 cfg->hot_interval, NAMES_HOT_BUCKET, m->hot_key);
	return m;
fail:
	mirror_destroy(m);
	return NULL;
}

void mirror_destroy(struct mirror *m)
{
	if (!m)
		return;
	atomic_store(&m->stop, 1);
	if (m->mirror_started)
		pthread_join(m->mirror_thread, NULL);
	if (m->kv_started) {
		pthread_mutex_lock(&m->snap_lock);
		m->kv_stop = 1;
		pthread_cond_signal(&m->snap_cond);
		pthread_mutex_unlock(&m->snap_lock);
		pthread_join(m->kv_thread, NULL);
	}
	if (m->get_sub) {
		natsSubscription_Unsubscribe(m->get_sub);
		natsSubscription_Destroy(m->get_sub);
	}
	if (m->nc) {
		natsConnection_FlushTimeout(m->nc, 1000);
		natsconn_close(m->nc);
	}
	hotlist_chunks_free(m->pending, m->pending_n);
	hotlist_chunks_free(m->served, m->served_n);
	free(m->ns_pending);
	ring_destroy(m->ring);
	pthread_mutex_destroy(&m->snap_lock);
	pthread_cond_destroy(&m->snap_cond);
	free(m->url);
	free(m->cluster);
	free(m->node);
	free(m->intel_path);
	free(m);
}
