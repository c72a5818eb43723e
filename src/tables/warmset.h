/*
 * warmset.h: the names a restarted Recursor has answered since it went
 * down or its warm-up started (recmesh(1) "Restarts and peers"): the
 * auto-warm's replay adds each name it got a NOERROR or NXDOMAIN answer
 * for, the data path each name the local Recursor answered a client so;
 * while the local Recursor is being warmed, a client query for a name not
 * in the set goes to a peer at once.
 *
 * A fixed table of WARMSET_SLOTS 64-bit slots (open addressing, a probe
 * sequence of WARMSET_PROBES slots at most), holding WARMSET_MAX names:
 * beyond that, or when a name's probe sequence is full, warmset_add
 * refuses the name (it counts as not warmed: a peer is asked, within the
 * peers' limits). A slot holds a name's key (a seeded 40-bit hash of its
 * lower-cased wire form and type: names that collide share a slot, so a
 * cold name may count as warmed, and then waits for the hedge delay as
 * before) and the generation it was added in; warmset_clear starts a new
 * generation in O(1).
 *
 * Threads: any number of writers (warmset_add, with compare-and-swap) and
 * readers (warmset_has), lock-free; warmset_clear from any thread. A name
 * added while a clear runs may be in either generation.
 */
#ifndef RECMESH_WARMSET_H
#define RECMESH_WARMSET_H

#include <stddef.h>
#include <stdint.h>

#define WARMSET_SLOTS (1u << 18) /* 2 MiB */
#define WARMSET_MAX (WARMSET_SLOTS / 2)
#define WARMSET_PROBES 32

struct warmset;

/* NULL when out of memory; seed keys the hash (random per process) */
struct warmset *warmset_create(uint64_t seed);
void warmset_destroy(struct warmset *w);
/* The key of a name (wire form, len bytes, any case) and type: never 0 */
uint64_t warmset_key(const struct warmset *w, const uint8_t *qname, size_t len, uint16_t qtype);
/*
 * Adds a key: 1 added, 0 already in, -1 refused (the set holds WARMSET_MAX
 * names, or the name's probe sequence is full)
 */
int warmset_add(struct warmset *w, uint64_t key);
/* Whether the key was added since the last clear */
int warmset_has(const struct warmset *w, uint64_t key);
/* Forgets every name (a new generation) */
void warmset_clear(struct warmset *w);
/* The first slot of a key's probe sequence (unit tests) */
size_t warmset_slot_of(uint64_t key);
/* Names in the current generation, and names refused since the last clear */
size_t warmset_count(const struct warmset *w);
uint64_t warmset_refused(const struct warmset *w);

#endif
