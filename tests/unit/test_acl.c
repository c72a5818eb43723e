/* test_acl.c: address allow lists */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "net/acl.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static int match(const struct acl *a, const char *addr)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else {
		assert_int_equal(inet_pton(AF_INET6, addr, &s6->sin6_addr), 1);
		s6->sin6_family = AF_INET6;
	}
	return acl_match(a, (struct sockaddr *)&ss);
}

static void test_match(void **state)
{
	char err[128];
	struct acl *a = acl_create();
	assert_non_null(a);
	assert_int_equal(acl_add(a, "127.0.0.0/8, ::1", err, sizeof(err)), 0);
	assert_int_equal(acl_add(a, "10.1.2.3,fd00::/8,192.168.1.77/24", err, sizeof(err)), 0);
	assert_int_equal(acl_count(a), 5);
	assert_true(match(a, "127.0.0.1"));
	assert_true(match(a, "127.200.3.4"));
	assert_false(match(a, "128.0.0.1"));
	assert_true(match(a, "::1"));
	assert_false(match(a, "::2"));
	assert_true(match(a, "::ffff:127.0.0.1")); /* mapped: counts as IPv4 */
	assert_true(match(a, "10.1.2.3"));
	assert_false(match(a, "10.1.2.4"));
	assert_true(match(a, "fdff::1"));
	assert_false(match(a, "fe00::1"));
	assert_true(match(a, "192.168.1.1")); /* host bits of an entry are ignored */
	assert_false(match(a, "192.168.2.1"));
	acl_destroy(a);

	a = acl_create();
	assert_int_equal(acl_add(a, "0.0.0.0/0", err, sizeof(err)), 0);
	assert_true(match(a, "203.0.113.9"));
	assert_false(match(a, "2001:db8::1"));
	assert_int_equal(acl_add(a, "10.0.0.0/12", err, sizeof(err)), 0);
	acl_destroy(a);
	a = acl_create();
	assert_int_equal(acl_add(a, "10.16.0.0/12", err, sizeof(err)), 0);
	assert_true(match(a, "10.31.255.255"));
	assert_false(match(a, "10.32.0.0"));
	assert_false(match(a, "10.15.255.255"));
	acl_destroy(a);

	/* a mapped entry is its IPv4 entry: it matches plain and mapped clients alike */
	a = acl_create();
	assert_int_equal(acl_add(a, "::ffff:192.0.2.0/120,::ffff:198.51.100.7", err, sizeof(err)), 0);
	assert_true(match(a, "192.0.2.9"));
	assert_true(match(a, "::ffff:192.0.2.200"));
	assert_false(match(a, "192.0.3.1"));
	assert_true(match(a, "198.51.100.7"));
	assert_true(match(a, "::ffff:198.51.100.7"));
	assert_false(match(a, "198.51.100.8"));
	assert_false(match(a, "::192.0.2.9")); /* IPv4-compatible is not mapped */
	acl_destroy(a);
	a = acl_create();
	assert_int_equal(acl_add(a, "::ffff:0:0/96", err, sizeof(err)), 0);
	assert_true(match(a, "203.0.113.9")); /* every IPv4 client */
	assert_false(match(a, "2001:db8::1"));
	acl_destroy(a);
	acl_destroy(NULL);
}

static void test_bad(void **state)
{
	char err[128];
	const char *bad[] = {"", "127.0.0.1/33", "::1/129", "1.2.3", "host.example", "1.2.3.4/",
			     "1.2.3.4/-1", "1.2.3.4/8x", "127.0.0.1,,::1", "127.0.0.1,"};
	struct acl *a = acl_create();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(acl_add(a, bad[i], err, sizeof(err)), -1);
		assert_true(err[0] != '\0');
	}
	assert_int_equal(acl_count(a), 0); /* a failed add adds nothing */
	/* the limit */
	for (int i = 0; i < ACL_MAX; i++)
		assert_int_equal(acl_add(a, "10.0.0.1", err, sizeof(err)), 0);
	assert_int_equal(acl_add(a, "10.0.0.2", err, sizeof(err)), -1);
	assert_int_equal(acl_count(a), ACL_MAX);
	acl_destroy(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
