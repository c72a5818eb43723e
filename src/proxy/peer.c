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

#include "proxy/peer.h"

#include "base/clock.h"
#include "base/log.h"
#include "base/satsum.h"
#include "net/idpool.h"
#include "net/netaddr.h"
#include "proxy/tcpchan.h"
#include "proxy/liveness.h"
#include "proxy/proxy_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uthash.h>

#define PEER_RX_SIZE 65536
#define PEER_SWEEP 0.05
#define HEDGE_BIT (1ull << 63)
#define WAIT_BIT (1ull << 62)
#define LIMIT_LOG_INTERVAL 10.0


/* The forwarder */

struct pslot {
	uint64_t token;
	struct dns_qkey qkey;
	uint32_t serial;
	int qs;           /* the query's socket (ps->qs), -1 when none */
	uint8_t orphan;   /* its client went (cancelled), coalesced ones still wait */
	uint8_t tcp;
	uint8_t *query; /* a TCP client's: a copy, for the TCP fallback */
	uint16_t query_len;
	struct tcpchan *conn; /* the TCP fallback in progress (one query, tcpchan.h) */
};

struct peer {
	struct peers *ps;
	unsigned index;
	struct netaddr addr;
	char name[128];
	struct idpool *ids;
	struct pslot *slots; /* IDPOOL_MAX */
	int bench_logged; /* the bench was logged; again only after it answered */
};

/*
 * A query's own UDP socket: each query sent to a peer gets a new one, so
 * a random source port (the kernel's pick) beside its random ID; one per
 * query in flight (--peer-max-inflight of them at most). A UDP client's
 * query with a single question is in ps->inflight, where an identical one
 * waits for its answer instead of being sent (coalesced).
 */
struct qsock {
	int fd;
	ev_io io;
	struct peer *pe;
	uint16_t id;
	int next_free;
	int indexed;   /* in ps->inflight under ckey */
	uint64_t ckey; /* the question key, packed */
	int whead;     /* coalesced queries waiting for this one's answer (ps->w), -1: none */
	UT_hash_handle hh;
};

/* A coalesced query: its client's token, until its owner's answer or failure */
struct waiter {
	uint64_t token;
	uint32_t serial; /* 0: free, or cancelled while being delivered */
	int owner;       /* ps->qs index; -1 once taken off for delivery */
	int prev, next;
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
	unsigned npeers;
	struct router router; /* the policy: the bench, the limits, the turn (router.h) */
	uint64_t timeout_ns, hedge_ns;
	uint32_t serial;
	uint8_t *rx;
	struct hedge *queue; /* PEER_HEDGE_QUEUE */
	struct qsock *qs;    /* cfg.max_inflight */
	int qs_free;
	struct qsock *inflight; /* uthash by ckey: UDP queries that others may wait on */
	struct waiter *w;       /* PEER_WAITERS */
	int w_free;
	unsigned qhead, qcount;
	ev_timer hedge_timer, sweep;
	/* the local Recursor and the shield, as every data path thread sees them (liveness.h) */
	struct liveness *live;
	int own_live;               /* made here: no shared one was given */
	struct recstate *own_rec;   /* made here for it: no recstate was given either */
	enum peer_mode mode;        /* the mode this thread last saw */
	uint64_t seen_started, seen_ended; /* the shields this thread saw start and end */
	struct peer_stats at_start; /* its counters when it saw the shield start */
	unsigned in_flight;         /* queries sent and not ended (control; st reports it) */
	int from_peer_said;         /* a query from a peer's address was kept from the peers: said */
	struct log_rate log_rate, log_inflight, log_queue, log_rejected, log_nosock;
};

static uint32_t next_serial(struct peers *ps)
{
	if (++ps->serial == 0 || ps->serial > 0x7fffffffu)
		ps->serial = 1;
	return ps->serial;
}

static void bench(struct peer *pe, int refused, uint64_t now)
{
	double d = router_failed(&pe->ps->router, pe->index, refused, now);
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

/* Gives a query's socket back: closed, out of the in-flight table; its waiters must be taken off */
static void qs_give(struct peers *ps, int i)
{
	struct qsock *q = &ps->qs[i];
	if (q->indexed)
		HASH_DEL(ps->inflight, q);
	q->indexed = 0;
	if (q->fd >= 0) {
		ev_io_stop(ps->loop, &q->io);
		close(q->fd);
	}
	q->fd = -1;
	q->whead = -1;
	q->next_free = ps->qs_free;
	ps->qs_free = i;
}

/*
 * Takes the coalesced queries off q, for waiters_deliver after the owner
 * has ended: a callback then never meets a half-ended query
 */
static int waiters_take(struct peers *ps, struct qsock *q)
{
	int head = q->whead;
	q->whead = -1;
	for (int i = head; i >= 0; i = ps->w[i].next)
		ps->w[i].owner = -1;
	return head;
}

/* Hands the answer (pkt) to each taken waiter, or fails each (pkt NULL) */
static void waiters_deliver(struct peers *ps, int head, uint8_t *pkt, size_t len, uint64_t sent,
			    uint64_t now)
{
	while (head >= 0) {
		struct waiter *w = &ps->w[head];
		int next = w->next, live = w->serial != 0;
		uint64_t token = w->token;
		w->serial = 0;
		w->next = ps->w_free;
		ps->w_free = head;
		if (live && pkt) {
			sat_inc(&ps->st->first);
			ps->cb.user.answer(ps->cb.user.ctx, token, pkt, len, NULL, sent, now);
		} else if (live) {
			sat_inc(&ps->st->failed);
			ps->cb.user.fail(ps->cb.user.ctx, token, CHANNEL_TIMEOUT, NULL, 0, sent, now);
		}
		head = next;
	}
}

static void end_query(struct peer *pe, uint16_t id)
{
	struct pslot *s = &pe->slots[id];
	if (s->qs >= 0)
		qs_give(pe->ps, s->qs);
	s->qs = -1;
	s->orphan = 0;
	tcpchan_destroy(s->conn); /* from its own callback: when that returned */
	s->conn = NULL;
	free(s->query);
	s->query = NULL;
	idpool_give(pe->ids, id);
	if (pe->ps->in_flight)
		pe->ps->in_flight--;
	pe->ps->st->in_flight = pe->ps->in_flight;
}

/*
 * A query ends: its client gets pkt (the answer) or a failure (pkt NULL),
 * then each query coalesced onto it the same
 */
static void finish_query(struct peer *pe, uint16_t id, uint8_t *pkt, size_t len)
{
	struct peers *ps = pe->ps;
	struct pslot *s = &pe->slots[id];
	int head = s->qs >= 0 ? waiters_take(ps, &ps->qs[s->qs]) : -1;
	uint64_t token = s->token, sent = idpool_sent(pe->ids, id), now = clock_mono_ns();
	int orphan = s->orphan;
	end_query(pe, id);
	if (!orphan && pkt) {
		sat_inc(&ps->st->first);
		ps->cb.user.answer(ps->cb.user.ctx, token, pkt, len, NULL, sent, now);
	} else if (!orphan) {
		sat_inc(&ps->st->failed);
		ps->cb.user.fail(ps->cb.user.ctx, token, CHANNEL_TIMEOUT, NULL, 0, sent, now);
	}
	waiters_deliver(ps, head, pkt, len, sent, now);
	if (pkt && ps->cb.user.flush)
		ps->cb.user.flush(ps->cb.user.ctx);
}

/* The peer refused (ICMP): its port is closed, so nothing in flight to it will be answered */
static void refused(struct peer *pe)
{
	uint64_t sent;
	int id;
	bench(pe, 1, clock_mono_ns());
	while ((id = idpool_oldest(pe->ids, &sent)) >= 0) {
		sat_inc(&pe->ps->st->refused);
		finish_query(pe, (uint16_t)id, NULL, 0);
	}
}

/*
 * Whether a peer's answer (at least a header, matched to its query) may go
 * to a client: a resolver's answer (RA set: an echo of the query, or a
 * server that does not recurse, has it clear) with an rcode a client can
 * use; SERVFAIL, REFUSED, NOTIMP and FORMERR are the peer's trouble, not an
 * answer. Returns NULL, or why not.
 */
static const char *answer_unusable(const uint8_t *pkt)
{
	switch (dnsmsg_hdr_rcode(pkt)) {
	case DNS_RCODE_SERVFAIL:
		return "SERVFAIL";
	case DNS_RCODE_REFUSED:
		return "REFUSED";
	case DNS_RCODE_NOTIMP:
		return "NOTIMP";
	case DNS_RCODE_FORMERR:
		return "FORMERR";
	}
	return dnsmsg_hdr_ra(pkt) ? NULL : "an answer without RA (not a resolver's)";
}

/* A peer's answer that is no use: counted and logged once a while (the caller fails the query) */
static void rejected(struct peer *pe, const char *why)
{
	struct peers *ps = pe->ps;
	sat_inc(&ps->st->rejected);
	log_rated(&ps->log_rejected, LIMIT_LOG_INTERVAL, LOG_LVL_WARN,
		  "peer '%s' answered with %s: not relayed, counted against the peer like a timeout",
		  pe->name, why);
}

/* A query's slot from its handle (peer << 48 | serial << 16 | ID), if still in flight */
static struct pslot *handle_slot(struct peers *ps, uint64_t handle, struct peer **pe_out)
{
	unsigned pi = (unsigned)(handle >> 48) & 0x3fff;
	uint16_t id = (uint16_t)handle;
	uint32_t serial = (uint32_t)(handle >> 16) & 0x7fffffffu;
	if (pi >= ps->npeers)
		return NULL;
	struct peer *pe = &ps->peer[pi];
	if (!idpool_in_flight(pe->ids, id) || pe->slots[id].serial != serial)
		return NULL;
	*pe_out = pe;
	return &pe->slots[id];
}

static uint64_t slot_handle(const struct peer *pe, const struct pslot *s)
{
	return (uint64_t)pe->index << 48 | (uint64_t)s->serial << 16 | (uint64_t)(s - pe->slots);
}

/* The TCP fallback's answer (matched by tcpchan: ID and question) */
static void conn_answer_cb(void *ctx, uint64_t token, uint8_t *msg, size_t len,
			   const struct dns_msg_info *r, uint64_t sent_ns, uint64_t now_ns)
{
	struct peer *pe;
	struct pslot *s = handle_slot(ctx, token, &pe);
	if (!s)
		return;
	uint16_t id = (uint16_t)(s - pe->slots);
	const char *why = answer_unusable(msg);
	if (why) {
		rejected(pe, why);
		bench(pe, 0, now_ns);
		finish_query(pe, id, NULL, 0);
		return;
	}
	/* the answer lives in the connection's buffer: finish_query destroys it when this returns */
	finish_query(pe, id, msg, len);
}

/* The TCP fallback failed: the client waits for the local Recursor */
static void conn_fail_cb(void *ctx, uint64_t token, enum channel_failure why, const uint8_t *pkt,
			 size_t len, uint64_t sent_ns, uint64_t now_ns)
{
	struct peer *pe;
	struct pslot *s = handle_slot(ctx, token, &pe);
	if (!s)
		return;
	bench(pe, 0, now_ns);
	finish_query(pe, (uint16_t)(s - pe->slots), NULL, 0);
}

/* A truncated answer for a TCP client: the query again over TCP (one connection, tcpchan.h); 0, or -1 */
static int conn_start(struct peer *pe, uint16_t id)
{
	struct peers *ps = pe->ps;
	struct pslot *s = &pe->slots[id];
	if (!s->query)
		return -1;
	struct tcpchan_config cfg = {
		.server = &pe->addr, .qseed = ps->qseed, .max_inflight = 1, .count = {.unexpected = &ps->st->unexpected}};
	struct channel_user user = {conn_answer_cb, conn_fail_cb, NULL, NULL, ps};
	if (!(s->conn = tcpchan_create(ps->loop, &cfg, &user)))
		return -1;
	struct channel ch = tcpchan_channel(s->conn);
	struct channel_query q = {s->query, s->query_len, NULL, 1, 0};
	if (channel_send(&ch, &q, slot_handle(pe, s), idpool_sent(pe->ids, id)) == 0) {
		tcpchan_destroy(s->conn);
		s->conn = NULL;
		return -1;
	}
	return 0;
}

/* The answer on a query's own socket: from the peer (connected), with the query's ID and question */
static void qsock_read(struct peers *ps, struct qsock *q)
{
	struct dns_msg_info info;
	struct peer *pe = q->pe;
	uint16_t id = q->id;
	for (int k = 0; k < 8; k++) {
		ssize_t n = recv(q->fd, ps->rx, PEER_RX_SIZE, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECONNREFUSED)
				refused(pe); /* ends this query too */
			return;
		}
		size_t len = (size_t)n;
		uint8_t *pkt = ps->rx;
		if (len < DNS_HDR_LEN || !dnsmsg_hdr_qr(pkt) || dnsmsg_get16(pkt) != id) {
			sat_inc(&ps->st->unexpected); /* a forger's guess, or garbage */
			continue;
		}
		struct pslot *s = &pe->slots[id];
		if (!dns_qkey_answers(&s->qkey, pkt, len,
				      dnsmsg_parse(pkt, len, &info) == DNS_OK ? &info : NULL, ps->qseed)) {
			sat_inc(&ps->st->unexpected);
			continue;
		}
		if (s->conn)
			continue; /* the UDP answer again: the TCP fallback is under way */
		const char *why = answer_unusable(pkt);
		if (why) {
			rejected(pe, why);
			bench(pe, 0, clock_mono_ns());
			finish_query(pe, id, NULL, 0);
			return;
		}
		router_answered(&ps->router, pe->index);
		if (pe->bench_logged) {
			log_info("peer '%s' answers again", pe->name);
			pe->bench_logged = 0;
		}
		if (s->tcp && dnsmsg_hdr_tc(pkt)) {
			/* a TCP client wants the whole answer: ask again over TCP (same timeout) */
			sat_inc(&ps->st->truncated);
			if (conn_start(pe, id) == 0)
				continue;
			finish_query(pe, id, NULL, 0);
			return;
		}
		finish_query(pe, id, pkt, len);
		return;
	}
}

static void qsock_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct qsock *q = w->data;
	qsock_read(q->pe->ps, q);
}

static void sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct peers *ps = w->data;
	uint64_t now = clock_mono_ns(), sent;
	int id;
	for (unsigned i = 0; i < ps->npeers; i++) {
		struct peer *pe = &ps->peer[i];
		while ((id = idpool_oldest(pe->ids, &sent)) >= 0 && now - sent >= ps->timeout_ns) {
			bench(pe, 0, now);
			finish_query(pe, (uint16_t)id, NULL, 0);
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
			ps->cb.hedge(ps->cb.user.ctx, h->token, h->pkt, h->len);
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
	for (size_t i = 0; i < IDPOOL_MAX; i++)
		pe->slots[i].qs = -1;
	/* each query gets its own socket (qsock): here only whether one can reach the peer */
	int fd = socket(pe->addr.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&pe->addr.ss, pe->addr.len) < 0) {
		snprintf(err, err_size, "cannot reach peer '%s': %s", pe->name, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
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
	router_init(&ps->router, (unsigned)cfg->npeers, cfg->max_qps, cfg->max_inflight, clock_mono_ns());
	ps->live = cfg->live;
	if (!ps->live) {
		struct recstate *rec = cfg->rec ? cfg->rec : (ps->own_rec = recstate_create(NULL));
		if (!rec || !(ps->live = liveness_create(rec, cfg->hedge_delay, cfg->shield_max, cfg->warmed))) {
			recstate_destroy(ps->own_rec);
			free(ps);
			snprintf(err, err_size, "out of memory");
			return NULL;
		}
		ps->own_live = 1;
	}
	liveness_join(ps->live);
	ps->seen_started = liveness_started(ps->live);
	ps->seen_ended = liveness_ended(ps->live);
	ps->at_start = *st; /* joined during a shield: its share counts from here */
	ps->peer = calloc(cfg->npeers, sizeof(*ps->peer));
	ps->rx = malloc(PEER_RX_SIZE);
	ps->queue = calloc(PEER_HEDGE_QUEUE, sizeof(*ps->queue));
	ps->qs = calloc(cfg->max_inflight ? cfg->max_inflight : 1, sizeof(*ps->qs));
	ps->w = calloc(PEER_WAITERS, sizeof(*ps->w));
	ev_timer_init(&ps->hedge_timer, hedge_cb, 0., 0.);
	ps->hedge_timer.data = ps;
	ev_timer_init(&ps->sweep, sweep_cb, PEER_SWEEP, PEER_SWEEP);
	ps->sweep.data = ps;
	if (!ps->peer || !ps->rx || !ps->queue || !ps->qs || !ps->w) {
		snprintf(err, err_size, "out of memory");
		peers_destroy(ps);
		return NULL;
	}
	ps->qs_free = -1;
	for (int i = (int)(cfg->max_inflight ? cfg->max_inflight : 1) - 1; i >= 0; i--) {
		ps->qs[i].fd = -1;
		ps->qs[i].whead = -1;
		ps->qs[i].next_free = ps->qs_free;
		ps->qs_free = i;
	}
	ps->w_free = -1;
	for (int i = PEER_WAITERS - 1; i >= 0; i--) {
		ps->w[i].next = ps->w_free;
		ps->w_free = i;
	}
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
	free(ps->qs);
	free(ps->w);
	liveness_leave(ps->live);
	if (ps->own_live)
		liveness_destroy(ps->live);
	recstate_destroy(ps->own_rec);
	free(ps);
}

uint64_t peers_hedge_ns(const struct peers *ps)
{
	return ps->hedge_ns;
}

struct peer_stats peer_stats_moved(const struct peer_stats *a, const struct peer_stats *b)
{
	_Static_assert(sizeof(struct peer_stats) % sizeof(uint64_t) == 0, "peer_stats is made of uint64_t");
	struct peer_stats d;
	const uint64_t *x = (const uint64_t *)a, *y = (const uint64_t *)b;
	uint64_t *z = (uint64_t *)&d;
	for (size_t i = 0; i < sizeof(d) / sizeof(uint64_t); i++)
		z[i] = y[i] - x[i];
	return d;
}

void peer_stats_add(struct peer_stats *sum, const struct peer_stats *x)
{
	sat_add_words((uint64_t *)sum, (const uint64_t *)x, sizeof(*sum) / sizeof(uint64_t));
}

enum peer_mode peers_mode(struct peers *ps, const atomic_int *phase, uint64_t now_ns)
{
	enum peer_mode m = liveness_mode(ps->live, phase, now_ns);
	/* this thread's share of a shield's summary: what its counters moved from its start to its end */
	uint64_t e = liveness_ended(ps->live);
	if (e != ps->seen_ended) {
		struct peer_stats d = {0};
		if (ps->seen_started > ps->seen_ended) /* it saw that shield start */
			d = peer_stats_moved(&ps->at_start, ps->st);
		ps->seen_ended = e;
		liveness_report(ps->live, e, &d);
	}
	uint64_t s = liveness_started(ps->live);
	if (s != ps->seen_started) {
		ps->seen_started = s;
		ps->at_start = *ps->st;
		ps->st->shields = s;
	}
	if (m != ps->mode) {
		ps->mode = m;
		ps->st->mode = m;
	}
	return m;
}

void peers_local_answer(struct peers *ps, const struct dns_msg_info *r)
{
	if (!ps->cfg.warmed || !r || !liveness_shielding(ps->live))
		return;
	int rcode = dnsmsg_rcode(r);
	if (rcode != DNS_RCODE_NOERROR && rcode != DNS_RCODE_NXDOMAIN)
		return; /* nothing it will answer from its cache */
	struct warmset *w = ps->cfg.warmed;
	if (warmset_add(w, warmset_key(w, r->qname, r->qname_len, r->qtype)) < 0 &&
	    liveness_say_warmed_full(ps->live))
		log_warn("peers: the set of warmed names is full (%u names, or a run of %u slots): "
			 "further names count as not warmed and go to a peer at once, within the peers' limits",
			 WARMSET_MAX, WARMSET_PROBES);
}

int peers_from_peer(struct peers *ps, const struct dns_msg_info *q)
{
	if (!q || !q->peer_marker)
		return 0;
	sat_inc(&ps->st->from_peer);
	if (!ps->from_peer_said) {
		ps->from_peer_said = 1;
		log_info("peers: a query a peer proxy sent goes to the upstream only, never to a peer again "
			 "(no loops between proxies that peer each other; said once)");
	}
	return 1;
}

int peers_name_cold(const struct peers *ps, const struct dns_msg_info *q)
{
	const struct warmset *w = ps->cfg.warmed;
	return w && q && !warmset_has(w, warmset_key(w, q->qname, q->qname_len, q->qtype));
}

/*
 * The key under which identical queries wait for one answer: everything of
 * the query that shapes the answer, the question as the client wrote it
 * (its letters' case too), RD, CD, EDNS or not, DO and the UDP size; a
 * query that differs in any of them is sent on its own. Seeded 64-bit
 * FNV-1a, finished by a mix.
 */
static uint64_t coalesce_key(const struct peers *ps, const uint8_t *pkt, const struct dns_msg_info *q)
{
	uint64_t h = UINT64_C(14695981039346656037) ^ ps->qseed;
	for (size_t i = DNS_HDR_LEN; i < q->question_end; i++)
		h = (h ^ pkt[i]) * UINT64_C(1099511628211);
	const uint8_t shape[] = {(q->flags & DNS_FLAG_RD) != 0, (q->flags & DNS_FLAG_CD) != 0, q->has_edns, q->do_bit,
				 (uint8_t)(q->edns_udp_size >> 8), (uint8_t)q->edns_udp_size};
	for (size_t i = 0; i < sizeof(shape); i++)
		h = (h ^ shape[i]) * UINT64_C(1099511628211);
	h ^= h >> 29;
	h *= UINT64_C(0xbf58476d1ce4e5b9);
	return h ^ (h >> 32);
}

uint64_t peers_send(struct peers *ps, const uint8_t *pkt, size_t len, int tcp, uint64_t token,
		    enum peer_mode mode, uint64_t now_ns)
{
	struct dns_msg_info info;
	uint8_t buf[PEER_QMAX + 4];
	struct peer *pe;
	if (len < DNS_HDR_LEN || len > 65535)
		return 0;
	int parsed = dnsmsg_parse(pkt, len, &info) == DNS_OK;
	if (parsed && peers_from_peer(ps, &info))
		return 0; /* a peer proxy sent it: never round again (the rescue of queries in
			     flight when the upstream refuses comes here without proxy_peer_ask) */
	struct dns_qkey key;
	dns_qkey_of(pkt, len, parsed ? &info : NULL, ps->qseed, &key);
	/* a UDP client's question already in flight to a peer: wait for that answer, send nothing */
	int coalescable = !tcp && parsed && key.single;
	uint64_t ckey = coalescable ? coalesce_key(ps, pkt, &info) : 0;
	if (coalescable) {
		struct qsock *q;
		HASH_FIND(hh, ps->inflight, &ckey, sizeof(ckey), q);
		if (q)
			coalescable = 0; /* sent on its own: the table keeps the first one */
		if (q && ps->w_free >= 0) {
			int wi = ps->w_free;
			struct waiter *w = &ps->w[wi];
			ps->w_free = w->next;
			w->token = token;
			w->serial = next_serial(ps);
			w->owner = (int)(q - ps->qs);
			w->prev = -1;
			w->next = q->whead;
			if (q->whead >= 0)
				ps->w[q->whead].prev = wi;
			q->whead = wi;
			sat_inc(&ps->st->coalesced);
			return WAIT_BIT | (uint64_t)w->serial << 16 | (uint64_t)wi;
		}
	}
	enum router_refusal no;
	int pi = router_admit(&ps->router, ps->in_flight, ps->qs_free >= 0, now_ns, &no);
	if (pi < 0 && no == ROUTER_INFLIGHT) {
		sat_inc(&ps->st->limited_inflight);
		log_rated(&ps->log_inflight, LIMIT_LOG_INTERVAL, LOG_LVL_WARN,
			  "peers: %u queries in flight (--peer-max-inflight%s): not asking a peer",
			  ps->cfg.max_inflight, ps->cfg.threads > 1 ? ", this thread's share" : "");
		return 0;
	}
	if (pi < 0 && no == ROUTER_NO_PEER) {
		sat_inc(&ps->st->no_peer);
		return 0;
	}
	if (pi < 0) {
		sat_inc(&ps->st->limited_rate);
		log_rated(&ps->log_rate, LIMIT_LOG_INTERVAL, LOG_LVL_WARN,
			  "peers: over %u queries per second (--peer-max-qps%s): not asking a peer",
			  ps->cfg.max_qps, ps->cfg.threads > 1 ? ", this thread's share" : "");
		return 0;
	}
	pe = &ps->peer[pi];
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
	s->orphan = 0;
	s->qkey = key;
	/* the query's own socket: a new source port */
	int fd = socket(pe->addr.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&pe->addr.ss, pe->addr.len) < 0) {
		log_rated(&ps->log_nosock, LIMIT_LOG_INTERVAL, LOG_LVL_WARN,
			  "peers: no socket for a query to peer '%s': %s", pe->name, strerror(errno));
		if (fd >= 0)
			close(fd);
		idpool_give(pe->ids, id);
		sat_inc(&ps->st->failed);
		return 0;
	}
	int qi = ps->qs_free;
	struct qsock *q = &ps->qs[qi];
	ps->qs_free = q->next_free;
	q->fd = fd;
	q->pe = pe;
	q->id = id;
	q->whead = -1;
	q->indexed = coalescable;
	q->ckey = ckey;
	if (coalescable)
		HASH_ADD(hh, ps->inflight, ckey, sizeof(q->ckey), q);
	ev_io_init(&q->io, qsock_cb, fd, EV_READ);
	q->io.data = q;
	ev_io_start(ps->loop, &q->io);
	s->qs = qi;
	ps->in_flight++; /* end_query counts it down */
	ps->st->in_flight = ps->in_flight;
	/*
	 * A copy when it fits, with the peer's marker in its EDNS (a peer proxy
	 * never sends it to a peer of its own); else as it is, the header on
	 * its own. The ID is the other change.
	 */
	const uint8_t *out = pkt;
	size_t out_len = len;
	if (len + 4 <= sizeof(buf)) {
		memcpy(buf, pkt, len);
		int marked = parsed ? dnsmsg_add_option(buf, len, sizeof(buf), &info, RECMESH_EDNS_OPT_PEER) : -1;
		out = buf;
		out_len = marked > 0 ? (size_t)marked : len;
	}
	if (tcp && (s->query = malloc(out_len)) != NULL) {
		memcpy(s->query, out, out_len);
		s->query_len = (uint16_t)out_len;
	}
	struct iovec iov[2];
	struct msghdr mh = {.msg_iov = iov};
	uint8_t hdr[2];
	dnsmsg_put16(hdr, id);
	if (out == buf) {
		dnsmsg_put16(buf, id);
		iov[0] = (struct iovec){buf, out_len};
		mh.msg_iovlen = 1;
	} else {
		iov[0] = (struct iovec){hdr, 2};
		iov[1] = (struct iovec){(void *)(pkt + 2), len - 2};
		mh.msg_iovlen = 2;
	}
	ssize_t w;
	do
		w = sendmsg(fd, &mh, MSG_DONTWAIT);
	while (w < 0 && errno == EINTR);
	if (w < 0) {
		int e = errno;
		end_query(pe, id); /* the socket, the ID and the copy go back */
		sat_inc(&ps->st->failed);
		if (e == ECONNREFUSED) {
			sat_inc(&ps->st->refused);
			bench(pe, 1, now_ns);
		}
		return 0;
	}
	sat_inc(mode == PEER_NOW ? &ps->st->sent_down : mode == PEER_COLD ? &ps->st->sent_cold : &ps->st->sent_warming);
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
	if (handle & WAIT_BIT) {
		int wi = (int)(handle & 0xffff);
		if (wi >= PEER_WAITERS || ps->w[wi].serial != serial)
			return;
		struct waiter *w = &ps->w[wi];
		if (lost_race)
			sat_inc(&ps->st->lost_race);
		if (w->owner < 0) {
			w->serial = 0; /* being delivered: waiters_deliver frees it */
			return;
		}
		struct qsock *q = &ps->qs[w->owner];
		if (w->prev >= 0)
			ps->w[w->prev].next = w->next;
		else
			q->whead = w->next;
		if (w->next >= 0)
			ps->w[w->next].prev = w->prev;
		w->serial = 0;
		w->next = ps->w_free;
		ps->w_free = wi;
		return;
	}
	unsigned pi = (unsigned)(handle >> 48) & 0x3fff;
	uint16_t id = (uint16_t)handle;
	if (pi >= ps->npeers)
		return;
	struct peer *pe = &ps->peer[pi];
	if (!idpool_in_flight(pe->ids, id) || pe->slots[id].serial != serial || pe->slots[id].orphan)
		return;
	if (lost_race)
		sat_inc(&ps->st->lost_race);
	struct pslot *s = &pe->slots[id];
	if (s->qs >= 0 && ps->qs[s->qs].whead >= 0) {
		s->orphan = 1; /* others wait for its answer: the query goes on without its client */
		return;
	}
	end_query(pe, id);
}

/* The peers as a channel (channel.h): send with the router's reason, cancel; nothing to flush */
static uint64_t chan_send(void *impl, const struct channel_query *q, uint64_t token, uint64_t now_ns)
{
	return peers_send(impl, q->pkt, q->len, q->tcp, token, (enum peer_mode)q->counted_as, now_ns);
}

static void chan_cancel(void *impl, uint64_t handle, int lost_race)
{
	peers_cancel(impl, handle, lost_race);
}

static const struct channel_ops peer_ops = {chan_send, NULL, chan_cancel};

struct channel peers_channel(struct peers *ps)
{
	return (struct channel){&peer_ops, ps};
}
