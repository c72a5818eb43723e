/*
 * kvwriter.h: the KV writer of a node's NATS side. Its thread writes the
 * snapshots the publisher hands over: the hot list into the bucket
 * recmesh_hot (continuation chunks first, then the head, so a reader that
 * sees the head finds the rest; continuation keys a longer list left behind
 * are deleted) and the NS table into recmesh_ns, and after an NS write it
 * refreshes the intelligence file (intel.h) when one is configured. It also
 * answers hot-list requests on recmesh.<cluster>.hot.get with the last list
 * it wrote (a nats.c callback), only those getlimit.h admits. See
 * doc/nats.md for the formats and the limits.
 *
 * Ownership: the connection given to kvwriter_create (or the last one
 * given to kvwriter_set_connection) belongs to the caller and must outlive
 * the writer; one it replaced belongs to the writer, which destroys it once
 * no thread of the writer uses it. The configuration's strings are copied.
 */
#ifndef RECMESH_KVWRITER_H
#define RECMESH_KVWRITER_H

#include "nats/natslink.h"
#include "tables/hotlist.h"

#include <nats/nats.h>
#include <stddef.h>
#include <stdint.h>

struct kvwriter_config {
	const char *cluster;
	const char *node;
	int kv_replicas;
	const char *intel_file; /* NULL: no intelligence file */
	double intel_max_age;
};

struct kvwriter_stats {
	uint64_t hot_writes, hot_write_errors;
	double hot_last_ok; /* monotonic: the last hot list written (the writer's start before the first) */
	uint64_t intel_writes, intel_dead;
	/* hot.get requests answered, and refused (getlimit.h): not an inbox, asked again, over the rate */
	uint64_t get_answered, get_refused_inbox, get_refused_repeat, get_refused_rate;
};

struct kvwriter;

/*
 * Subscribes the hot.get responder on nc and starts the thread; NULL with a
 * reason. nc may be NULL (not opened yet): snapshots are then not written
 * (counted as write errors) until kvwriter_set_connection gives one. Every
 * connection given was opened with link (natslink.h), which must outlive
 * the writer; what the writer's NATS calls say goes there.
 */
struct kvwriter *kvwriter_create(struct natslink *link, natsConnection *nc,
				 const struct kvwriter_config *cfg, char *err, size_t err_size);
/*
 * Hands over a snapshot: the encoded hot list (n chunks) and the NS table's
 * text (ns_len bytes, may be NULL). The writer takes ownership of both and
 * frees a snapshot it has not written yet when a newer one comes. Any
 * thread; never waits for NATS.
 */
void kvwriter_submit(struct kvwriter *w, struct hotlist_chunk *chunks, size_t n, char *ns_text,
		     size_t ns_len);
void kvwriter_get_stats(struct kvwriter *w, struct kvwriter_stats *st);
/*
 * The caller opened the first connection, or replaced one libnats closed for good: the
 * KV thread reopens its KV handles and the hot.get subscription on nc
 * before its next write, then destroys the old connection; the caller must
 * no longer use the old one. Any one thread at a time; never waits for NATS.
 */
void kvwriter_set_connection(struct kvwriter *w, natsConnection *nc);
/*
 * A reload's new intelligence file (NULL: none), copied; the KV thread
 * takes it at its next refresh. Any thread. 0, or -1 with a reason.
 */
int kvwriter_set_intel_file(struct kvwriter *w, const char *path, char *err, size_t err_size);
/* Writes the snapshot still pending, stops answering and stops. Accepts NULL */
void kvwriter_destroy(struct kvwriter *w);

#endif
