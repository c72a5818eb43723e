/*
 * restart.h: noticing that the Recursor behind a proxy has restarted. A
 * pure state machine: the caller probes and reads the uptime, and feeds
 * each result in with the time; no I/O, no clock.
 *
 * Each step takes whether the probe was answered, the Recursor's uptime in
 * seconds (-1 when unknown: no --rec-socket-dir, or rec_control failed),
 * now (seconds, monotonic, taken BEFORE the uptime was read) and took,
 * how long reading the uptime took. So the start lies in
 * (now - uptime - 1, now - uptime + took]; the reference is the earliest
 * such upper end seen for the process, and a slow read (a busy
 * Recursor, rec_control taking seconds) widens its own interval instead
 * of moving the start. It returns at most one event:
 *   RESTART_DOWN    RESTART_DOWN_PROBES failed probes in a row (once), or
 *                   restart_seen_down (the auto-warm's: a certain down
 *                   the node's recstate saw, net/recstate.h)
 *   RESTART_BACK    the first answered probe after RESTART_DOWN
 *   RESTART_UPTIME  answered all along, but the Recursor started later
 *                   than it could have before (now - uptime beyond the
 *                   reference by more than RESTART_SLACK seconds): a
 *                   restart too quick for the probes, or one that
 *                   happened during a warm-up
 * A step that says RESTART_BACK takes the uptime read then as the new
 * start; when that uptime is unknown, the old start is forgotten (the
 * next known uptime becomes the reference), so one restart never gives
 * two warm-ups. Otherwise an unknown uptime neither triggers nor
 * forgets the start known before.
 */
#ifndef RECMESH_RESTART_H
#define RECMESH_RESTART_H

#define RESTART_DOWN_PROBES 2
#define RESTART_SLACK 2.0 /* the uptime has whole seconds (1), and a margin */

enum restart_event { RESTART_NONE = 0, RESTART_DOWN, RESTART_BACK, RESTART_UPTIME };

struct restart {
	int fails;      /* failed probes in a row */
	int down;       /* RESTART_DOWN was said, RESTART_BACK not yet */
	int known;      /* started holds a start */
	double started; /* the reference: the earliest now - uptime + took */
};

void restart_init(struct restart *r);
enum restart_event restart_step(struct restart *r, int probe_ok, long uptime, double now, double took);
/*
 * A down seen elsewhere (net/recstate.h: a refused query, a probe not
 * answered): RESTART_DOWN unless it was said already, as if the probes
 * had failed; the next answered probe is RESTART_BACK
 */
enum restart_event restart_seen_down(struct restart *r);

/* "went down", "is back", "restarted: uptime went back", or "" for RESTART_NONE */
const char *restart_event_text(enum restart_event e);

#endif
