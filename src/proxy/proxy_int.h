/*
 * proxy_int.h: what proxy.c (setup, UDP) and proxy_tcp.c (TCP) share.
 * Internal to the proxy; only the libev thread touches any of it.
 */
#ifndef RECMESH_PROXY_INT_H
#define RECMESH_PROXY_INT_H

#include "dns/dnsmsg.h"
#include "dns/event.h"
#include "dns/qkey.h"
#include "net/netaddr.h"
#include "net/recstate.h"
#include "proxy/channel.h"
#include "proxy/peer.h"
#include "proxy/proxy.h"

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
	/* the channels (channel.h): the local Recursor's over UDP, and the peers' (with peers) */
	struct localchan *local;
	struct channel local_ch, peer_ch;
	/* UDP clients' queries until every channel is done with them (proxy.c) */
	struct udp_slot *slots;
	uint32_t *free_slots; /* given back; the never used are nfresh and up */
	uint32_t nslots, nfree, nfresh;
	uint64_t timeout_ns;
	ev_timer sweep;
	struct tcp_client *tcp_clients; /* doubly linked list (utlist.h DL_*: the head's prev is the tail) */
	/* control state (st only reports them): clients open, and closes so far */
	uint64_t tcp_open, tcp_closes;
	struct proxy_stats st;
	uint8_t *rx_bufs; /* UDP receive buffers */
	void *udp_outs;   /* per-listener answer batches (proxy.c) */
	uint32_t qseed;   /* the question keys' seed, random */
	ev_timer accept_backoff; /* restarts the TCP listeners after a pause (proxy_tcp.c) */
	struct peers *peers;     /* --peer; NULL without */
	void *recent;            /* with peers: the last UDP queries (proxy.c) */
	unsigned nrecent;
	const atomic_int *phase; /* the auto-warm's (enum rec_phase); NULL: none */
	struct recstate *rec;       /* cfg.rec, or own_rec */
	struct recstate *own_rec;   /* made here: none was given */
	struct recstate_view rview; /* this thread's part of it */
	struct peer_config peer_cfg; /* cfg.peers with rec */
};

/*
 * Channels (channel.h): a token names the client query an answer belongs
 * to. A UDP client's is PROXY_TOKEN_UDP | its slot's index; a TCP
 * client's is its struct tcp_pending's address (user-space addresses never
 * have bit 62 set). Every slot that holds a channel's handle cancels it
 * when it is forgotten, so a token in a callback is always live.
 */
#define PROXY_TOKEN_UDP (1ull << 62)

/* Sends a client's query to a peer now (counted as: PEER_NOW, _HEDGE, _COLD); the handle or 0 */
static inline uint64_t proxy_peer_send(struct proxy *p, uint8_t *pkt, size_t len, int tcp,
				       uint64_t token, enum peer_mode as, uint64_t now_ns)
{
	struct channel_query q = {pkt, len, NULL, tcp, as};
	return p->peers ? channel_send(&p->peer_ch, &q, token, now_ns) : 0;
}

/* Forgets a peer query (a hedge queued or a query sent); lost_race: the local Recursor was first */
static inline void proxy_peer_cancel_race(struct proxy *p, uint64_t handle, int lost_race)
{
	if (p->peers)
		channel_cancel(&p->peer_ch, handle, lost_race);
}

static inline void proxy_peer_cancel(struct proxy *p, uint64_t handle)
{
	proxy_peer_cancel_race(p, handle, 0);
}

/* The peer mode for a query now (PEER_OFF without peers) */
static inline enum peer_mode proxy_peer_mode(struct proxy *p, uint64_t now_ns)
{
	if (!p->peers)
		return PEER_OFF;
	return peers_mode(p->peers, p->phase, now_ns);
}

/*
 * Sends (or queues for the hedge delay) a client's query to a peer, where
 * the router says (router_route); q is the parsed query (NULL: it did not
 * parse). Returns the handle or 0.
 */
static inline uint64_t proxy_peer_ask(struct proxy *p, enum peer_mode mode, const uint8_t *pkt,
				      size_t len, int tcp, uint64_t token, uint64_t now_ns,
				      const struct dns_msg_info *q)
{
	if (mode == PEER_OFF)
		return 0;
	int from_peer = peers_from_peer(p->peers, q); /* counted and said once */
	int cold = !from_peer && mode == PEER_HEDGE && peers_name_cold(p->peers, q);
	struct route_decision d = router_route(mode, from_peer, cold, peers_hedge_ns(p->peers));
	if (d.route == ROUTE_PEER_HEDGED)
		return peers_hedge(p->peers, pkt, len, token, now_ns);
	if (d.route == ROUTE_PEER_NOW)
		return proxy_peer_send(p, (uint8_t *)pkt, len, tcp, token, d.counted_as, now_ns);
	return 0;
}

/* ECONNREFUSED on the way to the upstream (UDP or TCP): it is down (recstate.h); with peers, rescue */
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

static inline void proxy_ev_query(struct ev_query *q, const struct dns_msg_info *m, size_t size)
{
	q->flags = m->flags;
	q->size = size > 65535 ? 65535 : (uint16_t)size;
	q->do_bit = m->do_bit;
	q->warm_marker = m->warm_marker;
}

#endif
