/*
 * pbstream.h: ingest of the Recursor's protobuf streams (protobufServer and
 * outgoingProtobufServer): TCP connections from the Recursor (one per
 * thread), each message a 2-byte big-endian length then a PBDNSMessage.
 *
 * Responses to clients (type 2) become traffic events, as in the proxy;
 * with a 5.2+ Recursor, the header bits (RD, CD, DO) of the client query
 * (type 1) are kept by messageId until its response comes (a bounded
 * table). Responses from authoritatives (type 4, or a timeout: rcode
 * 65536) become EV_OUTGOING observations for the authoritative-server
 * table, with the NS name of 5.1+ streams; a timeout the Recursor gave up
 * on early (before 80 % of its network-timeout) is counted apart and not
 * passed on. Events go to the event sink (sink.h); this file knows
 * nothing of NATS. Undecodable frames are counted and skipped; a
 * connection that stalls in the middle of a frame is closed. Runs on the
 * libev loop it is given; never blocks.
 */
#ifndef RECMESH_PBSTREAM_H
#define RECMESH_PBSTREAM_H

#include "dns/event.h"
#include "dns/sink.h"

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
	uint64_t client_queries;  /* 5.2+ client queries whose header bits were kept for their response */
	uint64_t outgoing_early_timeouts; /* timeouts before 80 % of the network timeout: not evidence */
	uint64_t bad_ns_names;    /* nsName values that are not NS names recmesh keeps: ignored */
	uint64_t query_bits_evicted; /* kept header bits dropped for room before their response came */
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

/* The Recursor's network-timeout (milliseconds): its default, and the bounds of --rec-network-timeout */
#define PBSTREAM_NETWORK_TIMEOUT_DEFAULT 1500
#define PBSTREAM_NETWORK_TIMEOUT_MIN 1
#define PBSTREAM_NETWORK_TIMEOUT_MAX 600000
/* A timeout counts as evidence only after this share (percent) of the network timeout */
#define PBSTREAM_TIMEOUT_SHARE 80

/*
 * Header bits of client queries waiting for their response: at most
 * PBSTREAM_QUERY_BITS_MAX, in sets of PBSTREAM_QUERY_BITS_WAYS chosen by
 * the messageId; a full set drops its oldest entry (counted when it was
 * younger than PBSTREAM_QUERY_BITS_AGE seconds: an older one lost its
 * response), so the table never grows.
 */
#define PBSTREAM_QUERY_BITS_MAX 16384
#define PBSTREAM_QUERY_BITS_WAYS 4
#define PBSTREAM_QUERY_BITS_AGE 60.0

/* pbstream_decode's answers for a name holding a NUL, and for a qtype or qclass over 65535 */
#define PBSTREAM_BAD_NAME (-2)
#define PBSTREAM_BAD_TYPE (-3)
/* pbstream_decode's answer for a client query carrying its header bits (5.2+) */
#define PBSTREAM_QUERY 3

/* What pbstream_decode read beside the event: the 5.x fields */
struct pbstream_extra {
	uint8_t id[16];      /* messageId, with has_id (a UUID: other lengths are not kept) */
	uint8_t has_id;
	uint8_t has_flags;   /* a client query's header flags word, in flags (DNS_FLAG_* bits) */
	uint8_t has_edns;    /* a client query's OPT TTL field, in edns (DO: 0x8000) */
	uint8_t bad_ns_name; /* an nsName was there but is not a name recmesh keeps */
	uint16_t flags;
	uint32_t edns;
};

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
/* The Recursor's network-timeout in ms (--rec-network-timeout), clamped to the bounds above */
void pbstream_set_network_timeout(struct pbstream *s, unsigned ms);
void pbstream_get_stats(const struct pbstream *s, struct pbstream_stats *st);
void pbstream_destroy(struct pbstream *s);

/*
 * Turns one decoded message into an event. Returns 1 (a client response),
 * 2 (an authoritative's answer or timeout; with EV_NS_NAME when it names a
 * valid NS name), PBSTREAM_QUERY (a 5.2+ client query: x holds its id and
 * header bits, ev nothing), 0 when the message carries nothing recmesh
 * uses, PBSTREAM_BAD_NAME or _BAD_TYPE for a hostile question, -1 when it
 * does not decode. ev->time_us is the frame's, unchecked: the caller
 * judges it against its clock. For a timeout, ev->latency_us is the time
 * the Recursor waited (0 when the message has no query time before its
 * own). x (may be NULL) is zeroed and filled. Exposed for the unit tests.
 */
int pbstream_decode(const uint8_t *data, size_t len, struct rm_event *ev, struct pbstream_extra *x);

/*
 * Whether a timeout (ev from pbstream_decode, kind 2) came before
 * PBSTREAM_TIMEOUT_SHARE % of network_timeout_ms: the Recursor gave up
 * early (5.1+, when busy), which says nothing about the server. A timeout
 * without a usable query time (latency_us 0) is not early.
 */
int pbstream_early_timeout(const struct rm_event *ev, unsigned network_timeout_ms);

/*
 * A client response's RD, CD and DO from its query's header bits (x from
 * that query), in place of the assumed RD of a stream without them.
 */
void pbstream_apply_bits(struct rm_event *ev, const struct pbstream_extra *x);

/* The table of header bits waiting for their response (see PBSTREAM_QUERY_BITS_MAX) */
struct pbstream_qbits;
struct pbstream_qbits *pbstream_qbits_create(void);
void pbstream_qbits_destroy(struct pbstream_qbits *q);
/*
 * Keeps x's bits (has_id and has_flags set) under its id at now
 * (monotonic seconds). Returns 1 when a younger entry than
 * PBSTREAM_QUERY_BITS_AGE was dropped for room, else 0.
 */
int pbstream_qbits_put(struct pbstream_qbits *q, const struct pbstream_extra *x, double now);
/*
 * Moves the bits kept under x->id into x (has_flags, flags, has_edns,
 * edns) and forgets them. Returns 1 when found, 0 when not (x unchanged).
 */
int pbstream_qbits_take(struct pbstream_qbits *q, struct pbstream_extra *x);

#endif
