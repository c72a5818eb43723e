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
 * rejects the chunk, with a reason.
 *
 * Ownership: encoded chunks are malloc'd and belong to the caller
 * (hotlist_chunks_free). The parser only reads data, keeps nothing of it,
 * and hands each item to the callback in a temporary (valid during the
 * call only). The merge copies every item it is given; hotmerge_top copies
 * out into the caller's array.
 */
#ifndef RECMESH_HOTLIST_H
#define RECMESH_HOTLIST_H

#include "hot.h"

#include <stddef.h>
#include <stdint.h>

#define HOTLIST_MAX_CHUNKS 4096
#define HOTLIST_MAX_SCORE 1e15

struct hotlist_header {
	char node[64];
	double time; /* unix seconds when the list was taken */
	uint64_t gen;
	unsigned chunk, chunks; /* chunk is 0-based; 0 <= chunk < chunks */
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

/* The merged fleet list: scores of the same (qname, qtype) are summed */
struct hotmerge;
struct hotmerge *hotmerge_create(void);
void hotmerge_destroy(struct hotmerge *m);
void hotmerge_add(struct hotmerge *m, const struct hot_item *item);
size_t hotmerge_count(const struct hotmerge *m);
/* Hottest first; out is caller-owned with room for max items */
size_t hotmerge_top(struct hotmerge *m, struct hot_item *out, size_t max);


#endif
