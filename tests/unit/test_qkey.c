/* test_qkey.c: the proxy's question key, which matches answers with queries (proxy_int.h) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dns/qkey.h"

#include <string.h>

#define SEED 0x5eed1234u

/* A query (or, with qr, an answer with no records) for name/qtype; returns its length */
static size_t make(uint8_t *out, const char *name, uint16_t qtype, int qr)
{
	uint8_t wire[DNS_MAX_NAME];
	int l = 0;
	/* keep the case as given: dnsmsg_name_from_text lower-cases */
	const char *s = name;
	while (*s) {
		const char *dot = strchr(s, '.');
		size_t n = dot ? (size_t)(dot - s) : strlen(s);
		wire[l++] = (uint8_t)n;
		memcpy(wire + l, s, n);
		l += (int)n;
		s += n + (dot ? 1 : 0);
	}
	wire[l++] = 0;
	memset(out, 0, DNS_HDR_LEN);
	out[0] = 0x12;
	out[1] = 0x34;
	out[2] = qr ? 0x81 : 0x01;
	out[5] = 1; /* QDCOUNT 1 */
	memcpy(out + DNS_HDR_LEN, wire, (size_t)l);
	size_t len = DNS_HDR_LEN + (size_t)l;
	dnsmsg_put16(out + len, qtype);
	dnsmsg_put16(out + len + 2, 1);
	return len + 4;
}

static void key_raw(const uint8_t *p, size_t len, struct dns_qkey *k)
{
	dns_qkey_raw(p, len, SEED, k);
}

static void key_parsed(const uint8_t *p, size_t len, struct dns_qkey *k)
{
	struct dns_msg_info info;
	assert_int_equal(dnsmsg_parse(p, len, &info), DNS_OK);
	dns_qkey_parsed(&info, SEED, k);
}

static void test_same_question(void **state)
{
	uint8_t q[512], a[512];
	struct dns_qkey kq, ka, kr;
	size_t ql = make(q, "www.Example.com", 1, 0);
	size_t al = make(a, "WWW.example.COM", 1, 1);
	key_parsed(q, ql, &kq);
	key_raw(q, ql, &kr);
	/* the raw and the parsed key agree */
	assert_int_equal(kq.hash, kr.hash);
	assert_int_equal(kq.len, kr.len);
	assert_int_equal(kq.single, 1);
	key_parsed(a, al, &ka);
	assert_true(dns_qkey_match(&kq, a, &ka)); /* case does not matter */
	/* an answer that does not parse (trailing garbage) still matches by its raw question */
	a[al] = 0xff;
	a[al + 1] = 0xff;
	struct dns_msg_info info;
	assert_int_not_equal(dnsmsg_parse(a, al + 2, &info), DNS_OK);
	key_raw(a, al + 2, &ka);
	assert_true(dns_qkey_match(&kq, a, &ka));
}

static void test_other_question(void **state)
{
	uint8_t q[512], a[512];
	struct dns_qkey kq, ka;
	size_t ql = make(q, "www.example.com", 1, 0);
	key_parsed(q, ql, &kq);
	const char *names[] = {"evil.example.com", "www.example.co", "www.example.com.x"};
	for (size_t i = 0; i < 3; i++) {
		size_t al = make(a, names[i], 1, 1);
		key_raw(a, al, &ka);
		assert_false(dns_qkey_match(&kq, a, &ka));
	}
	size_t al = make(a, "www.example.com", 28, 1); /* another type */
	key_raw(a, al, &ka);
	assert_false(dns_qkey_match(&kq, a, &ka));
	/* an answer without a question does not answer a query with one */
	al = make(a, "www.example.com", 1, 1);
	a[5] = 0;
	key_raw(a, DNS_HDR_LEN, &ka);
	assert_false(dns_qkey_match(&kq, a, &ka));
	/* a question cut short */
	al = make(a, "www.example.com", 1, 1);
	key_raw(a, al - 3, &ka);
	assert_false(dns_qkey_match(&kq, a, &ka));
	/* another seed, another key */
	struct dns_qkey k2;
	dns_qkey_raw(q, ql, SEED + 1, &k2);
	assert_int_not_equal(k2.hash, kq.hash);
}

static void test_unparsed_query(void **state)
{
	uint8_t q[512], a[512];
	struct dns_qkey kq, ka;
	/* QDCOUNT 2: not a single question; answered with no question (FORMERR) */
	size_t ql = make(q, "www.example.com", 1, 0);
	q[5] = 2;
	key_raw(q, ql, &kq);
	assert_int_equal(kq.single, 0);
	memset(a, 0, DNS_HDR_LEN);
	a[2] = 0x80;
	a[3] = 1;
	key_raw(a, DNS_HDR_LEN, &ka);
	assert_true(dns_qkey_match(&kq, a, &ka));
	/* but not with another question */
	size_t al = make(a, "evil.example.com", 1, 1);
	key_raw(a, al, &ka);
	assert_false(dns_qkey_match(&kq, a, &ka));
	/* a name with a compression pointer or an over-long label run: not delimited */
	ql = make(q, "www.example.com", 1, 0);
	q[DNS_HDR_LEN] = 0xc0;
	key_raw(q, ql, &kq);
	assert_int_equal(kq.len, 0);
	assert_int_equal(kq.single, 0);
	memset(q + DNS_HDR_LEN, 63, 300);
	key_raw(q, DNS_HDR_LEN + 300, &kq);
	assert_int_equal(kq.len, 0);
	/* a header only */
	key_raw(q, DNS_HDR_LEN, &kq);
	assert_int_equal(kq.single, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_question),
		cmocka_unit_test(test_other_question),
		cmocka_unit_test(test_unparsed_query),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
