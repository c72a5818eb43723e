/* rootprobe.c: asking `. NS` to see whether a Recursor answers; see rootprobe.h */
#include "config.h"

#include "net/rootprobe.h"

#include "base/clock.h"
#include "dns/dnsmsg.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int rootprobe_answer(const uint8_t *pkt, size_t len, uint16_t id, int *rcode)
{
	struct dns_msg_info info;
	if (len < DNS_HDR_LEN || dnsmsg_get16(pkt) != id || dnsmsg_parse(pkt, len, &info) != DNS_OK)
		return -1;
	/* a response to `. NS IN`: anything else with our ID is not the answer */
	if (!(info.flags & DNS_FLAG_QR) || info.qdcount != 1 || info.qname_len != 1 ||
	    info.qtype != 2 /* NS */ || info.qclass != DNS_CLASS_IN)
		return -1;
	*rcode = dnsmsg_rcode(&info);
	return 0;
}

int rootprobe_ask(const struct sockaddr *sa, socklen_t salen, double timeout, int *rcode, double *took,
		  char *why, size_t why_size)
{
	uint8_t q[512], a[4096];
	const uint8_t root[1] = {0};
	uint16_t id = (uint16_t)arc4random_uniform(65536);
	int qlen = dnsmsg_make_query(id, root, 1, 2 /* NS */, 1, q, sizeof(q));
	double t0 = clock_mono();
	int fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || qlen < 0) {
		snprintf(why, why_size, "cannot open a probe socket: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return ROOTPROBE_LOCAL;
	}
	if (connect(fd, sa, salen) < 0 || send(fd, q, (size_t)qlen, 0) != qlen) {
		int e = errno;
		snprintf(why, why_size, "cannot send the probe: %s", strerror(e));
		close(fd);
		return e == ECONNREFUSED ? ROOTPROBE_REFUSED : ROOTPROBE_LOCAL;
	}
	for (;;) {
		double rest = timeout - (clock_mono() - t0);
		if (rest > 1000)
			rest = 1000; /* poll takes an int of milliseconds; the loop waits the rest */
		struct pollfd pfd = {fd, POLLIN, 0};
		int n = rest > 0 ? poll(&pfd, 1, (int)(rest * 1000) + 1) : 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 && clock_mono() - t0 >= timeout) {
			snprintf(why, why_size, "no answer within %.0f s", timeout);
			close(fd);
			return ROOTPROBE_TIMEOUT;
		}
		if (n <= 0)
			continue;
		ssize_t r = recv(fd, a, sizeof(a), 0);
		if (r < 0) {
			int e = errno;
			snprintf(why, why_size, "%s", strerror(e));
			close(fd);
			/* port unreachable: nobody there; another error (no route) is as good as no answer */
			return e == ECONNREFUSED ? ROOTPROBE_REFUSED : ROOTPROBE_TIMEOUT;
		}
		if (rootprobe_answer(a, (size_t)r, id, rcode) < 0)
			continue; /* not the answer: keep waiting */
		if (took)
			*took = clock_mono() - t0;
		close(fd);
		return 0;
	}
}
