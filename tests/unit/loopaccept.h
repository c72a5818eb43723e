/*
 * loopaccept.h: for unit tests, runs a libev loop (whose code connects
 * somewhere) until a connection arrives on a listening socket of the
 * test's. Include after cmocka.h.
 */
#ifndef RECMESH_TEST_LOOPACCEPT_H
#define RECMESH_TEST_LOOPACCEPT_H

#include <ev.h>
#include <sys/select.h>
#include <sys/socket.h>

/* The accepted connection, or -1 when none came in about a second */
static inline int loop_accept(struct ev_loop *loop, int lfd)
{
	for (int i = 0; i < 100; i++) {
		ev_run(loop, EVRUN_NOWAIT);
		struct timeval tv = {0, 10000};
		fd_set r;
		FD_ZERO(&r);
		FD_SET(lfd, &r);
		if (select(lfd + 1, &r, NULL, NULL, &tv) > 0)
			return accept(lfd, NULL, NULL);
	}
	return -1;
}

#endif
