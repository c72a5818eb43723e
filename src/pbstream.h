/*
 * pbstream.h: ingest of the Recursor's protobuf streams (protobufServer and
 * outgoingProtobufServer): TCP connections from the Recursor (one per
 * thread), each message a 2-byte big-endian length then a PBDNSMessage.
 *
 * Responses to clients (type 2) become traffic events, as in the proxy;
 * responses from authoritatives (type 4, or a timeout: rcode 65536) become
 * EV_OUTGOING observations for the authoritative-server table. Both go to
 * the event sink (sink.h); this file knows nothing of NATS. Undecodable frames are counted and skipped; a connection that
 * stalls in the middle of a frame is closed. Runs on the libev loop it is
 * given; never blocks.
 */
#ifndef RECMESH_PBSTREAM_H
#define RECMESH_PBSTREAM_H

#include "event.h"
#include "sink.h"

#include <ev.h>
#include <stdint.h>

struct pbstream_stats {
	uint64_t connections, connections_open;
	uint64_t frames, bad_frames;
	uint64_t client_responses, outgoing_answers, outgoing_timeouts, ignored;
	uint64_t truncated, stalled;
	uint64_t events_dropped;
};

struct pbstream;
/*
 * Binds listen (ADDR:PORT); events go to sink (fn NULL: nowhere). With
 * outgoing_only (a proxy, which sees its clients itself), client responses
 * in the streams are counted as ignored.
 */
struct pbstream *pbstream_create(struct ev_loop *loop, const char *listen, struct event_sink sink,
				 int outgoing_only, char *err, size_t err_size);
/* Sets where events go; the sink's ctx must outlive s or the next call */
void pbstream_set_sink(struct pbstream *s, struct event_sink sink);
void pbstream_get_stats(const struct pbstream *s, struct pbstream_stats *st);
void pbstream_destroy(struct pbstream *s);

/*
 * Turns one decoded message into an event. Returns 1 (a client response),
 * 2 (an authoritative's answer or timeout), or 0 when the message carries
 * nothing recmesh uses. Exposed for the unit tests.
 */
int pbstream_decode(const uint8_t *data, size_t len, struct rm_event *ev);

#endif
