/*
 * notify.h: the service manager's notification protocol (sd_notify(3)),
 * written out: one datagram of "NAME=value" lines to the unix socket named
 * by $NOTIFY_SOCKET ('@' at the start names the abstract namespace). No
 * libsystemd. Without $NOTIFY_SOCKET every call does nothing and succeeds,
 * so a node started by hand or by another supervisor behaves the same.
 *
 * Thread safety: notify_send and notify_send_to may be called from any
 * thread (each opens, sends on and closes its own socket; the environment
 * is only read). The strings are the caller's and are not kept.
 */
#ifndef RECMESH_NOTIFY_H
#define RECMESH_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

/* The shortest watchdog interval taken: fed every half of it, so at most 10 times a second */
#define NOTIFY_WATCHDOG_MIN_USEC 200000

/*
 * Sends msg (e.g. "READY=1\nSTATUS=forwarding") as one datagram to the
 * socket path (a file path, or '@' then an abstract name) without waiting:
 * a receiver whose queue is full is an error, not a stall. Returns 0, or
 * -1 with a reason in err.
 */
int notify_send_to(const char *path, const char *msg, char *err, size_t err_size);
/*
 * notify_send_to($NOTIFY_SOCKET, msg): 0 when sent or when the variable is
 * not set (1 is not returned: callers need not care), -1 with a reason.
 */
int notify_send(const char *msg, char *err, size_t err_size);
/*
 * The watchdog interval the service manager asks for: 1 and *usec set
 * when $WATCHDOG_USEC is a positive number and $WATCHDOG_PID is unset or
 * this process; 0 when no watchdog is wanted. An interval under
 * NOTIFY_WATCHDOG_MIN_USEC is raised to it (a tiny one would make the
 * feeding timer a busy loop).
 */
int notify_watchdog_usec(uint64_t *usec);

#endif
