/*
 * test_pbstream.c: decoding the Recursor's protobuf messages (frames
 * captured from pdns_recursor 4.8.8, pb-*.bin, and 5.4.9, pb54-*.bin), the
 * 5.x fields (NS names, the client query's header bits), early timeouts
 * and the table of header bits waiting for their responses
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proxy/pbstream.h"

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
	assert_int_equal(pbstream_decode(buf, n, &ev, NULL), 1);
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
	assert_int_equal(pbstream_decode(buf, n, &ev, NULL), 2);
	assert_true(ev.flags & EV_OUTGOING);
	assert_false(ev.flags & EV_NS_TIMEOUT);
	assert_int_equal(ev.client_family, 4);
	assert_int_equal(ev.client[0], 127);
	assert_int_equal(ev.client[1], 57);

	n = load("pb-outgoing-timeout.bin", buf, sizeof(buf));
	assert_int_equal(pbstream_decode(buf, n, &ev, NULL), 2);
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
	assert_int_equal(pbstream_decode(buf, n, &ev, NULL), 0); /* queries carry nothing we use */
	n = load("pb-client-response.bin", buf, sizeof(buf));
	/* every truncation: undecodable or harmless, never a crash */
	for (size_t cut = 0; cut < n; cut++) {
		int k = pbstream_decode(buf, cut, &ev, NULL);
		assert_true(k == -1 || k == 0 || k == 1);
	}
	/* garbage */
	memset(bad, 0xff, sizeof(bad));
	assert_int_equal(pbstream_decode(bad, 100, &ev, NULL), -1);
	/* a wire-valid message with a name that is not a DNS name */
	static const uint8_t badname[] = {0x08, 0x02, 0x48, 0x01, 0x62, 0x06, 0x0a, 0x04, 'a', '.', '.', 'b', 0x6a, 0x00};
	assert_int_equal(pbstream_decode(badname, sizeof(badname), &ev, NULL), 0);
	/* type 4 without an address */
	static const uint8_t noaddr[] = {0x08, 0x04, 0x48, 0x01, 0x62, 0x05, 0x0a, 0x03, 'a', '.', 'b', 0x6a, 0x00};
	assert_int_equal(pbstream_decode(noaddr, sizeof(noaddr), &ev, NULL), 0);
	/* a NUL inside the name: rejected, not cut to "a." */
	static const uint8_t nulname[] = {0x08, 0x02, 0x48, 0x01, 0x62, 0x07, 0x0a, 0x05, 'a', 0, '.', 'b', '.', 0x6a, 0x00};
	assert_int_equal(pbstream_decode(nulname, sizeof(nulname), &ev, NULL), PBSTREAM_BAD_NAME);
	/* qtype 70000 (0x11170): rejected, not TYPE4464 */
	static const uint8_t bigtype[] = {0x08, 0x02, 0x48, 0x01, 0x62, 0x09, 0x0a, 0x03, 'a', '.', 'b',
					  0x10, 0xf0, 0xa2, 0x04, 0x6a, 0x00};
	assert_int_equal(pbstream_decode(bigtype, sizeof(bigtype), &ev, NULL), PBSTREAM_BAD_TYPE);
	/* the same with qtype 1 decodes; timeSec 0xFFFFFFFF is left for the caller to judge */
	static const uint8_t okmsg[] = {0x08, 0x02, 0x48, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x62, 0x07, 0x0a, 0x03, 'a', '.', 'b',
					0x10, 0x01, 0x6a, 0x00};
	assert_int_equal(pbstream_decode(okmsg, sizeof(okmsg), &ev, NULL), 1);
	assert_int_equal(ev.qtype, 1);
	assert_true(ev.time_us == 4294967295ull * 1000000u);
}


/* 4.8 streams carry no NS names and no header bits: as before */
static void test_48_has_no_5x_fields(void **state)
{
	uint8_t buf[4096];
	struct rm_event ev;
	struct pbstream_extra x;
	size_t n = load("pb-outgoing-answer.bin", buf, sizeof(buf));
	assert_int_equal(pbstream_decode(buf, n, &ev, &x), 2);
	assert_false(ev.flags & EV_NS_NAME);
	assert_false(x.bad_ns_name);
	n = load("pb-client-query.bin", buf, sizeof(buf));
	assert_int_equal(pbstream_decode(buf, n, &ev, &x), 0);
	assert_false(x.has_flags);
	n = load("pb-client-response.bin", buf, sizeof(buf));
	assert_int_equal(pbstream_decode(buf, n, &ev, &x), 1);
	assert_int_equal(ev.flags & (EV_RD | EV_CD | EV_DO), EV_RD); /* what clients send */
}

/* 5.4: the NS name of an outgoing message, lower-case with its dot, in place of the question */
static void test_54_ns_name(void **state)
{
	uint8_t buf[4096];
	struct rm_event ev;
	struct pbstream_extra x;
	char name[DNS_MAX_NAME_TEXT];
	size_t n = load("pb54-outgoing-answer.bin", buf, sizeof(buf));
	assert_int_equal(pbstream_decode(buf, n, &ev, &x), 2);
	assert_true(ev.flags & EV_NS_NAME);
	assert_false(ev.flags & EV_NS_TIMEOUT);
	assert_true(dnsmsg_name_to_text(ev.qname, ev.qname_len, name, sizeof(name)) > 0);
	assert_string_equal(name, "ns2.z1.com."); /* sent as "ns2.z1.com" */
	assert_memory_equal(ev.client, "\x7f\x77\x03\x01", 4);
	assert_int_equal(ev.latency_us, 673900 - 673708);
	assert_true(x.has_id);
}

/* 5.4: the header bits come with the query (type 1); the response takes them by messageId */
static void test_54_header_bits(void **state)
{
	uint8_t buf[4096];
	struct rm_event ev;
	struct pbstream_extra q, r;
	struct pbstream_qbits *qb = pbstream_qbits_create();
	assert_non_null(qb);

	/* CD=1 (dig +cd): RD, AD and CD set, EDNS without DO */
	size_t n = load("pb54-client-query-cd.bin", buf, sizeof(buf));
	assert_int_equal(pbstream_decode(buf, n, &ev, &q), PBSTREAM_QUERY);
	assert_true(q.has_id && q.has_flags && q.has_edns);
	assert_int_equal(q.flags, DNS_FLAG_RD | DNS_FLAG_AD | DNS_FLAG_CD); /* sent as 0x3001 */
	assert_int_equal(q.edns, 0);
	assert_int_equal(pbstream_qbits_put(qb, &q, 1.0), 0);
	n = load("pb54-client-response-cd.bin", buf, sizeof(buf));
	assert_int_equal(pbstream_decode(buf, n, &ev, &r), 1);
	assert_false(r.has_flags); /* responses carry none */
	assert_int_equal(ev.flags & (EV_RD | EV_CD | EV_DO), EV_RD);
	assert_int_equal(pbstream_qbits_take(qb, &r), 1);
	pbstream_apply_bits(&ev, &r);
	assert_int_equal(ev.flags & (EV_RD | EV_CD | EV_DO), EV_RD | EV_CD);
	assert_false(hot_eligible(&ev)); /* kept out of the hot list, as the proxy does */
	assert_int_equal(pbstream_qbits_take(qb, &r), 0); /* taken once */

	/* DO=1 (dig +dnssec): the OPT TTL field 0x00008000, sent as 0x800000 */
	n = load("pb54-client-query-do.bin", buf, sizeof(buf));
	assert_int_equal(pbstream_decode(buf, n, &ev, &q), PBSTREAM_QUERY);
	assert_int_equal(q.flags, DNS_FLAG_RD | DNS_FLAG_AD);
	assert_true(q.has_edns);
	assert_int_equal(q.edns, 0x8000);
	pbstream_qbits_put(qb, &q, 2.0);
	n = load("pb54-client-response-do.bin", buf, sizeof(buf));
	assert_int_equal(pbstream_decode(buf, n, &ev, &r), 1);
	assert_int_equal(pbstream_qbits_take(qb, &r), 1);
	pbstream_apply_bits(&ev, &r);
	assert_int_equal(ev.flags & (EV_RD | EV_CD | EV_DO), EV_RD | EV_DO);
	assert_true(hot_eligible(&ev));

	/* a query with RD=0 and no EDNS: its response loses the assumed RD */
	memset(&r, 0, sizeof(r));
	r.has_flags = 1;
	r.flags = 0;
	ev.flags = EV_RD | EV_TTL;
	pbstream_apply_bits(&ev, &r);
	assert_int_equal(ev.flags, EV_TTL);
	pbstream_qbits_destroy(qb);
}

/* The table of waiting header bits is bounded: a full set drops its oldest, counted while young */
static void test_qbits_bound(void **state)
{
	struct pbstream_qbits *qb = pbstream_qbits_create();
	struct pbstream_extra x;
	unsigned evicted = 0, found = 0;
	memset(&x, 0, sizeof(x));
	x.has_id = x.has_flags = 1;
	for (uint32_t i = 0; i < 2 * PBSTREAM_QUERY_BITS_MAX; i++) {
		memcpy(x.id, &i, sizeof(i));
		x.flags = (uint16_t)i;
		evicted += (unsigned)pbstream_qbits_put(qb, &x, 10.0);
	}
	for (uint32_t i = 0; i < 2 * PBSTREAM_QUERY_BITS_MAX; i++) {
		struct pbstream_extra y;
		memset(&y, 0, sizeof(y));
		memcpy(y.id, &i, sizeof(i));
		if (pbstream_qbits_take(qb, &y)) {
			found++;
			assert_int_equal(y.flags, (uint16_t)i);
		}
	}
	printf("# %u ids put, %u kept, %u dropped while young\n", 2 * PBSTREAM_QUERY_BITS_MAX, found, evicted);
	assert_true(found <= PBSTREAM_QUERY_BITS_MAX);
	assert_int_equal(found + evicted, 2 * PBSTREAM_QUERY_BITS_MAX);
	/* entries older than PBSTREAM_QUERY_BITS_AGE lost their responses: dropping them is no loss */
	for (uint32_t i = 0; i < 2 * PBSTREAM_QUERY_BITS_MAX; i++) {
		memcpy(x.id, &i, sizeof(i));
		pbstream_qbits_put(qb, &x, 20.0);
	}
	evicted = 0;
	for (uint32_t i = 0; i < PBSTREAM_QUERY_BITS_MAX; i++) {
		uint32_t k = 0x80000000u + i;
		memcpy(x.id, &k, sizeof(k));
		/* each after the one before had aged out too */
		evicted += (unsigned)pbstream_qbits_put(qb, &x, 20.0 + (PBSTREAM_QUERY_BITS_AGE + 1) * (i + 1));
	}
	assert_int_equal(evicted, 0);
	pbstream_qbits_destroy(qb);
}

/* A protobuf message built by hand: varints, and fields of bytes */
struct pb {
	uint8_t b[1024];
	size_t n;
};

static void pb_varint(struct pb *p, uint64_t v)
{
	do {
		p->b[p->n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
}

static void pb_uint(struct pb *p, unsigned field, uint64_t v)
{
	pb_varint(p, (uint64_t)field << 3);
	pb_varint(p, v);
}

static void pb_bytes(struct pb *p, unsigned field, const void *data, size_t len)
{
	pb_varint(p, (uint64_t)field << 3 | 2);
	pb_varint(p, len);
	memcpy(p->b + p->n, data, len);
	p->n += len;
}

/*
 * An incoming response (type 4) from 192.0.2.53: a timeout (rcode 65536)
 * or an answer, waited_us after its query (no query time when negative),
 * with the NS name ns (NULL: no meta)
 */
static size_t outgoing(uint8_t *out, int timeout, long waited_us, const char *ns, size_t ns_len)
{
	struct pb msg = {.n = 0}, q = {.n = 0}, r = {.n = 0}, meta = {.n = 0}, val = {.n = 0};
	uint64_t t = 1700000000ull * 1000000u + 500000u;
	pb_uint(&msg, 1, 4);
	pb_bytes(&msg, 7, "\xc0\x00\x02\x35", 4);
	pb_uint(&msg, 9, t / 1000000u);
	pb_uint(&msg, 10, t % 1000000u);
	pb_bytes(&q, 1, "example.", 8);
	pb_uint(&q, 2, 1);
	pb_bytes(&msg, 12, q.b, q.n);
	pb_uint(&r, 1, timeout ? 65536 : 0);
	if (waited_us >= 0) {
		pb_uint(&r, 5, (t - (uint64_t)waited_us) / 1000000u);
		pb_uint(&r, 6, (t - (uint64_t)waited_us) % 1000000u);
	}
	pb_bytes(&msg, 13, r.b, r.n);
	if (ns) {
		pb_bytes(&val, 1, ns, ns_len);
		pb_bytes(&meta, 1, "nsName", 6);
		pb_bytes(&meta, 2, val.b, val.n);
		pb_bytes(&msg, 22, meta.b, meta.n);
	}
	memcpy(out, msg.b, msg.n);
	return msg.n;
}

/*
 * Timeouts judged as the Recursor meant them: one before 80 % of its
 * network-timeout is early (no evidence), one at 80 % or later counts, and
 * one without a query time counts as before
 */
static void test_early_timeout(void **state)
{
	uint8_t buf[4096];
	struct rm_event ev;
	size_t n = outgoing(buf, 1, 150000, "ns1.example", 11); /* 150 ms: a tenth of 1500 */
	assert_int_equal(pbstream_decode(buf, n, &ev, NULL), 2);
	assert_true(ev.flags & EV_NS_TIMEOUT);
	assert_int_equal(ev.latency_us, 150000);
	assert_int_equal(pbstream_early_timeout(&ev, 1500), 1);
	assert_int_equal(pbstream_early_timeout(&ev, 187), 0); /* 150 ms is 80 % of 187.5 */
	n = outgoing(buf, 1, 1199999, NULL, 0);
	assert_int_equal(pbstream_decode(buf, n, &ev, NULL), 2);
	assert_int_equal(pbstream_early_timeout(&ev, 1500), 1);
	n = outgoing(buf, 1, 1200000, NULL, 0); /* 80 % exactly */
	assert_int_equal(pbstream_decode(buf, n, &ev, NULL), 2);
	assert_int_equal(pbstream_early_timeout(&ev, 1500), 0);
	/* no query time: counts as before */
	n = outgoing(buf, 1, -1, NULL, 0);
	assert_int_equal(pbstream_decode(buf, n, &ev, NULL), 2);
	assert_true(ev.flags & EV_NS_TIMEOUT);
	assert_int_equal(ev.latency_us, 0);
	assert_int_equal(pbstream_early_timeout(&ev, 1500), 0);
	/* an answer is never a timeout, early or not */
	n = outgoing(buf, 0, 1000, NULL, 0);
	assert_int_equal(pbstream_decode(buf, n, &ev, NULL), 2);
	assert_int_equal(pbstream_early_timeout(&ev, 1500), 0);
	/* 4.8's capture: the Recursor waited its whole network-timeout (1502 ms) */
	n = load("pb-outgoing-timeout.bin", buf, sizeof(buf));
	assert_int_equal(pbstream_decode(buf, n, &ev, NULL), 2);
	printf("# 4.8 capture: waited %u us\n", ev.latency_us);
	assert_int_equal(pbstream_early_timeout(&ev, 1500), 0);
	assert_int_equal(pbstream_early_timeout(&ev, 2000), 1); /* with a Recursor set to 2 s */
}

/* Hostile NS names are ignored (and said so); the observation still counts */
static void test_hostile_ns_names(void **state)
{
	static const struct {
		const char *name;
		const char *want; /* NULL: refused */
	} cases[] = {
		{"NS1.Example.COM", "ns1.example.com."},
		{"ns1.example.com.", "ns1.example.com."},
		{"a_b-c.d", "a_b-c.d."},
		{"", NULL},
		{".", NULL},
		{"a..b", NULL},
		{".a", NULL},
		{"a.b..", NULL},
		{"ns 1.example", NULL},
		{"ns1\\.example", NULL},
		{"ns1.ex\x01mple", NULL},
		{"ns1.ex\xc3\xa9mple", NULL},
		{"ns1.ex\"ample", NULL},
		{"ns1.ex@ample", NULL},
		{"ns1.ex,ample", NULL},
	};
	uint8_t buf[4096];
	struct rm_event ev;
	struct pbstream_extra x;
	char text[DNS_MAX_NAME_TEXT], name[300];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = outgoing(buf, 0, 1000, cases[i].name, strlen(cases[i].name));
		assert_int_equal(pbstream_decode(buf, n, &ev, &x), 2);
		if (!cases[i].want) {
			if (ev.flags & EV_NS_NAME)
				fail_msg("'%s' taken", cases[i].name);
			assert_true(x.bad_ns_name);
			continue;
		}
		assert_true(ev.flags & EV_NS_NAME);
		assert_false(x.bad_ns_name);
		dnsmsg_name_to_text(ev.qname, ev.qname_len, text, sizeof(text));
		assert_string_equal(text, cases[i].want);
	}
	/* a NUL inside: not cut into a shorter name */
	size_t n = outgoing(buf, 0, 1000, "ns1\0.evil", 9);
	assert_int_equal(pbstream_decode(buf, n, &ev, &x), 2);
	assert_false(ev.flags & EV_NS_NAME);
	assert_true(x.bad_ns_name);
	/* labels of 63 characters, 253 without the dot: the longest taken; one more is refused */
	memset(name, 'a', sizeof(name));
	for (size_t k = 63; k < 253; k += 64)
		name[k] = '.';
	n = outgoing(buf, 0, 1000, name, 253);
	assert_int_equal(pbstream_decode(buf, n, &ev, &x), 2);
	assert_true(ev.flags & EV_NS_NAME);
	assert_int_equal(ev.qname_len, 255);
	n = outgoing(buf, 0, 1000, name, 254);
	assert_int_equal(pbstream_decode(buf, n, &ev, &x), 2);
	assert_false(ev.flags & EV_NS_NAME);
	assert_true(x.bad_ns_name);
	/* a label of 64 */
	memset(name, 'b', 64);
	memcpy(name + 64, ".c", 2);
	n = outgoing(buf, 0, 1000, name, 66);
	assert_int_equal(pbstream_decode(buf, n, &ev, &x), 2);
	assert_true(x.bad_ns_name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_response),
		cmocka_unit_test(test_outgoing),
		cmocka_unit_test(test_ignored_and_hostile),
		cmocka_unit_test(test_48_has_no_5x_fields),
		cmocka_unit_test(test_54_ns_name),
		cmocka_unit_test(test_54_header_bits),
		cmocka_unit_test(test_qbits_bound),
		cmocka_unit_test(test_early_timeout),
		cmocka_unit_test(test_hostile_ns_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
