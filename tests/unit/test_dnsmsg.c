/* test_dnsmsg.c: DNS wire validation and helpers */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dns/dnsmsg.h"

#include <string.h>

/* www.Example.COM. A, RD, EDNS DO */
static size_t build_query(uint8_t *buf, int warm)
{
	uint8_t name[DNS_MAX_NAME];
	int nl = dnsmsg_name_from_text("www.example.com.", name, sizeof(name));
	assert_true(nl > 0);
	int len = dnsmsg_make_query(0x1234, name, (size_t)nl, 1, warm, buf, 512);
	assert_true(len > 0);
	/* mixed case on the wire, as 0x20-randomising clients send it */
	buf[12 + 5] = 'E';
	buf[12 + 13] = 'C';
	return (size_t)len;
}

static void test_parse_query(void **state)
{
	uint8_t buf[512];
	struct dns_msg_info m;
	size_t len = build_query(buf, 0);
	assert_int_equal(dnsmsg_parse(buf, len, &m), DNS_OK);
	assert_int_equal(m.id, 0x1234);
	assert_true(m.flags & DNS_FLAG_RD);
	assert_false(m.flags & DNS_FLAG_CD);
	assert_int_equal(m.qtype, 1);
	assert_int_equal(m.qclass, 1);
	assert_int_equal(m.qname_len, 17);
	assert_memory_equal(m.qname, "\3www\7example\3com\0", 17);
	assert_true(m.has_edns);
	assert_true(m.do_bit);
	assert_int_equal(m.edns_udp_size, 1232);
	assert_false(m.warm_marker);
	assert_int_equal(m.question_end, 12 + 17 + 4);

	len = build_query(buf, 1);
	assert_int_equal(dnsmsg_parse(buf, len, &m), DNS_OK);
	assert_true(m.warm_marker);
}

/* An answer with a CNAME chain and compressed names */
static const uint8_t answer[] = {
	0x12, 0x34, 0x81, 0xa0, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
	/* question: alias.z1.com. A */
	0x05, 'a', 'l', 'i', 'a', 's', 0x02, 'z', '1', 0x03, 'c', 'o', 'm', 0x00, 0x00, 0x01, 0x00,
	0x01,
	/* alias.z1.com. 600 CNAME www.z1.com. */
	0xc0, 0x0c, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x02, 0x58, 0x00, 0x06, 0x03, 'w', 'w', 'w',
	0xc0, 0x12,
	/* www.z1.com. 300 A 198.18.0.1 */
	0xc0, 0x2a, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x04, 198, 18, 0, 1};

static void test_parse_answer(void **state)
{
	struct dns_msg_info m;
	assert_int_equal(dnsmsg_parse(answer, sizeof(answer), &m), DNS_OK);
	assert_true(m.flags & DNS_FLAG_QR);
	assert_true(m.flags & DNS_FLAG_AD);
	assert_int_equal(dnsmsg_rcode(&m), 0);
	assert_true(m.has_min_ttl);
	assert_int_equal(m.min_ttl, 300);
	assert_int_equal(m.ancount, 2);
	assert_false(m.has_edns);
}

/* NXDOMAIN with the SOA in the authority section: the SOA's TTL counts */
static void test_negative_ttl(void **state)
{
	static const uint8_t nx[] = {
		0x00, 0x01, 0x81, 0x83, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
		0x02, 'n', 'o', 0x03, 'c', 'o', 'm', 0x00, 0x00, 0x01, 0x00, 0x01,
		/* com. 900 SOA (rdata is not looked at; 22 bytes of it) */
		0xc0, 0x0f, 0x00, 0x06, 0x00, 0x01, 0x00, 0x00, 0x03, 0x84, 0x00, 0x16,
		0x00, 0x00, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5};
	struct dns_msg_info m;
	assert_int_equal(dnsmsg_parse(nx, sizeof(nx), &m), DNS_OK);
	assert_int_equal(dnsmsg_rcode(&m), DNS_RCODE_NXDOMAIN);
	assert_true(m.has_min_ttl);
	assert_int_equal(m.min_ttl, 900);
}

static void test_malformed(void **state)
{
	uint8_t buf[600];
	struct dns_msg_info m;
	size_t len = build_query(buf, 0);

	/* short */
	assert_int_equal(dnsmsg_parse(buf, 11, &m), DNS_ERR_SHORT);
	/* no question, two questions */
	uint8_t q[512];
	memcpy(q, buf, len);
	q[5] = 0;
	assert_int_equal(dnsmsg_parse(q, len, &m), DNS_ERR_QDCOUNT);
	q[5] = 2;
	assert_int_equal(dnsmsg_parse(q, len, &m), DNS_ERR_QDCOUNT);
	/* reserved label type */
	memcpy(q, buf, len);
	q[12] = 0x43;
	assert_int_equal(dnsmsg_parse(q, len, &m), DNS_ERR_LABEL);
	/* pointer to itself: a loop */
	memcpy(q, buf, len);
	q[12] = 0xc0;
	q[13] = 12;
	assert_int_equal(dnsmsg_parse(q, len, &m), DNS_ERR_POINTER);
	/* forward pointer */
	q[13] = 40;
	assert_int_equal(dnsmsg_parse(q, len, &m), DNS_ERR_POINTER);
	/* pointer into the header */
	q[13] = 2;
	assert_int_equal(dnsmsg_parse(q, len, &m), DNS_ERR_POINTER);
	/* trailing garbage */
	memcpy(q, buf, len);
	q[len] = 0;
	assert_int_equal(dnsmsg_parse(q, len + 1, &m), DNS_ERR_TRAILING);
	/* truncated anywhere inside: never OK, never a crash */
	for (size_t cut = 12; cut < len; cut++)
		assert_int_not_equal(dnsmsg_parse(buf, cut, &m), DNS_OK);
	/* a name over 255 octets: 5 labels of 63 */
	uint8_t big[600] = {0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0};
	size_t o = 12;
	for (int i = 0; i < 5; i++) {
		big[o++] = 63;
		memset(big + o, 'a', 63);
		o += 63;
	}
	big[o++] = 0;
	big[o++] = 0;
	big[o++] = 1;
	big[o++] = 0;
	big[o++] = 1;
	assert_int_equal(dnsmsg_parse(big, o, &m), DNS_ERR_NAME_LONG);
	/* a pointer chain that loops through two answer names */
	static const uint8_t loop2[] = {
		0x00, 0x01, 0x81, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
		0x01, 'a', 0x00, 0x00, 0x01, 0x00, 0x01,
		/* answer owner: label then pointer to offset 19 (itself) */
		0x01, 'b', 0xc0, 0x13, 0x00, 0x01, 0x00, 0x01, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4};
	assert_int_equal(dnsmsg_parse(loop2, sizeof(loop2), &m), DNS_ERR_POINTER);
}

static void test_opt_rules(void **state)
{
	uint8_t buf[512], q[512];
	struct dns_msg_info m;
	size_t len = build_query(buf, 0);
	/* a second OPT */
	memcpy(q, buf, len);
	memcpy(q + len, buf + len - 11, 11);
	q[11] = 2;
	assert_int_equal(dnsmsg_parse(q, len + 11, &m), DNS_ERR_OPT);
	/* OPT in the answer section */
	memcpy(q, buf, len);
	q[7] = 1;
	q[11] = 0;
	assert_int_equal(dnsmsg_parse(q, len, &m), DNS_ERR_OPT);
	/* an option longer than the OPT rdata */
	size_t wl = (size_t)dnsmsg_make_query(1, (const uint8_t *)"\0", 1, 2, 1, q, sizeof(q));
	q[wl - 1] = 9;
	assert_int_equal(dnsmsg_parse(q, wl, &m), DNS_ERR_OPT);
}

/* The peer marker: an empty EDNS option added where the OPT record is last, once */
static void test_add_option(void **state)
{
	uint8_t q[600], r[600];
	struct dns_msg_info m;
	int len = dnsmsg_make_query(7, (const uint8_t *)"\3www\2z1\3com", 12, 1, 1, q, 512);
	assert_true(len > 0);
	assert_int_equal(dnsmsg_parse(q, (size_t)len, &m), DNS_OK);
	assert_true(m.has_edns && m.opt_last && m.warm_marker && !m.peer_marker);
	memcpy(r, q, (size_t)len);
	int n = dnsmsg_add_option(r, (size_t)len, sizeof(r), &m, RECMESH_EDNS_OPT_PEER);
	assert_int_equal(n, len + 4);
	struct dns_msg_info k;
	assert_int_equal(dnsmsg_parse(r, (size_t)n, &k), DNS_OK);
	assert_true(k.peer_marker && k.warm_marker && k.do_bit);
	assert_memory_equal(k.qname, m.qname, m.qname_len); /* the question is the same */
	assert_int_equal(k.qtype, 1);
	/* once: a second one is refused, nothing changes */
	assert_int_equal(dnsmsg_add_option(r, (size_t)n, sizeof(r), &k, RECMESH_EDNS_OPT_PEER), -1);
	/* no room */
	memcpy(r, q, (size_t)len);
	assert_int_equal(dnsmsg_add_option(r, (size_t)len, (size_t)len + 3, &m, RECMESH_EDNS_OPT_PEER), -1);
	/* no EDNS: a query without OPT is left as it is */
	uint8_t plain[64] = {0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0, 0, 1, 0, 1};
	assert_int_equal(dnsmsg_parse(plain, 19, &m), DNS_OK);
	assert_false(m.has_edns);
	assert_int_equal(dnsmsg_add_option(plain, 19, sizeof(plain), &m, RECMESH_EDNS_OPT_PEER), -1);
	/* OPT not last: an A record after it in the additional section */
	memcpy(r, q, (size_t)len);
	static const uint8_t a_rr[] = {0, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1};
	memcpy(r + len, a_rr, sizeof(a_rr));
	r[11] = 2; /* ARCOUNT */
	assert_int_equal(dnsmsg_parse(r, (size_t)len + sizeof(a_rr), &m), DNS_OK);
	assert_true(m.has_edns && !m.opt_last);
	assert_int_equal(dnsmsg_add_option(r, (size_t)len + sizeof(a_rr), sizeof(r), &m, RECMESH_EDNS_OPT_PEER), -1);
}

static void test_names(void **state)
{
	uint8_t w[DNS_MAX_NAME];
	char t[DNS_MAX_NAME_TEXT];
	int l = dnsmsg_name_from_text("A\\.b.Ex\\032ample.", w, sizeof(w));
	assert_int_equal(l, 1 + 3 + 1 + 8 + 1);
	assert_memory_equal(w, "\3a.b\010ex ample\0", (size_t)l);
	assert_int_equal(dnsmsg_name_to_text(w, (size_t)l, t, sizeof(t)), 17);
	assert_string_equal(t, "a\\.b.ex\\032ample.");
	/* relative names are taken as absolute */
	assert_int_equal(dnsmsg_name_from_text("www.z1.com", w, sizeof(w)), 12);
	assert_int_equal(dnsmsg_name_from_text(".", w, sizeof(w)), 1);
	dnsmsg_name_to_text(w, 1, t, sizeof(t));
	assert_string_equal(t, ".");
	/* errors: empty label, label over 63, bad escape, over 255 */
	assert_int_equal(dnsmsg_name_from_text("a..b", w, sizeof(w)), -1);
	assert_int_equal(dnsmsg_name_from_text("", w, sizeof(w)), -1);
	char lab[80];
	memset(lab, 'x', 64);
	lab[64] = '\0';
	assert_int_equal(dnsmsg_name_from_text(lab, w, sizeof(w)), -1);
	assert_int_equal(dnsmsg_name_from_text("a\\25", w, sizeof(w)), -1);
	assert_int_equal(dnsmsg_name_from_text("a\\256", w, sizeof(w)), -1);
	char longname[400] = "";
	for (int i = 0; i < 5; i++) {
		memset(lab, 'y', 60);
		lab[60] = '.';
		lab[61] = '\0';
		strcat(longname, lab);
	}
	assert_int_equal(dnsmsg_name_from_text(longname, w, sizeof(w)), -1);
}

static void test_types(void **state)
{
	char b[16];
	uint16_t t;
	assert_string_equal(dnsmsg_type_to_text(28, b), "AAAA");
	assert_string_equal(dnsmsg_type_to_text(65280, b), "TYPE65280");
	/* found by tests/fuzz/fuzz_dnsmsg: the names we read are the names we print */
	const char *meta[] = {"IXFR", "AXFR", "MAILB", "MAILA", "ANY"};
	for (uint16_t i = 0; i < 5; i++) {
		assert_int_equal(dnsmsg_type_from_text(meta[i], &t), 0);
		assert_int_equal(t, 251 + i);
		assert_string_equal(dnsmsg_type_to_text(t, b), meta[i]);
	}
	assert_int_equal(dnsmsg_type_from_text("MX", &t), 0);
	assert_int_equal(t, 15);
	assert_int_equal(dnsmsg_type_from_text("type999", &t), 0);
	assert_int_equal(t, 999);
	assert_int_equal(dnsmsg_type_from_text("NOPE", &t), -1);
	assert_int_equal(dnsmsg_type_from_text("TYPE70000", &t), -1);
	/* RFC 3597 numbers are digits only: no sign, no space, no leading junk */
	assert_int_equal(dnsmsg_type_from_text("TYPE-1", &t), -1);
	assert_int_equal(dnsmsg_type_from_text("TYPE+5", &t), -1);
	assert_int_equal(dnsmsg_type_from_text("TYPE 5", &t), -1);
	assert_int_equal(dnsmsg_type_from_text("TYPE", &t), -1);
	assert_true(dnsmsg_type_is_meta(255) && dnsmsg_type_is_meta(41) && dnsmsg_type_is_meta(0));
	assert_false(dnsmsg_type_is_meta(1) || dnsmsg_type_is_meta(28) || dnsmsg_type_is_meta(65));
	/* found by tests/fuzz/fuzz_dnsmsg: these went to ldns's atoi() and wrapped */
	const char *bad[] = {"TYPE-5", "TYPE+1", "TYPE", "type 1", "TYPE1x", "TYPE99999999999999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t = 4242;
		if (dnsmsg_type_from_text(bad[i], &t) != -1 || t != 4242)
			fail_msg("'%s' read as type %u", bad[i], t);
	}
	assert_int_equal(dnsmsg_type_from_text("TYPE00065535", &t), 0);
	assert_int_equal(t, 65535);
	assert_string_equal(dnsmsg_rcode_to_text(3, b), "NXDOMAIN");
}

static void test_servfail(void **state)
{
	uint8_t buf[512], out[512];
	struct dns_msg_info m, r;
	size_t len = build_query(buf, 0);
	assert_int_equal(dnsmsg_parse(buf, len, &m), DNS_OK);
	int sl = dnsmsg_make_servfail(buf, &m, out, sizeof(out));
	assert_int_equal(sl, m.question_end);
	assert_int_equal(dnsmsg_parse(out, (size_t)sl, &r), DNS_OK);
	assert_int_equal(r.id, 0x1234);
	assert_int_equal(dnsmsg_rcode(&r), DNS_RCODE_SERVFAIL);
	assert_true(r.flags & DNS_FLAG_QR);
	assert_true(r.flags & DNS_FLAG_RD);
	assert_memory_equal(r.qname, m.qname, m.qname_len);
	/* no room */
	assert_int_equal(dnsmsg_make_servfail(buf, &m, out, 10), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_query), cmocka_unit_test(test_parse_answer),
		cmocka_unit_test(test_negative_ttl), cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_opt_rules),   cmocka_unit_test(test_names),
		cmocka_unit_test(test_types),       cmocka_unit_test(test_servfail),
		cmocka_unit_test(test_add_option),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
