/*
 * proxy.c: proxy setup and the UDP data path; see proxy.h.
 *
 * Every upstream UDP socket has its own 16-bit ID space, an ID pool
 * (idpool.h). A query takes a free ID (free IDs start as a random
 * permutation and are reused first-in first-out, so an ID is reused as
 * late as possible), its client's details are kept in the slot of that ID,
 * and the answer is matched by source, ID and question: each upstream
 * socket is connected to the Recursor, so the kernel delivers datagrams
 * from its address and port only (and the source recvmmsg reports is
 * checked once more, which costs a compare); the ID must be in flight on
 * that socket; the question must be the query's (dns_qkey, dns/qkey.h, over the raw
 * question bytes, so an answer that does not parse is matched as well).
 * An answer that fails any of the three is dropped and counted as
 * unexpected. Whether an ID is in flight and when it was sent are the
 * pool's (idpool_in_flight, idpool_sent); the slot keeps the rest. IDs in
 * flight are also on the pool's list in send order (an answer unlinks its
 * ID in O(1)), so the periodic sweep finds the timed-out ones by looking
 * at the oldest only.
 *
 * Peers (--peer, peer.h): while the local Recursor is down or being
 * warmed, a query also goes to a peer (at once, or after the hedge
 * delay); the slot keeps the peer's handle. Whichever answer comes first
 * goes to the client; a peer's answer marks the slot answered and the
 * local answer, when it comes, only ends the slot (it still makes the
 * event). A local answer first cancels the peer query. The local ID stays
 * in flight until the local answer or the timeout either way, so the
 * Recursor still sees, and answers, every query.
 */
#include "config.h"

#include "proxy/proxy_int.h"

#include "base/clock.h"
#include "base/log.h"
#include "base/satsum.h"
#include "net/idpool.h"
#include "proxy/pathstats.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define UDP_BATCH 32
#define UDP_RX_SIZE 65536
#define ID_SPACE 65536
#define SWEEP_INTERVAL 0.1
#define SOCK_BUF (4 * 1024 * 1024)

union sa_any {
	struct sockaddr sa;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
};

union pktinfo_any {
	struct in_pktinfo v4;
	struct in6_pktinfo v6;
};

struct udp_slot {
	union sa_any client;
	union pktinfo_any dst;
	struct dns_qkey qkey;
	struct ev_query q;
	uint16_t client_id;
	uint16_t listener;
	uint8_t parsed; /* the query parsed: the answer can become an event */
	uint8_t has_dst;
	uint8_t answered; /* a peer's answer went to the client: the local one is only taken */
	uint64_t peer;    /* the peer handle (peer.h), 0: none */
};

/*
 * With peers, the last RECENT UDP queries are copied here: when the
 * upstream is found down (ICMP refused), those still unanswered went to a
 * Recursor that will never answer them, and go to a peer at once.
 */
#define RECENT 1024
struct recent {
	uint64_t sent_ns;
	uint16_t id, len;
	uint8_t up;
	uint8_t pkt[PEER_QMAX];
};

struct udp_upstream {
	int fd;
	ev_io io;
	struct proxy *p;
	/* the answers' receive batch, set up once: a call resets only the entries it used */
	struct mmsghdr rx_msgs[UDP_BATCH];
	struct iovec rx_iov[UDP_BATCH];
	union sa_any rx_from[UDP_BATCH];
	struct udp_slot *slots; /* ID_SPACE */
	struct idpool *ids;     /* free IDs and the in-flight list */
};

static void remember(struct proxy *p, unsigned up, uint16_t id, const uint8_t *pkt, size_t len,
		     uint64_t now)
{
	if (!p->recent || len > PEER_QMAX)
		return;
	struct recent *r = &((struct recent *)p->recent)[p->nrecent++ % RECENT];
	r->sent_ns = now;
	r->id = id;
	r->up = (uint8_t)up;
	r->len = (uint16_t)len;
	memcpy(r->pkt, pkt, len);
}

/* The upstream was just found down: its recent unanswered queries go to a peer now */
static void rescue_recent(struct proxy *p, uint64_t now)
{
	unsigned n = p->nrecent < RECENT ? p->nrecent : RECENT;
	for (unsigned k = 0; k < n; k++) {
		struct recent *r = &((struct recent *)p->recent)[(p->nrecent - 1 - k) % RECENT];
		if (now - r->sent_ns > p->timeout_ns)
			break;
		struct udp_upstream *u = &p->ups[r->up];
		struct udp_slot *s = &u->slots[r->id];
		if (!idpool_in_flight(u->ids, r->id) || idpool_sent(u->ids, r->id) != r->sent_ns ||
		    s->answered || (s->peer && !peers_handle_queued(s->peer)))
			continue;
		peers_cancel(p->peers, s->peer, 0);
		s->peer = peers_send(p->peers, r->pkt, r->len, 0, PROXY_TOKEN_UDP | (unsigned)r->up << 16 | r->id,
				     PEER_NOW, now);
	}
}

void proxy_local_refused(struct proxy *p)
{
	uint64_t now = clock_mono_ns();
	if (recstate_refused(p->rec, &p->rview, now) && p->peers) {
		proxy_peer_mode(p, now); /* the shield starts before the rescue, which it counts */
		rescue_recent(p, now);
	}
}

void proxy_emit(struct proxy *p, const struct ev_query *q, const struct dns_msg_info *r,
		size_t rsize, uint64_t latency_ns, int tcp, const struct sockaddr *client)
{
	struct rm_event ev;
	pathstats_answer(latency_ns, tcp, r ? dnsmsg_rcode(r) : -1);
	if (!p->cfg.sink.fn)
		return;
	uint64_t lat_us = latency_ns / 1000;
	event_from_dns(&ev, q, r, rsize, clock_unix_us(), lat_us > 0xffffffffu ? 0xffffffffu : (uint32_t)lat_us,
		       tcp);
	if (p->cfg.client_ip && client) {
		if (client->sa_family == AF_INET) {
			ev.client_family = 4;
			memcpy(ev.client, &((const struct sockaddr_in *)client)->sin_addr, 4);
		} else if (client->sa_family == AF_INET6) {
			ev.client_family = 6;
			memcpy(ev.client, &((const struct sockaddr_in6 *)client)->sin6_addr, 16);
		}
	}
	if (event_sink_put(&p->cfg.sink, &ev) < 0)
		p->st.events_dropped++;
}

/* ID allocation: the pool (idpool.h) keeps which IDs are in flight and since when */

static int id_take(struct udp_upstream *u, uint64_t now, uint16_t *id)
{
	int i = idpool_take(u->ids, now);
	if (i < 0)
		return -1;
	*id = (uint16_t)i;
	return 0;
}

/* Ends an ID's flight (answered, timed out or never sent) */
static void id_give(struct udp_upstream *u, uint16_t id)
{
	idpool_give(u->ids, id);
}

static void sweep_udp(struct proxy *p, struct udp_upstream *u, uint64_t now)
{
	uint64_t sent;
	int id;
	while ((id = idpool_oldest(u->ids, &sent)) >= 0 && now - sent >= p->timeout_ns) {
		p->st.upstream_timeouts++;
		recstate_timeout(p->rec, &p->rview, sent, now);
		if (p->peers) {
			struct udp_slot *s = &u->slots[id];
			peers_cancel(p->peers, s->peer, 0);
			s->peer = 0;
		}
		id_give(u, (uint16_t)id);
	}
}

/* Hands a copy of the counters to readers on other threads (metrics.h) */
void proxy_publish(struct proxy *p)
{
	uint64_t in_flight = 0;
	for (unsigned i = 0; i < p->nups; i++)
		in_flight += idpool_count(p->ups[i].ids);
	pathstats_proxy_publish(&p->st, in_flight);
}

static void sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct proxy *p = w->data;
	uint64_t now = clock_mono_ns();
	for (unsigned i = 0; i < p->nups; i++)
		sweep_udp(p, &p->ups[i], now);
	ptcp_sweep(p, now);
	proxy_peer_mode(p, now); /* the shield ends (and says so) without traffic too */
	schedpol_auto_tick(p->cfg.sched, now, p->st.udp_queries + p->st.tcp_queries);
	proxy_publish(p);
}

/* Client side: queries in, answers out */

static void set_pktinfo_cmsg(struct msghdr *mh, const struct udp_slot *s, char *cbuf, size_t cbsize)
{
	memset(cbuf, 0, cbsize);
	mh->msg_control = cbuf;
	if (s->client.sa.sa_family == AF_INET) {
		mh->msg_controllen = CMSG_SPACE(sizeof(struct in_pktinfo));
		struct cmsghdr *c = CMSG_FIRSTHDR(mh);
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
		struct in_pktinfo pi = s->dst.v4;
		pi.ipi_spec_dst = pi.ipi_addr;
		pi.ipi_addr.s_addr = 0;
		pi.ipi_ifindex = 0;
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	} else {
		mh->msg_controllen = CMSG_SPACE(sizeof(struct in6_pktinfo));
		struct cmsghdr *c = CMSG_FIRSTHDR(mh);
		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
		struct in6_pktinfo pi = s->dst.v6;
		pi.ipi6_ifindex = 0;
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	}
}

struct out_batch {
	struct mmsghdr msgs[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	union sa_any addr[UDP_BATCH];
	char cbuf[UDP_BATCH][64];
	unsigned n;
};

static void flush_out(struct proxy *p, int fd, struct out_batch *b)
{
	unsigned done = 0;
	while (done < b->n) {
		int r = sendmmsg(fd, b->msgs + done, b->n - done, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			/* the client or the kernel refused this one: skip it, count it */
			p->st.send_errors++;
			done++;
			continue;
		}
		done += (unsigned)r;
	}
	b->n = 0;
}

/* Points a receive batch at the shared receive buffers */
static void rx_batch_init(struct proxy *p, struct mmsghdr *msgs, struct iovec *iov)
{
	memset(msgs, 0, sizeof(*msgs) * UDP_BATCH);
	for (unsigned i = 0; i < UDP_BATCH; i++) {
		iov[i].iov_base = p->rx_bufs + (size_t)i * UDP_RX_SIZE;
		iov[i].iov_len = UDP_RX_SIZE;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
}

/*
 * A query could not go to the local Recursor: with peers it goes to one
 * now (the slot stays in flight for its answer until the timeout);
 * returns 1 if the slot is kept.
 */
static int local_send_failed(struct proxy *p, struct udp_upstream *u, unsigned uidx, uint16_t id,
			     struct mmsghdr *m, int err, uint64_t now)
{
	if (err == ECONNREFUSED)
		proxy_local_refused(p);
	if (!p->peers)
		return 0;
	struct udp_slot *s = &u->slots[id];
	if (s->peer && peers_handle_queued(s->peer)) {
		peers_cancel(p->peers, s->peer, 0);
		s->peer = 0;
	}
	if (!s->peer)
		s->peer = peers_send(p->peers, m->msg_hdr.msg_iov[0].iov_base, m->msg_hdr.msg_iov[0].iov_len,
				     0, PROXY_TOKEN_UDP | uidx << 16 | id, PEER_NOW, now);
	return s->peer != 0;
}

/* Returns how many datagrams were read */
static int udp_query_batch(struct proxy *p, struct listener *l)
{
	struct mmsghdr msgs[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	union sa_any from[UDP_BATCH];
	char cbuf[UDP_BATCH][128];
	struct mmsghdr out[UDP_BATCH];
	struct iovec out_iov[UDP_BATCH];
	uint16_t out_ids[UDP_BATCH];
	struct dns_msg_info info;

	rx_batch_init(p, msgs, iov);
	for (unsigned i = 0; i < UDP_BATCH; i++) {
		msgs[i].msg_hdr.msg_name = &from[i];
		msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
		if (l->wildcard) {
			msgs[i].msg_hdr.msg_control = cbuf[i];
			msgs[i].msg_hdr.msg_controllen = sizeof(cbuf[i]);
		}
	}
	int n = recvmmsg(l->fd, msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
	if (n <= 0)
		return 0;

	unsigned uidx = p->next_up;
	struct udp_upstream *u = &p->ups[uidx];
	p->next_up = (p->next_up + 1) % p->nups;
	uint64_t now = clock_mono_ns();
	enum peer_mode mode = proxy_peer_mode(p, now);
	unsigned nout = 0;
	for (int i = 0; i < n; i++) {
		uint8_t *pkt = iov[i].iov_base;
		size_t len = msgs[i].msg_len;
		p->st.udp_queries++;
		if (len < DNS_HDR_LEN || dnsmsg_hdr_qr(pkt) || (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)) {
			p->st.dropped_not_query++;
			continue;
		}
		uint16_t id;
		if (id_take(u, now, &id) < 0) {
			p->st.overload_drops++;
			continue;
		}
		struct udp_slot *s = &u->slots[id];
		int rc = dnsmsg_parse(pkt, len, &info);
		s->parsed = rc == DNS_OK;
		dns_qkey_of(pkt, len, rc == DNS_OK ? &info : NULL, p->qseed, &s->qkey);
		if (rc == DNS_OK) {
			proxy_ev_query(&s->q, &info, len);
		} else {
			p->st.malformed_queries++;
			log_debug("forwarding malformed query: %s", dnsmsg_strerror(rc));
		}
		s->client_id = dnsmsg_get16(pkt);
		s->listener = (uint16_t)l->index;
		memcpy(&s->client, &from[i], msgs[i].msg_hdr.msg_namelen <= sizeof(s->client)
							 ? msgs[i].msg_hdr.msg_namelen
							 : sizeof(s->client));
		s->has_dst = 0;
		if (l->wildcard) {
			for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c;
			     c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
				if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
					memcpy(&s->dst.v4, CMSG_DATA(c), sizeof(s->dst.v4));
					s->has_dst = 1;
				} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
					memcpy(&s->dst.v6, CMSG_DATA(c), sizeof(s->dst.v6));
					s->has_dst = 1;
				}
			}
		}
		s->answered = 0;
		s->peer = proxy_peer_ask(p, mode, pkt, len, 0, PROXY_TOKEN_UDP | uidx << 16 | id, now,
					 rc == DNS_OK ? &info : NULL);
		remember(p, uidx, id, pkt, len, now);
		dnsmsg_put16(pkt, id);
		out_iov[nout].iov_base = pkt;
		out_iov[nout].iov_len = len;
		memset(&out[nout], 0, sizeof(out[nout]));
		out[nout].msg_hdr.msg_iov = &out_iov[nout];
		out[nout].msg_hdr.msg_iovlen = 1;
		out_ids[nout] = id;
		nout++;
	}
	unsigned done = 0;
	while (done < nout) {
		int r = sendmmsg(u->fd, out + done, nout - done, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			/* upstream unreachable or buffers full: this query is lost, unless a peer takes it */
			p->st.send_errors++;
			if (!local_send_failed(p, u, uidx, out_ids[done], &out[done], errno, now))
				id_give(u, out_ids[done]);
			done++;
			continue;
		}
		done += (unsigned)r;
	}
	return n;
}

static void udp_listen_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener *l = w->data;
	/* more while batches come full, then let the other sockets have a turn */
	for (int k = 0; k < 4 && udp_query_batch(l->p, l) == UDP_BATCH; k++)
		;
}

static void queue_answer(struct proxy *p, struct out_batch *outs, struct udp_slot *s, uint8_t *pkt,
			 size_t len)
{
	struct listener *l = &p->listeners[s->listener];
	struct out_batch *b = &outs[s->listener];
	if (b->n == UDP_BATCH)
		flush_out(p, l->fd, b);
	unsigned k = b->n++;
	memset(&b->msgs[k], 0, sizeof(b->msgs[k]));
	b->addr[k] = s->client;
	b->iov[k].iov_base = pkt;
	b->iov[k].iov_len = len;
	b->msgs[k].msg_hdr.msg_name = &b->addr[k];
	b->msgs[k].msg_hdr.msg_namelen = s->client.sa.sa_family == AF_INET ? sizeof(struct sockaddr_in)
									     : sizeof(struct sockaddr_in6);
	b->msgs[k].msg_hdr.msg_iov = &b->iov[k];
	b->msgs[k].msg_hdr.msg_iovlen = 1;
	if (s->has_dst)
		set_pktinfo_cmsg(&b->msgs[k].msg_hdr, s, b->cbuf[k], sizeof(b->cbuf[k]));
}

/* The kernel already filters a connected socket's sources; this is the cheap second look */
static int from_upstream(const struct proxy *p, const union sa_any *a)
{
	const struct sockaddr *up = (const struct sockaddr *)&p->upstream.ss;
	if (a->sa.sa_family != up->sa_family)
		return 0;
	if (a->sa.sa_family == AF_INET) {
		const struct sockaddr_in *u4 = (const struct sockaddr_in *)up;
		return a->sin.sin_port == u4->sin_port && a->sin.sin_addr.s_addr == u4->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *u6 = (const struct sockaddr_in6 *)up;
	return a->sin6.sin6_port == u6->sin6_port &&
	       !memcmp(&a->sin6.sin6_addr, &u6->sin6_addr, sizeof(u6->sin6_addr));
}

static int udp_answer_batch(struct proxy *p, struct udp_upstream *u, struct out_batch *outs)
{
	struct mmsghdr *msgs = u->rx_msgs;
	struct iovec *iov = u->rx_iov;
	union sa_any *from = u->rx_from;
	struct dns_msg_info info;

	int n = recvmmsg(u->fd, msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
	if (n < 0 && errno == ECONNREFUSED) {
		/* an ICMP port unreachable for an earlier query: the quickest sign that it is down */
		proxy_local_refused(p);
		return 0;
	}
	if (n <= 0)
		return 0;
	for (int i = 0; i < n; i++)
		msgs[i].msg_hdr.msg_namelen = sizeof(from[i]); /* for the next call */
	uint64_t now = clock_mono_ns();
	for (int i = 0; i < n; i++) {
		uint8_t *pkt = iov[i].iov_base;
		size_t len = msgs[i].msg_len;
		if (len < DNS_HDR_LEN || !dnsmsg_hdr_qr(pkt) || !from_upstream(p, &from[i])) {
			p->st.unexpected_responses++;
			continue;
		}
		uint16_t id = dnsmsg_get16(pkt);
		struct udp_slot *s = &u->slots[id];
		if (!idpool_in_flight(u->ids, id)) {
			p->st.unexpected_responses++; /* late answer after a timeout */
			continue;
		}
		int rc = dnsmsg_parse(pkt, len, &info);
		/* the raw question when it did not parse, if it can be read */
		if (!dns_qkey_answers(&s->qkey, pkt, len, rc == DNS_OK ? &info : NULL, p->qseed)) {
			/* the right ID but another question: not the answer to this query */
			p->st.unexpected_responses++;
			p->st.mismatched_answers++;
			continue;
		}
		if (rc != DNS_OK)
			p->st.malformed_responses++;
		p->st.answers++;
		dnsmsg_put16(pkt, s->client_id);
		if (rc == DNS_OK && s->parsed)
			proxy_emit(p, &s->q, &info, len, now - idpool_sent(u->ids, id), 0,
				   &s->client.sa);
		recstate_answer(p->rec, &p->rview, idpool_sent(u->ids, id), now);
		if (p->peers) {
			peers_local_answer(p->peers, rc == DNS_OK ? &info : NULL);
			peers_cancel(p->peers, s->peer, !s->answered);
			s->peer = 0;
		}
		/* the receive buffers are reused by the next batch: send them out now */
		if (!s->answered)
			queue_answer(p, outs, s, pkt, len);
		id_give(u, id);
	}
	for (size_t k = 0; k < p->nlisteners; k++)
		if (outs[k].n)
			flush_out(p, p->listeners[k].fd, &outs[k]);
	return n;
}

static void udp_upstream_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct udp_upstream *u = w->data;
	struct proxy *p = u->p;
	for (int k = 0; k < 4 && udp_answer_batch(p, u, p->udp_outs) == UDP_BATCH; k++)
		;
}

/* Peers' callbacks (peer.h): a token without PROXY_TOKEN_UDP is a TCP client's */

static struct udp_slot *token_slot(struct proxy *p, uint64_t token)
{
	unsigned uidx = (unsigned)(token >> 16) & 0xffff;
	uint16_t id = (uint16_t)token;
	if (uidx >= p->nups || !idpool_in_flight(p->ups[uidx].ids, id))
		return NULL;
	return &p->ups[uidx].slots[id];
}

static void peer_answer_cb(void *ctx, uint64_t token, uint8_t *pkt, size_t len)
{
	struct proxy *p = ctx;
	if (!(token & PROXY_TOKEN_UDP)) {
		ptcp_peer_answer(p, token, pkt, len);
		return;
	}
	struct udp_slot *s = token_slot(p, token);
	if (!s || s->answered)
		return;
	s->peer = 0;
	s->answered = 1;
	dnsmsg_put16(pkt, s->client_id);
	struct out_batch *outs = p->udp_outs;
	queue_answer(p, outs, s, pkt, len);
	flush_out(p, p->listeners[s->listener].fd, &outs[s->listener]);
}

static void peer_fail_cb(void *ctx, uint64_t token)
{
	struct proxy *p = ctx;
	if (!(token & PROXY_TOKEN_UDP)) {
		ptcp_peer_fail(p, token);
		return;
	}
	struct udp_slot *s = token_slot(p, token);
	if (s)
		s->peer = 0; /* the client waits for the local Recursor, as without peers */
}

static void peer_hedge_cb(void *ctx, uint64_t token, uint8_t *pkt, size_t len)
{
	struct proxy *p = ctx;
	if (!(token & PROXY_TOKEN_UDP)) {
		ptcp_peer_hedge(p, token, pkt, len);
		return;
	}
	struct udp_slot *s = token_slot(p, token);
	if (s && !s->answered && (!s->peer || peers_handle_queued(s->peer)))
		s->peer = peers_send(p->peers, pkt, len, 0, token, PEER_HEDGE, clock_mono_ns());
}

void proxy_set_phase(struct proxy *p, const atomic_int *phase)
{
	p->phase = phase;
}

/* Setup */

static void set_bufs(int fd)
{
	int sz = SOCK_BUF;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
}

static int open_listener(struct proxy *p, struct listener *l, char *err, size_t err_size)
{
	char a[128];
	int one = 1, fam = l->addr.ss.ss_family;
	netaddr_format((struct sockaddr *)&l->addr.ss, a, sizeof(a));
	/* CLOEXEC: a child (rec_control, spawned by the auto-warm) must not inherit port 53 */
	l->fd = socket(fam, (l->tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0) {
		snprintf(err, err_size, "cannot create socket for '%s': %s", a, strerror(errno));
		return -1;
	}
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (p->cfg.reuseport && setsockopt(l->fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
		snprintf(err, err_size, "cannot share '%s' between threads (SO_REUSEPORT): %s", a,
			 strerror(errno));
		return -1;
	}
	if (fam == AF_INET6)
		setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (!l->tcp) {
		set_bufs(l->fd);
		l->wildcard = netaddr_is_wildcard(&l->addr);
		if (l->wildcard && fam == AF_INET)
			setsockopt(l->fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
		else if (l->wildcard)
			setsockopt(l->fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
	}
	if (bind(l->fd, (struct sockaddr *)&l->addr.ss, l->addr.len) < 0) {
		snprintf(err, err_size, "cannot listen on %s '%s': %s", l->tcp ? "TCP" : "UDP", a,
			 strerror(errno));
		return -1;
	}
	if (l->tcp && listen(l->fd, 1024) < 0) {
		snprintf(err, err_size, "cannot listen on TCP '%s': %s", a, strerror(errno));
		return -1;
	}
	l->io.data = l;
	ev_io_init(&l->io, l->tcp ? ptcp_accept_cb : udp_listen_cb, l->fd, EV_READ);
	ev_io_start(p->loop, &l->io);
	if (p->cfg.thread == 0)
		log_info("listening on %s '%s'", l->tcp ? "TCP" : "UDP", a);
	return 0;
}

static int open_upstream(struct proxy *p, struct udp_upstream *u, char *err, size_t err_size)
{
	char a[128];
	u->p = p;
	u->slots = calloc(ID_SPACE, sizeof(*u->slots));
	u->ids = idpool_create(ID_SPACE); /* a random permutation of all IDs */
	if (!u->slots || !u->ids) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	u->fd = socket(p->upstream.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (u->fd < 0 || connect(u->fd, (struct sockaddr *)&p->upstream.ss, p->upstream.len) < 0) {
		snprintf(err, err_size, "cannot reach upstream '%s': %s",
			 netaddr_format((struct sockaddr *)&p->upstream.ss, a, sizeof(a)),
			 strerror(errno));
		return -1;
	}
	set_bufs(u->fd);
	rx_batch_init(p, u->rx_msgs, u->rx_iov);
	for (unsigned i = 0; i < UDP_BATCH; i++) {
		u->rx_msgs[i].msg_hdr.msg_name = &u->rx_from[i];
		u->rx_msgs[i].msg_hdr.msg_namelen = sizeof(u->rx_from[i]);
	}
	u->io.data = u;
	ev_io_init(&u->io, udp_upstream_cb, u->fd, EV_READ);
	ev_io_start(p->loop, &u->io);
	return 0;
}

struct proxy *proxy_create(struct ev_loop *loop, const struct proxy_config *cfg, char *err,
			   size_t err_size)
{
	struct proxy *p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	p->loop = loop;
	p->cfg = *cfg;
	p->timeout_ns = (uint64_t)(cfg->upstream_timeout * 1e9);
	if (!(p->rec = cfg->rec) && !(p->rec = p->own_rec = recstate_create(cfg->upstream))) {
		snprintf(err, err_size, "out of memory");
		goto fail;
	}
	if (netaddr_parse(cfg->upstream, 53, &p->upstream) < 0) {
		snprintf(err, err_size, "bad upstream address '%s' (expected ADDR:PORT)", cfg->upstream);
		goto fail;
	}
	if (cfg->nlisten == 0) {
		snprintf(err, err_size, "no listen address given");
		goto fail;
	}
	p->qseed = arc4random();
	p->rx_bufs = malloc((size_t)UDP_BATCH * UDP_RX_SIZE);
	p->listeners = calloc(cfg->nlisten * 2, sizeof(*p->listeners));
	p->nups = cfg->upstream_sockets ? cfg->upstream_sockets : 1;
	p->ups = calloc(p->nups, sizeof(*p->ups));
	p->udp_outs = calloc(cfg->nlisten * 2, sizeof(struct out_batch));
	if (!p->rx_bufs || !p->listeners || !p->ups || !p->udp_outs) {
		snprintf(err, err_size, "out of memory");
		goto fail;
	}
	for (unsigned i = 0; i < p->nups; i++)
		p->ups[i].fd = -1;
	for (size_t i = 0; i < cfg->nlisten * 2; i++)
		p->listeners[i].fd = -1;
	ptcp_init(p);
	for (size_t i = 0; i < cfg->nlisten; i++) {
		struct netaddr a;
		if (netaddr_parse(cfg->listen[i], 53, &a) < 0) {
			snprintf(err, err_size, "bad listen address '%s' (expected ADDR:PORT)",
				 cfg->listen[i]);
			goto fail;
		}
		for (int tcp = 0; tcp < 2; tcp++) {
			struct listener *l = &p->listeners[p->nlisteners];
			l->p = p;
			l->addr = a;
			l->tcp = tcp;
			l->index = (unsigned)p->nlisteners;
			p->nlisteners++;
			if (open_listener(p, l, err, err_size) < 0)
				goto fail;
		}
	}
	for (unsigned i = 0; i < p->nups; i++)
		if (open_upstream(p, &p->ups[i], err, err_size) < 0)
			goto fail;
	if (cfg->peers) {
		if (!(p->recent = calloc(RECENT, sizeof(struct recent)))) {
			snprintf(err, err_size, "out of memory");
			goto fail;
		}
		struct peer_callbacks cb = {peer_answer_cb, peer_fail_cb, peer_hedge_cb, p};
		p->peer_cfg = *cfg->peers;
		p->peer_cfg.rec = p->rec;
		if (!(p->peers = peers_create(loop, &p->peer_cfg, &cb, p->qseed, &p->st.peer, err, err_size)))
			goto fail;
	}
	ev_timer_init(&p->sweep, sweep_cb, SWEEP_INTERVAL, SWEEP_INTERVAL);
	p->sweep.data = p;
	ev_timer_start(loop, &p->sweep);
	return p;
fail:
	proxy_destroy(p);
	return NULL;
}

void proxy_set_sink(struct proxy *p, struct event_sink sink)
{
	p->cfg.sink = sink;
}

void proxy_stats_add(struct proxy_stats *sum, const struct proxy_stats *x)
{
	_Static_assert(sizeof(*sum) % sizeof(uint64_t) == 0, "proxy_stats is made of uint64_t");
	/* what every thread sees alike: the largest, not the sum */
	uint64_t shields = sum->peer.shields > x->peer.shields ? sum->peer.shields : x->peer.shields;
	uint64_t mode = sum->peer.mode > x->peer.mode ? sum->peer.mode : x->peer.mode;
	sat_add_words((uint64_t *)sum, (const uint64_t *)x, sizeof(*sum) / sizeof(uint64_t));
	sum->peer.shields = shields;
	sum->peer.mode = mode;
}

void proxy_destroy(struct proxy *p)
{
	if (!p)
		return;
	ptcp_destroy_all(p);
	peers_destroy(p->peers);
	p->peers = NULL;
	if (ev_is_active(&p->sweep))
		ev_timer_stop(p->loop, &p->sweep);
	for (size_t i = 0; p->listeners && i < p->nlisteners; i++) {
		if (ev_is_active(&p->listeners[i].io))
			ev_io_stop(p->loop, &p->listeners[i].io);
		if (p->listeners[i].fd >= 0)
			close(p->listeners[i].fd);
	}
	for (unsigned i = 0; p->ups && i < p->nups; i++) {
		struct udp_upstream *u = &p->ups[i];
		if (ev_is_active(&u->io))
			ev_io_stop(p->loop, &u->io);
		if (u->fd >= 0)
			close(u->fd);
		free(u->slots);
		idpool_destroy(u->ids);
	}
	free(p->ups);
	free(p->recent);
	free(p->udp_outs);
	free(p->listeners);
	free(p->rx_bufs);
	recstate_destroy(p->own_rec);
	free(p);
}
