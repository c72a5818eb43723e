/*
 * counters.h: the one table of a node's counters, from which both the
 * stats lines (recmesh(1) LOGGING) and the Prometheus families of
 * /metrics (recmesh(1) METRICS) are made.
 *
 * Each entry names where its value lives (a field of struct
 * counter_values), the stats line and key it is logged under, and the
 * Prometheus family, type, label and help it is exposed as. A counter is
 * added in one place: its field in the stats struct of the part that
 * counts it, and its entry here; recmesh(1) lists it too, and
 * tests/unit/test_counters.c fails until both outputs and the man page
 * agree with the table.
 *
 * Counters only report: no code decides anything from them.
 *
 * No state: every function may be called from any thread.
 */
#ifndef RECMESH_COUNTERS_H
#define RECMESH_COUNTERS_H

#include "nats/publisher.h"
#include "ops/http.h"
#include "proxy/pbstream.h"
#include "proxy/proxy.h"
#include "warm/autowarm.h"

#include <stddef.h>
#include <stdint.h>

/* Where a counter's value comes from; a source not present is left out of both outputs */
enum counter_src {
	CSRC_NODE,     /* always present: start_time, the version */
	CSRC_PROXY,    /* the proxy's counters (recmesh proxy) */
	CSRC_PEER,     /* its peers' counters (in the proxy's; the log has them only with --peer) */
	CSRC_PB,       /* the protobuf listener (--protobuf-listen) */
	CSRC_PUB,      /* the publisher: events, hot list, NS table, NATS */
	CSRC_AUTOWARM, /* --auto-warm */
	CSRC_HEALTH,   /* the health probe (--metrics-listen) */
	CSRC_HTTP,     /* the HTTP server (--metrics-listen) */
	CSRC_N
};

/* The values of one moment; fill what is present and set has[] for it */
struct counter_values {
	int has[CSRC_N];
	double start_time;          /* CSRC_NODE: unix seconds */
	struct proxy_stats proxy;   /* CSRC_PROXY, and CSRC_PEER: proxy.peer */
	uint64_t in_flight;         /* CSRC_PROXY: UDP queries upstream not answered yet */
	struct pbstream_stats pb;   /* CSRC_PB */
	struct publisher_stats pub; /* CSRC_PUB */
	double last_hot_write; /* CSRC_PUB: unix seconds of the last hot-list write seen; 0: none */
	struct autowarm_stats aw; /* CSRC_AUTOWARM */
	uint64_t upstream_up;     /* CSRC_HEALTH: 1 while /health is 200 */
	uint64_t upstream_downs[3]; /* CSRC_HEALTH: taken for down, first for: refused, timeouts, probes */
	struct http_stats http;   /* CSRC_HTTP */
};

/* The stats lines, in the order they are logged */
enum counter_line {
	CLINE_NONE, /* not logged: /metrics only */
	CLINE_PROTOBUF,
	CLINE_PROTOBUF_LIMITS,
	CLINE_QUERIES,
	CLINE_LIMITS,
	CLINE_PEERS,
	CLINE_AUTOWARM,
	CLINE_EVENTS,
	CLINE_HOTGET,
	CLINE_N
};
/* "protobuf", "protobuf limits", "queries", ...: a line's first word(s) */
extern const char *const counter_line_names[CLINE_N];

enum counter_kind {
	CK_U64,   /* a uint64_t */
	CK_DBL,   /* a double, exposed and logged with 3 decimals */
	CK_CUSTOM /* the family's samples are made by the caller (metrics.c); not logged */
};

struct counter_def {
	enum counter_src src;
	enum counter_kind kind;
	size_t off; /* offsetof(struct counter_values, ...) */
	enum counter_line line;
	const char *key;    /* its key on that line (key=value) */
	const char *family; /* the Prometheus family; NULL: logged only */
	const char *type;   /* "counter", "gauge", "histogram" */
	const char *label;  /* NULL: a family without labels */
	const char *label_value;
	const char *help;         /* the family's HELP, on its first entry */
	const char *const *words; /* the log shows words[value] (values below nwords) */
	unsigned nwords;
};

extern const struct counter_def counter_defs[];
extern const size_t counter_ndefs;

/* A growing text buffer; on out of memory it stops growing and sets oom */
struct ctext {
	char *buf;
	size_t len, cap;
	int oom;
};
void ctext_printf(struct ctext *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * One stats line ("queries udp=1 tcp=0 ..."), without the "counters: "
 * prefix, into buf (truncated to size). Returns 0 when the line is not
 * logged: its first entry's source is not present. Entries whose source is
 * not present are left out.
 */
int counters_line(const struct counter_values *v, enum counter_line line, char *buf, size_t size);
/* Logs every present line at level info as "<when>: <line>" */
void counters_log(const struct counter_values *v, const char *when);

/*
 * Appends the Prometheus families of the present sources (# HELP, # TYPE
 * and the samples, in the table's order); a CK_CUSTOM family gets its HELP
 * and TYPE here and its samples from custom(o, def, arg).
 */
void counters_prometheus(const struct counter_values *v, struct ctext *o,
			 void (*custom)(struct ctext *o, const struct counter_def *d, void *arg),
			 void *arg);

#endif
