/*
 * proxy.h: the inline data path of `recmesh proxy`.
 *
 * Listens on UDP and TCP, forwards every query unchanged but for the
 * message ID to the upstream Recursor, relays its answer unchanged but for
 * the ID, and hands an event for every answered query to its event sink
 * (sink.h). All of it runs on one libev loop and never blocks: the sink
 * copies the event and never waits. The proxy knows nothing of NATS.
 *
 * Malformed input: a datagram shorter than a DNS header or with QR set is
 * dropped (there is nothing to answer); any other query is forwarded as it
 * is, so the Recursor answers it as it would without the proxy, but it
 * produces no event and is counted as malformed.
 *
 * Upstream timeouts: a UDP query unanswered after upstream_timeout is
 * forgotten and the client gets silence (it retries, as after a lost
 * packet); a TCP query gets SERVFAIL, as does every query pending on an
 * upstream TCP connection that fails.
 */
#ifndef RECMESH_PROXY_H
#define RECMESH_PROXY_H

#include "dns/sink.h"
#include "proxy/peer.h"
#include "proxy/schedpol.h"

#include <ev.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct proxy_config {
	char *const *listen; /* "ADDR:PORT" entries, UDP and TCP on each */
	size_t nlisten;
	const char *upstream; /* "ADDR:PORT" */
	double upstream_timeout;  /* seconds */
	unsigned upstream_sockets; /* UDP sockets towards the upstream */
	unsigned max_tcp_clients;
	unsigned max_tcp_per_client; /* connections from one address at most; 0: no own limit */
	double tcp_idle_timeout; /* seconds */
	double tcp_max_duration; /* seconds a TCP client connection lives at most; 0: no limit */
	int client_ip;           /* put client addresses into events */
	struct event_sink sink;  /* fn NULL: no events */
	/* not owned, may be NULL; --scheduling auto: the sweep feeds it the query count */
	struct schedpol_auto *sched;
	/* NULL: no peers; else --peer and its limits (copied; the strings must outlive the proxy) */
	const struct peer_config *peers;
	unsigned thread;  /* the data path thread it runs on (workers.h): only thread 0 logs its sockets */
	unsigned threads; /* of how many (above 1: the limits are this thread's share, and say so) */
	int reuseport;   /* bind the listeners with SO_REUSEPORT (several threads listen) */
	/*
	 * Where the proxy reports what its queries see of the upstream
	 * (net/recstate.h: refusals, timeouts, answers), shared with every
	 * other data path thread, /health and the auto-warm; borrowed, it must
	 * outlive the proxy. NULL: the proxy makes its own.
	 */
	struct recstate *rec;
};

struct proxy_stats {
	uint64_t udp_queries, tcp_queries;
	uint64_t answers;
	uint64_t upstream_timeouts;
	uint64_t servfail_sent;
	uint64_t dropped_not_query;   /* short datagrams, QR set */
	uint64_t malformed_queries;   /* forwarded, no event */
	uint64_t malformed_responses; /* relayed, no event */
	uint64_t unexpected_responses; /* dropped: unknown or late ID, wrong source, another question */
	uint64_t mismatched_answers;   /* of those: the right ID but another question */
	uint64_t overload_drops; /* no free upstream ID */
	uint64_t send_errors;
	uint64_t tcp_clients, tcp_clients_refused;
	uint64_t tcp_clients_open;
	uint64_t tcp_per_client_refused; /* of the refused: over --max-tcp-per-client */
	uint64_t tcp_evicted;            /* idle connections closed to make room */
	uint64_t tcp_closed_duration;    /* closed at --tcp-max-duration */
	uint64_t tcp_closed_unread;      /* closed: answers unread for --tcp-idle-timeout */
	uint64_t tcp_reads_paused;       /* times a connection's reads stopped at the pending limit */
	uint64_t accept_errors;          /* accept() failed (descriptors, memory): accept paused */
	uint64_t events_dropped;
	struct peer_stats peer; /* --peer: queries to warm peers (peer.h) */
};

struct proxy;

/* Binds every listener and the upstream sockets; NULL with a reason in err */
struct proxy *proxy_create(struct ev_loop *loop, const struct proxy_config *cfg, char *err,
			   size_t err_size);
/*
 * Adds one data path thread's counters to sum (saturating): counters and
 * gauges add up; what every thread counts alike (the shields, the peer
 * mode) takes the largest.
 */
void proxy_stats_add(struct proxy_stats *sum, const struct proxy_stats *x);
/* Publishes the counters for other threads now (pathstats.h; the sweep does every 0.1 s) */
void proxy_publish(struct proxy *p);
/* Sets where events go (a sink with fn NULL: nowhere); the sink's ctx must outlive p or the next call */
void proxy_set_sink(struct proxy *p, struct event_sink sink);
/*
 * Where the proxy loads the auto-warm's phase (enum rec_phase,
 * net/recphase.h) for its peers, on the data path's thread for every
 * batch; NULL: always REC_PHASE_IDLE. It must outlive p or the next call.
 */
void proxy_set_phase(struct proxy *p, const atomic_int *phase);
/* Stops listening and frees everything; pending queries are dropped */
void proxy_destroy(struct proxy *p);

#endif
