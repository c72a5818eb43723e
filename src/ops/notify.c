/*
 * notify.c: the sd_notify datagram protocol without libsystemd; see notify.h.
 *
 * The message is one SOCK_DGRAM datagram (no credentials or file
 * descriptors are passed); sockets are opened with SOCK_CLOEXEC so that a
 * child (rec_control) does not inherit them.
 */
#include "config.h"

#include "ops/notify.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int notify_send_to(const char *path, const char *msg, char *err, size_t err_size)
{
	struct sockaddr_un sun;
	size_t plen = path ? strlen(path) : 0;
	if (plen < 2 || (path[0] != '/' && path[0] != '@') || plen >= sizeof(sun.sun_path)) {
		snprintf(err, err_size,
			 "bad notification socket '%s' (an absolute path or '@name', "
			 "at most %zu bytes)",
			 path ? path : "", sizeof(sun.sun_path) - 1);
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, plen);
	socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	if (path[0] == '@')
		sun.sun_path[0] = '\0'; /* abstract namespace: no terminating NUL in the length */
	else
		salen++;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, err_size, "cannot open a notification socket: %s", strerror(errno));
		return -1;
	}
	size_t len = strlen(msg);
	/* never wait on a service manager that does not read: the caller is the data path */
	ssize_t n = sendto(fd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sun, salen);
	int e = errno;
	close(fd);
	if (n < 0 || (size_t)n != len) {
		snprintf(err, err_size, "cannot notify '%s': %s", path,
			 n < 0 ? strerror(e) : "short send");
		return -1;
	}
	return 0;
}

int notify_send(const char *msg, char *err, size_t err_size)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (!path || !*path)
		return 0;
	return notify_send_to(path, msg, err, err_size);
}

int notify_watchdog_usec(uint64_t *usec)
{
	const char *s = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	char *end;
	if (!s || !*s)
		return 0;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v == 0 || s[0] == '-')
		return 0;
	if (pid && *pid) {
		unsigned long p = strtoul(pid, &end, 10);
		if (*end || p != (unsigned long)getpid())
			return 0;
	}
	*usec = v < NOTIFY_WATCHDOG_MIN_USEC ? NOTIFY_WATCHDOG_MIN_USEC : v;
	return 1;
}
