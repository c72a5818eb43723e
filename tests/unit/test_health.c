/*
 * test_health.c: which packet the health probe takes as the upstream's
 * answer, and the verdict: the probe's, unless the upstream was taken for
 * down for certain since, by anyone (recstate.h), which /health says at
 * once
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dns/dnsmsg.h"
#include "net/rootprobe.h"
#include "ops/health.h"
#include "net/recstate.h"
#include "base/clock.h"

#include "echo.h"

#include <stdio.h>
#include <time.h>

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


/* Reads the verdict until cond holds or 5 s pass (the probe runs every HEALTH_INTERVAL) */
static int verdict_until(struct health *h, int up, struct health_state *st)
{
	for (int i = 0; i < 500; i++) {
		health_get(h, st);
		if (st->probed && st->up == up)
			return 1;
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
	}
	return 0;
}

static void test_verdict(void **state)
{
	(void)state;
	struct echo up;
	echo_start(&up);
	char addr[64], err[256];
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", up.port);
	struct recstate *rs = recstate_create(addr);
	struct health *h = health_create(addr, NULL, rs, err, sizeof(err));
	assert_non_null(h);
	struct health_state st;
	if (!verdict_until(h, 1, &st))
		fail_msg("never healthy with the echo upstream: %s", st.reason);
	assert_non_null(strstr(st.reason, "ok: upstream"));
	/* a client query refused: unhealthy at once, not at the next probe */
	struct recstate_view v = {0};
	recstate_refused(rs, &v, clock_mono_ns());
	health_get(h, &st);
	assert_int_equal(st.up, 0);
	if (!strstr(st.reason, "does not answer: its client queries were refused"))
		fail_msg("reason after a refusal: %s", st.reason);
	assert_int_equal(st.downs_refused, 1);
	assert_int_equal(st.downs_probes, 0);
	/* a client query answered after it: healthy at once */
	uint64_t now = clock_mono_ns();
	recstate_answer(rs, &v, now, now);
	health_get(h, &st);
	assert_int_equal(st.up, 1);
	/* client queries timing out may be slow names: the probe says, and it answers */
	for (int i = 0; i < RECSTATE_DOWN_TIMEOUTS; i++)
		recstate_timeout(rs, &v, clock_mono_ns(), clock_mono_ns());
	assert_true(recstate_down(rs));
	health_get(h, &st);
	assert_int_equal(st.up, 1);
	/* its next probe is answered and takes it for up for the others too */
	for (int i = 0; i < 500 && recstate_down(rs); i++) {
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
	}
	assert_false(recstate_down(rs));
	/*
	 * it stops answering (the port stays its own, so the test owns what
	 * happens on it): /health is 503 at its first lost probe, and the
	 * second lost probe in a row takes the node's state down, by probes
	 */
	atomic_store(&up.mute, 1);
	if (!verdict_until(h, 0, &st))
		fail_msg("still healthy with nothing answering: %s", st.reason);
	assert_non_null(strstr(st.reason, "does not answer: no answer within 1 s"));
	for (int i = 0; i < 800 && !recstate_down(rs); i++) {
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
	}
	assert_true(recstate_down(rs));
	assert_int_equal(recstate_cause(rs), RECSTATE_PROBE);
	health_get(h, &st);
	assert_int_equal(st.downs_refused, 1);
	assert_int_equal(st.downs_timeouts, 1);
	assert_int_equal(st.downs_probes, 1);
	echo_stop(&up);
	health_destroy(h);
	recstate_destroy(rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answer),
		cmocka_unit_test(test_verdict),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
