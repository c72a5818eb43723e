/*
 * sink.h: where the data path hands its events. The proxy and the protobuf
 * listener know nothing of NATS: they call a sink, a function and its
 * context, from their own (libev) thread. The sink must not block and must
 * copy the event: ev is valid during the call only. It returns 0 when it
 * took the event, -1 when it dropped it (the caller counts the drop).
 *
 * The node's NATS side (publisher.h) provides the sink in production; the
 * tests and benchmarks may plug in their own.
 */
#ifndef RECMESH_SINK_H
#define RECMESH_SINK_H

#include "dns/event.h"

typedef int (*event_sink_fn)(void *ctx, const struct rm_event *ev);

struct event_sink {
	event_sink_fn fn; /* NULL: events are not wanted */
	void *ctx;
};

static inline int event_sink_put(const struct event_sink *s, const struct rm_event *ev)
{
	return s->fn ? s->fn(s->ctx, ev) : 0;
}

#endif
