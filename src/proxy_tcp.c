/*
 * proxy_tcp.c: the TCP side of the proxy; see proxy.h.
 *
 * Each client connection gets its own upstream TCP connection, opened on
 * its first query. Queries are forwarded as they arrive (pipelined) with
 * IDs of the connection's own, and answers go back to the client in the
 * order the upstream sends them, which may differ from the query order.
 * Frames are read with tcpframe.h on both sides; a frame handed to
 * handle_query/handle_answer lives in that connection's tcpframe buffer and
 * is only valid until the next read on the same side.
 * Ownership: a tcp_client owns its two sockets, its buffers and its
 * pending queries; closing it frees all of them.
 */
#include "config.h"

#include "proxy_int.h"

#include "clock.h"
#include "log.h"
#include "tcpframe.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TCP_MAX_PENDING 100          /* per connection, like the Recursor's own limit */
#define TCP_OUT_LIMIT (1024 * 1024) /* a client that reads slower than this is dropped */
#define TCP_QBUF (DNS_HDR_LEN + DNS_MAX_NAME + 4)

struct obuf {
	uint8_t *data;
	size_t len, off, cap;
};

struct tcp_pending {
	struct tcp_pending *next;
	uint64_t sent_ns;
	uint32_t qhash;
	struct ev_query q;
	uint16_t up_id, client_id;
	uint16_t qbuf_len;
	uint8_t parsed;
	uint8_t qbuf[TCP_QBUF]; /* header and question, for a SERVFAIL */
};

struct tcp_client {
	struct tcp_client *prev, *next;
	struct proxy *p;
	int fd, ufd;
	ev_io rio, wio, urio, uwio;
	int uconnecting;
	int client_eof;
	struct tcpframe in, uin; /* frames from the client and from the upstream */
	struct obuf out, uout;
	struct tcp_pending *pending;
	unsigned npending;
	uint16_t next_id;
	uint64_t last_active_ns;
	struct sockaddr_storage addr;
};

static int obuf_append(struct obuf *b, const uint8_t *data, size_t len)
{
	if (b->off && b->off == b->len)
		b->off = b->len = 0;
	if (b->len + len > b->cap) {
		if (b->off) {
			memmove(b->data, b->data + b->off, b->len - b->off);
			b->len -= b->off;
			b->off = 0;
		}
		if (b->len + len > b->cap) {
			size_t cap = b->cap ? b->cap : 4096;
			while (cap < b->len + len)
				cap *= 2;
			uint8_t *d = realloc(b->data, cap);
			if (!d)
				return -1;
			b->data = d;
			b->cap = cap;
		}
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

static size_t obuf_pending(const struct obuf *b)
{
	return b->len - b->off;
}

/* Writes what it can; returns -1 on a write error */
static int obuf_flush(struct obuf *b, int fd)
{
	while (obuf_pending(b)) {
		ssize_t w = send(fd, b->data + b->off, obuf_pending(b), MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		b->off += (size_t)w;
	}
	return 0;
}

static void client_close(struct tcp_client *c)
{
	struct proxy *p = c->p;
	ev_io_stop(p->loop, &c->rio);
	ev_io_stop(p->loop, &c->wio);
	ev_io_stop(p->loop, &c->urio);
	ev_io_stop(p->loop, &c->uwio);
	if (c->fd >= 0)
		close(c->fd);
	if (c->ufd >= 0)
		close(c->ufd);
	while (c->pending) {
		struct tcp_pending *n = c->pending->next;
		free(c->pending);
		c->pending = n;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		p->tcp_clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	p->st.tcp_clients_open--;
	tcpframe_free(&c->in);
	tcpframe_free(&c->uin);
	free(c->out.data);
	free(c->uout.data);
	free(c);
}

/* Queues one framed message to the client; returns -1 if the client was closed */
static int client_send(struct tcp_client *c, const uint8_t *msg, size_t len)
{
	uint8_t hdr[2];
	dnsmsg_put16(hdr, (uint16_t)len);
	if (obuf_pending(&c->out) + len + 2 > TCP_OUT_LIMIT || obuf_append(&c->out, hdr, 2) < 0 ||
	    obuf_append(&c->out, msg, len) < 0) {
		log_debug("dropping TCP client that does not read its answers");
		client_close(c);
		return -1;
	}
	if (obuf_flush(&c->out, c->fd) < 0) {
		client_close(c);
		return -1;
	}
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

/* Answers every pending query with SERVFAIL; returns -1 if the client was closed */
static int fail_pending(struct tcp_client *c)
{
	while (c->pending) {
		struct tcp_pending *q = c->pending;
		c->pending = q->next;
		c->npending--;
		int r = send_servfail(c, q);
		free(q);
		if (r < 0)
			return -1;
	}
	return 0;
}

static void upstream_reset(struct tcp_client *c)
{
	ev_io_stop(c->p->loop, &c->urio);
	ev_io_stop(c->p->loop, &c->uwio);
	if (c->ufd >= 0)
		close(c->ufd);
	c->ufd = -1;
	c->uconnecting = 0;
	tcpframe_reset(&c->uin);
	c->uout.len = c->uout.off = 0;
}

/* The upstream connection failed: SERVFAIL what waits on it; returns -1 if the client was closed */
static int upstream_failed(struct tcp_client *c, const char *why)
{
	char a[128];
	log_debug("upstream TCP connection to '%s' failed: %s",
		  netaddr_format((struct sockaddr *)&c->p->upstream.ss, a, sizeof(a)), why);
	upstream_reset(c);
	return fail_pending(c);
}

static void maybe_finish(struct tcp_client *c)
{
	if (c->client_eof && c->npending == 0 && obuf_pending(&c->out) == 0)
		client_close(c);
}

static void upstream_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tcp_client *c = w->data;
	if (c->uconnecting) {
		int err = 0;
		socklen_t len = sizeof(err);
		getsockopt(c->ufd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			if (upstream_failed(c, strerror(err)) == 0)
				maybe_finish(c);
			return;
		}
		c->uconnecting = 0;
		ev_io_start(loop, &c->urio);
	}
	if (obuf_flush(&c->uout, c->ufd) < 0) {
		if (upstream_failed(c, strerror(errno)) == 0)
			maybe_finish(c);
		return;
	}
	if (!obuf_pending(&c->uout))
		ev_io_stop(loop, &c->uwio);
}

static void handle_answer(struct tcp_client *c, uint8_t *msg, size_t len)
{
	struct proxy *p = c->p;
	struct dns_msg_info info;
	struct tcp_pending **pp, *q = NULL;

	if (len < DNS_HDR_LEN) {
		p->st.unexpected_responses++;
		return;
	}
	uint16_t id = dnsmsg_get16(msg);
	for (pp = &c->pending; *pp; pp = &(*pp)->next)
		if ((*pp)->up_id == id) {
			q = *pp;
			break;
		}
	if (!q) {
		p->st.unexpected_responses++;
		return;
	}
	int rc = dnsmsg_parse(msg, len, &info);
	if (rc == DNS_OK && q->parsed && proxy_question_hash(&info) != q->qhash) {
		p->st.unexpected_responses++;
		return;
	}
	if (rc != DNS_OK)
		p->st.malformed_responses++;
	*pp = q->next;
	c->npending--;
	p->st.answers++;
	dnsmsg_put16(msg, q->client_id);
	if (rc == DNS_OK && q->parsed)
		proxy_emit(p, &q->q, &info, len, clock_mono_ns() - q->sent_ns, 1,
			   (struct sockaddr *)&c->addr);
	free(q);
	client_send(c, msg, len);
}

static void upstream_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tcp_client *c = w->data;
	struct proxy *p = c->p;
	char err[128];
	uint8_t *msg;
	size_t len;
	int r = tcpframe_recv(&c->uin, c->ufd, err, sizeof(err));
	if (r == 0)
		return; /* nothing yet */
	if (r < 0) {
		if (upstream_failed(c, c->uin.eof ? "closed by the upstream" : err) == 0)
			maybe_finish(c);
		return;
	}
	/* handle_answer may close the client: the open count tells */
	uint64_t before = p->st.tcp_clients_open;
	while ((r = tcpframe_next(&c->uin, &msg, &len, err, sizeof(err))) > 0) {
		handle_answer(c, msg, len);
		if (p->st.tcp_clients_open != before)
			return; /* closed */
	}
	if (r < 0) {
		if (upstream_failed(c, err) == 0)
			maybe_finish(c);
		return;
	}
	c->last_active_ns = clock_mono_ns();
	maybe_finish(c);
}

static int upstream_connect(struct tcp_client *c)
{
	struct proxy *p = c->p;
	c->ufd = socket(p->upstream.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (c->ufd < 0)
		return -1;
	if (connect(c->ufd, (struct sockaddr *)&p->upstream.ss, p->upstream.len) < 0 &&
	    errno != EINPROGRESS) {
		close(c->ufd);
		c->ufd = -1;
		return -1;
	}
	c->uconnecting = 1;
	ev_io_init(&c->urio, upstream_read_cb, c->ufd, EV_READ);
	ev_io_init(&c->uwio, upstream_write_cb, c->ufd, EV_WRITE);
	c->urio.data = c->uwio.data = c;
	ev_io_start(p->loop, &c->uwio);
	return 0;
}

/* Returns -1 if the client was closed */
static int handle_query(struct tcp_client *c, uint8_t *msg, size_t len)
{
	struct proxy *p = c->p;
	struct dns_msg_info info;

	p->st.tcp_queries++;
	if (len < DNS_HDR_LEN || (msg[2] & 0x80)) {
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
		q->qhash = proxy_question_hash(&info);
		proxy_ev_query(&q->q, &info, len);
		q->qbuf_len = info.question_end;
	} else {
		p->st.malformed_queries++;
	}
	memcpy(q->qbuf, msg, q->qbuf_len);
	q->client_id = dnsmsg_get16(msg);
	q->up_id = c->next_id++;
	q->sent_ns = clock_mono_ns();
	if (c->npending >= TCP_MAX_PENDING) {
		int r = send_servfail(c, q);
		free(q);
		return r;
	}
	if (c->ufd < 0 && upstream_connect(c) < 0) {
		int r = send_servfail(c, q);
		free(q);
		return r;
	}
	q->next = c->pending;
	c->pending = q;
	c->npending++;
	uint8_t hdr[2];
	dnsmsg_put16(hdr, (uint16_t)len);
	dnsmsg_put16(msg, q->up_id);
	if (obuf_append(&c->uout, hdr, 2) < 0 || obuf_append(&c->uout, msg, len) < 0)
		return upstream_failed(c, "out of memory");
	if (!c->uconnecting && obuf_flush(&c->uout, c->ufd) < 0)
		return upstream_failed(c, strerror(errno));
	if (obuf_pending(&c->uout))
		ev_io_start(p->loop, &c->uwio);
	return 0;
}

static void client_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tcp_client *c = w->data;
	char err[128];
	uint8_t *msg;
	size_t len;
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
	c->last_active_ns = clock_mono_ns();
	while ((r = tcpframe_next(&c->in, &msg, &len, err, sizeof(err))) > 0) {
		if (len == 0) {
			c->p->st.dropped_not_query++;
			client_close(c); /* a zero-length frame: the stream is not DNS */
			return;
		}
		if (handle_query(c, msg, len) < 0)
			return;
	}
	if (r < 0)
		client_close(c); /* cannot happen with the 2-byte limit; never read past it */
}

static void client_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tcp_client *c = w->data;
	if (obuf_flush(&c->out, c->fd) < 0) {
		client_close(c);
		return;
	}
	if (!obuf_pending(&c->out)) {
		ev_io_stop(loop, &c->wio);
		maybe_finish(c);
	}
}

void ptcp_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener *l = w->data;
	struct proxy *p = l->p;
	for (int k = 0; k < 16; k++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (p->st.tcp_clients_open >= p->cfg.max_tcp_clients) {
			p->st.tcp_clients_refused++;
			close(fd);
			continue;
		}
		struct tcp_client *c = calloc(1, sizeof(*c));
		char err[128];
		if (!c || tcpframe_init(&c->in, TCPFRAME_MAX, err, sizeof(err)) < 0 ||
		    tcpframe_init(&c->uin, TCPFRAME_MAX, err, sizeof(err)) < 0) {
			if (c) {
				tcpframe_free(&c->in);
				free(c);
			}
			close(fd);
			continue;
		}
		c->p = p;
		c->fd = fd;
		c->ufd = -1;
		c->addr = ss;
		c->next_id = (uint16_t)random();
		c->last_active_ns = clock_mono_ns();
		ev_io_init(&c->rio, client_read_cb, fd, EV_READ);
		ev_io_init(&c->wio, client_write_cb, fd, EV_WRITE);
		c->rio.data = c->wio.data = c;
		ev_io_start(loop, &c->rio);
		c->next = p->tcp_clients;
		if (c->next)
			c->next->prev = c;
		p->tcp_clients = c;
		p->st.tcp_clients++;
		p->st.tcp_clients_open++;
	}
}

void ptcp_sweep(struct proxy *p, uint64_t now)
{
	uint64_t idle_ns = (uint64_t)(p->cfg.tcp_idle_timeout * 1e9);
	struct tcp_client *c = p->tcp_clients, *next;
	for (; c; c = next) {
		next = c->next;
		int closed = 0;
		for (struct tcp_pending **pp = &c->pending; *pp;) {
			struct tcp_pending *q = *pp;
			if (now - q->sent_ns < p->timeout_ns) {
				pp = &q->next;
				continue;
			}
			*pp = q->next;
			c->npending--;
			p->st.upstream_timeouts++;
			int r = send_servfail(c, q);
			free(q);
			if (r < 0) {
				closed = 1;
				break;
			}
		}
		if (closed)
			continue;
		if (c->npending == 0 && obuf_pending(&c->out) == 0 &&
		    (c->client_eof || now - c->last_active_ns > idle_ns))
			client_close(c);
	}
}

void ptcp_destroy_all(struct proxy *p)
{
	while (p->tcp_clients)
		client_close(p->tcp_clients);
}
