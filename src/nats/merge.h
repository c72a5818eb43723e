/*
 * merge.h: writing the fleet's merged hot list, `recmesh merge` (doc/nats.md,
 * "The merged list"). One node at a time merges: it holds the lease
 * <cluster>.=lease in the bucket recmesh_hot, reads every node's list with
 * fleet_top (every list, bounded memory), and writes the merge as a hot
 * list under <cluster>.=merge, continuation chunks first, head last.
 *
 * Blocking: use from the command-line tool.
 */
#ifndef RECMESH_MERGE_H
#define RECMESH_MERGE_H

#include "nats/fleet.h"

#include <nats/nats.h>

#define MERGE_LEASE_MAGIC "#recmesh-lease"
#define MERGE_LEASE_MAX 600.0 /* --lease at most; a lease claiming more (past the skew) is void */

struct merge_result {
	int merged;         /* 1: written; 0: another node holds the lease */
	char holder[64];    /* with merged 0: who holds it */
	double holder_left; /* ... and for how many more seconds */
	size_t names, chunks, bytes, stale_deleted;
	double seconds;            /* reading and merging the lists */
	struct fleet_report report; /* the node lists, used or why not (fleet_report_free) */
	struct notes notes;         /* what the run has to say besides report's, for the caller to log */
};

/*
 * Takes the lease for lease seconds (or finds it held: res->merged 0,
 * returns 0), merges every node list of cluster (the top hottest names) and
 * writes them. Returns 0, or -1 with a reason (no bucket, no usable list,
 * a write failed).
 */
int merge_run(natsConnection *nc, const char *cluster, const char *node, size_t top, double max_age,
	      double half_life, double timeout, double lease, struct merge_result *res, char *err,
	      size_t err_size);

/*
 * A lease's text: "#recmesh-lease 1 node=NODE until=UNIXTIME\n". Parsing
 * treats it as hostile: returns 0 with node and until set, -1 when it is
 * not exactly that (a valid node name, a finite time).
 */
int merge_lease_format(char *out, size_t size, const char *node, double until);
int merge_lease_parse(const char *data, size_t len, char node[64], double *until);

#endif
