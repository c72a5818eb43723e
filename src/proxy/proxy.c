/*
 * proxy.c: proxy setup and the UDP front end; see proxy.h.
 *
 * A UDP client's query takes a slot (its client, the address it came to,
 * its ID, what its event needs) and goes to the channels (channel.h) the
 * router picks: always the local Recursor's (localchan.h: its IDs,
 * sockets, matching and timeouts), and while the local Recursor is down
 * or being warmed a peer's as well (peer.h), at once or after the hedge
 * delay. The slot keeps each channel's handle and is given back when every
 * channel is done with the query. Whichever answer comes first goes to
 * the client; a peer's answer marks the slot answered and the local
 * answer, when it comes, only ends the slot (it still makes the event). A
 * local answer first cancels the peer query. The local query stays in
 * flight until its answer or its timeout either way, so the Recursor still
 * sees, and answers, every query. A local timeout forgets the query (the
 * client retries, as after a lost packet); a query the local channel
 * could not send goes to a peer at once, with peers.
 *
 * The slots are as many as the local channel can have in flight, so the
 * channel runs out of IDs first (counted as overload_drops either way).
 */
#include "config.h"

#include "proxy/proxy_int.h"

#include "base/clock.h"
#include "base/log.h"
#include "base/satsum.h"
#include "proxy/localchan.h"
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

#define UDP_BATCH LOCALCHAN_BATCH
#define UDP_RX_SIZE LOCALCHAN_RX_SIZE
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

/*
 * A UDP client's query, from its datagram until every channel it went to
 * is done with it: the local Recursor's (local) and a peer's (peer)
 * handles, 0 once done. Indexed by the token's low bits.
 */
struct udp_slot {
	union sa_any client;
	union pktinfo_any dst;
	struct ev_query q;
	uint64_t local; /* the local channel's handle, 0: done */
	uint64_t peer;  /* the peer channel's handle (peer.h; a hedge queued or sent), 0: none */
	uint16_t client_id;
	uint16_t listener;
	uint8_t parsed;   /* the query parsed: the answer can become an event */
	uint8_t has_dst;
	uint8_t answered; /* an answer went to the client: a later one is only taken */
	uint8_t used;
};

/*
 * With peers, the last RECENT UDP queries are copied here: when the
 * upstream is found down (ICMP refused), those still unanswered went to a
 * Recursor that will never answer them, and go to a peer at once.
 */
#define RECENT 1024
struct recent {
	uint64_t sent_ns;
	uint64_t local; /* the local handle it was sent with: the slot still waits for that */
	uint32_t slot;
	uint16_t len;
	uint8_t pkt[PEER_QMAX];
};

/*
 * A free slot: one given back (the last first, still in the cache), else
 * one never used (the table is touched only as far as the load took it)
 */
static struct udp_slot *slot_take(struct proxy *p, uint32_t *index)
{
	if (p->nfree)
		*index = p->free_slots[--p->nfree];
	else if (p->nfresh < p->nslots)
		*index = p->nfresh++;
	else
		return NULL;
	struct udp_slot *s = &p->slots[*index];
	s->used = 1;
	return s;
}

/* The slot of a live token (PROXY_TOKEN_UDP | index), or NULL */
static struct udp_slot *token_slot(struct proxy *p, uint64_t token)
{
	uint64_t i = token & ~PROXY_TOKEN_UDP;
	if (!(token & PROXY_TOKEN_UDP) || i >= p->nslots || !p->slots[i].used)
		return NULL;
	return &p->slots[i];
}

/* Ends the slot once both channels are done with it */
static void slot_done(struct proxy *p, struct udp_slot *s)
{
	if (s->local || s->peer)
		return;
	s->used = 0;
	p->free_slots[p->nfree++] = (uint32_t)(s - p->slots);
}

static void remember(struct proxy *p, uint32_t slot, uint64_t local, const uint8_t *pkt, size_t len,
		     uint64_t now)
{
	if (!p->recent || len > PEER_QMAX)
		return;
	struct recent *r = &((struct recent *)p->recent)[p->nrecent++ % RECENT];
	r->sent_ns = now;
	r->slot = slot;
	r->local = local;
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
		struct udp_slot *s = &p->slots[r->slot];
		if (!s->used || s->local != r->local || s->answered || (s->peer && !peers_handle_queued(s->peer)))
			continue;
		proxy_peer_cancel(p, s->peer);
		s->peer = proxy_peer_send(p, r->pkt, r->len, 0, PROXY_TOKEN_UDP | r->slot, PEER_NOW, now);
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

/* Hands a copy of the counters to readers on other threads (metrics.h) */
void proxy_publish(struct proxy *p)
{
	pathstats_proxy_publish(&p->st, p->local ? localchan_in_flight(p->local) : 0);
}

static void sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct proxy *p = w->data;
	uint64_t now = clock_mono_ns();
	localchan_sweep(p->local, now);
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

/* Returns how many datagrams were read */
static int udp_query_batch(struct proxy *p, struct listener *l)
{
	struct mmsghdr msgs[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	union sa_any from[UDP_BATCH];
	char cbuf[UDP_BATCH][128];
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

	uint64_t now = clock_mono_ns();
	enum peer_mode mode = proxy_peer_mode(p, now);
	for (int i = 0; i < n; i++) {
		uint8_t *pkt = iov[i].iov_base;
		size_t len = msgs[i].msg_len;
		p->st.udp_queries++;
		if (len < DNS_HDR_LEN || dnsmsg_hdr_qr(pkt) || (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)) {
			p->st.dropped_not_query++;
			continue;
		}
		uint32_t si;
		struct udp_slot *s = slot_take(p, &si);
		if (!s) {
			p->st.overload_drops++;
			continue;
		}
		int rc = dnsmsg_parse(pkt, len, &info);
		s->parsed = rc == DNS_OK;
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
		/* the channels the router picks: always the local Recursor, and maybe a peer */
		uint64_t token = PROXY_TOKEN_UDP | si;
		const struct dns_msg_info *m = rc == DNS_OK ? &info : NULL;
		struct channel_query cq = {pkt, len, m, 0, PEER_OFF};
		s->peer = 0;
		if (!(s->local = channel_send(&p->local_ch, &cq, token, now))) {
			slot_done(p, s); /* not sent (no ID free: counted) */
			continue;
		}
		remember(p, si, s->local, pkt, len, now);
		s->peer = proxy_peer_ask(p, mode, pkt, len, 0, token, now, m); /* a copy, its own ID */
	}
	channel_flush(&p->local_ch);
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

/* The channels' callbacks (channel.h): a token without PROXY_TOKEN_UDP is a TCP client's */

/* The slot of a token whose local query has ended (its handle is over), or NULL */
static struct udp_slot *local_ended(struct proxy *p, uint64_t token)
{
	struct udp_slot *s = token_slot(p, token);
	if (s)
		s->local = 0;
	return s;
}

/* The local Recursor answered (its answer's ID is the channel's) */
static void local_answer_cb(void *ctx, uint64_t token, uint8_t *pkt, size_t len,
			    const struct dns_msg_info *r, uint64_t sent_ns, uint64_t now_ns)
{
	struct proxy *p = ctx;
	struct udp_slot *s = local_ended(p, token);
	if (!s)
		return;
	dnsmsg_put16(pkt, s->client_id);
	if (r && s->parsed)
		proxy_emit(p, &s->q, r, len, now_ns - sent_ns, 0, &s->client.sa);
	recstate_answer(p->rec, &p->rview, sent_ns, now_ns);
	if (p->peers) {
		peers_local_answer(p->peers, r);
		proxy_peer_cancel_race(p, s->peer, !s->answered);
		s->peer = 0;
	}
	/* the receive buffers are reused by the next batch: flush_cb sends them out */
	if (!s->answered)
		queue_answer(p, p->udp_outs, s, pkt, len);
	s->answered = 1;
	slot_done(p, s);
}

/*
 * The local Recursor will not answer: a timeout forgets the query (its
 * client retries, as after a lost packet); a query that could not be sent
 * goes to a peer now, with peers
 */
static void local_fail_cb(void *ctx, uint64_t token, enum channel_failure why, const uint8_t *pkt,
			  size_t len, uint64_t sent_ns, uint64_t now_ns)
{
	struct proxy *p = ctx;
	struct udp_slot *s = local_ended(p, token);
	if (!s)
		return;
	if (why == CHANNEL_TIMEOUT) {
		recstate_timeout(p->rec, &p->rview, sent_ns, now_ns);
		proxy_peer_cancel(p, s->peer);
		s->peer = 0;
	} else {
		/* not sent (a refusal was reported first, with its rescue of the queries before it) */
		if (p->peers && !s->answered && s->peer && peers_handle_queued(s->peer)) {
			proxy_peer_cancel(p, s->peer);
			s->peer = 0;
		}
		if (p->peers && !s->answered && !s->peer && pkt)
			s->peer = proxy_peer_send(p, (uint8_t *)pkt, len, 0, token, PEER_NOW, now_ns);
	}
	slot_done(p, s);
}

/* Sends the answers the callbacks queued */
static void flush_cb(void *ctx)
{
	struct proxy *p = ctx;
	struct out_batch *outs = p->udp_outs;
	for (size_t k = 0; k < p->nlisteners; k++)
		if (outs[k].n)
			flush_out(p, p->listeners[k].fd, &outs[k]);
}

static void local_refused_cb(void *ctx)
{
	proxy_local_refused(ctx);
}

/* A peer answered first (its answer's ID is the peer channel's) */
static void peer_answer_cb(void *ctx, uint64_t token, uint8_t *pkt, size_t len,
			   const struct dns_msg_info *r, uint64_t sent_ns, uint64_t now_ns)
{
	struct proxy *p = ctx;
	if (!(token & PROXY_TOKEN_UDP)) {
		ptcp_peer_answer(p, token, pkt, len);
		return;
	}
	struct udp_slot *s = token_slot(p, token);
	if (!s)
		return;
	s->peer = 0;
	if (!s->answered) {
		/* out now: the peers hand one buffer to every query coalesced onto one question */
		struct out_batch *outs = p->udp_outs;
		dnsmsg_put16(pkt, s->client_id);
		queue_answer(p, outs, s, pkt, len);
		flush_out(p, p->listeners[s->listener].fd, &outs[s->listener]);
		s->answered = 1;
	}
	slot_done(p, s); /* the local answer, when it comes, is only taken */
}

static void peer_fail_cb(void *ctx, uint64_t token, enum channel_failure why, const uint8_t *pkt,
			 size_t len, uint64_t sent_ns, uint64_t now_ns)
{
	struct proxy *p = ctx;
	if (!(token & PROXY_TOKEN_UDP)) {
		ptcp_peer_fail(p, token);
		return;
	}
	struct udp_slot *s = token_slot(p, token);
	if (!s)
		return;
	s->peer = 0; /* the client waits for the local Recursor, as without peers */
	slot_done(p, s);
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
		s->peer = proxy_peer_send(p, pkt, len, 0, token, PEER_HEDGE, clock_mono_ns());
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
	p->udp_outs = calloc(cfg->nlisten * 2, sizeof(struct out_batch));
	if (!p->rx_bufs || !p->listeners || !p->udp_outs) {
		snprintf(err, err_size, "out of memory");
		goto fail;
	}
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
	/* the channels: the local Recursor's, and the peers' */
	struct localchan_config lcfg = {.upstream = &p->upstream,
					.sockets = cfg->upstream_sockets ? cfg->upstream_sockets : 1,
					.timeout_ns = p->timeout_ns,
					.qseed = p->qseed,
					.rx_bufs = p->rx_bufs,
					.st = &p->st};
	struct channel_user local_user = {local_answer_cb, local_fail_cb, flush_cb, local_refused_cb, p};
	if (!(p->local = localchan_create(loop, &lcfg, &local_user, err, err_size)))
		goto fail;
	p->local_ch = localchan_channel(p->local);
	p->nslots = localchan_capacity(p->local); /* the channel runs out of IDs first */
	p->slots = calloc(p->nslots, sizeof(*p->slots));
	p->free_slots = malloc(p->nslots * sizeof(*p->free_slots));
	if (!p->slots || !p->free_slots) {
		snprintf(err, err_size, "out of memory");
		goto fail;
	}
	if (cfg->peers) {
		if (!(p->recent = calloc(RECENT, sizeof(struct recent)))) {
			snprintf(err, err_size, "out of memory");
			goto fail;
		}
		struct peer_callbacks cb = {{peer_answer_cb, peer_fail_cb, NULL, NULL, p}, peer_hedge_cb};
		p->peer_cfg = *cfg->peers;
		p->peer_cfg.rec = p->rec;
		if (!(p->peers = peers_create(loop, &p->peer_cfg, &cb, p->qseed, &p->st.peer, err, err_size)))
			goto fail;
		p->peer_ch = peers_channel(p->peers);
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
	localchan_destroy(p->local);
	free(p->slots);
	free(p->free_slots);
	free(p->recent);
	free(p->udp_outs);
	free(p->listeners);
	free(p->rx_bufs);
	recstate_destroy(p->own_rec);
	free(p);
}
