/*
 * hot.h: the bounded, decaying table of a node's hottest (qname, qtype).
 *
 * Every query adds 1 to its name's score; scores decay exponentially with
 * the configured half-life, so a name hot an hour ago fades. The table holds
 * at most `capacity` entries: when it is full, the coldest tenth is evicted.
 * Not thread-safe: one thread owns a table (the publisher's drain thread).
 *
 * Ownership: the table copies what hot_add is given (the caller's qname
 * buffer may be reused at once); hot_top copies into the caller's array,
 * which stays valid whatever the table does next.
 */
#ifndef RECMESH_HOT_H
#define RECMESH_HOT_H

#include "dns/dnsmsg.h" /* DNS_MAX_NAME */

#include <stddef.h>
#include <stdint.h>

struct hot_table;

struct hot_item {
	double score; /* decayed query count at the time of hot_top() */
	uint16_t qtype;
	uint8_t qname_len;
	uint8_t qname[DNS_MAX_NAME];
};

struct hot_table *hot_create(size_t capacity, double half_life_s);
void hot_destroy(struct hot_table *t);

/*
 * Counts one query at time now (seconds, monotonic or unix: be consistent).
 * A time that is not finite, negative, or more than ten years after the
 * table's reference time is ignored: no input can make a score inf or nan.
 */
void hot_add(struct hot_table *t, const uint8_t *qname, size_t qname_len, uint16_t qtype,
	     double now);
size_t hot_count(const struct hot_table *t);
size_t hot_evictions(const struct hot_table *t);

/*
 * Writes up to max items, hottest first, scores decayed to now, into out
 * (caller-owned). Returns how many were written.
 */
size_t hot_top(struct hot_table *t, double now, struct hot_item *out, size_t max);

#endif
