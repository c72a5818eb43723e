/* fleet.c: collecting and merging the fleet's hot lists and NS tables; see fleet.h */
#include "config.h"

#include "fleet.h"

#include "clock.h"
#include "log.h"
#include "names.h"
#include "natsconn.h"
#include "nstable.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uthash.h>

#define FLEET_REQUEST_WAIT_MS 1500 /* total time to collect answers */
#define FLEET_REQUEST_QUIET_MS 300 /* stop after this long without a message */

struct fleet_node {
	UT_hash_handle hh;
	char node[64];
	uint64_t gen;
	double time;
	unsigned chunks, received;
	uint8_t *got;
	struct hot_item *items;
	size_t n, cap;
	int bad;
	char why[160];
};

struct fleet_asm {
	struct fleet_node *nodes;
};

const char *fleet_source_name(enum fleet_source s)
{
	return s == FLEET_SOURCE_KV ? "kv" : "request";
}

static void node_reset(struct fleet_node *fn, const struct hotlist_header *h)
{
	free(fn->got);
	fn->got = calloc(h->chunks, 1);
	fn->gen = h->gen;
	fn->time = h->time;
	fn->chunks = h->chunks;
	fn->received = 0;
	fn->n = 0;
	fn->bad = fn->got ? 0 : 1;
	fn->why[0] = '\0';
}

static void collect_item(const struct hot_item *it, void *arg)
{
	struct fleet_node *fn = arg;
	if (fn->bad)
		return;
	if (fn->n == fn->cap) {
		size_t cap = fn->cap ? fn->cap * 2 : 1024;
		struct hot_item *ni = realloc(fn->items, cap * sizeof(*ni));
		if (!ni) {
			fn->bad = 1;
			snprintf(fn->why, sizeof(fn->why), "out of memory");
			return;
		}
		fn->items = ni;
		fn->cap = cap;
	}
	fn->items[fn->n++] = *it;
}

struct fleet_asm *fleet_asm_create(void)
{
	return calloc(1, sizeof(struct fleet_asm));
}

static void node_free(struct fleet_asm *a, struct fleet_node *fn)
{
	HASH_DEL(a->nodes, fn);
	free(fn->got);
	free(fn->items);
	free(fn);
}

void fleet_asm_destroy(struct fleet_asm *a)
{
	struct fleet_node *fn, *tmp;
	if (!a)
		return;
	HASH_ITER(hh, a->nodes, fn, tmp)
	{
		node_free(a, fn);
	}
	free(a);
}

void fleet_asm_feed(struct fleet_asm *a, const char *data, size_t len, const char *src)
{
	struct hotlist_header h;
	struct fleet_node *fn;
	char err[160];

	/* first pass: header and validity, without keeping anything */
	if (hotlist_parse(data, len, &h, NULL, NULL, err, sizeof(err)) < 0) {
		log_warn("ignoring malformed hot list chunk from '%s': %s", src, err);
		return;
	}
	HASH_FIND_STR(a->nodes, h.node, fn);
	if (!fn) {
		if (!(fn = calloc(1, sizeof(*fn))))
			return;
		snprintf(fn->node, sizeof(fn->node), "%s", h.node);
		HASH_ADD_STR(a->nodes, node, fn);
		node_reset(fn, &h);
	} else if (h.gen > fn->gen) {
		node_reset(fn, &h);
	} else if (h.gen < fn->gen) {
		return; /* an older list */
	}
	if (fn->bad)
		return;
	if (h.chunks != fn->chunks) {
		fn->bad = 1;
		snprintf(fn->why, sizeof(fn->why), "chunks disagree on the list's length");
		return;
	}
	if (fn->got[h.chunk])
		return; /* duplicate */
	fn->got[h.chunk] = 1;
	fn->received++;
	hotlist_parse(data, len, &h, collect_item, fn, err, sizeof(err));
}

static int strcmp_nodes(struct fleet_node *a, struct fleet_node *b)
{
	return strcmp(a->node, b->node);
}

/*
 * A list's scores were decayed to its own time; with half_life > 0 they are
 * decayed on to now, so a list written an hour ago by a node that has since
 * died weighs what its names would weigh now, not what they weighed then.
 */
void fleet_asm_finish(struct fleet_asm *a, double now, double max_age, double half_life,
		      struct hotmerge *merge, struct fleet_report *rep)
{
	struct fleet_node *fn, *tmp;
	size_t count = HASH_COUNT(a->nodes), i = 0;

	rep->node = calloc(count ? count : 1, sizeof(*rep->node));
	rep->nodes = rep->node ? count : 0;
	rep->used = 0;
	HASH_SORT(a->nodes, strcmp_nodes);
	HASH_ITER(hh, a->nodes, fn, tmp)
	{
		struct fleet_node_report *r = rep->node ? &rep->node[i++] : NULL;
		double age = now - fn->time;
		if (!fn->bad && fn->received != fn->chunks) {
			fn->bad = 1;
			snprintf(fn->why, sizeof(fn->why), "incomplete: %u of %u chunks", fn->received,
				 fn->chunks);
		}
		if (!fn->bad && max_age > 0 && age > max_age) {
			fn->bad = 1;
			snprintf(fn->why, sizeof(fn->why), "stale: %.1f s old, --max-age is %g s", age,
				 max_age);
		}
		if (!fn->bad) {
			double w = half_life > 0 && age > 0 ? exp2(-age / half_life) : 1.0;
			for (size_t k = 0; k < fn->n; k++) {
				struct hot_item it = fn->items[k];
				it.score *= w;
				hotmerge_add(merge, &it);
			}
			rep->used++;
		}
		if (r) {
			snprintf(r->node, sizeof(r->node), "%s", fn->node);
			r->age = age;
			r->items = fn->n;
			r->used = !fn->bad;
			snprintf(r->why, sizeof(r->why), "%s", fn->why);
		}
		node_free(a, fn);
	}
}

/*
 * Calls cb for the value of every "<cluster>.<node>" key of bucket (the
 * heads; keys with more dots are continuation chunks). The entry is
 * temporary: valid during the call. An empty bucket is not an error.
 */
typedef void (*head_cb)(kvStore *kv, const char *key, kvEntry *e, void *arg);

static int each_node_head(natsConnection *nc, const char *bucket, const char *cluster, head_cb cb,
			  void *arg, int *missing, int *no_js, char *err, size_t err_size)
{
	jsCtx *js = NULL;
	kvStore *kv = NULL;
	kvKeysList keys = {0};
	char ebuf[256];

	if (natsconn_kv_open(nc, bucket, 0, 1, &js, &kv, missing, no_js, err, err_size) < 0)
		return -1;
	natsStatus s = kvStore_Keys(&keys, kv, NULL);
	if (s == NATS_NOT_FOUND) {
		natsconn_kv_close(js, kv);
		return 0; /* empty bucket */
	}
	if (s != NATS_OK) {
		snprintf(err, err_size, "cannot list KV bucket '%s': %s", bucket,
			 natsconn_strerror(s, ebuf, sizeof(ebuf)));
		natsconn_kv_close(js, kv);
		return -1;
	}
	for (int i = 0; i < keys.Count; i++) {
		const char *k = keys.Keys[i];
		kvEntry *e = NULL;
		if (!names_key_node(k, cluster, NULL))
			continue;
		if (kvStore_Get(&e, kv, k) != NATS_OK)
			continue; /* deleted meanwhile */
		cb(kv, k, e, arg);
		kvEntry_Destroy(e);
	}
	kvKeysList_Destroy(&keys);
	natsconn_kv_close(js, kv);
	return 0;
}

struct hot_fetch {
	struct fleet_asm *a;
	const char *cluster;
};

/* A node's hot list: the head chunk, then its continuation chunks */
static void feed_hot_head(kvStore *kv, const char *k, kvEntry *head, void *arg)
{
	struct hot_fetch *f = arg;
	struct hotlist_header h;
	char perr[160], key[NAMES_KEY_MAX], node[NAMES_MAX];
	kvEntry *e = NULL;
	const char *data = kvEntry_ValueString(head);
	size_t len = (size_t)kvEntry_ValueLen(head);
	if (hotlist_parse(data, len, &h, NULL, NULL, perr, sizeof(perr)) < 0) {
		log_warn("ignoring KV key '%s': %s", k, perr);
		return;
	}
	fleet_asm_feed(f->a, data, len, k);
	if (!names_key_node(k, f->cluster, node))
		return; /* each_node_head passes head keys only */
	for (unsigned c = 1; c < h.chunks; c++) {
		if (names_chunk_key(key, sizeof(key), f->cluster, node, c) < 0)
			break;
		if (kvStore_Get(&e, kv, key) != NATS_OK) {
			log_warn("hot list '%s' lacks chunk key '%s'", k, key);
			break;
		}
		fleet_asm_feed(f->a, kvEntry_ValueString(e), (size_t)kvEntry_ValueLen(e), key);
		kvEntry_Destroy(e);
	}
}

static int fetch_kv(natsConnection *nc, const char *cluster, struct fleet_asm *a, int *no_js,
		    int *missing, char *err, size_t err_size)
{
	struct hot_fetch f = {a, cluster};
	return each_node_head(nc, NAMES_HOT_BUCKET, cluster, feed_hot_head, &f, missing, no_js,
			      err, err_size);
}

static int fetch_request(natsConnection *nc, const char *cluster, struct fleet_asm *a, char *err,
			 size_t err_size)
{
	natsInbox *inbox = NULL;
	natsSubscription *sub = NULL;
	char subject[256], ebuf[256];
	natsStatus s;

	names_hot_get_subject(subject, sizeof(subject), cluster);
	s = natsInbox_Create(&inbox);
	if (s == NATS_OK)
		s = natsConnection_SubscribeSync(&sub, nc, inbox);
	if (s == NATS_OK)
		s = natsConnection_PublishRequest(nc, subject, inbox, NULL, 0);
	if (s == NATS_OK)
		s = natsConnection_Flush(nc);
	if (s != NATS_OK) {
		snprintf(err, err_size, "cannot ask the nodes on '%s': %s", subject,
			 natsconn_strerror(s, ebuf, sizeof(ebuf)));
		natsSubscription_Destroy(sub);
		natsInbox_Destroy(inbox);
		return -1;
	}
	int64_t deadline = (int64_t)(clock_mono_ns() / 1000000) + FLEET_REQUEST_WAIT_MS;
	for (;;) {
		int64_t left = deadline - (int64_t)(clock_mono_ns() / 1000000);
		if (left <= 0)
			break;
		natsMsg *msg = NULL;
		s = natsSubscription_NextMsg(&msg, sub, left < FLEET_REQUEST_QUIET_MS ? left : FLEET_REQUEST_QUIET_MS);
		if (s != NATS_OK)
			break; /* quiet for a while: every node has answered */
		fleet_asm_feed(a, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), subject);
		natsMsg_Destroy(msg);
	}
	natsSubscription_Unsubscribe(sub);
	natsSubscription_Destroy(sub);
	natsInbox_Destroy(inbox);
	return 0;
}

int fleet_fetch_hot(natsConnection *nc, const char *cluster, double max_age, double half_life,
		    int allow_request, struct hotmerge *merge, struct fleet_report *report, char *err,
		    size_t err_size)
{
	struct fleet_asm *a = fleet_asm_create();
	int no_js = 0, missing = 0, rc = -1;

	memset(report, 0, sizeof(*report));
	report->source = FLEET_SOURCE_KV;
	if (!a) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	if (fetch_kv(nc, cluster, a, &no_js, &missing, err, err_size) < 0) {
		if (!(no_js && allow_request))
			goto out;
		log_info("JetStream is not available (%s), asking the running nodes instead", err);
		report->source = FLEET_SOURCE_REQUEST;
		if (fetch_request(nc, cluster, a, err, err_size) < 0)
			goto out;
	}
	fleet_asm_finish(a, clock_unix(), max_age, half_life, merge, report);
	rc = 0;
out:
	fleet_asm_destroy(a);
	return rc;
}

void fleet_report_free(struct fleet_report *report)
{
	free(report->node);
	report->node = NULL;
	report->nodes = 0;
}

int fleet_top(natsConnection *nc, const char *cluster, double max_age, double half_life, size_t top,
	      struct hot_item **items, size_t *n, struct fleet_report *report, char *err,
	      size_t err_size)
{
	struct hotmerge *m = NULL;
	int rc = -1;

	*items = NULL;
	*n = 0;
	memset(report, 0, sizeof(*report));
	if (!(m = hotmerge_create()) || !(*items = calloc(top ? top : 1, sizeof(**items)))) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	if (fleet_fetch_hot(nc, cluster, max_age, half_life, 1, m, report, err, err_size) < 0)
		goto out;
	*n = hotmerge_top(m, *items, top);
	rc = 0;
out:
	if (rc < 0) {
		free(*items);
		*items = NULL;
	}
	hotmerge_destroy(m);
	return rc;
}

static void add_ns_item(const struct nstable_item *it, void *arg)
{
	nstable_merge_add(arg, it);
}

struct ns_fetch {
	struct nstable_merge *merge;
	double max_age, now;
	int used;
};

static void feed_ns_head(kvStore *kv, const char *k, kvEntry *e, void *arg)
{
	struct ns_fetch *f = arg;
	char node[64], perr[160];
	double t = 0;
	const char *data = kvEntry_ValueString(e);
	size_t len = (size_t)kvEntry_ValueLen(e);
	/* validate the whole value first: a bad table contributes nothing */
	if (nstable_parse(data, len, node, &t, NULL, NULL, perr, sizeof(perr)) < 0) {
		log_warn("ignoring NS table '%s': %s", k, perr);
	} else if (f->max_age > 0 && f->now - t > f->max_age) {
		log_debug("ignoring NS table '%s': %.0f s old", k, f->now - t);
	} else {
		nstable_parse(data, len, node, &t, add_ns_item, f->merge, perr, sizeof(perr));
		f->used++;
	}
}

int fleet_fetch_ns(natsConnection *nc, const char *cluster, double max_age, struct nstable_merge *merge,
		   char *err, size_t err_size)
{
	struct ns_fetch f = {merge, max_age, clock_unix(), 0};
	if (each_node_head(nc, NAMES_NS_BUCKET, cluster, feed_ns_head, &f, NULL, NULL, err,
			   err_size) < 0)
		return -1;
	return f.used;
}
