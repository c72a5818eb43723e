/*
 * node.h: the runtime `recmesh proxy` and `recmesh mirror` share: the
 * option checks common to both, the protobuf listener, dropping privileges,
 * the event publisher (publisher.h), the signals (SIGTERM and SIGINT stop,
 * SIGUSR1 logs the counters, SIGHUP reloads the config file), the stats
 * timer and the counter lines, the service manager's notifications
 * (notify.h: READY, STATUS, WATCHDOG from the data path's loop), and with
 * --metrics-listen the HTTP server (http.h) serving /metrics (metrics.h)
 * and /health (health.h). The command adds its own data path (the proxy)
 * on the node's loop and its own counter lines through a callback.
 *
 * A command's life: node_parse, its own checks (node_usage_error), node_open,
 * its own sockets (on node->loop, or on data path threads of its own: it
 * sets n->data_threads before node_start), node_start, wiring node_sink()
 * or node_data_sink() into its data path, node_run, freeing its own parts,
 * node_finish.
 *
 * Ownership: the node owns the loop, the protobuf listener and the
 * publisher; it keeps the options pointer, which must outlive it.
 */
#ifndef RECMESH_NODE_H
#define RECMESH_NODE_H

#include "dns/sink.h"
#include "nats/publisher.h"
#include "ops/options.h"
#include "proxy/pbstream.h"

#include <ev.h>
#include <pthread.h>
#include <signal.h>

struct counter_values;
/* A command's own counters: it fills its sources of v (counters.h) for the stats lines */
typedef void (*node_stats_fn)(void *arg, struct counter_values *v);

struct autowarm;
struct health;
struct http_server;

struct node {
	const char *name; /* the command, for messages */
	const struct rm_options *o;
	enum rm_command cmd;
	int argc; /* the command line, kept for a reload */
	char **argv;
	double start_time;
	double stats_interval; /* --stats-interval as running (a reload may change it) */
	struct ev_loop *loop; /* the node's loop: signals, timers, the protobuf listener */
	unsigned data_threads; /* the command's data path threads, each with a sink (node_data_sink); 0: none */
	void (*stop_fn)(void *arg); /* node_set_stop */
	void *stop_arg;
	int (*alive_fn)(void *arg, char *why, size_t why_size); /* node_set_alive */
	void *alive_arg;
	int hung; /* alive_fn said no at the last watchdog tick */
	struct pbstream *pb;  /* NULL without --protobuf-listen */
	struct publisher *pub;
	node_stats_fn stats_fn;
	void *stats_arg;
	struct health *health;    /* with --metrics-listen */
	struct recstate *rec;     /* the upstream's state (net/recstate.h), set by the command before node_start; NULL: health's own */
	struct http_server *http; /* with --metrics-listen */
	pthread_mutex_t aw_lock;  /* guards autowarm against the HTTP thread */
	const struct autowarm *autowarm;
	int ran;
	/*
	 * The reload (SIGHUP): a reader thread reads and checks the files
	 * (node.c's reload_thread); the loop joins it and applies the result
	 * on ev_async. The loop alone touches running and again; the reader
	 * writes the rest before ev_async_send and the loop reads it after
	 * pthread_join.
	 */
	struct node_reload {
		pthread_t thread;
		int running; /* started and not yet joined */
		int again;   /* SIGHUP came while it ran: read again after it */
		ev_async done;
		int rc;               /* options_reparse's */
		char *errors;         /* its errors, or NULL */
		struct rm_options no; /* the options read, when rc is 0 */
		int unreadable;       /* the config file cannot be read as --user */
		int creds_rc;         /* options_nats_reload's, when rc is 0 */
		char creds_err[512];
		char last_creds_err[512]; /* the loop's: the last reason logged */
	} reload;
	ev_signal sigterm, sigint, sigusr1, sighup;
	ev_timer stats, snapshot, watchdog;
};

/*
 * Blocks the signals node_run handles (SIGHUP, SIGUSR1, SIGTERM, SIGINT) in
 * the calling thread, *before* getting the mask it had. Called first thing
 * in main: a signal that comes while the node starts stays pending until
 * node_run's watchers take it, instead of killing the process, and every
 * thread started meanwhile inherits the mask, so the loop's thread is the
 * one that takes them.
 */
void node_hold_signals(sigset_t *before);
/*
 * Parses argv for cmd into o, starts logging, and checks the options both
 * commands share (filling in the default node name). Returns 0, or -1 with
 * the exit status in *status (0 after --help, 2 on bad usage: said on
 * stderr); o is then freed.
 */
int node_parse(struct node *n, enum rm_command cmd, const char *name, int argc, char **argv,
	       struct rm_options *o, int *status);
/* Says msg and where to find help on stderr, frees o; returns 2 (the exit status) */
int node_usage_error(const char *name, const char *msg, struct rm_options *o);
/* Creates the loop (n->loop); call after the command's checks */
void node_open(struct node *n);
/*
 * Binds the protobuf listener (with --protobuf-listen; outgoing_only as in
 * pbstream_create), drops privileges (--user) and starts the publisher.
 * Returns 0, or -1 (logged; what it started is stopped again).
 */
int node_start(struct node *n, int outgoing_only);
/*
 * The proxy's auto-warm watcher, for /metrics (NULL: none, before it is
 * destroyed). Call on the data path's thread.
 */
void node_set_autowarm(struct node *n, const struct autowarm *a);
/* Where the node's own loop hands its events; valid until node_finish */
struct event_sink node_sink(struct node *n);
/* Where data path thread k (0 to n->data_threads - 1) hands its events; valid until node_finish */
struct event_sink node_data_sink(struct node *n, unsigned k);
/*
 * Asked before each WATCHDOG=1 (on the node's loop): 0 with a reason when
 * the command's data path has stopped running, and the watchdog is then
 * not fed (the service manager restarts the node at WatchdogSec=)
 */
void node_set_alive(struct node *n, int (*fn)(void *arg, char *why, size_t why_size), void *arg);
/* Called when the loop ends, before the final counters are logged (the command stops its threads) */
void node_set_stop(struct node *n, void (*fn)(void *arg), void *arg);
/*
 * Handles the signals (those held since node_hold_signals, then any that
 * come) and the stats timer, tells the service manager the node is ready (the sockets are bound and the privileges dropped), feeds
 * its watchdog, and runs the loop until SIGTERM or SIGINT; then logs the
 * final counters. stats_fn may be NULL.
 */
void node_run(struct node *n, node_stats_fn stats_fn, void *stats_arg);
/* Stops the protobuf listener and the publisher and frees the loop; the command's own parts must be freed */
void node_finish(struct node *n);

#endif
