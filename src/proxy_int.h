/*
 * proxy_int.h: what proxy.c (setup, UDP) and proxy_tcp.c (TCP) share.
 * Internal to the proxy; only the libev thread touches any of it.
 */
#ifndef RECMESH_PROXY_INT_H
#define RECMESH_PROXY_INT_H

#include "dnsmsg.h"
#include "event.h"
#include "netaddr.h"
#include "proxy.h"

#include <netinet/in.h>

struct proxy;

struct listener {
	struct proxy *p;
	struct netaddr addr;
	int fd;
	int tcp;
	int wildcard; /* UDP: answer from the address the query came to */
	unsigned index;
	ev_io io;
};

struct tcp_client; /* proxy_tcp.c */

struct proxy {
	struct ev_loop *loop;
	struct proxy_config cfg;
	struct netaddr upstream;
	struct listener *listeners;
	size_t nlisteners;
	struct udp_upstream *ups; /* proxy.c */
	unsigned nups, next_up;
	uint64_t timeout_ns;
	ev_timer sweep;
	struct tcp_client *tcp_clients; /* doubly linked list (utlist.h DL_*: the head's prev is the tail) */
	struct proxy_stats st;
	uint8_t *rx_bufs; /* UDP receive buffers */
	void *udp_outs;   /* per-listener answer batches (proxy.c) */
	uint32_t qseed;   /* the question keys' seed, random */
	ev_timer accept_backoff; /* restarts the TCP listeners after a pause (proxy_tcp.c) */
	struct peers *peers;     /* --peer; NULL without */
	void *recent;            /* with peers: the last UDP queries (proxy.c) */
	unsigned nrecent;
	int (*phase_fn)(const void *ctx);
	const void *phase_ctx;
};

/*
 * Peers (peer.h): a token names the query a peer's answer belongs to. A
 * UDP client's is PROXY_TOKEN_UDP | upstream socket << 16 | upstream ID;
 * a TCP client's is its struct tcp_pending's address (user-space
 * addresses never have bit 62 set). Every slot that holds a peer handle
 * cancels it when it is forgotten, so a token in a callback is always live.
 */
#define PROXY_TOKEN_UDP (1ull << 62)

/* The peer mode for a query now (PEER_OFF without peers) */
static inline enum peer_mode proxy_peer_mode(struct proxy *p, uint64_t now_ns)
{
	if (!p->peers)
		return PEER_OFF;
	return peers_mode(p->peers, p->phase_fn ? p->phase_fn(p->phase_ctx) : PEER_PHASE_IDLE, now_ns);
}

/* Sends (or queues for the hedge delay) a client's query to a peer; returns the handle or 0 */
static inline uint64_t proxy_peer_ask(struct proxy *p, enum peer_mode mode, const uint8_t *pkt,
				      size_t len, int tcp, uint64_t token, uint64_t now_ns)
{
	if (mode == PEER_OFF)
		return 0;
	if (mode == PEER_HEDGE && peers_hedge_ns(p->peers) > 0)
		return peers_hedge(p->peers, pkt, len, token, now_ns);
	return peers_send(p->peers, pkt, len, tcp, token, mode, now_ns);
}

/* ECONNREFUSED on the way to the upstream (UDP or TCP): with peers, it is down */
void proxy_local_refused(struct proxy *p);

/* Peer callbacks for TCP tokens (proxy_tcp.c) */
void ptcp_peer_answer(struct proxy *p, uint64_t token, uint8_t *pkt, size_t len);
void ptcp_peer_fail(struct proxy *p, uint64_t token);
void ptcp_peer_hedge(struct proxy *p, uint64_t token, uint8_t *pkt, size_t len);

/*
 * Hands an event to the sink for an answered query. r is the parsed
 * response (NULL when it did not parse); the query's question must have
 * been checked against it.
 */
void proxy_emit(struct proxy *p, const struct ev_query *q, const struct dns_msg_info *r,
		size_t rsize, uint64_t latency_ns, int tcp, const struct sockaddr *client);

/* TCP side (proxy_tcp.c) */
void ptcp_init(struct proxy *p); /* before the listeners start */
void ptcp_accept_cb(struct ev_loop *loop, ev_io *w, int revents);
void ptcp_sweep(struct proxy *p, uint64_t now_ns);
void ptcp_destroy_all(struct proxy *p);

/*
 * The question key: how an answer is matched with its query, beyond the ID.
 * It is a seeded FNV-1a hash (the seed is random per proxy, so a sender
 * cannot aim at collisions) over QDCOUNT and the raw first question as it
 * stands in the packet (name, type, class; ASCII letters of the name
 * folded to lower case, as the Recursor may answer with other case), and
 * its length. It is taken from the raw bytes, not from dnsmsg_parse, so a
 * query or an answer that does not parse as a whole still has one: only
 * the question must be delimitable (uncompressed labels, 255 octets at most,
 * type and class present). A query with no delimitable single question
 * (QDCOUNT 0 or over 1, a question cut short) may be answered with no
 * question at all (FORMERR); see proxy_qkey_match.
 */
struct proxy_qkey {
	uint32_t hash;
	uint16_t len;   /* question bytes; 0 when not delimited */
	uint8_t single; /* QDCOUNT 1 and the question delimited */
};

static inline void proxy_qkey(const uint8_t *pkt, size_t len, uint32_t seed, struct proxy_qkey *k)
{
	uint16_t qd = dnsmsg_get16(pkt + 4); /* len >= DNS_HDR_LEN: the callers checked */
	uint32_t h = (2166136261u ^ seed) * 16777619u;
	size_t off = DNS_HDR_LEN, end = 0;
	h = (h ^ (qd >> 8)) * 16777619u;
	h = (h ^ (qd & 0xff)) * 16777619u;
	k->len = 0;
	k->single = 0;
	if (qd > 0) {
		while (off < len) {
			uint8_t l = pkt[off];
			if (l == 0) {
				end = off + 1 + 4;
				break;
			}
			if (l & 0xc0 || off + 1 + l - DNS_HDR_LEN > DNS_MAX_NAME - 1)
				break;
			off += 1u + l;
		}
		if (end && end <= len) {
			for (size_t i = DNS_HDR_LEN; i < end; i++) {
				uint8_t c = pkt[i];
				if (i < end - 4 && c >= 'A' && c <= 'Z')
					c = (uint8_t)(c + 32);
				h = (h ^ c) * 16777619u;
			}
			k->len = (uint16_t)(end - DNS_HDR_LEN);
			k->single = qd == 1;
		}
	}
	k->hash = h;
}

/*
 * The same key from a parsed message (dnsmsg_parse gave DNS_OK: one
 * question, its name lower-cased and uncompressed as it stands in the
 * packet), without walking the name again: the two give the same key for
 * the same question.
 */
static inline void proxy_qkey_parsed(const struct dns_msg_info *m, uint32_t seed, struct proxy_qkey *k)
{
	uint32_t h = (2166136261u ^ seed) * 16777619u;
	h = (h ^ 0) * 16777619u; /* QDCOUNT 1 */
	h = (h ^ 1) * 16777619u;
	for (unsigned i = 0; i < m->qname_len; i++)
		h = (h ^ m->qname[i]) * 16777619u;
	h = (h ^ (m->qtype >> 8)) * 16777619u;
	h = (h ^ (m->qtype & 0xff)) * 16777619u;
	h = (h ^ (m->qclass >> 8)) * 16777619u;
	h = (h ^ (m->qclass & 0xff)) * 16777619u;
	k->hash = h;
	k->len = (uint16_t)(m->qname_len + 4u);
	k->single = 1;
}

/*
 * Whether an answer (at least a header long) with question key a answers
 * a query with key q: the same question; or, for a query without a single
 * delimitable question, an answer without a question.
 */
static inline int proxy_qkey_match(const struct proxy_qkey *q, const uint8_t *answer,
				   const struct proxy_qkey *a)
{
	if (q->hash == a->hash && q->len == a->len && q->single == a->single)
		return 1;
	return !q->single && dnsmsg_get16(answer + 4) == 0;
}

static inline void proxy_ev_query(struct ev_query *q, const struct dns_msg_info *m, size_t size)
{
	q->flags = m->flags;
	q->size = size > 65535 ? 65535 : (uint16_t)size;
	q->do_bit = m->do_bit;
	q->warm_marker = m->warm_marker;
}

#endif
