/* nstable.c: the authoritative-server table; see nstable.h */
#include "config.h"

#include "nstable.h"

#include "linefmt.h"
#include "names.h"
#include "topn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uthash.h>

#define NS_RTT_ALPHA 0.25 /* weight of a new sample in the smoothed RTT */
#define NS_LINE_MAX 256

struct ns_entry {
	UT_hash_handle hh;
	uint8_t key[17]; /* family, then the address */
	struct nstable_item item;
};

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
	struct ns_entry *e, *tmp;
	if (!t)
		return;
	HASH_ITER(hh, t->entries, e, tmp)
	{
		HASH_DEL(t->entries, e);
		free(e);
	}
	free(t);
}

/* Counters saturate: a sum of hostile numbers must not wrap to a small one */
static uint64_t sat_add64(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint32_t sat_add32(uint32_t a, uint32_t b)
{
	return a > UINT32_MAX - b ? UINT32_MAX : a + b;
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
		free(all[i]);
	}
	t->count = keep;
	free(all);
}

void nstable_observe(struct nstable *t, int family, const uint8_t *addr, uint32_t rtt_us,
		     int timeout, double now)
{
	uint8_t key[17];
	struct ns_entry *e;
	if (family != 4 && family != 6)
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
	it->last_seen = now;
	if (timeout) {
		it->timeouts = sat_add64(it->timeouts, 1);
		it->streak = sat_add32(it->streak, 1);
		it->last_timeout = now;
	} else {
		double ms = rtt_us / 1000.0;
		it->srtt_ms = it->answers ? (1 - NS_RTT_ALPHA) * it->srtt_ms + NS_RTT_ALPHA * ms : ms;
		it->answers = sat_add64(it->answers, 1);
		it->streak = 0;
		it->last_answer = now;
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
		if (t->max_age > 0 && now - e->item.last_seen > t->max_age) {
			HASH_DEL(t->entries, e);
			free(e);
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
	if (!buf || !names_valid(node)) {
		free(buf);
		return NULL;
	}
	int hl = snprintf(buf, max_len, "#recmesh-ns 1 node=%s time=%.3f\n", node, time);
	if (hl < 0 || (size_t)hl >= max_len) {
		free(buf);
		return NULL;
	}
	size_t o = (size_t)hl;
	for (size_t i = 0; i < n; i++) {
		const struct nstable_item *it = &items[i];
		int l = snprintf(line, sizeof(line), "%s %.3f %llu %llu %u %.3f %.3f %.3f\n",
				 nstable_addr_text(it, a, sizeof(a)), it->srtt_ms,
				 (unsigned long long)it->answers, (unsigned long long)it->timeouts,
				 it->streak, it->last_answer, it->last_timeout, it->last_seen);
		if (l < 0 || o + (size_t)l > max_len)
			break; /* most recently seen first: what is cut is the stalest */
		memcpy(buf + o, line, (size_t)l);
		o += (size_t)l;
	}
	buf[o] = '\0';
	*len = o;
	return buf;
}

/* nstable_make_parent and nstable_write_intel (on their way to intel.c) still say fail() */
#define fail(...) linefmt_fail(__VA_ARGS__)

/* A time in a table: finite, from 0 to below 10^11 */
static int parse_time(const char *s, double *t)
{
	double v;
	if (linefmt_decimal(s, 0, 1e11, &v) < 0 || v >= 1e11)
		return -1;
	*t = v;
	return 0;
}

/* "#recmesh-ns 1 node=NODE time=T"; reasons as doc/nats.md quotes them */
static int parse_header(char *line, char node[64], double *time, char *err, size_t err_size)
{
	char *f[4];
	const char *n, *v;
	uint64_t version;
	if (linefmt_split(line, f, 4) != 4 || strcmp(f[0], "#recmesh-ns") != 0 ||
	    linefmt_unsigned(f[1], UINT64_MAX, &version) < 0 || !(n = linefmt_value(f[2], "node")) ||
	    !names_valid(n) || !(v = linefmt_value(f[3], "time")))
		return linefmt_fail(err, err_size, "bad header line");
	if (version != 1 || parse_time(v, time) < 0)
		return linefmt_fail(err, err_size, "unsupported version or bad time");
	snprintf(node, 64, "%s", n);
	return 0;
}

/* ADDRESS SRTT_MS ANSWERS TIMEOUTS STREAK LAST_ANSWER LAST_TIMEOUT LAST_SEEN */
static int parse_item(char *line, struct nstable_item *it, size_t lineno, char *err, size_t err_size)
{
	char *f[8];
	uint64_t streak;
	memset(it, 0, sizeof(*it));
	if (linefmt_split(line, f, 8) != 8 || linefmt_decimal(f[1], 0, 1e6, &it->srtt_ms) < 0 ||
	    linefmt_unsigned(f[2], UINT64_MAX, &it->answers) < 0 ||
	    linefmt_unsigned(f[3], UINT64_MAX, &it->timeouts) < 0 ||
	    linefmt_unsigned(f[4], UINT32_MAX, &streak) < 0 || streak > it->timeouts ||
	    parse_time(f[5], &it->last_answer) < 0 || parse_time(f[6], &it->last_timeout) < 0 ||
	    parse_time(f[7], &it->last_seen) < 0)
		return linefmt_fail(err, err_size, "bad item on line %zu", lineno);
	if (inet_pton(AF_INET, f[0], it->addr) == 1)
		it->family = 4;
	else if (inet_pton(AF_INET6, f[0], it->addr) == 1)
		it->family = 6;
	else
		return linefmt_fail(err, err_size, "bad address on line %zu", lineno);
	it->streak = (uint32_t)streak;
	it->nodes = 1;
	return 0;
}

int nstable_parse(const char *data, size_t len, char node[64], double *time, nstable_item_cb cb, void *arg,
	     char *err, size_t err_size)
{
	char buf[NS_LINE_MAX + 1], *line, n[64];
	size_t l;
	double t = 0;
	struct linefmt lf;
	int items = 0, r;

	linefmt_init(&lf, data, len);
	while ((r = linefmt_next(&lf, buf, sizeof(buf), &line, &l, err, err_size)) > 0) {
		if (lf.lineno == 1) {
			if (parse_header(line, n, &t, err, err_size) < 0)
				return -1;
			continue;
		}
		if (l == 0)
			continue;
		struct nstable_item it;
		if (parse_item(line, &it, lf.lineno, err, err_size) < 0)
			return -1;
		if (cb)
			cb(&it, arg);
		items++;
	}
	if (r < 0) /* too long or a NUL byte */
		return linefmt_fail(err, err_size, "bad line %zu", lf.lineno);
	if (lf.lineno == 0)
		return linefmt_fail(err, err_size, "empty value");
	memcpy(node, n, 64);
	*time = t;
	return items;
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
};

static void add_run(struct merge_entry *e, const struct nstable_item *it)
{
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
};

struct nstable_merge *nstable_merge_create(void)
{
	return calloc(1, sizeof(struct nstable_merge));
}

void nstable_merge_destroy(struct nstable_merge *m)
{
	struct merge_entry *e, *tmp;
	if (!m)
		return;
	HASH_ITER(hh, m->entries, e, tmp)
	{
		HASH_DEL(m->entries, e);
		free(e->runs);
		free(e);
	}
	free(m);
}

void nstable_merge_add(struct nstable_merge *m, const struct nstable_item *it)
{
	uint8_t key[17];
	struct merge_entry *e;
	make_key(key, it->family, it->addr);
	HASH_FIND(hh, m->entries, key, sizeof(key), e);
	if (!e) {
		if (!(e = calloc(1, sizeof(*e))))
			return;
		memcpy(e->key, key, sizeof(key));
		e->item = *it;
		e->item.nodes = 1;
		add_run(e, it);
		HASH_ADD(hh, m->entries, key, sizeof(e->key), e);
		m->count++;
		return;
	}
	add_run(e, it);
	struct nstable_item *x = &e->item;
	/* weights as doubles: the counts may be anything up to 2^64 - 1 */
	if (it->answers)
		x->srtt_ms = (x->srtt_ms * (double)x->answers + it->srtt_ms * (double)it->answers) /
			     ((double)x->answers + (double)it->answers);
	x->answers = sat_add64(x->answers, it->answers);
	x->timeouts = sat_add64(x->timeouts, it->timeouts);
	x->last_answer = fmax(x->last_answer, it->last_answer);
	x->last_timeout = fmax(x->last_timeout, it->last_timeout);
	x->last_seen = fmax(x->last_seen, it->last_seen);
	x->nodes = sat_add32(x->nodes, 1);
}

/*
 * Dead: at least NS_DEAD_MIN_TIMEOUTS timeouts in a row (summed over the
 * nodes) and the fleet's latest word on it is a timeout, so one answer seen
 * by any node after the last timeout clears the verdict.
 */
enum nstable_state nstable_state_of(const struct nstable_item *it)
{
	if (it->streak >= NS_DEAD_MIN_TIMEOUTS && it->last_timeout > it->last_answer)
		return NS_DEAD;
	if (it->answers && it->srtt_ms >= NS_SLOW_MS)
		return NS_SLOW;
	return NS_OK;
}

const char *nstable_state_name(enum nstable_state s)
{
	return s == NS_DEAD ? "dead" : s == NS_SLOW ? "slow" : "ok";
}

static int cmp_merged(const void *a, const void *b)
{
	const struct nstable_item *x = &(*(struct merge_entry *const *)a)->item;
	const struct nstable_item *y = &(*(struct merge_entry *const *)b)->item;
	int sx = nstable_state_of(x), sy = nstable_state_of(y);
	if (sx != sy)
		return sy - sx;
	if (x->srtt_ms != y->srtt_ms)
		return x->srtt_ms < y->srtt_ms ? 1 : -1;
	return memcmp(x->addr, y->addr, 16);
}

struct nstable_item *nstable_merge_items(struct nstable_merge *m, size_t *n)
{
	struct merge_entry *e, *tmp, **all;
	size_t count;
	struct nstable_item *out = malloc((m->count ? m->count : 1) * sizeof(*out));
	*n = 0;
	if (!out)
		return NULL;
	HASH_ITER(hh, m->entries, e, tmp)
	{
		/*
		 * The fleet's run of timeouts: only the runs that ended after the
		 * latest answer any node saw count, so an answer clears every run
		 * before it, on every node.
		 */
		struct nstable_item *x = &e->item;
		x->streak = 0;
		for (size_t k = 0; k < e->nruns; k++)
			if (e->runs[k].last_timeout > x->last_answer)
				x->streak = sat_add32(x->streak, e->runs[k].streak);
	}
	all = (struct merge_entry **)TOPN_SORTED(m->entries, struct merge_entry, cmp_merged, &count);
	if (!all && m->entries) {
		free(out);
		return NULL;
	}
	for (size_t i = 0; i < count; i++)
		out[i] = all[i]->item;
	free(all);
	*n = count;
	return out;
}

int nstable_make_parent(const char *path, char *err, size_t err_size)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return fail(err, err_size, "cannot create '%s': %s", dir, strerror(errno));
	return 0;
}

int nstable_write_intel(const char *path, const struct nstable_item *merged, size_t n, double now, char *err,
		   size_t err_size)
{
	char tmp[4096], a[64];
	int dead = 0;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return fail(err, err_size, "path too long");
	FILE *f = fopen(tmp, "w");
	if (!f)
		return fail(err, err_size, "cannot write '%s': %s", tmp, strerror(errno));
	fprintf(f, "# recmesh-intel 1 time=%.3f\n", now);
	for (size_t i = 0; i < n; i++)
		if (nstable_state_of(&merged[i]) == NS_DEAD) {
			fprintf(f, "dead %s\n", nstable_addr_text(&merged[i], a, sizeof(a)));
			dead++;
		}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0 || ferror(f)) {
		int e = errno;
		fclose(f);
		unlink(tmp);
		return fail(err, err_size, "cannot write '%s': %s", tmp, strerror(e));
	}
	fclose(f);
	chmod(tmp, 0644);
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return fail(err, err_size, "cannot rename '%s' to '%s': %s", tmp, path, strerror(e));
	}
	return dead;
}
