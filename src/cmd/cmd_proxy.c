/* cmd_proxy.c: `recmesh proxy`, the inline node: listeners, upstream, scheduling, auto-warm; see recmesh(1) */
#include "config.h"

#include "base/log.h"
#include "cmd/commands.h"
#include "net/netaddr.h"
#include "net/recstate.h"
#include "ops/counters.h"
#include "ops/node.h"
#include "ops/options.h"
#include "proxy/pathstats.h"
#include "proxy/proxy.h"
#include "proxy/schedpol.h"
#include "proxy/workers.h"
#include "tables/warmset.h"
#include "warm/autowarm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(WORKERS_MAX == 64 && PATHSTATS_THREADS >= WORKERS_MAX,
	       "--threads' range (options.c) is 0 to WORKERS_MAX, each thread a pathstats slot");

struct proxy_ctx {
	struct recstate *rec; /* the upstream as the data path, /health and the auto-warm see it */
	struct workers *workers;
	struct autowarm *autowarm;
	size_t npeers;
	struct warmset *warmed; /* with peers: the names warmed since the shield started */
};

/* The proxy's counters for the stats lines: queries, limits, peers (with --peer) */
static void proxy_counters(void *arg, struct counter_values *v)
{
	struct proxy_ctx *x = arg;
	/* every data path thread's counters of now, added up */
	workers_sync(x->workers);
	if (pathstats_proxy_read(&v->proxy, &v->in_flight) < 0)
		memset(&v->proxy, 0, sizeof(v->proxy));
	v->has[CSRC_PROXY] = 1;
	v->has[CSRC_PEER] = x->npeers > 0;
}

/*
 * --scheduling (schedpol.h): each data path thread runs under the policy
 * given. batch, the default: a SCHED_BATCH thread that is woken does not
 * preempt the thread running on its CPU (it goes to an idle CPU if there
 * is one, or waits for the next scheduling decision), so under load the
 * packets that arrive meanwhile are taken in one recvmmsg/sendmmsg batch
 * instead of one wake-up each, which saves CPU for the Recursor next to
 * it; measured at 2000, 8000 and 20000 queries/s it also answered as fast
 * as or faster than under the normal policy (bench/proxy.sh, recmesh(1)
 * "Scheduling"). auto follows each thread's load: normal at low load,
 * SCHED_BATCH at high load. The other threads (NATS, auto-warm, the node's
 * loop) keep the normal policy.
 */
static void log_scheduling(enum schedpol p, unsigned threads)
{
	if (p == SCHEDPOL_AUTO)
		log_info("%u data path thread%s, each following its load: normal policy below %.0f queries/s, "
			 "SCHED_BATCH from %.0f", threads, threads == 1 ? "" : "s", SCHEDPOL_DOWN_QPS,
			 SCHEDPOL_UP_QPS);
	else
		log_info("%u data path thread%s under the %s policy", threads, threads == 1 ? "" : "s",
			 schedpol_name(p));
}

static void stop_workers(void *arg)
{
	workers_stop(arg);
}

static int workers_run(void *arg, char *why, size_t why_size)
{
	return workers_alive(arg, why, why_size);
}

/* The proxy's own options; returns 0 or the exit status (o is then freed) */
static int check_options(struct rm_options *o)
{
	char msg[256];
	const char *missing = !o->nlisten ? "--listen" : !o->upstream ? "--upstream" : NULL;
	if (missing) {
		snprintf(msg, sizeof(msg), "%s is required", missing);
		return node_usage_error("proxy", msg, o);
	}
	/* a peer that is this proxy itself would send each query round to itself (the addresses parse: options_parse) */
	for (size_t i = 0; i < o->npeer; i++)
		for (size_t j = 0; j < o->nlisten; j++) {
			struct netaddr pa, la;
			netaddr_parse(o->peer[i], 53, &pa);
			netaddr_parse(o->listen[j], 53, &la);
			if (netaddr_reaches(&pa, &la)) {
				snprintf(msg, sizeof(msg),
					 "--peer '%s' is this proxy's own --listen '%s': a peer must be another node",
					 o->peer[i], o->listen[j]);
				return node_usage_error("proxy", msg, o);
			}
		}
	if (o->rec_socket_dir && !o->auto_warm)
		return node_usage_error("proxy", "--rec-socket-dir only makes sense with --auto-warm", o);
	enum schedpol policy;
	if (schedpol_parse(o->scheduling, &policy) < 0) {
		snprintf(msg, sizeof(msg), "bad --scheduling '%s' (expected auto, batch or normal)", o->scheduling);
		return node_usage_error("proxy", msg, o);
	}
	return 0;
}

int cmd_proxy(int argc, char **argv)
{
	struct rm_options o;
	struct node n;
	struct proxy_ctx x = {0};
	char err[512];
	int status;

	if (node_parse(&n, CMD_PROXY, "proxy", argc, argv, &o, &status) < 0)
		return status;
	if ((status = check_options(&o)) != 0)
		return status;
	node_open(&n);
	struct proxy_config pc = {
		.listen = o.listen,
		.nlisten = o.nlisten,
		.upstream = o.upstream,
		.upstream_timeout = o.upstream_timeout,
		.upstream_sockets = o.upstream_sockets,
		.max_tcp_clients = o.max_tcp_clients,
		.max_tcp_per_client = o.max_tcp_per_client,
		.tcp_idle_timeout = o.tcp_idle_timeout,
		.tcp_max_duration = o.tcp_max_duration,
		.client_ip = o.mirror_client_ip,
	};
	struct peer_config peers = {
		.peers = o.peer,
		.npeers = o.npeer,
		.hedge_delay = o.peer_hedge_delay,
		.shield_max = o.shield_max,
		/* a warm peer answers fast; a client should not wait for a dead one as long as for its own */
		.timeout = o.upstream_timeout < PEER_TIMEOUT_MAX ? o.upstream_timeout : PEER_TIMEOUT_MAX,
		.max_qps = o.peer_max_qps,
		.max_inflight = o.peer_max_inflight,
	};
	if (o.npeer) {
		uint64_t seed = (uint64_t)arc4random() << 32 | arc4random();
		if (!(x.warmed = warmset_create(seed))) {
			log_err("out of memory for the set of warmed names");
			node_finish(&n);
			options_free(&o);
			return 1;
		}
		peers.warmed = x.warmed;
		pc.peers = &peers;
	}
	x.npeers = o.npeer;
	enum schedpol policy = SCHEDPOL_BATCH;
	(void)schedpol_parse(o.scheduling, &policy); /* checked above */
	unsigned threads = o.threads ? o.threads : workers_auto();
	if (!(x.rec = recstate_create(o.upstream))) {
		log_err("out of memory");
		warmset_destroy(x.warmed);
		node_finish(&n);
		options_free(&o);
		return 1;
	}
	pc.rec = x.rec;
	n.rec = x.rec;
	/* sockets first: a port that is taken is the most common start-up error */
	if (!(x.workers = workers_create(threads, &pc, policy, err, sizeof(err)))) {
		log_err("%s", err);
		recstate_destroy(x.rec);
		warmset_destroy(x.warmed);
		node_finish(&n);
		options_free(&o);
		return 1;
	}
	/* a proxy sees its clients itself: from the streams it takes only what went to authoritatives */
	n.data_threads = threads;
	if (node_start(&n, 1) < 0) {
		workers_destroy(x.workers);
		warmset_destroy(x.warmed);
		node_finish(&n);
		recstate_destroy(x.rec);
		options_free(&o);
		return 1;
	}
	/* the proxy was created before the publisher existed: wire it in now */
	for (unsigned k = 0; k < threads; k++)
		workers_set_sink(x.workers, k, node_data_sink(&n, k));
	log_info("forwarding to '%s' as node '%s' of cluster '%s'", o.upstream, o.node, o.cluster);
	if (o.auto_warm) {
		struct autowarm_config ac = {
			.upstream = o.upstream,
			.nats_url = o.nats,
			.cluster = o.cluster,
			.rec_socket_dir = o.rec_socket_dir,
			.intel_file = o.intel_file,
			.top = o.top,
			.sample = o.sample,
			.qps = o.qps,
			.max_qps = o.max_qps,
			.nats_timeout = o.nats_timeout,
			.concurrency = o.concurrency,
			.max_age = o.max_age,
			.half_life = o.hot_half_life,
			.query_timeout = o.query_timeout,
			.wait_timeout = o.wait_timeout,
			.warmed = x.warmed,
			.rec = x.rec,
		};
		if (!(x.autowarm = autowarm_create(&ac)))
			log_err("cannot start the auto-warm watcher");
		node_set_autowarm(&n, x.autowarm);
		if (x.autowarm)
			workers_set_phase(x.workers, autowarm_phase(x.autowarm));
	}

	log_scheduling(policy, threads);
	status = 0;
	if (workers_start(x.workers, err, sizeof(err)) < 0) {
		log_err("%s", err);
		status = 1;
	} else {
		node_set_stop(&n, stop_workers, x.workers);
		node_set_alive(&n, workers_run, x.workers);
		node_run(&n, proxy_counters, &x);
	}

	node_set_autowarm(&n, NULL);
	autowarm_destroy(x.autowarm);
	workers_destroy(x.workers);
	warmset_destroy(x.warmed);
	node_finish(&n); /* the health thread reads rec until here */
	recstate_destroy(x.rec);
	options_free(&o);
	return status;
}
