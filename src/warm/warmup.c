/* warmup.c: the one warm-up pipeline; see warmup.h */
#include "config.h"

#include "warm/warmup.h"

#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "dns/dnsmsg.h"
#include "nats/intel.h"
#include "nats/natsconn.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char *const rcode_names[16] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
					    "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
					    "NXRRSET", "NOTAUTH", "NOTZONE", "RCODE11",
					    "RCODE12", "RCODE13", "RCODE14", "OTHER"};

static void say(const struct warmup_config *cfg, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(const struct warmup_config *cfg, int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	if (!cfg->say)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cfg->say(cfg->say_ctx, level, msg);
}

/* What the warm-up's connection had to say (natslink.h), said the warm-up's way */
static void say_news(const struct warmup_config *cfg, struct natslink *link)
{
	int level;
	char text[NATSLINK_LINE_MAX];
	while (natslink_next(link, &level, text, sizeof(text)))
		say(cfg, level, "%s", text);
}

/* What a read of the fleet had to say (notes.h), the same way */
static void say_notes(const struct warmup_config *cfg, struct notes *n)
{
	int level;
	char text[NOTES_LINE_MAX];
	while (notes_next(n, &level, text, sizeof(text)))
		say(cfg, level, "%s", text);
}

/* Sleeps for seconds, waking up early when *stop is set */
static void nap(double seconds, atomic_int *stop)
{
	double end = clock_mono() + seconds;
	for (;;) {
		double rest = end - clock_mono();
		if (rest <= 0 || (stop && atomic_load(stop)))
			return;
		if (rest > 0.1)
			rest = 0.1;
		struct timespec ts = {0, (long)(rest * 1e9)};
		nanosleep(&ts, NULL);
	}
}

/*
 * The intelligence file. Returns 1 when a file was written, 0 when there
 * was nothing to write or it failed (the warm-up goes on without it).
 */
static int write_intel(natsConnection *nc, const struct warmup_config *cfg, struct intel_refresh *fi)
{
	char err[512];
	int rc = intel_refresh_from_fleet(nc, cfg->cluster, cfg->max_age, cfg->intel_file, 0, fi, err,
					  sizeof(err));
	say_notes(cfg, &fi->notes);
	if (rc < 0) {
		say(cfg, LOG_LVL_WARN, "no authoritative-server intelligence: %s", err);
		return 0;
	}
	if (!fi->written) {
		say(cfg, LOG_LVL_INFO, "no authoritative-server intelligence in NATS");
		return 0;
	}
	say(cfg, LOG_LVL_INFO, "wrote '%s': %d dead of %zu servers, %zu ns line(s), from %d node table(s)",
	    cfg->intel_file, fi->dead, fi->servers, fi->ns_lines, fi->tables);
	return 1;
}

/* What the connection has read so far, in bytes */
static uint64_t in_bytes(natsConnection *nc)
{
	natsStatistics *st = NULL;
	uint64_t msgs = 0, bytes = 0;
	if (natsStatistics_Create(&st) == NATS_OK && natsConnection_GetStats(nc, st) == NATS_OK)
		natsStatistics_GetCounts(st, &msgs, &bytes, NULL, NULL, NULL);
	natsStatistics_Destroy(st);
	return bytes;
}

int warmup_run(const struct warmup_config *cfg, struct warmup_result *res, char *err, size_t err_size)
{
	struct warmup_result r;
	struct fleet_report rep;
	struct hot_item *items = NULL;
	size_t n = 0;
	natsConnection *nc = NULL;
	struct natslink *link = natslink_new();
	int rc = -1;

	double t0 = clock_mono();
	memset(&r, 0, sizeof(r));
	memset(&rep, 0, sizeof(rep));
	/* one connection for the hot lists and the intelligence */
	if (!link) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	nc = natsconn_open(link, cfg->nats_url, cfg->nats_name, 0, 3000, err, err_size);
	say_news(cfg, link);
	if (!nc)
		goto out;
	int got = fleet_top(nc, cfg->cluster, cfg->max_age, cfg->half_life, cfg->nats_timeout,
			    cfg->sample, cfg->top, &items, &n, &rep, err, err_size);
	say_notes(cfg, &rep.notes); /* what the read had to say, failed or not */
	if (got < 0)
		goto out;
	r.fetch_seconds = clock_mono() - t0;
	r.nats_bytes = in_bytes(nc);
	r.source = fleet_source_name(rep.source);
	r.heads = rep.heads;
	r.merge_used = rep.merge_used;
	snprintf(r.merge_node, sizeof(r.merge_node), "%s", rep.merge_node);
	snprintf(r.merge_why, sizeof(r.merge_why), "%s", rep.merge_why);
	if (rep.source == FLEET_SOURCE_REQUEST) {
		snprintf(r.fallback, sizeof(r.fallback), "%s", rep.fallback);
		say(cfg, LOG_LVL_WARN, "the bucket did not serve (%s): asked the running nodes",
		    rep.fallback);
	}
	r.lists = rep.used;
	r.names = n;
	for (size_t i = 0; i < rep.nodes; i++) {
		if (rep.node[i].used)
			continue;
		say(cfg, LOG_LVL_WARN, "skipped node '%s': %s", rep.node[i].node, rep.node[i].why);
		struct warmup_skipped *s = realloc(r.skipped, (r.nskipped + 1) * sizeof(*s));
		if (!s)
			continue; /* said; only the summary lacks it */
		r.skipped = s;
		snprintf(s[r.nskipped].node, sizeof(s->node), "%s", rep.node[i].node);
		snprintf(s[r.nskipped].why, sizeof(s->why), "%s", rep.node[i].why);
		r.nskipped++;
	}
	if (rep.used == 0 || n == 0) {
		snprintf(err, err_size, "no usable hot list for cluster '%s' (source: %s%s%s)",
			 cfg->cluster, r.source, r.fallback[0] ? ", after: " : "", r.fallback);
		goto out;
	}
	say(cfg, LOG_LVL_INFO, "%zu names from %zu node list(s) (source %s); waiting for '%s'", n, rep.used,
	    r.source, cfg->target);
	/*
	 * The intelligence file first: a Recursor that starts after it was
	 * written loads it at once; one that is already up reads it a slice
	 * per maintenance() call (intel_load_seconds), so the replay waits
	 * until that time, and at least intel_wait, has passed since the file
	 * was written.
	 */
	double intel_at = -1, intel_wait = cfg->intel_wait;
	if (cfg->intel_file && *cfg->intel_file && write_intel(nc, cfg, &r.intel) > 0) {
		struct stat st;
		intel_at = clock_mono();
		r.intel_written = 1;
		double load = stat(cfg->intel_file, &st) == 0
				      ? intel_load_seconds((size_t)st.st_size, r.intel.ns_lines)
				      : 0;
		if (load > intel_wait) {
			intel_wait = load;
			say(cfg, LOG_LVL_INFO,
			    "a running Recursor takes in '%s' in about %.0f s: the replay waits for it",
			    cfg->intel_file, load);
		}
	}
	/* the lists are in hand: NATS is not needed while the Recursor starts */
	natsconn_close(link, nc);
	nc = NULL;
	say_news(cfg, link);
	if (replay_wait_ready(cfg->target, cfg->wait_timeout, cfg->stop, err, err_size) < 0)
		goto out;
	if (intel_at >= 0)
		nap(intel_wait - (clock_mono() - intel_at), cfg->stop);
	struct replay_config rc_cfg = {
		.target = cfg->target,
		.qps = cfg->qps,
		.max_qps = cfg->max_qps,
		.concurrency = cfg->concurrency,
		.query_timeout = cfg->query_timeout,
		.progress = cfg->progress,
		.live = cfg->live,
		.stop = cfg->stop,
		.warmed = cfg->warmed,
	};
	struct replay_result rr;
	r.first_seconds = clock_mono() - t0;
	if (replay_run(&rc_cfg, items, n, &rr, err, err_size) < 0)
		goto out;
	r.sent = rr.sent;
	r.answered = rr.answered;
	r.timeouts = rr.timeouts;
	r.send_errors = rr.send_errors;
	memcpy(r.rcodes, rr.rcodes, sizeof(r.rcodes));
	r.seconds = rr.seconds;
	r.stopped = rr.stopped;
	r.peak_qps = rr.peak_qps;
	r.final_qps = rr.final_qps;
	r.raises = rr.raises;
	r.backoffs = rr.backoffs;
	r.holds = rr.holds;
	r.send_retries = rr.send_retries;
	*res = r;
	r.skipped = NULL; /* now res's */
	rc = 0;
out:
	free(r.skipped);
	if (link) {
		natsconn_close(link, nc);
		natslink_wait(link, 2);
		say_news(cfg, link);
		natslink_drop(link);
	}
	fleet_report_free(&rep);
	free(items);
	return rc;
}

void warmup_result_free(struct warmup_result *res)
{
	if (!res)
		return;
	free(res->skipped);
	res->skipped = NULL;
	res->nskipped = 0;
}

static double answer_rate(const struct warmup_result *r)
{
	return r->seconds > 0 ? r->answered / r->seconds : 0;
}

/* Appends to buf at *len, never past size; keeps it terminated */
static void add(char *buf, size_t size, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void add(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
	va_list ap;
	if (*len >= size)
		return;
	va_start(ap, fmt);
	int k = vsnprintf(buf + *len, size - *len, fmt, ap);
	va_end(ap);
	if (k > 0)
		*len = *len + (size_t)k < size ? *len + (size_t)k : size - 1;
}

void warmup_summary_text(const struct warmup_result *r, const char *target, const char *sep, char *buf,
			 size_t size)
{
	size_t len = 0;
	if (size == 0)
		return;
	buf[0] = '\0';
	add(buf, size, &len, "warm-up of '%s'%s: %zu names from %zu node list(s) (source %s) in %.1f s, %.0f answers/s",
	    target, r->stopped ? " (stopped early)" : "", r->names, r->lists, r->source ? r->source : "-",
	    r->seconds, answer_rate(r));
	if (r->heads && r->merge_used)
		add(buf, size, &len, "%sthe fleet's merged list of node '%s', checked against %zu of %zu "
		    "node lists", sep, r->merge_node, r->lists, r->heads);
	else if (r->heads)
		add(buf, size, &len, "%s%zu of %zu node lists sampled, no merged list used (%s)", sep,
		    r->lists, r->heads, r->merge_why);
	add(buf, size, &len, "%slists read in %.2f s (%.1f MB from NATS); the replay began %.2f s after the start",
	    sep, r->fetch_seconds, (double)r->nats_bytes / 1048576.0, r->first_seconds);
	add(buf, size, &len, "%sanswered %zu:", sep, r->answered);
	for (int i = 0; i < 16; i++)
		if (r->rcodes[i])
			add(buf, size, &len, " %s %zu", rcode_names[i], r->rcodes[i]);
	add(buf, size, &len, "%stimeouts %zu, send errors %zu", sep, r->timeouts, r->send_errors);
	add(buf, size, &len, "%space up to %.0f q/s, %zu raise(s), %zu back-off(s), %zu hold(s)", sep,
	    r->peak_qps, r->raises, r->backoffs, r->holds);
	if (r->send_retries)
		add(buf, size, &len, ", %zu send(s) put off (socket buffer full)", r->send_retries);
	if (r->nskipped) {
		add(buf, size, &len, "%sskipped %zu node(s):", sep, r->nskipped);
		for (size_t i = 0; i < r->nskipped; i++)
			add(buf, size, &len, "%s '%s' (%s)", i ? "," : "", r->skipped[i].node, r->skipped[i].why);
	}
	if (r->intel_written)
		add(buf, size, &len, "%sintelligence written: %d dead of %zu servers, %zu ns line(s)", sep,
		    r->intel.dead, r->intel.servers, r->intel.ns_lines);
	else
		add(buf, size, &len, "%sno intelligence written", sep);
}

int warmup_print(const struct warmup_result *r, const char *target, int json, FILE *out)
{
	if (!json) {
		char text[4096 + 512 * 8];
		warmup_summary_text(r, target, "\n  ", text, sizeof(text));
		fprintf(out, "%s\n", text);
		return 0;
	}
	size_t size = 4096 + r->nskipped * 2048; /* a name and a reason, every byte escaped (6 each) */
	char *buf = malloc(size);
	struct json j;
	if (!buf)
		return -1;
	json_init(&j, buf, size);
	json_obj_begin(&j);
	/* the members and their order of the first recmesh warm --json: keep them */
	json_kstr(&j, "target", target);
	json_kstr(&j, "source", r->source ? r->source : "");
	json_ku64(&j, "lists", r->lists);
	json_ku64(&j, "names", r->names);
	json_ku64(&j, "sent", r->sent);
	json_ku64(&j, "answered", r->answered);
	json_ku64(&j, "timeouts", r->timeouts);
	json_ku64(&j, "send_errors", r->send_errors);
	json_knum(&j, "seconds", r->seconds, 3);
	json_knum(&j, "rate", answer_rate(r), 1);
	json_kbool(&j, "stopped", r->stopped);
	json_key(&j, "rcodes");
	json_obj_begin(&j);
	for (int i = 0; i < 16; i++)
		if (r->rcodes[i])
			json_ku64(&j, rcode_names[i], r->rcodes[i]);
	json_obj_end(&j);
	/* added later: at the end */
	json_knum(&j, "peak_qps", r->peak_qps, 0);
	json_ku64(&j, "raises", r->raises);
	json_ku64(&j, "backoffs", r->backoffs);
	json_ku64(&j, "holds", r->holds);
	json_ku64(&j, "send_retries", r->send_retries);
	json_key(&j, "skipped");
	json_arr_begin(&j);
	for (size_t i = 0; i < r->nskipped; i++) {
		json_obj_begin(&j);
		json_kstr(&j, "node", r->skipped[i].node);
		json_kstr(&j, "why", r->skipped[i].why);
		json_obj_end(&j);
	}
	json_arr_end(&j);
	json_kbool(&j, "intel_written", r->intel_written);
	json_ku64(&j, "heads", r->heads);
	json_kbool(&j, "merge_used", r->merge_used);
	json_kstr(&j, "merge_node", r->merge_node);
	json_kstr(&j, "merge_why", r->merge_why);
	json_ku64(&j, "nats_bytes", r->nats_bytes);
	json_knum(&j, "fetch_seconds", r->fetch_seconds, 3);
	json_knum(&j, "first_query_seconds", r->first_seconds, 3);
	json_obj_end(&j);
	int rc = json_print(&j, out);
	free(buf);
	return rc;
}
