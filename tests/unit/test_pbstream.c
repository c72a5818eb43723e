/* test_pbstream.c: decoding the Recursor's protobuf messages (frames captured from pdns_recursor 4.8.8) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pbstream.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t load(const char *name, uint8_t *buf, size_t size)
{
	char path[1024];
	const char *dir = getenv("srcdir");
	snprintf(path, sizeof(path), "%s/tests/unit/data/%s", dir ? dir : ".", name);
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	size_t n = fread(buf, 1, size, f);
	fclose(f);
	assert_true(n > 0);
	return n;
}

static void test_client_response(void **state)
{
	uint8_t buf[4096];
	struct rm_event ev;
	char name[DNS_MAX_NAME_TEXT];
	size_t n = load("pb-client-response.bin", buf, sizeof(buf));
	assert_int_equal(pbstream_decode(buf, n, &ev), 1);
	dnsmsg_name_to_text(ev.qname, ev.qname_len, name, sizeof(name));
	assert_int_equal(strncmp(name, "www.z", 5), 0);
	assert_int_equal(ev.qtype, 1);
	assert_int_equal(ev.qclass, 1);
	assert_int_equal(ev.rcode, 0);
	assert_true(ev.flags & EV_TTL);
	assert_true(ev.min_ttl > 0 && ev.min_ttl <= 3600);
	assert_false(ev.flags & EV_OUTGOING);
	assert_true(ev.time_us > 1700000000000000ull);
}

static void test_outgoing(void **state)
{
	uint8_t buf[4096];
	struct rm_event ev;
	size_t n = load("pb-outgoing-answer.bin", buf, sizeof(buf));
	assert_int_equal(pbstream_decode(buf, n, &ev), 2);
	assert_true(ev.flags & EV_OUTGOING);
	assert_false(ev.flags & EV_NS_TIMEOUT);
	assert_int_equal(ev.client_family, 4);
	assert_int_equal(ev.client[0], 127);
	assert_int_equal(ev.client[1], 57);

	n = load("pb-outgoing-timeout.bin", buf, sizeof(buf));
	assert_int_equal(pbstream_decode(buf, n, &ev), 2);
	assert_true(ev.flags & EV_NS_TIMEOUT);
	/* the dead server of the capture */
	assert_memory_equal(ev.client, "\x7f\x39\x02\x01", 4);
	assert_true(ev.latency_us > 500000); /* it waited for the timeout */
}

static void test_ignored_and_hostile(void **state)
{
	uint8_t buf[4096], bad[4096];
	struct rm_event ev;
	size_t n = load("pb-client-query.bin", buf, sizeof(buf));
	assert_int_equal(pbstream_decode(buf, n, &ev), 0); /* queries carry nothing we use */
	n = load("pb-client-response.bin", buf, sizeof(buf));
	/* every truncation: undecodable or harmless, never a crash */
	for (size_t cut = 0; cut < n; cut++) {
		int k = pbstream_decode(buf, cut, &ev);
		assert_true(k == -1 || k == 0 || k == 1);
	}
	/* garbage */
	memset(bad, 0xff, sizeof(bad));
	assert_int_equal(pbstream_decode(bad, 100, &ev), -1);
	/* a wire-valid message with a name that is not a DNS name */
	static const uint8_t badname[] = {0x08, 0x02, 0x48, 0x01, 0x62, 0x06, 0x0a, 0x04, 'a', '.', '.', 'b', 0x6a, 0x00};
	assert_int_equal(pbstream_decode(badname, sizeof(badname), &ev), 0);
	/* type 4 without an address */
	static const uint8_t noaddr[] = {0x08, 0x04, 0x48, 0x01, 0x62, 0x05, 0x0a, 0x03, 'a', '.', 'b', 0x6a, 0x00};
	assert_int_equal(pbstream_decode(noaddr, sizeof(noaddr), &ev), 0);
	/* a NUL inside the name: rejected, not cut to "a." */
	static const uint8_t nulname[] = {0x08, 0x02, 0x48, 0x01, 0x62, 0x07, 0x0a, 0x05, 'a', 0, '.', 'b', '.', 0x6a, 0x00};
	assert_int_equal(pbstream_decode(nulname, sizeof(nulname), &ev), PBSTREAM_BAD_NAME);
	/* qtype 70000 (0x11170): rejected, not TYPE4464 */
	static const uint8_t bigtype[] = {0x08, 0x02, 0x48, 0x01, 0x62, 0x09, 0x0a, 0x03, 'a', '.', 'b',
					  0x10, 0xf0, 0xa2, 0x04, 0x6a, 0x00};
	assert_int_equal(pbstream_decode(bigtype, sizeof(bigtype), &ev), PBSTREAM_BAD_TYPE);
	/* the same with qtype 1 decodes; timeSec 0xFFFFFFFF is left for the caller to judge */
	static const uint8_t okmsg[] = {0x08, 0x02, 0x48, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x62, 0x07, 0x0a, 0x03, 'a', '.', 'b',
					0x10, 0x01, 0x6a, 0x00};
	assert_int_equal(pbstream_decode(okmsg, sizeof(okmsg), &ev), 1);
	assert_int_equal(ev.qtype, 1);
	assert_true(ev.time_us == 4294967295ull * 1000000u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_response),
		cmocka_unit_test(test_outgoing),
		cmocka_unit_test(test_ignored_and_hostile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
