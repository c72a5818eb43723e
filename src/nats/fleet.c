/* fleet.c: collecting and merging the fleet's hot lists and NS tables; see fleet.h */
#include "config.h"

#include "nats/fleet.h"

#include "base/clock.h"
#include "base/log.h"
#include "base/names.h"
#include "base/notes.h"
#include "nats/natsconn.h"
#include "tables/nstable.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uthash.h>

struct fleet_node {
	UT_hash_handle hh;
	char node[64];
	char src[NAMES_KEY_MAX]; /* where its first chunk came from, for messages */
	uint64_t gen;
	double time;
	unsigned chunks, received;
	char **data; /* chunks copies (NULL: not received), until folded */
	size_t *len;
	size_t bytes;
	size_t items;
	double sum; /* its scores added up, decayed to now, once folded */
	int bad, done; /* done: folded or given up; bad: with a reason in why */
	char why[160];
};

struct fleet_asm {
	struct fleet_node *nodes;
	size_t nnodes, budget, bytes;
	int full_logged;
	size_t bad_chunks; /* malformed or mismatched chunks, the first FLEET_BAD_LOG_FIRST logged */
	hotlist_item_cb tap; /* sees every item of every list folded (may be NULL) */
	void *tap_arg;
	struct notes notes; /* what the assembly has to say; fleet_asm_finish hands them over */
};

/* Malformed chunks or tables logged one by one per read; the rest as a total at the end */
#define FLEET_BAD_LOG_FIRST 10

const char *fleet_source_name(enum fleet_source s)
{
	return s == FLEET_SOURCE_KV ? "kv" : "request";
}

struct fleet_asm *fleet_asm_create(size_t budget)
{
	struct fleet_asm *a = calloc(1, sizeof(struct fleet_asm));
	if (a)
		a->budget = budget ? budget : FLEET_BYTE_BUDGET;
	return a;
}

/* Drops the chunks' text collected for fn */
static void node_drop(struct fleet_asm *a, struct fleet_node *fn)
{
	for (unsigned c = 0; fn->data && c < fn->chunks; c++)
		free(fn->data[c]);
	free(fn->data);
	free(fn->len);
	fn->data = NULL;
	fn->len = NULL;
	a->bytes -= fn->bytes;
	fn->bytes = 0;
}

static void node_free(struct fleet_asm *a, struct fleet_node *fn)
{
	HASH_DEL(a->nodes, fn);
	node_drop(a, fn);
	a->nnodes--;
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

/* Copies src into dst, cut short to fit (a reason may be longer than its slot) */
static void copy_text(char *dst, size_t size, const char *src)
{
	size_t l = strnlen(src, size - 1);
	memcpy(dst, src, l);
	dst[l] = '\0';
}

static void node_give_up(struct fleet_asm *a, struct fleet_node *fn, const char *why)
{
	node_drop(a, fn);
	fn->bad = 1;
	fn->done = 1;
	copy_text(fn->why, sizeof(fn->why), why);
}

/* The node's record, created when missing; NULL at the node limit or out of memory */
static struct fleet_node *node_get(struct fleet_asm *a, const char *node, const char *src)
{
	struct fleet_node *fn;
	HASH_FIND_STR(a->nodes, node, fn);
	if (fn)
		return fn;
	if (a->nnodes >= FLEET_MAX_NODES || !(fn = calloc(1, sizeof(*fn))))
		return NULL;
	snprintf(fn->node, sizeof(fn->node), "%s", node);
	snprintf(fn->src, sizeof(fn->src), "%s", src);
	HASH_ADD_STR(a->nodes, node, fn);
	a->nnodes++;
	return fn;
}

static void log_full(struct fleet_asm *a, const char *what)
{
	if (!a->full_logged)
		notes_add(&a->notes, LOG_LVL_WARN, "hot lists: %s; further chunks are not kept", what);
	a->full_logged = 1;
}

/* Starts fn over for the list h announces; -1 when its chunk slots are over the budget */
static int node_reset(struct fleet_asm *a, struct fleet_node *fn, const struct hotlist_header *h,
		      const char *src)
{
	size_t slots = (size_t)h->chunks * FLEET_CHUNK_SLOT;
	char why[160];
	node_drop(a, fn);
	fn->gen = h->gen;
	fn->time = h->time;
	fn->chunks = h->chunks;
	fn->received = 0;
	fn->items = 0;
	fn->bad = fn->done = 0;
	fn->why[0] = '\0';
	snprintf(fn->src, sizeof(fn->src), "%s", src);
	/* the per-chunk slots count against the budget: many nodes announcing many chunks cannot grow past it */
	if (slots > a->budget - a->bytes) {
		snprintf(why, sizeof(why), "over the byte budget of %zu bytes", a->budget);
		log_full(a, why);
		node_give_up(a, fn, why);
		return -1;
	}
	fn->data = calloc(h->chunks, sizeof(*fn->data));
	fn->len = calloc(h->chunks, sizeof(*fn->len));
	if (!fn->data || !fn->len) {
		node_give_up(a, fn, "out of memory");
		return 0;
	}
	fn->bytes = slots;
	a->bytes += slots;
	return 0;
}

void fleet_asm_fail(struct fleet_asm *a, const char *node, const char *why)
{
	struct fleet_node *fn = node_get(a, node, node);
	if (fn)
		node_give_up(a, fn, why);
}

enum fleet_feed fleet_asm_feed(struct fleet_asm *a, const char *data, size_t len, const char *src,
			       const char *key_node)
{
	struct hotlist_header h;
	struct fleet_node *fn;
	char err[160], why[160];

	if (hotlist_parse_header(data, len, &h, err, sizeof(err)) < 0) {
		if (++a->bad_chunks <= FLEET_BAD_LOG_FIRST)
			notes_add(&a->notes, LOG_LVL_WARN, "ignoring malformed hot list chunk from '%s': %s", src, err);
		return FLEET_FEED_IGNORED;
	}
	if (key_node && strcmp(h.node, key_node) != 0) {
		if (++a->bad_chunks <= FLEET_BAD_LOG_FIRST)
			notes_add(&a->notes, LOG_LVL_WARN, "ignoring hot list chunk under key '%s': its header names node '%s'",
				 src, h.node);
		return FLEET_FEED_IGNORED;
	}
	if (!(fn = node_get(a, h.node, src))) {
		char what[96];
		snprintf(what, sizeof(what), "more than %d nodes", FLEET_MAX_NODES);
		log_full(a, what);
		return FLEET_FEED_FULL;
	}
	if ((!fn->data && !fn->done) || h.gen > fn->gen) { /* new, or a newer list */
		if (node_reset(a, fn, &h, src) < 0)
			return FLEET_FEED_FULL;
	} else if (h.gen < fn->gen || fn->done) {
		return FLEET_FEED_IGNORED; /* an older list, or one already judged */
	}
	if (fn->done)
		return FLEET_FEED_IGNORED;
	if (h.chunks != fn->chunks) {
		node_give_up(a, fn, "chunks disagree on the list's length");
		return FLEET_FEED_IGNORED;
	}
	if (fn->data[h.chunk])
		return FLEET_FEED_IGNORED; /* duplicate */
	if (len > a->budget - a->bytes) {
		snprintf(why, sizeof(why), "over the byte budget of %zu bytes", a->budget);
		log_full(a, why);
		node_give_up(a, fn, why);
		return FLEET_FEED_FULL;
	}
	if (!(fn->data[h.chunk] = malloc(len + 1))) {
		node_give_up(a, fn, "out of memory");
		return FLEET_FEED_IGNORED;
	}
	memcpy(fn->data[h.chunk], data, len);
	fn->data[h.chunk][len] = '\0';
	fn->len[h.chunk] = len;
	fn->bytes += len;
	a->bytes += len;
	fn->received++;
	return FLEET_FEED_OK;
}

static int strcmp_nodes(struct fleet_node *a, struct fleet_node *b)
{
	return strcmp(a->node, b->node);
}

struct fold_ctx {
	struct hotmerge *merge;
	struct fleet_asm *a;
	double sum;   /* the list's scores added up (0: the list gives every name 0) */
	double decay; /* 2^(-age / half-life), or 1 */
};

static void sum_item(const struct hot_item *it, void *arg)
{
	*(double *)arg += it->score;
}

/*
 * An item weighs its share of its list's sum, in percent, at most
 * FLEET_MAX_SHARE, decayed. The share is score / sum, at most 1 since no
 * score is negative: never 100 / sum first, which a sum of tiny scores
 * (1e-320) would make infinite and a score of 0 then NaN.
 */
static void fold_item(const struct hot_item *it, void *arg)
{
	struct fold_ctx *f = arg;
	struct hot_item d = *it;
	double share = f->sum > 0 ? it->score / f->sum : 0.0;
	d.score = fmin(100.0 * share, FLEET_MAX_SHARE) * f->decay;
	if (!(d.score >= 0)) /* NaN: not reachable with finite scores from 0 up, but never merged */
		d.score = 0;
	hotmerge_add(f->merge, &d);
	if (f->a->tap)
		f->a->tap(it, f->a->tap_arg);
}

/*
 * One node's verdict and, when usable, its fold. A list's scores were
 * decayed to its own time; with half_life > 0 they are decayed on to now,
 * so a list written an hour ago by a node that has since died weighs what
 * its names would weigh now, not what they weighed then. Each list is
 * normalised to its own sum before it is merged (doc/nats.md, "Ranking"):
 * whatever scores a list claims, it weighs at most 100 in all and at most
 * FLEET_MAX_SHARE per name.
 */
static void node_fold(struct fleet_asm *a, struct fleet_node *fn, double now, double max_age,
		      double half_life, struct hotmerge *merge)
{
	struct hotlist_header h;
	char err[160], why[360];
	double age = now - fn->time, sum = 0;
	unsigned refused = 0;

	if (fn->done)
		return;
	if (fn->received != fn->chunks) {
		snprintf(why, sizeof(why), "incomplete: %u of %u chunks", fn->received, fn->chunks);
		node_give_up(a, fn, why);
		return;
	}
	if (-age > FLEET_MAX_SKEW) {
		snprintf(why, sizeof(why), "time %.0f s in the future (more than %.0f s ahead)", -age,
			 FLEET_MAX_SKEW);
		notes_add(&a->notes, LOG_LVL_WARN, "ignoring the hot list of node '%s' under '%s': %s", fn->node, fn->src, why);
		node_give_up(a, fn, why);
		return;
	}
	if (max_age > 0 && age > max_age) {
		snprintf(why, sizeof(why), "stale: %.1f s old, --max-age is %g s", age, max_age);
		node_give_up(a, fn, why);
		return;
	}
	/* all or nothing: every chunk is checked before any item is merged; the sum on the way */
	for (unsigned c = 0; c < fn->chunks; c++) {
		if (hotlist_parse(fn->data[c], fn->len[c], &h, sum_item, &sum, err, sizeof(err)) < 0) {
			snprintf(why, sizeof(why), "chunk %u rejected: %s", c, err);
			notes_add(&a->notes, LOG_LVL_WARN, "ignoring the hot list of node '%s' under '%s': %s", fn->node, fn->src,
				 why);
			node_give_up(a, fn, why);
			return;
		}
	}
	double decay = half_life > 0 && age > 0 ? exp2(-age / half_life) : 1.0;
	/* scores are finite, from 0 to HOTLIST_MAX_SCORE each: the sum is finite (and not negative) */
	struct fold_ctx f = {merge, a, isfinite(sum) && sum > 0 ? sum : 0.0, decay};
	fn->sum = f.sum * decay;
	size_t dups = hotmerge_duplicates(merge);
	hotmerge_begin_list(merge);
	for (unsigned c = 0; c < fn->chunks; c++) {
		int k = hotlist_parse(fn->data[c], fn->len[c], &h, fold_item, &f, err, sizeof(err));
		if (k > 0)
			fn->items += (size_t)k;
		refused += h.refused;
	}
	dups = hotmerge_duplicates(merge) - dups;
	if (dups)
		notes_add(&a->notes, LOG_LVL_WARN, "hot list of node '%s' under '%s': %zu item(s) repeated in later chunks "
			 "counted once", fn->node, fn->src, dups);
	if (refused)
		notes_add(&a->notes, LOG_LVL_INFO, "hot list of node '%s' under '%s': %u item(s) of meta or obsolete types "
			 "left out", fn->node, fn->src, refused);
	node_drop(a, fn);
	fn->done = 1;
}

void fleet_asm_fold(struct fleet_asm *a, double now, double max_age, double half_life,
		    struct hotmerge *merge)
{
	struct fleet_node *fn, *tmp;
	HASH_ITER(hh, a->nodes, fn, tmp)
	{
		node_fold(a, fn, now, max_age, half_life, merge);
	}
}

void fleet_asm_finish(struct fleet_asm *a, double now, double max_age, double half_life,
		      struct hotmerge *merge, struct fleet_report *rep)
{
	struct fleet_node *fn, *tmp;
	size_t count, i = 0;

	fleet_asm_fold(a, now, max_age, half_life, merge);
	if (a->bad_chunks > FLEET_BAD_LOG_FIRST)
		notes_add(&a->notes, LOG_LVL_WARN, "hot lists: %zu malformed or mismatched chunk(s) ignored in all, the first %d "
			 "shown",
			 a->bad_chunks, FLEET_BAD_LOG_FIRST);
	count = HASH_COUNT(a->nodes);
	rep->node = calloc(count ? count : 1, sizeof(*rep->node));
	rep->nodes = rep->node ? count : 0;
	rep->used = 0;
	rep->candidates_peak = hotmerge_peak(merge);
	HASH_SORT(a->nodes, strcmp_nodes);
	HASH_ITER(hh, a->nodes, fn, tmp)
	{
		struct fleet_node_report *r = rep->node ? &rep->node[i++] : NULL;
		if (!fn->bad)
			rep->used++;
		if (r) {
			snprintf(r->node, sizeof(r->node), "%s", fn->node);
			r->age = fn->time > 0 ? now - fn->time : 0;
			r->items = fn->items;
			r->sum = fn->sum;
			r->used = !fn->bad;
			copy_text(r->why, sizeof(r->why), fn->why);
		}
		node_free(a, fn);
	}
	notes_move(&rep->notes, &a->notes);
}

/* ---- reading the bucket ---- */

static int64_t now_ms(void)
{
	return (int64_t)(clock_mono_ns() / 1000000);
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/*
 * Which failures are worth another try within the deadline: timeouts, and
 * JetStream errors such as "no quorum" or "temporarily unavailable" while
 * the servers elect a leader. Not: a missing bucket or key, no JetStream
 * (no responders), a closed connection or a bad argument.
 */
static int status_transient(natsStatus s)
{
	switch (s) {
	case NATS_NOT_FOUND:
	case NATS_NO_RESPONDERS:
	case NATS_CONNECTION_CLOSED:
	case NATS_INVALID_ARG:
	case NATS_NO_MEMORY:
		return 0;
	default:
		return 1;
	}
}

/* A bucket being read: its handles, the retry deadline per operation, the back-off */
struct kvread {
	natsConnection *nc;
	const char *bucket;
	jsCtx *js;
	kvStore *kv;
	int64_t timeout_ms;
	int give_up_fast; /* a read has used its whole deadline: the next ones are tried once */
	int64_t deadline; /* 0, or when every read gives up (ms, now_ms) */
	struct notes *notes;   /* what the read has to say */
	struct log_once *once; /* the caller's said-once bits (enum fleet_once; NULL: say every time) */
	size_t node_notes;     /* node lists not read or ignored so far (node_note) */
};

/*
 * Lines said at most once per struct log_once a caller keeps across its
 * reads: due while not said; marked said only when the notes kept it (a
 * line dropped at the notes' limit is said at a later read)
 */
static int once_due(struct log_once *once, unsigned what)
{
	return !once || !((atomic_load(&once->bits) >> what) & 1u);
}

static void once_said(struct log_once *once, unsigned what, int kept)
{
	if (once && kept)
		log_once_enter(once, what);
}

/*
 * A node list not read or ignored: noted for the first FLEET_BAD_LOG_FIRST
 * of a read, counted after that (kvread_close notes the total)
 */
static void node_note(struct kvread *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void node_note(struct kvread *r, const char *fmt, ...)
{
	va_list ap;
	if (++r->node_notes > FLEET_BAD_LOG_FIRST)
		return;
	va_start(ap, fmt);
	notes_vadd(r->notes, LOG_LVL_WARN, fmt, ap);
	va_end(ap);
}

/* The deadline of one operation: its own timeout, within the whole read's deadline */
static int64_t op_deadline(const struct kvread *r)
{
	int64_t d = now_ms() + r->timeout_ms;
	return r->deadline && r->deadline < d ? r->deadline : d;
}

/* The wait of one try: what is left, at most 2 s, at least 100 ms */
static int64_t try_wait(int64_t deadline)
{
	int64_t left = deadline - now_ms();
	return left > 2000 ? 2000 : left < 100 ? 100 : left;
}

/* Sleeps the back-off and doubles it; 0 when the deadline allows another try */
static int backoff(int64_t deadline, int64_t *pause)
{
	if (now_ms() + *pause >= deadline)
		return -1;
	sleep_ms(*pause);
	*pause = *pause * 2 > 1000 ? 1000 : *pause * 2;
	return 0;
}

static int kvread_open(struct kvread *r, natsStatus *st, char *err, size_t err_size)
{
	int64_t deadline = op_deadline(r), pause = 100;
	char ebuf[256];
	int tries = 0;
	for (;;) {
		jsOptions jo;
		natsStatus s;
		jsOptions_Init(&jo);
		jo.Wait = try_wait(deadline);
		tries++;
		s = natsConnection_JetStream(&r->js, r->nc, &jo);
		if (s == NATS_OK)
			s = js_KeyValue(&r->kv, r->js, r->bucket);
		if (s == NATS_OK)
			return 0;
		natsconn_strerror(s, ebuf, sizeof(ebuf));
		jsCtx_Destroy(r->js);
		r->js = NULL;
		r->kv = NULL;
		if (!status_transient(s) || backoff(deadline, &pause) < 0) {
			*st = s;
			snprintf(err, err_size, "cannot open KV bucket '%s': %s%s (%d tries)", r->bucket,
				 ebuf,
				 s == NATS_NO_RESPONDERS ? " (is JetStream enabled on the server?)" : "",
				 tries);
			return -1;
		}
		notes_add(r->notes, LOG_LVL_DEBUG, "opening KV bucket '%s' failed (%s), trying again", r->bucket, ebuf);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void keys_free(char **keys, int n)
{
	for (int i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
}

/*
 * The head keys <cluster>.<node> of the bucket, sorted, from the stream's
 * subject index (one JetStream API request, answered from the server's
 * index: no consumer, no values). Sets *keys (keys_free) and *n.
 */
static int kvread_heads(struct kvread *r, const char *cluster, char ***keys, int *n, char *err,
			size_t err_size)
{
	int64_t deadline = op_deadline(r), pause = 100;
	char ebuf[256], stream[NAMES_KEY_MAX], filter[2 * NAMES_KEY_MAX], prefix[NAMES_KEY_MAX];
	int tries = 0;

	snprintf(stream, sizeof(stream), "KV_%s", r->bucket);
	snprintf(prefix, sizeof(prefix), "$KV.%s.", r->bucket);
	snprintf(filter, sizeof(filter), "%s%s.*", prefix, cluster);
	for (;;) {
		jsOptions o;
		jsStreamInfo *si = NULL;
		jsErrCode jerr = 0;
		jsOptions_Init(&o);
		o.Wait = try_wait(deadline);
		o.Stream.Info.SubjectsFilter = filter;
		tries++;
		natsStatus st = js_GetStreamInfo(&si, r->js, stream, &o, &jerr);
		if (st == NATS_OK) {
			const jsStreamStateSubjects *subj = si->State.Subjects;
			int count = subj ? subj->Count : 0, got = 0;
			char **out = calloc((size_t)(count > 0 ? count : 1), sizeof(*out));
			for (int i = 0; out && i < count; i++) {
				const char *sub = subj->List[i].Subject;
				if (got >= FLEET_MAX_NODES) {
					if (once_due(r->once, FLEET_ONCE_HEADS))
						once_said(r->once, FLEET_ONCE_HEADS, notes_add(r->notes, LOG_LVL_WARN, "KV bucket '%s': more than %d keys, the rest are not "
							 "read (said once)",
							 r->bucket, FLEET_MAX_NODES));
					break;
				}
				if (sub && !strncmp(sub, prefix, strlen(prefix)) &&
				    names_key_node(sub + strlen(prefix), cluster, NULL) &&
				    (out[got] = strdup(sub + strlen(prefix))))
					got++;
			}
			jsStreamInfo_Destroy(si);
			if (!out) {
				snprintf(err, err_size, "out of memory");
				return -1;
			}
			qsort(out, (size_t)got, sizeof(*out), cmp_str);
			*keys = out;
			*n = got;
			return 0;
		}
		natsconn_strerror(st, ebuf, sizeof(ebuf));
		if (!status_transient(st) || backoff(deadline, &pause) < 0) {
			snprintf(err, err_size, "cannot list KV bucket '%s': %s (%d tries)", r->bucket,
				 ebuf, tries);
			return -1;
		}
		notes_add(r->notes, LOG_LVL_DEBUG, "listing KV bucket '%s' failed (%s), trying again", r->bucket, ebuf);
	}
}

/*
 * Reads key. Returns 0 with *e (kvEntry_Destroy), 1 when the key does not
 * exist (or was deleted), -1 with a reason after the deadline.
 */
static int kvread_get(struct kvread *r, const char *key, kvEntry **e, char *err, size_t err_size)
{
	int64_t deadline = op_deadline(r), pause = 100;
	char ebuf[256];
	int tries = 0;
	for (;;) {
		tries++;
		natsStatus s = kvStore_Get(e, r->kv, key);
		if (s == NATS_OK)
			return 0;
		if (s == NATS_NOT_FOUND)
			return 1;
		natsconn_strerror(s, ebuf, sizeof(ebuf));
		if (r->give_up_fast || !status_transient(s) || backoff(deadline, &pause) < 0) {
			if (status_transient(s))
				r->give_up_fast = 1;
			snprintf(err, err_size, "cannot read key '%s': %s (%d tries)", key, ebuf, tries);
			return -1;
		}
		notes_add(r->notes, LOG_LVL_DEBUG, "reading key '%s' failed (%s), trying again", key, ebuf);
	}
}

static void kvread_close(struct kvread *r)
{
	if (r->node_notes > FLEET_BAD_LOG_FIRST)
		notes_add(r->notes, LOG_LVL_WARN,
			  "hot lists: %zu node list(s) not read or ignored in all, the first %d shown",
			  r->node_notes, FLEET_BAD_LOG_FIRST);
	r->node_notes = 0;
	natsconn_kv_close(r->js, r->kv);
	r->js = NULL;
	r->kv = NULL;
}

static void destroy_entries(kvEntry **e, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		kvEntry_Destroy(e[i]);
}

/*
 * One node's list from the bucket: the head <cluster>.<node>, then its
 * continuation keys. When a continuation belongs to another generation or
 * is missing (the node wrote a new list meanwhile), the head is read again,
 * up to FLEET_RACE_TRIES times. The chunks go to the assembler only when
 * they agree; then the node is folded at once, so one list at a time is
 * held.
 */
static void read_node(struct kvread *r, struct fleet_asm *a, const char *cluster, const char *node,
		      const char *headkey)
{
	char err[320], why[520], key[NAMES_KEY_MAX];
	struct hotlist_header h, hc;
	kvEntry **ents = NULL;
	int64_t pause = 20;

	for (int t = 1; t <= FLEET_RACE_TRIES; t++) {
		kvEntry *head = NULL;
		int g = kvread_get(r, headkey, &head, err, sizeof(err));
		if (g == 1) {
			notes_add(r->notes, LOG_LVL_DEBUG, "key '%s' was deleted while the bucket was read", headkey);
			return;
		}
		if (g < 0) {
			node_note(r, "hot list of node '%s' not read: %s", node, err);
			fleet_asm_fail(a, node, err);
			return;
		}
		const char *data = kvEntry_ValueString(head);
		size_t len = (size_t)kvEntry_ValueLen(head);
		if (hotlist_parse_header(data, len, &h, err, sizeof(err)) < 0) {
			snprintf(why, sizeof(why), "key '%s': %s", headkey, err);
			node_note(r, "ignoring hot list of node '%s': %s", node, why);
			fleet_asm_fail(a, node, why);
			kvEntry_Destroy(head);
			return;
		}
		if (strcmp(h.node, node) != 0 || h.chunk != 0) {
			snprintf(why, sizeof(why), "key '%s' holds chunk %u of node '%s'", headkey,
				 h.chunk, h.node);
			node_note(r, "ignoring hot list of node '%s': %s", node, why);
			fleet_asm_fail(a, node, why);
			kvEntry_Destroy(head);
			return;
		}
		free(ents);
		if (!(ents = calloc(h.chunks, sizeof(*ents)))) {
			kvEntry_Destroy(head);
			fleet_asm_fail(a, node, "out of memory");
			return;
		}
		ents[0] = head;
		unsigned got = 1;
		int race = 0;
		/* what this read holds counts against the budget left before any chunk is fed */
		size_t held = len + (size_t)h.chunks * FLEET_CHUNK_SLOT;
		for (unsigned c = 1; c < h.chunks && held <= a->budget - a->bytes; c++) {
			kvEntry *e = NULL;
			if (names_chunk_key(key, sizeof(key), cluster, node, c) < 0)
				break;
			g = kvread_get(r, key, &e, err, sizeof(err));
			if (g < 0) {
				node_note(r, "hot list of node '%s' not read: %s", node, err);
				fleet_asm_fail(a, node, err);
				destroy_entries(ents, got);
				free(ents);
				return;
			}
			if (g == 1) {
				snprintf(why, sizeof(why), "key '%s' is missing", key);
				race = 1;
				break;
			}
			ents[got++] = e;
			held += (size_t)kvEntry_ValueLen(e);
			if (hotlist_parse_header(kvEntry_ValueString(e), (size_t)kvEntry_ValueLen(e), &hc,
						 err, sizeof(err)) < 0) {
				snprintf(why, sizeof(why), "key '%s': %s", key, err);
				node_note(r, "ignoring hot list of node '%s': %s", node, why);
				fleet_asm_fail(a, node, why);
				destroy_entries(ents, got);
				free(ents);
				return;
			}
			if (hc.gen != h.gen || hc.chunks != h.chunks) {
				snprintf(why, sizeof(why), "head has generation %llu, key '%s' %llu",
					 (unsigned long long)h.gen, key, (unsigned long long)hc.gen);
				race = 1;
				break;
			}
			if (strcmp(hc.node, node) != 0 || hc.chunk != c) {
				snprintf(why, sizeof(why), "key '%s' holds chunk %u of node '%s'", key,
					 hc.chunk, hc.node);
				node_note(r, "ignoring hot list of node '%s': %s", node, why);
				fleet_asm_fail(a, node, why);
				destroy_entries(ents, got);
				free(ents);
				return;
			}
		}
		if (held > a->budget - a->bytes) {
			snprintf(why, sizeof(why), "over the byte budget of %zu bytes", a->budget);
			log_full(a, why);
			node_note(r, "hot list of node '%s' given up after reading %u of its %u keys: %s", node,
				 got, h.chunks, why);
			fleet_asm_fail(a, node, why);
			destroy_entries(ents, got);
			free(ents);
			return;
		}
		if (!race) {
			for (unsigned c = 0; c < got; c++)
				fleet_asm_feed(a, kvEntry_ValueString(ents[c]),
					       (size_t)kvEntry_ValueLen(ents[c]), c ? key : headkey, node);
			destroy_entries(ents, got);
			free(ents);
			return;
		}
		destroy_entries(ents, got);
		notes_add(r->notes, LOG_LVL_DEBUG, "hot list of node '%s' changed while read (%s), try %d of %d", node, why, t,
			  FLEET_RACE_TRIES);
		sleep_ms(pause);
		pause *= 2;
	}
	free(ents);
	char reason[160];
	snprintf(reason, sizeof(reason), "chunk race: the list changed while read, %d tries",
		 FLEET_RACE_TRIES);
	node_note(r, "hot list of node '%s' not read: %s (last: %s)", node, reason, why);
	fleet_asm_fail(a, node, reason);
}

/*
 * Reads every node's list from the bucket and folds each at once, each
 * decayed to the same now (the read's start: a list read last weighs what
 * it would have weighed read first, so two reads of the same lists rank
 * them alike however long each took). Returns 0, or -1 when the bucket
 * could not serve (cannot open, cannot list).
 */
static int fetch_kv(natsConnection *nc, const char *cluster, double timeout, struct fleet_asm *a,
		    double now, double max_age, double half_life, struct hotmerge *merge, char *err,
		    size_t err_size)
{
	struct kvread r = {nc, NAMES_HOT_BUCKET, NULL, NULL, (int64_t)(timeout * 1000), 0, 0, &a->notes, NULL, 0};
	natsStatus st = NATS_OK;
	char node[NAMES_MAX], **keys = NULL;
	int n = 0;

	if (kvread_open(&r, &st, err, err_size) < 0)
		return -1;
	if (kvread_heads(&r, cluster, &keys, &n, err, err_size) < 0) {
		kvread_close(&r);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (!names_key_node(keys[i], cluster, node))
			continue;
		read_node(&r, a, cluster, node, keys[i]);
		fleet_asm_fold(a, now, max_age, half_life, merge);
	}
	keys_free(keys, n);
	kvread_close(&r);
	return 0;
}

/* ---- asking the nodes ---- */

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
	/* what the library queues for us is bounded too: beyond it replies are dropped */
	if (s == NATS_OK)
		s = natsSubscription_SetPendingLimits(sub, 100000, (int)FLEET_BYTE_BUDGET / 2);
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
	int64_t deadline = now_ms() + FLEET_REQUEST_WAIT_MS;
	size_t replies = 0;
	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0)
			break;
		natsMsg *msg = NULL;
		s = natsSubscription_NextMsg(&msg, sub,
					     left < FLEET_REQUEST_QUIET_MS ? left : FLEET_REQUEST_QUIET_MS);
		if (s != NATS_OK)
			break; /* quiet for a while: every node has answered */
		replies++;
		enum fleet_feed f = fleet_asm_feed(a, natsMsg_GetData(msg),
						   (size_t)natsMsg_GetDataLength(msg), subject, NULL);
		natsMsg_Destroy(msg);
		if (f == FLEET_FEED_FULL)
			break; /* over the byte budget: stop reading */
	}
	notes_add(&a->notes, LOG_LVL_DEBUG, "collected %zu hot.get replies", replies);
	natsSubscription_Unsubscribe(sub);
	natsSubscription_Destroy(sub);
	natsInbox_Destroy(inbox);
	return 0;
}

/* Clears the report but for its notes, which the read goes on adding to */
static void report_clear(struct fleet_report *r)
{
	memset(r, 0, offsetof(struct fleet_report, notes));
}

/* fleet_fetch_hot, adding to report's notes */
static int fetch_hot(natsConnection *nc, const char *cluster, double max_age, double half_life,
		     double timeout, int allow_request, struct hotmerge *merge,
		     struct fleet_report *report, char *err, size_t err_size)
{
	struct fleet_asm *a = fleet_asm_create(0);
	char kverr[512];
	int rc = -1;
	double now = clock_unix();

	report_clear(report);
	report->source = FLEET_SOURCE_KV;
	if (!a) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	if (timeout <= 0)
		timeout = FLEET_DEFAULT_TIMEOUT;
	if (fetch_kv(nc, cluster, timeout, a, now, max_age, half_life, merge, kverr, sizeof(kverr)) < 0) {
		if (!allow_request) {
			snprintf(err, err_size, "%s", kverr);
			goto out;
		}
		copy_text(report->fallback, sizeof(report->fallback), kverr);
	} else if (hotmerge_lists(merge) == 0 && allow_request) {
		snprintf(report->fallback, sizeof(report->fallback),
			 "no usable hot list in KV bucket '%s'", NAMES_HOT_BUCKET);
	}
	if (report->fallback[0]) {
		notes_add(&a->notes, LOG_LVL_INFO, "%s, asking the running nodes instead", report->fallback);
		report->source = FLEET_SOURCE_REQUEST;
		if (fetch_request(nc, cluster, a, err, err_size) < 0)
			goto out;
	}
	fleet_asm_finish(a, now, max_age, half_life, merge, report);
	rc = 0;
out:
	notes_move(&report->notes, &a->notes); /* also on failure (finish moved them already) */
	fleet_asm_destroy(a);
	return rc;
}

int fleet_fetch_hot(natsConnection *nc, const char *cluster, double max_age, double half_life,
		    double timeout, int allow_request, struct hotmerge *merge,
		    struct fleet_report *report, char *err, size_t err_size)
{
	memset(report, 0, sizeof(*report));
	return fetch_hot(nc, cluster, max_age, half_life, timeout, allow_request, merge, report, err,
			 err_size);
}

void fleet_report_free(struct fleet_report *report)
{
	free(report->node);
	report->node = NULL;
	report->nodes = 0;
}

/* ---- reads that do not grow with the fleet: the merged list and a sample ---- */

int fleet_merge_key(char *out, size_t size, const char *cluster, unsigned chunk)
{
	int l = chunk ? snprintf(out, size, "%s.%s.%u", cluster, FLEET_MERGE_NAME, chunk)
		      : snprintf(out, size, "%s.%s", cluster, FLEET_MERGE_NAME);
	return l < 0 || (size_t)l >= size ? -1 : 0;
}

/*
 * The merged list's names, in its order, in the caller's items array, found
 * by (type, name) through an open-addressing table of indexes into it. Its
 * size is a power of two at least twice the array's, so it never fills.
 */
struct mindex {
	uint32_t *slot; /* an index into items, plus 1; 0: empty */
	size_t mask;
	struct hot_item *items;
	size_t n;
	uint16_t *support; /* per name: sampled lists that name it (saturates) */
};

static int mindex_init(struct mindex *x, struct hot_item *items, size_t cap)
{
	size_t slots = 2;
	while (slots < 2 * cap)
		slots <<= 1;
	x->slot = calloc(slots, sizeof(*x->slot));
	x->support = calloc(cap ? cap : 1, sizeof(*x->support));
	x->mask = slots - 1;
	x->items = items;
	x->n = 0;
	return x->slot && x->support ? 0 : -1;
}

static void mindex_free(struct mindex *x)
{
	free(x->slot);
	free(x->support);
	x->slot = NULL;
	x->support = NULL;
}

/*
 * The index of it among the names; -1 when it is not there. With add, a
 * missing name is appended as items[n] (the caller keeps n below the
 * array's size) and -2 returned.
 */
static long mindex_find(struct mindex *x, const struct hot_item *it, int add)
{
	for (size_t i = (size_t)hotlist_item_hash(it) & x->mask;; i = (i + 1) & x->mask) {
		uint32_t v = x->slot[i];
		if (!v) {
			if (!add)
				return -1;
			x->items[x->n] = *it;
			x->slot[i] = (uint32_t)++x->n;
			return -2;
		}
		const struct hot_item *o = &x->items[v - 1];
		if (o->qtype == it->qtype && o->qname_len == it->qname_len &&
		    !memcmp(o->qname, it->qname, it->qname_len))
			return (long)(v - 1);
	}
}

struct merge_take {
	struct mindex *x;
	size_t cap;
	double decay;
	size_t repeated;
};

static void take_merge_item(const struct hot_item *it, void *arg)
{
	struct merge_take *t = arg;
	struct hot_item d = *it;
	if (t->x->n >= t->cap)
		return;
	d.score *= t->decay;
	if (mindex_find(t->x, &d, 1) >= 0)
		t->repeated++;
}

/* A sampled list's item: one more list names it, when the merged list has it */
static void tap_support(const struct hot_item *it, void *arg)
{
	struct mindex *x = arg;
	long i = mindex_find(x, it, 0);
	if (i >= 0 && x->support[i] < UINT16_MAX)
		x->support[i]++;
}

/*
 * Reads the merged list into x, at most cap names, in its order; checks it
 * as a node's list is checked (every chunk's header and items, one
 * generation, its time), except that its header names the node that wrote
 * it, and it must be at most FLEET_MERGE_MAX_AGE (and max_age) old.
 * Returns 0, or -1 with the reason in rep->merge_why.
 */
static void set_why(struct fleet_report *rep, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_why(struct fleet_report *rep, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	copy_text(rep->merge_why, sizeof(rep->merge_why), buf);
}

static int read_merge(struct kvread *r, const char *cluster, double now, double max_age,
		      double half_life, struct mindex *x, size_t cap, struct fleet_report *rep)
{
	char key[NAMES_KEY_MAX], err[320];
	struct hotlist_header h, hc;
	double limit = max_age > 0 && max_age < FLEET_MERGE_MAX_AGE ? max_age : FLEET_MERGE_MAX_AGE;
	int64_t pause = 20;

	for (int t = 1; t <= FLEET_RACE_TRIES; t++) {
		kvEntry *head = NULL, **ents = NULL;
		unsigned got = 0;
		int race = 0;
		if (fleet_merge_key(key, sizeof(key), cluster, 0) < 0) {
			set_why(rep, "its key is too long");
			return -1;
		}
		int g = kvread_get(r, key, &head, err, sizeof(err));
		if (g != 0) {
			set_why(rep, g == 1 ? "there is none (key '%s')" : "%s",
				 g == 1 ? key : err);
			return -1;
		}
		const char *data = kvEntry_ValueString(head);
		size_t len = (size_t)kvEntry_ValueLen(head);
		int hb = hotlist_parse_header(data, len, &h, err, sizeof(err));
		if (hb < 0 || h.chunk != 0) {
			set_why(rep, "key '%s': %s", key, hb < 0 ? err : "holds no chunk 0");
			kvEntry_Destroy(head);
			return -1;
		}
		double age = now - h.time;
		snprintf(rep->merge_node, sizeof(rep->merge_node), "%s", h.node);
		rep->merge_age = age;
		if (-age > FLEET_MAX_SKEW || age > limit) {
			if (-age > FLEET_MAX_SKEW)
				set_why(rep, "written by node '%s' %.0f s in the future", h.node,
					 -age);
			else
				set_why(rep, "stale: written by node '%s' %.1f s ago, the limit is %g s",
					 h.node, age, limit);
			kvEntry_Destroy(head);
			return -1;
		}
		if (!(ents = calloc(h.chunks, sizeof(*ents)))) {
			set_why(rep, "out of memory");
			kvEntry_Destroy(head);
			return -1;
		}
		ents[got++] = head;
		size_t held = len + (size_t)h.chunks * FLEET_CHUNK_SLOT;
		int bad = 0;
		for (unsigned c = 1; c < h.chunks && held <= FLEET_BYTE_BUDGET && !bad && !race; c++) {
			kvEntry *e = NULL;
			fleet_merge_key(key, sizeof(key), cluster, c);
			g = kvread_get(r, key, &e, err, sizeof(err));
			if (g != 0) {
				if (g == 1)
					race = 1;
				else
					bad = (set_why(rep, "%s", err), 1);
				break;
			}
			ents[got++] = e;
			held += (size_t)kvEntry_ValueLen(e);
			if (hotlist_parse_header(kvEntry_ValueString(e), (size_t)kvEntry_ValueLen(e), &hc,
						 err, sizeof(err)) < 0)
				bad = (set_why(rep, "key '%s': %s", key, err), 1);
			else if (hc.gen != h.gen || hc.chunks != h.chunks)
				race = 1;
			else if (strcmp(hc.node, h.node) != 0 || hc.chunk != c)
				bad = (set_why(rep, "key '%s' holds chunk %u of node '%s'", key,
					       hc.chunk, hc.node), 1);
		}
		if (!bad && held > FLEET_BYTE_BUDGET)
			bad = (set_why(rep, "over the byte budget of %u bytes",
				       (unsigned)FLEET_BYTE_BUDGET), 1);
		/* all or nothing: every chunk passes before a name is taken */
		for (unsigned c = 0; !bad && !race && c < got; c++)
			if (hotlist_parse(kvEntry_ValueString(ents[c]), (size_t)kvEntry_ValueLen(ents[c]),
					  &hc, NULL, NULL, err, sizeof(err)) < 0)
				bad = (set_why(rep, "chunk %u rejected: %s", c, err), 1);
		if (!bad && !race) {
			struct merge_take take = {x, cap,
						  half_life > 0 && age > 0 ? exp2(-age / half_life) : 1.0, 0};
			for (unsigned c = 0; c < got; c++)
				hotlist_parse(kvEntry_ValueString(ents[c]), (size_t)kvEntry_ValueLen(ents[c]),
					      &hc, take_merge_item, &take, err, sizeof(err));
			if (take.repeated)
				notes_add(&rep->notes, LOG_LVL_WARN, "the merged list of node '%s': %zu name(s) repeated, counted once",
					 h.node, take.repeated);
		}
		destroy_entries(ents, got);
		free(ents);
		if (bad)
			return -1;
		if (!race)
			return 0;
		sleep_ms(pause);
		pause *= 2;
	}
	set_why(rep, "it changed while read, %d tries", FLEET_RACE_TRIES);
	return -1;
}

/*
 * The sampled read (fleet.h, fleet_top). Returns 1 when it does not apply
 * (the bucket cannot be listed, or holds at most sample node lists: the
 * caller reads them all), 0 with items and *n filled, -1 with a reason.
 */
static int top_sampled(natsConnection *nc, const char *cluster, double max_age, double half_life,
		       double timeout, size_t sample, size_t top, size_t cap, struct hot_item *items, size_t *n,
		       struct fleet_report *rep, char *err, size_t err_size)
{
	struct kvread r = {nc, NAMES_HOT_BUCKET, NULL, NULL, (int64_t)(timeout * 1000), 0, 0, &rep->notes, NULL, 0};
	natsStatus st = NATS_OK;
	char **keys = NULL, node[NAMES_MAX], kerr[512];
	int nk = 0, rc = 1, have;
	struct mindex x = {0};
	struct fleet_asm *a = NULL;
	struct hotmerge *m = NULL;
	struct hot_item *check = NULL, *more = NULL;
	size_t tried = 0, k;

	if (kvread_open(&r, &st, kerr, sizeof(kerr)) < 0)
		return 1;
	if (kvread_heads(&r, cluster, &keys, &nk, kerr, sizeof(kerr)) < 0 || (size_t)nk <= sample)
		goto out;
	rc = -1;
	if (mindex_init(&x, items, cap) < 0 || !(a = fleet_asm_create(0)) ||
	    !(m = hotmerge_create(top)) || !(check = calloc(FLEET_MERGE_CHECK, sizeof(*check)))) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	rep->source = FLEET_SOURCE_KV;
	rep->heads = (size_t)nk;
	double now = clock_unix(); /* every list decayed to the same moment, as fetch_kv does */
	have = read_merge(&r, cluster, now, max_age, half_life, &x, cap, rep) == 0;
	/* the sample: node lists in random order, until sample of them are used, at most 4 * sample read */
	for (int i = nk - 1; i > 0; i--) {
		int j = (int)arc4random_uniform((uint32_t)i + 1);
		char *t = keys[i];
		keys[i] = keys[j];
		keys[j] = t;
	}
	a->tap = have ? tap_support : NULL;
	a->tap_arg = &x;
	for (int i = 0; i < nk && hotmerge_lists(m) < sample && tried < 4 * sample; i++) {
		if (!names_key_node(keys[i], cluster, node))
			continue;
		tried++;
		read_node(&r, a, cluster, node, keys[i]);
		fleet_asm_fold(a, now, max_age, half_life, m);
	}
	fleet_asm_finish(a, now, max_age, half_life, m, rep);
	k = hotmerge_top(m, check, FLEET_MERGE_CHECK);
	if (have && x.n == 0) {
		snprintf(rep->merge_why, sizeof(rep->merge_why), "it holds no names");
		have = 0;
	}
	if (have && rep->used == 0) {
		snprintf(rep->merge_why, sizeof(rep->merge_why),
			 "no sampled node list could be read to check it against (%zu tried)", tried);
		have = 0;
	}
	if (have && k == 0) {
		snprintf(rep->merge_why, sizeof(rep->merge_why),
			 "the %zu sampled list(s) hold no names to check it against", rep->used);
		have = 0;
	}
	if (have) {
		for (size_t i = 0; i < k; i++)
			if (mindex_find(&x, &check[i], 0) >= 0)
				rep->cover++;
		rep->cover_of = (unsigned)k;
		if (rep->cover * 100 < FLEET_MERGE_MIN_COVER * k) {
			snprintf(rep->merge_why, sizeof(rep->merge_why),
				 "it holds %u of the %zu hottest names of the %zu sampled list(s), fewer "
				 "than %d %%",
				 rep->cover, k, rep->used, FLEET_MERGE_MIN_COVER);
			have = 0;
		}
	}
	if (!have) {
		/* said once, here, for every reader (recmesh hot and warm, the proxy's auto-warm) */
		notes_add(&rep->notes, LOG_LVL_WARN, "not using the fleet's merged list%s%s%s: %s; using the merge of %zu "
			 "sampled list(s) of %d",
			 rep->merge_node[0] ? " of node '" : "", rep->merge_node,
			 rep->merge_node[0] ? "'" : "", rep->merge_why, rep->used, nk);
		*n = hotmerge_top(m, items, top);
		rep->candidates = hotmerge_count(m);
		rc = 0;
		goto out;
	}
	/* a merged list shorter than top: filled up with the sample's names it lacks */
	size_t names = x.n < top ? x.n : top;
	if (names < top && (more = calloc(top, sizeof(*more)))) {
		size_t km = hotmerge_top(m, more, top);
		for (size_t i = 0; i < km && x.n < top; i++)
			if (mindex_find(&x, &more[i], 1) == -2)
				rep->filled++;
		free(more);
		more = NULL;
	}
	hotmerge_destroy(m);
	m = NULL;
	/* names a sampled list confirms first, then the others, each in the merged list's order */
	size_t unconfirmed = 0, w = 0;
	for (size_t i = 0; i < names; i++)
		unconfirmed += x.support[i] == 0;
	if (unconfirmed && unconfirmed < names && !(more = calloc(unconfirmed, sizeof(*more))))
		notes_add(&rep->notes, LOG_LVL_WARN, "out of memory: the merged list's names are handed out in its own order");
	if (more) {
		size_t u = 0;
		for (size_t i = 0; i < names; i++) {
			if (x.support[i])
				items[w++] = items[i];
			else
				more[u++] = items[i];
		}
		memcpy(items + w, more, u * sizeof(*more));
	}
	rep->merge_used = 1;
	rep->merge_names = names;
	rep->confirmed = names - unconfirmed;
	rep->candidates = x.n;
	*n = names + rep->filled;
	notes_add(&rep->notes, LOG_LVL_INFO, "using the fleet's merged list of node '%s' (%.1f s old, %zu names, %zu of them "
		 "named by %zu sampled list(s) of %d too; it holds %u of their %u hottest names)",
		 rep->merge_node, rep->merge_age, names, rep->confirmed, rep->used, nk, rep->cover,
		 rep->cover_of);
	rc = 0;
out:
	free(more);
	free(check);
	hotmerge_destroy(m);
	fleet_asm_destroy(a);
	mindex_free(&x);
	keys_free(keys, nk);
	kvread_close(&r);
	return rc;
}

int fleet_top(natsConnection *nc, const char *cluster, double max_age, double half_life,
	      double timeout, size_t sample, size_t top, struct hot_item **items, size_t *n,
	      struct fleet_report *report, char *err, size_t err_size)
{
	struct hotmerge *m = NULL;
	int rc = -1;
	/* a sampled read takes at least FLEET_MERGE_MIN_READ of the merged list's names, to check it */
	size_t cap = sample > 0 && top < FLEET_MERGE_MIN_READ ? FLEET_MERGE_MIN_READ : top;

	*items = NULL;
	*n = 0;
	memset(report, 0, sizeof(*report));
	if (!(*items = calloc(cap ? cap : 1, sizeof(**items)))) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	if (sample > 0 && top > 0) {
		if (timeout <= 0)
			timeout = FLEET_DEFAULT_TIMEOUT;
		int s = top_sampled(nc, cluster, max_age, half_life, timeout, sample, top, cap, *items, n,
				    report, err, err_size);
		if (s < 0)
			fleet_report_free(report);
		if (s <= 0) {
			rc = s;
			goto out;
		}
		report_clear(report);
	}
	if (!(m = hotmerge_create(top))) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	if (fetch_hot(nc, cluster, max_age, half_life, timeout, 1, m, report, err, err_size) < 0)
		goto out;
	*n = hotmerge_top(m, *items, top);
	report->candidates = hotmerge_count(m);
	rc = 0;
out:
	if (rc < 0) {
		free(*items);
		*items = NULL;
		*n = 0;
	}
	hotmerge_destroy(m);
	return rc;
}

static void add_ns_item(const struct nstable_item *it, void *arg)
{
	nstable_merge_add(arg, it);
}

struct ns_fetch {
	struct notes *notes;
	const char *cluster;
	struct nstable_merge *merge;
	size_t bad; /* malformed or mismatched tables, the first FLEET_BAD_LOG_FIRST logged */
	double max_age, now;
	int used;
};

static void feed_ns_head(const char *k, kvEntry *e, void *arg)
{
	struct ns_fetch *f = arg;
	char node[64], key_node[NAMES_MAX], perr[160];
	double t = 0;
	const char *data = kvEntry_ValueString(e);
	size_t len = (size_t)kvEntry_ValueLen(e);
	/* validate the whole value first: a bad table contributes nothing */
	if (nstable_parse(data, len, node, &t, NULL, NULL, perr, sizeof(perr)) < 0) {
		if (++f->bad <= FLEET_BAD_LOG_FIRST)
			notes_add(f->notes, LOG_LVL_WARN, "ignoring NS table '%s': %s", k, perr);
	} else if (!names_key_node(k, f->cluster, key_node) || strcmp(key_node, node) != 0) {
		/* one table is one node, the key's: a writer cannot speak for others under its key */
		if (++f->bad <= FLEET_BAD_LOG_FIRST)
			notes_add(f->notes, LOG_LVL_WARN, "ignoring NS table '%s': its header names node '%s'", k, node);
	} else if (f->max_age > 0 && f->now - t > f->max_age) {
		notes_add(f->notes, LOG_LVL_DEBUG, "ignoring NS table '%s': %.0f s old", k, f->now - t);
	} else {
		nstable_merge_table(f->merge);
		nstable_parse(data, len, node, &t, add_ns_item, f->merge, perr, sizeof(perr));
		f->used++;
	}
}

int fleet_fetch_ns_within(natsConnection *nc, const char *cluster, double max_age, double within,
			  struct nstable_merge *merge, struct notes *notes, struct log_once *once,
			  char *err, size_t err_size)
{
	struct ns_fetch f = {
		.notes = notes, .cluster = cluster, .merge = merge, .max_age = max_age, .now = clock_unix()};
	struct kvread r = {nc, NAMES_NS_BUCKET, NULL, NULL, (int64_t)(FLEET_DEFAULT_TIMEOUT * 1000),
			   0,  0,		notes, once, 0};
	natsStatus st = NATS_OK;
	char kerr[320], **keys = NULL;
	int n = 0, i;

	if (within > 0) {
		r.deadline = now_ms() + (int64_t)(within * 1000);
		if (r.timeout_ms > (int64_t)(within * 1000))
			r.timeout_ms = (int64_t)(within * 1000);
	}
	if (kvread_open(&r, &st, err, err_size) < 0)
		return -1;
	if (kvread_heads(&r, cluster, &keys, &n, err, err_size) < 0) {
		kvread_close(&r);
		return -1;
	}
	for (i = 0; i < n && !(r.deadline && now_ms() >= r.deadline); i++) {
		kvEntry *e = NULL;
		int g = kvread_get(&r, keys[i], &e, kerr, sizeof(kerr));
		if (g < 0 && ++f.bad <= FLEET_BAD_LOG_FIRST)
			notes_add(notes, LOG_LVL_WARN, "NS table not read: %s", kerr);
		if (g != 0)
			continue; /* deleted meanwhile, or logged */
		feed_ns_head(keys[i], e, &f);
		kvEntry_Destroy(e);
	}
	if (i < n && once_due(once, FLEET_ONCE_NS_LATE))
		once_said(once, FLEET_ONCE_NS_LATE,
			  notes_add(notes, LOG_LVL_WARN,
				    "NS tables: %d of %d not read within %.1f s, the refresh's deadline "
				    "(said once)",
				    n - i, n, within));
	if (nstable_merge_left_out(merge) && once_due(once, FLEET_ONCE_NS_FULL))
		once_said(once, FLEET_ONCE_NS_FULL,
			  notes_add(notes, LOG_LVL_WARN,
				    "NS tables: more than %d addresses, %zu item(s) left out (said once)",
				    NS_MERGE_MAX_ENTRIES, nstable_merge_left_out(merge)));
	if (nstable_merge_names_left_out(merge) && once_due(once, FLEET_ONCE_NS_NAMES))
		once_said(once, FLEET_ONCE_NS_NAMES,
			  notes_add(notes, LOG_LVL_WARN,
				    "NS tables: NS names beyond %u bytes in all, %zu left out (said once)",
				    NS_MERGE_MAX_NAME_BYTES, nstable_merge_names_left_out(merge)));
	if (f.bad > FLEET_BAD_LOG_FIRST)
		notes_add(notes, LOG_LVL_WARN,
			  "NS tables: %zu malformed, mismatched or unread table(s) in all, the first %d "
			  "shown",
			  f.bad, FLEET_BAD_LOG_FIRST);
	keys_free(keys, n);
	kvread_close(&r);
	return f.used;
}

int fleet_fetch_ns(natsConnection *nc, const char *cluster, double max_age, struct nstable_merge *merge,
		   struct notes *notes, char *err, size_t err_size)
{
	return fleet_fetch_ns_within(nc, cluster, max_age, 0, merge, notes, NULL, err, err_size);
}
