/* hotlist.c: hot list encoding, parsing and merging; see hotlist.h */
#include "config.h"

#include "hotlist.h"

#include "linefmt.h"
#include "names.h"
#include "topn.h"


#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#define HOTLIST_MAGIC "#recmesh-hot"
#define HOTLIST_VERSION 1
#define HOTLIST_HDR_MAX 200
#define HOTLIST_LINE_MAX (32 + 16 + DNS_MAX_NAME_TEXT)

void hotlist_chunks_free(struct hotlist_chunk *chunks, size_t nchunks)
{
	if (!chunks)
		return;
	for (size_t i = 0; i < nchunks; i++)
		free(chunks[i].data);
	free(chunks);
}

static int format_item(const struct hot_item *it, char *line, size_t size)
{
	char name[DNS_MAX_NAME_TEXT], type[16];
	if (dnsmsg_name_to_text(it->qname, it->qname_len, name, sizeof(name)) < 0)
		return -1;
	int n = snprintf(line, size, "%.3f %s %s\n", it->score, dnsmsg_type_to_text(it->qtype, type),
			 name);
	return (n < 0 || (size_t)n >= size) ? -1 : n;
}

int hotlist_encode(const struct hot_item *items, size_t n, const char *node, double time,
		   uint64_t gen, size_t max_chunk, struct hotlist_chunk **chunks, size_t *nchunks)
{
	char line[HOTLIST_LINE_MAX];
	size_t *bounds = NULL; /* item index where each chunk starts */
	size_t nb = 0, cap = 0, used = 0;

	if (!names_valid(node) || !isfinite(time))
		return -1;
	/*
	 * Room for the header: at least HOTLIST_HDR_MAX, more when the time is
	 * a long number (a reader accepts any finite time, so a list read and
	 * written again may carry one); measured with the widest chunk numbers.
	 */
	int hmax = snprintf(NULL, 0, "%s %d node=%s time=%.3f gen=%" PRIu64 " chunk=%d/%d\n", HOTLIST_MAGIC,
			    HOTLIST_VERSION, node, time, gen, HOTLIST_MAX_CHUNKS - 1, HOTLIST_MAX_CHUNKS);
	size_t reserve = hmax > HOTLIST_HDR_MAX ? (size_t)hmax : HOTLIST_HDR_MAX;
	if (hmax < 0 || max_chunk < reserve + HOTLIST_LINE_MAX)
		return -1;
	/* first pass: decide the chunk boundaries */
	for (size_t i = 0; i <= n; i++) {
		int len = 0;
		if (i < n && (len = format_item(&items[i], line, sizeof(line))) < 0)
			continue; /* cannot happen for names from the wire; skip rather than fail */
		if (nb == 0 || (i < n && used + (size_t)len > max_chunk - reserve)) {
			if (nb == cap) {
				cap = cap ? cap * 2 : 8;
				size_t *nbnd = realloc(bounds, cap * sizeof(*bounds));
				if (!nbnd) {
					free(bounds);
					return -1;
				}
				bounds = nbnd;
			}
			bounds[nb++] = i;
			used = 0;
		}
		used += (size_t)len;
	}
	if (nb > HOTLIST_MAX_CHUNKS) {
		free(bounds);
		return -1;
	}
	struct hotlist_chunk *out = calloc(nb, sizeof(*out));
	if (!out) {
		free(bounds);
		return -1;
	}
	for (size_t c = 0; c < nb; c++) {
		size_t from = bounds[c], to = c + 1 < nb ? bounds[c + 1] : n;
		char *buf = malloc(max_chunk + 1);
		if (!buf)
			goto fail;
		int hl = snprintf(buf, max_chunk, "%s %d node=%s time=%.3f gen=%" PRIu64 " chunk=%zu/%zu\n",
				  HOTLIST_MAGIC, HOTLIST_VERSION, node, time, gen, c, nb);
		size_t len = (size_t)hl;
		for (size_t i = from; i < to; i++) {
			/* the first pass planned the room: the line fits */
			int l = format_item(&items[i], line, sizeof(line));
			if (l > 0 && len + (size_t)l <= max_chunk) {
				memcpy(buf + len, line, (size_t)l);
				len += (size_t)l;
			}
		}
		buf[len] = '\0';
		out[c].data = buf;
		out[c].len = len;
	}
	free(bounds);
	*chunks = out;
	*nchunks = nb;
	return 0;
fail:
	hotlist_chunks_free(out, nb);
	free(bounds);
	return -1;
}

/* The header line; reasons as doc/nats.md quotes them */
static int parse_header(char *line, struct hotlist_header *hdr, char *err, size_t err_size)
{
	char *f[6];
	const char *node, *v;
	uint64_t version, gen, chunk, chunks;
	double time;
	char *slash;
	if (linefmt_split(line, f, 6) != 6 || strcmp(f[0], HOTLIST_MAGIC) != 0 ||
	    linefmt_unsigned(f[1], UINT64_MAX, &version) < 0 || !(node = linefmt_value(f[2], "node")) ||
	    !names_valid(node) || !(v = linefmt_value(f[3], "time")) ||
	    linefmt_decimal(v, -DBL_MAX, DBL_MAX, &time) < 0 || !(v = linefmt_value(f[4], "gen")) ||
	    linefmt_unsigned(v, UINT64_MAX, &gen) < 0 || !(v = linefmt_value(f[5], "chunk")) ||
	    !(slash = strchr(v, '/')))
		return linefmt_fail(err, err_size, "bad header line");
	*slash = '\0';
	if (linefmt_unsigned(v, UINT64_MAX, &chunk) < 0 ||
	    linefmt_unsigned(slash + 1, UINT64_MAX, &chunks) < 0)
		return linefmt_fail(err, err_size, "bad header line");
	if (version != HOTLIST_VERSION)
		return linefmt_fail(err, err_size, "unsupported hot list version %llu",
				    (unsigned long long)version);
	if (time < 0 || chunks == 0 || chunks > HOTLIST_MAX_CHUNKS || chunk >= chunks)
		return linefmt_fail(err, err_size, "bad values in header");
	snprintf(hdr->node, sizeof(hdr->node), "%s", node);
	hdr->time = time;
	hdr->gen = gen;
	hdr->chunk = (unsigned)chunk;
	hdr->chunks = (unsigned)chunks;
	return 0;
}

/* SCORE QTYPE QNAME */
static int parse_item(char *line, struct hot_item *it)
{
	char *f[3];
	int l;
	if (linefmt_split(line, f, 3) != 3 || linefmt_decimal(f[0], 0, HOTLIST_MAX_SCORE, &it->score) < 0 ||
	    dnsmsg_type_from_text(f[1], &it->qtype) < 0 || it->qtype == 0 ||
	    (l = dnsmsg_name_from_text(f[2], it->qname, sizeof(it->qname))) <= 0)
		return -1;
	it->qname_len = (uint8_t)l;
	return 0;
}

int hotlist_parse(const char *data, size_t len, struct hotlist_header *hdr, hotlist_item_cb cb,
		  void *arg, char *err, size_t err_size)
{
	char buf[HOTLIST_LINE_MAX + 1], *line;
	size_t l;
	struct linefmt lf;
	struct hotlist_header h;
	int items = 0, r;

	linefmt_init(&lf, data, len);
	while ((r = linefmt_next(&lf, buf, sizeof(buf), &line, &l, err, err_size)) > 0) {
		if (lf.lineno == 1) {
			if (parse_header(line, &h, err, err_size) < 0)
				return -1;
			continue;
		}
		if (l == 0)
			continue;
		struct hot_item it;
		if (parse_item(line, &it) < 0)
			return linefmt_fail(err, err_size, "bad item on line %zu", lf.lineno);
		if (cb)
			cb(&it, arg);
		items++;
	}
	if (r < 0)
		return -1;
	if (lf.lineno == 0)
		return linefmt_fail(err, err_size, "empty value");
	*hdr = h;
	return items;
}

struct merge_entry {
	UT_hash_handle hh;
	struct hot_item item;
	uint8_t key[2 + DNS_MAX_NAME];
	unsigned key_len;
};

struct hotmerge {
	struct merge_entry *entries;
	size_t count;
};

struct hotmerge *hotmerge_create(void)
{
	return calloc(1, sizeof(struct hotmerge));
}

void hotmerge_destroy(struct hotmerge *m)
{
	struct merge_entry *e, *tmp;
	if (!m)
		return;
	HASH_ITER(hh, m->entries, e, tmp)
	{
		HASH_DEL(m->entries, e);
		free(e);
	}
	free(m);
}

void hotmerge_add(struct hotmerge *m, const struct hot_item *item)
{
	uint8_t key[2 + DNS_MAX_NAME];
	struct merge_entry *e;
	key[0] = (uint8_t)(item->qtype >> 8);
	key[1] = (uint8_t)item->qtype;
	memcpy(key + 2, item->qname, item->qname_len);
	unsigned key_len = 2u + item->qname_len;
	HASH_FIND(hh, m->entries, key, key_len, e);
	if (e) {
		e->item.score += item->score;
		return;
	}
	if (!(e = malloc(sizeof(*e))))
		return;
	e->item = *item;
	memcpy(e->key, key, key_len);
	e->key_len = key_len;
	HASH_ADD(hh, m->entries, key, key_len, e);
	m->count++;
}

size_t hotmerge_count(const struct hotmerge *m)
{
	return m->count;
}

static int cmp_merge(const void *a, const void *b)
{
	const struct merge_entry *x = *(struct merge_entry *const *)a;
	const struct merge_entry *y = *(struct merge_entry *const *)b;
	if (x->item.score != y->item.score)
		return x->item.score < y->item.score ? 1 : -1;
	/* deterministic order for equal scores */
	if (x->key_len != y->key_len)
		return x->key_len < y->key_len ? -1 : 1;
	return memcmp(x->key, y->key, x->key_len);
}

size_t hotmerge_top(struct hotmerge *m, struct hot_item *out, size_t max)
{
	size_t n;
	struct merge_entry **all;
	if (max == 0 ||
	    !(all = (struct merge_entry **)TOPN_SORTED(m->entries, struct merge_entry, cmp_merge, &n)))
		return 0;
	max = topn_take(n, max);
	for (size_t i = 0; i < max; i++)
		out[i] = all[i]->item;
	free(all);
	return max;
}
