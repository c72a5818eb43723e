/*
 * schedpol.c: the data path thread's scheduling policy and the load
 * follower of --scheduling auto; see schedpol.h.
 *
 * The follower measures the query rate between two calls that are at
 * least SCHEDPOL_MIN_INTERVAL_NS apart (the sweep timer calls it every
 * 0.1 s; a timer that fires late only makes the interval longer, the
 * rate stays right). Each measurement either points to the other policy
 * (batch: rate >= SCHEDPOL_UP_QPS; normal: rate < SCHEDPOL_DOWN_QPS) or
 * not; a run of such measurements switches, any other measurement ends
 * the run. Going up takes fewer measurements than going down: a burst
 * that saturates should be batched soon, and a quiet moment within heavy
 * load should not bring back one wake-up per packet.
 */
#include "config.h"

#include "proxy/schedpol.h"

#include "base/log.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

int schedpol_parse(const char *name, enum schedpol *out)
{
	if (!name)
		return -1;
	if (strcmp(name, "normal") == 0)
		*out = SCHEDPOL_NORMAL;
	else if (strcmp(name, "batch") == 0)
		*out = SCHEDPOL_BATCH;
	else if (strcmp(name, "auto") == 0)
		*out = SCHEDPOL_AUTO;
	else
		return -1;
	return 0;
}

const char *schedpol_name(enum schedpol p)
{
	switch (p) {
	case SCHEDPOL_NORMAL:
		return "normal";
	case SCHEDPOL_BATCH:
		return "batch";
	case SCHEDPOL_AUTO:
		return "auto";
	}
	return "?";
}

int schedpol_apply(enum schedpol p, char *err, size_t err_size)
{
	struct sched_param sp = {0};
	if (p != SCHEDPOL_NORMAL && p != SCHEDPOL_BATCH) {
		snprintf(err, err_size, "policy '%s' cannot be applied to a thread",
			 schedpol_name(p));
		return -1;
	}
	/* pid 0: the calling thread only (Linux schedules threads, not processes) */
	if (sched_setscheduler(0, p == SCHEDPOL_BATCH ? SCHED_BATCH : SCHED_OTHER, &sp) < 0) {
		snprintf(err, err_size, "cannot run the thread under %s: %s",
			 p == SCHEDPOL_BATCH ? "SCHED_BATCH" : "SCHED_OTHER", strerror(errno));
		return -1;
	}
	return 0;
}

void schedpol_follower_init(struct schedpol_follower *f)
{
	memset(f, 0, sizeof(*f));
	f->current = SCHEDPOL_NORMAL;
}

enum schedpol schedpol_follow(struct schedpol_follower *f, uint64_t now_ns, uint64_t count)
{
	if (!f->started || count < f->last_count || now_ns < f->last_ns) {
		f->started = 1;
		f->last_ns = now_ns;
		f->last_count = count;
		f->streak = 0;
		return f->current;
	}
	uint64_t dt = now_ns - f->last_ns;
	if (dt < SCHEDPOL_MIN_INTERVAL_NS)
		return f->current; /* too short to measure: the next call covers it */
	double qps = (double)(count - f->last_count) * 1e9 / (double)dt;
	f->last_ns = now_ns;
	f->last_count = count;
	f->last_qps = qps;
	int toward_other;
	unsigned needed;
	if (f->current == SCHEDPOL_NORMAL) {
		toward_other = qps >= SCHEDPOL_UP_QPS;
		needed = SCHEDPOL_UP_INTERVALS;
	} else {
		toward_other = qps < SCHEDPOL_DOWN_QPS;
		needed = SCHEDPOL_DOWN_INTERVALS;
	}
	if (!toward_other) {
		f->streak = 0;
		return f->current;
	}
	if (++f->streak >= needed) {
		f->current = f->current == SCHEDPOL_NORMAL ? SCHEDPOL_BATCH : SCHEDPOL_NORMAL;
		f->streak = 0;
	}
	return f->current;
}

int schedpol_auto_start(struct schedpol_auto *a, char *err, size_t err_size)
{
	memset(a, 0, sizeof(*a));
	schedpol_follower_init(&a->f);
	if (schedpol_apply(SCHEDPOL_NORMAL, err, err_size) < 0)
		return -1;
	a->applied = SCHEDPOL_NORMAL;
	a->on = 1;
	return 0;
}

void schedpol_auto_tick(struct schedpol_auto *a, uint64_t now_ns, uint64_t count)
{
	char err[160];
	if (!a || !a->on || a->failed)
		return;
	enum schedpol want = schedpol_follow(&a->f, now_ns, count);
	if (want == a->applied)
		return;
	if (schedpol_apply(want, err, sizeof(err)) < 0) {
		log_warn("scheduling auto: %s; the data path thread stays under the %s policy", err,
			 schedpol_name(a->applied));
		a->failed = 1;
		return;
	}
	a->applied = want;
	if (a->switches < UINT64_MAX)
		a->switches++;
	log_info("scheduling auto: the data path thread now runs under the %s policy at %.0f q/s",
		 schedpol_name(want), a->f.last_qps);
}
