/* test_natsconn.c: URL redaction and splitting, NKey public keys, failure kinds, settings checks,
 * the nonce's signature in the CONNECT a fake server sees, the links' rules, and two links
 * refused by a fake server */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/log.h"
#include "nats/natsconn.h"
#include "nats/natslink.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
	struct natsconn_settings s = {.urls = "nats://u:pw123@a",
				      .user = "u",
				      .password_file = stars};
	assert_int_equal(natsconn_configure(&s, err, sizeof(err)), 0);
	assert_string_equal(natsconn_sanitize("bad ***, u:pw123 and pw123\r\nforged\x1b[0m", b,
					      sizeof(b)),
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
	const char *seed =
		file("seed", "SUAOBF4D7SMW54UEKBZWQXSP6MGRYSR44RB4M2KDAKHWD752S23GAXC7IM\n");
	s = (struct natsconn_settings){.urls = "nats://a", .nkey = seed};
	assert_int_equal(natsconn_configure(&s, err, sizeof(err)), 0);
	for (int i = 0; i < NATSCONN_MAX_RETIRED + 2; i++)
		assert_int_equal(natsconn_reload(&s, err, sizeof(err)), 0);
	file("seed", "hunter2\n");
	assert_int_equal(natsconn_reload(&s, err, sizeof(err)), -1);
	assert_null(strstr(err, "hunter2"));
	/* a new key retires the old one (open connections sign with it), up to the limit */
	static const char *const seeds[2] =
		{"SUAACAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAN7EY\n",
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

/*
 * A fake NATS server on 127.0.0.1 that requires a signature: connection i
 * gets an INFO with nonces[i]; a CONNECT with "sig" is answered with PONG,
 * one without with the server's "Authorization Violation". What it saw is
 * kept per connection ("" when the client closed before a CONNECT).
 */
#define FAKE_MAX 8
struct fake {
	int fd, port, n;
	int open; /* no authorization: PING is answered, a PUB refused as a permissions violation */
	const char *nonces[FAKE_MAX];
	char connect[FAKE_MAX][4096];
	int seen;
	pthread_t thread;
};

/* Reads one line (without "\r\n") within 5 s; -1 at EOF, an error or a timeout */
static int fake_line(int fd, char *buf, size_t size)
{
	size_t n = 0;
	while (n + 1 < size) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		char c;
		if (poll(&p, 1, 5000) != 1 || read(fd, &c, 1) != 1)
			return -1;
		if (c == '\n')
			break;
		if (c != '\r')
			buf[n++] = c;
	}
	buf[n] = '\0';
	return 0;
}

static void *fake_run(void *arg)
{
	struct fake *f = arg;
	for (int i = 0; i < f->n; i++) {
		struct pollfd p = {.fd = f->fd, .events = POLLIN};
		if (poll(&p, 1, 5000) != 1)
			break;
		int c = accept(f->fd, NULL, NULL);
		if (c < 0)
			break;
		char info[512], line[4096];
		int len = snprintf(
			info, sizeof(info),
			"INFO {\"server_id\":\"FAKE\",\"version\":\"2.9.10\",\"go\":\"go1.19\","
			"\"host\":\"127.0.0.1\",\"port\":%d,\"headers\":true,"
			"\"max_payload\":1048576,\"proto\":1%s%s%s}\r\n",
			f->port, f->open ? "" : ",\"auth_required\":true,\"nonce\":\"",
			f->open ? "" : f->nonces[i], f->open ? "" : "\"");
		if (write(c, info, (size_t)len) != len) {
			close(c);
			break;
		}
		f->connect[i][0] = '\0';
		while (fake_line(c, line, sizeof(line)) == 0) {
			if (f->open) {
				char subj[256], r[400];
				r[0] = '\0';
				if (!strcmp(line, "PING"))
					snprintf(r, sizeof(r), "PONG\r\n");
				else if (sscanf(line, "PUB %255s", subj) == 1 &&
					 fake_line(c, line, sizeof(line)) == 0) /* its payload */
					snprintf(r, sizeof(r),
						 "-ERR 'Permissions Violation for Publish to \"%s\"'\r\n", subj);
				if (r[0] && write(c, r, strlen(r)) != (ssize_t)strlen(r))
					break;
				continue;
			}
			if (!strncmp(line, "CONNECT ", 8)) {
				snprintf(f->connect[i], sizeof(f->connect[i]), "%s", line + 8);
				const char *r = strstr(line, "\"sig\":\"")
							? "PONG\r\n"
							: "-ERR 'Authorization Violation'\r\n";
				if (write(c, r, strlen(r)) != (ssize_t)strlen(r))
					break;
			}
		}
		close(c);
		f->seen = i + 1;
	}
	return NULL;
}

static void fake_start_mode(struct fake *f, const char *const *nonces, int n, int open)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	memset(f, 0, sizeof(*f));
	f->n = n;
	f->open = open;
	for (int i = 0; i < n; i++)
		f->nonces[i] = nonces[i];
	f->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(f->fd >= 0);
	assert_int_equal(bind(f->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(f->fd, 8), 0);
	assert_int_equal(getsockname(f->fd, (struct sockaddr *)&a, &al), 0);
	f->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_run, f), 0);
}

static void fake_start(struct fake *f, const char *const *nonces, int n)
{
	fake_start_mode(f, nonces, n, 0);
}

static void fake_stop(struct fake *f)
{
	shutdown(f->fd, SHUT_RDWR);
	pthread_join(f->thread, NULL);
	close(f->fd);
}

/*
 * The seed of test_nkey signs NONCE_ZERO into a signature whose first byte
 * is zero, NONCE_PLAIN into one whose first is not (made with python3-nacl:
 * base64url of SigningKey(seed).sign(nonce).signature, without padding).
 * libnats before 3.8.0 drops a zero-led signature from the CONNECT, and the
 * server refuses that login.
 */
#define NONCE_ZERO "recmesh-nonce-135"
#define SIG_ZERO                                                                                   \
	"AF5-d3MwXlNmnfAp6kW31vyzpaGkKThRx-QYqQ4ElMCO-Usu2qZ6jlZEJDS3ofxUF6fFUpPyVQ9cJOwL5jITCA"
#define NONCE_PLAIN "recmesh-nonce-0"
#define SIG_PLAIN                                                                                  \
	"YfJB2bY9KtvD_1LASRivMzNfpJmV7ZW7vdylDRgcM6UKJtcH37P1QfbaSoPNg6Xv-fdfwKD3QnARovRE6ElbDw"
#define TEST_SEED "SUAOBF4D7SMW54UEKBZWQXSP6MGRYSR44RB4M2KDAKHWD752S23GAXC7IM"

/* Connection i's CONNECT: none (the signature withheld) or one with the signature of its nonce */
static void expect_connect(const struct fake *f, int i, const char *sig, int withheld_ok)
{
	char want[160];
	snprintf(want, sizeof(want), "\"sig\":\"%s\"", sig);
	if (!f->connect[i][0] && withheld_ok)
		return;
	if (!strstr(f->connect[i], want))
		fail_msg("connection %d: expected %s in the CONNECT, saw '%s'", i + 1, want,
			 f->connect[i]);
}

static void test_nonce_signature(void **state)
{
	char err[512], url[64], b[256];
	strcpy(tmpdir, "/tmp/recmesh-test-natsconn.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	alarm(60);
	int old_libnats = nats_GetVersionNumber() < 0x030800;
	const char *creds = file("user.creds", "-----BEGIN NATS USER JWT-----\n"
					       "eyJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.dGVzdA\n"
					       "------END NATS USER JWT------\n\n"
					       "-----BEGIN USER NKEY SEED-----\n" TEST_SEED "\n"
					       "------END USER NKEY SEED------\n");
	const char *seed = file("seed", TEST_SEED "\n");
	for (int way = 0; way < 2; way++) {
		struct natsconn_settings s = {.urls = "nats://127.0.0.1:1"};
		if (way == 0)
			s.creds = creds;
		else
			s.nkey = seed;
		assert_int_equal(natsconn_configure(&s, err, sizeof(err)), 0);
		/* a zero-led signature, then a plain one: the login gets in with the right sig */
		struct fake f;
		const char *const two[] = {NONCE_ZERO, NONCE_PLAIN};
		fake_start(&f, two, 2);
		snprintf(url, sizeof(url), "nats://127.0.0.1:%d", f.port);
		err[0] = '\0';
		struct natslink *l = natslink_new();
		assert_non_null(l);
		natsConnection *nc = natsconn_open(l, url, "test", 0, 3000, err, sizeof(err));
		if (!nc)
			fail_msg("%s: the login with nonce '%s' then '%s' failed: %s",
				 way ? "--nats-nkey" : "--nats-creds", NONCE_ZERO, NONCE_PLAIN,
				 err);
		natsconn_close(l, nc);
		fake_stop(&f);
		expect_connect(&f, 0, SIG_ZERO, old_libnats);
		if (f.seen == 2)
			expect_connect(&f, 1, SIG_PLAIN, 0);
		else if (old_libnats || f.seen != 1)
			fail_msg("the fake server saw %d connections, expected 2", f.seen);
		/* with libnats before 3.8.0: every nonce signs to a zero byte, given up after 4 */
		const char *const zeros[] = {NONCE_ZERO, NONCE_ZERO, NONCE_ZERO, NONCE_ZERO,
					     NONCE_ZERO};
		fake_start(&f, zeros, 5);
		snprintf(url, sizeof(url), "nats://127.0.0.1:%d", f.port);
		err[0] = '\0';
		nc = natsconn_open(l, url, "test", 0, 3000, err, sizeof(err));
		natsconn_close(l, nc);
		assert_int_equal(natslink_wait(l, 5), 1);
		natslink_drop(l);
		fake_stop(&f);
		if (old_libnats) {
			assert_null(nc);
			if (!strstr(err, "zero byte on 4 connections in a row") ||
			    !strstr(err, natsconn_redact(url, b, sizeof(b))))
				fail_msg("expected the zero byte on 4 connections in '%s'", err);
			if (f.seen != 4)
				fail_msg("the fake server saw %d connections, expected 4", f.seen);
			for (int i = 0; i < 4; i++)
				if (f.connect[i][0])
					fail_msg("connection %d sent '%s'", i + 1, f.connect[i]);
		} else {
			assert_non_null(nc);
			expect_connect(&f, 0, SIG_ZERO, 0);
		}
		natsconn_unconfigure();
	}
	alarm(0);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	assert_int_equal(system(cmd), 0);
}

/* The lines waiting on l, joined by '\n' into buf (levels as "E:", "W:", "I:", "D:"); their count */
static int news(struct natslink *l, char *buf, size_t size)
{
	int level, n = 0;
	char text[NATSLINK_LINE_MAX];
	size_t o = 0;
	buf[0] = '\0';
	while (natslink_next(l, &level, text, sizeof(text))) {
		n++;
		if (o < size)
			o += (size_t)snprintf(buf + o, size - o, "%c:%s\n", "EWID"[level & 3], text);
	}
	return n;
}

static int count_of(const char *text, const char *what)
{
	int n = 0;
	for (const char *p = text; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

/* The closed callback's and natsconn_open's references to a record, dropped as they do */
static void cdrop(struct natslink_conn *c)
{
	natslink_conn_drop(c);
}

static struct natslink_conn *cnew(struct natslink *l, int background, const void *nc)
{
	struct natslink_conn *c = natslink_conn_new(l, background);
	assert_non_null(c);
	natslink_conn_attach(c, nc);
	natslink_conn_drop(c); /* natsconn_open's, once attached */
	return c;
}

/* natslink.h's rules, on one link and on two */
static void test_link_rules(void **state)
{
	(void)state;
	char buf[NATSLINK_NEWS_MAX * (NATSLINK_LINE_MAX + 4)], shown[256];
	int level;
	struct natslink *a = natslink_new(), *b = natslink_new();
	assert_non_null(a);
	assert_non_null(b);
	int ka, kb; /* two connections' keys (their natsConnection) */
	struct natslink_conn *ca = cnew(a, 1, &ka), *cb = cnew(b, 1, &kb);

	/* a refusal: said once per kind and link until a connect */
	assert_int_equal(natslink_failed(a, NATSCONN_AUTH), 1);
	assert_int_equal(natslink_failed(a, NATSCONN_AUTH), 0);
	assert_int_equal(natslink_failed(b, NATSCONN_AUTH), 1); /* another link says its own */
	assert_int_equal(natslink_failed(a, NATSCONN_UNREACHABLE), 0);
	assert_int_equal(natslink_failed(a, NATSCONN_TLS), 1);
	assert_int_equal(natslink_failed(a, NATSCONN_AUTH), 1); /* another kind came between */
	natslink_connected(a);
	assert_int_equal(natslink_failed(a, NATSCONN_AUTH), 1);

	/* closed for good after a refusal: said once until a connect; a close of ours never */
	assert_int_equal(natslink_conn_closed(ca), NATSCONN_AUTH);
	cdrop(ca);
	ca = cnew(a, 1, &ka);
	assert_int_equal(natslink_conn_closed(ca), -1); /* said already */
	cdrop(ca);
	natslink_connected(a);
	ca = cnew(a, 1, &ka);
	assert_int_equal(natslink_conn_closed(ca), -1); /* no refusal since the connect */
	cdrop(ca);
	assert_int_equal(natslink_failed(a, NATSCONN_TLS), 1);
	ca = cnew(a, 1, &ka);
	natslink_closing(a, &ka);
	assert_int_equal(natslink_conn_disconnected(ca), 0); /* closing on purpose: quiet */
	assert_int_equal(natslink_conn_disconnected(cb), 1); /* ... and b is not */
	assert_int_equal(natslink_wait(a, 0), 0);            /* its closed callback is due */
	assert_int_equal(natslink_conn_closed(ca), -1);
	assert_int_equal(natslink_wait(a, 0), 1);
	cdrop(ca);
	assert_int_equal(natslink_conn_closed(cb), NATSCONN_AUTH); /* a's close hid nothing of b's */
	cdrop(cb);
	ca = cnew(a, 0, &ka); /* a one-shot connection: it reopens nothing */
	assert_int_equal(natslink_conn_closed(ca), -1);
	cdrop(ca);
	/* the closed callback before natsconn_open attached the connection: nothing is left over */
	assert_int_equal(natslink_failed(a, NATSCONN_AUTH), 1);
	ca = natslink_conn_new(a, 1);
	assert_int_equal(natslink_conn_closed(ca), NATSCONN_AUTH); /* said, though not attached */
	cdrop(ca);                                                 /* the callback's reference */
	natslink_conn_attach(ca, &ka);                             /* too late: not kept */
	natslink_closing(a, &ka);                                  /* finds nothing */
	assert_int_equal(natslink_wait(a, 0), 1);
	cdrop(ca);                                                 /* natsconn_open's: freed */
	/* more connections than NATSLINK_CONNS: the one over is still a background one */
	struct natslink_conn *many[NATSLINK_CONNS + 1];
	int keys[NATSLINK_CONNS + 1];
	natslink_connected(a);
	for (int i = 0; i <= NATSLINK_CONNS; i++) {
		many[i] = cnew(a, 1, &keys[i]);
	}
	assert_int_equal(natslink_failed(a, NATSCONN_AUTH), 1);
	assert_int_equal(natslink_conn_closed(many[NATSLINK_CONNS]), NATSCONN_AUTH);
	for (int i = 0; i <= NATSLINK_CONNS; i++) {
		if (i < NATSLINK_CONNS)
			natslink_conn_closed(many[i]);
		cdrop(many[i]);
	}

	/* not reachable yet: due at its time, unless connected or refused meanwhile */
	natslink_connected(a);
	natslink_unreach_due(a, "nats://x:4222", 10);
	assert_int_equal(natslink_tick(a, 0, 9.9, shown, sizeof(shown)), 0);
	assert_int_equal(natslink_tick(a, 0, 10, shown, sizeof(shown)), 1);
	assert_string_equal(shown, "nats://x:4222");
	assert_int_equal(natslink_tick(a, 0, 11, shown, sizeof(shown)), 0); /* once */
	natslink_unreach_due(a, "nats://x:4222", 10);
	assert_int_equal(natslink_tick(a, 1, 10, shown, sizeof(shown)), 0); /* connected */
	natslink_unreach_due(a, "nats://x:4222", 10);
	assert_int_equal(natslink_failed(a, NATSCONN_AUTH), 1);
	assert_int_equal(natslink_tick(a, 0, 10, shown, sizeof(shown)), 0); /* the refusal said */
	natslink_unreach_due(a, "nats://x:4222", 10);
	natslink_connected(a);
	assert_int_equal(natslink_tick(a, 0, 10, shown, sizeof(shown)), 0);

	/* permissions: only the counted subject's publishes are counted; the first is said */
	natslink_count_denied(a, "rm.c.n1");
	assert_int_equal(natslink_denied_by(a, "Permissions Violation for Publish to \"rm.c.n1\""), 1);
	assert_int_equal(natslink_denied_by(a, "Permissions Violation for Publish to \"rm.c.n1\""), 0);
	assert_int_equal(natslink_denied_by(a, "Permissions Violation for Publish to \"rm.c.n10\""), 0);
	assert_int_equal(natslink_denied_by(a, "Permissions Violation for Subscription to \"rm.c.n1\""), 0);
	assert_int_equal(natslink_denied(a), 2);
	assert_int_equal(natslink_denied(b), 0);

	/* once bits, per link */
	assert_int_equal(natslink_said(a, NATSLINK_ONCE_NS_BUCKET), 0);
	assert_int_equal(natslink_once(a, NATSLINK_ONCE_NS_BUCKET), 1);
	assert_int_equal(natslink_once(a, NATSLINK_ONCE_NS_BUCKET), 0);
	assert_int_equal(natslink_said(a, NATSLINK_ONCE_NS_BUCKET), 1);
	assert_int_equal(natslink_said(a, NATSLINK_ONCE_HOT_BUCKET), 0);
	assert_int_equal(natslink_once(b, NATSLINK_ONCE_NS_BUCKET), 1);

	/* the lines: in order, at most NATSLINK_NEWS_MAX kept, the rest counted and said first */
	while (natslink_next(a, &level, buf, sizeof(buf)))
		; /* the debug line of the connections over the limit, when debugging */
	for (int i = 0; i < NATSLINK_NEWS_MAX + 5; i++)
		natslink_say(a, i % 2 ? LOG_LVL_WARN : LOG_LVL_INFO, "line %d", i);
	assert_int_equal(natslink_next(a, &level, buf, sizeof(buf)), 1);
	assert_int_equal(level, LOG_LVL_WARN);
	if (!strstr(buf, "5 more line(s) not logged"))
		fail_msg("expected the 5 lines lost to be said first, saw '%s'", buf);
	for (int i = 0; i < NATSLINK_NEWS_MAX; i++) {
		char want[32];
		assert_int_equal(natslink_next(a, &level, buf, sizeof(buf)), 1);
		snprintf(want, sizeof(want), "line %d", i);
		assert_string_equal(buf, want);
		assert_int_equal(level, i % 2 ? LOG_LVL_WARN : LOG_LVL_INFO);
	}
	assert_int_equal(natslink_next(a, &level, buf, sizeof(buf)), 0);
	/* a line is cut at NATSLINK_LINE_MAX */
	char big[2 * NATSLINK_LINE_MAX];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	natslink_say(a, LOG_LVL_ERR, "%s", big);
	assert_int_equal(natslink_next(a, &level, buf, sizeof(buf)), 1);
	assert_int_equal(strlen(buf), NATSLINK_LINE_MAX - 1);
	natslink_drop(a);
	natslink_drop(b);
}

/*
 * Two owners, one after the other, on a fake server that refuses every
 * publish as a permissions violation: each link counts its own refusals
 * and says its own first violation (with the state process-wide, the
 * second link said nothing and counted the first's refusal too). Then a
 * background connection to a server that never answers, closed on
 * purpose: its link says nothing of the close, and the closed callback
 * frees the connection's record (natslink_wait).
 */
static void test_links_apart(void **state)
{
	(void)state;
	char err[512], url[64], buf[NATSLINK_NEWS_MAX * (NATSLINK_LINE_MAX + 4)];
	alarm(60);
	struct fake f;
	const char *const nonces[2] = {"", ""};
	fake_start_mode(&f, nonces, 2, 1);
	snprintf(url, sizeof(url), "nats://127.0.0.1:%d", f.port);
	struct natsconn_settings s = {.urls = url};
	assert_int_equal(natsconn_configure(&s, err, sizeof(err)), 0);
	for (int i = 0; i < 2; i++) {
		struct natslink *l = natslink_new();
		assert_non_null(l);
		natslink_count_denied(l, "rm.t.n1");
		natsConnection *nc = natsconn_open(l, url, "test", 0, 2000, err, sizeof(err));
		if (!nc)
			fail_msg("link %d: cannot connect to the fake server: %s", i, err);
		/* one refused publish (two in a row may be read as one: natsconn.h) */
		assert_int_equal(natsConnection_PublishString(nc, "rm.t.n1", "x"), NATS_OK);
		assert_int_equal(natsConnection_FlushTimeout(nc, 2000), NATS_OK);
		int n = 0;
		/* the refusals come on libnats' thread: wait for the one counted (5 s at most) */
		for (int w = 0; w < 500 && natslink_denied(l) < 1; w++)
			usleep(10000);
		usleep(100000); /* and a moment, for one counted twice to show */
		natsconn_close(l, nc);
		assert_int_equal(natslink_wait(l, 5), 1);
		n = news(l, buf, sizeof(buf));
		printf("link %d: %llu refusal(s) counted, %d line(s):\n%s", i,
		       (unsigned long long)natslink_denied(l), n, buf);
		if (natslink_denied(l) != 1)
			fail_msg("link %d: %llu refusals counted, expected 1", i,
				 (unsigned long long)natslink_denied(l));
		if (count_of(buf, "E:NATS: the server denied a subject to these credentials") != 1 ||
		    !strstr(buf, "rm.t.n1"))
			fail_msg("link %d: expected the first violation said once, saw:\n%s", i, buf);
		if (strstr(buf, "was closed") || strstr(buf, "disconnected"))
			fail_msg("link %d: a close on purpose was said:\n%s", i, buf);
		natslink_drop(l);
	}
	fake_stop(&f);

	/* a server that takes the TCP connection and never says a word */
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int mute = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(mute >= 0);
	assert_int_equal(bind(mute, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(mute, 8), 0);
	assert_int_equal(getsockname(mute, (struct sockaddr *)&a, &al), 0);
	snprintf(url, sizeof(url), "nats://127.0.0.1:%d", ntohs(a.sin_port));
	struct natslink *m = natslink_new();
	assert_non_null(m);
	natsConnection *mc = natsconn_open(m, url, "test", 1, 200, err, sizeof(err));
	if (!mc)
		fail_msg("no background connection to a mute server: %s", err);
	natsconn_close(m, mc);
	assert_int_equal(natslink_wait(m, 5), 1);
	int n = news(m, buf, sizeof(buf));
	printf("mute server: %d line(s):\n%s", n, buf);
	if (strstr(buf, "was closed") || strstr(buf, "disconnected") || strstr(buf, "E:"))
		fail_msg("a close on purpose was said:\n%s", buf);
	natslink_drop(m);
	close(mute);
	natsconn_unconfigure();
	alarm(0);
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
	assert_true(
		near(natsconn_reopen_delay(10, 1.0), 60.0)); /* jitter never goes above the cap */
	assert_true(near(natsconn_reopen_delay(10, 0.0), 48.0));
	assert_true(near(natsconn_reopen_delay(0, -1), 1.0)); /* out of range: the middle */
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
		cmocka_unit_test(test_redact),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_nkey),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_configure),
		cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_reopen_delay),
		cmocka_unit_test(test_reload),
		cmocka_unit_test(test_nonce_signature),
		cmocka_unit_test(test_link_rules),
		cmocka_unit_test(test_links_apart),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
