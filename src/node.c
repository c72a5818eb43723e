/* node.c: the runtime `recmesh proxy` and `recmesh mirror` share; see node.h */
#include "config.h"

#include "node.h"

#include "log.h"
#include "names.h"

#include <nats/nats.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int node_usage_error(const char *name, const char *msg, struct rm_options *o)
{
	fprintf(stderr, "recmesh %s: %s\nTry 'recmesh %s --help'.\n", name, msg, name);
	options_free(o);
	return 2;
}

int node_parse(struct node *n, enum rm_command cmd, const char *name, int argc, char **argv,
	       struct rm_options *o, int *status)
{
	memset(n, 0, sizeof(*n));
	n->name = name;
	n->o = o;
	int rc = options_parse(cmd, argc, argv, o);
	if (rc != 0) {
		options_free(o);
		*status = rc > 0 ? 0 : 2;
		return -1;
	}
	log_init("recmesh", o->use_syslog,
		 o->verbose ? LOG_LVL_DEBUG : o->quiet ? LOG_LVL_WARN : LOG_LVL_INFO);
	if (!o->cluster) {
		*status = node_usage_error(name, "--cluster is required", o);
		return -1;
	}
	if (!o->node) {
		char host[NAMES_MAX];
		names_default_node(host);
		o->node = strdup(host);
	}
	if (!names_valid(o->cluster) || !names_valid(o->node)) {
		*status = node_usage_error(name, "--cluster and --node take 1 to 63 letters, digits, '-' or '_'", o);
		return -1;
	}
	if (o->hot_capacity == 0 || o->hot_interval < 0.1 || o->hot_half_life <= 0) {
		*status = node_usage_error(name, "--hot-capacity, --hot-interval (>= 0.1) and --hot-half-life "
					   "must be positive", o);
		return -1;
	}
	return 0;
}

void node_open(struct node *n)
{
	signal(SIGPIPE, SIG_IGN);
	n->loop = ev_default_loop(EVFLAG_AUTO);
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

int node_start(struct node *n, int outgoing_only)
{
	const struct rm_options *o = n->o;
	struct event_sink none = {NULL, NULL};
	char err[512];
	struct publisher_config pc = {
		.nats_url = o->nats,
		.cluster = o->cluster,
		.node = o->node,
		.hot_capacity = o->hot_capacity,
		.hot_interval = o->hot_interval,
		.hot_half_life = o->hot_half_life,
		.hot_publish = o->hot_publish,
		.client_ip = o->mirror_client_ip,
		.kv_replicas = (int)o->kv_replicas,
		.intel_file = o->intel_file && *o->intel_file ? o->intel_file : NULL,
		.intel_max_age = o->max_age,
		/* the NS table, the ring and the batches: publisher.h's defaults */
	};

	if (o->protobuf_listen &&
	    !(n->pb = pbstream_create(n->loop, o->protobuf_listen, none, outgoing_only, err, sizeof(err)))) {
		log_err("%s", err);
		return -1;
	}
	if (o->user && drop_privileges(o->user) < 0)
		goto fail;
	if (!(n->pub = publisher_create(&pc, err, sizeof(err)))) {
		log_err("cannot start the event publisher: %s", err);
		goto fail;
	}
	if (n->pb)
		pbstream_set_sink(n->pb, publisher_sink(n->pub));
	return 0;
fail:
	pbstream_destroy(n->pb);
	n->pb = NULL;
	return -1;
}

struct event_sink node_sink(struct node *n)
{
	return publisher_sink(n->pub);
}

static void log_stats(struct node *n, const char *when)
{
	struct publisher_stats ps;
	publisher_get_stats(n->pub, &ps);
	if (n->pb) {
		struct pbstream_stats bs;
		pbstream_get_stats(n->pb, &bs);
		log_info("%s: protobuf connections=%llu(open %llu) frames=%llu bad=%llu truncated=%llu "
			 "stalled=%llu ignored=%llu client-responses=%llu outgoing answers=%llu timeouts=%llu "
			 "dropped=%llu ns-observations=%llu ns-servers=%llu intel-dead=%llu",
			 when, (unsigned long long)bs.connections, (unsigned long long)bs.connections_open,
			 (unsigned long long)bs.frames, (unsigned long long)bs.bad_frames,
			 (unsigned long long)bs.truncated, (unsigned long long)bs.stalled,
			 (unsigned long long)bs.ignored, (unsigned long long)bs.client_responses,
			 (unsigned long long)bs.outgoing_answers, (unsigned long long)bs.outgoing_timeouts,
			 (unsigned long long)bs.events_dropped, (unsigned long long)ps.ns_observations,
			 (unsigned long long)ps.ns_entries, (unsigned long long)ps.intel_dead);
	}
	if (n->stats_fn)
		n->stats_fn(n->stats_arg, when);
	log_info("%s: events published=%llu dropped(queue full)=%llu dropped(nats)=%llu "
		 "batches=%llu hot-names=%llu hot-writes=%llu hot-write-errors=%llu nats=%s",
		 when, (unsigned long long)ps.published, (unsigned long long)ps.dropped_full,
		 (unsigned long long)ps.dropped_nats, (unsigned long long)ps.batches,
		 (unsigned long long)ps.hot_entries, (unsigned long long)ps.hot_writes,
		 (unsigned long long)ps.hot_write_errors, ps.connected ? "connected" : "disconnected");
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

void node_run(struct node *n, node_stats_fn stats_fn, void *stats_arg)
{
	n->stats_fn = stats_fn;
	n->stats_arg = stats_arg;
	ev_signal_init(&n->sigterm, on_stop, SIGTERM);
	ev_signal_init(&n->sigint, on_stop, SIGINT);
	ev_signal_init(&n->sigusr1, on_usr1, SIGUSR1);
	n->sigusr1.data = n;
	/* nothing to reload: SIGHUP (what many tools send for a reload) logs the counters */
	ev_signal_init(&n->sighup, on_usr1, SIGHUP);
	n->sighup.data = n;
	ev_signal_start(n->loop, &n->sighup);
	ev_signal_start(n->loop, &n->sigterm);
	ev_signal_start(n->loop, &n->sigint);
	ev_signal_start(n->loop, &n->sigusr1);
	if (n->o->stats_interval > 0) {
		ev_timer_init(&n->stats, on_stats, n->o->stats_interval, n->o->stats_interval);
		n->stats.data = n;
		ev_timer_start(n->loop, &n->stats);
	}
	ev_run(n->loop, 0);
	n->ran = 1;
	log_stats(n, "final counters");
}

void node_finish(struct node *n)
{
	pbstream_destroy(n->pb);
	publisher_destroy(n->pub);
	if (n->loop)
		ev_loop_destroy(n->loop);
	n->pb = NULL;
	n->pub = NULL;
	n->loop = NULL;
	if (n->ran) {
		nats_Close();
		log_info("stopped");
	}
}
