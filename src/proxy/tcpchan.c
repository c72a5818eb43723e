/*
 * tcpchan.c: a channel over one pipelined DNS-over-TCP connection; see
 * tcpchan.h.
 *
 * Handles: serial << 32 | slot. The slot keeps the serial, so a handle
 * whose slot was given back and taken again no longer matches; serials
 * are never 0, so no handle is 0. Callbacks run between enter and leave:
 * a destroy from a callback only marks the channel doomed, and the last
 * leave frees it.
 */
#include "config.h"

#include "proxy/tcpchan.h"

#include "base/clock.h"
#include "base/log.h"
#include "base/satsum.h"
#include "dns/qkey.h"
#include "net/tcpframe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct tc_query {
	uint64_t token, sent_ns;
	struct dns_qkey qkey;
	uint32_t serial; /* 0: the slot is free */
	uint32_t conn;   /* the connection it was sent on (tcpchan.conn) */
	uint16_t id;
};

struct tcpchan {
	struct ev_loop *loop;
	struct tcpchan_config cfg;
	struct netaddr server;
	struct channel_user user;
	int fd, connecting;
	ev_io rio, wio;
	struct tcpframe in;
	struct obuf out;
	struct tc_query *q; /* cfg.max_inflight */
	unsigned nq;
	uint32_t serial;
	uint32_t conn; /* connections opened so far */
	int depth, doomed;
};

static void count(uint64_t *c)
{
	if (c)
		sat_inc(c);
}

static void tc_free(struct tcpchan *tc)
{
	if (tc->fd >= 0) {
		ev_io_stop(tc->loop, &tc->rio);
		ev_io_stop(tc->loop, &tc->wio);
		close(tc->fd);
	}
	tcpframe_free(&tc->in);
	obuf_free(&tc->out);
	free(tc->q);
	free(tc);
}

static void enter(struct tcpchan *tc)
{
	tc->depth++;
}

static void leave(struct tcpchan *tc)
{
	if (--tc->depth == 0 && tc->doomed)
		tc_free(tc);
}

/* Ends a query: its token, its send time in *sent */
static uint64_t end(struct tcpchan *tc, struct tc_query *q, uint64_t *sent)
{
	*sent = q->sent_ns;
	q->serial = 0;
	tc->nq--;
	return q->token;
}

static void close_conn(struct tcpchan *tc)
{
	if (tc->fd < 0)
		return;
	ev_io_stop(tc->loop, &tc->rio);
	ev_io_stop(tc->loop, &tc->wio);
	close(tc->fd);
	tc->fd = -1;
	tc->connecting = 0;
	tcpframe_reset(&tc->in);
	obuf_reset(&tc->out);
}

/*
 * The connection failed: every query sent on it fails (not one a callback
 * sends meanwhile, on a new connection), then the flush callback (between
 * enter and leave)
 */
static void conn_failed(struct tcpchan *tc, enum channel_failure why, const char *reason)
{
	char a[128];
	uint32_t conn = tc->conn;
	uint64_t now = clock_mono_ns();
	if (tc->nq)
		log_debug("TCP connection to '%s' failed with %u queries in flight: %s",
			  netaddr_format((struct sockaddr *)&tc->server.ss, a, sizeof(a)), tc->nq, reason);
	close_conn(tc);
	for (unsigned i = 0; i < tc->cfg.max_inflight && tc->nq && !tc->doomed; i++) {
		if (!tc->q[i].serial || tc->q[i].conn != conn)
			continue;
		uint64_t sent, token = end(tc, &tc->q[i], &sent);
		tc->user.fail(tc->user.ctx, token, why, NULL, 0, sent, now);
	}
	if (!tc->doomed && tc->user.flush)
		tc->user.flush(tc->user.ctx);
}

static void answer(struct tcpchan *tc, uint8_t *msg, size_t len, uint64_t now)
{
	struct dns_msg_info info;
	if (len < DNS_HDR_LEN || !dnsmsg_hdr_qr(msg)) {
		count(tc->cfg.count.unexpected);
		return;
	}
	uint16_t id = dnsmsg_get16(msg);
	struct tc_query *q = NULL;
	for (unsigned i = 0; i < tc->cfg.max_inflight && !q; i++)
		if (tc->q[i].serial && tc->q[i].id == id)
			q = &tc->q[i];
	if (!q) {
		count(tc->cfg.count.unexpected);
		return;
	}
	int rc = dnsmsg_parse(msg, len, &info);
	if (!dns_qkey_answers(&q->qkey, msg, len, rc == DNS_OK ? &info : NULL, tc->cfg.qseed)) {
		/* the right ID but another question: not the answer to this query */
		count(tc->cfg.count.unexpected);
		count(tc->cfg.count.mismatched);
		return;
	}
	if (rc != DNS_OK)
		count(tc->cfg.count.malformed);
	count(tc->cfg.count.answers);
	uint64_t sent, token = end(tc, q, &sent);
	tc->user.answer(tc->user.ctx, token, msg, len, rc == DNS_OK ? &info : NULL, sent, now);
}

static void read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tcpchan *tc = w->data;
	char err[128];
	uint8_t *msg;
	size_t len;
	enter(tc);
	int r = tcpframe_recv(&tc->in, tc->fd, err, sizeof(err));
	if (r < 0) {
		conn_failed(tc, CHANNEL_UNSENT, err); /* closed by the server, or a read error */
	} else if (r > 0) {
		uint64_t now = clock_mono_ns();
		while (!tc->doomed && (r = tcpframe_next(&tc->in, &msg, &len, err, sizeof(err))) > 0)
			answer(tc, msg, len, now);
		if (!tc->doomed && r < 0)
			conn_failed(tc, CHANNEL_UNSENT, err);
		else if (!tc->doomed && tc->user.flush)
			tc->user.flush(tc->user.ctx);
	}
	leave(tc);
}

static void write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tcpchan *tc = w->data;
	enter(tc);
	if (tc->connecting) {
		int err = 0;
		socklen_t len = sizeof(err);
		getsockopt(tc->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			if (err == ECONNREFUSED && tc->user.refused)
				tc->user.refused(tc->user.ctx);
			if (!tc->doomed)
				conn_failed(tc, err == ECONNREFUSED ? CHANNEL_REFUSED : CHANNEL_UNSENT,
					    strerror(err));
			leave(tc);
			return;
		}
		tc->connecting = 0;
		ev_io_start(loop, &tc->rio);
	}
	if (obuf_flush(&tc->out, tc->fd) < 0)
		conn_failed(tc, CHANNEL_UNSENT, strerror(errno));
	else if (!obuf_pending(&tc->out))
		ev_io_stop(loop, &tc->wio);
	leave(tc);
}

/* Opens the connection (non-blocking); 0, or -1 when it failed at once (errno set) */
static int conn_open(struct tcpchan *tc)
{
	tc->fd = socket(tc->server.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (tc->fd < 0)
		return -1;
	if (connect(tc->fd, (struct sockaddr *)&tc->server.ss, tc->server.len) < 0 && errno != EINPROGRESS) {
		int e = errno;
		close(tc->fd);
		tc->fd = -1;
		errno = e;
		return -1;
	}
	tc->connecting = 1;
	tc->conn++;
	ev_io_init(&tc->rio, read_cb, tc->fd, EV_READ);
	ev_io_init(&tc->wio, write_cb, tc->fd, EV_WRITE);
	tc->rio.data = tc->wio.data = tc;
	ev_io_start(tc->loop, &tc->wio);
	return 0;
}

/* A random ID no query in flight has: they cannot be guessed from the previous ones */
static uint16_t new_id(const struct tcpchan *tc)
{
	for (;;) {
		uint16_t id = (uint16_t)arc4random();
		unsigned i = 0;
		while (i < tc->cfg.max_inflight && !(tc->q[i].serial && tc->q[i].id == id))
			i++;
		if (i == tc->cfg.max_inflight)
			return id;
	}
}

static uint64_t tc_send(void *impl, const struct channel_query *cq, uint64_t token, uint64_t now_ns)
{
	struct tcpchan *tc = impl;
	if (cq->len < DNS_HDR_LEN || cq->len > TCPFRAME_MAX || tc->nq >= tc->cfg.max_inflight)
		return 0;
	if (tc->fd < 0 && conn_open(tc) < 0) {
		if (errno == ECONNREFUSED && tc->user.refused)
			tc->user.refused(tc->user.ctx);
		return 0;
	}
	unsigned i = 0;
	while (tc->q[i].serial)
		i++; /* nq < max_inflight: one is free */
	struct tc_query *q = &tc->q[i];
	if (obuf_append_framed(&tc->out, cq->pkt, cq->len) < 0)
		return 0;
	q->id = new_id(tc);
	dnsmsg_put16(tc->out.data + tc->out.len - cq->len, q->id);
	if (++tc->serial == 0 || tc->serial > 0x7fffffffu)
		tc->serial = 1;
	q->serial = tc->serial;
	q->token = token;
	q->sent_ns = now_ns;
	q->conn = tc->conn;
	dns_qkey_of(cq->pkt, cq->len, cq->msg, tc->cfg.qseed, &q->qkey);
	tc->nq++;
	/* a write error shows again in write_cb, which fails what is in flight: send never calls back */
	if (!tc->connecting && obuf_flush(&tc->out, tc->fd) < 0)
		ev_io_start(tc->loop, &tc->wio);
	else if (obuf_pending(&tc->out))
		ev_io_start(tc->loop, &tc->wio);
	return (uint64_t)q->serial << 32 | i;
}

static void tc_cancel(void *impl, uint64_t handle, int lost_race)
{
	struct tcpchan *tc = impl;
	unsigned i = (unsigned)(handle & 0xffffffffu);
	if (i < tc->cfg.max_inflight && tc->q[i].serial && tc->q[i].serial == (uint32_t)(handle >> 32)) {
		tc->q[i].serial = 0; /* its answer, if it comes, is unexpected */
		tc->nq--;
	}
	(void)lost_race;
}

void tcpchan_sweep(struct tcpchan *tc, uint64_t now_ns, uint64_t timeout_ns)
{
	enter(tc);
	for (unsigned i = 0; i < tc->cfg.max_inflight && tc->nq && !tc->doomed; i++) {
		struct tc_query *q = &tc->q[i];
		if (!q->serial || now_ns - q->sent_ns < timeout_ns)
			continue;
		count(tc->cfg.count.timeouts);
		uint64_t sent, token = end(tc, q, &sent);
		tc->user.fail(tc->user.ctx, token, CHANNEL_TIMEOUT, NULL, 0, sent, now_ns);
	}
	leave(tc);
}

unsigned tcpchan_in_flight(const struct tcpchan *tc)
{
	return tc->nq;
}

static const struct channel_ops tc_ops = {tc_send, NULL, tc_cancel};

struct channel tcpchan_channel(struct tcpchan *tc)
{
	return (struct channel){&tc_ops, tc};
}

struct tcpchan *tcpchan_create(struct ev_loop *loop, const struct tcpchan_config *cfg,
			       const struct channel_user *user)
{
	char err[128];
	if (cfg->max_inflight < 1 || cfg->max_inflight > TCPCHAN_MAX_INFLIGHT)
		return NULL;
	struct tcpchan *tc = calloc(1, sizeof(*tc));
	if (!tc)
		return NULL;
	tc->loop = loop;
	tc->cfg = *cfg;
	tc->server = *cfg->server;
	tc->user = *user;
	tc->fd = -1;
	tc->q = calloc(cfg->max_inflight, sizeof(*tc->q));
	if (!tc->q || tcpframe_init(&tc->in, TCPFRAME_MAX, err, sizeof(err)) < 0) {
		free(tc->q);
		free(tc);
		return NULL;
	}
	return tc;
}

void tcpchan_destroy(struct tcpchan *tc)
{
	if (!tc)
		return;
	if (tc->depth) {
		tc->doomed = 1; /* in a callback: the last leave frees it */
		close_conn(tc);
		return;
	}
	tc_free(tc);
}
