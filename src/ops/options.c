/* options.c: command-line and config-file options; see options.h */
#include "config.h"

#include "ops/options.h"

#include "base/readfile.h"
#include "nats/fleet.h"
#include "nats/intel.h"
#include "nats/merge.h"
#include "nats/natsconn.h"
#include "net/acl.h"
#include "net/netaddr.h"
#include "proxy/pbstream.h"
#include "warm/replay.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where parse errors go: stderr, or the reload's buffer (options_reparse) */
static FILE *errout;
#define ERRF (errout ? errout : stderr)
static int reparsing;

enum opt_type { OPT_STR, OPT_LIST, OPT_UINT, OPT_DOUBLE, OPT_FLAG };

/* What else the schema says of an option */
enum {
	OPTF_ZERO_OFF = 1 << 0, /* 0 is allowed besides min to max: off, or no limit */
	OPTF_RELOAD = 1 << 1,   /* a node's reload (SIGHUP) applies a new value */
	OPTF_URL = 1 << 2,      /* a URL that may hold credentials: shown redacted */
	OPTF_SECRET = 1 << 3,   /* a secret: its value is never shown */
	OPTF_ADDR = 1 << 4,     /* a socket address, ADDR:PORT (netaddr.h), with a port other than 0 */
	OPTF_ADDR53 = 1 << 5,   /* a socket address, ADDR[:PORT]: port 53 when left out */
};

/*
 * The option schema: every option of every command, once per command
 * group that reads it alike. From it come the parsing (config file and
 * command line), the range checks, --help, what a reload may apply and
 * how a value is shown, and the table in recmesh(1) OPTIONS
 * (options_man_table; tests/unit/test_options compares them).
 */
struct opt_def {
	const char *name;
	int shortopt;
	enum opt_type type;
	size_t offset;
	unsigned commands;
	const char *arg;  /* its value's name in --help: N, SECONDS, MS, FILE, ... */
	const char *def;  /* the default, as text; NULL: none */
	const char *help;
	double min, max;  /* OPT_UINT, OPT_DOUBLE: its range (every OPT_DOUBLE has one) */
	unsigned flags;   /* OPTF_* */
};

/* The longest time an option in seconds may give: more would overflow a conversion to nanoseconds */
#define OPTIONS_TEN_YEARS 315360000.0

#define OFF(f) offsetof(struct rm_options, f)
#define ALL (CMD_PROXY | CMD_HOT | CMD_EVENTS | CMD_WARM | CMD_MIRROR | CMD_NS | CMD_MERGE)
#define NODE_CMDS (CMD_PROXY | CMD_MIRROR)
#define CMD_NODE_AND_NS (CMD_PROXY | CMD_MIRROR | CMD_NS)

static const struct opt_def defs[] = {
	{"config", 'c', OPT_STR, OFF(config), ALL, "FILE", NULL,
	 "read options from FILE (\"name = value\" lines, the long option names)", 0, 0, 0},
	{"nats", 0, OPT_STR, OFF(nats), ALL, "URL", "nats://127.0.0.1:4222",
	 "NATS server(s), comma-separated, tried in random order (nats:// or tls://)", 0, 0, OPTF_URL},
	{"nats-tls-ca", 0, OPT_STR, OFF(nats_tls_ca), ALL, "FILE", NULL,
	 "verify the NATS servers' certificates with the CA certificate(s) in FILE (turns TLS on)", 0, 0, 0},
	{"nats-tls-cert", 0, OPT_STR, OFF(nats_tls_cert), ALL, "FILE", NULL,
	 "client certificate (PEM) for NATS servers that verify clients; with --nats-tls-key", 0, 0, 0},
	{"nats-tls-key", 0, OPT_STR, OFF(nats_tls_key), ALL, "FILE", NULL,
	 "the private key (PEM) of --nats-tls-cert", 0, 0, 0},
	{"nats-creds", 0, OPT_STR, OFF(nats_creds), ALL, "FILE", NULL,
	 "NATS credentials file (user JWT and NKey seed)", 0, 0, 0},
	{"nats-nkey", 0, OPT_STR, OFF(nats_nkey), ALL, "FILE", NULL,
	 "NATS user NKey seed file (SU...)", 0, 0, 0},
	{"nats-user", 0, OPT_STR, OFF(nats_user), ALL, "NAME", NULL,
	 "NATS user name; with --nats-password-file", 0, 0, 0},
	{"nats-password-file", 0, OPT_STR, OFF(nats_password_file), ALL, "FILE", NULL,
	 "the NATS password: the first line of FILE", 0, 0, 0},
	{"nats-token-file", 0, OPT_STR, OFF(nats_token_file), ALL, "FILE", NULL,
	 "the NATS token: the first line of FILE", 0, 0, 0},
	{"cluster", 0, OPT_STR, OFF(cluster), ALL, "NAME", NULL,
	 "the fleet's name (letters, digits, '-', '_')", 0, 0, 0},
	{"node", 0, OPT_STR, OFF(node), NODE_CMDS, "NAME", NULL,
	 "this node's name (letters, digits, '-', '_'); default: the host name", 0, 0, 0},
	{"node", 0, OPT_STR, OFF(node), CMD_MERGE, "NAME", NULL,
	 "the name the merged list and the lease are written as (default: the host name)", 0, 0, 0},
	{"node", 0, OPT_STR, OFF(node), CMD_EVENTS, "NAME", NULL,
	 "only this node's events (default: every node of the cluster)", 0, 0, 0},
	{"listen", 'l', OPT_LIST, OFF(listen), CMD_PROXY, "ADDR:PORT", NULL,
	 "UDP and TCP address to serve clients on; repeat for more", 0, 0, OPTF_ADDR53},
	{"upstream", 'u', OPT_STR, OFF(upstream), CMD_PROXY, "ADDR:PORT", NULL,
	 "the Recursor to forward queries to", 0, 0, OPTF_ADDR53},
	{"upstream", 'u', OPT_STR, OFF(upstream), CMD_MIRROR, "ADDR:PORT", NULL,
	 "the Recursor whose answers /health checks (optional; without it /health checks nothing)", 0, 0, OPTF_ADDR53},
	{"upstream-timeout", 0, OPT_DOUBLE, OFF(upstream_timeout), CMD_PROXY, "SECONDS", "5",
	 "give up on an upstream answer after this long", 0.001, 3600, 0},
	{"upstream-sockets", 0, OPT_UINT, OFF(upstream_sockets), CMD_PROXY, "N", "4",
	 "UDP sockets towards the upstream (spreads load over its threads)", 1, 64, 0},
	{"threads", 0, OPT_UINT, OFF(threads), CMD_PROXY, "N", "0",
	 "data path threads, each with its own sockets and its share of the limits "
	 "(0: one per 4 CPUs, 1 to 16)", 0, 64, 0},
	{"scheduling", 0, OPT_STR, OFF(scheduling), CMD_PROXY, "POLICY", "batch",
	 "the data path threads' scheduling: batch (SCHED_BATCH: batches queries under load), "
	 "normal, or auto (normal at low load, batch at high load)", 0, 0, 0},
	{"max-tcp-clients", 0, OPT_UINT, OFF(max_tcp_clients), CMD_PROXY, "N", "1000",
	 "TCP client connections at most", 1, 65535, 0},
	{"max-tcp-per-client", 0, OPT_UINT, OFF(max_tcp_per_client), CMD_PROXY, "N", "64",
	 "TCP client connections from one address at most", 1, 65535, 0},
	{"tcp-idle-timeout", 0, OPT_DOUBLE, OFF(tcp_idle_timeout), CMD_PROXY, "SECONDS", "10",
	 "close idle TCP client connections, and those that do not read their answers, after this long", 0.1, 3600, 0},
	{"tcp-max-duration", 0, OPT_DOUBLE, OFF(tcp_max_duration), CMD_PROXY, "SECONDS", "120",
	 "close a TCP client connection this long after it opened, busy or not", 1, 86400, 0},
	{"hot-capacity", 0, OPT_UINT, OFF(hot_capacity), NODE_CMDS, "N", "100000",
	 "names kept in the hot table at most", 1, UINT32_MAX, 0},
	{"hot-interval", 0, OPT_DOUBLE, OFF(hot_interval), NODE_CMDS | CMD_HOT, "SECONDS", "30",
	 "how often the hot list is written to NATS (recmesh hot: the nodes' setting; a list "
	 "not rewritten for 3 of them is stale)", 0.1, 86400, OPTF_RELOAD},
	{"hot-half-life", 0, OPT_DOUBLE, OFF(hot_half_life), CMD_HOT | CMD_WARM | CMD_MERGE, "SECONDS", "1800",
	 "decay each node's list from its time to now with this half-life (the nodes' --hot-half-life; 0: no decay)", 0, OPTIONS_TEN_YEARS, 0},
	{"hot-half-life", 0, OPT_DOUBLE, OFF(hot_half_life), NODE_CMDS, "SECONDS", "1800",
	 "a query's weight in the hot table halves after this long", 0.001, OPTIONS_TEN_YEARS, 0},
	{"hot-publish", 0, OPT_UINT, OFF(hot_publish), NODE_CMDS, "N", "50000",
	 "names per published hot list at most", 1, 1000000, 0},
	{"mirror-client-ip", 0, OPT_FLAG, OFF(mirror_client_ip), NODE_CMDS, NULL, NULL,
	 "put client addresses into published events (off by default)", 0, 0, 0},
	{"kv-replicas", 0, OPT_UINT, OFF(kv_replicas), NODE_CMDS, "N", "0",
	 "replicas of the KV buckets when recmesh creates them (0: 3 on a clustered "
	 "JetStream, 1 on a single server)", 0, NATSCONN_MAX_REPLICAS, 0},
	{"stats-interval", 0, OPT_DOUBLE, OFF(stats_interval), NODE_CMDS, "SECONDS", "60",
	 "log counters this often (0: only at exit)", 0.1, 86400, OPTF_ZERO_OFF | OPTF_RELOAD},
	{"metrics-listen", 0, OPT_STR, OFF(metrics_listen), NODE_CMDS, "ADDR:PORT", NULL,
	 "serve GET /metrics (Prometheus) and /health over HTTP here (off by default)", 0, 0, OPTF_ADDR},
	{"user", 0, OPT_STR, OFF(user), NODE_CMDS, "USER", NULL,
	 "drop privileges to USER after binding the sockets", 0, 0, 0},
	{"syslog", 0, OPT_FLAG, OFF(use_syslog), NODE_CMDS, NULL, NULL,
	 "log to syslog instead of stderr", 0, 0, 0},
	{"protobuf-listen", 0, OPT_STR, OFF(protobuf_listen), NODE_CMDS, "ADDR:PORT", NULL,
	 "take the Recursor's protobufServer/outgoingProtobufServer streams here", 0, 0, OPTF_ADDR},
	{"protobuf-allow-from", 0, OPT_LIST, OFF(protobuf_allow_from), NODE_CMDS, "CIDR[,CIDR...]",
	 "127.0.0.0/8,::1", "take protobuf streams only from these addresses; repeat for more", 0, 0, 0},
	{"protobuf-max-connections", 0, OPT_UINT, OFF(protobuf_max_connections), NODE_CMDS, "N", "64",
	 "protobuf stream connections at most; a new one closes the one idle longest", 1, 4096, 0},
	{"rec-network-timeout", 0, OPT_UINT, OFF(rec_network_timeout), NODE_CMDS, "MS", "1500",
	 "the Recursor's network-timeout in milliseconds: a timeout on its outgoing stream counts against a "
	 "server only after 80 % of it", PBSTREAM_NETWORK_TIMEOUT_MIN, PBSTREAM_NETWORK_TIMEOUT_MAX, OPTF_RELOAD},
	{"intel-file", 0, OPT_STR, OFF(intel_file), NODE_CMDS, "FILE", NULL,
	 "keep the fleet's authoritative-server intelligence in FILE for contrib/recmesh.lua", 0, 0, OPTF_RELOAD},
	{"intel-file", 0, OPT_STR, OFF(intel_file), CMD_WARM, "FILE", "/var/lib/recmesh/intel.txt",
	 "write the fleet's authoritative-server intelligence here before replaying", 0, 0, 0},
	{"intel-max-entries", 0, OPT_UINT, OFF(intel_max_entries), NODE_CMDS | CMD_WARM, "N", "10000",
	 "lines in the intelligence file at most, dead servers then speeds, the strongest evidence first", 1, INTEL_MAX_ENTRIES_LIMIT, 0},
	{"intel-wait", 0, OPT_DOUBLE, OFF(intel_wait), CMD_WARM, "SECONDS", "1.5",
	 "replay no sooner than this after writing the intelligence file, and no sooner than a running "
	 "Recursor takes it in (64 KiB a second)", 0, REPLAY_MAX_TIMEOUT, 0},
	{"auto-warm", 0, OPT_FLAG, OFF(auto_warm), CMD_PROXY, NULL, NULL,
	 "warm the upstream up by itself when it has restarted", 0, 0, 0},
	{"rec-socket-dir", 0, OPT_STR, OFF(rec_socket_dir), CMD_PROXY, "DIR", NULL,
	 "with --auto-warm: also watch the Recursor's uptime through rec_control", 0, 0, 0},
	{"peer", 0, OPT_LIST, OFF(peer), CMD_PROXY, "ADDR[:PORT]", NULL,
	 "a warm peer (another node's proxy or Recursor) asked while the upstream is down or being "
	 "warmed; repeat for more (16 at most)", 0, 0, OPTF_ADDR53},
	{"peer-hedge-delay", 0, OPT_DOUBLE, OFF(peer_hedge_delay), CMD_PROXY, "SECONDS", "0.05",
	 "while the upstream is being warmed, ask a peer too when it has not answered after this long "
	 "(0: at once)", 0, 10, 0},
	{"shield-max", 0, OPT_DOUBLE, OFF(shield_max), CMD_PROXY, "SECONDS", "120",
	 "ask peers for this long at most after the upstream came back", 1, 86400, 0},
	{"peer-max-qps", 0, OPT_UINT, OFF(peer_max_qps), CMD_PROXY, "N", "1000",
	 "queries per second to peers at most", 1, 1000000, 0},
	{"peer-max-inflight", 0, OPT_UINT, OFF(peer_max_inflight), CMD_PROXY, "N", "256",
	 "queries in flight to peers at most", 1, 65536, 0},
	{"target", 't', OPT_STR, OFF(target), CMD_WARM, "ADDR:PORT", NULL,
	 "the restarted Recursor to warm up", 0, 0, OPTF_ADDR53},
	{"top", 'n', OPT_UINT, OFF(top), CMD_HOT, "N", "100", "print the N hottest names", 0, 0, 0},
	{"top", 'n', OPT_UINT, OFF(top), CMD_MERGE, "N", "50000",
	 "write the N hottest names of the fleet", 1, FLEET_MERGE_MAX_TOP, 0},
	{"lease", 0, OPT_DOUBLE, OFF(lease), CMD_MERGE, "SECONDS", "240",
	 "the longest a merge may take: no other host merges meanwhile", 10, MERGE_LEASE_MAX, 0},
	{"top", 'n', OPT_UINT, OFF(top), CMD_WARM | CMD_PROXY, "N", "50000",
	 "replay the N hottest names of the fleet", 1, UINT32_MAX, 0},
	{"sample", 0, OPT_UINT, OFF(sample), CMD_HOT | CMD_WARM | CMD_PROXY, "N", "16",
	 "with more than N node lists in the bucket, read the fleet's merged list and N of the lists "
	 "chosen at random, not every list (0: read every list)", 0, FLEET_MAX_SAMPLE, 0},
	{"qps", 0, OPT_UINT, OFF(qps), CMD_WARM | CMD_PROXY, "N", "1000",
	 "warm-up queries per second to start with (see --max-qps)", 1, UINT32_MAX, 0},
	{"max-qps", 0, OPT_UINT, OFF(max_qps), CMD_WARM | CMD_PROXY, "N", "5000",
	 "let the warm-up rate rise up to N q/s while the Recursor keeps up (0 or N <= --qps: fixed at --qps)", 0, 0, 0},
	{"concurrency", 0, OPT_UINT, OFF(concurrency), CMD_WARM | CMD_PROXY, "N", "1000",
	 "warm-up queries in flight at most", 1, REPLAY_MAX_CONCURRENCY, 0},
	{"query-timeout", 0, OPT_DOUBLE, OFF(query_timeout), CMD_WARM | CMD_PROXY, "SECONDS", "5",
	 "give up on a warm-up answer after this long", 0.001, REPLAY_MAX_TIMEOUT, 0},
	{"wait-timeout", 0, OPT_DOUBLE, OFF(wait_timeout), CMD_WARM | CMD_PROXY, "SECONDS", "60",
	 "wait this long at most for the target to answer before replaying", 0, REPLAY_MAX_TIMEOUT, 0},
	{"max-age", 0, OPT_DOUBLE, OFF(max_age), CMD_HOT | CMD_WARM | CMD_MERGE | CMD_NODE_AND_NS, "SECONDS", "86400",
	 "skip node lists older than this (0: no limit)", 0, OPTIONS_TEN_YEARS, 0},
	{"nats-timeout", 0, OPT_DOUBLE, OFF(nats_timeout), CMD_HOT | CMD_WARM | CMD_PROXY | CMD_NS | CMD_MERGE,
	 "SECONDS", "5",
	 "try KV bucket reads again for up to this long before asking the running nodes", OPTIONS_NATS_TIMEOUT_MIN, OPTIONS_NATS_TIMEOUT_MAX, 0},
	{"count", 0, OPT_UINT, OFF(count), CMD_EVENTS, "N", "0",
	 "exit after N events (0: run until interrupted)", 0, 0, 0},
	{"timeout", 0, OPT_DOUBLE, OFF(timeout), CMD_EVENTS, "SECONDS", "0",
	 "exit with status 1 when no event came for this long (0: wait forever)", 0, OPTIONS_TEN_YEARS, 0},
	{"json", 0, OPT_FLAG, OFF(json), CMD_HOT | CMD_EVENTS | CMD_WARM | CMD_NS | CMD_MERGE, NULL, NULL,
	 "print JSON (one object per line)", 0, 0, 0},
	{"verbose", 'v', OPT_FLAG, OFF(verbose), ALL, NULL, NULL, "log debug messages", 0, 0, OPTF_RELOAD},
	{"quiet", 'q', OPT_FLAG, OFF(quiet), ALL, NULL, NULL, "log warnings and errors only", 0, 0, OPTF_RELOAD},
	{NULL, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0, 0},
};

/* The unit a range is given in, from the value's name */
static const char *unit_of(const struct opt_def *d)
{
	if (d->type == OPT_DOUBLE)
		return " seconds";
	if (d->arg && !strcmp(d->arg, "MS"))
		return " milliseconds";
	return "";
}

/* The range as text: "1 to 65535", "0 (off) or 0.1 to 86400 seconds", "at most 10 seconds" */
static const char *range_text(const struct opt_def *d, char *buf, size_t size)
{
	if (d->min <= 0)
		snprintf(buf, size, "at most %.10g%s", d->max, unit_of(d));
	else
		snprintf(buf, size, "%s%.10g to %.10g%s", d->flags & OPTF_ZERO_OFF ? "0 (off) or " : "",
			 d->min, d->max, unit_of(d));
	return buf;
}

static int has_range(const struct opt_def *d)
{
	return (d->type == OPT_UINT || d->type == OPT_DOUBLE) && d->max > 0;
}

static const struct {
	enum rm_command cmd;
	const char *name, *synopsis, *what;
} commands[] = {
	{CMD_PROXY, "proxy", "--listen ADDR:PORT --upstream ADDR:PORT --cluster NAME [OPTIONS]",
	 "Forward DNS queries to a Recursor, mirror events and the hot list onto NATS."},
	{CMD_HOT, "hot", "--cluster NAME [--top N] [--json] [OPTIONS]",
	 "Print the fleet's merged hot list, hottest first."},
	{CMD_EVENTS, "events", "--cluster NAME [--node NAME] [--count N] [--json] [OPTIONS]",
	 "Print the traffic events the nodes publish."},
	{CMD_MIRROR, "mirror", "--protobuf-listen ADDR:PORT --cluster NAME [OPTIONS]",
	 "Take the Recursor's protobuf streams off-path; publish events, hot list and NS table."},
	{CMD_NS, "ns", "--cluster NAME [--json] [OPTIONS]",
	 "Print the fleet's merged authoritative-server table."},
	{CMD_MERGE, "merge", "--cluster NAME [--node NAME] [--top N] [--lease SECONDS] [OPTIONS]",
	 "Merge every node's hot list into the fleet's merged list, one node at a time."},
	{CMD_WARM, "warm", "--target ADDR:PORT --cluster NAME [--top N] [--qps N] [--concurrency N] [OPTIONS]",
	 "Replay the fleet's hottest names into a restarted Recursor, paced and bounded."},
};

static const char *command_name(enum rm_command cmd, const char **synopsis, const char **what)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].cmd == cmd) {
			if (synopsis)
				*synopsis = commands[i].synopsis;
			if (what)
				*what = commands[i].what;
			return commands[i].name;
		}
	return "?";
}

void options_usage(enum rm_command cmd, FILE *out)
{
	const char *syn = "", *what = "";
	const char *name = command_name(cmd, &syn, &what);
	fprintf(out, "Usage: recmesh %s %s\n%s\n\nOptions:\n", name, syn, what);
	for (const struct opt_def *d = defs; d->name; d++) {
		if (!(d->commands & cmd))
			continue;
		char left[64];
		if (d->shortopt)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", d->shortopt, d->name,
				 d->arg ? " " : "", d->arg ? d->arg : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", d->name, d->arg ? " " : "",
				 d->arg ? d->arg : "");
		fprintf(out, "  %-32s %s", left, d->help);
		char range[96];
		if (has_range(d) && d->def)
			fprintf(out, " [%s; default %s]", range_text(d, range, sizeof(range)), d->def);
		else if (has_range(d))
			fprintf(out, " [%s]", range_text(d, range, sizeof(range)));
		else if (d->def)
			fprintf(out, " [default %s]", d->def);
		fputc('\n', out);
	}
	fprintf(out, "  %-32s %s\n", "-h, --help", "show this help");
	fprintf(out, "  %-32s %s\n", "-V, --version", "print the version and exit");
	fprintf(out, "\nSee recmesh(1) for details.\n");
}

static int list_add(char ***list, size_t *n, const char *v)
{
	char **nl = realloc(*list, (*n + 1) * sizeof(**list));
	if (!nl)
		return -1;
	*list = nl;
	if (!(nl[*n] = strdup(v)))
		return -1;
	(*n)++;
	return 0;
}

static void list_clear(char ***list, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		free((*list)[i]);
	free(*list);
	*list = NULL;
	*n = 0;
}

static size_t *list_count(struct rm_options *o, const struct opt_def *d)
{
	if (d->offset == OFF(listen))
		return &o->nlisten;
	if (d->offset == OFF(protobuf_allow_from))
		return &o->nprotobuf_allow_from;
	if (d->offset == OFF(peer))
		return &o->npeer;
	return NULL;
}

static size_t list_count_of(const struct rm_options *o, const struct opt_def *d)
{
	return *list_count((struct rm_options *)o, d);
}

/* Sets one option from its text value; where says where it came from */
static int set_opt(struct rm_options *o, const struct opt_def *d, const char *v, const char *where)
{
	char *base = (char *)o, *end;
	switch (d->type) {
	case OPT_STR: {
		char **p = (char **)(base + d->offset);
		free(*p);
		if (!(*p = strdup(v)))
			return -1;
		return 0;
	}
	case OPT_LIST:
		return list_add((char ***)(base + d->offset), list_count(o, d), v);
	case OPT_UINT: {
		errno = 0;
		unsigned long x = strtoul(v, &end, 10);
		if (errno || *v == '\0' || *end != '\0' || x > 0xffffffffUL || v[0] == '-') {
			fprintf(ERRF, "recmesh: %s: --%s wants a whole number, not '%s'\n", where,
				d->name, v);
			return -1;
		}
		*(unsigned *)(base + d->offset) = (unsigned)x;
		return 0;
	}
	case OPT_DOUBLE: {
		errno = 0;
		double x = strtod(v, &end);
		if (errno || *v == '\0' || *end != '\0' || !isfinite(x) || x < 0) {
			fprintf(ERRF, "recmesh: %s: --%s wants a number of seconds, not '%s'\n",
				where, d->name, v);
			return -1;
		}
		*(double *)(base + d->offset) = x;
		return 0;
	}
	case OPT_FLAG: {
		int *p = (int *)(base + d->offset);
		if (!v || !strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1"))
			*p = 1;
		else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0"))
			*p = 0;
		else {
			fprintf(ERRF, "recmesh: %s: --%s wants yes or no, not '%s'\n", where,
				d->name, v);
			return -1;
		}
		return 0;
	}
	}
	return -1;
}

static const struct opt_def *find_def(enum rm_command cmd, const char *name)
{
	for (const struct opt_def *d = defs; d->name; d++)
		if (!strcmp(d->name, name) && (d->commands & cmd))
			return d;
	return NULL;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/*
 * Reads the config file whole (readfile.h: a regular file of at most
 * OPTIONS_CONFIG_MAX bytes), then parses it: at most OPTIONS_CONFIG_LINES
 * lines of at most OPTIONS_CONFIG_LINE_MAX bytes each (a longer line is an
 * error, never split), no NUL byte. Every error names the file and line.
 * On a reload a file that holds no option (empty, or truncated to nothing)
 * is an error too: it would reset every option to its default.
 */
static int read_config(enum rm_command cmd, const char *path, struct rm_options *o)
{
	char err[600], where[4200];
	size_t len;
	char *text = readfile_regular(path, "config file", OPTIONS_CONFIG_MAX, &len, NULL, err,
				      sizeof(err));
	if (!text) {
		fprintf(ERRF, "recmesh: %s\n", err);
		return -1;
	}
	int lineno = 0, rc = 0, nopts = 0;
	for (char *p = text, *end = text + len; p < end && rc == 0;) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char *line = p;
		p = nl ? nl + 1 : end;
		snprintf(where, sizeof(where), "%s:%d", path, ++lineno);
		if (lineno > OPTIONS_CONFIG_LINES) {
			fprintf(ERRF, "recmesh: %s: the config file has more than %d lines\n",
				where, OPTIONS_CONFIG_LINES);
			rc = -1;
			break;
		}
		if (l > OPTIONS_CONFIG_LINE_MAX) {
			fprintf(ERRF,
				"recmesh: %s: the line has %zu bytes, more than %d: not read\n",
				where, l, OPTIONS_CONFIG_LINE_MAX);
			rc = -1;
			break;
		}
		if (memchr(line, '\0', l)) {
			fprintf(ERRF, "recmesh: %s: the line holds a NUL byte\n", where);
			rc = -1;
			break;
		}
		line[l] = '\0';
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *s = trim(line);
		if (*s == '\0')
			continue;
		char *val = s + strcspn(s, "= \t");
		if (*val) {
			*val++ = '\0';
			val = trim(val);
			if (*val == '=')
				val = trim(val + 1);
		}
		const struct opt_def *d = find_def(cmd, s);
		if (!d || !strcmp(s, "config")) {
			fprintf(ERRF, "recmesh: %s: unknown option '%.64s' for 'recmesh %s'\n",
				where, s, command_name(cmd, NULL, NULL));
			rc = -1;
			break;
		}
		if (*val == '\0' && d->type != OPT_FLAG) {
			fprintf(ERRF, "recmesh: %s: option '%s' needs a value%s\n", where, s,
				!strcmp(d->name, "intel-file") ? " (\"\" for an empty one)" : "");
			rc = -1;
			break;
		}
		/* "" is the empty value, for the one option where empty means off */
		if (!strcmp(val, "\"\"") && !strcmp(d->name, "intel-file"))
			*val = '\0';
		else if (!strcmp(val, "\"\"")) {
			fprintf(ERRF, "recmesh: %s: option '%s' cannot be empty\n", where, s);
			rc = -1;
			break;
		}
		if (set_opt(o, d, *val || d->type == OPT_STR ? val : NULL, where) < 0) {
			rc = -1;
			break;
		}
		if (d->offset == OFF(peer) && o->npeer > OPTIONS_PEER_MAX) {
			fprintf(ERRF, "recmesh: %s: --peer may be given %d times at most\n", where,
				OPTIONS_PEER_MAX);
			rc = -1;
			break;
		}
		nopts++;
	}
	free(text);
	if (rc == 0 && nopts == 0 && reparsing) {
		fprintf(ERRF, "recmesh: config file '%s' holds no option (empty, or truncated?)\n",
			path);
		rc = -1;
	}
	return rc;
}

/* One address option's value: a socket address as netaddr_parse takes it; -1 after an error */
static int check_address(const struct opt_def *d, const char *v)
{
	struct netaddr na;
	if (netaddr_parse(v, (d->flags & OPTF_ADDR53) ? 53 : 0, &na) == 0)
		return 0;
	fprintf(ERRF, "recmesh: bad --%s address '%s' (expected %s)\n", d->name, v,
		(d->flags & OPTF_ADDR53) ? "ADDR[:PORT]" : "ADDR:PORT");
	return -1;
}

/* What a range cannot say: addresses, the allow list's entries, how often --peer is given; -1 after an error */
static int check_lists(enum rm_command cmd, const struct rm_options *o)
{
	char err[256];
	for (const struct opt_def *d = defs; d->name; d++) {
		if (!(d->commands & cmd) || !(d->flags & (OPTF_ADDR | OPTF_ADDR53)))
			continue;
		const char *p = (const char *)o + d->offset;
		if (d->type == OPT_STR) {
			const char *v = *(char *const *)p;
			if (v && check_address(d, v) < 0)
				return -1;
		} else if (d->type == OPT_LIST) {
			char *const *list = *(char *const *const *)p;
			for (size_t i = 0, n = list_count_of(o, d); i < n; i++)
				if (check_address(d, list[i]) < 0)
					return -1;
		}
	}
	if (cmd & (CMD_PROXY | CMD_MIRROR)) {
		struct acl *acl = acl_create();
		for (size_t i = 0; acl && i < o->nprotobuf_allow_from; i++)
			if (acl_add(acl, o->protobuf_allow_from[i], err, sizeof(err)) < 0) {
				fprintf(ERRF, "recmesh: --protobuf-allow-from: %s\n", err);
				acl_destroy(acl);
				return -1;
			}
		acl_destroy(acl);
	}
	if ((cmd & CMD_PROXY) && o->npeer > OPTIONS_PEER_MAX) {
		fprintf(ERRF, "recmesh: --peer may be given %d times at most, not %zu\n", OPTIONS_PEER_MAX,
			o->npeer);
		return -1;
	}
	return 0;
}

/* Every number of cmd's options within its range; -1 after printing an error */
static int check_ranges(enum rm_command cmd, const struct rm_options *o)
{
	char range[96];
	for (const struct opt_def *d = defs; d->name; d++) {
		if (!(d->commands & cmd) || !has_range(d))
			continue;
		const char *p = (const char *)o + d->offset;
		double v = d->type == OPT_UINT ? (double)*(const unsigned *)p : *(const double *)p;
		if ((v == 0 && (d->flags & OPTF_ZERO_OFF)) || (v >= d->min && v <= d->max))
			continue;
		fprintf(ERRF, "recmesh: --%s must be %s, not %.10g\n", d->name,
			range_text(d, range, sizeof(range)), v);
		return -1;
	}
	return 0;
}

/* The NATS options of o as natsconn takes them (borrowed from o) */
static struct natsconn_settings settings_of(const struct rm_options *o)
{
	return (struct natsconn_settings){
		.urls = o->nats,
		.tls_ca = o->nats_tls_ca,
		.tls_cert = o->nats_tls_cert,
		.tls_key = o->nats_tls_key,
		.creds = o->nats_creds,
		.nkey = o->nats_nkey,
		.user = o->nats_user,
		.password_file = o->nats_password_file,
		.token_file = o->nats_token_file,
		.kv_replicas = o->kv_replicas,
	};
}

int options_nats_reload(const struct rm_options *o, char *err, size_t err_size)
{
	if (!o->nats_tls_ca && !o->nats_tls_cert && !o->nats_creds && !o->nats_nkey &&
	    !o->nats_user && !o->nats_token_file)
		return 0;
	struct natsconn_settings s = settings_of(o);
	return natsconn_reload(&s, err, err_size) < 0 ? -1 : 1;
}

double options_kv_ttl(enum rm_command cmd, const struct rm_options *o)
{
	/* a node's keys expire when it has not rewritten them for --max-age */
	double ttl = (cmd & NODE_CMDS) ? o->max_age : 0;
	/* never shorter than two writes: a running node's keys must not blink out */
	if (ttl > 0 && ttl < 2 * o->hot_interval)
		ttl = 2 * o->hot_interval;
	if (ttl > 0 && ttl < 1)
		ttl = 1;
	return ttl;
}

int options_apply(enum rm_command cmd, const struct rm_options *o)
{
	char err[512];
	struct natsconn_settings s = settings_of(o);
	s.kv_ttl = options_kv_ttl(cmd, o);
	if (natsconn_configure(&s, err, sizeof(err)) < 0) {
		fprintf(stderr, "recmesh %s: %s\n", command_name(cmd, NULL, NULL), err);
		return -1;
	}
	/* the intelligence file's bound: every writer of this command uses it */
	if (cmd & (NODE_CMDS | CMD_WARM))
		intel_set_max_entries(o->intel_max_entries);
	return 0;
}

int options_reparse(enum rm_command cmd, int argc, char **argv, struct rm_options *o, char **errors)
{
	char *text = NULL;
	size_t len = 0;
	*errors = NULL;
	errout = open_memstream(&text, &len);
	reparsing = 1;
	int rc = options_parse(cmd, argc, argv, o);
	reparsing = 0;
	if (errout) {
		fclose(errout);
		errout = NULL;
	}
	if (text && len)
		*errors = text;
	else
		free(text);
	return rc;
}

int options_parse(enum rm_command cmd, int argc, char **argv, struct rm_options *o)
{
	struct option lopts[96];
	const struct opt_def *index[96];
	/* every entry of defs (a command takes a part), --help, --version and the end */
	_Static_assert(sizeof(defs) / sizeof(defs[0]) + 2 <= sizeof(lopts) / sizeof(lopts[0]),
		       "options_parse's getopt table is too small");
	char shorts[128] = "+h";
	size_t n = 0, sl = 2;

	memset(o, 0, sizeof(*o));
	for (const struct opt_def *d = defs; d->name; d++) {
		if (!(d->commands & cmd))
			continue;
		lopts[n].name = d->name;
		lopts[n].has_arg = d->type == OPT_FLAG ? no_argument : required_argument;
		lopts[n].flag = NULL;
		lopts[n].val = 1000 + (int)n;
		index[n] = d;
		if (d->shortopt) {
			shorts[sl++] = (char)d->shortopt;
			if (d->type != OPT_FLAG)
				shorts[sl++] = ':';
		}
		n++;
	}
	lopts[n].name = "help";
	lopts[n].has_arg = no_argument;
	lopts[n].flag = NULL;
	lopts[n].val = 'h';
	lopts[n + 1].name = "version";
	lopts[n + 1].has_arg = no_argument;
	lopts[n + 1].flag = NULL;
	lopts[n + 1].val = 'V';
	memset(&lopts[n + 2], 0, sizeof(lopts[0]));
	shorts[sl++] = 'V';
	shorts[sl] = '\0';

	/* defaults (a list's default is added at the end, if the list is still empty) */
	for (const struct opt_def *d = defs; d->name; d++)
		if ((d->commands & cmd) && d->def && d->type != OPT_LIST &&
		    set_opt(o, d, d->def, "default") < 0)
			return -1;

	/* pass 1: --config and --help only */
	opterr = 0;
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, shorts, lopts, NULL)) != -1) {
		if (c == 'h') {
			options_usage(cmd, stdout);
			return 1;
		}
		if (c == 'V') {
			printf("recmesh %s\n", PACKAGE_VERSION);
			return 1;
		}
		if (c >= 1000 && !strcmp(index[c - 1000]->name, "config"))
			set_opt(o, index[c - 1000], optarg, "command line");
		else if (c == 'c')
			set_opt(o, find_def(cmd, "config"), optarg, "command line");
	}
	if (o->config && read_config(cmd, o->config, o) < 0)
		return -1;

	/* pass 2: everything, over the file's values */
	opterr = 1;
	optind = 1;
	unsigned cleared_lists = 0; /* bit 0: --listen, bit 1: --protobuf-allow-from, bit 2: --peer */
	for (;;) {
		const struct opt_def *d = NULL;
		int at = optind; /* the option's own word (no positional arguments are taken) */
		if ((c = getopt_long(argc, argv, shorts, lopts, NULL)) == -1)
			break;
		if (c == '?' || c == ':') {
			fprintf(ERRF, "Try 'recmesh %s --help'.\n", command_name(cmd, NULL, NULL));
			return -1;
		}
		if (c >= 1000)
			d = index[c - 1000];
		/*
		 * Long options are taken only by their whole name: getopt would take
		 * --nats-password for --nats-password-file, and a secret given after
		 * it would then be read, and quoted in errors, as a file name. The
		 * word is quoted up to '=' only, never its value.
		 */
		if (c >= 1000 && at < argc && !strncmp(argv[at], "--", 2)) {
			size_t len = strcspn(argv[at] + 2, "=");
			if (len != strlen(d->name) || strncmp(argv[at] + 2, d->name, len) != 0) {
				fprintf(ERRF,
					"recmesh: unknown option '--%.*s' (long options take their whole name, "
					"for example '--%s')\nTry 'recmesh %s --help'.\n",
					(int)(len > 64 ? 64 : len), argv[at] + 2, d->name,
					command_name(cmd, NULL, NULL));
				return -1;
			}
		}
		else
			for (size_t i = 0; i < n; i++)
				if (index[i]->shortopt == c)
					d = index[i];
		if (!d)
			continue;
		unsigned bit = d->offset == OFF(listen) ? 1u : d->offset == OFF(protobuf_allow_from) ? 2u : 4u;
		if (d->type == OPT_LIST && !(cleared_lists & bit)) {
			list_clear((char ***)((char *)o + d->offset), list_count(o, d));
			cleared_lists |= bit;
		}
		if (set_opt(o, d, optarg, "command line") < 0)
			return -1;
	}
	if (optind < argc) {
		fprintf(ERRF, "recmesh: unexpected argument '%s'\nTry 'recmesh %s --help'.\n",
			argv[optind], command_name(cmd, NULL, NULL));
		return -1;
	}
	for (const struct opt_def *d = defs; d->name; d++)
		if ((d->commands & cmd) && d->def && d->type == OPT_LIST && !*list_count(o, d) &&
		    set_opt(o, d, d->def, "default") < 0)
			return -1;
	if (check_ranges(cmd, o) < 0 || check_lists(cmd, o) < 0)
		return -1;
	return 0;
}

void options_free(struct rm_options *o)
{
	for (const struct opt_def *d = defs; d->name; d++) {
		if (d->type == OPT_STR) {
			char **p = (char **)((char *)o + d->offset);
			free(*p);
			*p = NULL;
		}
	}
	list_clear(&o->listen, &o->nlisten);
	list_clear(&o->protobuf_allow_from, &o->nprotobuf_allow_from);
	list_clear(&o->peer, &o->npeer);
}

/* The option's value as text into buf */
static const char *opt_text(const struct rm_options *o, const struct opt_def *d, char *buf, size_t size)
{
	const char *base = (const char *)o;
	buf[0] = '\0';
	switch (d->type) {
	case OPT_STR: {
		const char *v = *(char *const *)(base + d->offset);
		snprintf(buf, size, "%s", v ? v : "");
		break;
	}
	case OPT_LIST: {
		char *const *list = *(char *const *const *)(base + d->offset);
		size_t len = 0, n = list_count_of(o, d);
		for (size_t i = 0; i < n && len < size; i++)
			len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? "," : "", list[i]);
		break;
	}
	case OPT_UINT:
		snprintf(buf, size, "%u", *(const unsigned *)(base + d->offset));
		break;
	case OPT_DOUBLE:
		snprintf(buf, size, "%g", *(const double *)(base + d->offset));
		break;
	case OPT_FLAG:
		snprintf(buf, size, "%s", *(const int *)(base + d->offset) ? "yes" : "no");
		break;
	}
	return buf;
}

void options_diff(enum rm_command cmd, const struct rm_options *a, const struct rm_options *b,
		  options_diff_fn fn, void *arg)
{
	char va[1024], vb[1024];
	for (const struct opt_def *d = defs; d->name; d++)
		if ((d->commands & cmd) && strcmp(opt_text(a, d, va, sizeof(va)), opt_text(b, d, vb, sizeof(vb))))
			fn(arg, d->name, va, vb);
}

static const struct opt_def *def_named(enum rm_command cmd, const char *name)
{
	for (const struct opt_def *d = defs; d->name; d++)
		if ((d->commands & cmd) && !strcmp(d->name, name))
			return d;
	return NULL;
}

int options_reloadable(enum rm_command cmd, const char *name)
{
	const struct opt_def *d = def_named(cmd, name);
	return d && (d->flags & OPTF_RELOAD);
}

const char *options_shown(enum rm_command cmd, const char *name, const char *value, char *buf,
			  size_t size)
{
	const struct opt_def *d = def_named(cmd, name);
	if (!d || (d->flags & OPTF_SECRET)) {
		snprintf(buf, size, "(not shown)");
		return buf;
	}
	if (d->flags & OPTF_URL)
		return natsconn_redact(value, buf, size);
	return value;
}

/* s with troff's specials escaped: '-' as \-, '\' as \e */
static void troff(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '-')
			fputs("\\-", out);
		else if (*s == '\\')
			fputs("\\e", out);
		else
			fputc(*s, out);
	}
}

void options_man_table(FILE *out)
{
	static const struct {
		enum rm_command cmd;
		const char *name;
	} order[] = {{CMD_PROXY, "proxy"}, {CMD_MIRROR, "mirror"}, {CMD_HOT, "hot"}, {CMD_EVENTS, "events"},
		     {CMD_WARM, "warm"},   {CMD_NS, "ns"},         {CMD_MERGE, "merge"}};
	char range[96];
	for (const struct opt_def *d = defs; d->name; d++) {
		fputs(".TP\n.B ", out);
		troff(out, "--");
		troff(out, d->name);
		fputc('\n', out);
		if (d->commands == ALL) {
			fputs("every command", out);
		} else {
			const char *sep = "";
			for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
				if (d->commands & order[i].cmd) {
					fprintf(out, "%s%s", sep, order[i].name);
					sep = ", ";
				}
		}
		fputs(": ", out);
		if (d->type == OPT_FLAG)
			fputs("a flag", out);
		else
			troff(out, d->arg);
		if (d->type == OPT_LIST)
			fputs(", repeatable", out);
		if (has_range(d)) {
			fputs(", ", out);
			troff(out, range_text(d, range, sizeof(range)));
		}
		if (d->def) {
			fputs("; default ", out);
			troff(out, d->def);
		}
		if (d->flags & OPTF_ADDR53)
			fputs(" (port 53 when left out)", out);
		if (d->flags & OPTF_RELOAD)
			fputs("; a node's reload applies it", out);
		if (d->flags & OPTF_URL)
			fputs("; logged without credentials", out);
		if (d->flags & OPTF_SECRET)
			fputs("; never logged", out);
		fputs(".\n", out);
	}
}

int options_schema_check(char *err, size_t err_size)
{
	for (const struct opt_def *d = defs; d->name; d++) {
		if (d->type == OPT_DOUBLE && !(d->max > 0)) {
			snprintf(err, err_size, "--%s: a number of seconds without a maximum", d->name);
			return -1;
		}
		if (has_range(d) && (d->min > d->max || (d->type == OPT_UINT && d->max > UINT32_MAX))) {
			snprintf(err, err_size, "--%s: the range is not one", d->name);
			return -1;
		}
		if ((d->type == OPT_UINT || d->type == OPT_DOUBLE) && d->def) {
			double v = strtod(d->def, NULL);
			if (has_range(d) && !((v == 0 && (d->flags & OPTF_ZERO_OFF)) || (v >= d->min && v <= d->max))) {
				snprintf(err, err_size, "--%s: the default %s is out of its range", d->name, d->def);
				return -1;
			}
		}
		/* a secret is read from a file, or is marked: never a value shown in a log */
		static const char *const secret_words[] = {"password", "token", "secret", "seed", "key", "creds"};
		for (size_t i = 0; i < sizeof(secret_words) / sizeof(secret_words[0]); i++)
			if (strstr(d->name, secret_words[i]) && !(d->flags & OPTF_SECRET) &&
			    !(d->arg && !strcmp(d->arg, "FILE"))) {
				snprintf(err, err_size, "--%s: a secret that is not a file, and not marked secret",
					 d->name);
				return -1;
			}
		for (const struct opt_def *e = defs; e < d; e++)
			if (!strcmp(e->name, d->name) && (e->commands & d->commands)) {
				snprintf(err, err_size, "--%s: twice for one command", d->name);
				return -1;
			}
	}
	return 0;
}
