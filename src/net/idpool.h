/*
 * idpool.h: one pool of 16-bit DNS message IDs, for the proxy's UDP
 * upstream sockets and for the warm-up replay.
 *
 * Free IDs start as a random permutation (arc4random) and are reused
 * first-in first-out, so an ID comes back as late as possible and the
 * sequence cannot be guessed from the outside. IDs in flight are on a
 * doubly linked list in the order they were taken: the oldest is found in
 * O(1) (timeouts look at it only) and an answered ID leaves the list in
 * O(1). The pool keeps each ID's send time; whatever else belongs to a
 * query (the client, the question) stays with the caller, in an array
 * indexed by the ID.
 *
 * Not thread-safe: one thread owns a pool. All times are the caller's
 * (monotonic nanoseconds); the pool never reads a clock.
 */
#ifndef RECMESH_IDPOOL_H
#define RECMESH_IDPOOL_H

#include <stddef.h>
#include <stdint.h>

#define IDPOOL_MAX 65536

struct idpool;

/*
 * A pool of the IDs 0 .. size-1 (size 1 to IDPOOL_MAX; the data paths use
 * IDPOOL_MAX), all free. NULL when out of memory or size is out of range.
 */
struct idpool *idpool_create(uint32_t size);
void idpool_destroy(struct idpool *p);

/* Takes the next free ID and puts it in flight, sent at now_ns; -1 when all are in flight */
int idpool_take(struct idpool *p, uint64_t now_ns);

/* Ends an ID's flight (answered, timed out, never sent); an ID not in flight is ignored */
void idpool_give(struct idpool *p, uint16_t id);

/* Whether id is in flight (an answer for it is expected) */
int idpool_in_flight(const struct idpool *p, uint16_t id);

/* When an ID in flight was taken (0 for an ID not in flight) */
uint64_t idpool_sent(const struct idpool *p, uint16_t id);

/* The ID in flight longest, its send time in *sent_ns; -1 when none is */
int idpool_oldest(const struct idpool *p, uint64_t *sent_ns);

/* IDs in flight */
uint32_t idpool_count(const struct idpool *p);

#endif
