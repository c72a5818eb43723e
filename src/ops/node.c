/* node.c: the runtime `recmesh proxy` and `recmesh mirror` share; see node.h */
#include "config.h"

#include "ops/node.h"

#include "ops/counters.h"

#include "base/clock.h"
#include "base/log.h"
#include "base/names.h"
#include "nats/natsconn.h"
#include "ops/health.h"
#include "ops/http.h"
#include "ops/metrics.h"
#include "ops/notify.h"
#include "proxy/pathstats.h"
#include "warm/autowarm.h"

#include <ldns/ldns.h>
#include <nats/nats.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The signals a node handles on its loop */
static const int node_signals[] = {SIGHUP, SIGUSR1, SIGTERM, SIGINT};

static void node_signal_set(sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < sizeof(node_signals) / sizeof(node_signals[0]); i++)
		sigaddset(set, node_signals[i]);
}

void node_hold_signals(sigset_t *before)
{
	sigset_t set;
	node_signal_set(&set);
	pthread_sigmask(SIG_BLOCK, &set, before);
}

int node_usage_error(const char *name, const char *msg, struct rm_options *o)
{
	fprintf(stderr, "recmesh %s: %s\nTry 'recmesh %s --help'.\n", name, msg, name);
	options_free(o);
	return 2;
}

static int level_of(const struct rm_options *o)
{
	return o->verbose ? LOG_LVL_DEBUG : o->quiet ? LOG_LVL_WARN : LOG_LVL_INFO;
}

static const char *level_name(int level)
{
	return level >= LOG_LVL_DEBUG ? "debug" : level == LOG_LVL_INFO ? "info" : "warning";
}

int node_parse(struct node *n, enum rm_command cmd, const char *name, int argc, char **argv,
	       struct rm_options *o, int *status)
{
	memset(n, 0, sizeof(*n));
	n->name = name;
	n->o = o;
	n->cmd = cmd;
	n->argc = argc;
	n->argv = argv;
	n->start_time = clock_unix();
	pthread_mutex_init(&n->aw_lock, NULL);
	int rc = options_parse(cmd, argc, argv, o);
	if (rc == 0 && options_apply(cmd, o) < 0)
		rc = -1;
	if (rc != 0) {
		options_free(o);
		*status = rc > 0 ? 0 : 2;
		return -1;
	}
	log_init("recmesh", o->use_syslog, level_of(o));
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
	n->stats_interval = o->stats_interval;
	return 0;
}

void node_open(struct node *n)
{
	signal(SIGPIPE, SIG_IGN);
	n->loop = ev_default_loop(EVFLAG_AUTO);
	log_info("recmesh %s %s starting (libnats %s, ldns %s, libev %d.%d)", PACKAGE_VERSION, n->name,
		 nats_GetVersion(), ldns_version(), ev_version_major(), ev_version_minor());
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

/* The HTTP thread's handler: /metrics and /health */
static int http_handler_cb(void *arg, const char *path, struct http_response *r)
{
	struct node *n = arg;
	struct health_state hs;
	health_get(n->health, &hs);
	if (!strcmp(path, "/metrics")) {
		struct metrics_sources src = {
			.version = PACKAGE_VERSION,
			.pub = n->pub,
			.health = n->health,
			.http = n->http,
			.start_time = n->start_time,
			.last_hot_write = hs.last_hot_write,
		};
		pthread_mutex_lock(&n->aw_lock);
		src.autowarm = n->autowarm;
		r->body = metrics_render(&src, &r->body_len);
		pthread_mutex_unlock(&n->aw_lock);
		r->status = r->body ? 200 : 503;
		r->content_type = "text/plain; version=0.0.4; charset=utf-8";
		return 0;
	}
	if (!strcmp(path, "/health")) {
		char line[400];
		int len = snprintf(line, sizeof(line), "%s; nats %s\n", hs.reason,
				   hs.nats_connected ? "connected" : "disconnected");
		r->status = hs.up && hs.probed ? 200 : 503;
		r->body = strdup(line);
		r->body_len = r->body ? (size_t)len : 0;
		return 0;
	}
	return -1;
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
		.producers = 1 + n->data_threads, /* the node's loop, and each data path thread */
		/* the NS table, the ring and the batches: publisher.h's defaults */
	};

	if (o->protobuf_listen &&
	    !(n->pb = pbstream_create(n->loop, o->protobuf_listen, none, outgoing_only, err, sizeof(err)))) {
		log_err("%s", err);
		return -1;
	}
	if (n->pb) {
		struct pbstream_limits pl = {o->protobuf_allow_from, o->nprotobuf_allow_from,
					     o->protobuf_max_connections};
		if (pbstream_set_limits(n->pb, &pl, err, sizeof(err)) < 0) {
			log_err("--protobuf-allow-from: %s", err);
			goto fail;
		}
		pbstream_set_network_timeout(n->pb, o->rec_network_timeout);
	}
	if (o->user && drop_privileges(o->user) < 0)
		goto fail;
	if (!(n->pub = publisher_create(&pc, err, sizeof(err)))) {
		log_err("cannot start the event publisher: %s", err);
		goto fail;
	}
	if (n->pb)
		pbstream_set_sink(n->pb, publisher_sink(n->pub));
	if (o->metrics_listen) {
		/* n->http is set before its thread starts: the handler reads it */
		if (!(n->health = health_create(o->upstream, n->pub, n->rec, err, sizeof(err))) ||
		    !(n->http = http_create(o->metrics_listen, http_handler_cb, n, err, sizeof(err))) ||
		    http_start(n->http, err, sizeof(err)) < 0) {
			log_err("%s", err);
			http_destroy(n->http);
			health_destroy(n->health);
			n->http = NULL;
			n->health = NULL;
			publisher_destroy(n->pub);
			n->pub = NULL;
			goto fail;
		}
		log_info("serving /metrics and /health on '%s'", o->metrics_listen);
	}
	return 0;
fail:
	pbstream_destroy(n->pb);
	n->pb = NULL;
	return -1;
}

void node_set_autowarm(struct node *n, const struct autowarm *a)
{
	pthread_mutex_lock(&n->aw_lock);
	n->autowarm = a;
	pthread_mutex_unlock(&n->aw_lock);
}

struct event_sink node_sink(struct node *n)
{
	return publisher_sink(n->pub);
}

struct event_sink node_data_sink(struct node *n, unsigned k)
{
	return publisher_sink_for(n->pub, 1 + k);
}

void node_set_alive(struct node *n, int (*fn)(void *arg, char *why, size_t why_size), void *arg)
{
	n->alive_fn = fn;
	n->alive_arg = arg;
}

void node_set_stop(struct node *n, void (*fn)(void *arg), void *arg)
{
	n->stop_fn = fn;
	n->stop_arg = arg;
}

static void log_stats(struct node *n, const char *when)
{
	struct counter_values *v = calloc(1, sizeof(*v));
	if (!v) {
		log_warn("%s: out of memory", when);
		return;
	}
	v->has[CSRC_NODE] = 1;
	v->start_time = n->start_time;
	publisher_get_stats(n->pub, &v->pub);
	v->has[CSRC_PUB] = 1;
	if (n->pb) {
		pbstream_get_stats(n->pb, &v->pb);
		v->has[CSRC_PB] = 1;
	}
	if (n->autowarm) {
		autowarm_get_stats(n->autowarm, &v->aw);
		v->has[CSRC_AUTOWARM] = 1;
	}
	if (n->stats_fn)
		n->stats_fn(n->stats_arg, v);
	counters_log(v, when);
	free(v);
}

static void notify_or_log(const char *msg)
{
	char err[256];
	static int logged;
	if (notify_send(msg, err, sizeof(err)) < 0 && !logged) {
		log_warn("%s (further notification errors are not logged)", err);
		logged = 1;
	}
}

/* The service manager's status line: what the node is doing, in one line */
static void notify_status(struct node *n)
{
	char msg[300];
	struct publisher_stats ps;
	publisher_get_stats(n->pub, &ps);
	snprintf(msg, sizeof(msg), "STATUS=%s of cluster '%s' as node '%s'; nats %s; %llu events published",
		 n->name, n->o->cluster, n->o->node, ps.connected ? "connected" : "disconnected",
		 (unsigned long long)ps.published);
	notify_or_log(msg);
}

static void on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
	log_info("received signal %d, stopping", w->signum);
	notify_or_log("STOPPING=1");
	ev_break(loop, EVBREAK_ALL);
}

static void on_usr1(struct ev_loop *loop, ev_signal *w, int revents)
{
	log_stats(w->data, "counters");
}

static void on_stats(struct ev_loop *loop, ev_timer *w, int revents)
{
	log_stats(w->data, "counters");
	notify_status(w->data);
}

static void start_stats_timer(struct node *n)
{
	if (ev_is_active(&n->stats))
		ev_timer_stop(n->loop, &n->stats);
	if (n->stats_interval > 0) {
		ev_timer_init(&n->stats, on_stats, n->stats_interval, n->stats_interval);
		n->stats.data = n;
		ev_timer_start(n->loop, &n->stats);
	}
}

struct reload_ctx {
	struct node *n;
	unsigned changed, restart;
};

/* What a reload can apply, and what needs a restart */
/*
 * A new --hot-interval applies from the next write when it is valid and
 * short enough for the bucket's TTL (set at start from --max-age): two
 * writes must fit in it, or a running node's keys would expire between
 * them. Returns 1 when applied.
 */
static int reload_hot_interval(struct node *n, const char *value)
{
	char *end;
	double v = strtod(value, &end);
	double ttl_ms = options_kv_ttl(n->cmd, n->o) * 1000; /* as the bucket was made at start */
	if (*end || !(v >= 0.1 && v <= 86400) || (ttl_ms > 0 && 2 * v * 1000 > (double)ttl_ms)) {
		log_warn("reload: 'hot-interval' %s does not fit the running node (0.1 to 86400 s, and two "
			 "writes within the bucket's TTL of %.0f s): needs a restart", value, ttl_ms / 1000);
		return 0;
	}
	publisher_set_hot_interval(n->pub, v);
	return 1;
}

static void reload_change(void *arg, const char *name, const char *old_value, const char *new_value)
{
	struct reload_ctx *r = arg;
	r->changed++;
	if (!options_reloadable(r->n->cmd, name)) {
		char a[NATSCONN_MAX_URL], b[NATSCONN_MAX_URL];
		r->restart++;
		log_warn("reload: '%s' changed ('%s' -> '%s'): needs a restart, the running value is kept",
			 name, options_shown(r->n->cmd, name, old_value, a, sizeof(a)),
			 options_shown(r->n->cmd, name, new_value, b, sizeof(b)));
	} else if (!strcmp(name, "stats-interval")) {
		r->n->stats_interval = strtod(new_value, NULL);
		start_stats_timer(r->n);
		log_info("reload: 'stats-interval' %s -> %s", old_value, new_value);
	} else if (!strcmp(name, "verbose") || !strcmp(name, "quiet")) {
		/* applied with the level below */
	} else if (!strcmp(name, "hot-interval") && r->n->pub) {
		if (reload_hot_interval(r->n, new_value))
			log_info("reload: 'hot-interval' %s -> %s", old_value, new_value);
		else
			r->restart++;
	} else if (!strcmp(name, "rec-network-timeout")) {
		/* the listener runs on this thread: from the next message on */
		if (r->n->pb)
			pbstream_set_network_timeout(r->n->pb, (unsigned)strtoul(new_value, NULL, 10));
		log_info("reload: 'rec-network-timeout' %s -> %s", old_value, new_value);
	} else if (!strcmp(name, "intel-file") && r->n->pub) {
		char err[256];
		if (publisher_set_intel_file(r->n->pub, *new_value ? new_value : NULL, err, sizeof(err)) < 0) {
			r->restart++;
			log_err("reload: 'intel-file' not changed: %s", err);
		} else {
			log_info("reload: 'intel-file' '%s' -> '%s' (from the next refresh)", old_value, new_value);
		}
	} else {
		/* the schema says a reload applies it, and nothing here does: a fault of this file */
		r->restart++;
		log_err("reload: '%s' changed, but this node cannot apply it: needs a restart", name);
	}
}

/*
 * The credential files' reload (reload_thread read them): a reason is
 * logged once, not at every SIGHUP (a root-only file under --user cannot be
 * read again, and the credentials read at start stay in use).
 */
static void reload_nats_credentials(struct node *n)
{
	struct node_reload *rl = &n->reload;
	if (rl->creds_rc < 0 && strcmp(rl->creds_err, rl->last_creds_err)) {
		log_err("reload: NATS credentials not changed: %s; the running ones are kept%s%s%s",
			rl->creds_err, n->o->user ? " (running as user '" : "",
			n->o->user ? n->o->user : "",
			n->o->user ? "': credential files readable only by root are read at start)"
				   : "");
		snprintf(rl->last_creds_err, sizeof(rl->last_creds_err), "%s", rl->creds_err);
	} else if (rl->creds_rc < 0) {
		log_debug("reload: NATS credentials not changed, for the reason logged before");
	} else if (rl->creds_rc > 0) {
		log_info("reload: NATS credentials re-read: used from the next connect");
		rl->last_creds_err[0] = '\0';
	}
}

/*
 * The reader thread: reads and checks the config file and the command line
 * (options_reparse: a regular file, bounded, never a FIFO or device) and,
 * when they parse, the NATS credential files (their contents are swapped
 * under natsconn's cf_lock). Nothing here blocks the data path; it never
 * waits on anything but the files, which are bounded.
 */
static void *reload_thread(void *arg)
{
	struct node *n = arg;
	struct node_reload *rl = &n->reload;
	rl->errors = NULL;
	rl->unreadable = 0;
	rl->creds_rc = 0;
	rl->rc = options_reparse(n->cmd, n->argc, n->argv, &rl->no, &rl->errors);
	if (rl->rc != 0 && n->o->user && n->o->config && access(n->o->config, R_OK) < 0 &&
	    errno == EACCES)
		rl->unreadable = 1;
	if (rl->rc == 0)
		rl->creds_rc = options_nats_reload(n->o, rl->creds_err, sizeof(rl->creds_err));
	ev_async_send(n->loop, &rl->done);
	return NULL;
}

static void reload_start(struct node *n)
{
	struct node_reload *rl = &n->reload;
	int e;
	log_info("reload: reading %s%s%s", n->o->config ? "'" : "", n->o->config ? n->o->config : "the command line",
		 n->o->config ? "'" : "");
	if ((e = pthread_create(&rl->thread, NULL, reload_thread, n)) != 0) {
		log_err("reload: cannot start its thread: %s: nothing changed", strerror(e));
		notify_or_log("READY=1");
		return;
	}
	rl->running = 1;
}

/* Logs the reader's errors, one line each */
static void reload_log_errors(struct node *n)
{
	struct node_reload *rl = &n->reload;
	for (char *line = rl->errors, *next; line && *line; line = next) {
		next = line + strcspn(line, "\n");
		if (*next)
			*next++ = '\0';
		log_err("reload: %s", !strncmp(line, "recmesh: ", 9) ? line + 9 : line);
	}
	if (rl->unreadable)
		log_err("reload: the config file '%s' cannot be read as user '%s' (--user): a reload needs it "
			"readable by that user (the credential files may stay root-only)",
			n->o->config, n->o->user);
}

/*
 * Applies what the reader thread read, on the loop: nothing when the files
 * did not parse; else what can change on the running node: the log level,
 * the stats interval, the hot interval (within the bucket's TTL), the
 * intelligence file, and the contents of the NATS credential files.
 * Everything else is said to need a restart.
 */
static void on_reload_done(struct ev_loop *loop, ev_async *w, int revents)
{
	struct node *n = w->data;
	struct node_reload *rl = &n->reload;
	if (!rl->running)
		return;
	pthread_join(rl->thread, NULL);
	rl->running = 0;
	struct rm_options *no = &rl->no;
	if (rl->rc != 0) {
		reload_log_errors(n);
		log_err("reload: the configuration has errors: nothing changed");
	} else {
		if (!no->node && n->o->node)
			no->node = strdup(n->o->node); /* the default filled in at start */
		int old_level = log_level(), new_level = level_of(no);
		if (new_level != old_level) {
			log_set_level(new_level);
			log_warn("reload: log level %s -> %s", level_name(old_level),
				 level_name(new_level));
		}
		struct reload_ctx r = {n, 0, 0};
		struct rm_options cur = *n->o;
		cur.stats_interval = n->stats_interval; /* as running */
		cur.verbose = old_level >= LOG_LVL_DEBUG;
		cur.quiet = old_level <= LOG_LVL_WARN;
		options_diff(n->cmd, &cur, no, reload_change, &r);
		reload_nats_credentials(n);
		log_info("reload: done, %u option(s) changed, %u of them need a restart", r.changed,
			 r.restart);
	}
	options_free(no);
	free(rl->errors);
	rl->errors = NULL;
	if (rl->again) {
		rl->again = 0;
		reload_start(n);
		return;
	}
	notify_or_log("READY=1");
	notify_status(n);
}

/* SIGHUP: the files are read off the data path (reload_thread), applied by on_reload_done */
static void on_hup(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct node *n = w->data;
	notify_or_log("RELOADING=1");
	if (n->reload.running) {
		n->reload.again = 1;
		log_info("reload: one is under way: reading again after it");
		return;
	}
	reload_start(n);
}

/* Publishes the protobuf listener's counters for the HTTP thread (metrics.h) */
static void on_snapshot(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct node *n = w->data;
	struct pbstream_stats bs;
	pbstream_get_stats(n->pb, &bs);
	pathstats_pbstream_publish(&bs);
}

/* The watchdog is fed from the data path's loop: a stuck loop stops feeding it */
static void on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct node *n = w->data;
	char why[200];
	if (n->alive_fn && !n->alive_fn(n->alive_arg, why, sizeof(why))) {
		/* said once per hang: the service manager restarts the node at WatchdogSec= */
		if (!n->hung)
			log_err("%s: no longer feeding the service manager's watchdog", why);
		n->hung = 1;
		return;
	}
	if (n->hung)
		log_info("the data path runs again: feeding the service manager's watchdog");
	n->hung = 0;
	notify_or_log("WATCHDOG=1");
}

void node_run(struct node *n, node_stats_fn stats_fn, void *stats_arg)
{
	uint64_t wd_usec;
	n->stats_fn = stats_fn;
	n->stats_arg = stats_arg;
	ev_signal_init(&n->sigterm, on_stop, SIGTERM);
	ev_signal_init(&n->sigint, on_stop, SIGINT);
	ev_signal_init(&n->sigusr1, on_usr1, SIGUSR1);
	n->sigusr1.data = n;
	ev_async_init(&n->reload.done, on_reload_done);
	n->reload.done.data = n;
	ev_async_start(n->loop, &n->reload.done);
	ev_signal_init(&n->sighup, on_hup, SIGHUP);
	n->sighup.data = n;
	ev_signal_start(n->loop, &n->sighup);
	ev_signal_start(n->loop, &n->sigterm);
	ev_signal_start(n->loop, &n->sigint);
	ev_signal_start(n->loop, &n->sigusr1);
	/* held since node_hold_signals: those pending come now, to the watchers (libev leaves the mask alone) */
	sigset_t held;
	node_signal_set(&held);
	pthread_sigmask(SIG_UNBLOCK, &held, NULL);
	start_stats_timer(n);
	if (n->pb && n->http) {
		ev_timer_init(&n->snapshot, on_snapshot, 0, 0.1);
		n->snapshot.data = n;
		ev_timer_start(n->loop, &n->snapshot);
	}
	if (notify_watchdog_usec(&wd_usec)) {
		double every = (double)wd_usec / 2e6;
		ev_timer_init(&n->watchdog, on_watchdog, every, every);
		n->watchdog.data = n;
		ev_timer_start(n->loop, &n->watchdog);
		log_info("feeding the service manager's watchdog every %.1f s", every);
	}
	/* the sockets are bound and the privileges dropped: ready */
	notify_or_log("READY=1");
	notify_status(n);
	ev_run(n->loop, 0);
	n->ran = 1;
	if (n->stop_fn)
		n->stop_fn(n->stop_arg);
	log_stats(n, "final counters");
}

void node_finish(struct node *n)
{
	/* a reader thread still running is short-lived (bounded files): its result is dropped */
	if (n->reload.running) {
		pthread_join(n->reload.thread, NULL);
		n->reload.running = 0;
		options_free(&n->reload.no);
		free(n->reload.errors);
		n->reload.errors = NULL;
	}
	/* the HTTP thread reads the publisher and the health: it goes first */
	http_destroy(n->http);
	health_destroy(n->health);
	n->http = NULL;
	n->health = NULL;
	pbstream_destroy(n->pb);
	publisher_destroy(n->pub);
	if (n->loop)
		ev_loop_destroy(n->loop);
	n->pb = NULL;
	n->pub = NULL;
	n->loop = NULL;
	if (n->ran) {
		/* an opener left behind by the publisher closes what it opened first */
		if (!natsconn_wait_released(NATSCONN_STOP_WAIT))
			log_debug("a NATS connect still under way at the stop was left to the exit");
		nats_Close();
		natsconn_unconfigure(); /* wipes the secrets read at start */
		log_info("stopped");
	}
}
