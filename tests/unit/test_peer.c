/* test_peer.c: warm peers (peer.h): the channel to the peers on loopback, with the shield's mode and the warmed names (router.h's policy: test_router) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dnsquery.h"
#include "loopaccept.h"

#include "base/clock.h"
#include "proxy/peer.h"
#include "proxy/proxy_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#define S 1000000000ull
#define MS 1000000ull

/* peers_mode with the auto-warm's phase at phase */
static enum peer_mode mode_at(struct peers *ps, int phase, uint64_t now_ns)
{
	static atomic_int ph;
	atomic_store(&ph, phase);
	return peers_mode(ps, &ph, now_ns);
}

/* The forwarder against a UDP socket of the test's */

static uint64_t got_token, failed_token;
static size_t got_len;
static int answers, fails;

static uint64_t answered_tokens; /* bit t for each token t < 64 answered */

static void on_answer(void *ctx, uint64_t token, uint8_t *pkt, size_t len,
		      const struct dns_msg_info *r, uint64_t sent_ns, uint64_t now_ns)
{
	assert_null(r); /* the peers do not parse what they relay */
	assert_true(sent_ns > 0);
	got_token = token;
	got_len = len;
	answers++;
	if (token < 64)
		answered_tokens |= 1ull << token;
}

static void on_fail(void *ctx, uint64_t token, enum channel_failure why, const uint8_t *pkt,
		    size_t len, uint64_t sent_ns, uint64_t now_ns)
{
	assert_int_equal(why, CHANNEL_TIMEOUT);
	assert_null(pkt);
	failed_token = token;
	fails++;
}

static uint64_t hedge_token;
static int hedges;

static void on_hedge(void *ctx, uint64_t token, uint8_t *pkt, size_t len)
{
	hedge_token = token;
	hedges++;
}

static int bind_peer(char *addr, size_t size)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	snprintf(addr, size, "127.0.0.1:%d", ntohs(sin.sin_port));
	return fd;
}

/*
 * A peer on UDP and TCP with the same port: the UDP socket's port, found free,
 * may be taken over TCP by another program (tests run in parallel), so another
 * port is taken until both bind. Returns the UDP socket, the listening one in *lfd.
 */
static int bind_peer_both(char *addr, size_t size, int *lfd)
{
	for (int i = 0; i < 100; i++) {
		int pfd = bind_peer(addr, size);
		struct sockaddr_in sin;
		socklen_t sl = sizeof(sin);
		assert_int_equal(getsockname(pfd, (struct sockaddr *)&sin, &sl), 0);
		int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
		assert_true(fd >= 0);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0) {
			assert_int_equal(listen(fd, 4), 0);
			*lfd = fd;
			return pfd;
		}
		assert_int_equal(errno, EADDRINUSE);
		close(fd);
		close(pfd);
	}
	fail_msg("no port free over both UDP and TCP in 100 tries");
	return -1;
}

/* Runs the loop until cond or about a second passed */
static void run_until(struct ev_loop *loop, int *counter, int want)
{
	for (int i = 0; i < 100 && *counter < want; i++)
		ev_run(loop, EVRUN_NOWAIT), usleep(10000);
}

/* parses a query or an answer made by make_query (rcode in the answer's header) */
static void parsed(uint8_t *pkt, size_t len, int answer, int rcode, struct dns_msg_info *m)
{
	if (answer) {
		pkt[2] |= 0x80;
		pkt[3] = (uint8_t)((pkt[3] & 0xf0) | rcode);
	}
	assert_int_equal(dnsmsg_parse(pkt, len, m), DNS_OK);
}

/*
 * While warming, a query for a name the local Recursor has not answered
 * since the shield started goes to a peer at once (PEER_COLD); once it
 * answered NOERROR or NXDOMAIN (or the auto-warm added the name), the hedge
 * delay applies; a new shield forgets the names.
 */
static void cold_names(void **state)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	char addr[64], *list[1] = {addr}, err[256];
	int pfd = bind_peer(addr, sizeof(addr));
	struct peer_stats st = {0};
	struct warmset *w = warmset_create(5);
	struct peer_config cfg = {.peers = list,
				  .npeers = 1,
				  .hedge_delay = 0.05,
				  .shield_max = 100,
				  .timeout = 0.3,
				  .max_qps = 1000,
				  .max_inflight = 100,
				  .warmed = w};
	struct peer_callbacks cb = {{on_answer, on_fail, NULL, NULL, NULL}, on_hedge};
	struct peers *ps = peers_create(loop, &cfg, &cb, 0x1234, &st, err, sizeof(err));
	assert_non_null(ps);
	uint8_t a[64], b[64], c[64];
	size_t al = make_query(a, "a"), bl = make_query(b, "b"), cl = make_query(c, "c");
	struct dns_msg_info qa, qb, qc, r;
	parsed(a, al, 0, 0, &qa);
	parsed(b, bl, 0, 0, &qb);
	parsed(c, cl, 0, 0, &qc);
	uint64_t now = clock_mono_ns();
	/* an answer before any shield warms nothing */
	uint8_t ans[64];
	memcpy(ans, a, al);
	parsed(ans, al, 1, 0, &r);
	peers_local_answer(ps, &r);
	assert_int_equal(warmset_count(w), 0);
	/* a warm name from before: the shield's start forgets it */
	warmset_add(w, warmset_key(w, qc.qname, qc.qname_len, qc.qtype));
	assert_int_equal(mode_at(ps, REC_PHASE_DOWN, now), PEER_NOW);
	assert_int_equal(warmset_count(w), 0);
	assert_true(peers_name_cold(ps, &qc));
	/* back and warming: every name is cold */
	assert_int_equal(mode_at(ps, REC_PHASE_WARMING, now + 1 * S), PEER_HEDGE);
	assert_true(peers_name_cold(ps, &qa));
	assert_false(peers_name_cold(ps, NULL)); /* a query that did not parse waits for the hedge */
	/* the local Recursor answers a NOERROR: warmed */
	peers_local_answer(ps, &r);
	assert_false(peers_name_cold(ps, &qa));
	/* a SERVFAIL warms nothing, an NXDOMAIN does */
	memcpy(ans, b, bl);
	parsed(ans, bl, 1, 2, &r);
	peers_local_answer(ps, &r);
	assert_true(peers_name_cold(ps, &qb));
	memcpy(ans, b, bl);
	parsed(ans, bl, 1, 3, &r);
	peers_local_answer(ps, &r);
	assert_false(peers_name_cold(ps, &qb));
	/* the auto-warm's replay adds c */
	warmset_add(w, warmset_key(w, qc.qname, qc.qname_len, qc.qtype));
	assert_false(peers_name_cold(ps, &qc));
	/* a cold query sent counts in sent_cold */
	uint8_t d[64], in[512];
	size_t dl = make_query(d, "d");
	struct dns_msg_info qd;
	parsed(d, dl, 0, 0, &qd);
	assert_true(peers_name_cold(ps, &qd));
	assert_true(peers_send(ps, d, dl, 0, 7, PEER_COLD, now + 1 * S) != 0);
	assert_int_equal(st.sent_cold, 1);
	assert_int_equal(st.sent_warming, 0);
	assert_int_equal(recv(pfd, in, sizeof(in), 0), (ssize_t)dl);
	/* the warm-up ends: the shield too; the next one starts with nothing warmed */
	assert_int_equal(mode_at(ps, REC_PHASE_IDLE, now + 2 * S), PEER_OFF);
	assert_int_equal(mode_at(ps, REC_PHASE_DOWN, now + 3 * S), PEER_NOW);
	assert_true(peers_name_cold(ps, &qa));
	assert_true(peers_name_cold(ps, &qc));
	peers_destroy(ps);
	warmset_destroy(w);
	close(pfd);
	ev_loop_destroy(loop);
}

/* One peer on a loopback socket (fd), its forwarder on loop, the counters in st */
struct one_peer {
	struct ev_loop *loop;
	char addr[64];
	int fd;
	struct peer_stats st;
	struct peers *ps;
};

static void one_peer_start(struct one_peer *t)
{
	char *list[1] = {t->addr}, err[256];
	t->loop = ev_loop_new(EVFLAG_AUTO);
	t->fd = bind_peer(t->addr, sizeof(t->addr));
	memset(&t->st, 0, sizeof(t->st));
	struct peer_config cfg = {.peers = list, .npeers = 1, .hedge_delay = 0.05, .shield_max = 100,
				  .timeout = 1, .max_qps = 1000, .max_inflight = 100};
	struct peer_callbacks cb = {{on_answer, on_fail, NULL, NULL, NULL}, on_hedge};
	t->ps = peers_create(t->loop, &cfg, &cb, 0x1234, &t->st, err, sizeof(err));
	assert_non_null(t->ps);
}

static void one_peer_stop(struct one_peer *t)
{
	peers_destroy(t->ps);
	close(t->fd);
	ev_loop_destroy(t->loop);
}

/*
 * A peer's SERVFAIL, REFUSED, NOTIMP, FORMERR or an answer without RA (an
 * echo of the query) never reaches the client: the query fails (the local
 * Recursor may still answer), counted as rejected, and three in a row
 * bench the peer like timeouts
 */
static void error_answers(void **state)
{
	struct one_peer t;
	one_peer_start(&t);
	struct ev_loop *loop = t.loop;
	struct peers *ps = t.ps;
	struct peer_stats *st = &t.st;
	int pfd = t.fd;
	answers = fails = 0;
	uint8_t q[64], in[512];
	size_t ql = make_query(q, "a");
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	/* rcode (low 4 bits of byte 3) and RA of each answer: a good one (NXDOMAIN) after every
	 * two bad ones, which ends their run; the last three bad ones in a row bench the peer */
	const struct {
		int rcode, ra;
	} ans[] = {{2, 1}, {5, 1}, {3, 1}, {0, 0}, {4, 1}, {3, 1}, {1, 1}, {2, 1}, {0, 0}};
	int good = 0, bad = 0;
	for (size_t i = 0; i < sizeof(ans) / sizeof(ans[0]); i++) {
		int ok = ans[i].rcode == 3 && ans[i].ra;
		assert_true(peers_send(ps, q, ql, 0, 100 + i, PEER_NOW, clock_mono_ns()) != 0);
		ssize_t n = recvfrom(pfd, in, sizeof(in), 0, (struct sockaddr *)&from, &fl);
		assert_int_equal(n, (ssize_t)ql);
		in[2] |= 0x80;
		in[3] = (uint8_t)((ans[i].ra ? 0x80 : 0) | ans[i].rcode);
		sendto(pfd, in, (size_t)n, 0, (struct sockaddr *)&from, fl);
		good += ok;
		bad += !ok;
		if (ok)
			run_until(loop, &answers, good);
		else
			run_until(loop, &fails, bad);
		assert_int_equal(answers, good);
		assert_int_equal(fails, bad);
		assert_int_equal(st->benched, i == sizeof(ans) / sizeof(ans[0]) - 1);
	}
	assert_int_equal(st->rejected, 7);
	assert_int_equal(st->failed, 7);
	assert_int_equal(st->first, 2);
	assert_int_equal(st->in_flight, 0);
	one_peer_stop(&t);
}

/*
 * A query with EDNS goes to the peer with the peer marker; a proxy that
 * gets a marked query from a client (a peer proxy) never sends it to a peer
 */
static void loop_marker(void **state)
{
	struct one_peer t;
	one_peer_start(&t);
	uint8_t q[512], in[600];
	int ql = dnsmsg_make_query(0x4242, (const uint8_t *)"\1a\0", 3, 1, 0, q, sizeof(q));
	struct dns_msg_info m;
	assert_int_equal(dnsmsg_parse(q, (size_t)ql, &m), DNS_OK);
	assert_false(peers_from_peer(t.ps, &m)); /* a client's own query */
	assert_true(peers_send(t.ps, q, (size_t)ql, 0, 9, PEER_NOW, clock_mono_ns()) != 0);
	ssize_t n = recv(t.fd, in, sizeof(in), 0);
	assert_int_equal(n, ql + 4);
	assert_int_equal(dnsmsg_parse(in, (size_t)n, &m), DNS_OK);
	assert_true(m.peer_marker);
	/* that query reaching a proxy that has peers: not sent on, counted */
	assert_true(peers_from_peer(t.ps, &m));
	assert_int_equal(t.st.from_peer, 1);
	assert_false(peers_from_peer(t.ps, NULL));
	one_peer_stop(&t);
}

/*
 * Forging a peer's answer takes guessing a port and an ID per query: each
 * query has its own socket (source port), and identical questions in
 * flight go once (the others wait for that answer)
 */
static void ports_and_coalescing(void **state)
{
	struct one_peer t;
	one_peer_start(&t);
	uint8_t q[64], in[512];
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	/* 20 questions in flight at once: 20 source ports */
	int ports[20], distinct = 0;
	for (int i = 0; i < 20; i++) {
		char label[8];
		snprintf(label, sizeof(label), "p%d", i);
		size_t l = make_query(q, label);
		assert_true(peers_send(t.ps, q, l, 0, 100 + (uint64_t)i, PEER_NOW, clock_mono_ns()) != 0);
		assert_int_equal(recvfrom(t.fd, in, sizeof(in), 0, (struct sockaddr *)&from, &fl), (ssize_t)l);
		ports[i] = ntohs(((struct sockaddr_in *)&from)->sin_port);
		int seen = 0;
		for (int k = 0; k < i; k++)
			seen |= ports[k] == ports[i];
		distinct += !seen;
	}
	printf("    20 queries in flight from %d source ports\n", distinct);
	assert_int_equal(distinct, 20);
	assert_int_equal(t.st.in_flight, 20);
	one_peer_stop(&t);

	/* one question asked by four clients: sent once; the answer goes to all but the one that went */
	one_peer_start(&t);
	answers = fails = 0;
	answered_tokens = 0;
	size_t ql = make_query(q, "same");
	uint64_t h1 = peers_send(t.ps, q, ql, 0, 1, PEER_NOW, clock_mono_ns());
	uint64_t h2 = peers_send(t.ps, q, ql, 0, 2, PEER_NOW, clock_mono_ns());
	uint64_t h3 = peers_send(t.ps, q, ql, 0, 3, PEER_NOW, clock_mono_ns());
	uint64_t h4 = peers_send(t.ps, q, ql, 0, 4, PEER_NOW, clock_mono_ns());
	assert_true(h1 && h2 && h3 && h4);
	assert_int_equal(t.st.coalesced, 3);
	assert_int_equal(t.st.sent_down, 1);
	assert_int_equal(t.st.in_flight, 1);
	ssize_t n = recvfrom(t.fd, in, sizeof(in), 0, (struct sockaddr *)&from, &fl);
	assert_int_equal(n, (ssize_t)ql);
	assert_int_equal(recv(t.fd, in + 256, 256, MSG_DONTWAIT), -1); /* nothing more was sent */
	peers_cancel(t.ps, h3, 1); /* its client got the local answer */
	peers_cancel(t.ps, h1, 1); /* the one sent: the query goes on for the others */
	assert_int_equal(t.st.in_flight, 1);
	answer_bits(in);
	sendto(t.fd, in, (size_t)n, 0, (struct sockaddr *)&from, fl);
	run_until(t.loop, &answers, 2);
	assert_int_equal(answers, 2);
	assert_true(answered_tokens == ((1ull << 2) | (1ull << 4)));
	assert_int_equal(t.st.first, 2);
	assert_int_equal(t.st.lost_race, 2);
	assert_int_equal(t.st.in_flight, 0);
	/* stale handles do nothing */
	peers_cancel(t.ps, h2, 1);
	peers_cancel(t.ps, h1, 1);
	assert_int_equal(t.st.lost_race, 2);
	/* unanswered: the one sent and the one waiting both fail at the timeout */
	assert_true(peers_send(t.ps, q, ql, 0, 5, PEER_NOW, clock_mono_ns()) != 0);
	assert_true(peers_send(t.ps, q, ql, 0, 6, PEER_NOW, clock_mono_ns()) != 0);
	assert_int_equal(t.st.coalesced, 4);
	for (int i = 0; i < 300 && fails < 2; i++) /* the 1 s timeout, and a margin */
		ev_run(t.loop, EVRUN_NOWAIT), usleep(10000);
	assert_int_equal(fails, 2);
	assert_int_equal(t.st.in_flight, 0);
	/* what shapes the answer must be the same: CD, the name's case, EDNS */
	uint64_t sent = t.st.sent_down;
	assert_true(peers_send(t.ps, q, ql, 0, 9, PEER_NOW, clock_mono_ns()) != 0);
	uint8_t v[64];
	memcpy(v, q, ql);
	v[3] |= 0x10; /* CD: the peer would not validate its answer */
	assert_true(peers_send(t.ps, v, ql, 0, 10, PEER_NOW, clock_mono_ns()) != 0);
	memcpy(v, q, ql);
	v[DNS_HDR_LEN + 1] = 'S'; /* "Same": another case */
	assert_true(peers_send(t.ps, v, ql, 0, 11, PEER_NOW, clock_mono_ns()) != 0);
	uint8_t e[128];
	int el = dnsmsg_make_query(0x1111, q + DNS_HDR_LEN, ql - DNS_HDR_LEN - 4, 1, 0, e, sizeof(e));
	assert_true(el > 0 && peers_send(t.ps, e, (size_t)el, 0, 12, PEER_NOW, clock_mono_ns()) != 0);
	assert_int_equal(t.st.sent_down, sent + 4);
	assert_int_equal(t.st.coalesced, 4);
	/* a TCP client's query is never coalesced */
	assert_true(peers_send(t.ps, q, ql, 1, 7, PEER_NOW, clock_mono_ns()) != 0);
	assert_true(peers_send(t.ps, q, ql, 1, 8, PEER_NOW, clock_mono_ns()) != 0);
	assert_int_equal(t.st.coalesced, 4);
	assert_int_equal(t.st.in_flight, 6);
	one_peer_stop(&t);
}

static void forwarder(void **state)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	char addr[64], *list[1] = {addr}, err[256];
	int pfd = bind_peer(addr, sizeof(addr));
	struct peer_stats st = {0};
	struct peer_config cfg = {.peers = list,
				  .npeers = 1,
				  .hedge_delay = 0.01,
				  .shield_max = 10,
				  .timeout = 0.3,
				  .max_qps = 1000,
				  .max_inflight = 2};
	struct peer_callbacks cb = {{on_answer, on_fail, NULL, NULL, NULL}, on_hedge};
	struct peers *ps = peers_create(loop, &cfg, &cb, 0x1234, &st, err, sizeof(err));
	assert_non_null(ps);
	uint8_t q[64], in[512];
	size_t ql = make_query(q, "a");
	uint64_t h = peers_send(ps, q, ql, 0, 42, PEER_NOW, clock_mono_ns());
	assert_true(h != 0);
	assert_int_equal(st.sent_down, 1);
	assert_int_equal(st.in_flight, 1);
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	ssize_t n = recvfrom(pfd, in, sizeof(in), 0, (struct sockaddr *)&from, &fl);
	assert_int_equal(n, (ssize_t)ql);
	/* the same query but for the ID */
	assert_memory_equal(in + 2, q + 2, ql - 2);
	/* an answer for another question is dropped */
	uint8_t other[64];
	size_t ol = make_query(other, "b");
	memcpy(other, in, 2);
	answer_bits(other);
	sendto(pfd, other, ol, 0, (struct sockaddr *)&from, fl);
	/* the right one goes to the callback */
	answer_bits(in);
	sendto(pfd, in, (size_t)n, 0, (struct sockaddr *)&from, fl);
	run_until(loop, &answers, 1);
	assert_int_equal(answers, 1);
	assert_true(got_token == 42);
	assert_int_equal(got_len, ql);
	assert_int_equal(st.first, 1);
	assert_int_equal(st.unexpected, 1);
	assert_int_equal(st.in_flight, 0);
	/* a cancelled query's socket is closed: its answer reaches nothing; a stale handle is ignored */
	h = peers_send(ps, q, ql, 0, 43, PEER_HEDGE, clock_mono_ns());
	n = recvfrom(pfd, in, sizeof(in), 0, (struct sockaddr *)&from, &fl);
	peers_cancel(ps, h, 1);
	peers_cancel(ps, h, 1);
	assert_int_equal(st.lost_race, 1);
	assert_int_equal(st.sent_warming, 1);
	assert_int_equal(st.in_flight, 0);
	answer_bits(in);
	sendto(pfd, in, (size_t)n, 0, (struct sockaddr *)&from, fl);
	for (int i = 0; i < 5; i++)
		ev_run(loop, EVRUN_NOWAIT), usleep(10000);
	assert_int_equal(answers, 1);
	/* in flight at most 2 (other questions: the same one would wait for the first) */
	uint8_t q2[64], q3[64];
	size_t q2l = make_query(q2, "c"), q3l = make_query(q3, "d");
	assert_true(peers_send(ps, q, ql, 0, 1, PEER_NOW, clock_mono_ns()) != 0);
	assert_true(peers_send(ps, q2, q2l, 0, 2, PEER_NOW, clock_mono_ns()) != 0);
	assert_true(peers_send(ps, q3, q3l, 0, 3, PEER_NOW, clock_mono_ns()) == 0);
	assert_int_equal(st.limited_inflight, 1);
	assert_int_equal(st.in_flight_max, 2);
	/* unanswered: both fail after the timeout; three in a row bench the peer */
	run_until(loop, &fails, 2);
	assert_int_equal(fails, 2);
	assert_int_equal(st.failed, 2);
	assert_int_equal(st.benched, 0);
	/* the peer goes away: ICMP refused benches it at once */
	close(pfd);
	peers_send(ps, q, ql, 0, 4, PEER_NOW, clock_mono_ns());
	for (int i = 0; i < 20 && !st.benched; i++) {
		ev_run(loop, EVRUN_NOWAIT), usleep(10000);
		if (!st.benched)
			peers_send(ps, q, ql, 0, 5, PEER_NOW, clock_mono_ns());
	}
	assert_int_equal(st.benched, 1);
	uint64_t sent = st.sent_down;
	assert_true(peers_send(ps, q, ql, 0, 6, PEER_NOW, clock_mono_ns()) == 0);
	assert_int_equal(st.sent_down, sent);
	assert_true(st.no_peer >= 1);
	peers_destroy(ps);
	ev_loop_destroy(loop);
}

static void hedge_queue(void **state)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	char addr[64], *list[1] = {addr}, err[256];
	int pfd = bind_peer(addr, sizeof(addr));
	struct peer_stats st = {0};
	struct peer_config cfg = {.peers = list,
				  .npeers = 1,
				  .hedge_delay = 0.02,
				  .shield_max = 10,
				  .timeout = 1,
				  .max_qps = 1000,
				  .max_inflight = 10};
	struct peer_callbacks cb = {{on_answer, on_fail, NULL, NULL, NULL}, on_hedge};
	struct peers *ps = peers_create(loop, &cfg, &cb, 1, &st, err, sizeof(err));
	assert_non_null(ps);
	uint8_t q[64], big[PEER_QMAX + 1] = {0};
	size_t ql = make_query(q, "a");
	uint64_t now = clock_mono_ns();
	uint64_t h1 = peers_hedge(ps, q, ql, 1, now);
	uint64_t h2 = peers_hedge(ps, q, ql, 2, now);
	assert_true(h1 && h2 && peers_handle_queued(h1));
	peers_cancel(ps, h1, 0);
	/* too big to be copied: not hedged, counted */
	assert_true(peers_hedge(ps, big, sizeof(big), 3, 0) == 0);
	assert_int_equal(st.limited_queue, 1);
	/* after the delay, only the one not cancelled comes back */
	run_until(loop, &hedges, 2);
	assert_int_equal(hedges, 1);
	assert_true(hedge_token == 2);
	peers_destroy(ps);
	close(pfd);
	ev_loop_destroy(loop);
}

/* A TCP client's query that the peer truncates over UDP is asked again over TCP */
static void truncated_to_tcp(void **state)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	char addr[64], *list[1] = {addr}, err[256];
	int lfd = -1;
	int pfd = bind_peer_both(addr, sizeof(addr), &lfd);
	struct peer_stats st = {0};
	struct peer_config cfg = {.peers = list,
				  .npeers = 1,
				  .hedge_delay = 0,
				  .shield_max = 10,
				  .timeout = 1,
				  .max_qps = 1000,
				  .max_inflight = 10};
	struct peer_callbacks cb = {{on_answer, on_fail, NULL, NULL, NULL}, on_hedge};
	struct peers *ps = peers_create(loop, &cfg, &cb, 7, &st, err, sizeof(err));
	assert_non_null(ps);
	uint8_t q[64], in[512];
	size_t ql = make_query(q, "big");
	answers = fails = 0;
	assert_true(peers_send(ps, q, ql, 1, 77, PEER_NOW, clock_mono_ns()) != 0);
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	ssize_t n = recvfrom(pfd, in, sizeof(in), 0, (struct sockaddr *)&from, &fl);
	assert_int_equal(n, (ssize_t)ql);
	uint16_t id = dnsmsg_get16(in);
	answer_bits(in);
	in[2] |= 0x02; /* TC */
	sendto(pfd, in, (size_t)n, 0, (struct sockaddr *)&from, fl);
	/* the same query, framed over TCP */
	int afd = loop_accept(loop, lfd);
	assert_true(afd >= 0);
	uint8_t tq[600];
	size_t got = 0;
	for (int i = 0; i < 100 && got < ql + 2; i++) {
		ev_run(loop, EVRUN_NOWAIT);
		ssize_t r = recv(afd, tq + got, sizeof(tq) - got, MSG_DONTWAIT);
		if (r > 0)
			got += (size_t)r;
		else
			usleep(10000);
	}
	assert_int_equal(got, ql + 2);
	assert_int_equal(dnsmsg_get16(tq), ql);
	(void)id; /* the TCP connection's own ID (tcpchan.h) */
	assert_memory_equal(tq + 4, q + 2, ql - 2);
	/* an answer to another question with that ID is not taken (counted), the query still waits */
	uint8_t other[64];
	size_t ol = make_query(other, "bug");
	answer_bits(other);
	uint8_t framed[80];
	dnsmsg_put16(framed, (uint16_t)ol);
	memcpy(framed + 2, other, ol);
	dnsmsg_put16(framed + 2, dnsmsg_get16(tq + 2));
	uint64_t unexpected = st.unexpected;
	assert_int_equal(send(afd, framed, ol + 2, 0), (ssize_t)(ol + 2));
	for (int i = 0; i < 100 && st.unexpected == unexpected; i++)
		ev_run(loop, EVRUN_NOWAIT), usleep(10000);
	assert_int_equal(st.unexpected, unexpected + 1);
	assert_int_equal(answers, 0);
	/* the whole answer over TCP goes to the callback */
	answer_bits(tq + 2);
	assert_int_equal(send(afd, tq, ql + 2, 0), (ssize_t)(ql + 2));
	run_until(loop, &answers, 1);
	assert_int_equal(answers, 1);
	assert_true(got_token == 77);
	assert_int_equal(got_len, ql);
	assert_int_equal(st.truncated, 1);
	assert_int_equal(st.first, 1);
	assert_int_equal(st.failed, 0);
	assert_int_equal(st.in_flight, 0);
	/* a UDP client's truncated answer is relayed as it is (its client retries over TCP) */
	assert_true(peers_send(ps, q, ql, 0, 78, PEER_NOW, clock_mono_ns()) != 0);
	n = recvfrom(pfd, in, sizeof(in), 0, (struct sockaddr *)&from, &fl);
	answer_bits(in);
	in[2] |= 0x02;
	sendto(pfd, in, (size_t)n, 0, (struct sockaddr *)&from, fl);
	run_until(loop, &answers, 2);
	assert_int_equal(answers, 2);
	assert_true(got_token == 78);
	/* peers_destroy closes a TCP fallback under way (the sanitizer build checks for leaks) */
	assert_true(peers_send(ps, q, ql, 1, 79, PEER_NOW, clock_mono_ns()) != 0);
	n = recvfrom(pfd, in, sizeof(in), 0, (struct sockaddr *)&from, &fl);
	answer_bits(in);
	in[2] |= 0x02;
	sendto(pfd, in, (size_t)n, 0, (struct sockaddr *)&from, fl);
	int afd2 = loop_accept(loop, lfd);
	assert_true(afd2 >= 0);
	peers_destroy(ps);
	close(afd);
	close(afd2);
	close(lfd);
	close(pfd);
	ev_loop_destroy(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(forwarder),
		cmocka_unit_test(cold_names),
		cmocka_unit_test(error_answers),
		cmocka_unit_test(loop_marker),
		cmocka_unit_test(ports_and_coalescing),
		cmocka_unit_test(hedge_queue),
		cmocka_unit_test(truncated_to_tcp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
