/* acceptor.c: accepting without spinning when descriptors run out; see acceptor.h */
#include "config.h"

#include "net/acceptor.h"

#include <errno.h>

enum acceptor_result acceptor_accept(int lfd, struct sockaddr_storage *ss, int *fd)
{
	socklen_t sl = sizeof(*ss);
	int r = accept4(lfd, (struct sockaddr *)ss, ss ? &sl : NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (r >= 0) {
		*fd = r;
		return ACCEPTOR_OK;
	}
	switch (errno) {
	case EMFILE:
	case ENFILE:
	case ENOBUFS:
	case ENOMEM:
		return ACCEPTOR_EXHAUSTED;
	case EAGAIN:
#if EWOULDBLOCK != EAGAIN
	case EWOULDBLOCK:
#endif
	case EINTR:
	case ECONNABORTED:
	case EPERM: /* a firewall rule refused that one */
	/* network errors of the new connection, to be treated like EAGAIN (accept(2)) */
	case EPROTO:
	case ENOPROTOOPT:
	case EHOSTDOWN:
	case ENONET:
	case EHOSTUNREACH:
	case EOPNOTSUPP:
	case ENETDOWN:
	case ENETUNREACH:
		return ACCEPTOR_DRAINED;
	default: /* a broken listener: pausing beats spinning on it */
		return ACCEPTOR_EXHAUSTED;
	}
}

void acceptor_pause(struct ev_loop *loop, ev_timer *resume, double secs)
{
	if (ev_is_active(resume))
		return;
	ev_timer_set(resume, secs, 0.);
	ev_timer_start(loop, resume);
}
