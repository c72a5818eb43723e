/*
 * intel.h: the intelligence file the Recursor's Lua script reads
 * (contrib/recmesh.lua, doc/intel.md): building it from the fleet's merged
 * authoritative-server table, writing it atomically, refreshing it.
 *
 * The file:
 *   # recmesh-intel 1 time=UNIXTIME.MMM
 *   dead ADDRESS
 *
 * intel_refresh_from_fleet blocks (NATS round trips): call it from a worker
 * thread or a command-line tool, never from the data path's loop.
 */
#ifndef RECMESH_INTEL_H
#define RECMESH_INTEL_H

#include "nstable.h"

#include <nats/nats.h>
#include <stddef.h>

/* Creates the directory path's file goes into, if it is missing (one level). 0 or -1 */
int intel_make_parent(const char *path, char *err, size_t err_size);

/*
 * Writes the dead servers among merged (n items, read only during the
 * call) to path, atomically: a temporary file renamed over path. Returns
 * the number of dead servers written, or -1 with a reason.
 */
int intel_write_file(const char *path, const struct nstable_item *merged, size_t n, double now,
		     char *err, size_t err_size);

/* What intel_refresh_from_fleet did */
struct intel_refresh {
	int tables;     /* node tables merged; -1 when none could be read */
	size_t servers; /* addresses known */
	int dead;       /* written as dead */
	int written;
};

/*
 * Writes the fleet's merged table (from the KV bucket recmesh_ns over nc) as
 * the intelligence file path, from tables at most max_age old (never older
 * than NS_TABLE_MAX_AGE). With no table at all, an empty list is written
 * only with write_empty (a node keeping the file fresh clears old verdicts
 * that way). Returns 0 or -1 with a reason; *out is filled in both cases
 * (out->tables < 0: the tables could not be read, e.g. no bucket yet).
 */
int intel_refresh_from_fleet(natsConnection *nc, const char *cluster, double max_age,
			     const char *path, int write_empty, struct intel_refresh *out, char *err,
			     size_t err_size);

#endif
