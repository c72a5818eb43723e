/*
 * pbstream.c: the Recursor's protobuf streams; see pbstream.h.
 *
 * The listener is reachable by whoever can reach its address, so what it
 * takes is hostile: only addresses on the allow list may connect, the
 * connections are capped (the one idle longest makes room for a new one,
 * so idle connections cannot lock the Recursor's own streams out), a
 * failing accept() pauses the listener instead of spinning on it, and a
 * frame with a time far from now or a question that is not a DNS question
 * is dropped and counted before anything reaches the hot table.
 */
#include "config.h"

#include "proxy/pbstream.h"

#include "base/clock.h"
#include "base/log.h"
#include "net/acceptor.h"
#include "net/acl.h"
#include "net/netaddr.h"
#include "net/tcpframe.h"
#include "proxy/dnsmessage.pb-c.h"
#include "tables/nstable.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <utlist.h>

#define PB_ACCEPT_BACKOFF 0.2  /* seconds accept() pauses after it failed */
#define PB_LOG_INTERVAL 10.0   /* seconds between two log lines of one kind */
#define PB_DEFAULT_ALLOW "127.0.0.0/8,::1"
#define PB_STALL_SECONDS 30.0 /* a partial frame may wait this long for the rest */
#define PB_RCODE_TIMEOUT 65536

struct pbconn {
	struct pbconn *prev, *next;
	struct pbstream *s;
	int fd;
	ev_io io;
	struct tcpframe in;
	double last_data;
};

struct pbstream {
	struct ev_loop *loop;
	struct event_sink sink;
	int outgoing_only;
	int fd;
	ev_io io;
	ev_timer sweep, backoff;
	struct acl *allow;
	unsigned max_conns;
	unsigned nconns;         /* connections open (control; st reports it) */
	unsigned net_timeout_ms; /* the Recursor's network-timeout */
	struct pbstream_qbits *qbits;
	struct log_rate log_refused, log_evicted, log_accept, log_time, log_name, log_type;
	struct log_rate log_nsname, log_qbits;
	struct pbconn *conns;
	struct pbstream_stats st;
};

struct qbits_slot {
	uint8_t id[16];
	uint8_t used, has_edns;
	uint16_t flags;
	uint32_t edns;
	double when;
};

struct pbstream_qbits {
	struct qbits_slot slot[PBSTREAM_QUERY_BITS_MAX];
};

struct pbstream_qbits *pbstream_qbits_create(void)
{
	return calloc(1, sizeof(struct pbstream_qbits));
}

void pbstream_qbits_destroy(struct pbstream_qbits *q)
{
	free(q);
}

/* The first slot of the id's set (the ids are the Recursor's random UUIDs; FNV-1a mixes a hostile one) */
static struct qbits_slot *qbits_set(struct pbstream_qbits *q, const uint8_t id[16])
{
	uint64_t h = 1469598103934665603ULL;
	for (int i = 0; i < 16; i++)
		h = (h ^ id[i]) * 1099511628211ULL;
	size_t sets = PBSTREAM_QUERY_BITS_MAX / PBSTREAM_QUERY_BITS_WAYS;
	return &q->slot[(size_t)((h ^ (h >> 29)) % sets) * PBSTREAM_QUERY_BITS_WAYS];
}

int pbstream_qbits_put(struct pbstream_qbits *q, const struct pbstream_extra *x, double now)
{
	struct qbits_slot *set = qbits_set(q, x->id), *use = NULL;
	int evicted = 0;
	for (int i = 0; i < PBSTREAM_QUERY_BITS_WAYS && !use; i++)
		if (set[i].used && memcmp(set[i].id, x->id, 16) == 0)
			use = &set[i]; /* the same id again: its newer bits */
	for (int i = 0; i < PBSTREAM_QUERY_BITS_WAYS && !use; i++)
		if (!set[i].used)
			use = &set[i];
	if (!use) {
		use = &set[0];
		for (int i = 1; i < PBSTREAM_QUERY_BITS_WAYS; i++)
			if (set[i].when < use->when)
				use = &set[i];
		evicted = now - use->when < PBSTREAM_QUERY_BITS_AGE;
	}
	memcpy(use->id, x->id, 16);
	use->used = 1;
	use->flags = x->flags;
	use->has_edns = x->has_edns;
	use->edns = x->edns;
	use->when = now;
	return evicted;
}

int pbstream_qbits_take(struct pbstream_qbits *q, struct pbstream_extra *x)
{
	struct qbits_slot *set = qbits_set(q, x->id);
	for (int i = 0; i < PBSTREAM_QUERY_BITS_WAYS; i++)
		if (set[i].used && memcmp(set[i].id, x->id, 16) == 0) {
			x->has_flags = 1;
			x->flags = set[i].flags;
			x->has_edns = set[i].has_edns;
			x->edns = set[i].edns;
			set[i].used = 0;
			return 1;
		}
	return 0;
}

void pbstream_apply_bits(struct rm_event *ev, const struct pbstream_extra *x)
{
	if (!x->has_flags)
		return;
	ev->flags &= (uint16_t) ~(EV_RD | EV_CD | EV_DO);
	if (x->flags & DNS_FLAG_RD)
		ev->flags |= EV_RD;
	if (x->flags & DNS_FLAG_CD)
		ev->flags |= EV_CD;
	if (x->has_edns && (x->edns & 0x8000))
		ev->flags |= EV_DO;
}

int pbstream_early_timeout(const struct rm_event *ev, unsigned network_timeout_ms)
{
	if (!(ev->flags & EV_NS_TIMEOUT) || ev->latency_us == 0)
		return 0;
	return (uint64_t)ev->latency_us * 100 < (uint64_t)network_timeout_ms * 1000 * PBSTREAM_TIMEOUT_SHARE;
}

/*
 * The Recursor writes the header's flags word and the OPT TTL field by
 * copying their wire bytes into an integer of its own byte order (the
 * upstream test reads them with htons / htonl): on the little-endian
 * hosts the Recursor runs on, the bytes come swapped.
 */
static uint16_t from_recursor16(uint32_t v)
{
	return (uint16_t)(((v & 0xff) << 8) | ((v >> 8) & 0xff));
}

static uint32_t from_recursor32(uint32_t v)
{
	return ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >> 8) & 0xff00) | (v >> 24);
}

/* The NS name of an outgoing message (meta "nsName"): 1 when valid (into out), 0 none, -1 invalid */
static int meta_ns_name(const PBDNSMessage *m, char out[NS_NAME_MAX + 1])
{
	for (size_t i = 0; i < m->n_meta; i++) {
		const PBDNSMessage__Meta *e = m->meta[i];
		if (!e->has_key || e->key.len != 6 || memcmp(e->key.data, "nsName", 6) != 0)
			continue;
		/* one value, as the Recursor sends it; anything else is not a name */
		if (!e->value || e->value->n_stringval != 1)
			return -1;
		const ProtobufCBinaryData *v = &e->value->stringval[0];
		if (v->len > 0 && memchr(v->data, 0, v->len))
			return -1;
		return nstable_ns_name_norm(v->data, v->len, out) < 0 ? -1 : 1;
	}
	return 0;
}

static int copy_addr(const ProtobufCBinaryData *b, struct rm_event *ev)
{
	if (b->len == 4 || b->len == 16) {
		ev->client_family = b->len == 4 ? 4 : 6;
		memcpy(ev->client, b->data, b->len);
		return 0;
	}
	return -1;
}

int pbstream_decode(const uint8_t *data, size_t len, struct rm_event *ev, struct pbstream_extra *x)
{
	struct pbstream_extra none;
	PBDNSMessage *m;
	int kind = 0;
	if (!x)
		x = &none;
	memset(x, 0, sizeof(*x));
	if (!(m = pbdnsmessage__unpack(NULL, len, data)))
		return -1;
	memset(ev, 0, offsetof(struct rm_event, qname));
	if (m->has_messageid && m->messageid.len == 16) {
		memcpy(x->id, m->messageid.data, 16);
		x->has_id = 1;
	}
	if (m->type == 1) {
		/* 5.2+: the header bits its response (type 2) lacks */
		if (x->has_id && m->has_headerflags) {
			x->has_flags = 1;
			x->flags = from_recursor16(m->headerflags);
			x->has_edns = m->has_ednsversion;
			x->edns = m->has_ednsversion ? from_recursor32(m->ednsversion) : 0;
			kind = PBSTREAM_QUERY;
		}
		goto out;
	}
	if ((m->type != 2 && m->type != 4) || !m->question || !m->question->has_qname ||
	    !m->response || !m->has_timesec)
		goto out;
	const ProtobufCBinaryData *qn = &m->question->qname;
	char text[DNS_MAX_NAME_TEXT];
	if (qn->len > 0 && memchr(qn->data, 0, qn->len)) { /* an empty name has data NULL */
		kind = PBSTREAM_BAD_NAME; /* not cut at the NUL into another name */
		goto out;
	}
	if ((m->question->has_qtype && m->question->qtype > 65535) ||
	    (m->question->has_qclass && m->question->qclass > 65535)) {
		kind = PBSTREAM_BAD_TYPE; /* not cut to 16 bits: never "TYPE4464" */
		goto out;
	}
	if (qn->len == 0 || qn->len >= sizeof(text))
		goto out;
	memcpy(text, qn->data, qn->len);
	text[qn->len] = '\0';
	int l = dnsmsg_name_from_text(text, ev->qname, sizeof(ev->qname));
	if (l <= 0)
		goto out;
	ev->qname_len = (uint8_t)l;
	ev->qtype = m->question->has_qtype ? (uint16_t)m->question->qtype : 0;
	ev->qclass = m->question->has_qclass ? (uint16_t)m->question->qclass : 1;
	uint64_t t = (uint64_t)m->timesec * 1000000u + (m->has_timeusec ? m->timeusec : 0);
	uint64_t q = (uint64_t)m->response->querytimesec * 1000000u + m->response->querytimeusec;
	ev->time_us = t;
	ev->latency_us = (m->response->has_querytimesec && t > q && t - q < 0xffffffffu) ? (uint32_t)(t - q) : 0;
	ev->response_size = m->has_inbytes && m->inbytes < 65536 ? (uint16_t)m->inbytes : 0;
	if (m->has_socketprotocol && m->socketprotocol == 2)
		ev->flags |= EV_TCP;
	if (m->type == 2) {
		/*
		 * The response does not carry the query's header bits: RD is what
		 * clients send; a 5.2+ query message corrects it (pbstream_apply_bits)
		 */
		ev->flags |= EV_RD;
		ev->rcode = (uint16_t)(m->response->rcode & 0xfff);
		if (m->has_from)
			copy_addr(&m->from, ev); /* published only with --mirror-client-ip */
		for (size_t i = 0; i < m->response->n_rrs; i++) {
			const PBDNSMessage__DNSResponse__DNSRR *rr = m->response->rrs[i];
			if (rr->has_ttl && (!(ev->flags & EV_TTL) || rr->ttl < ev->min_ttl)) {
				ev->min_ttl = rr->ttl;
				ev->flags |= EV_TTL;
			}
		}
		kind = 1;
	} else {
		/* the authoritative's address: where the query went */
		if (!m->has_to || copy_addr(&m->to, ev) < 0)
			goto out;
		ev->flags |= EV_OUTGOING;
		/* before the question gives way to the NS name: chained answers share the key */
		ev->qkey = nstable_query_key(ev->qname, ev->qname_len, ev->qtype);
		if (m->response->has_rcode && m->response->rcode == PB_RCODE_TIMEOUT)
			ev->flags |= EV_NS_TIMEOUT;
		else
			ev->rcode = (uint16_t)(m->response->rcode & 0xfff);
		/* 5.1+: the NS name asked, in place of the question (event.h, EV_NS_NAME) */
		char ns[NS_NAME_MAX + 1];
		int named = meta_ns_name(m, ns);
		if (named > 0 && (l = dnsmsg_name_from_text(ns, ev->qname, sizeof(ev->qname))) > 0) {
			ev->qname_len = (uint8_t)l;
			ev->flags |= EV_NS_NAME;
		} else if (named < 0) {
			x->bad_ns_name = 1;
		}
		kind = 2;
	}
out:
	pbdnsmessage__free_unpacked(m, NULL);
	return kind;
}

static void conn_close(struct pbconn *c)
{
	struct pbstream *s = c->s;
	ev_io_stop(s->loop, &c->io);
	close(c->fd);
	if (tcpframe_pending(&c->in))
		s->st.truncated++;
	DL_DELETE(s->conns, c);
	s->nconns--;
	s->st.connections_open = s->nconns;
	tcpframe_free(&c->in);
	free(c);
}

static void handle_frame(struct pbstream *s, const uint8_t *data, size_t len)
{
	struct rm_event ev;
	struct pbstream_extra x;
	s->st.frames++;
	int kind = pbstream_decode(data, len, &ev, &x);
	if (kind == PBSTREAM_BAD_NAME || kind == PBSTREAM_BAD_TYPE) {
		s->st.bad_question++;
		log_rated(kind == PBSTREAM_BAD_NAME ? &s->log_name : &s->log_type, PB_LOG_INTERVAL,
			  LOG_LVL_WARN, "dropping protobuf frame: %s",
			  kind == PBSTREAM_BAD_NAME ? "a NUL inside the name"
						    : "a qtype or qclass over 65535");
		return;
	}
	if (kind < 0) {
		s->st.bad_frames++;
		return;
	}
	if (kind == PBSTREAM_QUERY) {
		if (s->outgoing_only) {
			s->st.ignored++;
			return;
		}
		s->st.client_queries++;
		if (pbstream_qbits_put(s->qbits, &x, clock_mono())) {
			s->st.query_bits_evicted++;
			log_rated(&s->log_qbits, PB_LOG_INTERVAL, LOG_LVL_WARN,
				  "protobuf: header bits of client queries waiting for their responses "
				  "(%d at most): dropped those of an older query, whose response counts as RD only",
				  PBSTREAM_QUERY_BITS_MAX);
		}
		return;
	}
	if (kind > 0) {
		uint64_t now = clock_unix_us(), win = (uint64_t)PBSTREAM_TIME_WINDOW * 1000000u;
		if (ev.time_us > now + win || ev.time_us + win < now) {
			s->st.bad_time++;
			log_rated(&s->log_time, PB_LOG_INTERVAL, LOG_LVL_WARN,
				  "dropping protobuf frame: its time %llu s is more than %d s from now",
				  (unsigned long long)(ev.time_us / 1000000u), PBSTREAM_TIME_WINDOW);
			return;
		}
	}
	if (kind == 0 || (kind == 1 && s->outgoing_only)) {
		s->st.ignored++;
		return;
	}
	if (x.bad_ns_name) {
		s->st.bad_ns_names++;
		log_rated(&s->log_nsname, PB_LOG_INTERVAL, LOG_LVL_WARN,
			  "protobuf: ignoring an NS name that is not lower-case labels of [a-z0-9_-], "
			  "at most %d characters",
			  NS_NAME_MAX);
	}
	if (kind == 1) {
		/* 5.2+: RD, CD and DO from the query's message, when it came */
		if (x.has_id && pbstream_qbits_take(s->qbits, &x))
			pbstream_apply_bits(&ev, &x);
		s->st.client_responses++;
	} else if (ev.flags & EV_NS_TIMEOUT) {
		if (pbstream_early_timeout(&ev, s->net_timeout_ms)) {
			s->st.outgoing_early_timeouts++; /* no evidence: not passed on */
			return;
		}
		s->st.outgoing_timeouts++;
	} else {
		s->st.outgoing_answers++;
	}
	if (event_sink_put(&s->sink, &ev) < 0)
		s->st.events_dropped++;
}

static void conn_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct pbconn *c = w->data;
	struct pbstream *s = c->s;
	char err[128];
	uint8_t *frame;
	size_t len;
	int r = tcpframe_recv(&c->in, c->fd, err, sizeof(err));
	if (r == 0)
		return; /* nothing yet */
	if (r < 0) {
		conn_close(c); /* the Recursor went away; it reconnects by itself */
		return;
	}
	c->last_data = clock_mono();
	while ((r = tcpframe_next(&c->in, &frame, &len, err, sizeof(err))) > 0) {
		if (len == 0)
			s->st.bad_frames++;
		else
			handle_frame(s, frame, len);
	}
	if (r < 0)
		conn_close(c); /* cannot happen with the 2-byte limit */
}

/* Closes the connection idle longest, to make room; 0 if there was one */
static int evict_idle(struct pbstream *s)
{
	struct pbconn *oldest = NULL;
	for (struct pbconn *c = s->conns; c; c = c->next)
		if (!oldest || c->last_data < oldest->last_data)
			oldest = c;
	if (!oldest)
		return -1;
	s->st.evicted++;
	conn_close(oldest);
	return 0;
}

static void on_backoff(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct pbstream *s = w->data;
	ev_io_start(loop, &s->io);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct pbstream *s = w->data;
	char a[128];
	for (int k = 0; k < 16; k++) {
		struct sockaddr_storage ss;
		int fd;
		enum acceptor_result ar = acceptor_accept(s->fd, &ss, &fd);
		if (ar == ACCEPTOR_DRAINED)
			return;
		if (ar == ACCEPTOR_EXHAUSTED) {
			s->st.accept_errors++;
			log_rated(&s->log_accept, PB_LOG_INTERVAL, LOG_LVL_WARN,
				  "cannot accept protobuf connections: %s; pausing accept for %.1f s",
				  strerror(errno), PB_ACCEPT_BACKOFF);
			ev_io_stop(loop, &s->io);
			acceptor_pause(loop, &s->backoff, PB_ACCEPT_BACKOFF);
			return;
		}
		if (!acl_match(s->allow, (struct sockaddr *)&ss)) {
			s->st.refused++;
			log_rated(&s->log_refused, PB_LOG_INTERVAL, LOG_LVL_WARN,
				  "refusing protobuf connection from '%s': not in --protobuf-allow-from",
				  netaddr_format((struct sockaddr *)&ss, a, sizeof(a)));
			close(fd);
			continue;
		}
		if (s->nconns >= s->max_conns && evict_idle(s) == 0)
			log_rated(&s->log_evicted, PB_LOG_INTERVAL, LOG_LVL_WARN,
				  "protobuf connection limit (%u) reached: closed the connection idle longest",
				  s->max_conns);
		struct pbconn *c = NULL;
		char err[128];
		if (!(c = calloc(1, sizeof(*c))) || tcpframe_init(&c->in, TCPFRAME_MAX, err, sizeof(err)) < 0) {
			free(c);
			close(fd);
			continue;
		}
		c->s = s;
		c->fd = fd;
		c->last_data = clock_mono();
		ev_io_init(&c->io, conn_read, fd, EV_READ);
		c->io.data = c;
		ev_io_start(loop, &c->io);
		DL_PREPEND(s->conns, c);
		s->st.connections++;
		s->nconns++;
		s->st.connections_open = s->nconns;
	}
}

static void on_sweep(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct pbstream *s = w->data;
	double now = clock_mono();
	for (struct pbconn *c = s->conns, *next; c; c = next) {
		next = c->next;
		if (tcpframe_pending(&c->in) && now - c->last_data > PB_STALL_SECONDS) {
			s->st.stalled++;
			conn_close(c);
		}
	}
}

struct pbstream *pbstream_create(struct ev_loop *loop, const char *listen_addr, struct event_sink sink,
				 int outgoing_only, char *err, size_t err_size)
{
	struct netaddr a;
	struct pbstream *s;
	int one = 1;
	if (netaddr_parse(listen_addr, 0, &a) < 0) {
		snprintf(err, err_size, "bad protobuf listen address '%s' (expected ADDR:PORT)", listen_addr);
		return NULL;
	}
	if (!(s = calloc(1, sizeof(*s)))) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	s->loop = loop;
	s->sink = sink;
	s->outgoing_only = outgoing_only;
	s->max_conns = PBSTREAM_MAX_CONNECTIONS;
	s->net_timeout_ms = PBSTREAM_NETWORK_TIMEOUT_DEFAULT;
	if (!(s->qbits = pbstream_qbits_create()) || !(s->allow = acl_create()) ||
	    acl_add(s->allow, PB_DEFAULT_ALLOW, err, err_size) < 0) {
		snprintf(err, err_size, "out of memory");
		acl_destroy(s->allow);
		pbstream_qbits_destroy(s->qbits);
		free(s);
		return NULL;
	}
	s->fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd >= 0)
		setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a.ss, a.len) < 0 || listen(s->fd, 64) < 0) {
		snprintf(err, err_size, "cannot listen for protobuf streams on '%s': %s", listen_addr,
			 strerror(errno));
		if (s->fd >= 0)
			close(s->fd);
		acl_destroy(s->allow);
		pbstream_qbits_destroy(s->qbits);
		free(s);
		return NULL;
	}
	ev_io_init(&s->io, on_accept, s->fd, EV_READ);
	s->io.data = s;
	ev_io_start(loop, &s->io);
	ev_timer_init(&s->sweep, on_sweep, 1.0, 1.0);
	s->sweep.data = s;
	ev_timer_start(loop, &s->sweep);
	ev_timer_init(&s->backoff, on_backoff, PB_ACCEPT_BACKOFF, 0.);
	s->backoff.data = s;
	log_info("listening for the Recursor's protobuf streams on TCP '%s'", listen_addr);
	return s;
}

int pbstream_set_limits(struct pbstream *s, const struct pbstream_limits *lim, char *err,
			size_t err_size)
{
	struct acl *acl = acl_create();
	if (!acl) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	const char *def = PB_DEFAULT_ALLOW;
	char *const *list = lim->nallow_from ? lim->allow_from : (char *const *)&def;
	size_t n = lim->nallow_from ? lim->nallow_from : 1;
	for (size_t i = 0; i < n; i++)
		if (acl_add(acl, list[i], err, err_size) < 0) {
			acl_destroy(acl);
			return -1;
		}
	acl_destroy(s->allow);
	s->allow = acl;
	s->max_conns = lim->max_connections ? lim->max_connections : PBSTREAM_MAX_CONNECTIONS;
	return 0;
}

void pbstream_set_sink(struct pbstream *s, struct event_sink sink)
{
	s->sink = sink;
}

void pbstream_set_network_timeout(struct pbstream *s, unsigned ms)
{
	s->net_timeout_ms = ms < PBSTREAM_NETWORK_TIMEOUT_MIN   ? PBSTREAM_NETWORK_TIMEOUT_MIN
			    : ms > PBSTREAM_NETWORK_TIMEOUT_MAX ? PBSTREAM_NETWORK_TIMEOUT_MAX
								: ms;
}

void pbstream_get_stats(const struct pbstream *s, struct pbstream_stats *st)
{
	*st = s->st;
}

void pbstream_destroy(struct pbstream *s)
{
	if (!s)
		return;
	while (s->conns)
		conn_close(s->conns);
	ev_io_stop(s->loop, &s->io);
	ev_timer_stop(s->loop, &s->sweep);
	ev_timer_stop(s->loop, &s->backoff);
	close(s->fd);
	acl_destroy(s->allow);
	pbstream_qbits_destroy(s->qbits);
	free(s);
}
