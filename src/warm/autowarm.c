/*
 * autowarm.c: the proxy's watcher thread; see autowarm.h.
 *
 * The loop: sleep a second, probe, read the uptime (only when the probe
 * was answered and a socket directory is known), step the restart
 * detector, and on "is back" or "restarted" run the warm-up pipeline. It
 * does not probe while a warm-up runs; a restart during one is still
 * noticed afterwards (by the probes, or by the uptime).
 */
#include "config.h"

#include "warm/autowarm.h"

#include "net/recphase.h"
#include "net/recstate.h"

#include "base/log.h"
#include "warm/reccontrol.h"
#include "warm/replay.h"
#include "warm/restart.h"
#include "warm/warmup.h"

#include "base/clock.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct autowarm {
	struct autowarm_config cfg;
	char *upstream, *nats, *cluster, *sockdir, *intel_file;
	struct recstate *rec, *own_rec; /* cfg.rec, or own_rec made here */
	pthread_t thread;
	atomic_int stop;
	atomic_uint_fast64_t runs, failed, names, answered, timeouts, servfails;
	atomic_int phase; /* enum rec_phase, loaded by the proxy's data path */
	struct replay_progress live; /* the running warm-up's progress (/metrics) */
};

static void add_sat(atomic_uint_fast64_t *c, uint64_t v)
{
	uint64_t old = atomic_load(c), nv;
	do {
		nv = old + v < old ? UINT64_MAX : old + v;
	} while (!atomic_compare_exchange_weak(c, &old, nv));
}

static void say_log(void *ctx, int level, const char *msg)
{
	log_msg(level, "auto-warm: %s", msg);
}

static void run_warm(struct autowarm *a, const char *why)
{
	char err[512], text[4096];
	struct warmup_result res;
	log_info("upstream '%s' %s: warming it up", a->upstream, why);
	struct warmup_config wc = {
		.nats_url = a->nats,
		.nats_name = "recmesh auto-warm",
		.cluster = a->cluster,
		.target = a->upstream,
		.intel_file = a->intel_file,
		.max_age = a->cfg.max_age,
		.half_life = a->cfg.half_life,
		.top = a->cfg.top,
		.sample = a->cfg.sample,
		.qps = a->cfg.qps,
		.max_qps = a->cfg.max_qps,
		.concurrency = a->cfg.concurrency,
		.query_timeout = a->cfg.query_timeout,
		.wait_timeout = a->cfg.wait_timeout,
		.nats_timeout = a->cfg.nats_timeout,
		.intel_wait = AUTOWARM_INTEL_WAIT,
		.stop = &a->stop,
		.live = &a->live,
		.warmed = a->cfg.warmed,
		.say = say_log,
	};
	int rc = warmup_run(&wc, &res, err, sizeof(err));
	/*
	 * The lists, the merge and the replay's tables are freed by now; hand
	 * the memory back to the system so that the proxy returns to its
	 * baseline size instead of keeping the warm-up's peak.
	 */
	malloc_trim(0);
	if (rc < 0) {
		add_sat(&a->failed, 1);
		log_warn("auto-warm of '%s' failed: %s", a->upstream, err);
		return;
	}
	add_sat(&a->runs, 1);
	add_sat(&a->names, res.names);
	add_sat(&a->answered, res.answered);
	add_sat(&a->timeouts, res.timeouts);
	add_sat(&a->servfails, res.rcodes[2]);
	warmup_summary_text(&res, a->upstream, "; ", text, sizeof(text));
	log_info("auto-warm: %s", text);
	warmup_result_free(&res);
}

static void nap(struct autowarm *a, double seconds)
{
	for (int i = 0; i < (int)(seconds * 10) && !atomic_load(&a->stop); i++) {
		struct timespec ts = {0, 100000000};
		nanosleep(&ts, NULL);
	}
}

static void *watch(void *arg)
{
	struct autowarm *a = arg;
	struct restart det;
	char err[256];
	int uptime_warned = 0, ref_said = 0;
	uint64_t seen_downs = recstate_certain_downs(a->rec);
	restart_init(&det);
	while (!atomic_load(&a->stop)) {
		nap(a, 1.0);
		if (atomic_load(&a->stop))
			break;
		int rcode;
		uint64_t sent = clock_mono_ns();
		int rc_probe = replay_probe(a->upstream, 1.0, &rcode), ok = rc_probe == 0;
		recstate_probed(a->rec, rc_probe, "the auto-warm's", sent, clock_mono_ns());
		/*
		 * A certain down since the last look, by anyone (a refusal, the
		 * probes; client queries timing out may be slow names, and are
		 * the shield's alone), is a down even when it is over
		 */
		uint64_t downs = recstate_certain_downs(a->rec);
		enum restart_event seen = RESTART_NONE;
		enum recstate_cause cause = recstate_cause(a->rec);
		if (downs != seen_downs) {
			seen_downs = downs;
			seen = restart_seen_down(&det);
		}
		/* down is the recstate's to say: its own probe lost once, or no socket here, is not */
		int answered = ok;
		ok = !(recstate_down(a->rec) && cause != RECSTATE_TIMEOUTS);
		long up = -1;
		/* the time before rec_control starts: a slow read widens the start's interval (restart.h) */
		double now = clock_mono(), took = 0;
		if (ok && answered && a->sockdir) {
			int rc = reccontrol_get(a->sockdir, "uptime", 3.0, &up, err, sizeof(err));
			took = clock_mono() - now;
			if (rc < 0) {
				up = -1;
				if (!uptime_warned)
					log_warn("auto-warm: cannot read the uptime of '%s' from '%s': %s",
						 a->upstream, a->sockdir, err);
				uptime_warned = 1;
			} else {
				uptime_warned = 0;
			}
		}
		enum restart_event e = restart_step(&det, ok, up, now, took);
		if (seen == RESTART_DOWN && e == RESTART_NONE)
			e = RESTART_DOWN;
		else if (seen == RESTART_DOWN) /* down and back between two looks: said, then warmed */
			log_warn("upstream '%s' was down (%s) and answers again: warming it up", a->upstream,
				 recstate_cause_text(cause));
		if (det.known && !ref_said) {
			/* from now on a restart shows as an uptime that went back */
			ref_said = 1;
			log_info("auto-warm: upstream '%s' up for %ld s: a restart from now on is warmed", a->upstream,
				 up);
		}
		if (e == RESTART_DOWN)
			log_warn("upstream '%s' does not answer; will warm it up when it is back", a->upstream);
		/* the phase accessor's lines: down until back, warming while a warm-up runs */
		if (e == RESTART_DOWN)
			atomic_store(&a->phase, REC_PHASE_DOWN);
		else if (e == RESTART_BACK || e == RESTART_UPTIME) {
			/* the restarted Recursor's cache is empty: so is the set its replay fills */
			if (a->cfg.warmed)
				warmset_clear(a->cfg.warmed);
			atomic_store(&a->phase, REC_PHASE_WARMING);
		}
		if (e == RESTART_BACK || e == RESTART_UPTIME) {
			run_warm(a, restart_event_text(e));
			atomic_store(&a->phase, REC_PHASE_IDLE);
		}
	}
	return NULL;
}

static void free_strings(struct autowarm *a)
{
	free(a->upstream);
	free(a->nats);
	free(a->cluster);
	free(a->sockdir);
	free(a->intel_file);
	recstate_destroy(a->own_rec);
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
	a->intel_file = cfg->intel_file && *cfg->intel_file ? strdup(cfg->intel_file) : NULL;
	if (!(a->rec = cfg->rec))
		a->rec = a->own_rec = recstate_create(cfg->upstream);
	atomic_init(&a->stop, 0);
	atomic_init(&a->phase, REC_PHASE_IDLE);
	if (!a->upstream || !a->nats || !a->cluster || !a->rec || (cfg->rec_socket_dir && !a->sockdir) ||
	    (cfg->intel_file && *cfg->intel_file && !a->intel_file) ||
	    pthread_create(&a->thread, NULL, watch, a) != 0) {
		free_strings(a);
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
	atomic_store(&a->stop, 1);
	pthread_join(a->thread, NULL);
	free_strings(a);
	free(a);
}

void autowarm_get_stats(const struct autowarm *a, struct autowarm_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!a)
		return;
	st->runs = atomic_load(&a->runs);
	st->failed = atomic_load(&a->failed);
	st->names = atomic_load(&a->names);
	st->answered = atomic_load(&a->answered);
	st->timeouts = atomic_load(&a->timeouts);
	st->servfails = atomic_load(&a->servfails);
	st->running = atomic_load(&a->phase) == REC_PHASE_WARMING;
	st->planned = atomic_load(&a->live.total);
	st->done = atomic_load(&a->live.done);
}

const atomic_int *autowarm_phase(const struct autowarm *a)
{
	return &a->phase;
}
