/*
 * hotlist.h: the hot list as stored in the JetStream KV bucket recmesh_hot,
 * and the fleet-wide merge of several nodes' lists.
 *
 * A node's list is text, split into chunks that each fit the server's max
 * payload. Every chunk starts with a header line and holds items, one per
 * line, hottest first (doc/nats.md is the normative description):
 *
 *   #recmesh-hot 1 node=NODE time=UNIXTIME gen=GEN chunk=I/N
 *   SCORE QTYPE QNAME
 *
 * Parsing treats the input as hostile (with linefmt.h): any malformed line
 * rejects the chunk, with a reason; so does an item (type and name) that
 * appears twice in one chunk.
 *
 * Ownership: encoded chunks are malloc'd and belong to the caller
 * (hotlist_chunks_free). The parser only reads data, keeps nothing of it,
 * and hands each item to the callback in a temporary (valid during the
 * call only). The merge copies every item it is given; hotmerge_top copies
 * out into the caller's array.
 */
#ifndef RECMESH_HOTLIST_H
#define RECMESH_HOTLIST_H

#include "tables/hot.h"

#include <stddef.h>
#include <stdint.h>

#define HOTLIST_MAX_CHUNKS 4096
#define HOTLIST_MAX_SCORE 1e15

/*
 * A list not rewritten for this many of its node's --hot-interval is stale
 * (`recmesh hot` marks it, a node's /metrics says so of its own); the
 * format carries no interval: readers take theirs as the nodes'
 */
#define HOTLIST_STALE_INTERVALS 3

struct hotlist_header {
	char node[64];
	double time; /* unix seconds when the list was taken */
	uint64_t gen;
	unsigned chunk, chunks; /* chunk is 0-based; 0 <= chunk < chunks */
	unsigned refused;       /* items of a refused type left out (hotlist_type_refused) */
};

/* One encoded chunk; data is malloc'd, NUL-terminated */
struct hotlist_chunk {
	char *data;
	size_t len;
};

/*
 * Encodes items into chunks of at most max_chunk bytes each. On success
 * returns 0 and sets *chunks (malloc'd array, free with
 * hotlist_chunks_free) and *nchunks (at least 1, even for no items).
 */
int hotlist_encode(const struct hot_item *items, size_t n, const char *node, double time,
		   uint64_t gen, size_t max_chunk, struct hotlist_chunk **chunks, size_t *nchunks);
void hotlist_chunks_free(struct hotlist_chunk *chunks, size_t nchunks);

/* A (type, name) item's hash (FNV-1a, mixed; never 0), for tables keyed by item */
uint64_t hotlist_item_hash(const struct hot_item *it);

typedef void (*hotlist_item_cb)(const struct hot_item *item, void *arg);

/*
 * Parses one chunk. Returns the number of items (each passed to cb, which
 * may be NULL) and fills *hdr, or -1 with a reason in err ("bad header
 * line", "bad item on line N", ... as doc/nats.md lists them). Items before
 * a bad line have already gone to cb: to use all or nothing, parse once
 * with cb NULL first. *hdr is set only on success.
 */
int hotlist_parse(const char *data, size_t len, struct hotlist_header *hdr, hotlist_item_cb cb,
		  void *arg, char *err, size_t err_size);

/* Parses only the header line of a chunk: 0 and *hdr set, or -1 with a reason */
int hotlist_parse_header(const char *data, size_t len, struct hotlist_header *hdr, char *err,
			 size_t err_size);

/*
 * A chunk's item of a meta or obsolete type (dnsmsg_type_is_meta; TYPE0
 * rejects the chunk) is left out and counted in hdr->refused: such names
 * are never listed, merged or replayed.
 */

/*
 * The merged fleet list, bounded and fair (doc/nats.md, "Merging"). Lists
 * are folded one after the other: hotmerge_begin_list, then hotmerge_add for
 * each of its items. Scores of the same (qname, qtype) from different lists
 * are summed; a list naming an item twice counts it once (counted in
 * hotmerge_duplicates). With cap = max(HOTMERGE_FACTOR * top,
 * HOTMERGE_MIN_CANDIDATES), at most cap + cap / 2 candidates are held: when
 * the table reaches that, the coldest are evicted down to cap (and, while
 * cap or more are held, a new name colder than the last prune's coldest
 * kept is not taken in), a list's names that no other list
 * named being kept only up to its fair share. hotmerge_top hands out at most
 * max items, of which at most ceil(max / lists) are names that only one list
 * named, per list.
 */
#define HOTMERGE_FACTOR 2
#define HOTMERGE_MIN_CANDIDATES 1000

struct hotmerge;
struct hotmerge *hotmerge_create(size_t top); /* NULL: out of memory */
void hotmerge_destroy(struct hotmerge *m);
void hotmerge_begin_list(struct hotmerge *m);
void hotmerge_add(struct hotmerge *m, const struct hot_item *item);
size_t hotmerge_count(const struct hotmerge *m);      /* candidates held now */
size_t hotmerge_peak(const struct hotmerge *m);       /* candidates held at most */
size_t hotmerge_lists(const struct hotmerge *m);      /* lists begun */
size_t hotmerge_duplicates(const struct hotmerge *m); /* repeated items ignored */
/* Hottest first, within the fair share; out is caller-owned with room for max items */
size_t hotmerge_top(struct hotmerge *m, struct hot_item *out, size_t max);

#endif
