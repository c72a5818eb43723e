/*
 * echo.h: a Recursor stand-in for unit tests, on 127.0.0.1 and a port of
 * its own: a thread answers every UDP query with the query itself, QR and
 * RA set (same ID and question: a proxy and a probe take it as the
 * answer), until echo_stop; while mute is set it answers nothing (a lost
 * answer, on a port that stays its own: no other test can take it).
 * Include after cmocka.h.
 */
#ifndef RECMESH_TEST_ECHO_H
#define RECMESH_TEST_ECHO_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

struct echo {
	int fd;
	unsigned port;
	atomic_int stop;
	atomic_int mute; /* set: it reads every query and answers none (the port stays its own) */
	pthread_t thread;
};

static void *echo_run(void *arg)
{
	struct echo *e = arg;
	uint8_t buf[512];
	while (!atomic_load(&e->stop)) {
		struct pollfd pfd = {.fd = e->fd, .events = POLLIN};
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(e->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);
		if (n < 12 || atomic_load(&e->mute))
			continue;
		buf[2] |= 0x80; /* QR */
		buf[3] |= 0x80; /* RA */
		sendto(e->fd, buf, (size_t)n, 0, (struct sockaddr *)&from, flen);
	}
	return NULL;
}

static void echo_start(struct echo *e)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	e->fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(e->fd >= 0);
	assert_int_equal(bind(e->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(e->fd, (struct sockaddr *)&a, &len), 0);
	e->port = ntohs(a.sin_port);
	atomic_init(&e->stop, 0);
	atomic_init(&e->mute, 0);
	assert_int_equal(pthread_create(&e->thread, NULL, echo_run, e), 0);
}

static void echo_stop(struct echo *e)
{
	atomic_store(&e->stop, 1);
	pthread_join(e->thread, NULL);
	close(e->fd);
}

#endif
