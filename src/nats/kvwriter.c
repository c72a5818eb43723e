/*
 * kvwriter.c: the KV thread of a node's NATS side; see kvwriter.h.
 *
 * Threads and ownership:
 *   - the KV thread owns the KV handles and writes the snapshots;
 *   - the snapshot to write next (pending) comes from the publisher's drain
 *     thread under lock; the last written list (served) moves from the KV
 *     thread to the hot.get responder (a nats.c thread) under the same lock,
 *     as a reference: the responder publishes outside the lock;
 *   - a new connection (kvwriter_set_connection) is taken by the KV thread
 *     between two writes: it closes its KV handles, drops the hot.get
 *     subscription, waits for any responder still running, destroys the
 *     old connection (no other thread uses it by then) and subscribes on
 *     the new one;
 *   - kvwriter_destroy drains the hot.get subscription and waits for any
 *     responder still running (in_get) before it frees anything.
 */
#include "config.h"

#include "nats/kvwriter.h"

#include "base/clock.h"
#include "base/getlimit.h"
#include "base/log.h"
#include "base/names.h"
#include "nats/intel.h"
#include "nats/natsconn.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long shutdown waits for hot.get replies being sent */
#define KVWRITER_DRAIN_MS 2000
/* The longest an intelligence refresh on the KV thread takes (seconds) */
#define KVWRITER_INTEL_DEADLINE_MAX 5.0

struct kvwriter {
	natsConnection *nc;   /* the connection in use: KV thread (and create, destroy) only */
	struct natslink *link; /* the caller's, whose connections these are (borrowed) */
	natsConnection *given; /* the last connection the caller gave: the caller's; under lock */
	natsConnection *next;  /* a new connection not yet taken by the KV thread; under lock */
	char *cluster, *node, *intel_file;
	int kv_replicas;
	double intel_max_age;
	char node_key[NAMES_KEY_MAX], get_subject[NAMES_SUBJECT_MAX];
	natsSubscription *get_sub;

	pthread_t thread;
	int started;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct hotlist_chunk *pending; /* written by the KV thread next */
	size_t pending_n;
	struct served *served; /* last written, answered on hot.get (a reference) */
	pthread_cond_t idle;	/* signalled when the last hot.get callback leaves */
	unsigned in_get;	/* hot.get callbacks running; under lock */
	int closing;		/* destroy has begun: callbacks answer nothing; under lock */
	char *ns_pending; /* the NS table's KV value, written next */
	size_t ns_len;
	double last_submit, submit_interval; /* monotonic; the time between the last two snapshots */
	int stop;
	char *intel_next; /* a reload's new intelligence file, taken by the KV thread */
	int intel_changed;
	struct getlimit limit; /* which hot.get requests are answered; under lock */
	unsigned refused_said; /* bit per verdict: logged once */

	struct log_once intel_said; /* intelligence-file failures said, by enum intel_fail */
	struct log_once fleet_said; /* limits the NS reads reached, said once (fleet.h, enum fleet_once) */
	int intel_bound_said, intel_ns_bound_said;

	atomic_uint_fast64_t hot_writes, hot_write_errors, intel_writes, intel_dead;
	atomic_uint_fast64_t hot_last_ok_us; /* monotonic microseconds, see kvwriter_stats */
	atomic_uint_fast64_t get_answered, get_refused_inbox, get_refused_repeat, get_refused_rate;
};

/*
 * A written list shared by the KV thread and the hot.get callbacks: a
 * callback takes a reference under the lock and publishes outside it, so
 * a slow publish never stalls kvwriter_submit or the KV thread.
 */
struct served {
	struct hotlist_chunk *c;
	size_t n;
	unsigned refs; /* under the kvwriter's lock */
};

/* Drops a reference; call with the lock held */
static void served_put(struct served *s)
{
	if (s && --s->refs == 0) {
		hotlist_chunks_free(s->c, s->n);
		free(s);
	}
}

void kvwriter_set_connection(struct kvwriter *w, natsConnection *nc)
{
	natsConnection *dead = NULL;
	pthread_mutex_lock(&w->lock);
	/* one the KV thread never took: nobody uses it any more (the caller moved on) */
	if (w->next)
		dead = w->next;
	w->next = nc;
	w->given = nc;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	natsconn_close(w->link, dead);
}

void kvwriter_get_stats(struct kvwriter *w, struct kvwriter_stats *st)
{
	st->hot_writes = atomic_load(&w->hot_writes);
	st->hot_write_errors = atomic_load(&w->hot_write_errors);
	st->hot_last_ok = atomic_load(&w->hot_last_ok_us) / 1e6;
	st->intel_writes = atomic_load(&w->intel_writes);
	st->intel_dead = atomic_load(&w->intel_dead);
	st->get_answered = atomic_load(&w->get_answered);
	st->get_refused_inbox = atomic_load(&w->get_refused_inbox);
	st->get_refused_repeat = atomic_load(&w->get_refused_repeat);
	st->get_refused_rate = atomic_load(&w->get_refused_rate);
}

void kvwriter_submit(struct kvwriter *w, struct hotlist_chunk *chunks, size_t n, char *ns_text,
		     size_t ns_len)
{
	double now = clock_mono();
	pthread_mutex_lock(&w->lock);
	if (w->last_submit > 0)
		w->submit_interval = now - w->last_submit;
	w->last_submit = now;
	hotlist_chunks_free(w->pending, w->pending_n);
	w->pending = chunks;
	w->pending_n = n;
	free(w->ns_pending);
	w->ns_pending = ns_text;
	w->ns_len = ns_len;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static void chunk_key(const struct kvwriter *w, size_t i, char *key, size_t size)
{
	names_chunk_key(key, size, w->cluster, w->node, (unsigned)i);
}

/*
 * Writes the continuation chunks first, then the head, so a reader that
 * sees the head finds the rest. 0, or -1 with a reason (the caller says it
 * once until a write works: the same failure comes back every interval)
 */
static int write_hot(struct kvwriter *w, kvStore *kv, const struct hotlist_chunk *c, size_t n,
		     char *err, size_t err_size)
{
	char key[NAMES_KEY_MAX], ebuf[256];
	for (size_t k = n; k-- > 0;) {
		chunk_key(w, k, key, sizeof(key));
		natsStatus s = kvStore_Put(NULL, kv, key, c[k].data, (int)c[k].len);
		if (s != NATS_OK) {
			snprintf(err, err_size, "cannot write key '%s' (%zu bytes): %s", key,
				 c[k].len, natsconn_strerror(s, ebuf, sizeof(ebuf)));
			return -1;
		}
	}
	return 0;
}

/*
 * The hot.get responder (a nats.c thread): every chunk of the last written
 * list, to requests that getlimit.h admits (an inbox, once a second per
 * requester, GETLIMIT_RATE a second in all); the others are counted, and
 * the first of each kind is logged.
 */
static void on_hot_get(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	static const char *why[] = {"", "its reply subject is not an inbox",
				    "it asked again within the interval", "the request rate limit"};
	struct kvwriter *w = closure;
	const char *reply = natsMsg_GetReply(msg);
	struct served *list = NULL;
	int say = 0;
	(void)sub;
	pthread_mutex_lock(&w->lock);
	if (w->closing) {
		pthread_mutex_unlock(&w->lock);
		natsMsg_Destroy(msg);
		return;
	}
	w->in_get++; /* until the end: kvwriter_destroy waits for it */
	enum getlimit_verdict v = getlimit_check(&w->limit, reply, clock_mono());
	if (v == GETLIMIT_OK) {
		if ((list = w->served))
			list->refs++;
	} else {
		say = !(w->refused_said & (1u << v));
		w->refused_said |= 1u << v;
	}
	pthread_mutex_unlock(&w->lock);
	if (v == GETLIMIT_OK) {
		for (size_t i = 0; list && i < list->n; i++)
			natsConnection_Publish(nc, reply, list->c[i].data, (int)list->c[i].len);
		atomic_fetch_add(&w->get_answered, 1);
	} else {
		atomic_fetch_add(v == GETLIMIT_REFUSE_INBOX ? &w->get_refused_inbox
			       : v == GETLIMIT_REFUSE_REPEAT  ? &w->get_refused_repeat
						       : &w->get_refused_rate,
			       1);
	}
	if (say)
		log_warn("hot-list request on '%s' not answered: %s (said once; see the counters)",
			 w->get_subject, why[v]);
	natsMsg_Destroy(msg);
	pthread_mutex_lock(&w->lock);
	served_put(list);
	if (--w->in_get == 0)
		pthread_cond_broadcast(&w->idle);
	pthread_mutex_unlock(&w->lock);
}

/* Writes the NS table; the bucket handle is opened (and created) on first use */
static void write_ns(struct kvwriter *w, kvStore **nskv, jsCtx **nsjs, const char *text, size_t len)
{
	char err[512];
	if (!*nskv && natsconn_kv_open(w->link, w->nc, NAMES_NS_BUCKET, 1, w->kv_replicas, nsjs, nskv, NULL,
				       NULL, err, sizeof(err)) < 0) {
		log_debug("NS table not written: %s", err);
		return;
	}
	natsStatus s = kvStore_Put(NULL, *nskv, w->node_key, text, (int)len);
	if (s != NATS_OK) {
		log_debug("NS table not written: %s", natsStatus_GetText(s));
		natsconn_kv_close(*nsjs, *nskv);
		*nsjs = NULL;
		*nskv = NULL;
	}
}

/* Refreshes the intelligence file from the fleet's merged NS table */
/* The intelligence refresh's deadline: half the interval between snapshots, 0.2 s to 5 s */
static double intel_deadline(double interval)
{
	double d = interval > 0 ? interval / 2 : KVWRITER_INTEL_DEADLINE_MAX;
	return d < 0.2 ? 0.2 : d > KVWRITER_INTEL_DEADLINE_MAX ? KVWRITER_INTEL_DEADLINE_MAX : d;
}

static void refresh_intel(struct kvwriter *w, double within)
{
	char err[512];
	struct intel_refresh ir;
	int rc = intel_refresh_within(w->nc, w->cluster, w->intel_max_age, within, w->intel_file,
				      INTEL_FOR_NODE, &w->fleet_said, &ir, err, sizeof(err));
	notes_log(&ir.notes);
	if (rc < 0) {
		/*
		 * No NS bucket yet is normal and quiet; a file that cannot be
		 * written (a missing directory: nodes do not create it) is an
		 * error, said once per kind of failure until it works again:
		 * the text names the temporary file, whose name is new each time.
		 */
		if (ir.tables < 0)
			log_debug("intelligence file '%s' not refreshed: %s", w->intel_file, err);
		else if (log_once_enter(&w->intel_said, ir.fail))
			log_err("intelligence file '%s' not written: %s%s (said once until it works)",
				w->intel_file, err,
				ir.fail == INTEL_FAIL_NO_DIR ? "; create it, a node does not" : "");
		return;
	}
	if (!ir.written)
		return;
	if (log_once_clear(&w->intel_said))
		log_info("intelligence file '%s' written again", w->intel_file);
	if (ir.left_out && !w->intel_bound_said) {
		log_warn("intelligence file '%s': %zu dead server(s) beyond --intel-max-entries %zu left out "
			 "(said once)",
			 w->intel_file, ir.left_out, intel_max_entries());
		w->intel_bound_said = 1;
	}
	if (ir.ns_left_out && !w->intel_ns_bound_said) {
		log_warn("intelligence file '%s': %zu ns line(s) beyond --intel-max-entries %zu left out "
			 "(said once)",
			 w->intel_file, ir.ns_left_out, intel_max_entries());
		w->intel_ns_bound_said = 1;
	}
	if ((uint64_t)ir.dead != atomic_load(&w->intel_dead))
		log_info("intelligence file '%s': %d dead server(s) of %zu known", w->intel_file,
			 ir.dead, ir.servers);
	atomic_store(&w->intel_dead, (uint64_t)ir.dead);
	atomic_fetch_add(&w->intel_writes, 1);
}

int kvwriter_set_intel_file(struct kvwriter *w, const char *path, char *err, size_t err_size)
{
	char *copy = path ? strdup(path) : NULL;
	if (path && !copy) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	pthread_mutex_lock(&w->lock);
	free(w->intel_next);
	w->intel_next = copy;
	w->intel_changed = 1;
	pthread_mutex_unlock(&w->lock);
	return 0;
}

static int connected(const struct kvwriter *w)
{
	return natsConnection_Status(w->nc) == NATS_CONN_STATUS_CONNECTED;
}

/*
 * Drops the hot.get subscription and waits for its responders (with final
 * set, those still to come answer nothing); the lock is not held
 */
static void unsubscribe_get(struct kvwriter *w, int final)
{
	if (!w->get_sub)
		return;
	/*
	 * libnats' unsubscribe does not wait for a callback already running:
	 * drain (which returns once the callbacks are done), unsubscribe in
	 * case the drain could not finish, then wait for any callback still
	 * inside on_hot_get. (Only when the drain fails, a callback libnats
	 * has begun but that has not yet taken the lock could still come
	 * late; on a closed connection no message is delivered any more.)
	 * A connection that is not connected cannot drain: libnats would wait
	 * out both timeouts (4 s of a stop while NATS is away) for nothing.
	 */
	if (connected(w) && natsSubscription_DrainTimeout(w->get_sub, KVWRITER_DRAIN_MS) == NATS_OK)
		natsSubscription_WaitForDrainCompletion(w->get_sub, KVWRITER_DRAIN_MS);
	natsSubscription_Unsubscribe(w->get_sub);
	pthread_mutex_lock(&w->lock);
	if (final)
		w->closing = 1;
	while (w->in_get > 0)
		pthread_cond_wait(&w->idle, &w->lock);
	pthread_mutex_unlock(&w->lock);
	natsSubscription_Destroy(w->get_sub);
	w->get_sub = NULL;
}

static void subscribe_get(struct kvwriter *w)
{
	if (!w->nc)
		return; /* no connection yet: the first one subscribes */
	natsStatus s = natsConnection_Subscribe(&w->get_sub, w->nc, w->get_subject, on_hot_get, w);
	if (s != NATS_OK) {
		w->get_sub = NULL;
		/* a new connection refused again: the next one subscribes */
		if (s == NATS_CONNECTION_CLOSED)
			log_debug("hot-list requests on '%s' not subscribed: the connection is closed",
				  w->get_subject);
		else
			log_warn("cannot answer hot-list requests on '%s': %s", w->get_subject,
				 natsStatus_GetText(s));
	}
}

/*
 * The KV thread moves to the connection the caller opened after the old
 * one was closed: the old one is destroyed here, once nothing uses it
 */
static void switch_connection(struct kvwriter *w, natsConnection *next)
{
	natsConnection *old = w->nc;
	unsubscribe_get(w, 0);
	w->nc = next;
	natsconn_close(w->link, old);
	subscribe_get(w);
}

/* Why a hot list was not written: each said once until a write works */
enum hot_fail { HOT_NOT_CONNECTED, HOT_NO_BUCKET, HOT_PUT_FAILED };

static void *kv_main(void *arg)
{
	struct kvwriter *w = arg;
	jsCtx *js = NULL, *nsjs = NULL;
	kvStore *kv = NULL, *nskv = NULL;
	char err[512];
	int warned = 0, ns_seen = 0; /* warned: failed attempts since the last write */
	struct log_once hot_said = {0}; /* enum hot_fail */
	size_t last_n = 0;

	for (;;) {
		pthread_mutex_lock(&w->lock);
		while (!w->pending && !w->stop && !w->next)
			pthread_cond_wait(&w->cond, &w->lock);
		natsConnection *newnc = w->next;
		w->next = NULL;
		struct hotlist_chunk *c = w->pending;
		size_t n = w->pending_n;
		char *ns_text = w->ns_pending;
		size_t ns_len = w->ns_len;
		int stopping = w->stop;
		w->pending = NULL;
		w->pending_n = 0;
		w->ns_pending = NULL;
		if (w->intel_changed) {
			/* only this thread reads intel_file: the swap needs no more than the lock */
			free(w->intel_file);
			w->intel_file = w->intel_next;
			w->intel_next = NULL;
			w->intel_changed = 0;
			(void)log_once_clear(&w->intel_said);
			w->intel_bound_said = w->intel_ns_bound_said = 0;
		}
		double interval = w->submit_interval;
		pthread_mutex_unlock(&w->lock);
		if (newnc) {
			natsconn_kv_close(js, kv);
			natsconn_kv_close(nsjs, nskv);
			js = nsjs = NULL;
			kv = nskv = NULL;
			last_n = 0; /* the new connection may lead to a new bucket */
			switch_connection(w, newnc);
		}
		if (!c) {
			free(ns_text);
			if (stopping)
				break;
			continue;
		}

		int ok = 0;
		if (!connected(w)) {
			warned++;
			if (log_once_enter(&hot_said, HOT_NOT_CONNECTED))
				log_warn("hot list not written: not connected to NATS");
		} else {
			if (!kv && natsconn_kv_open(w->link, w->nc, NAMES_HOT_BUCKET, 1, w->kv_replicas, &js, &kv,
						    NULL, NULL, err, sizeof(err)) < 0) {
				warned++;
				if (log_once_enter(&hot_said, HOT_NO_BUCKET))
					log_warn("hot list not written: %s (said once until it works)", err);
			} else if (write_hot(w, kv, c, n, err, sizeof(err)) == 0) {
				ok = 1;
			} else {
				warned++;
				if (log_once_enter(&hot_said, HOT_PUT_FAILED))
					log_warn("hot list not written: %s (said once until it works)", err);
				/* the handle may be stale (bucket deleted, server replaced) */
				natsconn_kv_close(js, kv);
				js = NULL;
				kv = NULL;
			}
		}
		if (ok) {
			atomic_fetch_add(&w->hot_writes, 1);
			atomic_store(&w->hot_last_ok_us, (uint_fast64_t)(clock_mono() * 1e6));
			if (log_once_clear(&hot_said) || warned)
				log_info("hot list written again after %d failed attempts", warned);
			warned = 0;
			log_debug("hot list written: %zu chunk(s)", n);
			/* drop continuation chunks the previous, longer list left behind */
			for (size_t k = n; k < last_n; k++) {
				char key[NAMES_KEY_MAX];
				chunk_key(w, k, key, sizeof(key));
				kvStore_Delete(kv, key);
			}
			last_n = n;
		} else {
			atomic_fetch_add(&w->hot_write_errors, 1);
		}
		struct served *next = calloc(1, sizeof(*next));
		if (next) {
			next->c = c;
			next->n = n;
			next->refs = 1;
		} else {
			hotlist_chunks_free(c, n); /* out of memory: hot.get answers the older list */
		}
		pthread_mutex_lock(&w->lock);
		if (next) {
			served_put(w->served);
			w->served = next;
		}
		pthread_mutex_unlock(&w->lock);
		/*
		 * The NS table and the intelligence refresh come after the hot
		 * list, within a share of the interval between snapshots: a
		 * large or slow NS bucket never delays the next hot-list write.
		 */
		if (ns_text && connected(w)) {
			/* even an empty table, so that a stale one in the bucket is replaced */
			if (ns_seen || (strchr(ns_text, '\n') && strchr(ns_text, '\n')[1] != '\0')) {
				write_ns(w, &nskv, &nsjs, ns_text, ns_len);
				ns_seen = 1;
			}
			if (w->intel_file)
				refresh_intel(w, intel_deadline(interval));
		}
		free(ns_text);
		if (stopping)
			break;
	}
	natsconn_kv_close(js, kv);
	natsconn_kv_close(nsjs, nskv);
	return NULL;
}

struct kvwriter *kvwriter_create(struct natslink *link, natsConnection *nc,
				 const struct kvwriter_config *cfg, char *err,
				 size_t err_size)
{
	struct kvwriter *w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	w->nc = w->given = nc;
	w->link = link;
	atomic_store(&w->hot_last_ok_us, (uint_fast64_t)(clock_mono() * 1e6));
	w->kv_replicas = cfg->kv_replicas;
	w->intel_max_age = cfg->intel_max_age;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	pthread_cond_init(&w->idle, NULL);
	getlimit_init(&w->limit, GETLIMIT_RATE, GETLIMIT_BURST, GETLIMIT_INTERVAL);
	w->cluster = strdup(cfg->cluster);
	w->node = strdup(cfg->node);
	if (cfg->intel_file)
		w->intel_file = strdup(cfg->intel_file);
	if (!w->cluster || !w->node || (cfg->intel_file && !w->intel_file)) {
		snprintf(err, err_size, "out of memory");
		goto fail;
	}
	if (names_node_key(w->node_key, sizeof(w->node_key), cfg->cluster, cfg->node) < 0 ||
	    names_hot_get_subject(w->get_subject, sizeof(w->get_subject), cfg->cluster) < 0) {
		snprintf(err, err_size, "bad cluster or node name");
		goto fail;
	}
	subscribe_get(w);
	if (pthread_create(&w->thread, NULL, kv_main, w) != 0) {
		snprintf(err, err_size, "cannot start the KV thread");
		goto fail;
	}
	w->started = 1;
	return w;
fail:
	kvwriter_destroy(w);
	return NULL;
}

void kvwriter_destroy(struct kvwriter *w)
{
	if (!w)
		return;
	if (w->started) {
		pthread_mutex_lock(&w->lock);
		w->stop = 1;
		pthread_cond_signal(&w->cond);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL);
	}
	unsubscribe_get(w, 1);
	/* a connection the KV thread still used and the caller replaced is ours */
	if (w->nc != w->given)
		natsconn_close(w->link, w->nc);
	hotlist_chunks_free(w->pending, w->pending_n);
	served_put(w->served);
	free(w->ns_pending);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	pthread_cond_destroy(&w->idle);
	free(w->cluster);
	free(w->node);
	free(w->intel_file);
	free(w->intel_next);
	free(w);
}
