/*
 * fleet.h: reading the fleet's hot lists, from the JetStream KV bucket
 * recmesh_hot or, when JetStream is not there, by asking the running nodes
 * on recmesh.<cluster>.hot.get. Both paths validate every chunk as hostile
 * input: a node whose list is malformed, incomplete or older than max_age is
 * skipped with a reason and the others are still used.
 *
 * Blocking calls: use from the command-line tools or a worker thread only.
 */
#ifndef RECMESH_FLEET_H
#define RECMESH_FLEET_H

#include "hotlist.h"

#include <nats/nats.h>

enum fleet_source { FLEET_SOURCE_KV = 1, FLEET_SOURCE_REQUEST = 2 };

struct fleet_node_report {
	char node[64];
	double age;   /* seconds since the list was taken */
	size_t items; /* names in the list */
	int used;     /* merged; otherwise why says why not */
	char why[160];
};

struct fleet_report {
	enum fleet_source source;
	size_t nodes, used;
	struct fleet_node_report *node; /* malloc'd array of nodes entries */
};

/*
 * Fetches every node's list for cluster into merge. Tries KV first; with
 * allow_request, falls back to asking the nodes when JetStream is not
 * enabled. Returns 0 (even when no list was found: report->used says how
 * many lists were merged) or -1 with a reason in err.
 */
int fleet_fetch_hot(natsConnection *nc, const char *cluster, double max_age, double half_life,
		    int allow_request, struct hotmerge *merge, struct fleet_report *report, char *err,
		    size_t err_size);
void fleet_report_free(struct fleet_report *report);

const char *fleet_source_name(enum fleet_source s);


/*
 * Fetches the fleet's lists over nc and returns the top hottest
 * items, merged, in *items (malloc'd, *n of them; free with free()). The
 * report says which source and lists were used. Returns 0 (also when no
 * list exists: then *n is 0 and report->used 0), or -1 with a reason.
 */
int fleet_top(natsConnection *nc, const char *cluster, double max_age, double half_life, size_t top,
	      struct hot_item **items, size_t *n, struct fleet_report *report, char *err,
	      size_t err_size);

/*
 * Fetches every node's authoritative-server table for cluster from the KV
 * bucket recmesh_ns into merge, skipping tables older than max_age (0: no
 * limit) and malformed ones (logged). Returns the number of tables merged,
 * or -1 with a reason (no JetStream, no bucket, ...).
 */
struct nstable_merge;
int fleet_fetch_ns(natsConnection *nc, const char *cluster, double max_age, struct nstable_merge *merge,
		   char *err, size_t err_size);

/*
 * The hot-list assembler under fleet_fetch_hot, without NATS: it takes the
 * chunks of every node's list, from any source and in any order, and keeps
 * per node the newest generation only (an older generation's chunks are
 * ignored, a newer one replaces what was collected). Not thread-safe.
 */
struct fleet_asm;
struct fleet_asm *fleet_asm_create(void); /* NULL: out of memory */
/*
 * Feeds one chunk (hostile input: a malformed chunk is logged, with src
 * naming where it came from, and ignored). data is read during the call only.
 */
void fleet_asm_feed(struct fleet_asm *a, const char *data, size_t len, const char *src);
/*
 * Merges into merge the lists that are complete and at most max_age (0: no
 * limit) old at now (unix seconds), their scores decayed from the list's
 * time to now with half_life (0: not decayed). Fills report (free with
 * fleet_report_free) with every node, used or why not, sorted by name; the
 * assembler is empty afterwards.
 */
void fleet_asm_finish(struct fleet_asm *a, double now, double max_age, double half_life,
		      struct hotmerge *merge, struct fleet_report *report);
void fleet_asm_destroy(struct fleet_asm *a);

#endif
