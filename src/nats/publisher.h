/*
 * publisher.h: the node's event publisher, the NATS side of `recmesh proxy`
 * and `recmesh mirror`.
 *
 * The data path hands every event to the sink publisher_sink() returns: a
 * non-blocking push into a lock-free ring (src/ring.h); when the ring is
 * full the event is dropped and counted. Each producer thread (a data path
 * thread of `recmesh proxy --threads`, the node's own loop) has a sink and
 * a ring of its own (publisher_sink_for); the rings share
 * PUBLISHER_RING_SIZE events. The drain thread empties the rings in turn,
 * publishes event batches on recmesh.<cluster>.traffic.<node> (doc/events.md),
 * feeds the hot-name table with client events and the authoritative-server
 * table with EV_OUTGOING ones, and every hot_interval hands a snapshot of
 * both (encoded, doc/nats.md) to the KV writer (kvwriter.h). Nothing here
 * runs on, or waits for, the data path's thread. NATS being slow or gone
 * costs dropped (counted) events only: the publisher starts without a
 * connection and has it opened on a thread of its own (the batches before
 * are dropped and counted, as while NATS is down); the connection is
 * re-established in the background, and one libnats closed for good
 * (refused credentials, TLS failure) is replaced by a new one with backoff
 * (natsconn_reopen_delay).
 *
 * Ownership: the publisher owns the NATS connection, the ring, the drain
 * thread and the KV writer. The configuration's strings are copied.
 */
#ifndef RECMESH_PUBLISHER_H
#define RECMESH_PUBLISHER_H

#include "dns/sink.h"

#include <stddef.h>
#include <stdint.h>

/* The node's defaults: the only place these numbers are written */
#define PUBLISHER_RING_SIZE 65536             /* events queued between data path and NATS */
#define PUBLISHER_RING_MIN 4096               /* events one producer's share holds at least */
#define PUBLISHER_PRODUCERS_MAX 65            /* threads handing events: the data path's and the node's */
#define PUBLISHER_BATCH_DELAY 0.1             /* seconds a partial batch may wait */
#define PUBLISHER_BATCH_BYTES (64 * 1024)     /* a batch's size, at most */
#define PUBLISHER_BATCH_BYTES_MIN 4096        /* smaller settings are raised to this */
#define PUBLISHER_BATCH_BYTES_MAX (1024 * 1024) /* larger settings are cut to this */
#define PUBLISHER_NS_CAPACITY 10000           /* authoritative servers kept at most */
#define PUBLISHER_NS_MAX_AGE 3600.0           /* seconds: forget a server unseen this long */

struct publisher_config {
	const char *nats_url; /* comma-separated list */
	const char *cluster;
	const char *node;
	size_t hot_capacity;
	double hot_interval;  /* seconds between hot-list writes */
	double hot_half_life; /* seconds */
	size_t hot_publish;   /* items per published list */
	int client_ip;        /* publish client addresses */
	int kv_replicas;
	size_t ns_capacity;     /* 0: PUBLISHER_NS_CAPACITY */
	double ns_max_age;      /* 0: PUBLISHER_NS_MAX_AGE */
	const char *intel_file; /* keep this file fresh from the fleet's table (NULL: no) */
	double intel_max_age;   /* skip other nodes' tables older than this (at most NS_TABLE_MAX_AGE) */
	size_t ring_size;       /* 0: PUBLISHER_RING_SIZE; shared out between the producers */
	unsigned producers;     /* threads that hand events, each its own sink and queue (0: 1) */
	double batch_delay;     /* seconds; 0: PUBLISHER_BATCH_DELAY */
	size_t batch_max_bytes; /* 0: PUBLISHER_BATCH_BYTES; also capped by the server's max payload */
};

struct publisher_stats {
	uint64_t submitted;    /* events handed to the sink */
	uint64_t dropped_full; /* ring was full */
	uint64_t published;    /* events in batches the server took (a flush showed it, no refusal) */
	uint64_t dropped_nats; /* events in batches the client library refused, or lost at exit */
	uint64_t dropped_payload; /* events that do not fit the server's max payload */
	uint64_t dropped_denied;  /* events in batches the server refused (permissions) */
	uint64_t batches;
	uint64_t hot_writes, hot_write_errors;
	double hot_age; /* seconds since the last hot list written (since the start before the first) */
	uint64_t hot_stale; /* 1: hot_age is above HOTLIST_STALE_INTERVALS times --hot-interval */
	uint64_t hot_entries;
	uint64_t ns_entries, ns_observations;
	uint64_t intel_writes, intel_dead;
	/* hot.get requests answered and refused: not an inbox, asked again, over the rate */
	uint64_t get_answered, get_refused_inbox, get_refused_repeat, get_refused_rate;
	uint64_t nats_reopens; /* new connections opened after libnats closed one for good */
	uint64_t connected; /* 1 while the NATS connection is up */
};

struct publisher;

/*
 * Starts the threads; connecting is theirs (NATS being down or silent is
 * not an error, and nothing here waits for the network). Returns NULL with
 * a reason in err on a bad configuration (natsconn_check) or when a thread
 * cannot be started.
 */
struct publisher *publisher_create(const struct publisher_config *cfg, char *err, size_t err_size);
/*
 * The data path's sink. Call it from one producer thread only; it copies
 * the event and never blocks. Valid until publisher_destroy.
 */
struct event_sink publisher_sink(struct publisher *p);
/* Producer k's sink (0 to cfg.producers - 1; 0 is publisher_sink's), the same rules */
struct event_sink publisher_sink_for(struct publisher *p, unsigned k);
/* Any thread */
void publisher_get_stats(struct publisher *p, struct publisher_stats *st);
/*
 * A reload's changes, safe from any thread: the interval between hot-list
 * writes (from the next write on; the caller keeps it within the bucket's
 * TTL), and the intelligence file (NULL: none; taken by the KV writer at
 * its next refresh; 0, or -1 with a reason when out of memory).
 */
void publisher_set_hot_interval(struct publisher *p, double seconds);
int publisher_set_intel_file(struct publisher *p, const char *path, char *err, size_t err_size);
/*
 * Publishes what is queued, has a last hot list written (bounded wait) and
 * stops; the producer must have stopped calling the sink. Accepts NULL.
 */
void publisher_destroy(struct publisher *p);

#endif
