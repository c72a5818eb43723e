/* test_natsconn.c: URL redaction and splitting, NKey public keys, failure kinds, settings checks */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "natsconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_redact(void **state)
{
	char b[256];
	assert_string_equal(natsconn_redact("nats://a:4222", b, sizeof(b)), "nats://a:4222");
	assert_string_equal(natsconn_redact("nats://u:secret@a:4222", b, sizeof(b)),
			    "nats://***@a:4222");
	assert_string_equal(natsconn_redact("nats://tok@a:4222,tls://u:p@w@b:4443/x", b, sizeof(b)),
			    "nats://***@a:4222,tls://***@b:4443/x");
	assert_string_equal(natsconn_redact("u:pw@host:4222, nats://c", b, sizeof(b)),
			    "***@host:4222, nats://c");
	/* an '@' after the host (a path) is not user information */
	assert_string_equal(natsconn_redact("nats://a:1/x@y", b, sizeof(b)), "nats://a:1/x@y");
	/* cut, still terminated, and no byte of the secret */
	assert_string_equal(natsconn_redact("nats://user:secret@a", b, 12), "nats://***@");
	assert_string_equal(natsconn_redact("nats://user:secret@a", b, 9), "nats://*");
	assert_string_equal(natsconn_redact(NULL, b, sizeof(b)), "");
	assert_int_equal(natsconn_has_password("nats://a,nats://b"), 0);
	assert_int_equal(natsconn_has_password("nats://a,nats://t@b"), 1);
	assert_int_equal(natsconn_has_password("nats://a/x@y"), 0);
}

static void test_split(void **state)
{
	char store[512], err[256];
	const char *l[4];
	assert_int_equal(natsconn_split("nats://a:4222, nats://b:4222 ,tls://c", store,
					sizeof(store), l, 4, err, sizeof(err)),
			 3);
	assert_string_equal(l[0], "nats://a:4222");
	assert_string_equal(l[1], "nats://b:4222");
	assert_string_equal(l[2], "tls://c");
	assert_int_equal(natsconn_split("a:4222", store, sizeof(store), l, 4, err, sizeof(err)), 1);
	assert_int_equal(natsconn_split("nats://a,,nats://b", store, sizeof(store), l, 4, err,
					sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "empty item"));
	assert_int_equal(natsconn_split("nats://a,nats://b,nats://c,nats://d,nats://e", store,
					sizeof(store), l, 4, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "more than 4"));
	assert_int_equal(natsconn_split("ws://a", store, sizeof(store), l, 4, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "only nats:// and tls://"));
	/* the error quotes the list without its secret */
	assert_int_equal(natsconn_split("nats://u:hunter2@", store, sizeof(store), l, 4, err,
					sizeof(err)),
			 -1);
	assert_null(strstr(err, "hunter2"));
	assert_non_null(strstr(err, "without a host"));
	assert_int_equal(natsconn_split("", store, sizeof(store), l, 4, err, sizeof(err)), -1);
	assert_int_equal(natsconn_split("nats://a b", store, sizeof(store), l, 4, err, sizeof(err)),
			 -1);
	char big[600];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(natsconn_split(big, store, sizeof(store), l, 4, err, sizeof(err)), -1);
}

/* A known pair, made with tests/system/nkeys.py */
static void test_nkey(void **state)
{
	char pub[64], err[256];
	assert_int_equal(
		natsconn_nkey_public("SUAOBF4D7SMW54UEKBZWQXSP6MGRYSR44RB4M2KDAKHWD752S23GAXC7IM",
				     pub, sizeof(pub), err, sizeof(err)),
		0);
	assert_string_equal(pub, "UDPRKK3B74XRUVPWDOVH4K7OMAGKV7W5MSIQQBSBVZSVYSTRUZAHG6QP");
	/* one character changed: the checksum catches it */
	assert_int_equal(
		natsconn_nkey_public("SUAOBF4D7SMW54UEKBZWQXSP6MGRYSR44RB4M2KDAKHWD752S23GBXC7IM",
				     pub, sizeof(pub), err, sizeof(err)),
		-1);
	assert_non_null(strstr(err, "checksum"));
	/* the last character's unused bits set: refused, not read as the same key */
	assert_int_equal(
		natsconn_nkey_public("SUAOBF4D7SMW54UEKBZWQXSP6MGRYSR44RB4M2KDAKHWD752S23GAXC7IN",
				     pub, sizeof(pub), err, sizeof(err)),
		-1);
	assert_int_equal(natsconn_nkey_public("hunter2", pub, sizeof(pub), err, sizeof(err)), -1);
	assert_null(strstr(err, "hunter2"));
	/* the public key itself is no seed */
	assert_int_equal(
		natsconn_nkey_public("UDPRKK3B74XRUVPWDOVH4K7OMAGKV7W5MSIQQBSBVZSVYSTRUZAHG6QP",
				     pub, sizeof(pub), err, sizeof(err)),
		-1);
}

static void test_classify(void **state)
{
	assert_int_equal(natsconn_classify(NATS_CONNECTION_AUTH_FAILED, NULL, 0), NATSCONN_AUTH);
	assert_int_equal(natsconn_classify(NATS_ERR, "Authorization Violation", 0), NATSCONN_AUTH);
	assert_int_equal(natsconn_classify(NATS_NOT_PERMITTED,
					   "Permissions Violation for Publish to \"x\"", 0),
			 NATSCONN_DENIED);
	assert_int_equal(natsconn_classify(NATS_SSL_ERROR, NULL, 0), NATSCONN_TLS);
	assert_int_equal(natsconn_classify(NATS_SECURE_CONNECTION_REQUIRED, NULL, 0), NATSCONN_TLS);
	assert_int_equal(natsconn_classify(NATS_PROTOCOL_ERROR, "Expected 'PONG', got ''", 1),
			 NATSCONN_TLS);
	assert_int_equal(natsconn_classify(NATS_PROTOCOL_ERROR, "Expected 'PONG', got ''", 0),
			 NATSCONN_UNREACHABLE);
	assert_int_equal(natsconn_classify(NATS_NO_SERVER, "connection refused", 0),
			 NATSCONN_UNREACHABLE);
}

static char tmpdir[64];

static const char *file(const char *name, const char *text)
{
	static char path[8][128];
	static int i;
	char *p = path[i++ % 8];
	snprintf(p, 128, "%s/%s", tmpdir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return p;
}

static void expect_error(const struct natsconn_settings *s, const char *want)
{
	char err[512] = "";
	assert_int_equal(natsconn_configure(s, err, sizeof(err)), -1);
	if (!strstr(err, want))
		fail_msg("expected '%s' in '%s'", want, err);
	assert_null(strstr(err, "hunter2"));
}

static void test_configure(void **state)
{
	char err[512];
	strcpy(tmpdir, "/tmp/recmesh-test-natsconn.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	const char *pw = file("pw", "hunter2\n");
	const char *empty = file("empty", "");
	const char *two = file("two", "hunter2\nsecond\n");
	char big[NATSCONN_SECRET_MAX + 10];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	const char *bigf = file("big", big);
	const char *notpem = file("notpem", "hunter2");

	struct natsconn_settings s = {.urls = "nats://a:4222,nats://b:4222"};
	assert_int_equal(natsconn_configure(&s, err, sizeof(err)), 0);

	s = (struct natsconn_settings){.urls = "nats://a", .user = "u", .password_file = pw};
	assert_int_equal(natsconn_configure(&s, err, sizeof(err)), 0);
	s.password_file = empty;
	expect_error(&s, "is empty");
	s.password_file = two;
	expect_error(&s, "more than one line");
	s.password_file = bigf;
	expect_error(&s, "is over 1024 bytes");
	s.password_file = "/nonexistent/pw";
	expect_error(&s, "cannot read --nats-password-file '/nonexistent/pw'");
	s.password_file = NULL;
	expect_error(&s, "go together");

	s = (struct natsconn_settings){.urls = "nats://a", .token_file = pw, .nkey = pw};
	expect_error(&s, "give one of");
	s = (struct natsconn_settings){.urls = "nats://a", .nkey = pw};
	expect_error(&s, "not an NKey seed");
	s = (struct natsconn_settings){.urls = "nats://a", .creds = pw};
	expect_error(&s, "not a credentials file");
	s = (struct natsconn_settings){.urls = "nats://a", .tls_ca = notpem};
	expect_error(&s, "holds no PEM certificate");
	s = (struct natsconn_settings){.urls = "nats://a", .tls_cert = notpem};
	expect_error(&s, "go together");
	s = (struct natsconn_settings){.urls = "nats://a", .kv_replicas = 6};
	expect_error(&s, "over 5");
	s.kv_replicas = 5;
	assert_int_equal(natsconn_configure(&s, err, sizeof(err)), 0);
	natsconn_unconfigure();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	assert_int_equal(system(cmd), 0);
}

/* Server texts are logged only sanitized: no control bytes, capped, no secret (even "***") */
static void test_sanitize(void **state)
{
	char err[512], b[NATSCONN_MAX_DETAIL + 64], big[600];
	strcpy(tmpdir, "/tmp/recmesh-test-natsconn.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	alarm(20); /* a scrub that loops fails the test instead of hanging it */
	const char *stars = file("stars", "***\n");
	struct natsconn_settings s = {.urls = "nats://u:pw123@a", .user = "u", .password_file = stars};
	assert_int_equal(natsconn_configure(&s, err, sizeof(err)), 0);
	assert_string_equal(natsconn_sanitize("bad ***, u:pw123 and pw123\r\nforged\x1b[0m", b, sizeof(b)),
			    "bad ***, *** and ***??forged?[0m");
	assert_string_equal(natsconn_sanitize(NULL, b, sizeof(b)), "");
	assert_string_equal(natsconn_sanitize("abcdef", b, 4), "abc");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(strlen(natsconn_sanitize(big, b, sizeof(b))), NATSCONN_MAX_DETAIL);
	alarm(0);
	natsconn_unconfigure();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	assert_int_equal(system(cmd), 0);
}

/* A reload re-reads the credential files; a bad file changes nothing */
static void test_reload(void **state)
{
	char err[512], b[128];
	strcpy(tmpdir, "/tmp/recmesh-test-natsconn.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	const char *pw = file("pw", "oldpass1\n");
	struct natsconn_settings s = {.urls = "nats://a", .user = "u", .password_file = pw};
	assert_int_equal(natsconn_reload(&s, err, sizeof(err)), -1); /* not configured yet */
	assert_int_equal(natsconn_configure(&s, err, sizeof(err)), 0);
	assert_string_equal(natsconn_sanitize("oldpass1 newpass2", b, sizeof(b)), "*** newpass2");
	file("pw", "newpass2\n");
	assert_int_equal(natsconn_reload(&s, err, sizeof(err)), 0);
	assert_string_equal(natsconn_sanitize("oldpass1 newpass2", b, sizeof(b)), "oldpass1 ***");
	file("pw", "");
	err[0] = '\0';
	assert_int_equal(natsconn_reload(&s, err, sizeof(err)), -1);
	if (!strstr(err, "is empty"))
		fail_msg("expected 'is empty' in '%s'", err);
	assert_string_equal(natsconn_sanitize("oldpass1 newpass2", b, sizeof(b)), "oldpass1 ***");
	/* an NKey read again: the same key is kept, any number of times */
	const char *seed = file("seed", "SUAOBF4D7SMW54UEKBZWQXSP6MGRYSR44RB4M2KDAKHWD752S23GAXC7IM\n");
	s = (struct natsconn_settings){.urls = "nats://a", .nkey = seed};
	assert_int_equal(natsconn_configure(&s, err, sizeof(err)), 0);
	for (int i = 0; i < NATSCONN_MAX_RETIRED + 2; i++)
		assert_int_equal(natsconn_reload(&s, err, sizeof(err)), 0);
	file("seed", "hunter2\n");
	assert_int_equal(natsconn_reload(&s, err, sizeof(err)), -1);
	assert_null(strstr(err, "hunter2"));
	/* a new key retires the old one (open connections sign with it), up to the limit */
	static const char *const seeds[2] = {
		"SUAACAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAN7EY\n",
		"SUAAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAT6EE\n"};
	for (int i = 0; i < NATSCONN_MAX_RETIRED; i++) {
		file("seed", seeds[i % 2]);
		if (natsconn_reload(&s, err, sizeof(err)) != 0)
			fail_msg("reload %d of a new key failed: %s", i + 1, err);
	}
	file("seed", seeds[(NATSCONN_MAX_RETIRED - 1) % 2]);
	assert_int_equal(natsconn_reload(&s, err, sizeof(err)), 0); /* the same key again */
	file("seed", seeds[NATSCONN_MAX_RETIRED % 2]);
	assert_int_equal(natsconn_reload(&s, err, sizeof(err)), -1);
	if (!strstr(err, "restart"))
		fail_msg("expected 'restart' in '%s'", err);
	natsconn_unconfigure();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	assert_int_equal(system(cmd), 0);
}

static int near(double a, double b)
{
	return a > b - 1e-9 && a < b + 1e-9;
}

/* The reopen backoff: 1 s doubling to 60 s, jitter within +-20 %, never above 60 s */
static void test_reopen_delay(void **state)
{
	(void)state;
	assert_true(near(natsconn_reopen_delay(0, 0.5), 1.0));
	assert_true(near(natsconn_reopen_delay(1, 0.5), 2.0));
	assert_true(near(natsconn_reopen_delay(5, 0.5), 32.0));
	assert_true(near(natsconn_reopen_delay(6, 0.5), 60.0));
	assert_true(near(natsconn_reopen_delay(4000000000u, 0.5), 60.0));
	assert_true(near(natsconn_reopen_delay(0, 0.0), 0.8));
	assert_true(near(natsconn_reopen_delay(0, 1.0), 1.2));
	assert_true(near(natsconn_reopen_delay(3, 0.0), 6.4));
	assert_true(near(natsconn_reopen_delay(10, 1.0), 60.0)); /* jitter never goes above the cap */
	assert_true(near(natsconn_reopen_delay(10, 0.0), 48.0));
	assert_true(near(natsconn_reopen_delay(0, -1), 1.0));   /* out of range: the middle */
	assert_true(near(natsconn_reopen_delay(0, 0.0 / 0.0), 1.0));
	for (unsigned f = 0; f < 100; f++) {
		double prev = 0;
		for (int k = 0; k <= 10; k++) {
			double d = natsconn_reopen_delay(f, k / 10.0);
			assert_true(d >= 0.8 && d <= 60.0 && d >= prev);
			prev = d;
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_redact),    cmocka_unit_test(test_split),
		cmocka_unit_test(test_nkey),      cmocka_unit_test(test_classify),
		cmocka_unit_test(test_configure), cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_reopen_delay), cmocka_unit_test(test_reload),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
