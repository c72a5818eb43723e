/*
 * acceptor.h: accepting on a listening TCP socket without spinning when
 * descriptors or memory run out (the proxy's TCP listeners, the protobuf
 * listener, the HTTP endpoint).
 *
 * When accept4 fails with EMFILE, ENFILE, ENOBUFS or ENOMEM the connection
 * stays in the backlog and the listener stays readable: trying again at
 * once would spin. The caller stops its listener's watchers and calls
 * acceptor_pause, whose timer (the caller's, with the callback that starts
 * the watchers again) resumes accepting after a while.
 *
 * Ownership: nothing is allocated here; the timer belongs to the caller.
 * Call from the thread that runs the listener's loop.
 */
#ifndef RECMESH_ACCEPTOR_H
#define RECMESH_ACCEPTOR_H

#include <ev.h>
#include <sys/socket.h>

enum acceptor_result {
	ACCEPTOR_OK,        /* *fd is a new connection (non-blocking, close-on-exec) */
	ACCEPTOR_DRAINED,   /* nothing more to accept now (EAGAIN, EINTR, an aborted handshake,
			       a network error of that connection: accept(2)'s list, EPERM) */
	ACCEPTOR_EXHAUSTED, /* out of descriptors or memory, or another error (a broken
			       listener): errno says which; pause */
};

/* Accepts one connection from lfd; ss (may be NULL) gets the peer's address */
enum acceptor_result acceptor_accept(int lfd, struct sockaddr_storage *ss, int *fd);

/* Arms resume for secs unless it is armed already (a timer that fired keeps what was left of it) */
void acceptor_pause(struct ev_loop *loop, ev_timer *resume, double secs);

#endif
