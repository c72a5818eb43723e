/*
 * idpool.c: the 16-bit ID pool; see idpool.h.
 *
 * Free IDs sit in a ring (taken at the head, given back at the tail). IDs
 * in flight are linked through prev/next arrays indexed by ID, -1 at the
 * ends; in_flight[] marks them, so giving an ID twice cannot put it into
 * the ring twice.
 */
#include "config.h"

#include "net/idpool.h"

#include <stdlib.h>

struct idpool {
	uint32_t size;
	uint16_t *ring; /* free IDs, FIFO */
	uint32_t head, nfree;
	int32_t *prev, *next;
	uint64_t *sent;
	uint8_t *in_flight;
	int32_t oldest, newest;
};

/*
 * Random words for the shuffle, taken from arc4random_buf a block at a
 * time: glibc's arc4random_uniform makes a system call per number, and the
 * 65536 per pool (times --upstream-sockets) took most of a second of a
 * loaded host's start, between binding the listeners and answering.
 */
struct idpool_rnd {
	uint32_t buf[1024];
	size_t next;
};

static uint32_t rnd_word(struct idpool_rnd *r)
{
	if (r->next == 0 || r->next == sizeof(r->buf) / sizeof(r->buf[0])) {
		arc4random_buf(r->buf, sizeof(r->buf));
		r->next = 0;
	}
	return r->buf[r->next++];
}

/* Uniform in [0, bound) (Lemire's multiply and reject) */
static uint32_t rnd_below(struct idpool_rnd *r, uint32_t bound)
{
	uint64_t m = (uint64_t)rnd_word(r) * bound;
	uint32_t low = (uint32_t)m;
	if (low < bound) {
		uint32_t limit = -bound % bound;
		while (low < limit) {
			m = (uint64_t)rnd_word(r) * bound;
			low = (uint32_t)m;
		}
	}
	return (uint32_t)(m >> 32);
}

struct idpool *idpool_create(uint32_t size)
{
	struct idpool_rnd rnd = {.next = 0};
	if (size == 0 || size > IDPOOL_MAX)
		return NULL;
	struct idpool *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->size = size;
	p->ring = malloc(size * sizeof(*p->ring));
	p->prev = malloc(size * sizeof(*p->prev));
	p->next = malloc(size * sizeof(*p->next));
	p->sent = calloc(size, sizeof(*p->sent));
	p->in_flight = calloc(size, 1);
	if (!p->ring || !p->prev || !p->next || !p->sent || !p->in_flight) {
		idpool_destroy(p);
		return NULL;
	}
	/* Fisher-Yates: a random permutation of all IDs */
	for (uint32_t i = 0; i < size; i++)
		p->ring[i] = (uint16_t)i;
	for (uint32_t i = size - 1; i > 0; i--) {
		uint32_t j = rnd_below(&rnd, i + 1);
		uint16_t t = p->ring[i];
		p->ring[i] = p->ring[j];
		p->ring[j] = t;
	}
	p->nfree = size;
	p->oldest = p->newest = -1;
	return p;
}

void idpool_destroy(struct idpool *p)
{
	if (!p)
		return;
	free(p->ring);
	free(p->prev);
	free(p->next);
	free(p->sent);
	free(p->in_flight);
	free(p);
}

int idpool_take(struct idpool *p, uint64_t now_ns)
{
	if (p->nfree == 0)
		return -1;
	uint16_t id = p->ring[p->head];
	p->head = (p->head + 1) % p->size;
	p->nfree--;
	p->in_flight[id] = 1;
	p->sent[id] = now_ns;
	p->next[id] = -1;
	p->prev[id] = p->newest;
	if (p->newest >= 0)
		p->next[p->newest] = id;
	else
		p->oldest = id;
	p->newest = id;
	return id;
}

void idpool_give(struct idpool *p, uint16_t id)
{
	if (id >= p->size || !p->in_flight[id])
		return; /* never free an ID twice */
	if (p->prev[id] >= 0)
		p->next[p->prev[id]] = p->next[id];
	else
		p->oldest = p->next[id];
	if (p->next[id] >= 0)
		p->prev[p->next[id]] = p->prev[id];
	else
		p->newest = p->prev[id];
	p->in_flight[id] = 0;
	p->sent[id] = 0;
	p->ring[(p->head + p->nfree) % p->size] = id;
	p->nfree++;
}

int idpool_in_flight(const struct idpool *p, uint16_t id)
{
	return id < p->size && p->in_flight[id];
}

uint64_t idpool_sent(const struct idpool *p, uint16_t id)
{
	return id < p->size ? p->sent[id] : 0;
}

int idpool_oldest(const struct idpool *p, uint64_t *sent_ns)
{
	if (p->oldest < 0)
		return -1;
	if (sent_ns)
		*sent_ns = p->sent[p->oldest];
	return p->oldest;
}

uint32_t idpool_count(const struct idpool *p)
{
	return p->size - p->nfree;
}
