/* acceptor.c: accepting without spinning when descriptors run out; see acceptor.h */
#include "config.h"

#include "acceptor.h"

#include <errno.h>

enum acceptor_result acceptor_accept(int lfd, struct sockaddr_storage *ss, int *fd)
{
	socklen_t sl = sizeof(*ss);
	int r = accept4(lfd, (struct sockaddr *)ss, ss ? &sl : NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (r >= 0) {
		*fd = r;
		return ACCEPTOR_OK;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED ||
	    errno == EPROTO)
		return ACCEPTOR_DRAINED;
	return ACCEPTOR_EXHAUSTED;
}

void acceptor_pause(struct ev_loop *loop, ev_timer *resume, double secs)
{
	if (ev_is_active(resume))
		return;
	ev_timer_set(resume, secs, 0.);
	ev_timer_start(loop, resume);
}
