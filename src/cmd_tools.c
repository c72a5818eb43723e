/* cmd_tools.c: `recmesh hot` and `recmesh events`, the read-only views; see recmesh(1) */
#include "config.h"

#include "commands.h"
#include "event.h"
#include "fleet.h"
#include "hotlist.h"
#include "json.h"
#include "log.h"
#include "names.h"
#include "natsconn.h"
#include "nstable.h"
#include "options.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Common start: options, logging, the cluster name. Returns 0 or an exit status + 1 */
static int tool_start(enum rm_command cmd, const char *name, int argc, char **argv,
		      struct rm_options *o)
{
	int rc = options_parse(cmd, argc, argv, o);
	if (rc != 0)
		return rc > 0 ? 1 : 3;
	log_init("recmesh", 0, o->verbose ? LOG_LVL_DEBUG : o->quiet ? LOG_LVL_ERR : LOG_LVL_WARN);
	if (!o->cluster || !names_valid(o->cluster)) {
		fprintf(stderr, "recmesh %s: --cluster NAME is required (letters, digits, '-', '_')\n",
			name);
		return 3;
	}
	if (o->node && !names_valid(o->node)) {
		fprintf(stderr, "recmesh %s: bad --node name '%s'\n", name, o->node);
		return 3;
	}
	return 0;
}

static void json_string(FILE *out, const char *s)
{
	char esc[DNS_MAX_NAME_TEXT * 6 + 8]; /* room for every character as \u00XX */
	json_escape(esc, sizeof(esc), s);
	fprintf(out, "\"%s\"", esc);
}

int cmd_hot(int argc, char **argv)
{
	struct rm_options o;
	char err[512];
	int rc = tool_start(CMD_HOT, "hot", argc, argv, &o);
	if (rc) {
		options_free(&o);
		return rc - 1;
	}
	natsConnection *nc = natsconn_open(o.nats, "recmesh hot", 0, 3000, err, sizeof(err));
	if (!nc) {
		fprintf(stderr, "recmesh hot: %s\n", err);
		options_free(&o);
		return 1;
	}
	struct hotmerge *m = hotmerge_create();
	struct fleet_report rep;
	struct hot_item *items = calloc(o.top ? o.top : 1, sizeof(*items));
	rc = 1;
	if (!m || !items) {
		fprintf(stderr, "recmesh hot: out of memory\n");
		goto out;
	}
	if (fleet_fetch_hot(nc, o.cluster, o.max_age, o.hot_half_life, 1, m, &rep, err, sizeof(err)) < 0) {
		fprintf(stderr, "recmesh hot: %s\n", err);
		goto out;
	}
	for (size_t i = 0; i < rep.nodes; i++)
		if (!rep.node[i].used)
			fprintf(stderr, "recmesh hot: skipped node '%s': %s\n", rep.node[i].node,
				rep.node[i].why);
	if (rep.used == 0) {
		fprintf(stderr, "recmesh hot: no hot list for cluster '%s' (source: %s)\n", o.cluster,
			fleet_source_name(rep.source));
		fleet_report_free(&rep);
		goto out;
	}
	size_t n = hotmerge_top(m, items, o.top);
	if (!o.json)
		printf("# %zu of %zu names from %zu node list(s), source %s\n%-6s %12s %-8s %s\n", n,
		       hotmerge_count(m), rep.used, fleet_source_name(rep.source), "RANK", "SCORE",
		       "QTYPE", "QNAME");
	for (size_t i = 0; i < n; i++) {
		char name[DNS_MAX_NAME_TEXT], type[16];
		dnsmsg_name_to_text(items[i].qname, items[i].qname_len, name, sizeof(name));
		dnsmsg_type_to_text(items[i].qtype, type);
		if (o.json) {
			printf("{\"rank\":%zu,\"qname\":", i + 1);
			json_string(stdout, name);
			printf(",\"qtype\":\"%s\",\"score\":%.3f}\n", type, items[i].score);
		} else {
			printf("%-6zu %12.3f %-8s %s\n", i + 1, items[i].score, type, name);
		}
	}
	fleet_report_free(&rep);
	rc = 0;
out:
	free(items);
	hotmerge_destroy(m);
	natsconn_close(nc);
	nats_Close();
	options_free(&o);
	return rc;
}

struct events_ctx {
	int json;
	const char *node;
	unsigned long long printed, limit; /* limit 0: no limit */
};

static void print_event(const struct rm_event *ev, void *arg)
{
	struct events_ctx *x = arg;
	char line[2048];
	if (x->limit && x->printed >= x->limit)
		return;
	x->printed++;
	if (x->json) {
		if (event_to_json(ev, line, sizeof(line)) > 0) {
			/* add the node: replace the closing brace */
			line[strlen(line) - 1] = '\0';
			printf("%s,\"node\":", line);
			json_string(stdout, x->node);
			printf("}\n");
		}
		return;
	}
	char name[DNS_MAX_NAME_TEXT], type[16], rcode[16];
	dnsmsg_name_to_text(ev->qname, ev->qname_len, name, sizeof(name));
	printf("%llu.%06llu %s %s %s %s %s%s%s%s%s %uus\n",
	       (unsigned long long)(ev->time_us / 1000000), (unsigned long long)(ev->time_us % 1000000),
	       x->node, name, dnsmsg_type_to_text(ev->qtype, type), dnsmsg_rcode_to_text(ev->rcode, rcode),
	       (ev->flags & EV_TCP) ? "tcp" : "udp", (ev->flags & EV_RD) ? " rd" : "",
	       (ev->flags & EV_CD) ? " cd" : "", (ev->flags & EV_DO) ? " do" : "",
	       (ev->flags & EV_AD) ? " ad" : "", ev->latency_us);
}

static volatile sig_atomic_t events_stop;

static void on_events_signal(int sig)
{
	events_stop = 1;
}

int cmd_events(int argc, char **argv)
{
	struct rm_options o;
	char err[512], subject[256];
	int rc = tool_start(CMD_EVENTS, "events", argc, argv, &o);
	if (rc) {
		options_free(&o);
		return rc - 1;
	}
	natsConnection *nc = natsconn_open(o.nats, "recmesh events", 0, 3000, err, sizeof(err));
	if (!nc) {
		fprintf(stderr, "recmesh events: %s\n", err);
		options_free(&o);
		return 1;
	}
	names_traffic_subject(subject, sizeof(subject), o.cluster, o.node);
	natsSubscription *sub = NULL;
	natsStatus s = natsConnection_SubscribeSync(&sub, nc, subject);
	if (s == NATS_OK)
		s = natsConnection_Flush(nc);
	if (s != NATS_OK) {
		fprintf(stderr, "recmesh events: cannot subscribe to '%s': %s\n", subject,
			natsStatus_GetText(s));
		natsconn_close(nc);
		options_free(&o);
		return 1;
	}
	signal(SIGINT, on_events_signal);
	signal(SIGTERM, on_events_signal);
	setvbuf(stdout, NULL, _IOLBF, 0);
	fprintf(stderr, "recmesh events: listening on '%s'\n", subject);
	unsigned long long bad = 0;
	double idle = 0;
	struct events_ctx x = {o.json, "", 0, o.count};
	rc = 0;
	while (!events_stop && (o.count == 0 || x.printed < o.count)) {
		natsMsg *msg = NULL;
		s = natsSubscription_NextMsg(&msg, sub, 200);
		if (s == NATS_TIMEOUT) {
			idle += 0.2;
			if (o.timeout > 0 && idle >= o.timeout) {
				fprintf(stderr, "recmesh events: no event for %.1f s\n", o.timeout);
				rc = 1;
				break;
			}
			continue;
		}
		if (s == NATS_SLOW_CONSUMER) {
			fprintf(stderr, "recmesh events: too slow, NATS dropped events for this reader\n");
			continue;
		}
		if (s != NATS_OK) {
			fprintf(stderr, "recmesh events: lost the connection to NATS: %s\n",
				natsStatus_GetText(s));
			rc = 1;
			break;
		}
		idle = 0;
		const char *subj = natsMsg_GetSubject(msg);
		const char *last = strrchr(subj, '.');
		x.node = last ? last + 1 : subj;
		const char *why = NULL;
		const uint8_t *data = (const uint8_t *)natsMsg_GetData(msg);
		size_t len = (size_t)natsMsg_GetDataLength(msg);
		/* check the whole batch first: a bad batch prints nothing, not its first events */
		if (event_batch_decode(data, len, NULL, NULL, &why) < 0) {
			bad++;
			fprintf(stderr, "recmesh events: ignoring a bad batch on '%s': %s\n", subj, why);
		} else {
			event_batch_decode(data, len, print_event, &x, &why);
		}
		natsMsg_Destroy(msg);
	}
	fprintf(stderr, "recmesh events: %llu events, %llu bad batches\n", x.printed, bad);
	natsSubscription_Destroy(sub);
	natsconn_close(nc);
	nats_Close();
	options_free(&o);
	return rc;
}

int cmd_ns(int argc, char **argv)
{
	struct rm_options o;
	char err[512], a[64];
	int rc = tool_start(CMD_NS, "ns", argc, argv, &o);
	if (rc) {
		options_free(&o);
		return rc - 1;
	}
	natsConnection *nc = natsconn_open(o.nats, "recmesh ns", 0, 3000, err, sizeof(err));
	if (!nc) {
		fprintf(stderr, "recmesh ns: %s\n", err);
		options_free(&o);
		return 1;
	}
	struct nstable_merge *m = nstable_merge_create();
	struct nstable_item *items = NULL;
	size_t n = 0;
	rc = 1;
	int tables = m ? fleet_fetch_ns(nc, o.cluster, o.max_age, m, err, sizeof(err)) : -1;
	if (tables < 0) {
		fprintf(stderr, "recmesh ns: %s\n", m ? err : "out of memory");
		goto out;
	}
	if (tables == 0) {
		fprintf(stderr, "recmesh ns: no authoritative-server table for cluster '%s'\n", o.cluster);
		goto out;
	}
	items = nstable_merge_items(m, &n);
	if (!o.json)
		printf("# %zu servers from %d node table(s)\n%-40s %-5s %9s %9s %9s %6s %5s\n", n, tables,
		       "ADDRESS", "STATE", "RTT_MS", "ANSWERS", "TIMEOUTS", "STREAK", "NODES");
	for (size_t i = 0; i < n; i++) {
		const struct nstable_item *it = &items[i];
		const char *state = nstable_state_name(nstable_state_of(it));
		nstable_addr_text(it, a, sizeof(a));
		if (o.json)
			printf("{\"address\":\"%s\",\"state\":\"%s\",\"rtt_ms\":%.3f,\"answers\":%llu,"
			       "\"timeouts\":%llu,\"streak\":%u,\"nodes\":%u,\"last_seen\":%.3f}\n",
			       a, state, it->srtt_ms, (unsigned long long)it->answers,
			       (unsigned long long)it->timeouts, it->streak, it->nodes, it->last_seen);
		else
			printf("%-40s %-5s %9.1f %9llu %9llu %6u %5u\n", a, state, it->srtt_ms,
			       (unsigned long long)it->answers, (unsigned long long)it->timeouts,
			       it->streak, it->nodes);
	}
	rc = 0;
out:
	free(items);
	nstable_merge_destroy(m);
	natsconn_close(nc);
	nats_Close();
	options_free(&o);
	return rc;
}
