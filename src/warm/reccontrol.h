/*
 * reccontrol.h: reading a number from a running Recursor with rec_control.
 *
 * Runs `rec_control --socket-dir=DIR --timeout=2 get NAME` through
 * posix_spawnp with an argument vector (no shell: whatever DIR holds is one
 * argument), rec_control looked up in the PATH, with no signal blocked and
 * every signal at its default (not the calling thread's mask). Its
 * standard output comes through a pipe and is read up to
 * RECCONTROL_MAX_OUTPUT bytes until the deadline; standard error goes to
 * /dev/null. The child is waited for until the same deadline, also after
 * it closed its output (a child that closes stdout and hangs cannot block
 * the caller); a child still running then is killed and reaped.
 *
 * The exit status counts when it can be had. When another part of the
 * process reaped the child first (waitpid says ECHILD: libev's SIGCHLD
 * watcher in a node's default loop may do that), the output alone
 * decides: rec_control prints a bare number only on success.
 *
 * Blocks for at most timeout seconds plus the time to reap a killed child.
 * Safe to call from any thread (it changes no process-wide state).
 */
#ifndef RECMESH_RECCONTROL_H
#define RECMESH_RECCONTROL_H

#include <stddef.h>

#define RECCONTROL_MAX_OUTPUT 256

/*
 * Returns 0 and the value in *value when rec_control printed one whole,
 * non-negative number (and a newline) and exited with status 0 (or its
 * status could not be had, see above); -1 with a reason in err otherwise
 * (not found, timed out, exit status, output).
 */
int reccontrol_get(const char *socket_dir, const char *name, double timeout, long *value,
		   char *err, size_t err_size);

#endif
