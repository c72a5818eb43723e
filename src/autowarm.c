/* autowarm.c: restart detection and warm-up inside the proxy; see autowarm.h */
#include "config.h"

#include "autowarm.h"

#include "fleet.h"
#include "log.h"
#include "natsconn.h"
#include "warm.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define AUTOWARM_DOWN_PROBES 2 /* failed probes in a row that mean "gone" */

struct autowarm {
	struct autowarm_config cfg;
	char *upstream, *nats, *cluster, *sockdir;
	pthread_t thread;
	volatile int stop;
};

/* The Recursor's uptime in seconds through rec_control, or -1 */
static long rec_uptime(const char *dir)
{
	char cmd[1200];
	long up = -1;
	snprintf(cmd, sizeof(cmd), "rec_control --socket-dir='%s' --timeout=2 get uptime 2>/dev/null", dir);
	FILE *f = popen(cmd, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &up) != 1)
		up = -1;
	pclose(f);
	return up;
}

static void run_warm(struct autowarm *a, const char *why)
{
	struct hot_item *items = NULL;
	size_t n = 0;
	struct fleet_report rep;
	struct warm_result res;
	natsConnection *nc = NULL;
	char err[512];

	log_info("upstream '%s' %s: warming it up", a->upstream, why);
	memset(&rep, 0, sizeof(rep));
	if (!(nc = natsconn_open(a->nats, "recmesh auto-warm", 0, 3000, err, sizeof(err))) ||
	    fleet_top(nc, a->cluster, a->cfg.max_age, a->cfg.half_life, a->cfg.top, &items, &n, &rep, err,
		      sizeof(err)) < 0) {
		log_warn("auto-warm: %s", err);
		goto out;
	}
	if (n == 0) {
		log_warn("auto-warm: no usable hot list for cluster '%s'", a->cluster);
		goto out;
	}
	if (warm_wait_target(a->upstream, a->cfg.wait_timeout, &a->stop) < 0) {
		log_warn("auto-warm: upstream '%s' did not answer within %.0f s", a->upstream,
			 a->cfg.wait_timeout);
		goto out;
	}
	struct warm_config wc = {
		.target = a->upstream,
		.qps = a->cfg.qps,
		.concurrency = a->cfg.concurrency,
		.query_timeout = a->cfg.query_timeout,
		.stop = &a->stop,
	};
	if (warm_run(&wc, items, n, &res, err, sizeof(err)) < 0) {
		log_warn("auto-warm: %s", err);
		goto out;
	}
	log_info("auto-warm of '%s'%s: %zu names from %zu list(s) (source %s) in %.1f s: answered %zu "
		 "(NOERROR %zu, NXDOMAIN %zu, SERVFAIL %zu), timeouts %zu",
		 a->upstream, res.stopped ? " stopped early" : " done", n, rep.used,
		 fleet_source_name(rep.source), res.seconds, res.answered, res.rcodes[0], res.rcodes[3],
		 res.rcodes[2], res.timeouts);
out:
	natsconn_close(nc);
	fleet_report_free(&rep);
	free(items);
}

static void *watch(void *arg)
{
	struct autowarm *a = arg;
	int fails = 0, was_down = 0;
	long last_up = -1;
	while (!a->stop) {
		struct timespec ts = {1, 0};
		nanosleep(&ts, NULL);
		if (a->stop)
			break;
		int ok = warm_probe(a->upstream, 1.0) == 0;
		const char *why = NULL;
		if (!ok) {
			if (++fails == AUTOWARM_DOWN_PROBES) {
				was_down = 1;
				log_warn("upstream '%s' does not answer; will warm it up when it is back",
					 a->upstream);
			}
			continue;
		}
		fails = 0;
		if (was_down) {
			why = "is back";
			was_down = 0;
		}
		if (a->sockdir) {
			long up = rec_uptime(a->sockdir);
			if (up >= 0 && last_up >= 0 && up < last_up && !why)
				why = "restarted (its uptime went back)";
			if (up >= 0)
				last_up = up;
		}
		if (why) {
			run_warm(a, why);
			if (a->sockdir)
				last_up = rec_uptime(a->sockdir);
		}
	}
	return NULL;
}

struct autowarm *autowarm_create(const struct autowarm_config *cfg)
{
	struct autowarm *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->cfg = *cfg;
	a->upstream = strdup(cfg->upstream);
	a->nats = strdup(cfg->nats_url);
	a->cluster = strdup(cfg->cluster);
	a->sockdir = cfg->rec_socket_dir ? strdup(cfg->rec_socket_dir) : NULL;
	if (!a->upstream || !a->nats || !a->cluster || pthread_create(&a->thread, NULL, watch, a) != 0) {
		free(a->upstream);
		free(a->nats);
		free(a->cluster);
		free(a->sockdir);
		free(a);
		return NULL;
	}
	log_info("auto-warm on: watching upstream '%s'%s", cfg->upstream,
		 cfg->rec_socket_dir ? " and its uptime" : "");
	return a;
}

void autowarm_destroy(struct autowarm *a)
{
	if (!a)
		return;
	a->stop = 1;
	pthread_join(a->thread, NULL);
	free(a->upstream);
	free(a->nats);
	free(a->cluster);
	free(a->sockdir);
	free(a);
}
