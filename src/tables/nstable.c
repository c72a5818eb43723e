/* nstable.c: the authoritative-server table; see nstable.h */
#include "config.h"

#include "tables/nstable.h"

#include "base/clock.h"
#include "base/json.h"
#include "base/linefmt.h"
#include "base/names.h"
#include "base/satsum.h"
#include "base/topn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uthash.h>

#define NS_RTT_ALPHA 0.25 /* weight of a new sample in the smoothed RTT */

static uint32_t sat_add32(uint32_t a, uint32_t b)
{
	return a > UINT32_MAX - b ? UINT32_MAX : a + b;
}

/* An RTT as stored and written: finite, within [0, NS_SRTT_MAX_MS] */
static double srtt_bound(double ms)
{
	if (!(ms >= 0)) /* negative or NaN */
		return 0;
	return ms > NS_SRTT_MAX_MS ? NS_SRTT_MAX_MS : ms;
}

int nstable_ns_name_ok(const char *s, size_t len)
{
	size_t label = 0;
	if (len < 2 || len > NS_NAME_MAX || s[len - 1] != '.')
		return 0; /* the root is no name server's name */
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return 1;
}

int nstable_ns_name_norm(const uint8_t *in, size_t len, char out[NS_NAME_MAX + 1])
{
	char buf[NS_NAME_MAX + 1];
	if (len > 0 && in[len - 1] == '.')
		len--; /* the Recursor sends it without the dot; take it with one too */
	if (len == 0 || len + 1 > NS_NAME_MAX)
		return -1;
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(in[i] >= 'A' && in[i] <= 'Z' ? in[i] - 'A' + 'a' : in[i]);
	buf[len] = '.';
	buf[len + 1] = '\0';
	if (!nstable_ns_name_ok(buf, len + 1))
		return -1;
	memcpy(out, buf, len + 2);
	return (int)len + 1;
}

/* The bytes of names a merge may still take; NULL for a node's table (bounded by its entries) */
struct name_budget {
	size_t used, left_out;
};

static int cmp_name_slot(const char *na, double ta, const char *nb, double tb)
{
	if (ta != tb)
		return ta < tb ? 1 : -1;
	return strcmp(na, nb);
}

/*
 * Puts name, seen at t, into a list of at most NS_NAMES_MAX owned copies,
 * kept sorted: the most recently seen first (then by name). A name already
 * there gets the later time; a new one takes a free place, or the place of
 * the one seen longest ago unless it is older still. Out of memory or
 * budget: the name is left out.
 */
static void names_put(char **names, double *seen, uint8_t *n, const char *name, double t,
		      struct name_budget *b)
{
	size_t i, slot;
	for (i = 0; i < *n; i++)
		if (strcmp(names[i], name) == 0) {
			if (t > seen[i])
				seen[i] = t;
			goto sort;
		}
	slot = *n;
	if (*n == NS_NAMES_MAX) {
		slot = NS_NAMES_MAX - 1; /* sorted: the one seen longest ago */
		if (cmp_name_slot(name, t, names[slot], seen[slot]) > 0)
			return;
	}
	size_t len = strlen(name) + 1;
	if (b && b->used + len > NS_MERGE_MAX_NAME_BYTES) {
		b->left_out++;
		return;
	}
	char *copy = malloc(len);
	if (!copy)
		return;
	memcpy(copy, name, len);
	if (slot < *n) {
		if (b)
			b->used -= strlen(names[slot]) + 1;
		free(names[slot]);
	} else {
		(*n)++;
	}
	if (b)
		b->used += len;
	names[slot] = copy;
	seen[slot] = t;
sort:
	/* one entry moved: insertion sort of at most NS_NAMES_MAX */
	for (size_t k = 1; k < *n; k++)
		for (size_t j = k; j > 0 && cmp_name_slot(names[j], seen[j], names[j - 1], seen[j - 1]) < 0; j--) {
			char *tn = names[j];
			double tt = seen[j];
			names[j] = names[j - 1];
			seen[j] = seen[j - 1];
			names[j - 1] = tn;
			seen[j - 1] = tt;
		}
}

static void names_free(char **names, uint8_t n)
{
	for (uint8_t i = 0; i < n; i++)
		free(names[i]);
}

/* The item's name pointers and times from an owned list */
static void names_link(struct nstable_item *it, char *const *names, const double *seen, uint8_t n)
{
	it->nnames = n;
	for (uint8_t i = 0; i < NS_NAMES_MAX; i++) {
		it->names[i] = i < n ? names[i] : NULL;
		it->name_seen[i] = i < n ? seen[i] : 0;
	}
}

/*
 * An answer's RTT waits in a slot for NS_CHAIN_WINDOW (the Recursor's clock)
 * before it is folded into the smoothed RTT: a Recursor that has a query
 * for the same name and type in flight to the same server chains a second
 * one onto it instead of sending it, and both get the one answer, the
 * chained ones first. The chained one's RTT is shorter than the server's
 * (its query time is later); the Recursor leaves it out of its own speeds,
 * and so does the table: of the answers for one query key that come within
 * the window, only the longest RTT counts.
 */
#define NS_CHAIN_SLOTS 4
#define NS_CHAIN_WINDOW 0.05
struct ns_pending {
	uint32_t qkey; /* 0: the slot is free */
	double time;   /* of the latest answer for qkey */
	double ms;
};

struct ns_entry {
	UT_hash_handle hh;
	uint8_t key[17]; /* family, then the address */
	struct nstable_item item;
	char *names[NS_NAMES_MAX]; /* owned; item.names point here */
	struct ns_pending pending[NS_CHAIN_SLOTS];
};

static void ns_entry_free(struct ns_entry *e)
{
	names_free(e->names, e->item.nnames);
	free(e);
}

struct nstable {
	struct ns_entry *entries;
	size_t count, capacity;
	double max_age;
};

struct nstable *nstable_create(size_t capacity, double max_age)
{
	struct nstable *t = calloc(1, sizeof(*t));
	if (!t || capacity == 0) {
		free(t);
		return NULL;
	}
	t->capacity = capacity;
	t->max_age = max_age;
	return t;
}

void nstable_destroy(struct nstable *t)
{
	if (!t)
		return;
	TOPN_CLEAR(t->entries, struct ns_entry, ns_entry_free);
	free(t);
}

static void make_key(uint8_t key[17], int family, const uint8_t *addr)
{
	memset(key, 0, 17);
	key[0] = (uint8_t)family;
	memcpy(key + 1, addr, family == 4 ? 4 : 16);
}

static int cmp_seen_desc(const void *a, const void *b)
{
	const struct ns_entry *x = *(struct ns_entry *const *)a, *y = *(struct ns_entry *const *)b;
	return (x->item.last_seen < y->item.last_seen) - (x->item.last_seen > y->item.last_seen);
}

/* Drops the least recently seen tenth */
static void evict(struct nstable *t)
{
	size_t n, i, keep;
	struct ns_entry **all = (struct ns_entry **)TOPN_SORTED(t->entries, struct ns_entry,
							       cmp_seen_desc, &n);
	if (!all)
		return;
	keep = n - (n / 10 ? n / 10 : 1);
	for (i = keep; i < n; i++) {
		HASH_DEL(t->entries, all[i]);
		ns_entry_free(all[i]);
	}
	t->count = keep;
	free(all);
}

static void srtt_fold(struct nstable_item *it, double ms)
{
	it->srtt_ms = srtt_bound(it->srtt_ms > 0 ? (1 - NS_RTT_ALPHA) * it->srtt_ms + NS_RTT_ALPHA * ms : ms);
}

/* Folds the waiting RTTs into the smoothed RTT: all of them, or those older than the window at now */
static void pending_fold(struct ns_entry *e, double now, int all)
{
	for (;;) {
		/* oldest first, so that the order of the samples is kept */
		struct ns_pending *o = NULL;
		for (size_t i = 0; i < NS_CHAIN_SLOTS; i++) {
			struct ns_pending *p = &e->pending[i];
			if (p->qkey && (all || now - p->time > NS_CHAIN_WINDOW) && (!o || p->time < o->time))
				o = p;
		}
		if (!o)
			return;
		srtt_fold(&e->item, o->ms);
		o->qkey = 0;
	}
}

/* An answer's RTT (ms) for query key qkey at now: into a slot, or straight into the smoothed RTT */
static void pending_put(struct ns_entry *e, uint32_t qkey, double ms, double now)
{
	struct ns_pending *slot = NULL;
	if (!qkey) {
		srtt_fold(&e->item, ms);
		return;
	}
	for (size_t i = 0; i < NS_CHAIN_SLOTS; i++) {
		struct ns_pending *p = &e->pending[i];
		if (p->qkey == qkey && fabs(now - p->time) <= NS_CHAIN_WINDOW) {
			/* the same query answered again within the window: chained; the longest wait counts */
			p->ms = fmax(p->ms, ms);
			p->time = fmax(p->time, now);
			return;
		}
	}
	pending_fold(e, now, 0);
	for (size_t i = 0; i < NS_CHAIN_SLOTS && !slot; i++)
		if (!e->pending[i].qkey)
			slot = &e->pending[i];
	if (!slot) {
		/* all slots taken within the window: the oldest goes in now */
		slot = &e->pending[0];
		for (size_t i = 1; i < NS_CHAIN_SLOTS; i++)
			if (e->pending[i].time < slot->time)
				slot = &e->pending[i];
		srtt_fold(&e->item, slot->ms);
	}
	*slot = (struct ns_pending){.qkey = qkey, .time = now, .ms = ms};
}

uint32_t nstable_query_key(const uint8_t *qname, size_t len, uint16_t qtype)
{
	uint32_t h = 2166136261u; /* FNV-1a over the lower-cased name, then the type */
	for (size_t i = 0; i < len; i++) {
		uint8_t c = qname[i];
		h = (h ^ (uint8_t)(c >= 'A' && c <= 'Z' ? c + 32 : c)) * 16777619u;
	}
	h = (h ^ (qtype >> 8)) * 16777619u;
	h = (h ^ (qtype & 0xff)) * 16777619u;
	return h ? h : 1;
}

void nstable_observe(struct nstable *t, int family, const uint8_t *addr, uint32_t rtt_us,
		     int timeout, double now, const char *ns_name)
{
	nstable_observe_q(t, family, addr, rtt_us, timeout, now, ns_name, 0);
}

void nstable_observe_q(struct nstable *t, int family, const uint8_t *addr, uint32_t rtt_us,
		       int timeout, double now, const char *ns_name, uint32_t qkey)
{
	uint8_t key[17];
	struct ns_entry *e;
	if ((family != 4 && family != 6) || !isfinite(now) || now < 0)
		return;
	make_key(key, family, addr);
	HASH_FIND(hh, t->entries, key, sizeof(key), e);
	if (!e) {
		if (t->count >= t->capacity)
			evict(t);
		if (!(e = calloc(1, sizeof(*e))))
			return;
		memcpy(e->key, key, sizeof(key));
		e->item.family = (uint8_t)family;
		memcpy(e->item.addr, addr, family == 4 ? 4 : 16);
		HASH_ADD(hh, t->entries, key, sizeof(e->key), e);
		t->count++;
	}
	struct nstable_item *it = &e->item;
	it->last_seen = fmax(it->last_seen, now);
	if (ns_name && nstable_ns_name_ok(ns_name, strlen(ns_name))) {
		names_put(e->names, it->name_seen, &it->nnames, ns_name, now, NULL);
		names_link(it, e->names, it->name_seen, it->nnames);
	}
	if (timeout) {
		it->timeouts = sat_add_u64(it->timeouts, 1);
		it->streak = sat_add32(it->streak, 1);
		it->last_timeout = fmax(it->last_timeout, now);
	} else {
		/* an answer whose RTT the stream did not give (0) leaves the smoothed RTT alone */
		if (rtt_us > 0)
			pending_put(e, qkey, srtt_bound(rtt_us / 1000.0), now);
		it->answers = sat_add_u64(it->answers, 1);
		it->streak = 0;
		it->last_answer = fmax(it->last_answer, now);
	}
}

size_t nstable_count(const struct nstable *t)
{
	return t->count;
}

size_t nstable_snapshot(struct nstable *t, double now, struct nstable_item *out, size_t max)
{
	struct ns_entry *e, *tmp, **all;
	size_t n;
	HASH_ITER(hh, t->entries, e, tmp)
	{
		/* a Recursor's clock ahead of ours: what it saw happened now at the latest */
		e->item.last_answer = fmin(e->item.last_answer, now);
		e->item.last_timeout = fmin(e->item.last_timeout, now);
		e->item.last_seen = fmin(e->item.last_seen, now);
		for (uint8_t i = 0; i < e->item.nnames; i++)
			e->item.name_seen[i] = fmin(e->item.name_seen[i], now);
		pending_fold(e, now, 1);
		if (t->max_age > 0 && now - e->item.last_seen > t->max_age) {
			HASH_DEL(t->entries, e);
			ns_entry_free(e);
			t->count--;
		}
	}
	if (!max || !(all = (struct ns_entry **)TOPN_SORTED(t->entries, struct ns_entry, cmp_seen_desc, &n)))
		return 0;
	max = topn_take(n, max);
	for (size_t i = 0; i < max; i++)
		out[i] = all[i]->item;
	free(all);
	return max;
}

const char *nstable_addr_text(const struct nstable_item *it, char *buf, size_t size)
{
	if (!inet_ntop(it->family == 4 ? AF_INET : AF_INET6, it->addr, buf, (socklen_t)size))
		snprintf(buf, size, "?");
	return buf;
}

char *nstable_encode(const struct nstable_item *items, size_t n, const char *node, double time,
		size_t max_len, size_t *len)
{
	char *buf = malloc(max_len + 1), line[NS_LINE_MAX], a[64];
	if (!buf || !names_valid(node) || !isfinite(time) || time < 0 || time >= 1e11) {
		free(buf);
		return NULL;
	}
	int hl = snprintf(buf, max_len, "#recmesh-ns 2 node=%s time=%.3f\n", node, time);
	if (hl < 0 || (size_t)hl >= max_len) {
		free(buf);
		return NULL;
	}
	size_t o = (size_t)hl;
	for (size_t i = 0; i < n; i++) {
		const struct nstable_item *it = &items[i];
		/* what the parser takes: times not after the header's, streak <= timeouts */
		double la = fmin(it->last_answer, time), lt = fmin(it->last_timeout, time);
		double ls = fmin(it->last_seen, time);
		if (!(la >= 0) || !(lt >= 0) || !(ls >= 0))
			continue;
		int l = snprintf(line, sizeof(line), "%s %.3f %llu %llu %u %.3f %.3f %.3f ",
				 nstable_addr_text(it, a, sizeof(a)), srtt_bound(it->srtt_ms),
				 (unsigned long long)it->answers, (unsigned long long)it->timeouts,
				 it->streak <= it->timeouts ? it->streak : (uint32_t)it->timeouts, la, lt, ls);
		size_t names_at = (size_t)l;
		for (uint8_t k = 0; l > 0 && (size_t)l < sizeof(line) && k < it->nnames && k < NS_NAMES_MAX; k++) {
			const char *nm = it->names[k];
			double seen = fmin(it->name_seen[k], time);
			if (!nm || !nstable_ns_name_ok(nm, strlen(nm)) || !(seen >= 0))
				continue;
			l += snprintf(line + l, sizeof(line) - (size_t)l, "%s%s@%.3f", (size_t)l > names_at ? "," : "",
				      nm, seen);
		}
		if (l > 0 && (size_t)l < sizeof(line))
			l += snprintf(line + l, sizeof(line) - (size_t)l, "%s\n", (size_t)l > names_at ? "" : "-");
		if (l < 0 || (size_t)l >= sizeof(line) || o + (size_t)l > max_len)
			break; /* most recently seen first: what is cut is the stalest */
		memcpy(buf + o, line, (size_t)l);
		o += (size_t)l;
	}
	buf[o] = '\0';
	*len = o;
	return buf;
}

/* A time in a table: finite, from 0 to below 10^11 */
static int parse_time(const char *s, double *t)
{
	double v;
	if (linefmt_decimal(s, 0, 1e11, &v) < 0 || v >= 1e11)
		return -1;
	*t = v;
	return 0;
}

/* "#recmesh-ns V node=NODE time=T", V 1 or 2; reasons as doc/nats.md quotes them */
static int parse_header(char *line, double now, char node[64], double *time, int *ver, char *err,
			size_t err_size)
{
	char *f[4];
	const char *n, *v;
	uint64_t version;
	if (linefmt_split(line, f, 4) != 4 || strcmp(f[0], "#recmesh-ns") != 0 ||
	    linefmt_unsigned(f[1], UINT64_MAX, &version) < 0 || !(n = linefmt_value(f[2], "node")) ||
	    !names_valid(n) || !(v = linefmt_value(f[3], "time")))
		return linefmt_fail(err, err_size, "bad header line");
	if ((version != 1 && version != 2) || parse_time(v, time) < 0)
		return linefmt_fail(err, err_size, "unsupported version or bad time");
	if (*time > now + NS_CLOCK_SKEW)
		return linefmt_fail(err, err_size, "time in the future");
	snprintf(node, 64, "%s", n);
	*ver = (int)version;
	return 0;
}

/*
 * NAMES (version 2): "-", or NAME@TIME joined by ',': at most NS_NAMES_MAX,
 * each a name nstable_ns_name_ok takes, once, seen not after the table's
 * time. The names point into f (their '@' made NULs).
 */
static int parse_names(char *f, double header_time, struct nstable_item *it)
{
	if (strcmp(f, "-") == 0)
		return 0;
	for (char *p = f;;) {
		char *comma = strchr(p, ','), *at;
		double t;
		if (comma)
			*comma = '\0';
		if (!(at = strchr(p, '@')) || it->nnames >= NS_NAMES_MAX)
			return -1;
		*at = '\0';
		if (!nstable_ns_name_ok(p, (size_t)(at - p)) || parse_time(at + 1, &t) < 0 || t > header_time)
			return -1;
		for (uint8_t k = 0; k < it->nnames; k++)
			if (strcmp(it->names[k], p) == 0)
				return -1;
		it->names[it->nnames] = p;
		it->name_seen[it->nnames++] = t;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

/* ADDRESS SRTT_MS ANSWERS TIMEOUTS STREAK LAST_ANSWER LAST_TIMEOUT LAST_SEEN, and NAMES in version 2 */
static int parse_item(char *line, int ver, double header_time, struct nstable_item *it, size_t lineno,
		      char *err, size_t err_size)
{
	char *f[9];
	int nf = ver == 1 ? 8 : 9;
	uint64_t streak;
	memset(it, 0, sizeof(*it));
	if (linefmt_split(line, f, nf) != nf || linefmt_decimal(f[1], 0, NS_SRTT_MAX_MS, &it->srtt_ms) < 0 ||
	    linefmt_unsigned(f[2], UINT64_MAX, &it->answers) < 0 ||
	    linefmt_unsigned(f[3], UINT64_MAX, &it->timeouts) < 0 ||
	    linefmt_unsigned(f[4], UINT32_MAX, &streak) < 0 || streak > it->timeouts ||
	    parse_time(f[5], &it->last_answer) < 0 || parse_time(f[6], &it->last_timeout) < 0 ||
	    parse_time(f[7], &it->last_seen) < 0)
		return linefmt_fail(err, err_size, "bad item on line %zu", lineno);
	if (it->last_answer > header_time || it->last_timeout > header_time || it->last_seen > header_time)
		return linefmt_fail(err, err_size, "time after the table's on line %zu", lineno);
	if (inet_pton(AF_INET, f[0], it->addr) == 1)
		it->family = 4;
	else if (inet_pton(AF_INET6, f[0], it->addr) == 1)
		it->family = 6;
	else
		return linefmt_fail(err, err_size, "bad address on line %zu", lineno);
	if (ver == 2 && parse_names(f[8], header_time, it) < 0)
		return linefmt_fail(err, err_size, "bad names on line %zu", lineno);
	it->streak = (uint32_t)streak;
	it->nodes = 1;
	return 0;
}

int nstable_parse(const char *data, size_t len, char node[64], double *time, nstable_item_cb cb, void *arg,
	     char *err, size_t err_size)
{
	return nstable_parse_at(data, len, clock_unix(), node, time, cb, arg, err, err_size);
}

/*
 * The addresses of one table seen so far, to refuse a table that names one
 * twice (it would count as two nodes' evidence): open addressing on the
 * 17-byte key, grown at half full.
 */
struct addr_seen {
	uint8_t (*key)[18]; /* key[i][17]: 1 when the slot is used */
	size_t size, used;
};

static size_t addr_hash(const uint8_t key[17])
{
	uint64_t h = 1469598103934665603ULL;
	for (int i = 0; i < 17; i++)
		h = (h ^ key[i]) * 1099511628211ULL;
	return (size_t)(h ^ (h >> 32));
}

static void addr_put(uint8_t (*tab)[18], size_t size, const uint8_t key[17])
{
	size_t j = addr_hash(key) & (size - 1);
	while (tab[j][17])
		j = (j + 1) & (size - 1);
	memcpy(tab[j], key, 17);
	tab[j][17] = 1;
}

/* 1 when key was seen before (now it is), 0 when not, -1 out of memory */
static int addr_seen_check(struct addr_seen *s, const uint8_t key[17])
{
	if (s->used * 2 >= s->size) {
		size_t size = s->size ? s->size * 2 : 64;
		uint8_t (*tab)[18] = calloc(size, sizeof(*tab));
		if (!tab)
			return -1;
		for (size_t i = 0; i < s->size; i++)
			if (s->key[i][17])
				addr_put(tab, size, s->key[i]);
		free(s->key);
		s->key = tab;
		s->size = size;
	}
	for (size_t j = addr_hash(key) & (s->size - 1); s->key[j][17]; j = (j + 1) & (s->size - 1))
		if (memcmp(s->key[j], key, 17) == 0)
			return 1;
	addr_put(s->key, s->size, key);
	s->used++;
	return 0;
}

int nstable_parse_at(const char *data, size_t len, double now, char node[64], double *time,
		     nstable_item_cb cb, void *arg, char *err, size_t err_size)
{
	char buf[NS_LINE_MAX + 1], *line, n[64];
	size_t l;
	double t = 0;
	struct linefmt lf;
	struct addr_seen seen = {NULL, 0, 0};
	int items = 0, r, rc = -1, ver = 0;

	linefmt_init(&lf, data, len);
	while ((r = linefmt_next(&lf, buf, sizeof(buf), &line, &l, err, err_size)) > 0) {
		if (lf.lineno == 1) {
			if (parse_header(line, now, n, &t, &ver, err, err_size) < 0)
				goto out;
			continue;
		}
		if (l == 0)
			continue;
		if (ver == 1 && l > NS_LINE_MAX_V1) {
			linefmt_fail(err, err_size, "bad line %zu", lf.lineno);
			goto out;
		}
		struct nstable_item it;
		uint8_t key[17];
		if (parse_item(line, ver, t, &it, lf.lineno, err, err_size) < 0)
			goto out;
		make_key(key, it.family, it.addr);
		int dup = addr_seen_check(&seen, key);
		if (dup < 0) {
			linefmt_fail(err, err_size, "out of memory");
			goto out;
		}
		if (dup) {
			linefmt_fail(err, err_size, "duplicate address on line %zu", lf.lineno);
			goto out;
		}
		if (cb)
			cb(&it, arg);
		items++;
	}
	if (r < 0) { /* too long or a NUL byte */
		linefmt_fail(err, err_size, "bad line %zu", lf.lineno);
		goto out;
	}
	if (lf.lineno == 0) {
		linefmt_fail(err, err_size, "empty value");
		goto out;
	}
	memcpy(node, n, 64);
	*time = t;
	rc = items;
out:
	free(seen.key);
	return rc;
}

struct merge_entry {
	UT_hash_handle hh;
	uint8_t key[17];
	struct nstable_item item;
	/* each node's run of timeouts and when its last one was */
	struct {
		uint32_t streak;
		double last_timeout;
	} *runs;
	size_t nruns, cap;
	int state; /* as of the last nstable_merge_items */
	char *names[NS_NAMES_MAX]; /* owned; item.nnames and item.name_seen describe them */
};

static void add_run(struct merge_entry *e, const struct nstable_item *it)
{
	if (e->nruns >= NS_MERGE_MAX_RUNS)
		return; /* more tables than a fleet has: the runs so far decide */
	if (e->nruns == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 4;
		void *n = realloc(e->runs, cap * sizeof(*e->runs));
		if (!n)
			return;
		e->runs = n;
		e->cap = cap;
	}
	e->runs[e->nruns].streak = it->streak;
	e->runs[e->nruns].last_timeout = it->last_timeout;
	e->nruns++;
}

struct nstable_merge {
	struct merge_entry *entries;
	size_t count;
	unsigned tables;   /* nstable_merge_table calls: the nodes whose tables are merged */
	size_t left_out;   /* items of new addresses refused at NS_MERGE_MAX_ENTRIES */
	struct name_budget names; /* bytes of names held, names refused at NS_MERGE_MAX_NAME_BYTES */
};

void nstable_merge_table(struct nstable_merge *m)
{
	if (m->tables < UINT_MAX)
		m->tables++;
}

size_t nstable_merge_left_out(const struct nstable_merge *m)
{
	return m->left_out;
}

size_t nstable_merge_names_left_out(const struct nstable_merge *m)
{
	return m->names.left_out;
}

struct nstable_merge *nstable_merge_create(void)
{
	return calloc(1, sizeof(struct nstable_merge));
}

static void merge_entry_free(struct merge_entry *e)
{
	names_free(e->names, e->item.nnames);
	free(e->runs);
	free(e);
}

/* The item's names joined to the entry's (copied, within the merge's budget) */
static void merge_names(struct nstable_merge *m, struct merge_entry *e, const struct nstable_item *it)
{
	for (uint8_t i = 0; i < it->nnames && i < NS_NAMES_MAX; i++) {
		const char *nm = it->names[i];
		if (nm && nstable_ns_name_ok(nm, strlen(nm)) && isfinite(it->name_seen[i]) && it->name_seen[i] >= 0)
			names_put(e->names, e->item.name_seen, &e->item.nnames, nm, it->name_seen[i], &m->names);
	}
}

void nstable_merge_destroy(struct nstable_merge *m)
{
	if (!m)
		return;
	TOPN_CLEAR(m->entries, struct merge_entry, merge_entry_free);
	free(m);
}

void nstable_merge_add(struct nstable_merge *m, const struct nstable_item *it)
{
	uint8_t key[17];
	struct merge_entry *e;
	make_key(key, it->family, it->addr);
	HASH_FIND(hh, m->entries, key, sizeof(key), e);
	if (!e) {
		if (m->count >= NS_MERGE_MAX_ENTRIES) {
			m->left_out++;
			return;
		}
		if (!(e = calloc(1, sizeof(*e))))
			return;
		memcpy(e->key, key, sizeof(key));
		e->item = *it;
		e->item.nodes = 1;
		e->item.srtt_ms = srtt_bound(it->srtt_ms);
		names_link(&e->item, e->names, e->item.name_seen, 0);
		merge_names(m, e, it);
		add_run(e, it);
		HASH_ADD(hh, m->entries, key, sizeof(e->key), e);
		m->count++;
		return;
	}
	merge_names(m, e, it);
	add_run(e, it);
	struct nstable_item *x = &e->item;
	/* weights in double: a sum of answers that saturates never divides by 0 */
	if (it->answers) {
		double wx = (double)x->answers, wi = (double)it->answers;
		x->srtt_ms = srtt_bound((x->srtt_ms * wx + srtt_bound(it->srtt_ms) * wi) / (wx + wi));
	}
	x->answers = sat_add_u64(x->answers, it->answers);
	x->timeouts = sat_add_u64(x->timeouts, it->timeouts);
	x->last_answer = fmax(x->last_answer, it->last_answer);
	x->last_timeout = fmax(x->last_timeout, it->last_timeout);
	x->last_seen = fmax(x->last_seen, it->last_seen);
	x->nodes = sat_add32(x->nodes, 1);
}

/* A timeout recent enough to call a server dead: not older than NS_DEAD_FRESH, not in the future */
static int fresh(double t, double now)
{
	return t > 0 && t >= now - NS_DEAD_FRESH && t <= now + NS_CLOCK_SKEW;
}

/*
 * Dead: at least NS_DEAD_MIN_TIMEOUTS timeouts in a row (summed over the
 * nodes), the fleet's latest word on it is a timeout, so one answer seen
 * by any node after the last timeout clears the verdict, and that timeout
 * is fresh: old or future evidence never makes a server dead.
 */
enum nstable_state nstable_state_of(const struct nstable_item *it, double now)
{
	if (it->streak >= NS_DEAD_MIN_TIMEOUTS && it->last_timeout > it->last_answer &&
	    fresh(it->last_timeout, now))
		return NS_DEAD;
	if (it->answers && it->srtt_ms >= NS_SLOW_MS)
		return NS_SLOW;
	return NS_OK;
}

const char *nstable_state_name(enum nstable_state s)
{
	return s == NS_DEAD ? "dead" : s == NS_SLOW ? "slow" : "ok";
}

/* The state each entry got in nstable_merge_items, for the sort (qsort has no argument) */
static int cmp_merged(const void *a, const void *b)
{
	const struct merge_entry *ex = *(struct merge_entry *const *)a, *ey = *(struct merge_entry *const *)b;
	const struct nstable_item *x = &ex->item, *y = &ey->item;
	if (ex->state != ey->state)
		return ey->state - ex->state;
	if (x->srtt_ms != y->srtt_ms)
		return x->srtt_ms < y->srtt_ms ? 1 : -1;
	return memcmp(ex->key, ey->key, sizeof(ex->key));
}

struct nstable_item *nstable_merge_items(struct nstable_merge *m, double now, size_t *n)
{
	struct merge_entry *e, *tmp, **all;
	size_t count;
	struct nstable_item *out = malloc((m->count ? m->count : 1) * sizeof(*out));
	*n = 0;
	if (!out)
		return NULL;
	/* the fleet's size: the tables merged, or (without nstable_merge_table) the most runs of an entry */
	size_t fleet = m->tables;
	HASH_ITER(hh, m->entries, e, tmp)
	{
		if (e->nruns > fleet)
			fleet = e->nruns;
	}
	HASH_ITER(hh, m->entries, e, tmp)
	{
		/*
		 * The fleet's run of timeouts: only the runs that ended after the
		 * latest answer any node saw count, so an answer clears every run
		 * before it, on every node. Each run is one node's (a table names
		 * an address once); in a fleet of more than one node, the runs
		 * count only when at least NS_DEAD_MIN_NODES nodes report one, so
		 * no single node's table makes a server dead for everybody.
		 */
		struct nstable_item *x = &e->item;
		size_t witnesses = 0;
		x->streak = 0;
		for (size_t k = 0; k < e->nruns; k++)
			if (e->runs[k].streak > 0 && e->runs[k].last_timeout > x->last_answer &&
			    fresh(e->runs[k].last_timeout, now)) {
				x->streak = sat_add32(x->streak, e->runs[k].streak);
				witnesses++;
			}
		if (fleet > 1 && witnesses < NS_DEAD_MIN_NODES)
			x->streak = 0;
		e->state = (int)nstable_state_of(x, now);
	}
	all = (struct merge_entry **)TOPN_SORTED(m->entries, struct merge_entry, cmp_merged, &count);
	if (!all && m->entries) {
		free(out);
		return NULL;
	}
	for (size_t i = 0; i < count; i++) {
		out[i] = all[i]->item;
		names_link(&out[i], all[i]->names, all[i]->item.name_seen, all[i]->item.nnames);
	}
	free(all);
	*n = count;
	return out;
}

int nstable_item_json(const struct nstable_item *it, double now, char *buf, size_t size)
{
	char a[64];
	struct json j;
	json_init(&j, buf, size);
	json_obj_begin(&j);
	json_kstr(&j, "address", nstable_addr_text(it, a, sizeof(a)));
	json_kstr(&j, "state", nstable_state_name(nstable_state_of(it, now)));
	json_knum(&j, "rtt_ms", it->srtt_ms, 3);
	json_ku64(&j, "answers", it->answers);
	json_ku64(&j, "timeouts", it->timeouts);
	json_ku64(&j, "streak", it->streak);
	json_ku64(&j, "nodes", it->nodes);
	json_knum(&j, "last_seen", it->last_seen, 3);
	json_key(&j, "names");
	json_arr_begin(&j);
	for (uint8_t i = 0; i < it->nnames && i < NS_NAMES_MAX; i++)
		if (it->names[i])
			json_str(&j, it->names[i]);
	json_arr_end(&j);
	json_obj_end(&j);
	return json_finish(&j);
}
