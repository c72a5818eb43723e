/* test_event.c: traffic event batches */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/json.h"
#include "dns/event.h"

#include <stdio.h>
#include <string.h>

static void make_event(struct rm_event *ev, const char *name, uint16_t qtype, uint64_t t)
{
	memset(ev, 0, sizeof(*ev));
	int l = dnsmsg_name_from_text(name, ev->qname, sizeof(ev->qname));
	assert_true(l > 0);
	ev->qname_len = (uint8_t)l;
	ev->qtype = qtype;
	ev->qclass = 1;
	ev->time_us = t;
	ev->latency_us = 250;
	ev->min_ttl = 300;
	ev->query_size = 40;
	ev->response_size = 120;
	ev->rcode = 3;
	ev->flags = EV_RD | EV_DO | EV_AD | EV_TTL;
}

struct collected {
	struct rm_event ev[16];
	int n;
};

static void collect(const struct rm_event *ev, void *arg)
{
	struct collected *c = arg;
	c->ev[c->n++] = *ev;
}

static void test_roundtrip(void **state)
{
	uint8_t buf[4096];
	struct event_batch b;
	struct rm_event e1, e2;
	struct collected c = {.n = 0};
	char err[128] = "";

	make_event(&e1, "www.z1.com.", 1, 1700000000000000ull);
	make_event(&e2, "mail.z2.net.", 15, 1700000000123456ull);
	e2.flags = EV_CD | EV_TCP;
	e2.rcode = 2;
	event_batch_init(&b, buf, sizeof(buf), 0);
	assert_int_equal(event_batch_add(&b, &e1), 0);
	assert_int_equal(event_batch_add(&b, &e2), 0);
	size_t len = event_batch_finish(&b);
	assert_int_equal(len, EVENT_HDR_LEN + 2 * EVENT_FIXED_LEN + e1.qname_len + e2.qname_len);
	assert_memory_equal(buf, "RMEV\x01\x00\x00\x02", 8);
	assert_int_equal(event_batch_decode(buf, len, collect, &c, err, sizeof(err)), 2);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ev[0].time_us, e1.time_us);
	assert_int_equal(c.ev[1].time_us, e2.time_us);
	assert_int_equal(c.ev[1].qtype, 15);
	assert_int_equal(c.ev[1].rcode, 2);
	assert_int_equal(c.ev[1].flags, EV_CD | EV_TCP);
	assert_int_equal(c.ev[0].latency_us, 250);
	assert_int_equal(c.ev[0].min_ttl, 300);
	assert_int_equal(c.ev[0].response_size, 120);
	assert_memory_equal(c.ev[0].qname, e1.qname, e1.qname_len);
	assert_int_equal(c.ev[0].client_family, 0);
}

static void test_client_addresses(void **state)
{
	uint8_t buf[4096];
	struct event_batch b;
	struct rm_event e4, e6;
	struct collected c = {.n = 0};
	make_event(&e4, "a.", 1, 5);
	make_event(&e6, "b.", 28, 6);
	e4.client_family = 4;
	memcpy(e4.client, "\x7f\x00\x00\x01", 4);
	e6.client_family = 6;
	memset(e6.client, 0, 16);
	e6.client[15] = 1;
	event_batch_init(&b, buf, sizeof(buf), 1);
	assert_int_equal(event_batch_add(&b, &e4), 0);
	assert_int_equal(event_batch_add(&b, &e6), 0);
	size_t len = event_batch_finish(&b);
	assert_int_equal(buf[5], EVB_CLIENT);
	assert_int_equal(event_batch_decode(buf, len, collect, &c, NULL, 0), 2);
	assert_int_equal(c.ev[0].client_family, 4);
	assert_memory_equal(c.ev[0].client, e4.client, 4);
	assert_int_equal(c.ev[1].client_family, 6);
	assert_memory_equal(c.ev[1].client, e6.client, 16);
	char json[1024];
	assert_true(event_to_json(&c.ev[0], json, sizeof(json)) > 0);
	assert_non_null(strstr(json, "\"client\":\"127.0.0.1\""));
}

static void test_full_batch(void **state)
{
	uint8_t buf[EVENT_HDR_LEN + 2 * (EVENT_FIXED_LEN + 12)];
	struct event_batch b;
	struct rm_event e;
	make_event(&e, "www.z1.com.", 1, 1);
	event_batch_init(&b, buf, sizeof(buf), 0);
	assert_int_equal(event_batch_add(&b, &e), 0);
	assert_int_equal(event_batch_add(&b, &e), 0);
	assert_int_equal(event_batch_add(&b, &e), -1);
	assert_int_equal(b.count, 2);
	/* an event more than 2^32 us after the batch started does not fit either */
	event_batch_init(&b, buf, sizeof(buf), 0);
	assert_int_equal(event_batch_add(&b, &e), 0);
	e.time_us += 0x100000000ull;
	assert_int_equal(event_batch_add(&b, &e), -1);
}

static void test_hostile(void **state)
{
	uint8_t buf[4096], bad[4096];
	struct event_batch b;
	struct rm_event e;
	struct collected c = {.n = 0};
	char err[128] = "";
	make_event(&e, "www.z1.com.", 1, 1);
	event_batch_init(&b, buf, sizeof(buf), 0);
	event_batch_add(&b, &e);
	event_batch_add(&b, &e);
	size_t len = event_batch_finish(&b);

	memcpy(bad, buf, len);
	bad[0] = 'X';
	assert_int_equal(event_batch_decode(bad, len, NULL, NULL, err, sizeof(err)), -1);
	assert_true(err[0] != '\0');
	memcpy(bad, buf, len);
	bad[4] = 2;
	assert_int_equal(event_batch_decode(bad, len, NULL, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "version"));
	/* a count larger than what is there */
	memcpy(bad, buf, len);
	bad[7] = 3;
	assert_int_equal(event_batch_decode(bad, len, NULL, NULL, err, sizeof(err)), -1);
	/* trailing bytes */
	memcpy(bad, buf, len);
	bad[len] = 0;
	assert_int_equal(event_batch_decode(bad, len + 1, NULL, NULL, err, sizeof(err)), -1);
	/* a qname whose label runs past its length */
	memcpy(bad, buf, len);
	bad[EVENT_HDR_LEN + EVENT_FIXED_LEN] = 60;
	assert_int_equal(event_batch_decode(bad, len, NULL, NULL, err, sizeof(err)), -1);
	/* every truncation fails cleanly */
	for (size_t cut = 0; cut < len; cut++) {
		c.n = 0;
		assert_int_equal(event_batch_decode(buf, cut, collect, &c, NULL, 0), -1);
		assert_true(c.n <= 1); /* only the complete first event, if any */
	}
}

static void test_json(void **state)
{
	struct rm_event e;
	char json[1024];
	make_event(&e, "w\\\"x.z1.com.", 28, 1700000000000001ull);
	assert_true(event_to_json(&e, json, sizeof(json)) > 0);
	assert_non_null(strstr(json, "\"qtype\":\"AAAA\""));
	assert_non_null(strstr(json, "\"rcode\":\"NXDOMAIN\""));
	assert_non_null(strstr(json, "\"ad\":true"));
	assert_non_null(strstr(json, "\"cd\":false"));
	assert_non_null(strstr(json, "\"min_ttl\":300"));
	assert_non_null(strstr(json, "\"time\":1700000000.000001"));
	assert_non_null(strstr(json, "\"qname\":\"w\\\\\\\"x.z1.com.\""));
	e.flags &= (uint16_t)~EV_TTL;
	assert_true(event_to_json(&e, json, sizeof(json)) > 0);
	assert_non_null(strstr(json, "\"min_ttl\":null"));
	assert_int_equal(event_to_json(&e, json, 20), -1);

	/* the whole object, field for field as recmesh has always printed it */
	make_event(&e, "www.z1.com.", 1, 1700000000123456ull);
	e.flags = EV_RD | EV_DO | EV_TCP | EV_TTL;
	e.rcode = 0;
	e.client_family = 6;
	memset(e.client, 0, 16);
	e.client[0] = 0x20, e.client[1] = 0x01, e.client[2] = 0x0d, e.client[3] = 0xb8, e.client[15] = 1;
	assert_true(event_to_json(&e, json, sizeof(json)) > 0);
	char want[1024];
	snprintf(want, sizeof(want),
		 "{\"time\":1700000000.123456,\"qname\":\"www.z1.com.\",\"qtype\":\"A\",\"qclass\":1,"
		 "\"rcode\":\"NOERROR\",\"rd\":true,\"cd\":false,\"do\":true,\"ad\":false,\"tc\":false,"
		 "\"transport\":\"tcp\",\"warm\":false,\"min_ttl\":%u,\"latency_us\":%u,"
		 "\"query_size\":%u,\"response_size\":%u,\"client\":\"2001:db8::1\"}",
		 e.min_ttl, e.latency_us, e.query_size, e.response_size);
	if (strcmp(json, want) != 0)
		fail_msg("got  %s\nwant %s", json, want);

	/* the time keeps every microsecond, whatever the value (up to 2^32 s) */
	uint64_t t = 88172645463325252ull;
	for (int i = 0; i < 100000; i++) {
		t ^= t << 13, t ^= t >> 7, t ^= t << 17;
		e.time_us = t % (4294967296ull * 1000000ull);
		char tw[64];
		int n = snprintf(tw, sizeof(tw), "{\"time\":%llu.%06llu,", (unsigned long long)(e.time_us / 1000000),
				 (unsigned long long)(e.time_us % 1000000));
		assert_true(event_to_json(&e, json, sizeof(json)) > 0);
		if (strncmp(json, tw, (size_t)n) != 0)
			fail_msg("time_us %llu printed as %.40s", (unsigned long long)e.time_us, json);
	}

	/* control characters (a hostile node name in a subject) become \u00XX; never overflow */
	char esc[16];
	json_escape(esc, sizeof(esc), "a\"b\\c\n\x01");
	assert_string_equal(esc, "a\\\"b\\\\c\\u000a");
	json_escape(esc, 4, "\"\"\"");
	assert_string_equal(esc, "\\\"");
	json_escape(esc, 1, "abc");
	assert_string_equal(esc, "");
}

static void test_from_dns(void **state)
{
	struct dns_msg_info r;
	struct ev_query q = {.flags = DNS_FLAG_RD | DNS_FLAG_CD, .size = 44, .do_bit = 1, .warm_marker = 1};
	struct rm_event ev;
	memset(&r, 0, sizeof(r));
	r.flags = DNS_FLAG_QR | DNS_FLAG_AD | DNS_FLAG_TC | 5;
	r.qtype = 16;
	r.qclass = 1;
	r.qname_len = 1;
	r.qname[0] = 0;
	r.ext_rcode = 1;
	event_from_dns(&ev, &q, &r, 77, 42, 900, 1);
	assert_int_equal(ev.flags, EV_RD | EV_CD | EV_DO | EV_WARM | EV_AD | EV_TC | EV_TCP);
	assert_int_equal(ev.rcode, 16 + 5);
	assert_int_equal(ev.query_size, 44);
	assert_int_equal(ev.response_size, 77);
	assert_int_equal(ev.latency_us, 900);
	assert_int_equal(ev.time_us, 42);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_client_addresses),
		cmocka_unit_test(test_full_batch), cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_json),      cmocka_unit_test(test_from_dns),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
