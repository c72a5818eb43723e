/*
 * test_channel.c: the channels (proxy/channel.h) against sockets of the
 * test's on loopback: the local Recursor's over UDP (proxy/localchan.h)
 * and one over a pipelined DNS-over-TCP connection (proxy/tcpchan.h):
 * what their headers promise of IDs, matching, failures, timeouts,
 * refusals, limits, and a destroy from inside a callback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dnsquery.h"
#include "loopaccept.h"

#include "base/clock.h"
#include "proxy/localchan.h"
#include "proxy/tcpchan.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#define S 1000000000ull

/* What the channel under test called back */
static struct {
	int answers, fails, flushes, refusals;
	uint64_t token, sent_ns;
	uint64_t answered, failed; /* bit t for each token t < 64 */
	enum channel_failure why;
	int parsed;
	uint8_t pkt[512];
	size_t len;
	int unsent_has_pkt;                /* localchan: a query not sent comes back with its bytes */
	struct tcpchan *destroy_in_answer; /* a callback that destroys its channel */
} got;

static void on_answer(void *ctx, uint64_t token, uint8_t *pkt, size_t len,
		      const struct dns_msg_info *r, uint64_t sent_ns, uint64_t now_ns)
{
	got.answers++;
	got.token = token;
	got.sent_ns = sent_ns;
	got.parsed = r != NULL;
	got.len = len < sizeof(got.pkt) ? len : sizeof(got.pkt);
	memcpy(got.pkt, pkt, got.len);
	if (token < 64)
		got.answered |= 1ull << token;
	if (got.destroy_in_answer) {
		tcpchan_destroy(got.destroy_in_answer);
		got.destroy_in_answer = NULL;
	}
}

static void on_fail(void *ctx, uint64_t token, enum channel_failure why, const uint8_t *pkt,
		    size_t len, uint64_t sent_ns, uint64_t now_ns)
{
	got.fails++;
	got.token = token;
	got.why = why;
	got.sent_ns = sent_ns;
	if (token < 64)
		got.failed |= 1ull << token;
	if (why != CHANNEL_TIMEOUT && got.unsent_has_pkt)
		assert_true(pkt && len >= DNS_HDR_LEN);
	else
		assert_null(pkt);
}

static void on_flush(void *ctx)
{
	got.flushes++;
}

static void on_refused(void *ctx)
{
	got.refusals++;
}

static const struct channel_user user = {on_answer, on_fail, on_flush, on_refused, NULL};

/* A socket of type on 127.0.0.1 (listening, for TCP), its address in *a */
static int loopback_server(int type, struct netaddr *a)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, type, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	if (type == SOCK_STREAM)
		assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	char text[64];
	snprintf(text, sizeof(text), "127.0.0.1:%d", ntohs(sin.sin_port));
	assert_int_equal(netaddr_parse(text, 53, a), 0);
	return fd;
}

/* Runs the loop until *counter reaches want, a second at most */
static void run_until(struct ev_loop *loop, const int *counter, int want)
{
	for (int i = 0; i < 100 && *counter < want; i++)
		ev_run(loop, EVRUN_NOWAIT), usleep(10000);
}

static void run_until64(struct ev_loop *loop, const uint64_t *counter, uint64_t want)
{
	for (int i = 0; i < 100 && *counter < want; i++)
		ev_run(loop, EVRUN_NOWAIT), usleep(10000);
}

/* ---- the local Recursor's channel over UDP (localchan.h) ---- */
/* Receives one query (waits up to a second); its length, its sender in *from */
static size_t server_recv(int fd, uint8_t *buf, size_t size, struct sockaddr_storage *from,
			  socklen_t *fl)
{
	struct timeval tv = {1, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	*fl = sizeof(*from);
	ssize_t n = recvfrom(fd, buf, size, 0, (struct sockaddr *)from, fl);
	assert_true(n > 0);
	return (size_t)n;
}

struct ufix {
	struct ev_loop *loop;
	struct localchan *lc;
	struct channel ch;
	struct proxy_stats st;
	struct netaddr up;
	uint8_t *rx;
	int server;
};

static void setup_udp(struct ufix *f, unsigned sockets, double timeout)
{
	char err[256];
	memset(&got, 0, sizeof(got));
	memset(f, 0, sizeof(*f));
	f->loop = ev_loop_new(EVFLAG_AUTO);
	f->server = loopback_server(SOCK_DGRAM, &f->up);
	f->rx = malloc((size_t)LOCALCHAN_BATCH * LOCALCHAN_RX_SIZE);
	assert_non_null(f->rx);
	struct localchan_config cfg = {.upstream = &f->up,
				       .sockets = sockets,
				       .timeout_ns = (uint64_t)(timeout * 1e9),
				       .qseed = 42,
				       .rx_bufs = f->rx,
				       .st = &f->st};
	got.unsent_has_pkt = 1;
	f->lc = localchan_create(f->loop, &cfg, &user, err, sizeof(err));
	assert_non_null(f->lc);
	f->ch = localchan_channel(f->lc);
}

static void teardown_udp(struct ufix *f)
{
	localchan_destroy(f->lc);
	if (f->server >= 0)
		close(f->server);
	free(f->rx);
	ev_loop_destroy(f->loop);
}

/*
 * Queries go out with the channel's IDs, one socket per flush; an answer
 * comes back with its token, parsed, once; a forged one (another question,
 * an ID not in flight) is counted and dropped
 */
static void udp_match(void **state)
{
	struct ufix f;
	setup_udp(&f, 2, 5);
	uint8_t q[3][64], in[512];
	size_t ql[3];
	const char *names[3] = {"a", "bb", "ccc"};
	uint64_t h[3], now = clock_mono_ns();
	for (int i = 0; i < 3; i++) {
		ql[i] = make_query(q[i], names[i]);
		struct channel_query cq = {q[i], ql[i], NULL, 0, 0};
		h[i] = channel_send(&f.ch, &cq, (uint64_t)(10 + i), now);
		assert_true(h[i] != 0);
	}
	assert_int_equal(localchan_in_flight(f.lc), 3);
	channel_flush(&f.ch);
	struct sockaddr_storage from[3];
	socklen_t fl[3];
	uint16_t ids[3];
	for (int i = 0; i < 3; i++) {
		size_t n = server_recv(f.server, in, sizeof(in), &from[i], &fl[i]);
		assert_int_equal(n, ql[i]);
		/* the ID in the caller's buffer is the one sent; the rest is the query */
		ids[i] = dnsmsg_get16(in);
		assert_int_equal(ids[i], dnsmsg_get16(q[i]));
		assert_memory_equal(in + 2, q[i] + 2, ql[i] - 2);
	}
	/* one flush, one socket: the same source port */
	assert_int_equal(((struct sockaddr_in *)&from[0])->sin_port, ((struct sockaddr_in *)&from[2])->sin_port);
	/* the answer to query 1 with query 0's ID: another question, dropped */
	uint8_t a[64];
	memcpy(a, q[1], ql[1]);
	dnsmsg_put16(a, ids[0]);
	a[2] |= 0x80;
	sendto(f.server, a, ql[1], 0, (struct sockaddr *)&from[1], fl[1]);
	/* the right answer to query 1 */
	dnsmsg_put16(a, ids[1]);
	sendto(f.server, a, ql[1], 0, (struct sockaddr *)&from[1], fl[1]);
	run_until(f.loop, &got.answers, 1);
	assert_int_equal(got.answers, 1);
	assert_true(got.token == 11);
	assert_true(got.parsed);
	assert_true(got.sent_ns == now);
	assert_int_equal(got.len, ql[1]);
	assert_int_equal(f.st.mismatched_answers, 1);
	assert_int_equal(f.st.unexpected_responses, 1);
	assert_int_equal(f.st.answers, 1);
	assert_true(got.flushes >= 1);
	/* the same answer again: its ID is no longer in flight */
	sendto(f.server, a, ql[1], 0, (struct sockaddr *)&from[1], fl[1]);
	run_until64(f.loop, &f.st.unexpected_responses, 2);
	assert_int_equal(f.st.unexpected_responses, 2);
	assert_int_equal(got.answers, 1);
	/* a cancelled query's answer is unexpected too, and cancel twice is harmless */
	channel_cancel(&f.ch, h[2], 1);
	channel_cancel(&f.ch, h[2], 1);
	channel_cancel(&f.ch, h[1], 0); /* answered: its handle is over */
	memcpy(a, q[2], ql[2]);
	a[2] |= 0x80;
	sendto(f.server, a, ql[2], 0, (struct sockaddr *)&from[2], fl[2]);
	run_until64(f.loop, &f.st.unexpected_responses, 3);
	assert_int_equal(f.st.unexpected_responses, 3);
	assert_int_equal(got.answers, 1);
	assert_int_equal(localchan_in_flight(f.lc), 1);
	/* the next flush takes the other socket */
	uint8_t q4[64];
	size_t l4 = make_query(q4, "dddd");
	struct channel_query cq = {q4, l4, NULL, 0, 0};
	assert_true(channel_send(&f.ch, &cq, 14, now) != 0);
	channel_flush(&f.ch);
	struct sockaddr_storage from4;
	socklen_t fl4;
	server_recv(f.server, in, sizeof(in), &from4, &fl4);
	assert_true(((struct sockaddr_in *)&from4)->sin_port != ((struct sockaddr_in *)&from[0])->sin_port);
	teardown_udp(&f);
}

/* An answer that does not parse but carries the query's question is relayed, unparsed and counted */
static void udp_malformed_answer(void **state)
{
	struct ufix f;
	setup_udp(&f, 1, 5);
	uint8_t q[64], in[512], a[80];
	size_t ql = make_query(q, "m");
	struct channel_query cq = {q, ql, NULL, 0, 0};
	assert_true(channel_send(&f.ch, &cq, 7, clock_mono_ns()) != 0);
	channel_flush(&f.ch);
	struct sockaddr_storage from;
	socklen_t fl;
	server_recv(f.server, in, sizeof(in), &from, &fl);
	memcpy(a, in, ql);
	a[2] |= 0x80;
	a[7] = 1; /* an answer record promised, none there */
	sendto(f.server, a, ql, 0, (struct sockaddr *)&from, fl);
	run_until(f.loop, &got.answers, 1);
	assert_int_equal(got.answers, 1);
	assert_false(got.parsed);
	assert_int_equal(f.st.malformed_responses, 1);
	teardown_udp(&f);
}

/* The sweep fails what was not answered within the timeout, oldest first, and counts it */
static void udp_timeouts(void **state)
{
	struct ufix f;
	setup_udp(&f, 1, 1);
	uint8_t q[4][64];
	uint64_t now = clock_mono_ns();
	for (int i = 0; i < 4; i++) {
		size_t l = make_query(q[i], "t");
		struct channel_query cq = {q[i], l, NULL, 0, 0};
		assert_true(channel_send(&f.ch, &cq, (uint64_t)(1 + i), now + (uint64_t)i * S) != 0);
	}
	channel_flush(&f.ch);
	localchan_sweep(f.lc, now + S - 1);
	assert_int_equal(got.fails, 0);
	localchan_sweep(f.lc, now + 2 * S);
	assert_int_equal(got.fails, 2);
	assert_true(got.failed == (1u << 1 | 1u << 2));
	assert_int_equal(got.why, CHANNEL_TIMEOUT);
	assert_true(got.sent_ns == now + S);
	assert_int_equal(f.st.upstream_timeouts, 2);
	assert_int_equal(localchan_in_flight(f.lc), 2);
	teardown_udp(&f);
}

/* A closed port: the ICMP refusal is reported, once per read that sees it */
static void udp_refused(void **state)
{
	struct ufix f;
	setup_udp(&f, 1, 5);
	close(f.server); /* nobody listens there any more */
	f.server = -1;
	uint8_t q[64];
	size_t l = make_query(q, "r");
	struct channel_query cq = {q, l, NULL, 0, 0};
	assert_true(channel_send(&f.ch, &cq, 3, clock_mono_ns()) != 0);
	channel_flush(&f.ch);
	run_until(f.loop, &got.refusals, 1);
	assert_int_equal(got.refusals, 1);
	/* the next send to the closed port fails at once, or its refusal is reported the same way */
	struct channel_query cq2 = {q, l, NULL, 0, 0};
	assert_true(channel_send(&f.ch, &cq2, 4, clock_mono_ns()) != 0);
	channel_flush(&f.ch);
	run_until(f.loop, &got.refusals, 2);
	if (got.fails) {
		assert_int_equal(got.why, CHANNEL_REFUSED);
		assert_true(got.token == 4);
		assert_int_equal(f.st.send_errors, 1);
	} else {
		assert_int_equal(got.refusals, 2);
	}
	teardown_udp(&f);
}

/*
 * A query cancelled before its flush that then cannot be sent (the
 * refusal of an earlier one is pending on the socket) is no one's to fail
 */
static void udp_cancel_before_flush(void **state)
{
	struct ufix f;
	setup_udp(&f, 1, 5);
	close(f.server);
	f.server = -1;
	uint8_t q1[64], q2[64];
	size_t l1 = make_query(q1, "c1"), l2 = make_query(q2, "c2");
	struct channel_query c1 = {q1, l1, NULL, 0, 0}, c2 = {q2, l2, NULL, 0, 0};
	assert_true(channel_send(&f.ch, &c1, 1, clock_mono_ns()) != 0);
	channel_flush(&f.ch); /* the refusal comes back on the socket; the loop does not read it */
	usleep(50000);
	uint64_t h2 = channel_send(&f.ch, &c2, 2, clock_mono_ns());
	assert_true(h2 != 0);
	channel_cancel(&f.ch, h2, 0);
	channel_flush(&f.ch);
	assert_int_equal(f.st.send_errors, 1); /* the pending refusal failed this send */
	assert_int_equal(got.refusals, 1);
	assert_int_equal(got.fails, 0);
	assert_int_equal(localchan_in_flight(f.lc), 1); /* the first, which no one answers */
	teardown_udp(&f);
}

/* At LOCALCHAN_IDS queries in flight on a socket the next is not sent, and counted */
static void udp_full(void **state)
{
	struct ufix f;
	setup_udp(&f, 1, 5);
	int rcv = 4096;
	setsockopt(f.server, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	assert_int_equal(localchan_capacity(f.lc), LOCALCHAN_IDS);
	static uint8_t q[LOCALCHAN_BATCH][64];
	uint64_t now = clock_mono_ns();
	for (unsigned i = 0; i < LOCALCHAN_IDS; i++) {
		uint8_t *b = q[i % LOCALCHAN_BATCH];
		size_t l = make_query(b, "f");
		struct channel_query cq = {b, l, NULL, 0, 0};
		assert_true(channel_send(&f.ch, &cq, i + 1, now) != 0);
		if (i % LOCALCHAN_BATCH == LOCALCHAN_BATCH - 1)
			channel_flush(&f.ch);
	}
	uint8_t b[64];
	size_t l = make_query(b, "g");
	struct channel_query cq = {b, l, NULL, 0, 0};
	assert_true(channel_send(&f.ch, &cq, 99999, now) == 0);
	assert_int_equal(f.st.overload_drops, 1);
	assert_int_equal(localchan_in_flight(f.lc), LOCALCHAN_IDS);
	/* a query shorter than a header is not sent either */
	struct channel_query tiny = {b, DNS_HDR_LEN - 1, NULL, 0, 0};
	assert_true(channel_send(&f.ch, &tiny, 5, now) == 0);
	teardown_udp(&f);
}

/* Bad configurations are refused with a reason */
static void udp_bad_config(void **state)
{
	char err[256] = "";
	struct netaddr up;
	struct proxy_stats st = {0};
	assert_int_equal(netaddr_parse("127.0.0.1:53", 53, &up), 0);
	struct localchan_config cfg = {.upstream = &up, .sockets = 0, .timeout_ns = S, .st = &st};
	assert_null(localchan_create(NULL, &cfg, &user, err, sizeof(err)));
	assert_non_null(strstr(err, "upstream sockets"));
	cfg.sockets = 257;
	assert_null(localchan_create(NULL, &cfg, &user, err, sizeof(err)));
}

/* ---- a channel over one DNS-over-TCP connection (tcpchan.h) ---- */

/* The channel's connection to lfd (the loop runs meanwhile) */
static int accept_conn(struct ev_loop *loop, int lfd)
{
	int fd = loop_accept(loop, lfd);
	if (fd < 0)
		fail_msg("the channel did not connect");
	return fd;
}

/* Reads n framed messages (the loop runs meanwhile) into msgs[i] (up to 128 bytes each) */
static void read_frames(struct ev_loop *loop, int fd, uint8_t msgs[][128], size_t *lens, int n)
{
	uint8_t buf[4096];
	size_t have = 0;
	int got_n = 0;
	for (int i = 0; i < 200 && got_n < n; i++) {
		ev_run(loop, EVRUN_NOWAIT);
		ssize_t r = recv(fd, buf + have, sizeof(buf) - have, MSG_DONTWAIT);
		if (r > 0)
			have += (size_t)r;
		else
			usleep(5000);
		size_t off = 0;
		while (got_n < n && have - off >= 2 && have - off >= 2u + dnsmsg_get16(buf + off)) {
			size_t l = dnsmsg_get16(buf + off);
			assert_true(l <= 128);
			memcpy(msgs[got_n], buf + off + 2, l);
			lens[got_n++] = l;
			off += 2 + l;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
	}
	assert_int_equal(got_n, n);
}

static void send_frame(int fd, const uint8_t *msg, size_t len)
{
	uint8_t f[160];
	dnsmsg_put16(f, (uint16_t)len);
	memcpy(f + 2, msg, len);
	assert_int_equal(send(fd, f, len + 2, 0), (ssize_t)(len + 2));
}

struct tfix {
	struct ev_loop *loop;
	struct tcpchan *tc;
	struct channel ch;
	struct netaddr srv;
	int lfd;
	uint64_t answers, unexpected, mismatched, malformed, timeouts;
};

static void setup_tcp(struct tfix *f, unsigned max_inflight)
{
	memset(&got, 0, sizeof(got));
	memset(f, 0, sizeof(*f));
	f->loop = ev_loop_new(EVFLAG_AUTO);
	f->lfd = loopback_server(SOCK_STREAM, &f->srv);
	struct tcpchan_config cfg = {
		.server = &f->srv,
		.qseed = 9,
		.max_inflight = max_inflight,
		.count = {&f->answers, &f->unexpected, &f->mismatched, &f->malformed, &f->timeouts}};
	f->tc = tcpchan_create(f->loop, &cfg, &user);
	assert_non_null(f->tc);
	f->ch = tcpchan_channel(f->tc);
}

static void teardown_tcp(struct tfix *f)
{
	tcpchan_destroy(f->tc);
	if (f->lfd >= 0)
		close(f->lfd);
	ev_loop_destroy(f->loop);
}

static uint64_t tcp_query(struct tfix *f, uint8_t *buf, const char *name, uint64_t token, uint64_t now)
{
	size_t l = make_query(buf, name);
	struct channel_query cq = {buf, l, NULL, 1, 0};
	return channel_send(&f->ch, &cq, token, now);
}

/*
 * Pipelined queries, each with an ID of the channel's (the caller's buffer
 * unchanged), answered out of order; another question or an unknown ID is
 * counted and dropped
 */
static void tcp_pipelined(void **state)
{
	struct tfix f;
	setup_tcp(&f, 8);
	uint8_t q[3][64];
	const char *names[3] = {"one", "two", "three"};
	uint64_t now = clock_mono_ns(), h[3];
	for (int i = 0; i < 3; i++)
		assert_true((h[i] = tcp_query(&f, q[i], names[i], (uint64_t)(1 + i), now + (uint64_t)i)) != 0);
	assert_int_equal(tcpchan_in_flight(f.tc), 3);
	assert_int_equal(dnsmsg_get16(q[0]), 0xabcd); /* the caller's ID stays */
	int c = accept_conn(f.loop, f.lfd);
	uint8_t m[3][128];
	size_t ml[3];
	read_frames(f.loop, c, m, ml, 3);
	assert_true(dnsmsg_get16(m[0]) != dnsmsg_get16(m[1]) && dnsmsg_get16(m[1]) != dnsmsg_get16(m[2]) &&
		    dnsmsg_get16(m[0]) != dnsmsg_get16(m[2]));
	for (int i = 0; i < 3; i++)
		assert_memory_equal(m[i] + 2, q[i] + 2, ml[i] - 2);
	for (int i = 0; i < 3; i++)
		m[i][2] |= 0x80;
	/* "two"'s answer with "three"'s ID: another question */
	uint8_t wrong[128];
	memcpy(wrong, m[1], ml[1]);
	dnsmsg_put16(wrong, dnsmsg_get16(m[2]));
	send_frame(c, wrong, ml[1]);
	/* an ID nothing has */
	uint8_t stray[128];
	memcpy(stray, m[0], ml[0]);
	dnsmsg_put16(stray, (uint16_t)(dnsmsg_get16(m[0]) ^ dnsmsg_get16(m[1]) ^ dnsmsg_get16(m[2]) ^ 1));
	if (dnsmsg_get16(stray) != dnsmsg_get16(m[0]) && dnsmsg_get16(stray) != dnsmsg_get16(m[1]) &&
	    dnsmsg_get16(stray) != dnsmsg_get16(m[2]))
		send_frame(c, stray, ml[0]);
	else
		f.unexpected++; /* the one ID in 65536 that would collide: counted as if sent */
	/* the answers, last first */
	send_frame(c, m[2], ml[2]);
	send_frame(c, m[0], ml[0]);
	run_until(f.loop, &got.answers, 2);
	assert_int_equal(got.answers, 2);
	assert_true(got.answered == (1u << 1 | 1u << 3));
	assert_true(got.parsed);
	assert_int_equal(f.answers, 2);
	assert_int_equal(f.mismatched, 1);
	assert_int_equal(f.unexpected, 2);
	assert_true(got.flushes >= 1);
	assert_int_equal(tcpchan_in_flight(f.tc), 1);
	channel_cancel(&f.ch, 0x7fffffffull << 32, 0); /* a handle never given: ignored */
	channel_cancel(&f.ch, h[0], 0);                 /* answered: ignored */
	assert_int_equal(tcpchan_in_flight(f.tc), 1);
	/* a cancelled query's answer is unexpected */
	channel_cancel(&f.ch, h[1], 0);
	assert_int_equal(tcpchan_in_flight(f.tc), 0);
	send_frame(c, m[1], ml[1]);
	run_until64(f.loop, &f.unexpected, 3);
	assert_int_equal(f.unexpected, 3);
	assert_int_equal(got.answers, 2);
	close(c);
	teardown_tcp(&f);
}

/* The server closes: every query in flight fails, then the next send opens a new connection */
static void tcp_server_closes(void **state)
{
	struct tfix f;
	setup_tcp(&f, 8);
	uint8_t q[2][64];
	uint64_t now = clock_mono_ns();
	assert_true(tcp_query(&f, q[0], "a", 1, now) != 0);
	assert_true(tcp_query(&f, q[1], "b", 2, now) != 0);
	int c = accept_conn(f.loop, f.lfd);
	uint8_t m[2][128];
	size_t ml[2];
	read_frames(f.loop, c, m, ml, 2);
	close(c);
	run_until(f.loop, &got.fails, 2);
	assert_int_equal(got.fails, 2);
	assert_true(got.failed == (1u << 1 | 1u << 2));
	assert_int_equal(got.why, CHANNEL_UNSENT);
	assert_int_equal(tcpchan_in_flight(f.tc), 0);
	assert_true(got.flushes >= 1);
	/* again: a new connection */
	uint8_t q3[64];
	assert_true(tcp_query(&f, q3, "c", 3, now) != 0);
	int c2 = accept_conn(f.loop, f.lfd);
	read_frames(f.loop, c2, m, ml, 1);
	m[0][2] |= 0x80;
	send_frame(c2, m[0], ml[0]);
	run_until(f.loop, &got.answers, 1);
	assert_true(got.answered == 1u << 3);
	close(c2);
	teardown_tcp(&f);
}

/* Nobody listens: the refusal is reported, and the query fails or is not sent */
static void tcp_refused(void **state)
{
	struct tfix f;
	setup_tcp(&f, 8);
	close(f.lfd);
	f.lfd = -1;
	uint8_t q[64];
	uint64_t h = tcp_query(&f, q, "r", 5, clock_mono_ns());
	if (h) {
		run_until(f.loop, &got.fails, 1);
		assert_int_equal(got.fails, 1);
		assert_int_equal(got.why, CHANNEL_REFUSED);
	}
	assert_int_equal(got.refusals, 1);
	assert_int_equal(tcpchan_in_flight(f.tc), 0);
	teardown_tcp(&f);
}

/* The sweep fails the queries past the timeout and counts them; the limit holds */
static void tcp_timeouts_and_limit(void **state)
{
	struct tfix f;
	setup_tcp(&f, 2);
	uint8_t q[3][64];
	uint64_t now = clock_mono_ns();
	uint64_t h1 = tcp_query(&f, q[0], "x", 1, now);
	assert_true(h1 != 0);
	assert_true(tcp_query(&f, q[1], "y", 2, now + S) != 0);
	assert_true(tcp_query(&f, q[2], "z", 3, now) == 0); /* max_inflight 2 */
	tcpchan_sweep(f.tc, now + S, S);
	assert_int_equal(got.fails, 1);
	assert_true(got.failed == 1u << 1);
	assert_int_equal(got.why, CHANNEL_TIMEOUT);
	assert_int_equal(f.timeouts, 1);
	channel_cancel(&f.ch, h1, 0); /* ended already: ignored */
	assert_int_equal(tcpchan_in_flight(f.tc), 1);
	assert_true(tcp_query(&f, q[2], "z", 3, now) != 0);
	int c = accept_conn(f.loop, f.lfd);
	close(c);
	teardown_tcp(&f);
}

/* A callback that destroys the channel: no callback after it, nothing used after free (ASan) */
static void tcp_destroy_in_callback(void **state)
{
	struct tfix f;
	setup_tcp(&f, 8);
	uint8_t q[2][64];
	uint64_t now = clock_mono_ns();
	assert_true(tcp_query(&f, q[0], "d", 1, now) != 0);
	assert_true(tcp_query(&f, q[1], "e", 2, now) != 0);
	int c = accept_conn(f.loop, f.lfd);
	uint8_t m[2][128];
	size_t ml[2];
	read_frames(f.loop, c, m, ml, 2);
	m[0][2] |= 0x80;
	m[1][2] |= 0x80;
	/* both answers in one write: one read hands both over */
	uint8_t two[300];
	dnsmsg_put16(two, (uint16_t)ml[0]);
	memcpy(two + 2, m[0], ml[0]);
	dnsmsg_put16(two + 2 + ml[0], (uint16_t)ml[1]);
	memcpy(two + 4 + ml[0], m[1], ml[1]);
	got.destroy_in_answer = f.tc;
	assert_int_equal(send(c, two, ml[0] + ml[1] + 4, 0), (ssize_t)(ml[0] + ml[1] + 4));
	run_until(f.loop, &got.answers, 1);
	for (int i = 0; i < 10; i++)
		ev_run(f.loop, EVRUN_NOWAIT), usleep(10000);
	assert_int_equal(got.answers, 1);
	assert_int_equal(got.fails, 0);
	assert_int_equal(got.flushes, 0);
	close(c);
	f.tc = NULL;
	teardown_tcp(&f);
}

static void tcp_bad_config(void **state)
{
	struct netaddr a;
	assert_int_equal(netaddr_parse("127.0.0.1:53", 53, &a), 0);
	struct tcpchan_config cfg = {.server = &a, .max_inflight = 0};
	assert_null(tcpchan_create(NULL, &cfg, &user));
	cfg.max_inflight = TCPCHAN_MAX_INFLIGHT + 1;
	assert_null(tcpchan_create(NULL, &cfg, &user));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(udp_match),
		cmocka_unit_test(udp_malformed_answer),
		cmocka_unit_test(udp_timeouts),
		cmocka_unit_test(udp_refused),
		cmocka_unit_test(udp_cancel_before_flush),
		cmocka_unit_test(udp_full),
		cmocka_unit_test(udp_bad_config),
		cmocka_unit_test(tcp_pipelined),
		cmocka_unit_test(tcp_server_closes),
		cmocka_unit_test(tcp_refused),
		cmocka_unit_test(tcp_timeouts_and_limit),
		cmocka_unit_test(tcp_destroy_in_callback),
		cmocka_unit_test(tcp_bad_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
