/*
 * warm.c: the paced replay; see warm.h.
 *
 * One connected UDP socket per 16-bit ID space; a query takes a free ID of
 * a socket, its slot records when it was sent, and the answer is matched by
 * ID and question. A token bucket refilled by a repeating timer bounds the
 * rate; the in-flight count bounds concurrency.
 */
#include "config.h"

#include "warm.h"

#include "clock.h"
#include "dnsmsg.h"
#include "log.h"
#include "netaddr.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WARM_TICK 0.01 /* seconds between pacing ticks */

struct warm_slot {
	double sent;
	size_t item; /* index + 1; 0 = free */
};

struct warm_run_state {
	const struct warm_config *cfg;
	const struct hot_item *items;
	size_t n, next;
	struct warm_result *res;
	struct ev_loop *loop;
	int fd;
	ev_io io;
	ev_timer tick;
	struct warm_slot *slots; /* 65536 */
	uint16_t next_id;
	size_t inflight;
	double tokens, started, last_draw, last_scan;
};

static void draw(struct warm_run_state *w, int final)
{
	struct warm_result *r = w->res;
	double el = clock_mono() - w->started;
	size_t done = r->answered + r->timeouts + r->send_errors;
	double rate = el > 0 ? done / el : 0;
	double left = rate > 0 ? (r->total - done) / rate : 0;
	int width = 30, fill = r->total ? (int)(width * done / r->total) : width;
	char bar[64];
	for (int i = 0; i < width; i++)
		bar[i] = i < fill ? '#' : '-';
	bar[width] = '\0';
	fprintf(stderr, "\r[%s] %zu/%zu  %.0f q/s  failed %zu  %s %.0fs ", bar, done, r->total, rate,
		r->timeouts + r->send_errors, final ? "took" : "left", final ? el : left);
	if (final)
		fputc('\n', stderr);
	fflush(stderr);
}

static void send_some(struct warm_run_state *w)
{
	uint8_t pkt[DNS_HDR_LEN + DNS_MAX_NAME + 32];
	while (w->next < w->n && w->inflight < w->cfg->concurrency && w->tokens >= 1) {
		uint16_t id = w->next_id;
		/* find a free ID; at most concurrency are taken, so this ends quickly */
		while (w->slots[id].item)
			id++;
		w->next_id = (uint16_t)(id + 1);
		const struct hot_item *it = &w->items[w->next];
		int len = dnsmsg_make_query(id, it->qname, it->qname_len, it->qtype, 1, pkt, sizeof(pkt));
		w->next++;
		w->tokens -= 1;
		if (len < 0 || send(w->fd, pkt, (size_t)len, 0) < 0) {
			w->res->send_errors++;
			continue;
		}
		w->slots[id].item = w->next; /* index + 1 */
		w->slots[id].sent = clock_mono();
		w->inflight++;
		w->res->sent++;
	}
}

static void finish_if_done(struct warm_run_state *w)
{
	if ((w->next >= w->n && w->inflight == 0) || (w->cfg->stop && *w->cfg->stop)) {
		if (w->cfg->stop && *w->cfg->stop)
			w->res->stopped = 1;
		ev_break(w->loop, EVBREAK_ALL);
	}
}

static void on_answer(struct ev_loop *loop, ev_io *io, int revents)
{
	struct warm_run_state *w = io->data;
	uint8_t buf[65536];
	struct dns_msg_info m;
	for (;;) {
		ssize_t r = recv(w->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r < 0)
			break;
		if (r < DNS_HDR_LEN)
			continue;
		uint16_t id = dnsmsg_get16(buf);
		struct warm_slot *s = &w->slots[id];
		if (!s->item)
			continue; /* late answer after a timeout */
		const struct hot_item *it = &w->items[s->item - 1];
		int rc = dnsmsg_parse(buf, (size_t)r, &m);
		if (rc == DNS_OK && (m.qname_len != it->qname_len || memcmp(m.qname, it->qname, it->qname_len) ||
				     m.qtype != it->qtype))
			continue; /* not the answer to this ID's question */
		int code = rc == DNS_OK ? dnsmsg_rcode(&m) : (buf[3] & 0x0f);
		w->res->rcodes[code > 15 ? 15 : code]++;
		w->res->answered++;
		s->item = 0;
		w->inflight--;
	}
	send_some(w);
	finish_if_done(w);
}

static void on_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct warm_run_state *w = t->data;
	double now = clock_mono();
	/* the bucket holds at most a tenth of a second of queries, at least one */
	double cap = w->cfg->qps / 10.0 < 1 ? 1 : w->cfg->qps / 10.0;
	w->tokens += w->cfg->qps * WARM_TICK;
	if (w->tokens > cap)
		w->tokens = cap;
	if (w->inflight && now - w->last_scan > 0.1) {
		w->last_scan = now;
		for (uint32_t id = 0; id < 65536; id++) {
			struct warm_slot *s = &w->slots[id];
			if (s->item && now - s->sent > w->cfg->query_timeout) {
				s->item = 0;
				w->inflight--;
				w->res->timeouts++;
			}
		}
	}
	send_some(w);
	if (w->cfg->progress && now - w->last_draw > 0.2) {
		draw(w, 0);
		w->last_draw = now;
	}
	finish_if_done(w);
}

static int open_target(const char *target, char *err, size_t err_size)
{
	struct netaddr a;
	char ab[128];
	if (netaddr_parse(target, 53, &a) < 0) {
		snprintf(err, err_size, "bad target address '%s' (expected ADDR:PORT)", target);
		return -1;
	}
	int fd = socket(a.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a.ss, a.len) < 0) {
		snprintf(err, err_size, "cannot reach target '%s': %s",
			 netaddr_format((struct sockaddr *)&a.ss, ab, sizeof(ab)), strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	int sz = 4 * 1024 * 1024;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	return fd;
}

int warm_run(const struct warm_config *cfg, const struct hot_item *items, size_t n,
	     struct warm_result *res, char *err, size_t err_size)
{
	struct warm_run_state w;
	memset(res, 0, sizeof(*res));
	memset(&w, 0, sizeof(w));
	res->total = n;
	if (cfg->qps == 0 || cfg->concurrency == 0 || cfg->concurrency > 60000) {
		snprintf(err, err_size, "qps must be positive and concurrency 1 to 60000");
		return -1;
	}
	if ((w.fd = open_target(cfg->target, err, err_size)) < 0)
		return -1;
	w.slots = calloc(65536, sizeof(*w.slots));
	w.loop = ev_loop_new(EVFLAG_AUTO);
	if (!w.slots || !w.loop) {
		snprintf(err, err_size, "out of memory");
		free(w.slots);
		if (w.loop)
			ev_loop_destroy(w.loop);
		close(w.fd);
		return -1;
	}
	w.cfg = cfg;
	w.items = items;
	w.n = n;
	w.res = res;
	w.tokens = 1;
	w.next_id = (uint16_t)random();
	w.started = w.last_draw = clock_mono();
	ev_io_init(&w.io, on_answer, w.fd, EV_READ);
	w.io.data = &w;
	ev_io_start(w.loop, &w.io);
	ev_timer_init(&w.tick, on_tick, WARM_TICK, WARM_TICK);
	w.tick.data = &w;
	ev_timer_start(w.loop, &w.tick);
	if (n > 0)
		ev_run(w.loop, 0);
	res->seconds = clock_mono() - w.started;
	if (cfg->progress)
		draw(&w, 1);
	ev_loop_destroy(w.loop);
	free(w.slots);
	close(w.fd);
	return 0;
}

int warm_probe(const char *target, double timeout)
{
	char err[256];
	uint8_t q[64], buf[4096], name[16];
	int fd = open_target(target, err, sizeof(err));
	if (fd < 0)
		return -1;
	int nl = dnsmsg_name_from_text("localhost.", name, sizeof(name));
	uint16_t id = (uint16_t)random();
	int len = dnsmsg_make_query(id, name, (size_t)nl, 1, 1, q, sizeof(q));
	int rc = -1;
	if (send(fd, q, (size_t)len, 0) == len) {
		double deadline = clock_mono() + timeout;
		for (;;) {
			int ms = (int)((deadline - clock_mono()) * 1000);
			struct pollfd p = {fd, POLLIN, 0};
			if (ms <= 0 || poll(&p, 1, ms) <= 0)
				break;
			ssize_t r = recv(fd, buf, sizeof(buf), 0);
			if (r < 0 && errno == ECONNREFUSED)
				break; /* nothing listens there */
			if (r >= DNS_HDR_LEN && dnsmsg_get16(buf) == id && (buf[2] & 0x80)) {
				rc = 0;
				break;
			}
		}
	}
	close(fd);
	return rc;
}

int warm_wait_target(const char *target, double timeout, volatile int *stop)
{
	double deadline = clock_mono() + timeout;
	for (;;) {
		if (stop && *stop)
			return -1;
		double t0 = clock_mono();
		if (warm_probe(target, 0.5) == 0)
			return 0;
		if (t0 >= deadline)
			return -1;
		double rest = 0.2 - (clock_mono() - t0);
		if (rest > 0) {
			struct timespec ts = {0, (long)(rest * 1e9)};
			nanosleep(&ts, NULL);
		}
	}
}
