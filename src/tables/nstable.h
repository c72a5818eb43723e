/*
 * nstable.h: what a node learned about authoritative servers from its
 * Recursor's outgoing queries: per server address a smoothed RTT, answers,
 * timeouts, the current run of timeouts, when it was last seen, and the NS
 * names the Recursor asked it under (5.1+ streams). Bounded (the least
 * recently seen entries go first) and aged out. Also the text form stored
 * in the KV bucket recmesh_ns (version 2 written, versions 1 and 2 read),
 * its hostile-input parser, and the fleet-wide merge that decides which
 * servers are dead.
 *
 * Not thread-safe: one thread owns a table (the publisher's drain thread).
 *
 * Ownership: the table and the merge copy what they are given, NS names
 * too; nstable_snapshot copies into the caller's array, but an item's
 * names point into the table (valid until the table's next
 * nstable_observe, nstable_snapshot or nstable_destroy); nstable_encode and
 * nstable_merge_items return malloc'd memory the caller frees (free()), and
 * the merged items' names point into the merge (valid until
 * nstable_merge_destroy). The parser only reads its input (with linefmt.h)
 * and hands each item, names included, to the callback in a temporary,
 * valid during the call only.
 */
#ifndef RECMESH_NSTABLE_H
#define RECMESH_NSTABLE_H

#include <stddef.h>
#include <stdint.h>

#define NS_DEAD_MIN_TIMEOUTS 2 /* timeouts in a row, fleet-wide, before a server counts as dead: never one */
/* nodes that must report a run of timeouts before it counts, unless the fleet is one node */
#define NS_DEAD_MIN_NODES 2
#define NS_MERGE_MAX_ENTRIES 65536 /* addresses one merge keeps; further ones are left out */
#define NS_MERGE_MAX_RUNS 4096     /* node runs kept per address (FLEET_MAX_NODES) */
#define NS_SLOW_MS 200.0
#define NS_TABLE_MAX_AGE 3600.0 /* a node's table this old is from a node that is gone: ignored */
/*
 * The one bound on a smoothed RTT: nstable_observe clamps what it stores to
 * it (a latency from the stream may be up to 2^32 us, 4295 s) and the
 * parser rejects a table with a larger value, so a node never writes a
 * table its peers refuse.
 */
#define NS_SRTT_MAX_MS 1e6
/* Clock skew tolerated between hosts: a table or item time later than now + this is refused */
#define NS_CLOCK_SKEW 60.0
/*
 * Fresh evidence: a server is dead only while the fleet's latest timeout
 * from it is at most this old (seconds). Older runs of timeouts (a stopped
 * node's table, a server nobody asked for a while) no longer count.
 */
#define NS_DEAD_FRESH 600.0

/*
 * NS names: lower-case, absolute (with the trailing dot), labels of 1 to
 * 63 characters of [a-z0-9_-], at most NS_NAME_MAX characters in all (a
 * 255-octet name in wire form). Any other name is left out. An address
 * keeps at most NS_NAMES_MAX names, the most recently seen first, in the
 * node's table, in a table's text and in the merge.
 */
#define NS_NAME_MAX 254
#define NS_NAMES_MAX 4
/* Bytes of NS names one merge holds at most; names beyond are left out (counted) */
#define NS_MERGE_MAX_NAME_BYTES (16u << 20)
/* The longest line of a version 1 table, and of a version 2 table (up to four long names) */
#define NS_LINE_MAX_V1 256
#define NS_LINE_MAX 1280

/*
 * Every counter saturates (at UINT64_MAX, UINT32_MAX), srtt_ms is within
 * [0, NS_SRTT_MAX_MS] and every time is finite and not negative, in items
 * the table, the parser and the merge hand out.
 */
struct nstable_item {
	uint8_t family; /* 4 or 6 */
	uint8_t addr[16];
	double srtt_ms; /* smoothed RTT of answers; 0 when none */
	uint64_t answers, timeouts;
	uint32_t streak;    /* timeouts since the last answer */
	double last_answer; /* unix seconds; 0: never */
	double last_timeout;
	double last_seen;
	uint32_t nodes; /* merged: how many nodes reported it */
	/* NS names (NS_NAME_MAX characters at most), the most recently seen first, and when each was last seen */
	uint8_t nnames;
	const char *names[NS_NAMES_MAX];
	double name_seen[NS_NAMES_MAX];
};

enum nstable_state { NS_OK = 0, NS_SLOW, NS_DEAD };

struct nstable;
struct nstable *nstable_create(size_t capacity, double max_age);
void nstable_destroy(struct nstable *t);
/*
 * One outgoing query's outcome: an answer after rtt_us (the stored RTT is
 * clamped to NS_SRTT_MAX_MS), or a timeout, at the time now (the
 * Recursor's clock; a time that is not finite or negative is ignored),
 * asked under the NS name ns_name (NULL: not known; a name that is not
 * one nstable_ns_name_ok takes is ignored). A fifth name replaces the one
 * seen longest ago.
 */
void nstable_observe(struct nstable *t, int family, const uint8_t *addr, uint32_t rtt_us,
		     int timeout, double now, const char *ns_name);
/*
 * The same, for an answer to the query (qname in wire form, len bytes;
 * qtype) whose key nstable_query_key gives: of the answers from one
 * server for one key that come within 50 ms of each other (a Recursor's
 * chained queries: one sent, all answered at once), only the longest RTT
 * counts. qkey 0: no key, the RTT counts at once. An RTT waits for those
 * 50 ms (or the next nstable_snapshot) before it is in the smoothed RTT.
 */
void nstable_observe_q(struct nstable *t, int family, const uint8_t *addr, uint32_t rtt_us,
		       int timeout, double now, const char *ns_name, uint32_t qkey);
/* A query's key for nstable_observe_q: never 0; the name's case does not matter */
uint32_t nstable_query_key(const uint8_t *qname, size_t len, uint16_t qtype);
size_t nstable_count(const struct nstable *t);
/*
 * Clamps times later than now (the node's clock) to now, drops entries
 * unseen for max_age; then writes up to max items, most recently seen first
 */
size_t nstable_snapshot(struct nstable *t, double now, struct nstable_item *out, size_t max);

/* Whether s (len bytes) is an NS name as recmesh keeps them (see NS_NAME_MAX) */
int nstable_ns_name_ok(const char *s, size_t len);
/*
 * An NS name as the Recursor sends it (len bytes, with or without the
 * trailing dot, any case) made into one recmesh keeps: lower-cased, with
 * the dot, NUL-terminated in out. Returns its length, or -1 when it is not
 * such a name (then out is untouched).
 */
int nstable_ns_name_norm(const uint8_t *in, size_t len, char out[NS_NAME_MAX + 1]);

/*
 * Text form (doc/nats.md): "#recmesh-ns 2 node=NODE time=T" then one line
 * per address, its names last. Item times later than time are written as
 * time, an srtt beyond NS_SRTT_MAX_MS (or not finite) as the bound (0), so
 * the parser takes it; a name nstable_ns_name_ok refuses is left out.
 */
char *nstable_encode(const struct nstable_item *items, size_t n, const char *node, double time,
		size_t max_len, size_t *len);
typedef void (*nstable_item_cb)(const struct nstable_item *item, void *arg);
/*
 * Returns the number of items (each to cb, which may be NULL) and sets node
 * and *time, or -1 with a reason as doc/nats.md lists them ("bad line N",
 * "bad header line", "bad item on line N", "time in the future", ...); node
 * and *time are set only on success. Items before a bad line have already
 * gone to cb. The header's time must be at most now + NS_CLOCK_SKEW and no
 * item time may be later than the header's time.
 */
int nstable_parse_at(const char *data, size_t len, double now, char node[64], double *time,
		     nstable_item_cb cb, void *arg, char *err, size_t err_size);
/* nstable_parse_at with now = the current time */
int nstable_parse(const char *data, size_t len, char node[64], double *time, nstable_item_cb cb, void *arg,
	     char *err, size_t err_size);

/* Fleet merge */
struct nstable_merge;
struct nstable_merge *nstable_merge_create(void);
void nstable_merge_destroy(struct nstable_merge *m);
/*
 * Says that the items added next come from one more node's table (a table
 * names an address once: the parser refuses a repeat). Without these
 * calls, each item added for an address counts as another node's.
 */
void nstable_merge_table(struct nstable_merge *m);
/*
 * Adds one item; a new address beyond NS_MERGE_MAX_ENTRIES is left out
 * (counted). Its names join the address's: each name's latest time, the
 * NS_NAMES_MAX most recently seen kept; a name that would take the merge's
 * names beyond NS_MERGE_MAX_NAME_BYTES is left out (counted).
 */
void nstable_merge_add(struct nstable_merge *m, const struct nstable_item *item);
size_t nstable_merge_left_out(const struct nstable_merge *m);
size_t nstable_merge_names_left_out(const struct nstable_merge *m);
/*
 * All merged items as of now, deadest/slowest first; malloc'd array
 * (free()). The merged streak sums (saturating) the nodes' runs of
 * timeouts that ended after the latest answer any node saw and at most
 * NS_DEAD_FRESH before now (and not after now + NS_CLOCK_SKEW); when the
 * fleet has more than one node (tables merged, or runs of one address)
 * and fewer than NS_DEAD_MIN_NODES nodes have such a run, it is 0.
 */
struct nstable_item *nstable_merge_items(struct nstable_merge *m, double now, size_t *n);
/*
 * Dead: a merged streak of at least NS_DEAD_MIN_TIMEOUTS, the latest
 * timeout later than the latest answer, and that timeout fresh (at most
 * NS_DEAD_FRESH before now, not after now + NS_CLOCK_SKEW).
 */
enum nstable_state nstable_state_of(const struct nstable_item *merged, double now);
const char *nstable_state_name(enum nstable_state s);
const char *nstable_addr_text(const struct nstable_item *it, char *buf, size_t size);
/*
 * One merged item as the JSON object `recmesh ns --json` prints (always a
 * valid object: non-finite numbers are null). Returns json_finish's result.
 */
int nstable_item_json(const struct nstable_item *merged, double now, char *buf, size_t size);

#endif
