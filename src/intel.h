/*
 * intel.h: the intelligence file the Recursor's Lua script reads
 * (contrib/recmesh.lua, doc/intel.md): building it from the fleet's merged
 * authoritative-server table, writing it atomically, refreshing it.
 *
 * The file:
 *   # recmesh-intel 1 time=UNIXTIME.MMM
 *   dead ADDRESS
 *
 * It holds at most intel_max_entries() dead servers (--intel-max-entries),
 * the strongest evidence first: the longest fresh run of timeouts, then the
 * most nodes agreeing, then the latest timeout. Every line is at most
 * INTEL_LINE_MAX bytes. It is written into a new file with a random name
 * (mkstemp) in the target's directory, then renamed over the target: a
 * symlink at the target's name is replaced, never written through.
 *
 * intel_refresh_from_fleet blocks (NATS round trips): call it from a worker
 * thread or a command-line tool, never from the data path's loop.
 */
#ifndef RECMESH_INTEL_H
#define RECMESH_INTEL_H

#include "nstable.h"

#include <nats/nats.h>
#include <stddef.h>

#define INTEL_MAX_ENTRIES_DEFAULT 10000
#define INTEL_MAX_ENTRIES_LIMIT 100000
/* "dead " + the longest inet_ntop text (45) + LF; the header is shorter */
#define INTEL_LINE_MAX 52

/*
 * The process-wide bound on the dead servers in a file, from
 * --intel-max-entries (options_parse sets it; clamped to
 * [1, INTEL_MAX_ENTRIES_LIMIT]). Any thread; an atomic.
 */
void intel_set_max_entries(size_t n);
size_t intel_max_entries(void);

/* Creates the directory path's file goes into, if it is missing (one level, 0755). 0 or -1 */
int intel_make_parent(const char *path, char *err, size_t err_size);

/*
 * Writes the dead servers (as of now) among merged (n items, read only
 * during the call) to path: at most max_entries, strongest evidence first.
 * The directory must exist ("directory 'D' does not exist"). Returns the
 * number of dead servers written and sets *left_out (may be NULL) to the
 * number of dead ones the bound left out, or -1 with a reason.
 */
int intel_write_file(const char *path, const struct nstable_item *merged, size_t n, double now,
		     size_t max_entries, size_t *left_out, char *err, size_t err_size);

/* What intel_refresh_from_fleet did */
struct intel_refresh {
	int tables;     /* node tables merged; -1 when none could be read */
	size_t servers; /* addresses known */
	int dead;       /* written as dead */
	size_t left_out; /* dead, but beyond intel_max_entries() */
	int written;
	int no_dir; /* the file's directory does not exist (a node does not create it) */
};

/* intel_refresh_from_fleet's mode */
#define INTEL_FOR_WARM 0 /* creates a missing directory (one level); no table: no file */
#define INTEL_FOR_NODE 1 /* a missing directory is an error; no table: a file with no dead server */

/*
 * Writes the fleet's merged table (from the KV bucket recmesh_ns over nc) as
 * the intelligence file path, from tables at most max_age old (never older
 * than NS_TABLE_MAX_AGE). mode is INTEL_FOR_WARM or INTEL_FOR_NODE: with
 * no table at all, a node writes an empty list (clearing old verdicts),
 * `recmesh warm` leaves any file as it is. Returns 0 or -1 with a reason;
 * *out is filled in both cases (out->tables < 0: the tables could not be
 * read, e.g. no bucket yet).
 */
int intel_refresh_from_fleet(natsConnection *nc, const char *cluster, double max_age,
			     const char *path, int mode, struct intel_refresh *out, char *err,
			     size_t err_size);
/* The same, reading the tables within `within` seconds in all (0: no overall deadline) */
int intel_refresh_within(natsConnection *nc, const char *cluster, double max_age, double within,
			 const char *path, int mode, struct intel_refresh *out, char *err,
			 size_t err_size);

#endif
