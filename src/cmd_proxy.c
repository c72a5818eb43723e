/* cmd_proxy.c: the node commands, `recmesh proxy` (inline) and `recmesh mirror` (off-path); see recmesh(1) */
#include "config.h"

#include "autowarm.h"
#include "commands.h"
#include "hotlist.h"
#include "log.h"
#include "names.h"
#include "mirror.h"
#include "netaddr.h"
#include "nstable.h"
#include "options.h"
#include "pbstream.h"
#include "proxy.h"
#include "schedpol.h"

#include <nats/nats.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct proxy_ctx {
	struct proxy *proxy;
	struct pbstream *pb;
	struct mirror *mirror;
	struct autowarm *autowarm;
	ev_signal sigterm, sigint, sigusr1, sighup;
	ev_timer stats;
};

static void log_stats(struct proxy_ctx *x, const char *when)
{
	struct proxy_stats ps;
	struct mirror_stats ms;
	mirror_get_stats(x->mirror, &ms);
	if (x->pb) {
		struct pbstream_stats bs;
		pbstream_get_stats(x->pb, &bs);
		log_info("%s: protobuf connections=%llu(open %llu) frames=%llu bad=%llu truncated=%llu "
			 "stalled=%llu ignored=%llu client-responses=%llu outgoing answers=%llu timeouts=%llu "
			 "dropped=%llu ns-observations=%llu ns-servers=%llu intel-dead=%llu",
			 when, (unsigned long long)bs.connections, (unsigned long long)bs.connections_open,
			 (unsigned long long)bs.frames, (unsigned long long)bs.bad_frames,
			 (unsigned long long)bs.truncated, (unsigned long long)bs.stalled,
			 (unsigned long long)bs.ignored, (unsigned long long)bs.client_responses,
			 (unsigned long long)bs.outgoing_answers, (unsigned long long)bs.outgoing_timeouts,
			 (unsigned long long)bs.events_dropped, (unsigned long long)ms.ns_observations,
			 (unsigned long long)ms.ns_entries,
			 (unsigned long long)ms.intel_dead);
	}
	if (!x->proxy)
		goto mirror_line;
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
mirror_line:
	if (x->autowarm) {
		struct autowarm_stats as;
		autowarm_get_stats(x->autowarm, &as);
		log_info("%s: auto-warm runs=%llu failed=%llu names=%llu answered=%llu timeouts=%llu servfail=%llu",
			 when, (unsigned long long)as.runs, (unsigned long long)as.failed,
			 (unsigned long long)as.names, (unsigned long long)as.answered,
			 (unsigned long long)as.timeouts, (unsigned long long)as.servfails);
	}
	log_info("%s: events published=%llu dropped(queue full)=%llu dropped(nats)=%llu "
		 "batches=%llu hot-names=%llu hot-writes=%llu hot-write-errors=%llu nats=%s",
		 when, (unsigned long long)ms.published, (unsigned long long)ms.dropped_full,
		 (unsigned long long)ms.dropped_nats, (unsigned long long)ms.batches,
		 (unsigned long long)ms.hot_entries, (unsigned long long)ms.hot_writes,
		 (unsigned long long)ms.hot_write_errors, ms.connected ? "connected" : "disconnected");
}

static void on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
	log_info("received signal %d, stopping", w->signum);
	ev_break(loop, EVBREAK_ALL);
}

static void on_usr1(struct ev_loop *loop, ev_signal *w, int revents)
{
	log_stats(w->data, "counters");
}

static void on_stats(struct ev_loop *loop, ev_timer *w, int revents)
{
	log_stats(w->data, "counters");
}

static int drop_privileges(const char *user)
{
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		log_err("cannot drop privileges: no user '%s'", user);
		return -1;
	}
	if (initgroups(user, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
		log_err("cannot drop privileges to user '%s': %s", user, strerror(errno));
		return -1;
	}
	log_info("running as user '%s'", user);
	return 0;
}

static int usage_error(const char *name, const char *msg, struct rm_options *o)
{
	fprintf(stderr, "recmesh %s: %s\nTry 'recmesh %s --help'.\n", name, msg, name);
	options_free(o);
	return 2;
}

/*
 * --scheduling: the data path thread runs under the policy given, or with
 * auto (the default) follows the load: normal at low load, SCHED_BATCH at
 * high load (see schedpol.h). A SCHED_BATCH thread that is woken does not
 * preempt the thread running on its CPU: under load the packets that arrive
 * meanwhile are taken in one recvmmsg/sendmmsg batch instead of one wake-up
 * each, which saves CPU for the Recursor next to it, but at low load each
 * wake-up waits a little (bench/proxy.sh measures all three). Called on the
 * data path thread after the other threads (NATS, auto-warm) were started,
 * so they keep the normal policy. The proxy's sweep drives sched_auto.
 */
static struct schedpol_auto sched_auto;

static void set_scheduling(const char *policy)
{
	enum schedpol p = SCHEDPOL_AUTO;
	char err[256];
	(void)schedpol_parse(policy, &p); /* checked with the other options */
	if (p == SCHEDPOL_AUTO) {
		if (schedpol_auto_start(&sched_auto, err, sizeof(err)) < 0)
			log_warn("%s: the data path thread keeps its policy", err);
		else
			log_info("the data path thread follows the load: normal policy below %.0f queries/s, "
				 "SCHED_BATCH from %.0f", SCHEDPOL_DOWN_QPS, SCHEDPOL_UP_QPS);
	} else if (schedpol_apply(p, err, sizeof(err)) < 0) {
		log_warn("%s: using the normal policy", err);
	} else if (p == SCHEDPOL_BATCH) {
		log_info("the data path thread runs under SCHED_BATCH");
	}
}

static int run_node(enum rm_command cmd, int argc, char **argv)
{
	struct rm_options o;
	struct proxy_ctx x = {0};
	char err[512], msg[256];
	const char *name = cmd == CMD_PROXY ? "proxy" : "mirror";
	struct netaddr na;
	int rc = options_parse(cmd, argc, argv, &o);
	if (rc != 0) {
		options_free(&o);
		return rc > 0 ? 0 : 2;
	}
	log_init("recmesh", o.use_syslog,
		 o.verbose ? LOG_LVL_DEBUG : o.quiet ? LOG_LVL_WARN : LOG_LVL_INFO);
	const char *missing = !o.cluster ? "--cluster" : NULL;
	if (cmd == CMD_PROXY && !missing)
		missing = !o.nlisten ? "--listen" : !o.upstream ? "--upstream" : NULL;
	if (cmd == CMD_MIRROR && !missing && !o.protobuf_listen)
		missing = "--protobuf-listen";
	if (missing) {
		snprintf(msg, sizeof(msg), "%s is required", missing);
		return usage_error(name, msg, &o);
	}
	for (size_t i = 0; i < o.nlisten; i++)
		if (netaddr_parse(o.listen[i], 53, &na) < 0) {
			snprintf(msg, sizeof(msg), "bad --listen address '%s' (expected ADDR:PORT)", o.listen[i]);
			return usage_error(name, msg, &o);
		}
	if (o.upstream && netaddr_parse(o.upstream, 53, &na) < 0) {
		snprintf(msg, sizeof(msg), "bad --upstream address '%s' (expected ADDR:PORT)", o.upstream);
		return usage_error(name, msg, &o);
	}
	if (o.auto_warm && (o.qps == 0 || o.concurrency == 0 || o.concurrency > 60000 || o.top == 0))
		return usage_error(name, "with --auto-warm, --qps, --top and --concurrency (at most 60000) must be positive", &o);
	if (o.rec_socket_dir && !o.auto_warm)
		return usage_error(name, "--rec-socket-dir only makes sense with --auto-warm", &o);
	if (!o.node) {
		char host[NAMES_MAX];
		names_default_node(host);
		o.node = strdup(host);
	}
	if (!names_valid(o.cluster) || !names_valid(o.node)) {
		return usage_error(name, "--cluster and --node take 1 to 63 letters, digits, '-' or '_'", &o);
	}
	if (o.hot_capacity == 0 || o.hot_interval < 0.1 || o.hot_half_life <= 0 ||
	    (cmd == CMD_PROXY && (o.upstream_timeout <= 0 || o.upstream_sockets == 0 || o.upstream_sockets > 64)))
		return usage_error(name, "--hot-capacity, --hot-interval (>= 0.1), --hot-half-life, "
				   "--upstream-timeout must be positive; --upstream-sockets 1 to 64", &o);
	enum schedpol policy;
	if (cmd == CMD_PROXY && schedpol_parse(o.scheduling, &policy) < 0) {
		snprintf(msg, sizeof(msg), "bad --scheduling '%s' (expected auto, batch or normal)", o.scheduling);
		return usage_error(name, msg, &o);
	}
	signal(SIGPIPE, SIG_IGN);

	struct mirror_config mc = {
		.nats_url = o.nats,
		.cluster = o.cluster,
		.node = o.node,
		.hot_capacity = o.hot_capacity,
		.hot_interval = o.hot_interval,
		.hot_half_life = o.hot_half_life,
		.hot_publish = o.hot_publish,
		.client_ip = o.mirror_client_ip,
		.kv_replicas = (int)o.kv_replicas,
		.ns_capacity = 10000,
		.ns_max_age = 3600,
		.intel_file = o.intel_file && *o.intel_file ? o.intel_file : NULL,
		.intel_max_age = o.max_age,
		.ring_size = 65536,
		.batch_delay = 0.1,
		.batch_max_bytes = 64 * 1024,
	};
	struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
	struct proxy_config pc = {
		.listen = o.listen,
		.nlisten = o.nlisten,
		.upstream = o.upstream,
		.upstream_timeout = o.upstream_timeout,
		.upstream_sockets = o.upstream_sockets,
		.max_tcp_clients = o.max_tcp_clients,
		.tcp_idle_timeout = o.tcp_idle_timeout,
		.client_ip = o.mirror_client_ip,
		.sched = &sched_auto,
	};
	/* sockets first: a port that is taken is the most common start-up error */
	if (cmd == CMD_PROXY && !(x.proxy = proxy_create(loop, &pc, err, sizeof(err)))) {
		log_err("%s", err);
		options_free(&o);
		return 1;
	}
	/* a proxy sees its clients itself: from the streams it takes only what went to authoritatives */
	if (o.protobuf_listen &&
	    !(x.pb = pbstream_create(loop, o.protobuf_listen, NULL, cmd == CMD_PROXY, err, sizeof(err)))) {
		log_err("%s", err);
		proxy_destroy(x.proxy);
		options_free(&o);
		return 1;
	}
	if (o.user && drop_privileges(o.user) < 0) {
		pbstream_destroy(x.pb);
		proxy_destroy(x.proxy);
		options_free(&o);
		return 1;
	}
	x.mirror = mirror_create(&mc);
	if (!x.mirror) {
		log_err("cannot start the NATS mirror");
		pbstream_destroy(x.pb);
		proxy_destroy(x.proxy);
		options_free(&o);
		return 1;
	}
	/* the proxy was created before the mirror existed: wire it in now */
	if (x.proxy) {
		proxy_set_mirror(x.proxy, x.mirror);
		log_info("forwarding to '%s' as node '%s' of cluster '%s'", o.upstream, o.node, o.cluster);
	} else {
		log_info("mirroring as node '%s' of cluster '%s'", o.node, o.cluster);
	}
	if (x.pb)
		pbstream_set_mirror(x.pb, x.mirror);
	if (o.auto_warm) {
		struct autowarm_config ac = {
			.upstream = o.upstream,
			.nats_url = o.nats,
			.cluster = o.cluster,
			.rec_socket_dir = o.rec_socket_dir,
			.intel_file = o.intel_file,
			.top = o.top,
			.qps = o.qps,
			.max_qps = o.max_qps,
			.concurrency = o.concurrency,
			.max_age = o.max_age,
			.half_life = o.hot_half_life,
			.query_timeout = o.query_timeout,
			.wait_timeout = o.wait_timeout,
		};
		if (!(x.autowarm = autowarm_create(&ac)))
			log_err("cannot start the auto-warm watcher");
	}

	ev_signal_init(&x.sigterm, on_stop, SIGTERM);
	ev_signal_init(&x.sigint, on_stop, SIGINT);
	ev_signal_init(&x.sigusr1, on_usr1, SIGUSR1);
	x.sigusr1.data = &x;
	/* nothing to reload: SIGHUP (what many tools send for a reload) logs the counters */
	ev_signal_init(&x.sighup, on_usr1, SIGHUP);
	x.sighup.data = &x;
	ev_signal_start(loop, &x.sighup);
	ev_signal_start(loop, &x.sigterm);
	ev_signal_start(loop, &x.sigint);
	ev_signal_start(loop, &x.sigusr1);
	if (o.stats_interval > 0) {
		ev_timer_init(&x.stats, on_stats, o.stats_interval, o.stats_interval);
		x.stats.data = &x;
		ev_timer_start(loop, &x.stats);
	}
	if (cmd == CMD_PROXY)
		set_scheduling(o.scheduling);
	ev_run(loop, 0);

	log_stats(&x, "final counters");
	autowarm_destroy(x.autowarm);
	pbstream_destroy(x.pb);
	proxy_destroy(x.proxy);
	mirror_destroy(x.mirror);
	ev_loop_destroy(loop);
	options_free(&o);
	nats_Close();
	log_info("stopped");
	return 0;
}

int cmd_proxy(int argc, char **argv)
{
	return run_node(CMD_PROXY, argc, argv);
}

int cmd_mirror(int argc, char **argv)
{
	return run_node(CMD_MIRROR, argc, argv);
}
