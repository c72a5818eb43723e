/*
 * fuzz_pbstream.c: libFuzzer harness for pbstream_decode (src/pbstream.c),
 * which turns one of the Recursor's protobuf messages (PBDNSMessage, one
 * frame of protobufServer / outgoingProtobufServer) into a traffic event.
 *
 * Checked: the decoder returns -1 (undecodable), 0 (nothing for us), 1 (a
 * client response), 2 (an authoritative's answer or timeout) or 3 (a 5.2+
 * client query: an id and header bits, nothing else); for 1 and 2 the
 * event carries a valid lower-case wire name, prints as valid JSON, and
 * goes through the batch encoding and back unchanged, as it would on its
 * way to NATS; an outgoing event's NS name is one the NS table keeps; the
 * header bits change only RD, CD and DO; the early-timeout judgement
 * holds only for timeouts.
 */
#include "config.h"

#include "fuzz.h"
#include "fuzz_json.h"

#include "proxy/pbstream.h"
#include "tables/nstable.h"

#include <string.h>

static void same(const struct rm_event *ev, void *arg)
{
	const struct rm_event *want = arg;
	FUZZ_CHECK(ev->time_us == want->time_us && ev->latency_us == want->latency_us &&
			   ev->min_ttl == want->min_ttl && ev->qtype == want->qtype && ev->qclass == want->qclass &&
			   ev->rcode == want->rcode && ev->flags == want->flags &&
			   ev->response_size == want->response_size && ev->client_family == want->client_family &&
			   memcmp(ev->client, want->client, ev->client_family == 4 ? 4 : ev->client_family ? 16 : 0) == 0 &&
			   ev->qname_len == want->qname_len && memcmp(ev->qname, want->qname, ev->qname_len) == 0,
		   "event changed on its way through a batch");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rm_event ev;
	struct pbstream_extra x;
	char json[4096], err[128];

	memset(&ev, 0x5a, sizeof(ev)); /* whatever the decoder leaves unset shows */
	memset(&x, 0x5a, sizeof(x));
	int kind = pbstream_decode(data, size, &ev, &x);
	FUZZ_CHECK(kind == PBSTREAM_BAD_NAME || kind == PBSTREAM_BAD_TYPE || (kind >= -1 && kind <= PBSTREAM_QUERY),
		   "decode returned %d", kind);
	FUZZ_CHECK(x.has_id <= 1 && x.has_flags <= 1 && x.has_edns <= 1 && x.bad_ns_name <= 1, "extra not reset");
	if (kind == PBSTREAM_QUERY) {
		FUZZ_CHECK(x.has_id && x.has_flags && (x.has_edns || x.edns == 0), "a query without its bits");
		return 0;
	}
	FUZZ_CHECK(!x.has_flags, "bits outside a query");
	if (kind <= 0)
		return 0;
	FUZZ_CHECK(ev.qname_len >= 1 && ev.qname_len <= DNS_MAX_NAME && ev.qname[ev.qname_len - 1] == 0,
		   "name of %u octets", ev.qname_len);
	FUZZ_CHECK(ev.rcode <= 0xfff && (kind == 2) == !!(ev.flags & EV_OUTGOING), "kind %d flags 0x%x rcode %u",
		   kind, ev.flags, ev.rcode);
	FUZZ_CHECK(kind == 1 || ev.client_family == 4 || ev.client_family == 6, "outgoing without an address");
	FUZZ_CHECK(!(ev.flags & EV_NS_NAME) || kind == 2, "an NS name on a client response");
	FUZZ_CHECK(!((ev.flags & EV_NS_NAME) && x.bad_ns_name), "a name taken and refused");
	if (ev.flags & EV_NS_NAME) {
		char name[DNS_MAX_NAME_TEXT];
		int l = dnsmsg_name_to_text(ev.qname, ev.qname_len, name, sizeof(name));
		FUZZ_CHECK(l > 0 && nstable_ns_name_ok(name, (size_t)l), "NS name '%s'", l > 0 ? name : "?");
	}
	FUZZ_CHECK(!pbstream_early_timeout(&ev, 1500) || (ev.flags & EV_NS_TIMEOUT), "an early answer");
	if (kind == 1) {
		/* the header bits of some query: only RD, CD and DO move */
		struct rm_event y = ev;
		struct pbstream_extra bits = {.has_flags = 1, .flags = (uint16_t)ev.time_us, .has_edns = 1,
					      .edns = (uint32_t)(ev.time_us >> 16)};
		pbstream_apply_bits(&y, &bits);
		FUZZ_CHECK((y.flags & ~(EV_RD | EV_CD | EV_DO)) == (ev.flags & ~(EV_RD | EV_CD | EV_DO)),
			   "bits changed flags 0x%x to 0x%x", ev.flags, y.flags);
	}
	int n = event_to_json(&ev, json, sizeof(json));
	FUZZ_CHECK(n > 0 && fuzz_json_valid(json), "JSON (%d): %s", n, json);

	uint8_t buf[EVENT_HDR_LEN + EVENT_MAX_LEN];
	struct event_batch b;
	event_batch_init(&b, buf, sizeof(buf), 1);
	FUZZ_CHECK(event_batch_add(&b, &ev) == 0, "event does not fit a batch");
	size_t len = event_batch_finish(&b);
	int m = event_batch_decode(buf, len, same, &ev, err, sizeof(err));
	FUZZ_CHECK(m == 1, "our batch reads back as %d: %s", m, m < 0 ? err : "");
	return 0;
}
