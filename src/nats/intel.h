/*
 * intel.h: the intelligence file the Recursor's Lua script reads
 * (contrib/recmesh.lua, doc/intel.md): building it from the fleet's merged
 * authoritative-server table, writing it atomically, refreshing it.
 *
 * The file (version 2):
 *   # recmesh-intel 2 time=UNIXTIME.MMM
 *   dead ADDRESS
 *   ns NSNAME ADDRESS RTT_US
 *
 * The dead servers first, the strongest evidence first: the longest fresh
 * run of timeouts, then the most nodes agreeing, then the latest timeout.
 * Then the fleet's speeds, one line per NS name of a server: dead servers
 * (RTT_US INTEL_RTT_US_DEAD, what a Recursor records for a timeout) in the
 * same order, then working servers with a measured RTT by evidence (most
 * nodes, then most answers, then the latest answer); only servers with an
 * answer (dead ones: a timeout) in the last INTEL_NS_FRESH seconds. At most
 * intel_max_entries() lines after the header (--intel-max-entries), every
 * one at most INTEL_LINE_MAX bytes. It is written into a new file with a
 * random name (mkstemp) in the target's directory, then renamed over the
 * target: a symlink at the target's name is replaced, never written
 * through.
 *
 * intel_refresh_from_fleet blocks (NATS round trips): call it from a worker
 * thread or a command-line tool, never from the data path's loop.
 */
#ifndef RECMESH_INTEL_H
#define RECMESH_INTEL_H

#include "base/log.h"
#include "base/notes.h"

#include "tables/nstable.h"

#include <nats/nats.h>
#include <stddef.h>

#define INTEL_MAX_ENTRIES_DEFAULT 10000
#define INTEL_MAX_ENTRIES_LIMIT 100000
/* "ns " + the longest name (254) + " " + the longest inet_ntop text (45) + " 10000000" + LF is 313 */
#define INTEL_LINE_MAX 320
/* ns lines: servers heard from this recently (seconds), the RTT bound and a dead server's RTT (us) */
#define INTEL_NS_FRESH 300.0
#define INTEL_RTT_US_MAX 10000000L
#define INTEL_RTT_US_DEAD 1000000L
/*
 * How fast contrib/recmesh.lua takes in a file that changed while the
 * Recursor runs: INTEL_LUA_STEP_BYTES of it per maintenance() call (its
 * STEP_BYTES), then INTEL_LUA_IMPORT_STEP ns lines per call into the NS
 * speed table (its IMPORT_STEP); one call a second with the Recursor's
 * default lua-maintenance-interval. tests/unit/test_lua.sh checks that the
 * script's constants are these.
 */
#define INTEL_LUA_STEP_BYTES 65536
#define INTEL_LUA_IMPORT_STEP 2000

/*
 * The seconds a running Recursor with contrib/recmesh.lua needs to take in
 * a file of bytes bytes with ns_lines ns lines: its read slices, its
 * import calls (on 5.3+), and the call that notices the change.
 */
double intel_load_seconds(size_t bytes, size_t ns_lines);

/*
 * The process-wide bound on the lines of a file (dead and ns), from
 * --intel-max-entries (options_apply sets it; clamped to
 * [1, INTEL_MAX_ENTRIES_LIMIT]). Any thread; an atomic.
 */
void intel_set_max_entries(size_t n);
size_t intel_max_entries(void);

/* Creates the directory path's file goes into, if it is missing (one level, 0755). 0 or -1 */
int intel_make_parent(const char *path, char *err, size_t err_size);

/* What intel_write_file wrote, and what max_entries left out */
struct intel_counts {
	size_t dead, dead_left_out; /* dead lines */
	size_t ns, ns_left_out;     /* ns lines */
};

/*
 * Writes the file (as above, as of now) from merged (n items, read only
 * during the call) to path: at most max_entries lines after the header.
 * The directory must exist ("directory 'D' does not exist"). Returns the
 * number of dead servers written and fills *counts (may be NULL), or -1
 * with a reason.
 */
int intel_write_file(const char *path, const struct nstable_item *merged, size_t n, double now,
		     size_t max_entries, struct intel_counts *counts, char *err, size_t err_size);

/* Why a file was not written: the condition a node says once (log_once), whatever the text */
enum intel_fail {
	INTEL_FAIL_NONE = 0,
	INTEL_FAIL_PATH,   /* the path is too long */
	INTEL_FAIL_NO_DIR, /* the file's directory does not exist (a node does not create it) */
	INTEL_FAIL_MEMORY,
	INTEL_FAIL_CREATE, /* the temporary file cannot be made */
	INTEL_FAIL_WRITE,  /* it cannot be written, synced or closed */
	INTEL_FAIL_RENAME, /* it cannot be renamed to the file's name */
};

/* intel_write_file, which also says why it failed in *fail (when it returns -1) */
int intel_write_file_why(const char *path, const struct nstable_item *merged, size_t n, double now,
			 size_t max_entries, struct intel_counts *counts, enum intel_fail *fail,
			 char *err, size_t err_size);

/* What intel_refresh_from_fleet did */
struct intel_refresh {
	int tables;     /* node tables merged; -1 when none could be read */
	size_t servers; /* addresses known */
	int dead;       /* written as dead */
	size_t left_out; /* dead, but beyond intel_max_entries() */
	size_t ns_lines, ns_left_out; /* ns lines written, and left out by intel_max_entries() */
	int written;
	enum intel_fail fail; /* with tables >= 0 and -1 returned: why the file was not written */
	struct notes notes;   /* what the refresh has to say, for the caller to log (notes.h) */
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
/*
 * The same, reading the tables within `within` seconds in all (0: no
 * overall deadline); the limits the read reaches are noted once per once
 * (fleet.h's enum fleet_once; NULL: every time)
 */
int intel_refresh_within(natsConnection *nc, const char *cluster, double max_age, double within,
			 const char *path, int mode, struct log_once *once, struct intel_refresh *out,
			 char *err, size_t err_size);

#endif
