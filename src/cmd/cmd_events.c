/* cmd_events.c: `recmesh events`, the live traffic events of a cluster; see recmesh(1) and doc/events.md */
#include "config.h"

#include "base/json.h"
#include "base/names.h"
#include "cmd/cmd_common.h"
#include "cmd/commands.h"
#include "dns/event.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

struct events_ctx {
	int json;
	const char *node; /* the subject's last token: valid while its message lives */
	unsigned long long printed, limit; /* limit 0: no limit */
};

static void print_event(const struct rm_event *ev, void *arg)
{
	struct events_ctx *x = arg;
	char line[8192];
	struct json j;
	if (x->limit && x->printed >= x->limit)
		return;
	x->printed++;
	if (x->json) {
		json_init(&j, line, sizeof(line));
		json_obj_begin(&j);
		if (event_json_fields(&j, ev) == 0) {
			json_kstr(&j, "node", x->node);
			json_obj_end(&j);
			json_print(&j, stdout);
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

static atomic_int events_stop; /* set by SIGINT/SIGTERM (lock-free: safe in a handler) */

static void on_events_signal(int sig)
{
	atomic_store(&events_stop, 1);
}

int cmd_events(int argc, char **argv)
{
	struct rm_options o;
	char err[512], subject[256];
	int rc;
	struct natslink *link = NULL;
	natsConnection *nc = cmd_common_start(CMD_EVENTS, "events", argc, argv, &o, &link, &rc);
	if (!nc)
		return rc;
	names_traffic_subject(subject, sizeof(subject), o.cluster, o.node);
	natsSubscription *sub = NULL;
	natsStatus s = natsConnection_SubscribeSync(&sub, nc, subject);
	if (s == NATS_OK)
		s = natsConnection_Flush(nc);
	if (s != NATS_OK) {
		fprintf(stderr, "recmesh events: cannot subscribe to '%s': %s\n", subject,
			natsStatus_GetText(s));
		natsSubscription_Destroy(sub);
		cmd_common_finish(nc, link, &o);
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
	while (!atomic_load(&events_stop) && (o.count == 0 || x.printed < o.count)) {
		natsMsg *msg = NULL;
		s = natsSubscription_NextMsg(&msg, sub, 200);
		if (s == NATS_TIMEOUT) {
			natslink_log(link); /* what the connection said meanwhile */
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
			natslink_log(link);
			fprintf(stderr, "recmesh events: lost the connection to NATS: %s\n",
				natsStatus_GetText(s));
			rc = 1;
			break;
		}
		idle = 0;
		const char *subj = natsMsg_GetSubject(msg);
		const char *last = strrchr(subj, '.');
		x.node = last ? last + 1 : subj;
		const uint8_t *data = (const uint8_t *)natsMsg_GetData(msg);
		size_t len = (size_t)natsMsg_GetDataLength(msg);
		/* check the whole batch first: a bad batch prints nothing, not its first events */
		if (event_batch_decode(data, len, NULL, NULL, err, sizeof(err)) < 0) {
			bad++;
			fprintf(stderr, "recmesh events: ignoring a bad batch on '%s': %s\n", subj, err);
		} else {
			event_batch_decode(data, len, print_event, &x, err, sizeof(err));
		}
		natsMsg_Destroy(msg);
	}
	fprintf(stderr, "recmesh events: %llu events, %llu bad batches\n", x.printed, bad);
	natsSubscription_Destroy(sub);
	cmd_common_finish(nc, link, &o);
	return rc;
}
