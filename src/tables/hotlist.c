/* hotlist.c: hot list encoding, parsing and merging; see hotlist.h */
#include "config.h"

#include "tables/hotlist.h"

#include "base/linefmt.h"
#include "base/names.h"
#include "base/topn.h"


#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

int hotlist_parse_header(const char *data, size_t len, struct hotlist_header *hdr, char *err,
			 size_t err_size)
{
	char buf[HOTLIST_LINE_MAX + 1], *line;
	size_t l;
	struct linefmt lf;
	struct hotlist_header h;
	int r;

	memset(&h, 0, sizeof(h));
	linefmt_init(&lf, data, len);
	if ((r = linefmt_next(&lf, buf, sizeof(buf), &line, &l, err, err_size)) < 0)
		return -1;
	if (r == 0)
		return linefmt_fail(err, err_size, "empty value");
	if (parse_header(line, &h, err, err_size) < 0)
		return -1;
	*hdr = h;
	return 0;
}


/*
 * A type: a mnemonic, or TYPEnnn with digits only. The second check is ours
 * because the mnemonic lookup reads "TYPE-1" as 65535 and "TYPE+5" as 5.
 */
static int parse_type(const char *s, uint16_t *type)
{
	if (strncasecmp(s, "TYPE", 4) == 0 &&
	    (s[4] == '\0' || strspn(s + 4, "0123456789") != strlen(s + 4)))
		return -1;
	return dnsmsg_type_from_text(s, type);
}

/* SCORE QTYPE QNAME; 1 for a refused type (dnsmsg_type_is_meta) other than 0 */
static int parse_item(char *line, struct hot_item *it)
{
	char *f[3];
	int l;
	if (linefmt_split(line, f, 3) != 3 || linefmt_decimal(f[0], 0, HOTLIST_MAX_SCORE, &it->score) < 0 ||
	    parse_type(f[1], &it->qtype) < 0 || it->qtype == 0 ||
	    (l = dnsmsg_name_from_text(f[2], it->qname, sizeof(it->qname))) <= 0)
		return -1;
	it->qname_len = (uint8_t)l;
	return dnsmsg_type_is_meta(it->qtype) ? 1 : 0;
}

/*
 * The items of one chunk seen so far, to find a duplicate: an open-addressing
 * table of (hash, offset of the item's line in the chunk). On equal hashes
 * the earlier line is parsed again and compared, so the answer is exact.
 */
struct seen_slot {
	uint64_t hash; /* 0: empty */
	size_t off;
};

struct seen {
	struct seen_slot *slot;
	size_t size, used; /* size: a power of two */
};

uint64_t hotlist_item_hash(const struct hot_item *it)
{
	uint64_t h = 1469598103934665603ULL ^ it->qtype;
	for (unsigned i = 0; i < it->qname_len; i++)
		h = (h ^ it->qname[i]) * 1099511628211ULL;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 32;
	return h ? h : 1;
}

static int same_item_at(const char *data, size_t len, size_t off, const struct hot_item *it)
{
	char line[HOTLIST_LINE_MAX + 1];
	struct hot_item other;
	size_t l = 0;
	while (off + l < len && data[off + l] != '\n' && l < HOTLIST_LINE_MAX)
		l++;
	memcpy(line, data + off, l);
	line[l] = '\0';
	if (parse_item(line, &other) < 0)
		return 0;
	return other.qtype == it->qtype && other.qname_len == it->qname_len &&
	       memcmp(other.qname, it->qname, it->qname_len) == 0;
}

/* 1 when it was seen before in this chunk, 0 when not (now it is), -1 out of memory */
static int seen_check(struct seen *s, const char *data, size_t len, size_t off,
		      const struct hot_item *it)
{
	if (s->used * 2 >= s->size) {
		size_t size = s->size ? s->size * 2 : 256;
		struct seen_slot *ns = calloc(size, sizeof(*ns));
		if (!ns)
			return -1;
		for (size_t i = 0; i < s->size; i++) {
			if (!s->slot[i].hash)
				continue;
			size_t j = s->slot[i].hash & (size - 1);
			while (ns[j].hash)
				j = (j + 1) & (size - 1);
			ns[j] = s->slot[i];
		}
		free(s->slot);
		s->slot = ns;
		s->size = size;
	}
	uint64_t h = hotlist_item_hash(it);
	size_t j = h & (s->size - 1);
	for (; s->slot[j].hash; j = (j + 1) & (s->size - 1))
		if (s->slot[j].hash == h && same_item_at(data, len, s->slot[j].off, it))
			return 1;
	s->slot[j].hash = h;
	s->slot[j].off = off;
	s->used++;
	return 0;
}

int hotlist_parse(const char *data, size_t len, struct hotlist_header *hdr, hotlist_item_cb cb,
		  void *arg, char *err, size_t err_size)
{
	char buf[HOTLIST_LINE_MAX + 1], *line;
	size_t l;
	struct linefmt lf;
	struct hotlist_header h;
	struct seen seen = {NULL, 0, 0};
	int items = 0, r, rc = -1;

	memset(&h, 0, sizeof(h));
	linefmt_init(&lf, data, len);
	for (;;) {
		size_t off = lf.pos;
		if ((r = linefmt_next(&lf, buf, sizeof(buf), &line, &l, err, err_size)) <= 0)
			break;
		if (lf.lineno == 1) {
			if (parse_header(line, &h, err, err_size) < 0)
				goto out;
			continue;
		}
		if (l == 0)
			continue;
		struct hot_item it;
		int k = parse_item(line, &it);
		if (k < 0) {
			linefmt_fail(err, err_size, "bad item on line %zu", lf.lineno);
			goto out;
		}
		int dup = seen_check(&seen, data, len, off, &it);
		if (dup < 0) {
			linefmt_fail(err, err_size, "out of memory");
			goto out;
		}
		if (dup) {
			linefmt_fail(err, err_size, "duplicate item on line %zu", lf.lineno);
			goto out;
		}
		if (k > 0) {
			h.refused++; /* a meta or obsolete type: never handed out */
			continue;
		}
		if (cb)
			cb(&it, arg);
		items++;
	}
	if (r < 0)
		goto out;
	if (lf.lineno == 0) {
		linefmt_fail(err, err_size, "empty value");
		goto out;
	}
	*hdr = h;
	rc = items;
out:
	free(seen.slot);
	return rc;
}

/*
 * The bounded, fair merge (doc/nats.md, "Merging"). Every candidate
 * remembers how many lists named it and which list brought it in (its
 * owner). The table holds at most cap + cap / 2 candidates; when it gets
 * there it is pruned to cap, hottest first, where a candidate only one list has named
 * is kept only while its owner has fewer than ceil(cap / lists) such
 * candidates kept. hotmerge_top applies the same rule with ceil(max / lists).
 */
struct merge_entry {
	UT_hash_handle hh;
	double score;
	uint32_t lists; /* lists that named it, saturating */
	uint32_t owner; /* the list that brought it in */
	uint32_t last;  /* the last list that named it */
	uint16_t qtype;
	uint16_t key_len;
	uint8_t key[]; /* qtype (2 octets) and wire name */
};

struct hotmerge {
	struct merge_entry *entries;
	size_t count, cap, peak, duplicates, evicted;
	uint32_t lists; /* lists begun; the current one's number */
	double floor;   /* the lowest score kept by the last prune that kept cap candidates */
};

struct hotmerge *hotmerge_create(size_t top)
{
	struct hotmerge *m = calloc(1, sizeof(struct hotmerge));
	if (!m)
		return NULL;
	m->cap = top > SIZE_MAX / HOTMERGE_FACTOR ? SIZE_MAX / 2 : top * HOTMERGE_FACTOR;
	if (m->cap < HOTMERGE_MIN_CANDIDATES)
		m->cap = HOTMERGE_MIN_CANDIDATES;
	return m;
}

void hotmerge_destroy(struct hotmerge *m)
{
	if (!m)
		return;
	TOPN_CLEAR(m->entries, struct merge_entry, free);
	free(m);
}

void hotmerge_begin_list(struct hotmerge *m)
{
	if (m->lists < UINT32_MAX)
		m->lists++;
}

static int cmp_merge(const void *a, const void *b)
{
	const struct merge_entry *x = *(struct merge_entry *const *)a;
	const struct merge_entry *y = *(struct merge_entry *const *)b;
	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	/* deterministic order for equal scores */
	if (x->key_len != y->key_len)
		return x->key_len < y->key_len ? -1 : 1;
	return memcmp(x->key, y->key, x->key_len);
}

static size_t fair_share(size_t n, uint32_t lists)
{
	return lists ? (n + lists - 1) / lists : n;
}

/*
 * Walks the candidates hottest first and calls take() for those the fair
 * share lets through, at most max of them; when prune is set, the others
 * are deleted. Returns how many were taken.
 */
static size_t fair_walk(struct hotmerge *m, size_t max, int prune, struct hot_item *out)
{
	size_t n, taken = 0, share = fair_share(max, m->lists);
	struct merge_entry **all =
		(struct merge_entry **)TOPN_SORTED(m->entries, struct merge_entry, cmp_merge, &n);
	uint32_t *placed = calloc((size_t)m->lists + 1, sizeof(*placed));
	if (!all || !placed) {
		free(all);
		free(placed);
		return 0;
	}
	if (prune)
		m->floor = 0;
	for (size_t i = 0; i < n; i++) {
		struct merge_entry *e = all[i];
		int ok = taken < max && (e->lists > 1 || placed[e->owner] < share);
		if (ok) {
			if (prune)
				m->floor = taken + 1 == max ? e->score : 0;
			if (e->lists <= 1)
				placed[e->owner]++;
			if (out) {
				struct hot_item *it = &out[taken];
				it->score = e->score;
				it->qtype = e->qtype;
				it->qname_len = (uint8_t)(e->key_len - 2);
				memcpy(it->qname, e->key + 2, e->key_len - 2u);
			}
			taken++;
		} else if (prune) {
			HASH_DEL(m->entries, e);
			free(e);
			m->count--;
			m->evicted++;
		}
	}
	free(placed);
	free(all);
	return taken;
}

void hotmerge_add(struct hotmerge *m, const struct hot_item *item)
{
	uint8_t key[2 + DNS_MAX_NAME];
	struct merge_entry *e;
	if (m->lists == 0)
		m->lists = 1;
	key[0] = (uint8_t)(item->qtype >> 8);
	key[1] = (uint8_t)item->qtype;
	memcpy(key + 2, item->qname, item->qname_len);
	unsigned key_len = 2u + item->qname_len;
	HASH_FIND(hh, m->entries, key, key_len, e);
	if (e) {
		if (e->last == m->lists) {
			m->duplicates++; /* a list names it twice: counted once */
			return;
		}
		e->score += item->score;
		e->last = m->lists;
		if (e->lists < UINT32_MAX)
			e->lists++;
		return;
	}
	/*
	 * A new name colder than everything the last prune kept, while the
	 * table is full: the next prune would evict it (unless the fair share
	 * evicts hotter ones first), so it is not taken in at all.
	 */
	if (m->count >= m->cap && item->score < m->floor) {
		m->evicted++;
		return;
	}
	if (!(e = malloc(sizeof(*e) + key_len)))
		return;
	e->score = item->score;
	e->lists = 1;
	e->owner = e->last = m->lists;
	e->qtype = item->qtype;
	e->key_len = (uint16_t)key_len;
	memcpy(e->key, key, key_len);
	HASH_ADD(hh, m->entries, key, key_len, e);
	if (++m->count > m->peak)
		m->peak = m->count;
	if (m->count >= m->cap + m->cap / 2)
		fair_walk(m, m->cap, 1, NULL);
}

size_t hotmerge_count(const struct hotmerge *m)
{
	return m->count;
}

size_t hotmerge_peak(const struct hotmerge *m)
{
	return m->peak;
}

size_t hotmerge_lists(const struct hotmerge *m)
{
	return m->lists;
}

size_t hotmerge_duplicates(const struct hotmerge *m)
{
	return m->duplicates;
}

size_t hotmerge_top(struct hotmerge *m, struct hot_item *out, size_t max)
{
	if (max == 0)
		return 0;
	return fair_walk(m, max, 0, out);
}
