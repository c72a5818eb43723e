/*
 * peer.c: warm peers as a fallback while the local Recursor restarts; see peer.h.
 *
 * Handles: a query sent to a peer is (peer index << 48 | serial << 16 |
 * ID), its slot keeps the serial, so a handle whose ID was given back and
 * taken again no longer matches; a queued hedge is (1 << 63 | serial << 16
 * | queue index). Serials are never 0, so no handle is 0.
 *
 * The hedge queue is a ring in send order: every query waits the same
 * delay, so the head is always the next one due and one timer serves all.
 */
#include "config.h"

#include "peer.h"

#include "clock.h"
#include "idpool.h"
#include "log.h"
#include "netaddr.h"
#include "proxy_int.h"
#include "tcpframe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PEER_RX_SIZE 65536
#define PEER_SWEEP 0.05
#define HEDGE_BIT (1ull << 63)
#define LIMIT_LOG_INTERVAL 10.0

/* The pure parts */

void peer_shield_init(struct peer_shield *s)
{
	memset(s, 0, sizeof(*s));
}

enum peer_mode peer_shield_step(struct peer_shield *s, int phase, int local_down, uint64_t now_ns,
				uint64_t max_ns, int *ended)
{
	*ended = 0;
	if (local_down || phase == PEER_PHASE_DOWN) {
		/* the clock starts when it is back; a warm-up seen before the restart does not count */
		s->active = 1;
		s->saw_warming = 0;
		s->since_ns = now_ns;
		return PEER_NOW;
	}
	if (phase == PEER_PHASE_WARMING) {
		if (!s->active) {
			s->active = 1;
			s->since_ns = now_ns;
		}
		s->saw_warming = 1;
	}
	if (!s->active)
		return PEER_OFF;
	if ((s->saw_warming && phase == PEER_PHASE_IDLE) || now_ns - s->since_ns > max_ns) {
		s->active = 0;
		s->saw_warming = 0;
		*ended = 1;
		return PEER_OFF;
	}
	return PEER_HEDGE;
}

void peer_bench_init(struct peer_bench *b)
{
	b->fails = 0;
	b->next = PEER_BENCH_MIN;
	b->until_ns = 0;
}

int peer_bench_usable(const struct peer_bench *b, uint64_t now_ns)
{
	return now_ns >= b->until_ns;
}

double peer_bench_fail(struct peer_bench *b, int refused, uint64_t now_ns)
{
	if (!peer_bench_usable(b, now_ns))
		return 0; /* already benched: answers of queries sent before do not extend it */
	if (!refused && ++b->fails < PEER_BENCH_FAILS)
		return 0;
	double d = b->next;
	b->until_ns = now_ns + (uint64_t)(d * 1e9);
	b->fails = 0;
	b->next = d * 2 > PEER_BENCH_MAX ? PEER_BENCH_MAX : d * 2;
	return d;
}

void peer_bench_ok(struct peer_bench *b)
{
	b->fails = 0;
	b->next = PEER_BENCH_MIN;
}

void peer_rate_init(struct peer_rate *r, unsigned max_qps, uint64_t now_ns)
{
	r->rate = max_qps;
	r->burst = max_qps / 10.0 < 1 ? 1 : max_qps / 10.0;
	r->tokens = r->burst;
	r->last_ns = now_ns;
}

int peer_rate_take(struct peer_rate *r, uint64_t now_ns)
{
	if (now_ns > r->last_ns) {
		r->tokens += (double)(now_ns - r->last_ns) / 1e9 * r->rate;
		if (r->tokens > r->burst)
			r->tokens = r->burst;
		r->last_ns = now_ns;
	}
	if (r->tokens < 1)
		return 0;
	r->tokens -= 1;
	return 1;
}

/* The forwarder */

/* A TCP client's query again over TCP, after a truncated UDP answer */
struct ptcp {
	struct peer *pe;
	uint16_t id;
	int fd;
	ev_io rio, wio;
	size_t out_len, out_off;
	uint8_t *out; /* the framed query */
	struct tcpframe in;
};

struct pslot {
	uint64_t token;
	struct proxy_qkey qkey;
	uint32_t serial;
	uint8_t tcp;
	uint8_t *query; /* a TCP client's: a copy, for the TCP fallback */
	uint16_t query_len;
	struct ptcp *conn; /* the TCP fallback in progress */
};

struct peer {
	struct peers *ps;
	unsigned index;
	struct netaddr addr;
	char name[128];
	int fd;
	ev_io io;
	struct idpool *ids;
	struct pslot *slots; /* IDPOOL_MAX */
	struct peer_bench bench;
	int bench_logged; /* the bench was logged; again only after it answered */
};

struct hedge {
	uint64_t token, due_ns;
	uint32_t serial;
	uint16_t len;
	uint8_t pkt[PEER_QMAX];
};

struct peers {
	struct ev_loop *loop;
	struct peer_config cfg;
	struct peer_callbacks cb;
	struct peer_stats *st;
	uint32_t qseed;
	struct peer *peer;
	unsigned npeers, next;
	uint64_t timeout_ns, hedge_ns, shield_max_ns;
	struct peer_rate rate;
	uint32_t serial;
	uint8_t *rx;
	struct hedge *queue; /* PEER_HEDGE_QUEUE */
	unsigned qhead, qcount;
	ev_timer hedge_timer, sweep;
	/* the local Recursor, as the data path sees it */
	int local_down;
	unsigned local_timeouts;
	uint64_t last_answer_ns;
	struct peer_shield shield;
	enum peer_mode mode;
	uint64_t shield_start_ns;
	struct peer_stats at_start; /* the counters when the shield started */
	struct log_rate log_rate, log_inflight, log_queue;
};

static void sat_inc(uint64_t *c)
{
	if (*c != UINT64_MAX)
		(*c)++;
}

static uint32_t next_serial(struct peers *ps)
{
	if (++ps->serial == 0 || ps->serial > 0x7fffffffu)
		ps->serial = 1;
	return ps->serial;
}

static void bench(struct peer *pe, int refused, uint64_t now)
{
	double d = peer_bench_fail(&pe->bench, refused, now);
	if (d <= 0)
		return;
	sat_inc(&pe->ps->st->benched);
	if (!pe->bench_logged)
		log_warn(
			"peer '%s' %s: not asking it for %.0f s (longer each time until it answers)",
			pe->name, refused ? "refuses queries" : "does not answer", d);
	else
		log_debug("peer '%s' benched again for %.0f s", pe->name, d);
	pe->bench_logged = 1;
}

static void conn_close(struct peers *ps, struct ptcp *c)
{
	ev_io_stop(ps->loop, &c->rio);
	ev_io_stop(ps->loop, &c->wio);
	close(c->fd);
	tcpframe_free(&c->in);
	free(c->out);
	free(c);
}

static void end_query(struct peer *pe, uint16_t id)
{
	struct pslot *s = &pe->slots[id];
	if (s->conn)
		conn_close(pe->ps, s->conn);
	s->conn = NULL;
	free(s->query);
	s->query = NULL;
	idpool_give(pe->ids, id);
	if (pe->ps->st->in_flight)
		pe->ps->st->in_flight--;
}

/* The peer refused (ICMP): its port is closed, so nothing in flight to it will be answered */
static void refused(struct peer *pe)
{
	struct peers *ps = pe->ps;
	uint64_t sent;
	int id;
	bench(pe, 1, clock_mono_ns());
	while ((id = idpool_oldest(pe->ids, &sent)) >= 0) {
		uint64_t token = pe->slots[id].token;
		end_query(pe, (uint16_t)id);
		sat_inc(&ps->st->failed);
		sat_inc(&ps->st->refused);
		ps->cb.fail(ps->cb.ctx, token);
	}
}

/* The TCP fallback failed: the client waits for the local Recursor */
static void conn_failed(struct ptcp *c)
{
	struct peers *ps = c->pe->ps;
	uint64_t token = c->pe->slots[c->id].token;
	end_query(c->pe, c->id);
	sat_inc(&ps->st->failed);
	ps->cb.fail(ps->cb.ctx, token);
}

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ptcp *c = w->data;
	struct peer *pe = c->pe;
	struct peers *ps = pe->ps;
	struct proxy_qkey key;
	struct dns_msg_info info;
	char err[128];
	uint8_t *msg;
	size_t len;
	int r = tcpframe_recv(&c->in, c->fd, err, sizeof(err));
	if (r == 0)
		return;
	if (r < 0) {
		conn_failed(c);
		return;
	}
	r = tcpframe_next(&c->in, &msg, &len, err, sizeof(err));
	if (r == 0)
		return;
	struct pslot *s = &pe->slots[c->id];
	if (r < 0 || len < DNS_HDR_LEN || !(msg[2] & 0x80) || dnsmsg_get16(msg) != c->id) {
		sat_inc(&ps->st->unexpected);
		conn_failed(c);
		return;
	}
	if (dnsmsg_parse(msg, len, &info) == DNS_OK)
		proxy_qkey_parsed(&info, ps->qseed, &key);
	else
		proxy_qkey(msg, len, ps->qseed, &key);
	if (!proxy_qkey_match(&s->qkey, msg, &key)) {
		sat_inc(&ps->st->unexpected);
		conn_failed(c);
		return;
	}
	/* the answer lives in the connection's buffer: hand it on before the slot ends */
	uint64_t token = s->token;
	s->conn = NULL;
	end_query(pe, c->id);
	sat_inc(&ps->st->first);
	ps->cb.answer(ps->cb.ctx, token, msg, len);
	conn_close(ps, c);
}

static void conn_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ptcp *c = w->data;
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN))
			return;
		if (n < 0) {
			conn_failed(c);
			return;
		}
		c->out_off += (size_t)n;
	}
	ev_io_stop(loop, &c->wio);
}

/* A truncated answer for a TCP client: the query again over TCP; 0, or -1 when it cannot start */
static int conn_start(struct peer *pe, uint16_t id)
{
	struct pslot *s = &pe->slots[id];
	char err[128];
	if (!s->query)
		return -1;
	struct ptcp *c = calloc(1, sizeof(*c));
	if (!c)
		return -1;
	c->pe = pe;
	c->id = id;
	c->out_len = (size_t)s->query_len + 2;
	c->out = malloc(c->out_len);
	c->fd = socket(pe->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (!c->out || c->fd < 0 || tcpframe_init(&c->in, TCPFRAME_MAX, err, sizeof(err)) < 0 ||
	    (connect(c->fd, (struct sockaddr *)&pe->addr.ss, pe->addr.len) < 0 &&
	     errno != EINPROGRESS)) {
		if (c->fd >= 0)
			close(c->fd);
		tcpframe_free(&c->in);
		free(c->out);
		free(c);
		return -1;
	}
	dnsmsg_put16(c->out, s->query_len);
	memcpy(c->out + 2, s->query, s->query_len);
	dnsmsg_put16(c->out + 2, id);
	ev_io_init(&c->rio, conn_read_cb, c->fd, EV_READ);
	ev_io_init(&c->wio, conn_write_cb, c->fd, EV_WRITE);
	c->rio.data = c->wio.data = c;
	ev_io_start(pe->ps->loop, &c->rio);
	ev_io_start(pe->ps->loop, &c->wio);
	s->conn = c;
	return 0;
}

static void peer_read(struct peer *pe)
{
	struct peers *ps = pe->ps;
	struct proxy_qkey key;
	struct dns_msg_info info;
	for (int k = 0; k < 64; k++) {
		ssize_t n = recv(pe->fd, ps->rx, PEER_RX_SIZE, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == ECONNREFUSED)
				refused(pe);
			if (errno == EINTR || errno == ECONNREFUSED)
				continue;
			return;
		}
		size_t len = (size_t)n;
		uint8_t *pkt = ps->rx;
		if (len < DNS_HDR_LEN || !(pkt[2] & 0x80)) {
			sat_inc(&ps->st->unexpected);
			continue;
		}
		uint16_t id = dnsmsg_get16(pkt);
		if (!idpool_in_flight(pe->ids, id)) {
			sat_inc(&ps->st->unexpected); /* late, or the local Recursor won */
			continue;
		}
		struct pslot *s = &pe->slots[id];
		if (dnsmsg_parse(pkt, len, &info) == DNS_OK)
			proxy_qkey_parsed(&info, ps->qseed, &key);
		else
			proxy_qkey(pkt, len, ps->qseed, &key);
		if (!proxy_qkey_match(&s->qkey, pkt, &key)) {
			sat_inc(&ps->st->unexpected);
			continue;
		}
		if (s->conn)
			continue; /* the UDP answer again: the TCP fallback is under way */
		uint64_t token = s->token;
		peer_bench_ok(&pe->bench);
		if (pe->bench_logged) {
			log_info("peer '%s' answers again", pe->name);
			pe->bench_logged = 0;
		}
		if (s->tcp && (pkt[2] & 0x02)) {
			/* a TCP client wants the whole answer: ask again over TCP (same ID, same timeout) */
			sat_inc(&ps->st->truncated);
			if (conn_start(pe, id) == 0)
				continue;
			end_query(pe, id);
			sat_inc(&ps->st->failed);
			ps->cb.fail(ps->cb.ctx, token);
			continue;
		}
		end_query(pe, id);
		sat_inc(&ps->st->first);
		ps->cb.answer(ps->cb.ctx, token, pkt, len);
	}
}

static void peer_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	peer_read(w->data);
}

static void sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct peers *ps = w->data;
	uint64_t now = clock_mono_ns(), sent;
	int id;
	for (unsigned i = 0; i < ps->npeers; i++) {
		struct peer *pe = &ps->peer[i];
		while ((id = idpool_oldest(pe->ids, &sent)) >= 0 && now - sent >= ps->timeout_ns) {
			uint64_t token = pe->slots[id].token;
			end_query(pe, (uint16_t)id);
			sat_inc(&ps->st->failed);
			bench(pe, 0, now);
			ps->cb.fail(ps->cb.ctx, token);
		}
	}
}

static void hedge_arm(struct peers *ps, uint64_t now)
{
	if (!ps->qcount || ev_is_active(&ps->hedge_timer))
		return;
	uint64_t due = ps->queue[ps->qhead].due_ns;
	ev_timer_set(&ps->hedge_timer, due > now ? (double)(due - now) / 1e9 : 0., 0.);
	ev_timer_start(ps->loop, &ps->hedge_timer);
}

static void hedge_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct peers *ps = w->data;
	uint64_t now = clock_mono_ns();
	while (ps->qcount && ps->queue[ps->qhead].due_ns <= now) {
		struct hedge *h = &ps->queue[ps->qhead];
		ps->qhead = (ps->qhead + 1) % PEER_HEDGE_QUEUE;
		ps->qcount--;
		if (h->serial) {
			h->serial = 0;
			ps->cb.hedge(ps->cb.ctx, h->token, h->pkt, h->len);
		}
	}
	hedge_arm(ps, now);
}

static int open_peer(struct peers *ps, struct peer *pe, const char *text, char *err,
		     size_t err_size)
{
	if (netaddr_parse(text, 53, &pe->addr) < 0) {
		snprintf(err, err_size, "bad --peer address '%s' (expected ADDR[:PORT])", text);
		return -1;
	}
	netaddr_format((struct sockaddr *)&pe->addr.ss, pe->name, sizeof(pe->name));
	pe->slots = calloc(IDPOOL_MAX, sizeof(*pe->slots));
	pe->ids = idpool_create(IDPOOL_MAX);
	if (!pe->slots || !pe->ids) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	pe->fd = socket(pe->addr.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (pe->fd < 0 || connect(pe->fd, (struct sockaddr *)&pe->addr.ss, pe->addr.len) < 0) {
		snprintf(err, err_size, "cannot reach peer '%s': %s", pe->name, strerror(errno));
		return -1;
	}
	peer_bench_init(&pe->bench);
	pe->io.data = pe;
	ev_io_init(&pe->io, peer_io_cb, pe->fd, EV_READ);
	ev_io_start(ps->loop, &pe->io);
	return 0;
}

struct peers *peers_create(struct ev_loop *loop, const struct peer_config *cfg,
			   const struct peer_callbacks *cb, uint32_t qseed, struct peer_stats *st,
			   char *err, size_t err_size)
{
	if (cfg->npeers == 0 || cfg->npeers > PEER_MAX) {
		snprintf(err, err_size, "1 to %d peers, not %zu", PEER_MAX, cfg->npeers);
		return NULL;
	}
	struct peers *ps = calloc(1, sizeof(*ps));
	if (!ps) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	ps->loop = loop;
	ps->cfg = *cfg;
	ps->cb = *cb;
	ps->st = st;
	ps->qseed = qseed;
	ps->timeout_ns = (uint64_t)(cfg->timeout * 1e9);
	ps->hedge_ns = (uint64_t)(cfg->hedge_delay * 1e9);
	ps->shield_max_ns = (uint64_t)(cfg->shield_max * 1e9);
	peer_rate_init(&ps->rate, cfg->max_qps, clock_mono_ns());
	peer_shield_init(&ps->shield);
	ps->peer = calloc(cfg->npeers, sizeof(*ps->peer));
	ps->rx = malloc(PEER_RX_SIZE);
	ps->queue = calloc(PEER_HEDGE_QUEUE, sizeof(*ps->queue));
	ev_timer_init(&ps->hedge_timer, hedge_cb, 0., 0.);
	ps->hedge_timer.data = ps;
	ev_timer_init(&ps->sweep, sweep_cb, PEER_SWEEP, PEER_SWEEP);
	ps->sweep.data = ps;
	if (!ps->peer || !ps->rx || !ps->queue) {
		snprintf(err, err_size, "out of memory");
		peers_destroy(ps);
		return NULL;
	}
	for (size_t i = 0; i < cfg->npeers; i++)
		ps->peer[i].fd = -1;
	for (size_t i = 0; i < cfg->npeers; i++) {
		struct peer *pe = &ps->peer[i];
		pe->ps = ps;
		pe->index = (unsigned)i;
		ps->npeers++;
		if (open_peer(ps, pe, cfg->peers[i], err, err_size) < 0) {
			peers_destroy(ps);
			return NULL;
		}
	}
	ev_timer_start(loop, &ps->sweep);
	for (unsigned i = 0; i < ps->npeers; i++)
		log_info("peer '%s': asked while the upstream is down or being warmed",
			 ps->peer[i].name);
	return ps;
}

void peers_destroy(struct peers *ps)
{
	if (!ps)
		return;
	if (ev_is_active(&ps->hedge_timer))
		ev_timer_stop(ps->loop, &ps->hedge_timer);
	if (ev_is_active(&ps->sweep))
		ev_timer_stop(ps->loop, &ps->sweep);
	for (unsigned i = 0; ps->peer && i < ps->npeers; i++) {
		struct peer *pe = &ps->peer[i];
		if (ev_is_active(&pe->io))
			ev_io_stop(ps->loop, &pe->io);
		if (pe->fd >= 0)
			close(pe->fd);
		int id;
		uint64_t sent;
		while (pe->ids && (id = idpool_oldest(pe->ids, &sent)) >= 0)
			end_query(pe, (uint16_t)id);
		free(pe->slots);
		idpool_destroy(pe->ids);
	}
	free(ps->peer);
	free(ps->rx);
	free(ps->queue);
	free(ps);
}

uint64_t peers_hedge_ns(const struct peers *ps)
{
	return ps->hedge_ns;
}

static void log_summary(struct peers *ps, uint64_t now)
{
	const struct peer_stats *a = &ps->at_start, *b = ps->st;
	log_info(
		"peers: the upstream's restart was shielded for %.1f s: %llu queries to peers "
		"(%llu while down, %llu while warming), %llu answered first, %llu lost the race, "
		"%llu failed, %llu not sent (rate %llu, in flight %llu, hedge queue %llu, all benched %llu)",
		(double)(now - ps->shield_start_ns) / 1e9,
		(unsigned long long)(b->sent_down - a->sent_down + b->sent_warming -
				     a->sent_warming),
		(unsigned long long)(b->sent_down - a->sent_down),
		(unsigned long long)(b->sent_warming - a->sent_warming),
		(unsigned long long)(b->first - a->first),
		(unsigned long long)(b->lost_race - a->lost_race),
		(unsigned long long)(b->failed - a->failed),
		(unsigned long long)(b->limited_rate - a->limited_rate + b->limited_inflight -
				     a->limited_inflight + b->limited_queue - a->limited_queue +
				     b->no_peer - a->no_peer),
		(unsigned long long)(b->limited_rate - a->limited_rate),
		(unsigned long long)(b->limited_inflight - a->limited_inflight),
		(unsigned long long)(b->limited_queue - a->limited_queue),
		(unsigned long long)(b->no_peer - a->no_peer));
}

enum peer_mode peers_mode(struct peers *ps, int phase, uint64_t now_ns)
{
	int ended;
	int was_active = ps->shield.active;
	enum peer_mode m = peer_shield_step(&ps->shield, phase, ps->local_down, now_ns,
					    ps->shield_max_ns, &ended);
	if (!was_active && ps->shield.active) {
		ps->at_start = *ps->st;
		ps->shield_start_ns = now_ns;
		sat_inc(&ps->st->shields);
	}
	if (m != ps->mode) {
		if (m == PEER_NOW)
			log_warn(
				"peers: the upstream does not answer: client queries go to a peer as well");
		else if (m == PEER_HEDGE)
			log_info(
				"peers: the upstream is back and being warmed: queries unanswered after "
				"%.0f ms go to a peer as well, for %.0f s at most",
				ps->cfg.hedge_delay * 1e3, ps->cfg.shield_max);
		ps->mode = m;
		ps->st->mode = m;
	}
	if (ended)
		log_summary(ps, now_ns);
	return m;
}

int peers_local_refused(struct peers *ps)
{
	int news = !ps->local_down;
	ps->local_down = 1;
	return news;
}

void peers_local_timeout(struct peers *ps, uint64_t sent_ns)
{
	if (sent_ns < ps->last_answer_ns)
		return; /* sent while it was down, before it answered again */
	if (++ps->local_timeouts >= PEER_DOWN_TIMEOUTS && !ps->local_down) {
		ps->local_down = 1;
		log_info("peers: %d queries in a row timed out: taking the upstream for down",
			 PEER_DOWN_TIMEOUTS);
	}
}

void peers_local_answer(struct peers *ps, uint64_t now_ns)
{
	ps->last_answer_ns = now_ns;
	ps->local_timeouts = 0;
	ps->local_down = 0;
}

static struct peer *pick(struct peers *ps, uint64_t now)
{
	for (unsigned k = 0; k < ps->npeers; k++) {
		struct peer *pe = &ps->peer[(ps->next + k) % ps->npeers];
		if (peer_bench_usable(&pe->bench, now)) {
			ps->next = (pe->index + 1) % ps->npeers;
			return pe;
		}
	}
	return NULL;
}

uint64_t peers_send(struct peers *ps, const uint8_t *pkt, size_t len, int tcp, uint64_t token,
		    enum peer_mode mode, uint64_t now_ns)
{
	struct dns_msg_info info;
	uint8_t buf[PEER_QMAX];
	struct peer *pe;
	if (len < DNS_HDR_LEN || len > 65535)
		return 0;
	if (ps->st->in_flight >= ps->cfg.max_inflight) {
		sat_inc(&ps->st->limited_inflight);
		log_rated(&ps->log_inflight, LIMIT_LOG_INTERVAL, LOG_LVL_WARN,
			  "peers: %u queries in flight (--peer-max-inflight): not asking a peer",
			  ps->cfg.max_inflight);
		return 0;
	}
	if (!(pe = pick(ps, now_ns))) {
		sat_inc(&ps->st->no_peer);
		return 0;
	}
	if (!peer_rate_take(&ps->rate, now_ns)) {
		sat_inc(&ps->st->limited_rate);
		log_rated(&ps->log_rate, LIMIT_LOG_INTERVAL, LOG_LVL_WARN,
			  "peers: over %u queries per second (--peer-max-qps): not asking a peer",
			  ps->cfg.max_qps);
		return 0;
	}
	int i = idpool_take(pe->ids, now_ns);
	if (i < 0) {
		sat_inc(&ps->st->limited_inflight);
		return 0;
	}
	uint16_t id = (uint16_t)i;
	struct pslot *s = &pe->slots[id];
	s->token = token;
	s->tcp = (uint8_t)tcp;
	s->serial = next_serial(ps);
	s->conn = NULL;
	s->query = NULL;
	if (tcp && (s->query = malloc(len)) != NULL) {
		memcpy(s->query, pkt, len);
		s->query_len = (uint16_t)len;
	}
	if (dnsmsg_parse(pkt, len, &info) == DNS_OK)
		proxy_qkey_parsed(&info, ps->qseed, &s->qkey);
	else
		proxy_qkey(pkt, len, ps->qseed, &s->qkey);
	/* the ID is the only change: a copy when it fits, else the header goes on its own */
	struct iovec iov[2];
	struct msghdr mh = {.msg_iov = iov};
	uint8_t hdr[2];
	dnsmsg_put16(hdr, id);
	if (len <= sizeof(buf)) {
		memcpy(buf, pkt, len);
		dnsmsg_put16(buf, id);
		iov[0] = (struct iovec){buf, len};
		mh.msg_iovlen = 1;
	} else {
		iov[0] = (struct iovec){hdr, 2};
		iov[1] = (struct iovec){(void *)(pkt + 2), len - 2};
		mh.msg_iovlen = 2;
	}
	ssize_t w;
	do
		w = sendmsg(pe->fd, &mh, MSG_DONTWAIT);
	while (w < 0 && errno == EINTR);
	if (w < 0) {
		free(s->query);
		s->query = NULL;
		idpool_give(pe->ids, id);
		sat_inc(&ps->st->failed);
		if (errno == ECONNREFUSED) {
			sat_inc(&ps->st->refused);
			bench(pe, 1, now_ns);
		}
		return 0;
	}
	sat_inc(mode == PEER_NOW ? &ps->st->sent_down : &ps->st->sent_warming);
	sat_inc(&ps->st->in_flight);
	if (ps->st->in_flight > ps->st->in_flight_max)
		ps->st->in_flight_max = ps->st->in_flight;
	return (uint64_t)pe->index << 48 | (uint64_t)s->serial << 16 | id;
}

uint64_t peers_hedge(struct peers *ps, const uint8_t *pkt, size_t len, uint64_t token,
		     uint64_t now_ns)
{
	if (len < DNS_HDR_LEN || len > PEER_QMAX || ps->qcount >= PEER_HEDGE_QUEUE) {
		sat_inc(&ps->st->limited_queue);
		log_rated(
			&ps->log_queue, LIMIT_LOG_INTERVAL, LOG_LVL_WARN,
			"peers: a query over %d bytes or %d waiting for the hedge delay: not hedged",
			PEER_QMAX, PEER_HEDGE_QUEUE);
		return 0;
	}
	unsigned idx = (ps->qhead + ps->qcount) % PEER_HEDGE_QUEUE;
	struct hedge *h = &ps->queue[idx];
	ps->qcount++;
	h->token = token;
	h->due_ns = now_ns + ps->hedge_ns;
	h->serial = next_serial(ps);
	h->len = (uint16_t)len;
	memcpy(h->pkt, pkt, len);
	hedge_arm(ps, now_ns);
	return HEDGE_BIT | (uint64_t)h->serial << 16 | idx;
}

void peers_cancel(struct peers *ps, uint64_t handle, int lost_race)
{
	if (!handle || !ps)
		return;
	uint32_t serial = (uint32_t)(handle >> 16) & 0x7fffffffu;
	if (handle & HEDGE_BIT) {
		struct hedge *h = &ps->queue[(handle & 0xffff) % PEER_HEDGE_QUEUE];
		if (h->serial == serial)
			h->serial = 0;
		return;
	}
	unsigned pi = (unsigned)(handle >> 48) & 0x7fff;
	uint16_t id = (uint16_t)handle;
	if (pi >= ps->npeers)
		return;
	struct peer *pe = &ps->peer[pi];
	if (!idpool_in_flight(pe->ids, id) || pe->slots[id].serial != serial)
		return;
	end_query(pe, id);
	if (lost_race)
		sat_inc(&ps->st->lost_race);
}
