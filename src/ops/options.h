/*
 * options.h: the options of every subcommand, from defaults, the config
 * file (--config FILE: "name = value" lines, the long option names) and
 * the command line, in that order of precedence (the command line wins; a
 * list option given on the command line replaces the file's values).
 *
 * Ownership: options_parse fills a caller-owned struct rm_options; every
 * string and list in it is malloc'd and belongs to that struct until
 * options_free (which also takes a struct whose parse failed). Code that
 * keeps an option beyond that copies it.
 */
#ifndef RECMESH_OPTIONS_H
#define RECMESH_OPTIONS_H

#define OPTIONS_NATS_TIMEOUT_MIN 0.1
#define OPTIONS_NATS_TIMEOUT_MAX 300.0
/* The config file's limits (recmesh(1), "CONFIGURATION FILE"): bytes, bytes a line, lines */
#define OPTIONS_CONFIG_MAX (1024 * 1024)
#define OPTIONS_CONFIG_LINE_MAX 4095
#define OPTIONS_CONFIG_LINES 10000
#define OPTIONS_PEER_MAX 16

#include <stddef.h>
#include <stdio.h>

enum rm_command {
	CMD_PROXY = 1 << 0,
	CMD_HOT = 1 << 1,
	CMD_EVENTS = 1 << 2,
	CMD_WARM = 1 << 3,
	CMD_MIRROR = 1 << 4,
	CMD_NS = 1 << 5,
	CMD_MERGE = 1 << 6,
};

struct rm_options {
	char *config;
	char *nats;
	/* NATS security (natsconn.h): files only, secrets never on the command line */
	char *nats_tls_ca;
	char *nats_tls_cert;
	char *nats_tls_key;
	char *nats_creds;
	char *nats_nkey;
	char *nats_user;
	char *nats_password_file;
	char *nats_token_file;
	char *cluster;
	char *node;
	int verbose;
	int quiet;
	int use_syslog;
	char *user;
	char *metrics_listen; /* proxy, mirror: GET /metrics and /health */
	/* proxy */
	char **listen;
	size_t nlisten;
	char *upstream;
	double upstream_timeout;
	unsigned upstream_sockets;
	unsigned threads; /* --threads; 0: chosen from the machine */
	char *scheduling;
	unsigned max_tcp_clients;
	unsigned max_tcp_per_client;
	double tcp_idle_timeout;
	double tcp_max_duration;
	unsigned hot_capacity;
	double hot_interval;
	double hot_half_life;
	unsigned hot_publish;
	int mirror_client_ip;
	unsigned kv_replicas;
	double stats_interval;
	/* hot, events */
	unsigned top;
	unsigned sample;
	double lease; /* recmesh merge --lease */ /* --sample: node lists read beside the merged list (fleet.h) */
	int json;
	double max_age;
	double nats_timeout; /* hot, warm, proxy, ns: KV reads tried again this long */
	unsigned count;
	double timeout;
	/* warm, and the proxy's --auto-warm */
	char *target;
	unsigned qps;
	unsigned max_qps;
	unsigned concurrency;
	double wait_timeout;
	double query_timeout;
	int auto_warm;
	char *rec_socket_dir;
	/* the proxy's warm peers */
	char **peer;
	size_t npeer;
	double peer_hedge_delay;
	double shield_max;
	unsigned peer_max_qps;
	unsigned peer_max_inflight;
	/* the off-path mode (recmesh mirror) and authoritative intelligence */
	char *protobuf_listen;
	char **protobuf_allow_from; /* CIDR entries, each may hold several comma-separated */
	size_t nprotobuf_allow_from;
	unsigned protobuf_max_connections;
	unsigned rec_network_timeout; /* ms: the Recursor's network-timeout, judging the stream's timeouts */
	char *intel_file;
	double intel_wait;
	unsigned intel_max_entries; /* dead servers in the intelligence file at most */
};

/*
 * Parses argv (argv[0] is the subcommand's name) into opts. Returns 0, 1
 * when --help was printed (the caller exits 0), or -1 after printing an
 * error (the caller exits 2). It touches nothing beyond opts: the
 * process-wide settings are options_apply's.
 */
int options_parse(enum rm_command cmd, int argc, char **argv, struct rm_options *opts);
/*
 * Hands what a command's options set process-wide on, once at start: the
 * NATS settings to natsconn_configure (which reads the password, token,
 * NKey, credentials and TLS files, so a file that cannot be read fails
 * here) and the intelligence file's bound. Returns 0, or -1 after printing
 * an error (the caller exits 2).
 */
int options_apply(enum rm_command cmd, const struct rm_options *opts);
/*
 * The seconds a node's KV keys live without a rewrite (the bucket's TTL
 * when recmesh creates it): --max-age, never under two --hot-interval
 * writes nor 1 s; 0 (forever) for the commands that only read
 */
double options_kv_ttl(enum rm_command cmd, const struct rm_options *opts);
/*
 * The same for a running node's reload (SIGHUP): every check, and, as
 * always, nothing process-wide is touched: the NATS settings and the intelligence file's
 * bound stay what they were at start (the threads that use them keep
 * running), so a change to them needs a restart. A config file that holds
 * no option is an error here (it would reset every option). The errors,
 * one a line, each naming the file and line where there is one, go into
 * *errors (malloc'd, the caller frees it; NULL when there were none)
 * instead of stderr. Any one thread at a time (getopt's state is global).
 */
int options_reparse(enum rm_command cmd, int argc, char **argv, struct rm_options *opts,
		    char **errors);
/* Frees what opts holds; the process-wide settings options_parse made stay */
void options_free(struct rm_options *opts);
void options_usage(enum rm_command cmd, FILE *out);
/*
 * Calls fn for every option of cmd whose value differs between a and b,
 * with both values as text (a list joined by ','; "" when unset). Used by
 * a node's reload to say what changed.
 */
/*
 * A reload: reads the NATS credential and TLS files named in o again
 * (natsconn_reload). Returns 0 when o names none, 1 when they are used
 * from the next connect, -1 with a reason (no secret) when nothing changed.
 */
int options_nats_reload(const struct rm_options *o, char *err, size_t err_size);

typedef void (*options_diff_fn)(void *arg, const char *name, const char *old_value,
				const char *new_value);
void options_diff(enum rm_command cmd, const struct rm_options *a, const struct rm_options *b,
		  options_diff_fn fn, void *arg);

/* Whether a node's reload (SIGHUP) applies a new value of the option; 0 for an unknown name */
int options_reloadable(enum rm_command cmd, const char *name);
/*
 * The option's value as a log line may show it: a URL without its
 * credentials, a secret (or an unknown name) as "(not shown)"; value
 * itself or buf
 */
const char *options_shown(enum rm_command cmd, const char *name, const char *value, char *buf,
			  size_t size);
/* The schema as recmesh(1)'s table of options (troff, one .TP entry an option) */
void options_man_table(FILE *out);
/* The schema's own rules (ranges, defaults within them, secrets, one entry a command); -1 and why */
int options_schema_check(char *err, size_t err_size);

#endif
