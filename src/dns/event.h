/*
 * event.h: the compact traffic event and its versioned batch encoding, as
 * published on recmesh.<cluster>.traffic.<node>. doc/events.md is the
 * normative description of the wire format; keep the two in step.
 *
 * Events are plain values (no pointers) so they can be copied through the
 * ring between the data path and the NATS thread: whoever holds one owns
 * it outright. Batch buffers belong to the caller; the decoder only reads
 * its input and hands out each event as a temporary.
 */
#ifndef RECMESH_EVENT_H
#define RECMESH_EVENT_H

#include "dns/dnsmsg.h"

#include <stddef.h>
#include <stdint.h>

#define EVENT_MAGIC "RMEV"
#define EVENT_VERSION 1

/* event flags */
#define EV_RD 0x0001   /* query had RD */
#define EV_CD 0x0002   /* query had CD */
#define EV_DO 0x0004   /* query had EDNS DO */
#define EV_AD 0x0008   /* answer had AD */
#define EV_TC 0x0010   /* answer was truncated */
#define EV_TCP 0x0020  /* client came over TCP */
#define EV_WARM 0x0040 /* query came from `recmesh warm` */
#define EV_TTL 0x0080  /* min_ttl is meaningful */
#define EV_OUTGOING 0x0100 /* a Recursor's query to an authoritative (never published) */
#define EV_NS_TIMEOUT 0x0200 /* with EV_OUTGOING: the authoritative did not answer */
/*
 * With EV_OUTGOING: qname holds the NS name the Recursor asked the server
 * under (5.1+ streams; lower-case, a name nstable_ns_name_ok takes), not
 * the question: an outgoing event is never published, and only the
 * authoritative-server table reads it
 */
#define EV_NS_NAME 0x0400

/* batch flags */
#define EVB_CLIENT 0x01 /* every event carries the client address */

#define EVENT_HDR_LEN 16
#define EVENT_FIXED_LEN 25
#define EVENT_MAX_LEN (EVENT_FIXED_LEN + DNS_MAX_NAME + 17)

struct rm_event {
	uint64_t time_us;    /* unix time the answer was relayed, microseconds */
	uint32_t latency_us; /* upstream round trip */
	uint32_t min_ttl;    /* lowest answer TTL (with EV_TTL) */
	uint16_t qtype, qclass;
	uint16_t query_size, response_size;
	uint16_t flags; /* EV_* */
	uint16_t rcode; /* extended rcode (12 bits) */
	uint8_t client_family; /* 0 (not recorded), 4 or 6 */
	uint8_t client[16];
	uint32_t qkey;  /* with EV_OUTGOING: nstable_query_key of the question */
	uint8_t qname_len;
	uint8_t qname[DNS_MAX_NAME]; /* lower-cased wire form */
};

/* What the data path keeps of a query while it waits for the answer */
struct ev_query {
	uint16_t flags; /* header flags of the query */
	uint16_t size;
	uint8_t do_bit;
	uint8_t warm_marker;
};

/*
 * Fills an event from the kept query and the parsed response, whose
 * question (already checked against the query's) gives name, type, class.
 */
void event_from_dns(struct rm_event *ev, const struct ev_query *q, const struct dns_msg_info *r,
		    size_t rsize, uint64_t now_us, uint32_t latency_us, int tcp);

/*
 * Batch writer. The caller owns buf (at least EVENT_HDR_LEN + one
 * EVENT_MAX_LEN); event_batch_add returns -1 when the event does not fit,
 * after which the batch is complete and can be finished and sent.
 */
struct event_batch {
	uint8_t *buf;
	size_t size, len;
	uint16_t count;
	uint8_t flags;
	uint64_t base_us;
};
void event_batch_init(struct event_batch *b, uint8_t *buf, size_t size, int with_client);
int event_batch_add(struct event_batch *b, const struct rm_event *ev);
/* Writes the header; returns the encoded length */
size_t event_batch_finish(struct event_batch *b);

/*
 * Decodes a batch, calling cb (may be NULL) for every event; ev is
 * temporary, valid during the call. Returns the number of events, or -1
 * with a one-line reason in err when the batch is malformed (nothing after
 * the bad event is delivered: check a batch with cb NULL first to deliver
 * all or nothing).
 */
typedef void (*event_cb)(const struct rm_event *ev, void *arg);
int event_batch_decode(const uint8_t *buf, size_t len, event_cb cb, void *arg, char *err,
		       size_t err_size);

/*
 * Whether the event may enter the hot list: not CD=1, class IN, not a meta
 * or obsolete type (dnsmsg_type_is_meta), not answered REFUSED, FORMERR or
 * NOTIMP, not a warm-up replay, not an outgoing query.
 */
int hot_eligible(const struct rm_event *ev);

/*
 * The event's fields (time, qname, qtype, qclass, rcode, rd, cd, do, ad, tc,
 * transport, warm, min_ttl, latency_us, query_size, response_size, and
 * client when recorded) into the JSON object j has open, so a caller can
 * add its own fields (recmesh events adds the node). Returns 0, or -1
 * (nothing written) when the qname is not a valid wire name.
 */
struct json;
int event_json_fields(struct json *j, const struct rm_event *ev);

/* One JSON object (no newline) describing ev into out; returns its length or -1 */
int event_to_json(const struct rm_event *ev, char *out, size_t out_size);

#endif
