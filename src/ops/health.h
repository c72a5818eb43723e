/*
 * health.h: the node's health (GET /health, see recmesh(1) HEALTH). A
 * probe thread asks the upstream Recursor `. NS` (RD set, carrying the
 * warm-up marker so that no node counts it) every HEALTH_INTERVAL seconds
 * and waits HEALTH_TIMEOUT for the answer: the node is healthy while the
 * last probe was answered NOERROR and the upstream is not taken for down
 * for certain (net/recstate.h: by a refused client query or the probes,
 * whichever thread saw it; client timeouts alone are left to the probe).
 * Each probe is reported there too. The same thread notes the NATS
 * connection state and the time a new hot-list write was first seen;
 * NATS being away does not make a node unhealthy, it only shows in the
 * reason. Requests read the last result: they never wait for a probe.
 *
 * Ownership: the health owns its thread and socket; the upstream string
 * is copied, the publisher must outlive it. Any thread may read it.
 */
#ifndef RECMESH_HEALTH_H
#define RECMESH_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#define HEALTH_INTERVAL 2.0 /* seconds between probes */
#define HEALTH_TIMEOUT 1.0  /* seconds a probe waits for its answer */

struct publisher;
struct recstate;

struct health_state {
	int up;     /* the last probe was answered NOERROR (or nothing to probe) */
	int probed; /* a probe has finished */
	int nats_connected;
	double last_hot_write; /* unix seconds; 0: none seen */
	char reason[256];      /* one line: what the last probe saw, and NATS */
	/* times the upstream was taken for down (net/recstate.h), by what took it first */
	uint64_t downs_refused, downs_timeouts, downs_probes;
};

struct health;

/*
 * upstream NULL: nothing to probe (the node is healthy while it runs).
 * rec: where the probes are reported and whether the upstream is down is
 * read (net/recstate.h; borrowed, it must outlive the health; NULL: one
 * of its own). NULL with a reason.
 */
struct health *health_create(const char *upstream, struct publisher *pub, struct recstate *rec,
			     char *err, size_t err_size);
void health_get(const struct health *h, struct health_state *st);
/* Stops the probe thread; accepts NULL */
void health_destroy(struct health *h);


#endif
