/*
 * mirror.h: the NATS side of a node (proxy or mirror mode).
 *
 * The data path hands every event to mirror_submit(), which copies it into
 * a lock-free ring and never blocks. A mirror thread drains the ring, feeds
 * the hot-name table and publishes event batches on
 * recmesh.<cluster>.traffic.<node>; a KV thread writes the hot list to the
 * recmesh_hot bucket every hot_interval seconds and answers hot-list
 * requests on recmesh.<cluster>.hot.get. Events marked EV_OUTGOING (an
 * authoritative's answer or timeout, from the protobuf stream) feed the
 * authoritative-server table instead, written to the recmesh_ns bucket on
 * the same interval; with intel_file, the fleet's merged table is written
 * there too, for the Recursor's Lua script. Nothing here ever runs on, or
 * waits for, the data path's thread. When NATS is slow or gone, events are
 * dropped and counted, and the connection is re-established in the
 * background.
 */
#ifndef RECMESH_MIRROR_H
#define RECMESH_MIRROR_H

#include "event.h"

#include <stddef.h>
#include <stdint.h>

struct mirror_config {
	const char *nats_url; /* comma-separated list */
	const char *cluster;
	const char *node;
	size_t hot_capacity;
	double hot_interval;  /* seconds between hot-list writes */
	double hot_half_life; /* seconds */
	size_t hot_publish;   /* items per published list */
	int client_ip;        /* publish client addresses */
	int kv_replicas;
	size_t ns_capacity;    /* authoritative servers kept at most */
	double ns_max_age;     /* forget a server unseen this long */
	const char *intel_file; /* keep this file fresh from the fleet's table (NULL: no) */
	double intel_max_age;  /* skip other nodes' tables older than this (at most NS_TABLE_MAX_AGE) */
	size_t ring_size;
	double batch_delay;     /* seconds a partial batch may wait */
	size_t batch_max_bytes; /* capped by the server's max payload */
};

struct mirror_stats {
	uint64_t submitted;        /* events handed to mirror_submit */
	uint64_t dropped_full;     /* ring was full */
	uint64_t published;        /* events in batches NATS accepted */
	uint64_t dropped_nats;     /* events in batches NATS refused */
	uint64_t batches;
	uint64_t hot_writes, hot_write_errors;
	uint64_t hot_entries;
	uint64_t ns_entries, ns_observations;
	uint64_t intel_writes, intel_dead;
	int connected;
};

struct mirror;

/* Starts the threads; NATS being down is not an error. NULL on bad config */
struct mirror *mirror_create(const struct mirror_config *cfg);
/* Data path (one producer thread only). Returns 0, or -1 when dropped */
int mirror_submit(struct mirror *m, const struct rm_event *ev);
void mirror_get_stats(struct mirror *m, struct mirror_stats *st);
/* Flushes what is queued, writes a last hot list (bounded wait) and stops */
void mirror_destroy(struct mirror *m);

#endif
