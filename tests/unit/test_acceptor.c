/*
 * test_acceptor.c: accept4's outcomes as acceptor_accept reports them: a
 * connection, nothing pending, and out of descriptors (RLIMIT_NOFILE
 * lowered), which must say "exhausted" and leave the connection in the
 * backlog for after the pause.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "net/acceptor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static int listener(struct sockaddr_in *a)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)a, sizeof(*a)), 0);
	socklen_t l = sizeof(*a);
	assert_int_equal(getsockname(fd, (struct sockaddr *)a, &l), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

static int dial(const struct sockaddr_in *a)
{
	int c = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(c >= 0);
	assert_int_equal(connect(c, (const struct sockaddr *)a, sizeof(*a)), 0);
	return c;
}

static void test_outcomes(void **state)
{
	struct sockaddr_in a;
	struct sockaddr_storage peer;
	int fd = -1, lfd = listener(&a);
	assert_int_equal(acceptor_accept(lfd, &peer, &fd), ACCEPTOR_DRAINED);
	int c = dial(&a);
	assert_int_equal(acceptor_accept(lfd, &peer, &fd), ACCEPTOR_OK);
	assert_true(fd >= 0);
	assert_int_equal(peer.ss_family, AF_INET);
	close(fd);
	close(c);

	/* out of descriptors: exhausted, errno EMFILE, and the connection waits in the backlog */
	c = dial(&a);
	struct rlimit old, low;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	int lowest = dup(0); /* the lowest free descriptor: a limit there leaves none free */
	assert_true(lowest >= 0);
	close(lowest);
	low.rlim_cur = (rlim_t)lowest;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	enum acceptor_result r = acceptor_accept(lfd, NULL, &fd);
	int e = errno;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	if (r != ACCEPTOR_EXHAUSTED || e != EMFILE)
		fail_msg("at the descriptor limit: result %d, errno %d (%s)", r, e, strerror(e));
	assert_int_equal(acceptor_accept(lfd, NULL, &fd), ACCEPTOR_OK);
	close(fd);
	close(c);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_outcomes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
