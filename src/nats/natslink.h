/*
 * natslink.h: what one owner's NATS connections have seen, and the lines
 * that owner has to log about them.
 *
 * An owner (a node's publisher, a one-shot command, the warm-up) makes one
 * link and opens all of its connections with it (natsconn_open), one after
 * another or side by side. libnats calls back on its own threads, maybe
 * after natsconn_close returned; those callbacks never log. They tell the
 * link what happened, and the link turns that into news lines, each said
 * as often as the rules below allow; the owner takes them with
 * natslink_next on its own thread and logs them. Nothing of it is
 * process-wide: two owners' connections never hide each other's news.
 *
 * The rules, per link:
 *   - a refused login or a TLS failure is said once per kind until a
 *     connection of the link connects again;
 *   - a background connection closed for good by libnats after such a
 *     failure is said once until a connect; a close the owner asked for
 *     (natsconn_close) is never news;
 *   - a background connection whose first try found no server is said to
 *     be "not reachable yet" only when natslink_tick finds it still down,
 *     without a refusal or TLS failure said meanwhile, at the time set;
 *   - the first permissions violation is said (the server's text names
 *     the subject), the others are only counted: the refused publishes to
 *     the subject given to natslink_count_denied, read with
 *     natslink_denied;
 *   - a disconnect that is no close is said each time (libnats reconnects).
 *
 * Limits: NATSLINK_NEWS_MAX lines wait to be taken, each cut at
 * NATSLINK_LINE_MAX bytes; lines beyond are counted and said as one line
 * when the owner takes news again; lines below the log level are not
 * kept. NATSLINK_CONNS open connections of one link can be found by the
 * owner's natsconn_close; one more is opened all the same, and its close
 * on purpose may then be said.
 *
 * Lifetime: natslink_new gives the owner's reference. Every connection
 * natsconn_open makes has a record (struct natslink_conn), made before the
 * connect: it is the closure of the connection's callbacks, holds one more
 * reference to the link and is freed by libnats' closed callback, the last
 * it makes for the connection (or at once by natsconn_open when the
 * connect failed and no callback will come). The link is freed when the
 * owner has dropped its own (natslink_drop) and every record is gone.
 * Every function is safe on any thread.
 */
#ifndef RECMESH_NATSLINK_H
#define RECMESH_NATSLINK_H

#include <stddef.h>
#include <stdint.h>

#include "base/notes.h"

#define NATSLINK_NEWS_MAX NOTES_MAX      /* lines waiting to be taken */
#define NATSLINK_LINE_MAX NOTES_LINE_MAX /* bytes of one line, with its NUL */
#define NATSLINK_CONNS 8      /* connections of one link told apart */

/* What a failed connect or an -ERR means (natsconn_classify) */
enum natsconn_failure { NATSCONN_UNREACHABLE, NATSCONN_AUTH, NATSCONN_TLS, NATSCONN_DENIED };

struct natslink;

/* NULL when out of memory */
struct natslink *natslink_new(void);
/* The owner's reference; NULL: nothing */
void natslink_drop(struct natslink *l);
/*
 * Waits until libnats has made the closed callback of every connection of
 * l that natsconn_close closed (so that its news is in and its reference
 * dropped), at most timeout seconds; 1 when none is due, 0 at the
 * timeout. The owner calls it after closing its connections, before the
 * last natslink_log.
 */
int natslink_wait(struct natslink *l, double timeout);

/*
 * Takes the oldest news line: 1 with its level (log.h's LOG_LVL_*) and
 * text, 0 when there is none
 */
int natslink_next(struct natslink *l, int *level, char *text, size_t size);
/* The owner logs every line waiting (log.h), on its own thread; NULL: nothing */
void natslink_log(struct natslink *l);

/*
 * "Not reachable yet" is due at now >= due (monotonic) unless a connect,
 * a refusal or a TLS failure comes first (the owner calls natsconn_tick
 * now and then, which asks natslink_tick below)
 */
void natslink_unreach_due(struct natslink *l, const char *shown, double due);

/* Refused publishes to subject are counted from now on (a later call replaces it) */
void natslink_count_denied(struct natslink *l, const char *subject);
uint64_t natslink_denied(const struct natslink *l);

/*
 * What the callbacks and natsconn_open tell the link (natsconn.c), which
 * says the lines the rules let through with natslink_say (1: the line was
 * kept, 0: it was below the log level or over the limit).
 *
 * natslink_conn_new: the record of a connection about to be made
 * (background: it reconnects and reopens on its own); NULL when out of
 * memory; it has two references, libnats' (dropped by the closed
 * callback) and natsconn_open's (dropped once the connect returned and the
 * record is attached, so that a closed callback that comes first cannot
 * free it under natsconn_open). natslink_conn_attach: the connect returned
 * nc; the record is found by nc from now on (natslink_closing), unless the
 * closed callback came first. natslink_conn_drop: drops a reference; the
 * last frees the record and its reference to the link. A connect that
 * failed with no callback to come drops both.
 * natslink_conn_link: the record's link. natslink_closing: the owner
 * closes nc on purpose. natslink_conn_disconnected: 1 when a disconnect
 * of the record's connection is news. natslink_conn_closed: the record's
 * connection is closed for good; returns the failure to say
 * (NATSCONN_AUTH or NATSCONN_TLS), or -1 when the close is no news.
 *
 * natslink_ref: one more reference to the link, dropped with
 * natslink_drop. natslink_connected: a connect; the said-once rules start
 * again. natslink_failed: 1 when failure f is news. natslink_denied_by:
 * counts the refusal when detail names the counted subject; 1 when it is
 * the link's first. natslink_tick: 1 when "not reachable yet" is due now
 * (shown: the URLs to name).
 */
struct natslink_conn;
struct natslink_conn *natslink_conn_new(struct natslink *l, int background);
void natslink_conn_attach(struct natslink_conn *c, const void *nc);
void natslink_conn_drop(struct natslink_conn *c);
struct natslink *natslink_conn_link(const struct natslink_conn *c);
void natslink_closing(struct natslink *l, const void *nc);
int natslink_conn_disconnected(struct natslink_conn *c);
int natslink_conn_closed(struct natslink_conn *c);

void natslink_ref(struct natslink *l);
void natslink_connected(struct natslink *l);
int natslink_failed(struct natslink *l, enum natsconn_failure f);
int natslink_denied_by(struct natslink *l, const char *detail);
int natslink_tick(struct natslink *l, int connected, double now, char *shown, size_t size);
int natslink_say(struct natslink *l, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Lines said once per link: natslink_once sets what and returns 1 when it
 * was not set yet; natslink_said tells whether it is. A caller that says
 * such a line sets it only when natslink_say kept the line.
 */
enum natslink_once {
	NATSLINK_ONCE_HOT_BUCKET, /* the hot bucket's settings differ */
	NATSLINK_ONCE_NS_BUCKET,  /* the NS bucket's settings differ */
};
int natslink_once(struct natslink *l, unsigned what);
int natslink_said(struct natslink *l, unsigned what);

#endif
