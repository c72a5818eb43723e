/*
 * proxy_tcp.c: the TCP front end of the proxy; see proxy.h.
 *
 * Each client connection gets its own channel to the local Recursor
 * (tcpchan.h: one upstream TCP connection, opened on its first query, and
 * again on the next query after it failed). Queries are forwarded as they
 * arrive (pipelined) with IDs of the channel's own, matched by ID and
 * question (dns_qkey), and answers go back to the client in the order the
 * upstream sends them, which may differ from the query order. Frames from
 * the client are read with tcpframe.h; a frame handed to handle_query
 * lives in the connection's tcpframe buffer and is only valid until the
 * next read. Ownership: a tcp_client owns its socket, its channel, its
 * buffers and its pending queries; closing it frees all of them (its
 * channel when the channel's callback that closed it returned).
 *
 * Limits, so that no client can hold the data path (recmesh(1), "TCP
 * limits"): a connection lives --tcp-max-duration at most, whatever it
 * sends; it is idle (closed after --tcp-idle-timeout) when no complete
 * query came and nothing is pending, so a byte now and then does not keep
 * it; answers it does not read for --tcp-idle-timeout close it; one
 * address holds --max-tcp-per-client connections at most. At
 * --max-tcp-clients, or when accept() fails for want of descriptors or
 * memory, the connection idle longest is closed and accept() pauses for
 * ACCEPT_BACKOFF (the listeners' watchers stop, a timer starts them again),
 * so the loop never spins on a listener it cannot accept from; each of
 * these is logged once per LIMIT_LOG_INTERVAL. TCP_MAX_PENDING queries of
 * a connection may wait for the upstream; the next ones stay unread (the
 * connection's reads stop) until answers come back.
 *
 * Peers (--peer, peer.h): while the local Recursor is down or being
 * warmed a query also goes to a peer (over UDP, and over TCP when that
 * answer is truncated: peer.c). The first
 * answer goes to the client; a pending query a peer answered stays until
 * the local answer comes (which is then only taken) or its timeout. When
 * the upstream connection fails or times out, a query a peer is asked for
 * is not answered SERVFAIL but waits for the peer (its local handle is 0);
 * when the peer fails too, it gets the SERVFAIL it would have got without
 * peers. The local Recursor and the peers are channels alike (channel.h).
 */
#include "config.h"

#include "proxy/proxy_int.h"

#include "base/clock.h"
#include "base/log.h"
#include "net/acceptor.h"
#include "net/tcpframe.h"
#include "proxy/tcpchan.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <utlist.h>

#define TCP_MAX_PENDING 100          /* per connection, like the Recursor's own limit */
#define TCP_OUT_LIMIT (1024 * 1024) /* a client that reads slower than this is dropped */
#define TCP_QBUF (DNS_HDR_LEN + DNS_MAX_NAME + 4)
/*
 * The kernel's send buffer of a client socket, at most: a client that does
 * not read holds this much kernel memory, not the autotuned 4 MB, and its
 * unread answers show in our own buffer, where the idle timeout sees them.
 * Two answers of the largest size fit.
 */
#define TCP_CLIENT_SNDBUF (128 * 1024)
#define ACCEPT_BACKOFF 0.2        /* seconds accept() pauses at a limit */
#define LIMIT_LOG_INTERVAL 10.0   /* seconds between two log lines of one kind */

/* With several data path threads a limit in a message is this thread's share (workers.h) */
#define SHARE(p) ((p)->cfg.threads > 1 ? ", this thread's share" : "")
/* per data path thread: each says its own */
static _Thread_local struct log_rate log_full, log_per_client, log_accept, log_duration, log_unread;

struct tcp_pending {
	struct tcp_pending *next;
	struct tcp_client *c;
	uint64_t local;     /* the local channel's handle; 0: it failed or timed out, only the peer may answer */
	uint64_t peer;      /* the peer channel's handle (peer.h), 0: none */
	uint8_t answered;   /* a peer's answer went to the client */
	uint16_t full_len;
	uint8_t *full;      /* with peers: the whole query, for a peer when the upstream fails */
	uint64_t sent_ns;
	struct ev_query q;
	uint16_t client_id;
	uint16_t qbuf_len;
	uint8_t parsed;
	uint8_t qbuf[TCP_QBUF]; /* header and question, for a SERVFAIL */
};

struct tcp_client {
	struct tcp_client *prev, *next;
	struct proxy *p;
	int fd;
	ev_io rio, wio;
	int client_eof;
	struct tcpframe in; /* frames from the client */
	struct obuf out;
	/* the channel to the local Recursor: this client's own upstream connection (tcpchan.h) */
	struct tcpchan *local;
	struct channel local_ch;
	struct tcp_pending *pending;
	unsigned npending;
	int reads_paused; /* TCP_MAX_PENDING queries wait: the rest stays unread */
	uint64_t start_ns, last_active_ns;
	uint64_t out_progress_ns; /* the last time answers to the client drained, or were queued into an empty buffer */
	struct sockaddr_storage addr;
};

/* Frees a pending query that is off its list, and forgets its channels' queries */
static void pending_free(struct proxy *p, struct tcp_pending *q)
{
	if (q->local)
		channel_cancel(&q->c->local_ch, q->local, 0);
	proxy_peer_cancel(p, q->peer);
	free(q->full);
	free(q);
}

static void client_close(struct tcp_client *c)
{
	struct proxy *p = c->p;
	ev_io_stop(p->loop, &c->rio);
	ev_io_stop(p->loop, &c->wio);
	if (c->fd >= 0)
		close(c->fd);
	while (c->pending) {
		struct tcp_pending *n = c->pending->next;
		pending_free(p, c->pending);
		c->pending = n;
	}
	tcpchan_destroy(c->local); /* from its own callback: when that returned */
	DL_DELETE(p->tcp_clients, c);
	p->tcp_open--;
	p->tcp_closes++;
	p->st.tcp_clients_open = p->tcp_open;
	tcpframe_free(&c->in);
	obuf_free(&c->out);
	free(c);
}

/* Queues one framed message to the client; returns -1 if the client was closed */
static int client_send(struct tcp_client *c, const uint8_t *msg, size_t len)
{
	uint8_t hdr[2];
	dnsmsg_put16(hdr, (uint16_t)len);
	if (!obuf_pending(&c->out))
		c->out_progress_ns = clock_mono_ns();
	if (obuf_pending(&c->out) + len + 2 > TCP_OUT_LIMIT || obuf_append(&c->out, hdr, 2) < 0 ||
	    obuf_append(&c->out, msg, len) < 0) {
		char a[128];
		c->p->st.tcp_closed_unread++;
		log_rated(&log_unread, LIMIT_LOG_INTERVAL, LOG_LVL_INFO,
			  "closing TCP client '%s': over %d bytes of answers unread",
			  netaddr_format((struct sockaddr *)&c->addr, a, sizeof(a)), TCP_OUT_LIMIT);
		client_close(c);
		return -1;
	}
	int w = obuf_flush(&c->out, c->fd);
	if (w < 0) {
		client_close(c);
		return -1;
	}
	if (w > 0)
		c->out_progress_ns = clock_mono_ns();
	if (obuf_pending(&c->out))
		ev_io_start(c->p->loop, &c->wio);
	return 0;
}

static int send_servfail(struct tcp_client *c, const struct tcp_pending *q)
{
	uint8_t out[TCP_QBUF];
	struct dns_msg_info qi;
	qi.flags = dnsmsg_get16(q->qbuf + 2);
	qi.question_end = q->qbuf_len;
	int len = dnsmsg_make_servfail(q->qbuf, &qi, out, sizeof(out));
	if (len < 0)
		return 0;
	dnsmsg_put16(out, q->client_id);
	c->p->st.servfail_sent++;
	return client_send(c, out, (size_t)len);
}

/*
 * The local Recursor will not answer q (its handle is 0): with peers, a
 * peer is asked now (if it was not yet) and q waits for it; returns 1 if q
 * stays for the peer.
 */
static int peer_takes_over(struct tcp_client *c, struct tcp_pending *q)
{
	struct proxy *p = c->p;
	if (!p->peers || q->answered)
		return 0;
	if (q->peer && peers_handle_queued(q->peer)) {
		proxy_peer_cancel(p, q->peer);
		q->peer = 0;
	}
	if (!q->peer && q->full)
		q->peer = proxy_peer_send(p, q->full, q->full_len, 1, (uint64_t)(uintptr_t)q, PEER_NOW,
				     clock_mono_ns());
	return q->peer != 0;
}

static void maybe_finish(struct tcp_client *c)
{
	if (c->client_eof && c->npending == 0 && obuf_pending(&c->out) == 0)
		client_close(c);
}

static void resume_reads(struct tcp_client *c);

/* Takes q off its client's list; 0, or -1 when it is not on it */
static int pending_unlink(struct tcp_client *c, struct tcp_pending *q)
{
	for (struct tcp_pending **pp = &c->pending; *pp; pp = &(*pp)->next)
		if (*pp == q) {
			*pp = q->next;
			c->npending--;
			return 0;
		}
	return -1;
}

/* The local channel's callbacks (channel.h); the token is the pending query */

static void local_answer_cb(void *ctx, uint64_t token, uint8_t *msg, size_t len,
			    const struct dns_msg_info *r, uint64_t sent_ns, uint64_t now_ns)
{
	struct tcp_client *c = ctx;
	struct proxy *p = c->p;
	struct tcp_pending *q = (struct tcp_pending *)(uintptr_t)token;
	q->local = 0;
	pending_unlink(c, q);
	dnsmsg_put16(msg, q->client_id);
	c->last_active_ns = now_ns;
	if (r && q->parsed)
		proxy_emit(p, &q->q, r, len, now_ns - sent_ns, 1, (struct sockaddr *)&c->addr);
	int answered = q->answered;
	recstate_answer(p->rec, &p->rview, sent_ns, now_ns);
	if (p->peers) {
		peers_local_answer(p->peers, r);
		proxy_peer_cancel_race(p, q->peer, !answered);
		q->peer = 0;
	}
	pending_free(p, q);
	if (answered) {
		if (c->reads_paused)
			resume_reads(c);
		return; /* a peer answered first */
	}
	if (client_send(c, msg, len) == 0 && c->reads_paused)
		resume_reads(c);
}

/*
 * The local Recursor will not answer q (its connection failed, or the
 * timeout): a peer takes over, with peers; else SERVFAIL, unless a peer
 * answered already
 */
static void local_fail_cb(void *ctx, uint64_t token, enum channel_failure why, const uint8_t *pkt,
			  size_t len, uint64_t sent_ns, uint64_t now_ns)
{
	struct tcp_client *c = ctx;
	struct proxy *p = c->p;
	struct tcp_pending *q = (struct tcp_pending *)(uintptr_t)token;
	q->local = 0;
	if (why == CHANNEL_TIMEOUT)
		recstate_timeout(p->rec, &p->rview, sent_ns, now_ns);
	if (peer_takes_over(c, q))
		return;
	pending_unlink(c, q);
	int r = q->answered ? 0 : send_servfail(c, q); /* -1: the client was closed (q is off its list) */
	pending_free(p, q);
	if (r == 0 && c->reads_paused)
		resume_reads(c);
}

/* After what one read of the local connection brought, or its failure */
static void local_flush_cb(void *ctx)
{
	maybe_finish(ctx);
}

static void local_refused_cb(void *ctx)
{
	struct tcp_client *c = ctx;
	proxy_local_refused(c->p);
}

/* Returns -1 if the client was closed */
static int handle_query(struct tcp_client *c, uint8_t *msg, size_t len)
{
	struct proxy *p = c->p;
	struct dns_msg_info info;

	p->st.tcp_queries++;
	if (len < DNS_HDR_LEN || dnsmsg_hdr_qr(msg)) {
		p->st.dropped_not_query++;
		return 0;
	}
	struct tcp_pending *q = calloc(1, sizeof(*q));
	if (!q)
		return 0;
	int rc = dnsmsg_parse(msg, len, &info);
	q->parsed = rc == DNS_OK;
	q->qbuf_len = DNS_HDR_LEN;
	if (rc == DNS_OK) {
		proxy_ev_query(&q->q, &info, len);
		q->qbuf_len = info.question_end;
	} else {
		p->st.malformed_queries++;
	}
	memcpy(q->qbuf, msg, q->qbuf_len);
	q->c = c;
	q->client_id = dnsmsg_get16(msg);
	q->sent_ns = clock_mono_ns();
	if (p->peers && len <= PEER_QMAX && (q->full = malloc(len))) {
		memcpy(q->full, msg, len);
		q->full_len = (uint16_t)len;
	}
	q->peer = proxy_peer_ask(p, proxy_peer_mode(p, q->sent_ns), msg, len, 1, (uint64_t)(uintptr_t)q,
				 q->sent_ns, rc == DNS_OK ? &info : NULL);
	q->next = c->pending;
	c->pending = q;
	c->npending++;
	/* always the local Recursor, over this client's own connection (opened at its first query) */
	struct channel_query cq = {msg, len, rc == DNS_OK ? &info : NULL, 1, PEER_OFF};
	if ((q->local = channel_send(&c->local_ch, &cq, (uint64_t)(uintptr_t)q, q->sent_ns)))
		return 0;
	/* not sent: the connect failed at once (a refusal was reported), or out of memory */
	if (peer_takes_over(c, q))
		return 0;
	c->pending = q->next;
	c->npending--;
	int r = send_servfail(c, q);
	pending_free(p, q);
	return r;
}

/*
 * Hands the buffered complete queries on, as long as fewer than
 * TCP_MAX_PENDING wait; returns -1 if the client was closed. Queries over
 * the limit stay in the frame buffer and the reads stop: the client waits
 * for its answers instead of getting SERVFAIL.
 */
static int take_queries(struct tcp_client *c)
{
	struct proxy *p = c->p;
	char err[128];
	uint8_t *msg;
	size_t len;
	int r = 0;
	while (c->npending < TCP_MAX_PENDING &&
	       (r = tcpframe_next(&c->in, &msg, &len, err, sizeof(err))) > 0) {
		c->last_active_ns = clock_mono_ns();
		if (len == 0) {
			p->st.dropped_not_query++;
			client_close(c); /* a zero-length frame: the stream is not DNS */
			return -1;
		}
		if (handle_query(c, msg, len) < 0)
			return -1;
	}
	if (r < 0) {
		client_close(c); /* cannot happen with the 2-byte limit; never read past it */
		return -1;
	}
	if (c->npending >= TCP_MAX_PENDING) {
		if (!c->reads_paused) {
			c->reads_paused = 1;
			p->st.tcp_reads_paused++;
			ev_io_stop(p->loop, &c->rio);
		}
	} else if (c->reads_paused && !c->client_eof) {
		c->reads_paused = 0;
		ev_io_start(p->loop, &c->rio);
	}
	return 0;
}

/* An answer made room: take the queries that waited, read again */
static void resume_reads(struct tcp_client *c)
{
	take_queries(c);
}

static void client_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tcp_client *c = w->data;
	char err[128];
	int r = tcpframe_recv(&c->in, c->fd, err, sizeof(err));
	if (r == 0)
		return; /* nothing yet */
	if (r < 0) {
		/* EOF: answer what is pending, then close; a read error: close now */
		c->client_eof = 1;
		ev_io_stop(loop, &c->rio);
		if (c->in.eof)
			maybe_finish(c);
		else
			client_close(c);
		return;
	}
	/* only a complete query counts as activity (take_queries): a trickle does not */
	take_queries(c);
}

static void client_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tcp_client *c = w->data;
	int wr = obuf_flush(&c->out, c->fd);
	if (wr < 0) {
		client_close(c);
		return;
	}
	if (wr > 0)
		c->out_progress_ns = clock_mono_ns();
	if (!obuf_pending(&c->out)) {
		ev_io_stop(loop, &c->wio);
		maybe_finish(c);
	}
}

/* Connections open from the host of ss (a walk: --max-tcp-clients bounds it) */
static unsigned count_from(const struct proxy *p, const struct sockaddr_storage *ss)
{
	unsigned n = 0;
	for (const struct tcp_client *c = p->tcp_clients; c; c = c->next)
		if (netaddr_same_host(&c->addr, ss))
			n++;
	return n;
}

/* Closes the connection idle longest (nothing pending, no answer unread); returns 0 if there was one */
static int close_oldest_idle(struct proxy *p)
{
	struct tcp_client *oldest = NULL;
	for (struct tcp_client *c = p->tcp_clients; c; c = c->next)
		if (c->npending == 0 && !obuf_pending(&c->out) &&
		    (!oldest || c->last_active_ns < oldest->last_active_ns))
			oldest = c;
	if (!oldest)
		return -1;
	p->st.tcp_evicted++;
	client_close(oldest);
	return 0;
}

static void accept_pause(struct proxy *p)
{
	for (size_t i = 0; i < p->nlisteners; i++)
		if (p->listeners[i].tcp && ev_is_active(&p->listeners[i].io))
			ev_io_stop(p->loop, &p->listeners[i].io);
	acceptor_pause(p->loop, &p->accept_backoff, ACCEPT_BACKOFF);
}

static void accept_resume_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct proxy *p = w->data;
	for (size_t i = 0; i < p->nlisteners; i++)
		if (p->listeners[i].tcp && p->listeners[i].fd >= 0 && !ev_is_active(&p->listeners[i].io))
			ev_io_start(loop, &p->listeners[i].io);
}

void ptcp_init(struct proxy *p)
{
	ev_timer_init(&p->accept_backoff, accept_resume_cb, ACCEPT_BACKOFF, 0.);
	p->accept_backoff.data = p;
}

static unsigned per_client_limit(const struct proxy *p)
{
	return p->cfg.max_tcp_per_client ? p->cfg.max_tcp_per_client : p->cfg.max_tcp_clients;
}

void ptcp_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener *l = w->data;
	struct proxy *p = l->p;
	char a[128];
	for (int k = 0; k < 16; k++) {
		struct sockaddr_storage ss;
		int fd;
		enum acceptor_result ar = acceptor_accept(l->fd, &ss, &fd);
		if (ar == ACCEPTOR_DRAINED)
			return;
		if (ar == ACCEPTOR_EXHAUSTED) {
			/* free a descriptor, and pause (acceptor.h) */
			int e = errno;
			p->st.accept_errors++;
			int freed = close_oldest_idle(p) == 0;
			log_rated(&log_accept, LIMIT_LOG_INTERVAL, LOG_LVL_WARN,
				  "cannot accept TCP connections: %s; %s, pausing accept for %.1f s",
				  strerror(e),
				  freed ? "closed the connection idle longest" : "no idle connection to close",
				  ACCEPT_BACKOFF);
			accept_pause(p);
			return;
		}
		if (p->tcp_open >= p->cfg.max_tcp_clients && close_oldest_idle(p) == 0) {
			log_rated(&log_full, LIMIT_LOG_INTERVAL, LOG_LVL_WARN,
				  "TCP client limit (--max-tcp-clients %u%s) reached: closed the connection idle longest",
				  p->cfg.max_tcp_clients, SHARE(p));
		} else if (p->tcp_open >= p->cfg.max_tcp_clients) {
			/* every connection is busy: refuse this one, leave the next ones in the backlog a while */
			p->st.tcp_clients_refused++;
			close(fd);
			log_rated(&log_full, LIMIT_LOG_INTERVAL, LOG_LVL_WARN,
				  "TCP client limit (--max-tcp-clients %u%s) reached and no connection is idle: "
				  "refusing, pausing accept for %.1f s",
				  p->cfg.max_tcp_clients, SHARE(p), ACCEPT_BACKOFF);
			accept_pause(p);
			return;
		}
		if (count_from(p, &ss) >= per_client_limit(p)) {
			p->st.tcp_clients_refused++;
			p->st.tcp_per_client_refused++;
			log_rated(&log_per_client, LIMIT_LOG_INTERVAL, LOG_LVL_WARN,
				  "refusing TCP connection from '%s': it has %u open (--max-tcp-per-client%s)",
				  netaddr_format((struct sockaddr *)&ss, a, sizeof(a)), per_client_limit(p), SHARE(p));
			close(fd);
			continue;
		}
		struct tcp_client *c = calloc(1, sizeof(*c));
		char err[128];
		struct tcpchan_config tcfg = {
			.server = &p->upstream,
			.qseed = p->qseed,
			.max_inflight = TCP_MAX_PENDING,
			.count = {&p->st.answers, &p->st.unexpected_responses, &p->st.mismatched_answers,
				  &p->st.malformed_responses, &p->st.upstream_timeouts}};
		struct channel_user user = {local_answer_cb, local_fail_cb, local_flush_cb, local_refused_cb, c};
		if (!c || tcpframe_init(&c->in, TCPFRAME_MAX, err, sizeof(err)) < 0 ||
		    !(c->local = tcpchan_create(p->loop, &tcfg, &user))) {
			if (c) {
				tcpframe_free(&c->in);
				free(c);
			}
			close(fd);
			continue;
		}
		c->local_ch = tcpchan_channel(c->local);
		int sndbuf = TCP_CLIENT_SNDBUF;
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
		c->p = p;
		c->fd = fd;
		c->addr = ss;
		c->start_ns = c->last_active_ns = clock_mono_ns();
		ev_io_init(&c->rio, client_read_cb, fd, EV_READ);
		ev_io_init(&c->wio, client_write_cb, fd, EV_WRITE);
		c->rio.data = c->wio.data = c;
		ev_io_start(loop, &c->rio);
		DL_PREPEND(p->tcp_clients, c);
		p->st.tcp_clients++;
		p->tcp_open++;
		p->st.tcp_clients_open = p->tcp_open;
	}
}

void ptcp_sweep(struct proxy *p, uint64_t now)
{
	uint64_t idle_ns = (uint64_t)(p->cfg.tcp_idle_timeout * 1e9);
	uint64_t max_ns = p->cfg.tcp_max_duration > 0 ? (uint64_t)(p->cfg.tcp_max_duration * 1e9) : 0;
	struct tcp_client *c = p->tcp_clients, *next;
	for (; c; c = next) {
		next = c->next;
		char a[128];
		if (max_ns && now - c->start_ns > max_ns) {
			/* a connection lives this long at most, however it trickles */
			p->st.tcp_closed_duration++;
			log_rated(&log_duration, LIMIT_LOG_INTERVAL, LOG_LVL_INFO,
				  "closing TCP client '%s': open for --tcp-max-duration %.0f s",
				  netaddr_format((struct sockaddr *)&c->addr, a, sizeof(a)),
				  p->cfg.tcp_max_duration);
			client_close(c);
			continue;
		}
		if (obuf_pending(&c->out) && now - c->out_progress_ns > idle_ns) {
			/* its answers have not drained for the idle timeout: it does not read */
			p->st.tcp_closed_unread++;
			log_rated(&log_unread, LIMIT_LOG_INTERVAL, LOG_LVL_INFO,
				  "closing TCP client '%s': its answers have not drained for %.1f s "
				  "(--tcp-idle-timeout), %zu bytes unread",
				  netaddr_format((struct sockaddr *)&c->addr, a, sizeof(a)),
				  p->cfg.tcp_idle_timeout, obuf_pending(&c->out));
			client_close(c);
			continue;
		}
		/* the local Recursor's timeouts (local_fail_cb; one waiting for a peer is not in flight there) */
		uint64_t closes = p->tcp_closes;
		tcpchan_sweep(c->local, now, p->timeout_ns);
		if (p->tcp_closes != closes)
			continue; /* a SERVFAIL closed it */
		if (c->reads_paused && c->npending < TCP_MAX_PENDING) {
			if (take_queries(c) < 0)
				continue;
		}
		if (c->npending == 0 && obuf_pending(&c->out) == 0 &&
		    (c->client_eof || now - c->last_active_ns > idle_ns))
			client_close(c);
	}
}

/* Peers' callbacks for TCP clients (proxy.c passes them on): the token is the pending query */

static void after_peer(struct tcp_client *c, int r)
{
	if (r < 0)
		return; /* closed */
	if (c->reads_paused)
		resume_reads(c);
	else
		maybe_finish(c);
}

void ptcp_peer_answer(struct proxy *p, uint64_t token, uint8_t *pkt, size_t len)
{
	struct tcp_pending *q = (struct tcp_pending *)(uintptr_t)token;
	struct tcp_client *c = q->c;
	q->peer = 0;
	if (q->answered)
		return;
	q->answered = 1;
	dnsmsg_put16(pkt, q->client_id);
	if (!q->local && pending_unlink(c, q) == 0)
		pending_free(p, q);
	after_peer(c, client_send(c, pkt, len));
}

void ptcp_peer_fail(struct proxy *p, uint64_t token)
{
	struct tcp_pending *q = (struct tcp_pending *)(uintptr_t)token;
	struct tcp_client *c = q->c;
	q->peer = 0;
	if (q->local || pending_unlink(c, q) < 0)
		return; /* the upstream may still answer */
	int r = q->answered ? 0 : send_servfail(c, q);
	pending_free(p, q);
	after_peer(c, r);
}

void ptcp_peer_hedge(struct proxy *p, uint64_t token, uint8_t *pkt, size_t len)
{
	struct tcp_pending *q = (struct tcp_pending *)(uintptr_t)token;
	q->peer = proxy_peer_send(p, pkt, len, 1, token, PEER_HEDGE, clock_mono_ns());
}

void ptcp_destroy_all(struct proxy *p)
{
	if (ev_is_active(&p->accept_backoff))
		ev_timer_stop(p->loop, &p->accept_backoff);
	while (p->tcp_clients)
		client_close(p->tcp_clients);
}
