/* reccontrol.c: rec_control without a shell; see reccontrol.h */
#include "config.h"

#include "warm/reccontrol.h"

#include "base/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

enum reap_result { REAP_EXITED, REAP_KILLED_LATE, REAP_UNKNOWN };

/*
 * Waits for the child until the deadline (polling, so a child that closed
 * its output but hangs cannot block the caller), then kills and reaps it.
 * ECHILD (another part of the process reaped it first, e.g. libev's
 * SIGCHLD watcher in the node's default loop) gives REAP_UNKNOWN.
 */
static enum reap_result reap(pid_t pid, double deadline, int kill_now, int *status)
{
	while (!kill_now) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return REAP_EXITED;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return REAP_UNKNOWN;
		if (clock_mono() >= deadline)
			break;
		struct timespec ts = {0, 10000000}; /* 10 ms */
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	for (;;) {
		pid_t r = waitpid(pid, status, 0);
		if (r == pid)
			return REAP_KILLED_LATE;
		if (r < 0 && errno == EINTR)
			continue;
		return REAP_UNKNOWN;
	}
}

int reccontrol_get(const char *socket_dir, const char *name, double timeout, long *value,
		   char *err, size_t err_size)
{
	char dirarg[4200], out[RECCONTROL_MAX_OUTPUT + 1];
	int fds[2], rc;
	size_t len = 0;
	pid_t pid;
	if (snprintf(dirarg, sizeof(dirarg), "--socket-dir=%s", socket_dir) >= (int)sizeof(dirarg)) {
		snprintf(err, err_size, "socket directory name too long");
		return -1;
	}
	char *argv[] = {"rec_control", dirarg, "--timeout=2", "get", (char *)name, NULL};
	if (pipe2(fds, O_CLOEXEC) < 0) {
		snprintf(err, err_size, "cannot make a pipe: %s", strerror(errno));
		return -1;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	/* the child starts with no signal blocked and every signal at its default, whatever this thread has */
	posix_spawnattr_t at;
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_init(&at);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawnp(&pid, "rec_control", &fa, &at, argv, environ);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (rc != 0) {
		close(fds[0]);
		snprintf(err, err_size, "cannot run rec_control: %s", strerror(rc));
		return -1;
	}
	double deadline = clock_mono() + timeout;
	int timed_out = 0, too_long = 0;
	for (;;) {
		double rest = deadline - clock_mono();
		if (rest <= 0) {
			timed_out = 1;
			break;
		}
		int ms = rest > 1000 ? 1000000 : (int)(rest * 1000) + 1; /* never before the deadline */
		struct pollfd p = {fds[0], POLLIN, 0};
		int n = poll(&p, 1, ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			timed_out = n == 0;
			break;
		}
		ssize_t r = read(fds[0], out + len, sizeof(out) - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break; /* end of output */
		len += (size_t)r;
		if (len == sizeof(out) - 1) {
			too_long = 1;
			break;
		}
	}
	close(fds[0]);
	int status = 0;
	enum reap_result how = reap(pid, deadline, timed_out || too_long, &status);
	out[len] = '\0';
	if (too_long) {
		snprintf(err, err_size, "rec_control printed more than %d bytes", RECCONTROL_MAX_OUTPUT);
		return -1;
	}
	if (timed_out || how == REAP_KILLED_LATE) {
		snprintf(err, err_size, "rec_control did not finish within %.1f s", timeout);
		return -1;
	}
	/* REAP_UNKNOWN: reaped elsewhere; the output alone decides (rec_control prints a value only on success) */
	if (how == REAP_EXITED && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
		if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
			snprintf(err, err_size, "rec_control not found or could not start");
		else if (WIFEXITED(status))
			snprintf(err, err_size, "rec_control exited with status %d", WEXITSTATUS(status));
		else
			snprintf(err, err_size, "rec_control was killed by signal %d", WTERMSIG(status));
		return -1;
	}
	/* one whole number, then at most a newline */
	char *end = out;
	errno = 0;
	long v = out[0] >= '0' && out[0] <= '9' ? strtol(out, &end, 10) : -1;
	if (v < 0 || errno || (*end != '\0' && strcmp(end, "\n") != 0)) {
		snprintf(err, err_size, "rec_control printed no number for '%s'", name);
		return -1;
	}
	*value = v;
	return 0;
}
