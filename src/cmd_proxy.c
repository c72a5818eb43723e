/* cmd_proxy.c: `recmesh proxy`, the inline node: listeners, upstream, scheduling, auto-warm; see recmesh(1) */
#include "config.h"

#include "autowarm.h"
#include "commands.h"
#include "log.h"
#include "netaddr.h"
#include "node.h"
#include "options.h"
#include "proxy.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

struct proxy_ctx {
	struct proxy *proxy;
	struct autowarm *autowarm;
};

/* The proxy's counter line, between the node's protobuf and events lines */
static void log_proxy_stats(void *arg, const char *when)
{
	struct proxy_ctx *x = arg;
	struct proxy_stats ps;
	proxy_get_stats(x->proxy, &ps);
	log_info("%s: queries udp=%llu tcp=%llu answers=%llu timeouts=%llu servfail=%llu "
		 "not-dns=%llu malformed=%llu/%llu unexpected=%llu overload=%llu send-errors=%llu "
		 "tcp-clients=%llu(open %llu, refused %llu)",
		 when, (unsigned long long)ps.udp_queries, (unsigned long long)ps.tcp_queries,
		 (unsigned long long)ps.answers, (unsigned long long)ps.upstream_timeouts,
		 (unsigned long long)ps.servfail_sent, (unsigned long long)ps.dropped_not_query,
		 (unsigned long long)ps.malformed_queries, (unsigned long long)ps.malformed_responses,
		 (unsigned long long)ps.unexpected_responses, (unsigned long long)ps.overload_drops,
		 (unsigned long long)ps.send_errors, (unsigned long long)ps.tcp_clients,
		 (unsigned long long)ps.tcp_clients_open, (unsigned long long)ps.tcp_clients_refused);
}

/*
 * The data path thread runs under SCHED_BATCH unless told otherwise. A
 * SCHED_BATCH thread that is woken does not preempt the thread running on
 * its CPU: under load the queries and answers that arrive meanwhile are
 * then taken in one recvmmsg/sendmmsg batch instead of one wake-up each,
 * which saves CPU for the Recursor next to it (bench/proxy.sh measures
 * both). On an idle CPU it runs at once, so light load sees no delay.
 * Threads started before this (NATS, auto-warm) keep the normal policy.
 */
static void set_scheduling(const char *policy)
{
	struct sched_param sp = {0};
	if (strcmp(policy, "batch") != 0)
		return;
	if (sched_setscheduler(0, SCHED_BATCH, &sp) < 0)
		log_warn("cannot run the data path under SCHED_BATCH (%s): using the normal policy",
			 strerror(errno));
	else
		log_info("the data path thread runs under SCHED_BATCH");
}

/* The proxy's own options; returns 0 or the exit status (o is then freed) */
static int check_options(struct rm_options *o)
{
	char msg[256];
	struct netaddr na;
	const char *missing = !o->nlisten ? "--listen" : !o->upstream ? "--upstream" : NULL;
	if (missing) {
		snprintf(msg, sizeof(msg), "%s is required", missing);
		return node_usage_error("proxy", msg, o);
	}
	for (size_t i = 0; i < o->nlisten; i++)
		if (netaddr_parse(o->listen[i], 53, &na) < 0) {
			snprintf(msg, sizeof(msg), "bad --listen address '%s' (expected ADDR:PORT)", o->listen[i]);
			return node_usage_error("proxy", msg, o);
		}
	if (netaddr_parse(o->upstream, 53, &na) < 0) {
		snprintf(msg, sizeof(msg), "bad --upstream address '%s' (expected ADDR:PORT)", o->upstream);
		return node_usage_error("proxy", msg, o);
	}
	if (o->auto_warm && (o->qps == 0 || o->concurrency == 0 || o->concurrency > 60000 || o->top == 0))
		return node_usage_error("proxy", "with --auto-warm, --qps, --top and --concurrency (at most 60000) must be positive", o);
	if (o->rec_socket_dir && !o->auto_warm)
		return node_usage_error("proxy", "--rec-socket-dir only makes sense with --auto-warm", o);
	if (o->upstream_timeout <= 0 || o->upstream_sockets == 0 || o->upstream_sockets > 64)
		return node_usage_error("proxy", "--upstream-timeout must be positive; --upstream-sockets 1 to 64", o);
	if (strcmp(o->scheduling, "batch") != 0 && strcmp(o->scheduling, "normal") != 0) {
		snprintf(msg, sizeof(msg), "bad --scheduling '%s' (expected batch or normal)", o->scheduling);
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
		.tcp_idle_timeout = o.tcp_idle_timeout,
		.client_ip = o.mirror_client_ip,
	};
	/* sockets first: a port that is taken is the most common start-up error */
	if (!(x.proxy = proxy_create(n.loop, &pc, err, sizeof(err)))) {
		log_err("%s", err);
		node_finish(&n);
		options_free(&o);
		return 1;
	}
	/* a proxy sees its clients itself: from the streams it takes only what went to authoritatives */
	if (node_start(&n, 1) < 0) {
		proxy_destroy(x.proxy);
		node_finish(&n);
		options_free(&o);
		return 1;
	}
	/* the proxy was created before the publisher existed: wire it in now */
	proxy_set_sink(x.proxy, node_sink(&n));
	log_info("forwarding to '%s' as node '%s' of cluster '%s'", o.upstream, o.node, o.cluster);
	if (o.auto_warm) {
		struct autowarm_config ac = {
			.upstream = o.upstream,
			.nats_url = o.nats,
			.cluster = o.cluster,
			.rec_socket_dir = o.rec_socket_dir,
			.top = o.top,
			.qps = o.qps,
			.concurrency = o.concurrency,
			.max_age = o.max_age,
			.half_life = o.hot_half_life,
			.query_timeout = o.query_timeout,
			.wait_timeout = o.wait_timeout,
		};
		if (!(x.autowarm = autowarm_create(&ac)))
			log_err("cannot start the auto-warm watcher");
	}

	set_scheduling(o.scheduling);
	node_run(&n, log_proxy_stats, &x);

	autowarm_destroy(x.autowarm);
	proxy_destroy(x.proxy);
	node_finish(&n);
	options_free(&o);
	return 0;
}
