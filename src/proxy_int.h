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
	struct tcp_client *tcp_clients; /* doubly linked list */
	struct proxy_stats st;
	uint8_t *rx_bufs; /* UDP receive buffers */
	void *udp_outs;   /* per-listener answer batches (proxy.c) */
};

/*
 * Hands an event to the sink for an answered query. r is the parsed
 * response (NULL when it did not parse); the query's question must have
 * been checked against it.
 */
void proxy_emit(struct proxy *p, const struct ev_query *q, const struct dns_msg_info *r,
		size_t rsize, uint64_t latency_ns, int tcp, const struct sockaddr *client);

/* TCP side (proxy_tcp.c) */
void ptcp_accept_cb(struct ev_loop *loop, ev_io *w, int revents);
void ptcp_sweep(struct proxy *p, uint64_t now_ns);
void ptcp_destroy_all(struct proxy *p);

/* FNV-1a over the question, to match answers with queries cheaply */
static inline uint32_t proxy_question_hash(const struct dns_msg_info *m)
{
	uint32_t h = 2166136261u;
	for (unsigned i = 0; i < m->qname_len; i++)
		h = (h ^ m->qname[i]) * 16777619u;
	h = (h ^ (m->qtype >> 8)) * 16777619u;
	h = (h ^ (m->qtype & 0xff)) * 16777619u;
	h = (h ^ (m->qclass >> 8)) * 16777619u;
	h = (h ^ (m->qclass & 0xff)) * 16777619u;
	return h;
}

static inline void proxy_ev_query(struct ev_query *q, const struct dns_msg_info *m, size_t size)
{
	q->flags = m->flags;
	q->size = size > 65535 ? 65535 : (uint16_t)size;
	q->do_bit = m->do_bit;
	q->warm_marker = m->warm_marker;
}

#endif
