/*
 * fuzz_event.c: libFuzzer harness for event_batch_decode (src/event.c), the
 * reader of the traffic batches other nodes publish on NATS.
 *
 * Checked: the decoder never reads outside the batch and either refuses it
 * with a reason or returns the count the header says; every event it hands
 * out prints as valid JSON (strict validator: no inf/nan, escaped strings)
 * with the fields doc/events.md lists; and the accepted events, written
 * again with event_batch_add/event_batch_finish, give back the same batch
 * byte for byte (the format has one encoding per batch).
 */
#include "config.h"

#include "fuzz.h"
#include "fuzz_json.h"

#include "dns/event.h"

#include <string.h>

struct seen {
	struct rm_event *ev;
	size_t n, cap;
};

static void on_event(const struct rm_event *ev, void *arg)
{
	struct seen *s = arg;
	char out[4096];
	int n = event_to_json(ev, out, sizeof(out));
	FUZZ_CHECK(n > 0 && (size_t)n == strlen(out), "event_to_json gave %d for a decoded event", n);
	FUZZ_CHECK(fuzz_json_valid(out), "invalid JSON: %s", out);
	FUZZ_CHECK(strstr(out, "\"qname\":") && strstr(out, "\"time\":") && strstr(out, "\"rcode\":"),
		   "fields missing in %s", out);
	(void)hot_eligible(ev);
	fuzz_push(&s->ev, &s->n, &s->cap, ev, sizeof(*ev));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[128] = "";
	struct seen s = {0};

	int checked = event_batch_decode(data, size, NULL, NULL, err, sizeof(err));
	int n = event_batch_decode(data, size, on_event, &s, err, sizeof(err));
	FUZZ_CHECK(n == checked, "two decodes of one batch: %d and %d", checked, n);
	if (n < 0) {
		FUZZ_CHECK(err[0] != '\0' && strlen(err) < sizeof(err), "refused without a reason");
		free(s.ev);
		return 0;
	}
	FUZZ_CHECK((size_t)n == s.n && n == dnsmsg_get16(data + 6), "count %d, %zu delivered", n, s.n);

	/*
	 * Write the events again. The writer takes the first event's time as
	 * the base and clamps earlier times to it, so the same bytes come back
	 * when the first delta is 0, no base + delta wrapped, and the batch
	 * flags hold no unknown bits.
	 */
	uint64_t base = ((uint64_t)dnsmsg_get16(data + 8) << 48) | ((uint64_t)dnsmsg_get16(data + 10) << 32) |
			((uint64_t)dnsmsg_get16(data + 12) << 16) | dnsmsg_get16(data + 14);
	if (s.n == 0 || (data[5] & ~EVB_CLIENT) || base > UINT64_MAX - 0xffffffffu || s.ev[0].time_us != base)
		goto out;
	uint8_t *buf = malloc(size);
	struct event_batch b;
	FUZZ_CHECK(buf != NULL, "out of memory");
	event_batch_init(&b, buf, size, data[5] & EVB_CLIENT);
	for (size_t i = 0; i < s.n; i++) {
		int rc = event_batch_add(&b, &s.ev[i]);
		FUZZ_CHECK(rc == 0, "event %zu of %zu does not fit again", i, s.n);
	}
	size_t len = event_batch_finish(&b);
	FUZZ_CHECK(len == size && memcmp(buf, data, size) == 0, "re-encoded batch differs (%zu vs %zu octets)", len,
		   size);
	free(buf);
out:
	free(s.ev);
	return 0;
}
