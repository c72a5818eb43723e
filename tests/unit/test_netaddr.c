/* test_netaddr.c: parsing and printing socket addresses */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "net/netaddr.h"

#include <netinet/in.h>
#include <string.h>

static void roundtrip(const char *in, int def, const char *out)
{
	struct netaddr a;
	char buf[128];
	assert_int_equal(netaddr_parse(in, def, &a), 0);
	assert_string_equal(netaddr_format((struct sockaddr *)&a.ss, buf, sizeof(buf)), out);
}

static void test_parse(void **state)
{
	roundtrip("127.0.0.1:5300", 53, "127.0.0.1:5300");
	roundtrip("127.0.0.1", 53, "127.0.0.1:53");
	roundtrip("[::1]:5353", 53, "[::1]:5353");
	roundtrip("[::1]", 53, "[::1]:53");
	roundtrip("::1", 53, "[::1]:53");
	roundtrip("0.0.0.0:53", 0, "0.0.0.0:53");
	struct netaddr a;
	assert_int_equal(netaddr_parse("0.0.0.0:53", 0, &a), 0);
	assert_true(netaddr_is_wildcard(&a));
	assert_int_equal(netaddr_port((struct sockaddr *)&a.ss), 53);
	assert_int_equal(netaddr_parse("[::]:53", 0, &a), 0);
	assert_true(netaddr_is_wildcard(&a));
	assert_int_equal(netaddr_parse("127.0.0.1:53", 0, &a), 0);
	assert_false(netaddr_is_wildcard(&a));
}

static void test_errors(void **state)
{
	struct netaddr a;
	const char *bad[] = {"", "localhost:53", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
			     "127.0.0.1:5x", "[::1", "[::1]x", "[::1]:", "1.2.3:53", "300.1.1.1:53"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (netaddr_parse(bad[i], 53, &a) == 0)
			fail_msg("'%s' was accepted", bad[i]);
	/* no default port and none given */
	assert_int_equal(netaddr_parse("127.0.0.1", 0, &a), -1);
}

/* netaddr_same_host: the address counts, the port does not, families never mix */
static void test_same_host(void **state)
{
	(void)state;
	struct netaddr a, b, c, d, e;
	assert_int_equal(netaddr_parse("127.0.0.1:53", 53, &a), 0);
	assert_int_equal(netaddr_parse("127.0.0.1:9999", 53, &b), 0);
	assert_int_equal(netaddr_parse("127.0.0.2:53", 53, &c), 0);
	assert_int_equal(netaddr_parse("[::1]:53", 53, &d), 0);
	assert_int_equal(netaddr_parse("[::1]:54", 53, &e), 0);
	assert_true(netaddr_same_host(&a.ss, &b.ss));
	assert_false(netaddr_same_host(&a.ss, &c.ss));
	assert_false(netaddr_same_host(&a.ss, &d.ss));
	assert_true(netaddr_same_host(&d.ss, &e.ss));
	struct sockaddr_storage unix_ss = {.ss_family = AF_UNIX};
	assert_false(netaddr_same_host(&unix_ss, &unix_ss));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_same_host),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
