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

#include <stddef.h>
#include <stdio.h>

enum rm_command {
	CMD_PROXY = 1 << 0,
	CMD_HOT = 1 << 1,
	CMD_EVENTS = 1 << 2,
	CMD_WARM = 1 << 3,
	CMD_MIRROR = 1 << 4,
	CMD_NS = 1 << 5,
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
	/* proxy */
	char **listen;
	size_t nlisten;
	char *upstream;
	double upstream_timeout;
	unsigned upstream_sockets;
	char *scheduling;
	unsigned max_tcp_clients;
	double tcp_idle_timeout;
	unsigned hot_capacity;
	double hot_interval;
	double hot_half_life;
	unsigned hot_publish;
	int mirror_client_ip;
	unsigned kv_replicas;
	double stats_interval;
	/* hot, events */
	unsigned top;
	int json;
	double max_age;
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
	/* the off-path mode (recmesh mirror) and authoritative intelligence */
	char *protobuf_listen;
	char *intel_file;
	double intel_wait;
};

/*
 * Parses argv (argv[0] is the subcommand's name) into opts. Returns 0, 1
 * when --help was printed (the caller exits 0), or -1 after printing an
 * error (the caller exits 2). On success it has also handed the NATS
 * options to natsconn_configure (which reads the password, token, NKey,
 * credentials and TLS files, so a file that cannot be read fails here).
 */
int options_parse(enum rm_command cmd, int argc, char **argv, struct rm_options *opts);
void options_free(struct rm_options *opts);
void options_usage(enum rm_command cmd, FILE *out);

#endif
