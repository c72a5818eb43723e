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
	uint64_t refused;  /* from an address not in --protobuf-allow-from */
	uint64_t evicted;  /* closed to make room at --protobuf-max-connections */
	uint64_t accept_errors; /* accept() failed (descriptors, memory): accept paused */
	uint64_t bad_time; /* timeSec outside PBSTREAM_TIME_WINDOW around now */
	uint64_t bad_question; /* a NUL in the name, qtype or qclass over 65535 */
	uint64_t frames, bad_frames;
	uint64_t client_responses, outgoing_answers, outgoing_timeouts, ignored;
	uint64_t truncated, stalled;
	uint64_t events_dropped;
};

/*
 * Who may connect and how many: allow_from holds entries of
 * comma-separated CIDRs (acl.h); an empty list keeps the default,
 * loopback only (127.0.0.0/8 and ::1). At max_connections (0: the
 * default, PBSTREAM_MAX_CONNECTIONS) a new connection closes the one
 * that has been idle longest. Refusals and evictions are logged once per
 * interval. The strings are copied.
 */
#define PBSTREAM_MAX_CONNECTIONS 64
struct pbstream_limits {
	char *const *allow_from;
	size_t nallow_from;
	unsigned max_connections;
};

/* A frame whose timeSec lies further than this from now (seconds) is dropped and counted */
#define PBSTREAM_TIME_WINDOW 86400

/* pbstream_decode's answers for a name holding a NUL, and for a qtype or qclass over 65535 */
#define PBSTREAM_BAD_NAME (-2)
#define PBSTREAM_BAD_TYPE (-3)

struct pbstream;
/*
 * Binds listen (ADDR:PORT); events go to sink (fn NULL: nowhere). With
 * outgoing_only (a proxy, which sees its clients itself), client responses
 * in the streams are counted as ignored.
 */
struct pbstream *pbstream_create(struct ev_loop *loop, const char *listen, struct event_sink sink,
				 int outgoing_only, char *err, size_t err_size);
/* Sets the limits (see struct pbstream_limits); returns 0, or -1 with a reason (nothing changed) */
int pbstream_set_limits(struct pbstream *s, const struct pbstream_limits *lim, char *err,
			size_t err_size);
/* Sets where events go; the sink's ctx must outlive s or the next call */
void pbstream_set_sink(struct pbstream *s, struct event_sink sink);
void pbstream_get_stats(const struct pbstream *s, struct pbstream_stats *st);
void pbstream_destroy(struct pbstream *s);

/*
 * Turns one decoded message into an event. Returns 1 (a client response),
 * 2 (an authoritative's answer or timeout), 0 when the message carries
 * nothing recmesh uses, PBSTREAM_BAD_NAME or _BAD_TYPE for a hostile question, -1 when
 * it does not decode. ev->time_us is the frame's, unchecked: the caller
 * judges it against its clock. Exposed for the unit tests.
 */
int pbstream_decode(const uint8_t *data, size_t len, struct rm_event *ev);

#endif
