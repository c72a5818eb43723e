/* test_getlimit.c: which hot-list requests a node answers */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/getlimit.h"

#include <stdio.h>
#include <string.h>

static void test_requester(void **state)
{
	char key[GETLIMIT_KEY_MAX], longer[300];
	assert_int_equal(getlimit_requester("_INBOX.abcDEF123", key, sizeof(key)), 0);
	assert_string_equal(key, "_INBOX.abcDEF123");
	assert_int_equal(getlimit_requester("_INBOX.abc.7", key, sizeof(key)), 0);
	assert_string_equal(key, "_INBOX.abc"); /* nats.c's request mux: one requester */
	const char *bad[] = {NULL, "", "reply", "_INBOX", "_INBOX.", "_INBOX..x", "_INBOX.a.",
			     "_INBOX.a..b", "_INBOX.*", "_INBOX.>", "_INBOX.a.>", "_INBOX.a b",
			     "recmesh.c.hot.get", "_inbox.abc", "$JS.API.x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (getlimit_requester(bad[i], key, sizeof(key)) != -1)
			fail_msg("taken as a requester: '%s' -> '%s'", bad[i] ? bad[i] : "(null)", key);
	memset(longer, 'a', sizeof(longer));
	memcpy(longer, "_INBOX.", 7);
	longer[GETLIMIT_REPLY_MAX + 1] = '\0';
	assert_int_equal(getlimit_requester(longer, key, sizeof(key)), -1); /* too long */
	longer[GETLIMIT_KEY_MAX] = '\0';
	assert_int_equal(getlimit_requester(longer, key, sizeof(key)), -1); /* prefix too long for the key */
}

static void test_per_requester(void **state)
{
	struct getlimit g;
	getlimit_init(&g, 100, 100, 1.0);
	assert_int_equal(getlimit_check(&g, "_INBOX.a", 10.0), GETLIMIT_OK);
	assert_int_equal(getlimit_check(&g, "_INBOX.a.2", 10.5), GETLIMIT_REFUSE_REPEAT);
	assert_int_equal(getlimit_check(&g, "_INBOX.b", 10.5), GETLIMIT_OK);
	assert_int_equal(getlimit_check(&g, "_INBOX.a", 11.0), GETLIMIT_OK); /* a second later */
	assert_int_equal(getlimit_check(&g, "reply.x", 20.0), GETLIMIT_REFUSE_INBOX);
	assert_int_equal(getlimit_check(&g, NULL, 20.0), GETLIMIT_REFUSE_INBOX);
	/* more requesters than remembered: the oldest are forgotten, nothing breaks */
	char r[64];
	for (int i = 0; i < 3 * GETLIMIT_REQUESTERS; i++) {
		snprintf(r, sizeof(r), "_INBOX.r%d", i);
		assert_int_equal(getlimit_check(&g, r, 30.0 + i * 0.01), GETLIMIT_OK);
	}
	snprintf(r, sizeof(r), "_INBOX.r%d", 3 * GETLIMIT_REQUESTERS - 1);
	assert_int_equal(getlimit_check(&g, r, 30.0 + 3 * GETLIMIT_REQUESTERS * 0.01), GETLIMIT_REFUSE_REPEAT);
}

/* The amplification attack: 300 requests with fresh inboxes in one second */
static void test_bucket(void **state)
{
	struct getlimit g;
	char r[64];
	int ok = 0, rate = 0;
	getlimit_init(&g, GETLIMIT_RATE, GETLIMIT_BURST, GETLIMIT_INTERVAL);
	for (int i = 0; i < 300; i++) {
		snprintf(r, sizeof(r), "_INBOX.x%d", i);
		enum getlimit_verdict v = getlimit_check(&g, r, 100.0 + i / 300.0);
		ok += v == GETLIMIT_OK;
		rate += v == GETLIMIT_REFUSE_RATE;
	}
	/* the burst, plus what one second refills */
	if (ok > (int)(GETLIMIT_BURST + GETLIMIT_RATE) || ok < (int)GETLIMIT_BURST || ok + rate != 300)
		fail_msg("answered %d, refused for the rate %d of 300", ok, rate);
	/* a minute of one request every 10 ms: the rate, not more */
	ok = 0;
	for (int i = 0; i < 6000; i++) {
		snprintf(r, sizeof(r), "_INBOX.y%d", i);
		ok += getlimit_check(&g, r, 200.0 + i * 0.01) == GETLIMIT_OK;
	}
	if (ok > (int)(GETLIMIT_BURST + 60 * GETLIMIT_RATE + 1))
		fail_msg("answered %d in 60 s at rate %.0f burst %.0f", ok, GETLIMIT_RATE, GETLIMIT_BURST);
	/* a time going backwards does not mint tokens */
	getlimit_init(&g, 1, 1, 0);
	assert_int_equal(getlimit_check(&g, "_INBOX.a", 50), GETLIMIT_OK);
	assert_int_equal(getlimit_check(&g, "_INBOX.b", 10), GETLIMIT_REFUSE_RATE);
	assert_int_equal(getlimit_check(&g, "_INBOX.c", 50.5), GETLIMIT_REFUSE_RATE);
	assert_int_equal(getlimit_check(&g, "_INBOX.d", 51), GETLIMIT_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_requester),
		cmocka_unit_test(test_per_requester),
		cmocka_unit_test(test_bucket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
