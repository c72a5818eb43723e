/*
 * http.c: the bounded HTTP/1.x server behind /metrics and /health; see http.h.
 *
 * One libev loop on one thread. A connection reads its request head into a
 * fixed buffer (HTTP_MAX_REQUEST), is answered once and closed; a timer per
 * connection closes it HTTP_TIMEOUT after accept whatever it is doing, so
 * a client sending or reading slowly holds one of HTTP_MAX_CONNS slots for
 * a bounded time. A client address holds at most HTTP_MAX_PER_CLIENT of
 * them. At the cap a new connection takes the slot of the oldest one still
 * sending its head (the list is newest first: its tail); when all are being
 * answered, the new one is closed at once, so it neither queues in the
 * backlog nor costs a buffer. When
 * accept itself fails for want of descriptors or memory (EMFILE, ENFILE,
 * ENOBUFS, ENOMEM), the connection stays in the backlog and the listener
 * stays readable: accepting stops for HTTP_ACCEPT_BACKOFF (a timer starts
 * it again) instead of spinning, counted and logged once per
 * HTTP_LOG_INTERVAL.
 */
#include "config.h"

#include "ops/http.h"

#include "base/log.h"
#include "net/acceptor.h"
#include "net/netaddr.h"

#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <utlist.h>

#define HTTP_ACCEPT_BACKOFF 0.2 /* seconds accept pauses after EMFILE and the like */
#define HTTP_LOG_INTERVAL 10.0  /* seconds between two lines on accept failures */

struct http_conn {
	struct http_server *s;
	struct http_conn *prev, *next;
	int fd;
	struct sockaddr_storage peer;
	int answering; /* the head is complete: the answer is being written */
	ev_io io;
	ev_timer timer;
	size_t rlen;
	char *out;
	size_t olen, opos;
	char req[HTTP_MAX_REQUEST + 1];
};

struct http_server {
	int fd;
	struct ev_loop *loop;
	ev_io accept_io;
	ev_timer accept_backoff;
	struct log_rate log_accept;
	ev_async stop;
	pthread_t thread;
	int started;
	http_handler handler;
	void *arg;
	struct http_conn *conns;
	unsigned nconns;
	int logged_cap, logged_client, logged_evict, logged_large, logged_ctl, logged_timeout;
	atomic_uint_fast64_t requests, refused, client_refused, evicted, bad, timeouts, accept_errors;
};

static void conn_close(struct http_conn *c)
{
	struct http_server *s = c->s;
	ev_io_stop(s->loop, &c->io);
	ev_timer_stop(s->loop, &c->timer);
	close(c->fd);
	DL_DELETE(s->conns, c);
	s->nconns--;
	free(c->out);
	free(c);
}

static const char *status_text(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 503:
		return "Service Unavailable";
	default:
		return "Error";
	}
}

static void write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct http_conn *c = w->data;
	while (c->opos < c->olen) {
		ssize_t n = send(c->fd, c->out + c->opos, c->olen - c->opos, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			conn_close(c);
			return;
		}
		c->opos += (size_t)n;
	}
	shutdown(c->fd, SHUT_WR);
	conn_close(c);
}

/* Queues the answer (status line, headers, body: taken over) and starts writing it */
static void respond(struct http_conn *c, int status, const char *ctype, char *body, size_t blen)
{
	char head[256];
	int hl = snprintf(head, sizeof(head),
			  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			  "Connection: close\r\n%s\r\n",
			  status, status_text(status), ctype, blen,
			  status == 405 ? "Allow: GET\r\n" : "");
	atomic_fetch_add(&c->s->requests, 1);
	c->out = malloc((size_t)hl + blen);
	if (!c->out) {
		free(body);
		conn_close(c);
		return;
	}
	memcpy(c->out, head, (size_t)hl);
	if (blen)
		memcpy(c->out + hl, body, blen);
	free(body);
	c->olen = (size_t)hl + blen;
	c->opos = 0;
	c->answering = 1;
	ev_io_stop(c->s->loop, &c->io);
	ev_io_init(&c->io, write_cb, c->fd, EV_WRITE);
	c->io.data = c;
	ev_io_start(c->s->loop, &c->io);
}

static void respond_text(struct http_conn *c, int status, const char *text)
{
	char *b = strdup(text);
	respond(c, status, "text/plain; charset=utf-8", b, b ? strlen(b) : 0);
}

/* The head is complete (NUL-terminated in c->req): answer it */
static void handle(struct http_conn *c)
{
	struct http_server *s = c->s;
	char *sp1 = strchr(c->req, ' ');
	char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	char *eol = strpbrk(c->req, "\r\n");
	if (!sp1 || !sp2 || !eol || sp2 > eol || sp1 == c->req || sp2 == sp1 + 1 ||
	    strncmp(sp2 + 1, "HTTP/1.", 7) || sp1[1] != '/') {
		atomic_fetch_add(&s->bad, 1);
		respond_text(c, 400, "bad request\n");
		return;
	}
	*sp1 = *sp2 = '\0';
	if (strcmp(c->req, "GET")) {
		atomic_fetch_add(&s->bad, 1);
		respond_text(c, 405, "only GET is served\n");
		return;
	}
	char *path = sp1 + 1;
	path[strcspn(path, "?#")] = '\0';
	struct http_response r = {0, "text/plain; charset=utf-8", NULL, 0};
	if (s->handler(s->arg, path, &r) < 0) {
		free(r.body);
		respond_text(c, 404, "not found: try /metrics or /health\n");
		return;
	}
	respond(c, r.status, r.content_type, r.body, r.body_len);
}

static void read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct http_conn *c = w->data;
	struct http_server *s = c->s;
	ssize_t n = recv(c->fd, c->req + c->rlen, HTTP_MAX_REQUEST - c->rlen, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	/* a NUL would hide the rest of the head from the string functions below */
	for (ssize_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)c->req[c->rlen + (size_t)i];
		if ((ch < 0x20 && ch != '\r' && ch != '\n' && ch != '\t') || ch == 0x7f) {
			if (!s->logged_ctl) {
				log_warn("http: a request head held control byte 0x%02x: answered 400 "
					 "(logged once)",
					 ch);
				s->logged_ctl = 1;
			}
			atomic_fetch_add(&s->bad, 1);
			respond_text(c, 400, "bad request\n");
			return;
		}
	}
	c->rlen += (size_t)n;
	c->req[c->rlen] = '\0';
	if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n")) {
		handle(c);
		return;
	}
	if (c->rlen >= HTTP_MAX_REQUEST) {
		if (!s->logged_large) {
			log_warn(
				"http: a request head exceeded %d bytes: answered 400 (logged once)",
				HTTP_MAX_REQUEST);
			s->logged_large = 1;
		}
		atomic_fetch_add(&s->bad, 1);
		respond_text(c, 400, "request too large\n");
	}
}

static void timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct http_conn *c = w->data;
	struct http_server *s = c->s;
	if (!s->logged_timeout) {
		log_warn("http: a connection took longer than %.0f s: closed (logged once)",
			 HTTP_TIMEOUT);
		s->logged_timeout = 1;
	}
	atomic_fetch_add(&s->timeouts, 1);
	conn_close(c);
}

/*
 * Makes room for a new connection from peer: 0, or -1 when it must be
 * closed at once (its address has HTTP_MAX_PER_CLIENT open, or all
 * HTTP_MAX_CONNS are being answered). At the cap, the oldest connection
 * still sending its head is closed for it.
 */
static int admit(struct http_server *s, const struct sockaddr_storage *peer)
{
	unsigned same = 0;
	struct http_conn *c, *oldest = NULL;
	DL_FOREACH(s->conns, c)
	{
		same += netaddr_same_host(&c->peer, peer);
		if (!c->answering)
			oldest = c; /* newest first: the last one seen is the oldest */
	}
	if (same >= HTTP_MAX_PER_CLIENT) {
		if (!s->logged_client) {
			log_warn("http: %d connections open from one address: closing its new ones "
				 "until some end (logged once)",
				 HTTP_MAX_PER_CLIENT);
			s->logged_client = 1;
		}
		atomic_fetch_add(&s->client_refused, 1);
		return -1;
	}
	if (s->nconns < HTTP_MAX_CONNS)
		return 0;
	if (!oldest) {
		if (!s->logged_cap) {
			log_warn("http: %d connections open, all being answered: closing new ones "
				 "until some end (logged once)",
				 HTTP_MAX_CONNS);
			s->logged_cap = 1;
		}
		atomic_fetch_add(&s->refused, 1);
		return -1;
	}
	if (!s->logged_evict) {
		log_warn("http: %d connections open: closing the oldest one still sending its "
			 "request for each new one (logged once)",
			 HTTP_MAX_CONNS);
		s->logged_evict = 1;
	}
	atomic_fetch_add(&s->evicted, 1);
	conn_close(oldest);
	return 0;
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct http_server *s = w->data;
	for (int k = 0; k < 64; k++) {
		int fd;
		struct sockaddr_storage peer;
		enum acceptor_result ar = acceptor_accept(s->fd, &peer, &fd);
		if (ar == ACCEPTOR_DRAINED)
			return;
		if (ar == ACCEPTOR_EXHAUSTED) {
			atomic_fetch_add(&s->accept_errors, 1);
			log_rated(&s->log_accept, HTTP_LOG_INTERVAL, LOG_LVL_WARN,
				  "http: cannot accept connections: %s; pausing accept for %.1f s",
				  strerror(errno), HTTP_ACCEPT_BACKOFF);
			ev_io_stop(loop, &s->accept_io);
			acceptor_pause(loop, &s->accept_backoff, HTTP_ACCEPT_BACKOFF);
			return;
		}
		if (admit(s, &peer) < 0) {
			close(fd);
			continue;
		}
		struct http_conn *c = malloc(sizeof(*c));
		if (!c) {
			atomic_fetch_add(&s->refused, 1);
			close(fd);
			continue;
		}
		c->s = s;
		c->fd = fd;
		c->peer = peer;
		c->answering = 0;
		c->rlen = 0;
		c->out = NULL;
		c->olen = c->opos = 0;
		DL_PREPEND(s->conns, c);
		s->nconns++;
		ev_io_init(&c->io, read_cb, fd, EV_READ);
		c->io.data = c;
		ev_io_start(loop, &c->io);
		ev_timer_init(&c->timer, timeout_cb, HTTP_TIMEOUT, 0);
		c->timer.data = c;
		ev_timer_start(loop, &c->timer);
	}
}

static void accept_resume_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct http_server *s = w->data;
	ev_io_start(loop, &s->accept_io);
}

static void stop_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	ev_break(loop, EVBREAK_ALL);
}

static void *http_thread(void *arg)
{
	struct http_server *s = arg;
	ev_run(s->loop, 0);
	return NULL;
}

struct http_server *http_create(const char *listen_addr, http_handler handler, void *arg, char *err,
				size_t err_size)
{
	struct netaddr a;
	int one = 1;
	if (netaddr_parse(listen_addr, 0, &a) < 0 || netaddr_port((struct sockaddr *)&a.ss) == 0) {
		snprintf(err, err_size, "bad --metrics-listen address '%s' (expected ADDR:PORT)",
			 listen_addr);
		return NULL;
	}
	struct http_server *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	s->handler = handler;
	s->arg = arg;
	s->fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0 || setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(s->fd, (struct sockaddr *)&a.ss, a.len) < 0 || listen(s->fd, 64) < 0) {
		snprintf(err, err_size, "cannot listen for HTTP on '%s': %s", listen_addr,
			 strerror(errno));
		goto fail;
	}
	if (!(s->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK))) {
		snprintf(err, err_size, "cannot create the HTTP loop");
		goto fail;
	}
	ev_io_init(&s->accept_io, accept_cb, s->fd, EV_READ);
	s->accept_io.data = s;
	ev_io_start(s->loop, &s->accept_io);
	ev_timer_init(&s->accept_backoff, accept_resume_cb, HTTP_ACCEPT_BACKOFF, 0.);
	s->accept_backoff.data = s;
	ev_async_init(&s->stop, stop_cb);
	ev_async_start(s->loop, &s->stop);
	return s;
fail:
	http_destroy(s);
	return NULL;
}

int http_start(struct http_server *s, char *err, size_t err_size)
{
	/* signals belong to the data path's loop: the thread blocks them all */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = pthread_create(&s->thread, NULL, http_thread, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, err_size, "cannot start the HTTP thread: %s", strerror(rc));
		return -1;
	}
	s->started = 1;
	return 0;
}

void http_get_stats(const struct http_server *s, struct http_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!s)
		return;
	st->requests = atomic_load(&s->requests);
	st->refused = atomic_load(&s->refused);
	st->client_refused = atomic_load(&s->client_refused);
	st->evicted = atomic_load(&s->evicted);
	st->bad = atomic_load(&s->bad);
	st->timeouts = atomic_load(&s->timeouts);
	st->accept_errors = atomic_load(&s->accept_errors);
}

void http_destroy(struct http_server *s)
{
	if (!s)
		return;
	if (s->started) {
		ev_async_send(s->loop, &s->stop);
		pthread_join(s->thread, NULL);
	}
	/* the thread has ended: its connections are ours now */
	while (s->conns)
		conn_close(s->conns);
	if (s->loop)
		ev_loop_destroy(s->loop);
	if (s->fd >= 0)
		close(s->fd);
	free(s);
}
