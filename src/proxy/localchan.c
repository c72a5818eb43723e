/*
 * localchan.c: the channel to the local Recursor over UDP; see localchan.h.
 *
 * Handles: serial << 32 | socket << 16 | ID. The ID's slot keeps the
 * serial, so a handle whose ID was given back and taken again no longer
 * matches; serials are never 0, so no handle is 0.
 */
#include "config.h"

#include "proxy/localchan.h"

#include "base/clock.h"
#include "base/satsum.h"
#include "dns/qkey.h"
#include "net/idpool.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SOCK_BUF (4 * 1024 * 1024)

union lc_addr {
	struct sockaddr sa;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
};

struct lc_slot {
	uint64_t token;
	struct dns_qkey qkey;
	uint32_t serial;
};

struct lc_sock {
	struct localchan *lc;
	unsigned index;
	int fd;
	ev_io io;
	/* the answers' receive batch, set up once: a call resets only the entries it used */
	struct mmsghdr rx_msgs[LOCALCHAN_BATCH];
	struct iovec rx_iov[LOCALCHAN_BATCH];
	union lc_addr rx_from[LOCALCHAN_BATCH];
	struct lc_slot *slots; /* LOCALCHAN_IDS */
	struct idpool *ids;    /* free IDs and the in-flight list */
};

struct localchan {
	struct ev_loop *loop;
	struct localchan_config cfg;
	struct channel_user user;
	struct netaddr upstream;
	struct lc_sock *socks;
	unsigned nsocks, cur;
	uint32_t serial;
	/* the queries send queued for flush, all on socks[cur] */
	struct mmsghdr out[LOCALCHAN_BATCH];
	struct iovec out_iov[LOCALCHAN_BATCH];
	uint16_t out_ids[LOCALCHAN_BATCH];
	uint32_t out_serials[LOCALCHAN_BATCH]; /* a query cancelled before its flush no longer matches */
	unsigned nout;
};

static void lc_flush(void *impl);

static uint32_t next_serial(struct localchan *lc)
{
	if (++lc->serial == 0 || lc->serial > 0x7fffffffu)
		lc->serial = 1;
	return lc->serial;
}

static uint64_t lc_send(void *impl, const struct channel_query *q, uint64_t token, uint64_t now_ns)
{
	struct localchan *lc = impl;
	if (q->len < DNS_HDR_LEN)
		return 0;
	if (lc->nout == LOCALCHAN_BATCH)
		lc_flush(lc);
	struct lc_sock *u = &lc->socks[lc->cur];
	int i = idpool_take(u->ids, now_ns);
	if (i < 0) {
		sat_inc(&lc->cfg.st->overload_drops);
		return 0;
	}
	uint16_t id = (uint16_t)i;
	struct lc_slot *s = &u->slots[id];
	s->token = token;
	s->serial = next_serial(lc);
	dns_qkey_of(q->pkt, q->len, q->msg, lc->cfg.qseed, &s->qkey);
	dnsmsg_put16(q->pkt, id);
	unsigned k = lc->nout++;
	lc->out_iov[k].iov_base = q->pkt;
	lc->out_iov[k].iov_len = q->len;
	memset(&lc->out[k], 0, sizeof(lc->out[k]));
	lc->out[k].msg_hdr.msg_iov = &lc->out_iov[k];
	lc->out[k].msg_hdr.msg_iovlen = 1;
	lc->out_ids[k] = id;
	lc->out_serials[k] = s->serial;
	return (uint64_t)s->serial << 32 | (uint64_t)u->index << 16 | id;
}

/* Ends a query in flight on u; returns its token, its send time in *sent */
static uint64_t lc_end(struct lc_sock *u, uint16_t id, uint64_t *sent)
{
	*sent = idpool_sent(u->ids, id);
	idpool_give(u->ids, id);
	return u->slots[id].token;
}

static void lc_flush(void *impl)
{
	struct localchan *lc = impl;
	struct lc_sock *u = &lc->socks[lc->cur];
	unsigned done = 0, n = lc->nout;
	if (!n)
		return;
	lc->nout = 0;
	lc->cur = (lc->cur + 1) % lc->nsocks;
	uint64_t now = 0;
	while (done < n) {
		int r = sendmmsg(u->fd, lc->out + done, n - done, 0);
		if (r >= 0) {
			done += (unsigned)r;
			continue;
		}
		if (errno == EINTR)
			continue;
		/* the upstream unreachable or the buffers full: this one is not sent */
		int e = errno;
		uint16_t id = lc->out_ids[done];
		const struct iovec *v = &lc->out_iov[done];
		sat_inc(&lc->cfg.st->send_errors);
		if (!now)
			now = clock_mono_ns();
		if (e == ECONNREFUSED && lc->user.refused)
			lc->user.refused(lc->user.ctx);
		/* unless it was cancelled since (and its ID maybe taken again): then it has no one to tell */
		if (idpool_in_flight(u->ids, id) && u->slots[id].serial == lc->out_serials[done]) {
			uint64_t sent, token = lc_end(u, id, &sent);
			lc->user.fail(lc->user.ctx, token, e == ECONNREFUSED ? CHANNEL_REFUSED : CHANNEL_UNSENT,
				      v->iov_base, v->iov_len, sent, now);
		}
		done++;
	}
}

static void lc_cancel(void *impl, uint64_t handle, int lost_race)
{
	struct localchan *lc = impl;
	unsigned si = (unsigned)(handle >> 16) & 0xffff;
	uint16_t id = (uint16_t)handle;
	if (si >= lc->nsocks)
		return;
	struct lc_sock *u = &lc->socks[si];
	if (idpool_in_flight(u->ids, id) && u->slots[id].serial == (uint32_t)(handle >> 32))
		idpool_give(u->ids, id); /* its answer, if it comes, is unexpected */
	(void)lost_race;
}

/* The kernel already filters a connected socket's sources; this is the cheap second look */
static int from_upstream(const struct localchan *lc, const union lc_addr *a)
{
	const struct sockaddr *up = (const struct sockaddr *)&lc->upstream.ss;
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

/* Reads one batch of answers; returns how many datagrams were read */
static int lc_read(struct localchan *lc, struct lc_sock *u)
{
	struct proxy_stats *st = lc->cfg.st;
	struct dns_msg_info info;
	int n = recvmmsg(u->fd, u->rx_msgs, LOCALCHAN_BATCH, MSG_DONTWAIT, NULL);
	if (n < 0 && errno == ECONNREFUSED) {
		/* an ICMP port unreachable for an earlier query: the quickest sign that it is down */
		if (lc->user.refused)
			lc->user.refused(lc->user.ctx);
		return 0;
	}
	if (n <= 0)
		return 0;
	for (int i = 0; i < n; i++)
		u->rx_msgs[i].msg_hdr.msg_namelen = sizeof(u->rx_from[i]); /* for the next call */
	uint64_t now = clock_mono_ns();
	for (int i = 0; i < n; i++) {
		uint8_t *pkt = u->rx_iov[i].iov_base;
		size_t len = u->rx_msgs[i].msg_len;
		if (len < DNS_HDR_LEN || !dnsmsg_hdr_qr(pkt) || !from_upstream(lc, &u->rx_from[i])) {
			st->unexpected_responses++;
			continue;
		}
		uint16_t id = dnsmsg_get16(pkt);
		if (!idpool_in_flight(u->ids, id)) {
			st->unexpected_responses++; /* late answer after a timeout */
			continue;
		}
		int rc = dnsmsg_parse(pkt, len, &info);
		/* the raw question when it did not parse, if it can be read */
		if (!dns_qkey_answers(&u->slots[id].qkey, pkt, len, rc == DNS_OK ? &info : NULL,
				      lc->cfg.qseed)) {
			/* the right ID but another question: not the answer to this query */
			st->unexpected_responses++;
			st->mismatched_answers++;
			continue;
		}
		if (rc != DNS_OK)
			st->malformed_responses++;
		st->answers++;
		uint64_t sent, token = lc_end(u, id, &sent);
		lc->user.answer(lc->user.ctx, token, pkt, len, rc == DNS_OK ? &info : NULL, sent, now);
	}
	/* the receive buffers are reused by the next batch: what was queued goes out now */
	if (lc->user.flush)
		lc->user.flush(lc->user.ctx);
	return n;
}

static void lc_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct lc_sock *u = w->data;
	/* more while batches come full, then let the other sockets have a turn */
	for (int k = 0; k < 4 && lc_read(u->lc, u) == LOCALCHAN_BATCH; k++)
		;
}

void localchan_sweep(struct localchan *lc, uint64_t now_ns)
{
	for (unsigned i = 0; i < lc->nsocks; i++) {
		struct lc_sock *u = &lc->socks[i];
		uint64_t sent;
		int id;
		while ((id = idpool_oldest(u->ids, &sent)) >= 0 && now_ns - sent >= lc->cfg.timeout_ns) {
			lc->cfg.st->upstream_timeouts++;
			uint64_t token = lc_end(u, (uint16_t)id, &sent);
			lc->user.fail(lc->user.ctx, token, CHANNEL_TIMEOUT, NULL, 0, sent, now_ns);
		}
	}
}

uint64_t localchan_in_flight(const struct localchan *lc)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < lc->nsocks; i++)
		n += idpool_count(lc->socks[i].ids);
	return n;
}

uint32_t localchan_capacity(const struct localchan *lc)
{
	return lc->nsocks * (uint32_t)LOCALCHAN_IDS;
}

static const struct channel_ops lc_ops = {lc_send, lc_flush, lc_cancel};

struct channel localchan_channel(struct localchan *lc)
{
	return (struct channel){&lc_ops, lc};
}

static void set_bufs(int fd)
{
	int sz = SOCK_BUF;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
}

static int open_sock(struct localchan *lc, struct lc_sock *u, char *err, size_t err_size)
{
	char a[128];
	u->slots = calloc(LOCALCHAN_IDS, sizeof(*u->slots));
	u->ids = idpool_create(LOCALCHAN_IDS); /* a random permutation of all IDs */
	if (!u->slots || !u->ids) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	u->fd = socket(lc->upstream.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (u->fd < 0 || connect(u->fd, (struct sockaddr *)&lc->upstream.ss, lc->upstream.len) < 0) {
		snprintf(err, err_size, "cannot reach upstream '%s': %s",
			 netaddr_format((struct sockaddr *)&lc->upstream.ss, a, sizeof(a)),
			 strerror(errno));
		return -1;
	}
	set_bufs(u->fd);
	for (unsigned i = 0; i < LOCALCHAN_BATCH; i++) {
		u->rx_iov[i].iov_base = lc->cfg.rx_bufs + (size_t)i * LOCALCHAN_RX_SIZE;
		u->rx_iov[i].iov_len = LOCALCHAN_RX_SIZE;
		u->rx_msgs[i].msg_hdr.msg_iov = &u->rx_iov[i];
		u->rx_msgs[i].msg_hdr.msg_iovlen = 1;
		u->rx_msgs[i].msg_hdr.msg_name = &u->rx_from[i];
		u->rx_msgs[i].msg_hdr.msg_namelen = sizeof(u->rx_from[i]);
	}
	u->io.data = u;
	ev_io_init(&u->io, lc_read_cb, u->fd, EV_READ);
	ev_io_start(lc->loop, &u->io);
	return 0;
}

struct localchan *localchan_create(struct ev_loop *loop, const struct localchan_config *cfg,
				   const struct channel_user *user, char *err, size_t err_size)
{
	if (cfg->sockets < 1 || cfg->sockets > 256) {
		snprintf(err, err_size, "1 to 256 upstream sockets, not %u", cfg->sockets);
		return NULL;
	}
	struct localchan *lc = calloc(1, sizeof(*lc));
	if (!lc || !(lc->socks = calloc(cfg->sockets, sizeof(*lc->socks)))) {
		free(lc);
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	lc->loop = loop;
	lc->cfg = *cfg;
	lc->user = *user;
	lc->upstream = *cfg->upstream;
	for (unsigned i = 0; i < cfg->sockets; i++) {
		lc->socks[i].fd = -1;
		lc->socks[i].lc = lc;
		lc->socks[i].index = i;
	}
	for (unsigned i = 0; i < cfg->sockets; i++) {
		lc->nsocks++;
		if (open_sock(lc, &lc->socks[i], err, err_size) < 0) {
			localchan_destroy(lc);
			return NULL;
		}
	}
	return lc;
}

void localchan_destroy(struct localchan *lc)
{
	if (!lc)
		return;
	for (unsigned i = 0; i < lc->nsocks; i++) {
		struct lc_sock *u = &lc->socks[i];
		if (ev_is_active(&u->io))
			ev_io_stop(lc->loop, &u->io);
		if (u->fd >= 0)
			close(u->fd);
		free(u->slots);
		idpool_destroy(u->ids);
	}
	free(lc->socks);
	free(lc);
}
