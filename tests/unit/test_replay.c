/*
 * test_replay.c: the replay against a small DNS responder on loopback (a
 * thread): every name asked once and matched, IDs that differ from run to
 * run, timeouts from the ID pool's oldest, the stop flag, the readiness
 * probe (`. NS` NOERROR ready, SERVFAIL not).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dns/dnsmsg.h"
#include "warm/replay.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_SEEN 4096

struct responder {
	int fd;
	char target[64];
	pthread_t thread;
	atomic_int stop;
	atomic_int root_rcode; /* the answer to `. NS` (changed while it runs) */
	int drop_label;        /* names whose first label starts with 'd' get no answer */
	int mangle;            /* 'w' names: answered with another name; 'c' names: in upper case */
	uint16_t ids[MAX_SEEN]; /* IDs of the queries seen, in order */
	int flags_ok;           /* every query had RD=1, CD=0, DO=1 and the warm option */
	atomic_int seen;
};

static void *respond(void *arg)
{
	struct responder *r = arg;
	uint8_t buf[2048];
	struct sockaddr_in from;
	struct dns_msg_info m;
	while (!atomic_load(&r->stop)) {
		struct pollfd p = {r->fd, POLLIN, 0};
		if (poll(&p, 1, 20) <= 0)
			continue;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(r->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (n < DNS_HDR_LEN || dnsmsg_parse(buf, (size_t)n, &m) != DNS_OK)
			continue;
		int k = atomic_load(&r->seen);
		if (k < MAX_SEEN)
			r->ids[k] = dnsmsg_get16(buf);
		atomic_store(&r->seen, k + 1);
		if (!(m.flags & DNS_FLAG_RD) || (m.flags & DNS_FLAG_CD) || !m.do_bit || !m.warm_marker)
			r->flags_ok = 0;
		int rcode = 0;
		if (m.qname_len == 1)
			rcode = atomic_load(&r->root_rcode);
		else if (r->drop_label && m.qname[1] == 'd')
			continue;
		else if (r->mangle && m.qname[1] == 'w')
			buf[DNS_HDR_LEN + 2] ^= 0x01; /* the name's second letter: another question */
		else if (r->mangle && m.qname[1] == 'c')
			buf[DNS_HDR_LEN + 1] = 'C'; /* the same question in other case (0x20) */
		buf[2] |= 0x80;
		buf[3] = (uint8_t)((buf[3] & 0xf0) | rcode);
		sendto(r->fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
	}
	return NULL;
}

static void responder_start(struct responder *r, int root_rcode, int drop)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t al = sizeof(a);
	memset(r, 0, sizeof(*r));
	atomic_store(&r->root_rcode, root_rcode);
	r->drop_label = drop;
	r->flags_ok = 1;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r->fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(r->fd >= 0);
	assert_int_equal(bind(r->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(r->fd, (struct sockaddr *)&a, &al), 0);
	snprintf(r->target, sizeof(r->target), "127.0.0.1:%u", ntohs(a.sin_port));
	assert_int_equal(pthread_create(&r->thread, NULL, respond, r), 0);
}

static void responder_stop(struct responder *r)
{
	atomic_store(&r->stop, 1);
	pthread_join(r->thread, NULL);
	close(r->fd);
}

static size_t make_items_as(struct hot_item *items, size_t n, int every, const char *odd)
{
	char name[64];
	for (size_t i = 0; i < n; i++) {
		int drop = every && i % (size_t)every == 0;
		snprintf(name, sizeof(name), "%s%zu.example.", drop ? odd : "n", i);
		int len = dnsmsg_name_from_text(name, items[i].qname, sizeof(items[i].qname));
		assert_true(len > 0);
		items[i].qname_len = (uint8_t)len;
		items[i].qtype = 1;
		items[i].score = (double)(n - i);
	}
	return n;
}

static size_t make_items(struct hot_item *items, size_t n, int every_dropped)
{
	return make_items_as(items, n, every_dropped, "d");
}

static struct hot_item items[300];

static void test_every_name_once(void **state)
{
	struct responder r;
	struct replay_result res;
	char err[256];
	responder_start(&r, 0, 0);
	size_t n = make_items(items, 300, 0);
	struct replay_progress live;
	atomic_init(&live.total, 7);
	atomic_init(&live.done, 7);
	struct replay_config c = {.target = r.target, .qps = 2000, .max_qps = 2000, .concurrency = 50,
				  .query_timeout = 1, .live = &live};
	assert_int_equal(replay_run(&c, items, n, &res, err, sizeof(err)), 0);
	responder_stop(&r);
	/* the live progress, as /metrics reads it, ends where the result does */
	assert_int_equal(atomic_load(&live.total), 300);
	assert_int_equal(atomic_load(&live.done), 300);
	assert_int_equal(res.total, 300);
	assert_int_equal(res.sent, 300);
	assert_int_equal(res.answered, 300);
	assert_int_equal(res.rcodes[0], 300);
	assert_int_equal(res.timeouts, 0);
	assert_int_equal(atomic_load(&r.seen), 300);
	assert_true(r.flags_ok);
	assert_false(res.stopped);
}

static void test_ids_differ_between_runs(void **state)
{
	struct responder r1, r2;
	struct replay_result res;
	char err[256];
	size_t n = make_items(items, 64, 0);
	struct replay_config c = {.qps = 1000, .max_qps = 1000, .concurrency = 10, .query_timeout = 1};
	responder_start(&r1, 0, 0);
	c.target = r1.target;
	assert_int_equal(replay_run(&c, items, n, &res, err, sizeof(err)), 0);
	responder_stop(&r1);
	responder_start(&r2, 0, 0);
	c.target = r2.target;
	assert_int_equal(replay_run(&c, items, n, &res, err, sizeof(err)), 0);
	responder_stop(&r2);
	assert_int_equal(atomic_load(&r1.seen), 64);
	assert_int_equal(atomic_load(&r2.seen), 64);
	int same = 0;
	for (int i = 0; i < 64; i++)
		same += r1.ids[i] == r2.ids[i];
	assert_true(same < 64);
}

/* Bounds: a timeout above an hour (its nanoseconds would overflow far above) or a concurrency above the ID pool */
static void test_bad_config(void **state)
{
	struct replay_result res = {.total = 4711};
	char err[256] = "";
	size_t n = make_items(items, 4, 0);
	struct replay_config c = {.target = "127.0.0.1:9", .qps = 10, .max_qps = 10, .concurrency = 10,
				  .query_timeout = REPLAY_MAX_TIMEOUT + 1};
	assert_int_equal(replay_run(&c, items, n, &res, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "at most 3600 s"));
	c.query_timeout = 1e300;
	assert_int_equal(replay_run(&c, items, n, &res, err, sizeof(err)), -1);
	c.query_timeout = 0;
	assert_int_equal(replay_run(&c, items, n, &res, err, sizeof(err)), -1);
	c.query_timeout = 1;
	c.concurrency = REPLAY_MAX_CONCURRENCY + 1;
	assert_int_equal(replay_run(&c, items, n, &res, err, sizeof(err)), -1);
	assert_int_equal(res.total, 4711); /* untouched */
	/*
	 * a probe with a timeout far beyond poll's int of milliseconds returns
	 * the answer (a responder of the test's own: a closed port could be
	 * taken by another test meanwhile, and then nothing would ever come)
	 */
	struct responder r;
	responder_start(&r, 0, 0);
	int rcode = -1;
	assert_int_equal(replay_probe(r.target, 1e7, &rcode), 0);
	assert_int_equal(rcode, 0);
	responder_stop(&r);
}

static void test_timeouts(void **state)
{
	struct responder r;
	struct replay_result res;
	char err[256];
	responder_start(&r, 0, 1);
	size_t n = make_items(items, 100, 10); /* 10 of them never answered */
	struct replay_config c = {.target = r.target, .qps = 1000, .max_qps = 1000, .concurrency = 20,
				  .query_timeout = 0.2};
	assert_int_equal(replay_run(&c, items, n, &res, err, sizeof(err)), 0);
	responder_stop(&r);
	assert_int_equal(res.answered, 90);
	assert_int_equal(res.timeouts, 10);
	assert_true(res.seconds >= 0.2 && res.seconds < 3);
}

/*
 * An answer with the query's ID but another question is not its answer
 * (the query times out); the same question in other case is (dns_qkey)
 */
static void test_answer_matched_by_question(void **state)
{
	struct responder r;
	struct replay_result res;
	char err[256];
	responder_start(&r, 0, 0);
	r.mangle = 1;
	size_t n = make_items_as(items, 60, 6, "w"); /* 10 answered with another name */
	n += make_items_as(items + n, 60, 3, "c"); /* 20 answered in upper case */
	struct replay_config c = {.target = r.target, .qps = 1000, .max_qps = 1000, .concurrency = 20,
				  .query_timeout = 0.2};
	assert_int_equal(replay_run(&c, items, n, &res, err, sizeof(err)), 0);
	responder_stop(&r);
	assert_int_equal(atomic_load(&r.seen), 120);
	assert_int_equal(res.answered, 110);
	assert_int_equal(res.timeouts, 10);
}

static void test_stop_flag(void **state)
{
	struct responder r;
	struct replay_result res;
	char err[256];
	atomic_int stop;
	atomic_init(&stop, 1);
	responder_start(&r, 0, 0);
	size_t n = make_items(items, 100, 0);
	struct replay_config c = {.target = r.target, .qps = 10, .max_qps = 10, .concurrency = 20,
				  .query_timeout = 1, .stop = &stop};
	assert_int_equal(replay_run(&c, items, n, &res, err, sizeof(err)), 0);
	responder_stop(&r);
	assert_true(res.stopped);
	assert_true(res.sent < 100);
}

static void test_readiness(void **state)
{
	struct responder r;
	char err[256];
	int rcode = -1;
	responder_start(&r, DNS_RCODE_SERVFAIL, 0);
	assert_int_equal(replay_probe(r.target, 1, &rcode), 0);
	assert_int_equal(rcode, DNS_RCODE_SERVFAIL);
	assert_int_equal(replay_wait_ready(r.target, 0.5, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "could not resolve '. NS'"));
	atomic_store(&r.root_rcode, 0);
	assert_int_equal(replay_wait_ready(r.target, 2, NULL, err, sizeof(err)), 0);
	responder_stop(&r);
	/* nothing listens there any more */
	assert_int_equal(replay_wait_ready(r.target, 0.3, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "did not answer within"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_name_once), cmocka_unit_test(test_ids_differ_between_runs),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_answer_matched_by_question),
		cmocka_unit_test(test_stop_flag),
		cmocka_unit_test(test_readiness),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
