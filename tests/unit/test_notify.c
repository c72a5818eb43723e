/* test_notify.c: the sd_notify datagrams, received on a unix socket (file path and abstract name) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ops/notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* A datagram socket bound to path ('@': abstract); returns the fd */
static int bind_dgram(const char *path)
{
	struct sockaddr_un sun;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	size_t len = strlen(path);
	memcpy(sun.sun_path, path, len);
	socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	else
		salen++;
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	if (bind(fd, (struct sockaddr *)&sun, salen) < 0) {
		perror(path);
		fail();
	}
	return fd;
}

static void expect_datagram(int fd, const char *want)
{
	char buf[512];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	if (n < 0) {
		fail_msg("no datagram received, expected '%s'", want);
		return;
	}
	buf[n] = '\0';
	if (strcmp(buf, want))
		fail_msg("received '%s', expected '%s'", buf, want);
}

static void test_path_socket(void **state)
{
	char dir[] = "/tmp/test_notify.XXXXXX", path[256], err[256];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/notify", dir);
	int fd = bind_dgram(path);
	assert_int_equal(notify_send_to(path, "READY=1\nSTATUS=serving", err, sizeof(err)), 0);
	expect_datagram(fd, "READY=1\nSTATUS=serving");

	/* through the environment, as the service manager passes it */
	setenv("NOTIFY_SOCKET", path, 1);
	assert_int_equal(notify_send("WATCHDOG=1", err, sizeof(err)), 0);
	expect_datagram(fd, "WATCHDOG=1");
	close(fd);
	unlink(path);
	rmdir(dir);

	/* nobody listening any more: an error that says where */
	err[0] = '\0';
	assert_int_equal(notify_send("READY=1", err, sizeof(err)), -1);
	if (!strstr(err, path))
		fail_msg("reason '%s' does not name '%s'", err, path);
	unsetenv("NOTIFY_SOCKET");
}

static void test_abstract_socket(void **state)
{
	char path[64], err[256];
	snprintf(path, sizeof(path), "@recmesh-test-notify-%d", (int)getpid());
	int fd = bind_dgram(path);
	setenv("NOTIFY_SOCKET", path, 1);
	assert_int_equal(notify_send("STOPPING=1", err, sizeof(err)), 0);
	expect_datagram(fd, "STOPPING=1");
	unsetenv("NOTIFY_SOCKET");
	close(fd);
}

static void test_no_socket_and_bad_paths(void **state)
{
	char err[256], longpath[200];
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(notify_send("READY=1", err, sizeof(err)), 0);
	setenv("NOTIFY_SOCKET", "", 1);
	assert_int_equal(notify_send("READY=1", err, sizeof(err)), 0);
	assert_int_equal(notify_send_to("relative/path", "READY=1", err, sizeof(err)), -1);
	assert_int_equal(notify_send_to("@", "READY=1", err, sizeof(err)), -1);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(notify_send_to(longpath, "READY=1", err, sizeof(err)), -1);
	unsetenv("NOTIFY_SOCKET");
}

static void test_watchdog_env(void **state)
{
	uint64_t usec = 7;
	char pid[32];
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	assert_int_equal(notify_watchdog_usec(&usec), 0);
	assert_int_equal(usec, 7);
	setenv("WATCHDOG_USEC", "30000000", 1);
	assert_int_equal(notify_watchdog_usec(&usec), 1);
	assert_int_equal(usec, 30000000);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(notify_watchdog_usec(&usec), 1);
	snprintf(pid, sizeof(pid), "%d", (int)getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1); /* meant for another process */
	assert_int_equal(notify_watchdog_usec(&usec), 0);
	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "0", 1);
	assert_int_equal(notify_watchdog_usec(&usec), 0);
	setenv("WATCHDOG_USEC", "12x", 1);
	assert_int_equal(notify_watchdog_usec(&usec), 0);
	setenv("WATCHDOG_USEC", "-5", 1);
	assert_int_equal(notify_watchdog_usec(&usec), 0);
	/* a tiny interval is raised to the floor: no busy feeding timer */
	setenv("WATCHDOG_USEC", "1", 1);
	assert_int_equal(notify_watchdog_usec(&usec), 1);
	assert_int_equal(usec, NOTIFY_WATCHDOG_MIN_USEC);
	unsetenv("WATCHDOG_USEC");
}

/* A receiver that does not read: the sender gets an error, it does not block */
static void test_full_receiver(void **state)
{
	char path[64], err[256];
	int i, rc = 0;
	snprintf(path, sizeof(path), "@recmesh-test-notify-full-%d", (int)getpid());
	int fd = bind_dgram(path);
	alarm(20); /* a blocking send fails the test instead of hanging it */
	for (i = 0; i < 100000 && rc == 0; i++)
		rc = notify_send_to(path, "WATCHDOG=1", err, sizeof(err));
	alarm(0);
	if (rc != -1)
		fail_msg("%d datagrams to a receiver that never reads were all sent", i);
	if (!strstr(err, "unavailable"))
		fail_msg("reason after %d datagrams: '%s'", i, err);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_socket),
		cmocka_unit_test(test_abstract_socket),
		cmocka_unit_test(test_no_socket_and_bad_paths),
		cmocka_unit_test(test_watchdog_env),
		cmocka_unit_test(test_full_receiver),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
