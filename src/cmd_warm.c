/* cmd_warm.c: `recmesh warm`, run right after a Recursor restart; see recmesh(1) */
#include "config.h"

#include "clock.h"
#include "commands.h"
#include "fleet.h"
#include "hotlist.h"
#include "log.h"
#include "names.h"
#include "natsconn.h"
#include "netaddr.h"
#include "options.h"
#include "warm.h"

#include <nats/nats.h>
#include <time.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile int warm_stop;


static void on_signal(int sig)
{
	warm_stop = 1;
}

static void print_summary(const struct warm_result *r, const struct fleet_report *rep, int json,
			  const char *target)
{
	static const char *const names[16] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
					      "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
					      "NXRRSET", "NOTAUTH", "NOTZONE", "RCODE11",
					      "RCODE12", "RCODE13", "RCODE14", "OTHER"};
	double rate = r->seconds > 0 ? r->answered / r->seconds : 0;
	if (json) {
		printf("{\"target\":\"%s\",\"source\":\"%s\",\"lists\":%zu,\"names\":%zu,\"sent\":%zu,"
		       "\"answered\":%zu,\"timeouts\":%zu,\"send_errors\":%zu,\"seconds\":%.3f,"
		       "\"rate\":%.1f,\"stopped\":%s,\"rcodes\":{",
		       target, fleet_source_name(rep->source), rep->used, r->total, r->sent, r->answered,
		       r->timeouts, r->send_errors, r->seconds, rate, r->stopped ? "true" : "false");
		int first = 1;
		for (int i = 0; i < 16; i++)
			if (r->rcodes[i]) {
				printf("%s\"%s\":%zu", first ? "" : ",", names[i], r->rcodes[i]);
				first = 0;
			}
		printf("}}\n");
		return;
	}
	printf("warm-up of '%s'%s: %zu names from %zu node list(s) (source %s) in %.1f s, %.0f answers/s\n",
	       target, r->stopped ? " (stopped early)" : "", r->total, rep->used,
	       fleet_source_name(rep->source), r->seconds, rate);
	printf("  answered %zu:", r->answered);
	for (int i = 0; i < 16; i++)
		if (r->rcodes[i])
			printf(" %s %zu", names[i], r->rcodes[i]);
	printf("\n  timeouts %zu, send errors %zu\n", r->timeouts, r->send_errors);
}

/*
 * Writes the fleet's authoritative-server intelligence for the Recursor's
 * Lua script. Returns 1 when a file was written, 0 when there was nothing to
 * write or it failed (the warm-up goes on without it: it is an aid).
 */
static int write_intel(natsConnection *nc, const struct rm_options *o)
{
	char err[512];
	struct fleet_intel fi;
	int say = !o->quiet && !o->json;
	if (fleet_write_intel(nc, o->cluster, o->max_age, o->intel_file, 0, &fi, err, sizeof(err)) < 0) {
		fprintf(stderr, "recmesh warm: no authoritative-server intelligence: %s\n", err);
		return 0;
	}
	if (!fi.written) {
		if (say)
			fprintf(stderr, "recmesh warm: no authoritative-server intelligence in NATS\n");
		return 0;
	}
	if (say)
		fprintf(stderr, "recmesh warm: wrote '%s': %d dead of %zu servers from %d node table(s)\n",
			o->intel_file, fi.dead, fi.servers, fi.tables);
	return 1;
}

int cmd_warm(int argc, char **argv)
{
	struct rm_options o;
	char err[512];
	struct hot_item *items = NULL;
	size_t n = 0;
	struct fleet_report rep = {0};
	struct warm_result res;
	natsConnection *nc = NULL;
	int rc = options_parse(CMD_WARM, argc, argv, &o);
	if (rc != 0) {
		options_free(&o);
		return rc > 0 ? 0 : 2;
	}
	log_init("recmesh", 0, o.verbose ? LOG_LVL_DEBUG : o.quiet ? LOG_LVL_ERR : LOG_LVL_WARN);
	if (!o.target || !o.cluster || !names_valid(o.cluster)) {
		fprintf(stderr, "recmesh warm: --target ADDR:PORT and --cluster NAME are required\n"
				"Try 'recmesh warm --help'.\n");
		options_free(&o);
		return 2;
	}
	if (o.qps == 0 || o.concurrency == 0 || o.concurrency > 60000 || o.top == 0) {
		fprintf(stderr, "recmesh warm: --qps, --top and --concurrency (at most 60000) must be positive\n");
		options_free(&o);
		return 2;
	}
	struct netaddr na;
	if (netaddr_parse(o.target, 53, &na) < 0) {
		fprintf(stderr, "recmesh warm: bad --target '%s' (expected ADDR:PORT)\n", o.target);
		options_free(&o);
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	rc = 1;
	/* one connection for the hot list and the intelligence */
	if (!(nc = natsconn_open(o.nats, "recmesh warm", 0, 3000, err, sizeof(err)))) {
		fprintf(stderr, "recmesh warm: %s\n", err);
		goto out;
	}
	if (fleet_top(nc, o.cluster, o.max_age, o.hot_half_life, o.top, &items, &n, &rep, err, sizeof(err)) < 0) {
		fprintf(stderr, "recmesh warm: %s\n", err);
		goto out;
	}
	for (size_t i = 0; i < rep.nodes; i++)
		if (!rep.node[i].used)
			fprintf(stderr, "recmesh warm: skipped node '%s': %s\n", rep.node[i].node,
				rep.node[i].why);
	if (rep.used == 0 || n == 0) {
		fprintf(stderr, "recmesh warm: no usable hot list for cluster '%s' (source: %s)\n",
			o.cluster, fleet_source_name(rep.source));
		goto out;
	}
	if (!o.quiet && !o.json)
		fprintf(stderr, "recmesh warm: %zu names from %zu node list(s) (source %s); waiting for '%s'\n",
			n, rep.used, fleet_source_name(rep.source), o.target);
	/*
	 * The intelligence file first: a Recursor that starts after it was
	 * written loads it at once; one that is already up loads it within
	 * lua-maintenance-interval, so the replay waits until --intel-wait has
	 * passed since the file was written.
	 */
	double intel_written = -1;
	if (o.intel_file && *o.intel_file && write_intel(nc, &o) > 0)
		intel_written = clock_mono();
	if (warm_wait_target(o.target, o.wait_timeout, &warm_stop) < 0) {
		if (warm_stop)
			fprintf(stderr, "recmesh warm: interrupted while waiting for '%s'\n", o.target);
		else
			fprintf(stderr, "recmesh warm: target '%s' did not answer within %.0f s\n",
				o.target, o.wait_timeout);
		goto out;
	}
	if (intel_written >= 0) {
		double rest = o.intel_wait - (clock_mono() - intel_written);
		if (rest > 0) {
			struct timespec ts = {(time_t)rest, (long)((rest - (time_t)rest) * 1e9)};
			nanosleep(&ts, NULL);
		}
	}
	struct warm_config wc = {
		.target = o.target,
		.qps = o.qps,
		.concurrency = o.concurrency,
		.query_timeout = o.query_timeout,
		.progress = !o.json && !o.quiet && isatty(STDERR_FILENO),
		.stop = &warm_stop,
	};
	if (warm_run(&wc, items, n, &res, err, sizeof(err)) < 0) {
		fprintf(stderr, "recmesh warm: %s\n", err);
		goto out;
	}
	print_summary(&res, &rep, o.json, o.target);
	rc = res.stopped ? 1 : 0;
out:
	fleet_report_free(&rep);
	free(items);
	natsconn_close(nc);
	nats_Close();
	options_free(&o);
	return rc;
}
