/* restart.c: the restart detector; see restart.h */
#include "config.h"

#include "warm/restart.h"

void restart_init(struct restart *r)
{
	r->fails = 0;
	r->down = 0;
	r->known = 0;
	r->started = 0;
}

enum restart_event restart_seen_down(struct restart *r)
{
	r->fails = RESTART_DOWN_PROBES;
	if (r->down)
		return RESTART_NONE;
	r->down = 1;
	return RESTART_DOWN;
}

enum restart_event restart_step(struct restart *r, int probe_ok, long uptime, double now, double took)
{
	if (!probe_ok) {
		if (r->fails < RESTART_DOWN_PROBES)
			r->fails++;
		if (r->fails == RESTART_DOWN_PROBES && !r->down) {
			r->down = 1;
			return RESTART_DOWN;
		}
		return RESTART_NONE;
	}
	r->fails = 0;
	int known = uptime >= 0;
	if (!(took >= 0))
		took = 0;
	/* the start lies in (now - uptime - 1, now - uptime + took]: whole seconds, read after now */
	double started = now - (double)uptime, latest = started + took;
	enum restart_event e = RESTART_NONE;
	if (r->down) {
		r->down = 0;
		e = RESTART_BACK;
		if (!known)
			r->known = 0; /* a new process: the old start must not make a second warm-up later */
	} else if (known && r->known && started > r->started + RESTART_SLACK) {
		e = RESTART_UPTIME;
	}
	/* the earliest latest-possible start is the reference while the process is the same */
	if (known && (e != RESTART_NONE || !r->known || latest < r->started)) {
		r->started = latest;
		r->known = 1;
	}
	return e;
}

const char *restart_event_text(enum restart_event e)
{
	switch (e) {
	case RESTART_DOWN:
		return "went down";
	case RESTART_BACK:
		return "is back";
	case RESTART_UPTIME:
		return "restarted: uptime went back";
	case RESTART_NONE:
		break;
	}
	return "";
}
