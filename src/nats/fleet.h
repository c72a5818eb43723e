/*
 * fleet.h: reading the fleet's hot lists, from the JetStream KV bucket
 * recmesh_hot or, when the bucket cannot serve them, by asking the running
 * nodes on recmesh.<cluster>.hot.get. Both paths validate every chunk as
 * hostile input: a node whose list is malformed, incomplete, in the future
 * or older than max_age is skipped with a reason and the others are still
 * used. Node lists are read and folded into the merge one at a time, so the
 * memory used is that of one list plus the merge's bounded candidates
 * (doc/nats.md, "What a reader enforces" and "Merging").
 *
 * Blocking calls: use from the command-line tools or a worker thread only.
 */
#ifndef RECMESH_FLEET_H
#define RECMESH_FLEET_H

#include "base/log.h"
#include "base/notes.h"
#include "tables/hotlist.h"

#include <nats/nats.h>

enum fleet_source { FLEET_SOURCE_KV = 1, FLEET_SOURCE_REQUEST = 2 };

#define FLEET_DEFAULT_TIMEOUT 5.0   /* --nats-timeout's default, seconds */
#define FLEET_MAX_SKEW 300.0        /* a list's time may be this far ahead of ours */
#define FLEET_RACE_TRIES 3          /* reads of a node's head when its chunks disagree */
#define FLEET_BYTE_BUDGET (32u << 20) /* chunk text held at once by the assembler */
#define FLEET_MAX_NODES 4096        /* nodes one assembler keeps track of */
/* what each chunk a list announces costs the byte budget before any arrives */
#define FLEET_CHUNK_SLOT (sizeof(char *) + sizeof(size_t))
#define FLEET_REQUEST_WAIT_MS 1500  /* collecting hot.get replies: at most this long */
#define FLEET_REQUEST_QUIET_MS 300  /* ... and stop after this long without a reply */
/*
 * Ranking (doc/nats.md): a list's item weighs 100 * score / (the list's
 * sum of scores), in percent of its list, at most FLEET_MAX_SHARE, decayed
 * like the list; the merge adds up what the lists give a name.
 */
#define FLEET_MAX_SHARE 5.0
/*
 * The fleet's merged list (doc/nats.md, "The merged list"): `recmesh merge`
 * writes it under <cluster>.=merge (and <cluster>.=merge.<i>), holding the
 * lease <cluster>.=lease. A reader that finds more than its sample of node
 * lists reads the merge and FLEET_DEFAULT_SAMPLE node lists chosen at
 * random, checks the one against the others, and reads no more.
 */
#define FLEET_MERGE_NAME "=merge"
#define FLEET_LEASE_NAME "=lease"
#define FLEET_DEFAULT_SAMPLE 16   /* --sample's default */
#define FLEET_MAX_SAMPLE 256      /* --sample's maximum */
#define FLEET_MERGE_MAX_AGE 900.0 /* a merge older than this is not used */
#define FLEET_MERGE_CHECK 100     /* the sample's hottest names the merge is checked against */
#define FLEET_MERGE_MIN_COVER 50  /* ... of which it must hold this many percent */
#define FLEET_MERGE_MIN_READ 5000 /* names of the merged list read at least, --top fewer or not */
#define FLEET_MERGE_MAX_TOP 200000 /* recmesh merge --top at most */

struct fleet_node_report {
	char node[64];
	double age;   /* seconds since the list was taken */
	size_t items; /* names in the list */
	double sum;   /* its scores added up, decayed to now (0 when not used) */
	int used;     /* merged; otherwise why says why not */
	char why[160];
};

struct fleet_report {
	enum fleet_source source;
	size_t nodes, used;
	struct fleet_node_report *node; /* malloc'd array of nodes entries */
	char fallback[256];             /* with source request: why the bucket did not serve */
	size_t candidates_peak;         /* the merge's candidates held at most */
	size_t candidates;              /* fleet_top: the names it chose from */
	/* a sampled read (fleet_top with sample > 0 and more node lists than that): */
	size_t heads;      /* node lists in the bucket (0: every list was read) */
	int merge_used;    /* the order is the fleet's merged list's */
	char merge_node[64]; /* who wrote it */
	double merge_age;
	size_t merge_names;  /* names taken from it */
	size_t confirmed;    /* of those, named by a sampled list too (replayed first) */
	size_t filled;       /* names added from the sample's merge after the merged list's */
	unsigned cover, cover_of; /* of the sample's cover_of hottest names, the merge holds cover */
	char merge_why[256]; /* why the merged list was not used */
	/*
	 * What the read has to say beyond this report (a list skipped and why,
	 * a limit reached, a retry), for the caller to log (notes.h): the
	 * library logs nothing. Kept last: a read clears what comes before it.
	 */
	struct notes notes;
};

/*
 * The said-once bits (log.h's struct log_once) a caller that reads again
 * and again (a node's KV writer) keeps across its reads, so that a limit
 * reached is noted once, not at every read
 */
enum fleet_once {
	FLEET_ONCE_HEADS,    /* more keys than FLEET_MAX_NODES */
	FLEET_ONCE_NS_FULL,  /* the NS merge's address limit */
	FLEET_ONCE_NS_NAMES, /* the NS merge's name bytes */
	FLEET_ONCE_NS_LATE,  /* tables not read within the deadline */
};

/*
 * Fetches every node's list for cluster into merge. Reads the bucket first,
 * each operation tried again with back-off for up to timeout seconds (0:
 * FLEET_DEFAULT_TIMEOUT); with allow_request, asks the nodes when the bucket
 * cannot serve (no JetStream, no bucket, timeouts, no quorum) or served no
 * usable list. Returns 0 (even when no list was found: report->used says how
 * many lists were merged) or -1 with a reason in err.
 */
int fleet_fetch_hot(natsConnection *nc, const char *cluster, double max_age, double half_life,
		    double timeout, int allow_request, struct hotmerge *merge,
		    struct fleet_report *report, char *err, size_t err_size);
void fleet_report_free(struct fleet_report *report);

const char *fleet_source_name(enum fleet_source s);

/*
 * Fetches the fleet's lists over nc and returns the top hottest
 * items, merged, in *items (malloc'd, *n of them; free with free()). The
 * report says which source and lists were used. Returns 0 (also when no
 * list exists: then *n is 0 and report->used 0), or -1 with a reason.
 *
 * With sample > 0 and more than sample node lists in the bucket, the read
 * does not grow with the fleet (doc/nats.md, "Reads that do not grow with
 * the fleet"): it reads the fleet's merged list and sample node lists
 * chosen at random. The merged list is used when it is fresh, valid and
 * holds at least FLEET_MERGE_MIN_COVER % of the sample's FLEET_MERGE_CHECK
 * hottest names; its names that a sampled list names come first, then the
 * others, in its order, then the sample's names it lacks up to top.
 * Otherwise the sample's merge is returned, and report->merge_why says why.
 */
int fleet_top(natsConnection *nc, const char *cluster, double max_age, double half_life,
	      double timeout, size_t sample, size_t top, struct hot_item **items, size_t *n,
	      struct fleet_report *report, char *err, size_t err_size);

/* The keys of the merged list: <cluster>.=merge (chunk 0), <cluster>.=merge.<i> */
int fleet_merge_key(char *out, size_t size, const char *cluster, unsigned chunk);

/*
 * Fetches every node's authoritative-server table for cluster from the KV
 * bucket recmesh_ns into merge, skipping tables older than max_age (0: no
 * limit) and malformed ones (noted in notes, for the caller to log). Reads
 * are tried again for up to FLEET_DEFAULT_TIMEOUT. Returns the number of
 * tables merged, or -1 with a reason (no JetStream, no bucket, ...).
 */
struct nstable_merge;
int fleet_fetch_ns(natsConnection *nc, const char *cluster, double max_age, struct nstable_merge *merge,
		   struct notes *notes, char *err, size_t err_size);
/*
 * The same within `within` seconds in all (0: no overall deadline); what
 * is left unread is noted. The limits reached are noted once per once
 * (enum fleet_once; NULL: at every read).
 */
int fleet_fetch_ns_within(natsConnection *nc, const char *cluster, double max_age, double within,
			  struct nstable_merge *merge, struct notes *notes, struct log_once *once,
			  char *err, size_t err_size);

/*
 * The hot-list assembler under fleet_fetch_hot, without NATS: it takes the
 * chunks of every node's list, from any source and in any order, and keeps
 * per node the newest generation only (an older generation's chunks are
 * ignored, a newer one replaces what was collected). It keeps a copy of
 * each chunk's text until the node is folded, at most budget bytes in all
 * (0: FLEET_BYTE_BUDGET) and at most FLEET_MAX_NODES nodes. Not thread-safe.
 */
struct fleet_asm;
struct fleet_asm *fleet_asm_create(size_t budget); /* NULL: out of memory */

enum fleet_feed { FLEET_FEED_OK = 0, FLEET_FEED_IGNORED = -1, FLEET_FEED_FULL = -2 };
/*
 * Feeds one chunk (hostile input). Only its header is read here: a chunk
 * with a bad header is noted, with src naming where it came from, and
 * ignored; with key_node set (the node of the KV key it was read from), a
 * chunk whose header names another node is noted and ignored. The items
 * are checked when the node is folded. data is copied. Returns
 * FLEET_FEED_OK, FLEET_FEED_IGNORED, or FLEET_FEED_FULL when the byte
 * budget or the node limit is reached (the chunk is not kept, its node is
 * given up; noted once). The notes go to the report at fleet_asm_finish.
 */
enum fleet_feed fleet_asm_feed(struct fleet_asm *a, const char *data, size_t len, const char *src,
			       const char *key_node);
/* Gives up node with a reason (read failures, chunk races); what was collected is dropped */
void fleet_asm_fail(struct fleet_asm *a, const char *node, const char *why);
/*
 * Folds into merge, one after the other, every node collected so far that
 * is not yet folded: a list is used when all its chunks of one generation
 * are there, every chunk passes hotlist_parse, its time is at most
 * FLEET_MAX_SKEW ahead of now (unix seconds) and at most max_age (0: no
 * limit) behind; its scores are decayed from the list's time to now with
 * half_life (0: not decayed). The chunks' text is freed; the node's verdict
 * is kept for the report. A node given up or folded stays so until a newer
 * generation of it is fed.
 */
void fleet_asm_fold(struct fleet_asm *a, double now, double max_age, double half_life,
		    struct hotmerge *merge);
/*
 * fleet_asm_fold, then fills report (free with fleet_report_free) with
 * every node, used or why not, sorted by name, and adds the assembler's
 * notes to report->notes (zero the report before its first use); the
 * assembler is empty afterwards.
 */
void fleet_asm_finish(struct fleet_asm *a, double now, double max_age, double half_life,
		      struct hotmerge *merge, struct fleet_report *report);
void fleet_asm_destroy(struct fleet_asm *a);

#endif
