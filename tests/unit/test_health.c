/* test_health.c: which packet the health probe takes as the upstream's answer */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dns/dnsmsg.h"
#include "net/rootprobe.h"
#include "ops/health.h"

#include <string.h>

/* `. NS` (or qname/qtype) with id, turned into a response with rcode when qr is set */
static int packet(uint8_t *p, size_t size, uint16_t id, const uint8_t *qname, size_t qlen, uint16_t qtype,
		  int qr, int rcode)
{
	int n = dnsmsg_make_query(id, qname, qlen, qtype, 1, p, size);
	assert_true(n > DNS_HDR_LEN);
	if (qr)
		p[2] |= 0x80;
	p[3] = (uint8_t)((p[3] & 0xf0) | rcode);
	return n;
}

static void test_answer(void **state)
{
	static const uint8_t root[1] = {0}, com[5] = {3, 'c', 'o', 'm', 0};
	uint8_t p[512];
	int rcode = -1, n;

	n = packet(p, sizeof(p), 0x1234, root, 1, 2, 1, 0);
	assert_int_equal(rootprobe_answer(p, (size_t)n, 0x1234, &rcode), 0);
	assert_int_equal(rcode, 0);
	n = packet(p, sizeof(p), 0x1234, root, 1, 2, 1, DNS_RCODE_SERVFAIL);
	assert_int_equal(rootprobe_answer(p, (size_t)n, 0x1234, &rcode), 0);
	assert_int_equal(rcode, DNS_RCODE_SERVFAIL);

	rcode = -1;
	/* the probe's own query reflected back (QR clear): not an answer */
	n = packet(p, sizeof(p), 0x1234, root, 1, 2, 0, 0);
	assert_int_equal(rootprobe_answer(p, (size_t)n, 0x1234, &rcode), -1);
	/* another ID, another name, type or class */
	n = packet(p, sizeof(p), 0x1235, root, 1, 2, 1, 0);
	assert_int_equal(rootprobe_answer(p, (size_t)n, 0x1234, &rcode), -1);
	n = packet(p, sizeof(p), 0x1234, com, sizeof(com), 2, 1, 0);
	assert_int_equal(rootprobe_answer(p, (size_t)n, 0x1234, &rcode), -1);
	n = packet(p, sizeof(p), 0x1234, root, 1, 1 /* A */, 1, 0);
	assert_int_equal(rootprobe_answer(p, (size_t)n, 0x1234, &rcode), -1);
	n = packet(p, sizeof(p), 0x1234, root, 1, 2, 1, 0);
	p[DNS_HDR_LEN + 4] = 3; /* class CH */
	assert_int_equal(rootprobe_answer(p, (size_t)n, 0x1234, &rcode), -1);
	/* short or not DNS */
	assert_int_equal(rootprobe_answer(p, 5, 0x1234, &rcode), -1);
	memset(p, 0xff, 40);
	p[0] = 0x12;
	p[1] = 0x34;
	assert_int_equal(rootprobe_answer(p, 40, 0x1234, &rcode), -1);
	assert_int_equal(rcode, -1); /* untouched on failure */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
