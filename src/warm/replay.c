/*
 * replay.c: the paced replay; see replay.h.
 *
 * One connected UDP socket and one ID pool (idpool.h): a query takes an ID
 * (the pool records when it was sent) and its item's index is kept in an
 * array indexed by the ID; the answer is matched by ID and question.
 * Timeouts are found at the pool's oldest in-flight ID, so a tick costs
 * nothing while nothing is late. A repeating 10 ms timer refills the
 * pacer's token bucket and lets it decide its rate (pacer.h); the
 * in-flight count bounds concurrency.
 */
#include "config.h"

#include "warm/replay.h"

#include "base/clock.h"
#include "base/log.h"
#include "dns/dnsmsg.h"
#include "dns/qkey.h"
#include "net/idpool.h"
#include "net/netaddr.h"
#include "net/rootprobe.h"
#include "warm/pacer.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REPLAY_TICK 0.01 /* seconds between pacing ticks */

struct replay_state {
	const struct replay_config *cfg;
	const struct hot_item *items;
	size_t n, next;
	struct replay_result *res;
	struct ev_loop *loop;
	int fd;
	ev_io io;
	ev_timer tick;
	struct idpool *ids;
	uint32_t *item; /* IDPOOL_MAX: the item (index) of an ID in flight */
	struct pacer pacer;
	uint64_t timeout_ns;
	double started, last_draw;
};

static int stop_set(const atomic_int *stop)
{
	return stop && atomic_load(stop);
}

static void draw(struct replay_state *w, int final)
{
	struct replay_result *r = w->res;
	double el = clock_mono() - w->started;
	size_t done = r->answered + r->timeouts + r->send_errors;
	double rate = el > 0 ? done / el : 0;
	double left = rate > 0 ? (r->total - done) / rate : 0;
	int width = 30, fill = r->total ? (int)(width * done / r->total) : width;
	char bar[64];
	for (int i = 0; i < width; i++)
		bar[i] = i < fill ? '#' : '-';
	bar[width] = '\0';
	fprintf(stderr, "\r[%s] %zu/%zu  %.0f q/s (pace %.0f)  failed %zu  %s %.0fs ", bar, done,
		r->total, rate, pacer_rate(&w->pacer), r->timeouts + r->send_errors,
		final ? "took" : "left", final ? el : left);
	if (final)
		fputc('\n', stderr);
	fflush(stderr);
}

static void send_some(struct replay_state *w)
{
	uint8_t pkt[DNS_HDR_LEN + DNS_MAX_NAME + 32];
	uint64_t now_ns = clock_mono_ns();
	double now = now_ns / 1e9;
	unsigned allowed = pacer_allowed(&w->pacer, now);
	while (w->next < w->n && allowed > 0 && idpool_count(w->ids) < w->cfg->concurrency) {
		int id = idpool_take(w->ids, now_ns);
		if (id < 0)
			break; /* cannot happen: concurrency is below the pool's size */
		const struct hot_item *it = &w->items[w->next];
		int len = dnsmsg_make_query((uint16_t)id, it->qname, it->qname_len, it->qtype, 1, pkt,
					    sizeof(pkt));
		ssize_t r = len >= 0 ? send(w->fd, pkt, (size_t)len, 0) : -1;
		if (r < 0 && len >= 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
			/* the send buffer is full: the same name again on the next tick */
			idpool_give(w->ids, (uint16_t)id);
			if (w->res->send_retries < SIZE_MAX)
				w->res->send_retries++;
			break;
		}
		w->item[id] = (uint32_t)w->next;
		w->next++;
		allowed--;
		if (r < 0) {
			idpool_give(w->ids, (uint16_t)id);
			w->res->send_errors++;
			continue;
		}
		pacer_sent(&w->pacer, now);
		w->res->sent++;
	}
}

static void finish_if_done(struct replay_state *w)
{
	int stop = stop_set(w->cfg->stop);
	if ((w->next >= w->n && idpool_count(w->ids) == 0) || stop) {
		if (stop)
			w->res->stopped = 1;
		ev_break(w->loop, EVBREAK_ALL);
	}
}

static void on_answer(struct ev_loop *loop, ev_io *io, int revents)
{
	struct replay_state *w = io->data;
	uint8_t buf[65536];
	struct dns_msg_info m;
	for (;;) {
		ssize_t r = recv(w->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r < 0)
			break;
		if (r < DNS_HDR_LEN || !dnsmsg_hdr_qr(buf))
			continue;
		uint16_t id = dnsmsg_get16(buf);
		if (!idpool_in_flight(w->ids, id))
			continue; /* late answer after a timeout, or never asked */
		const struct hot_item *it = &w->items[w->item[id]];
		int rc = dnsmsg_parse(buf, (size_t)r, &m);
		struct dns_qkey q; /* the query's key (class IN), unseeded: the socket is connected to the target */
		dns_qkey_question(it->qname, it->qname_len, it->qtype, DNS_CLASS_IN, 0, &q);
		if (!dns_qkey_answers(&q, buf, (size_t)r, rc == DNS_OK ? &m : NULL, 0))
			continue; /* not the answer to this ID's question */
		int code = rc == DNS_OK ? dnsmsg_rcode(&m) : dnsmsg_hdr_rcode(buf);
		w->res->rcodes[code > 15 ? 15 : code]++;
		if (w->cfg->warmed && rc == DNS_OK && (code == DNS_RCODE_NOERROR || code == DNS_RCODE_NXDOMAIN))
			warmset_add(w->cfg->warmed, warmset_key(w->cfg->warmed, it->qname, it->qname_len, it->qtype));
		w->res->answered++;
		pacer_answer(&w->pacer, idpool_sent(w->ids, id) / 1e9, clock_mono());
		idpool_give(w->ids, id);
	}
	send_some(w);
	finish_if_done(w);
}

static void on_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct replay_state *w = t->data;
	uint64_t now_ns = clock_mono_ns(), sent;
	double now = now_ns / 1e9;
	int id;
	while ((id = idpool_oldest(w->ids, &sent)) >= 0 && now_ns - sent > w->timeout_ns) {
		pacer_timeout(&w->pacer, sent / 1e9, now);
		idpool_give(w->ids, (uint16_t)id);
		w->res->timeouts++;
	}
	double was = pacer_rate(&w->pacer);
	size_t decisions = w->pacer.holds + w->pacer.confirmed;
	pacer_tick(&w->pacer, now);
	if (pacer_rate(&w->pacer) != was || w->pacer.holds + w->pacer.confirmed != decisions) {
		const struct pacer *p = &w->pacer;
		log_debug("pace %.0f -> %.0f q/s (%s): window late %.1f%%, median %.0f ms; baseline late %.1f%%, median %.0f ms",
			  was, pacer_rate(p), p->why, 100 * p->last.late, 1000 * p->last.median, 100 * p->last_base.late,
			  1000 * p->last_base.median);
	}
	send_some(w);
	if (w->cfg->live)
		atomic_store(&w->cfg->live->done, w->res->answered + w->res->timeouts + w->res->send_errors);
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

int replay_run(const struct replay_config *cfg, const struct hot_item *items, size_t n,
	       struct replay_result *res, char *err, size_t err_size)
{
	struct replay_state w;
	struct replay_result r;
	memset(&r, 0, sizeof(r));
	memset(&w, 0, sizeof(w));
	r.total = n;
	if (cfg->qps == 0 || cfg->concurrency == 0 || cfg->concurrency > REPLAY_MAX_CONCURRENCY ||
	    !(cfg->query_timeout > 0 && cfg->query_timeout <= REPLAY_MAX_TIMEOUT)) {
		snprintf(err, err_size, "qps must be positive, concurrency 1 to %d and query timeout above 0 and at most %d s",
			 REPLAY_MAX_CONCURRENCY, REPLAY_MAX_TIMEOUT);
		return -1;
	}
	if ((w.fd = open_target(cfg->target, err, err_size)) < 0)
		return -1;
	w.ids = idpool_create(IDPOOL_MAX);
	w.item = calloc(IDPOOL_MAX, sizeof(*w.item));
	w.loop = ev_loop_new(EVFLAG_AUTO);
	if (!w.ids || !w.item || !w.loop) {
		snprintf(err, err_size, "out of memory");
		idpool_destroy(w.ids);
		free(w.item);
		if (w.loop)
			ev_loop_destroy(w.loop);
		close(w.fd);
		return -1;
	}
	w.cfg = cfg;
	w.items = items;
	w.n = n;
	w.res = &r;
	w.timeout_ns = (uint64_t)(cfg->query_timeout * 1e9);
	w.started = w.last_draw = clock_mono();
	struct pacer_config pc = {
		.qps = cfg->qps,
		.max_qps = cfg->max_qps,
		.min_qps = cfg->qps / 10.0,
		.slow_after = cfg->query_timeout / 5,
		.timeout = cfg->query_timeout,
	};
	pacer_init(&w.pacer, &pc, w.started);
	if (cfg->live) {
		atomic_store(&cfg->live->total, n);
		atomic_store(&cfg->live->done, 0);
	}
	ev_io_init(&w.io, on_answer, w.fd, EV_READ);
	w.io.data = &w;
	ev_io_start(w.loop, &w.io);
	ev_timer_init(&w.tick, on_tick, REPLAY_TICK, REPLAY_TICK);
	w.tick.data = &w;
	ev_timer_start(w.loop, &w.tick);
	if (n > 0 && !stop_set(cfg->stop))
		ev_run(w.loop, 0);
	else if (n > 0)
		r.stopped = 1;
	r.seconds = clock_mono() - w.started;
	r.peak_qps = w.pacer.peak;
	r.final_qps = pacer_rate(&w.pacer);
	r.raises = w.pacer.raises;
	r.backoffs = w.pacer.backoffs;
	r.holds = w.pacer.holds;
	if (cfg->live)
		atomic_store(&cfg->live->done, r.answered + r.timeouts + r.send_errors);
	if (cfg->progress)
		draw(&w, 1);
	ev_loop_destroy(w.loop);
	idpool_destroy(w.ids);
	free(w.item);
	close(w.fd);
	*res = r;
	return 0;
}

int replay_probe(const char *target, double timeout, int *rcode)
{
	struct netaddr a;
	char why[256];
	if (netaddr_parse(target, 53, &a) < 0)
		return ROOTPROBE_LOCAL;
	return rootprobe_ask((struct sockaddr *)&a.ss, a.len, timeout, rcode, NULL, why, sizeof(why));
}

int replay_wait_ready(const char *target, double timeout, atomic_int *stop, char *err,
		      size_t err_size)
{
	double start = clock_mono(), deadline = start + timeout;
	int last = -1;
	for (;;) {
		if (stop_set(stop)) {
			snprintf(err, err_size, "interrupted while waiting for '%s'", target);
			return -1;
		}
		double t0 = clock_mono();
		int rcode;
		if (replay_probe(target, 0.5, &rcode) == 0) {
			if (rcode == DNS_RCODE_NOERROR)
				return 0;
			last = rcode;
		}
		if (t0 >= deadline)
			break;
		double rest = 0.2 - (clock_mono() - t0);
		if (rest > 0) {
			struct timespec ts = {0, (long)(rest * 1e9)};
			nanosleep(&ts, NULL);
		}
	}
	if (last < 0) {
		snprintf(err, err_size, "target '%s' did not answer within %.0f s", target, timeout);
	} else {
		char rb[16];
		snprintf(err, err_size, "target '%s' could not resolve '. NS' within %.0f s (last answer %s)",
			 target, timeout, dnsmsg_rcode_to_text(last, rb));
	}
	return -1;
}
