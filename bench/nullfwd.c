/*
 * nullfwd: the least a user-space UDP DNS forwarder can do, as a yardstick
 * for bench/proxy.sh. Not a usable proxy.
 *
 *   nullfwd LISTEN_ADDR:PORT UPSTREAM_ADDR:PORT
 *
 * It has recmesh proxy's UDP data path without its work: one thread under
 * SCHED_BATCH (as recmesh's default), epoll on the listening socket and one
 * connected upstream socket, recvmmsg/sendmmsg batches of 32. Queries go
 * upstream byte for byte, with the client's own ID, and an answer goes to
 * the client that last sent a query with the answer's ID. It parses
 * nothing, keeps no timeouts and mirrors nothing, so with one client whose
 * IDs in flight are distinct (dnsperf) it forwards correctly, and with
 * several clients it would mix up their answers. Prints "relaying" once
 * its sockets are ready; stops on SIGTERM or SIGINT.
 */
#include "config.h"

#include "net/netaddr.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 32
#define PKT 4096

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static struct sockaddr_storage clients[65536];
static socklen_t client_lens[65536];
static uint8_t bufs[BATCH][PKT];

static int udp_socket(const struct netaddr *a, int do_connect)
{
	int fd = socket(a->ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	int sz = 4 * 1024 * 1024;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if ((do_connect ? connect(fd, (const struct sockaddr *)&a->ss, a->len)
			: bind(fd, (const struct sockaddr *)&a->ss, a->len)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads a batch from fd and sends each datagram on: queries (from the
 * listening socket) upstream, answers back to the client of their ID. */
static int relay(int fd, int lfd, int ufd)
{
	struct mmsghdr in[BATCH], out[BATCH];
	struct iovec iov[BATCH], oiov[BATCH];
	struct sockaddr_storage from[BATCH];
	memset(in, 0, sizeof(in));
	memset(out, 0, sizeof(out));
	for (int i = 0; i < BATCH; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = PKT;
		in[i].msg_hdr.msg_iov = &iov[i];
		in[i].msg_hdr.msg_iovlen = 1;
		in[i].msg_hdr.msg_name = &from[i];
		in[i].msg_hdr.msg_namelen = sizeof(from[i]);
	}
	int n = recvmmsg(fd, in, BATCH, MSG_DONTWAIT, NULL);
	if (n <= 0)
		return 0;
	int k = 0;
	for (int i = 0; i < n; i++) {
		if (in[i].msg_len < 12)
			continue;
		unsigned id = (unsigned)bufs[i][0] << 8 | bufs[i][1];
		oiov[k].iov_base = bufs[i];
		oiov[k].iov_len = in[i].msg_len;
		out[k].msg_hdr.msg_iov = &oiov[k];
		out[k].msg_hdr.msg_iovlen = 1;
		if (fd == lfd) {
			memcpy(&clients[id], &from[i], in[i].msg_hdr.msg_namelen);
			client_lens[id] = in[i].msg_hdr.msg_namelen;
		} else {
			if (!client_lens[id])
				continue;
			out[k].msg_hdr.msg_name = &clients[id];
			out[k].msg_hdr.msg_namelen = client_lens[id];
		}
		k++;
	}
	for (int done = 0; done < k;) {
		int r = sendmmsg(fd == lfd ? ufd : lfd, out + done, (unsigned)(k - done), 0);
		if (r < 0 && errno == EINTR)
			continue;
		done += r < 0 ? 1 : r; /* a refused datagram is lost, as UDP may */
	}
	return n;
}

int main(int argc, char **argv)
{
	struct netaddr la, ua;
	if (argc != 3 || netaddr_parse(argv[1], 53, &la) < 0 || netaddr_parse(argv[2], 53, &ua) < 0) {
		fprintf(stderr, "usage: nullfwd LISTEN_ADDR:PORT UPSTREAM_ADDR:PORT\n");
		return 2;
	}
	int lfd = udp_socket(&la, 0), ufd = udp_socket(&ua, 1);
	if (lfd < 0 || ufd < 0) {
		fprintf(stderr, "nullfwd: cannot open %s: %s\n", lfd < 0 ? argv[1] : argv[2], strerror(errno));
		return 1;
	}
	struct sched_param sp = {0};
	if (sched_setscheduler(0, SCHED_BATCH, &sp) < 0)
		fprintf(stderr, "nullfwd: SCHED_BATCH: %s\n", strerror(errno));
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	ev.data.fd = ufd;
	epoll_ctl(ep, EPOLL_CTL_ADD, ufd, &ev);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	printf("relaying %s -> %s\n", argv[1], argv[2]);
	fflush(stdout);
	while (!stop) {
		struct epoll_event evs[2];
		int n = epoll_wait(ep, evs, 2, 1000);
		for (int i = 0; i < n; i++)
			for (int j = 0; j < 4 && relay(evs[i].data.fd, lfd, ufd) == BATCH; j++)
				;
	}
	return 0;
}
