/*
 * dnsdelay.c: a UDP relay that gives authoritative servers on loopback a
 * latency, or makes them dead, for benchmarks and demos (netem is not
 * available here).
 *
 * Usage: dnsdelay BACKEND_ADDR:PORT PLAN_FILE [COUNTS_FILE]
 * PLAN_FILE lines: "ADDR DELAY_MS" (answer after DELAY_MS) or "ADDR dead"
 * (swallow every query). The relay listens on ADDR:53 for every line,
 * forwards each query to the backend and sends the answer back from ADDR
 * after the delay. Runs until SIGTERM. On SIGUSR1 it writes, when
 * COUNTS_FILE is given, one line per address to it, "ADDR DELAY_MS|dead
 * QUERIES" (queries received since the start), into a new file renamed
 * over COUNTS_FILE, so that a reader that waits for the file sees it whole.
 */
#include "config.h"

#include "net/netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct front {
	int fd;
	double delay;
	int dead;
	unsigned long long queries;
	char addr[128], what[64];
	struct front *next;
	ev_io io;
};

struct pending {
	struct front *f;
	int bfd; /* one backend socket per query: matching is trivial */
	struct sockaddr_storage client;
	socklen_t clen;
	ev_io io;
	ev_timer timer; /* backend timeout, then the delay before answering */
	unsigned char buf[65536];
	ssize_t len;
};

static struct netaddr backend;
static struct ev_loop *loop;
static struct front *fronts;
static const char *counts_file;

static void pending_free(struct pending *p)
{
	ev_io_stop(loop, &p->io);
	ev_timer_stop(loop, &p->timer);
	close(p->bfd);
	free(p);
}

static void on_release(struct ev_loop *l, ev_timer *t, int revents)
{
	struct pending *p = t->data;
	if (p->len > 0)
		sendto(p->f->fd, p->buf, (size_t)p->len, 0, (struct sockaddr *)&p->client, p->clen);
	pending_free(p);
}

static void on_backend(struct ev_loop *l, ev_io *w, int revents)
{
	struct pending *p = w->data;
	p->len = recv(p->bfd, p->buf, sizeof(p->buf), 0);
	ev_io_stop(loop, &p->io);
	ev_timer_stop(loop, &p->timer);
	if (p->len <= 0) {
		pending_free(p);
		return;
	}
	ev_timer_init(&p->timer, on_release, p->f->delay, 0);
	ev_timer_start(loop, &p->timer);
}

static void on_query(struct ev_loop *l, ev_io *w, int revents)
{
	struct front *f = w->data;
	for (;;) {
		struct pending *p = malloc(sizeof(*p));
		if (!p)
			return;
		p->clen = sizeof(p->client);
		ssize_t n = recvfrom(f->fd, p->buf, sizeof(p->buf), MSG_DONTWAIT,
				     (struct sockaddr *)&p->client, &p->clen);
		if (n > 0)
			f->queries++;
		if (n <= 0 || f->dead) {
			free(p);
			if (n <= 0)
				return;
			continue; /* a dead server swallows the query */
		}
		p->f = f;
		p->bfd = socket(backend.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		if (p->bfd < 0 || connect(p->bfd, (struct sockaddr *)&backend.ss, backend.len) < 0 ||
		    send(p->bfd, p->buf, (size_t)n, 0) < 0) {
			if (p->bfd >= 0)
				close(p->bfd);
			free(p);
			continue;
		}
		ev_io_init(&p->io, on_backend, p->bfd, EV_READ);
		p->io.data = p;
		ev_io_start(loop, &p->io);
		ev_timer_init(&p->timer, on_release, 5.0, 0); /* backend never answered */
		p->timer.data = p;
		p->len = 0;
		ev_timer_start(loop, &p->timer);
	}
}

static void on_term(struct ev_loop *l, ev_signal *w, int revents)
{
	ev_break(l, EVBREAK_ALL);
}

static void on_usr1(struct ev_loop *l, ev_signal *w, int revents)
{
	char tmp[4096];
	if (!counts_file || snprintf(tmp, sizeof(tmp), "%s.new", counts_file) >= (int)sizeof(tmp))
		return;
	FILE *out = fopen(tmp, "w");
	if (!out) {
		fprintf(stderr, "dnsdelay: cannot write %s: %s\n", tmp, strerror(errno));
		return;
	}
	for (struct front *f = fronts; f; f = f->next)
		fprintf(out, "%s %s %llu\n", f->addr, f->what, f->queries);
	if (fclose(out) != 0 || rename(tmp, counts_file) != 0)
		fprintf(stderr, "dnsdelay: cannot write %s: %s\n", counts_file, strerror(errno));
}

int main(int argc, char **argv)
{
	char line[256], addr[128], what[64];
	int n = 0;
	if (argc < 3 || argc > 4 || netaddr_parse(argv[1], 53, &backend) < 0) {
		fprintf(stderr, "usage: dnsdelay BACKEND_ADDR:PORT PLAN_FILE [COUNTS_FILE]\n");
		return 2;
	}
	counts_file = argc == 4 ? argv[3] : NULL;
	FILE *plan = fopen(argv[2], "r");
	if (!plan) {
		perror(argv[2]);
		return 1;
	}
	loop = ev_default_loop(0);
	while (fgets(line, sizeof(line), plan)) {
		struct netaddr a;
		if (sscanf(line, "%127s %63s", addr, what) != 2 || netaddr_parse(addr, 53, &a) < 0)
			continue;
		struct front *f = calloc(1, sizeof(*f));
		if (!f) {
			fprintf(stderr, "dnsdelay: out of memory\n");
			return 1;
		}
		snprintf(f->addr, sizeof(f->addr), "%s", addr);
		snprintf(f->what, sizeof(f->what), "%s", what);
		f->next = fronts;
		fronts = f;
		f->dead = !strcmp(what, "dead");
		f->delay = f->dead ? 0 : atof(what) / 1000.0;
		f->fd = socket(a.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		int one = 1;
		setsockopt(f->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(f->fd, (struct sockaddr *)&a.ss, a.len) < 0) {
			fprintf(stderr, "dnsdelay: cannot bind %s: %s\n", addr, strerror(errno));
			return 1;
		}
		ev_io_init(&f->io, on_query, f->fd, EV_READ);
		f->io.data = f;
		ev_io_start(loop, &f->io);
		n++;
	}
	fclose(plan);
	ev_signal term;
	ev_signal_init(&term, on_term, SIGTERM);
	ev_signal_start(loop, &term);
	ev_signal usr1;
	ev_signal_init(&usr1, on_usr1, SIGUSR1);
	ev_signal_start(loop, &usr1);
	fprintf(stderr, "dnsdelay: relaying %d addresses to %s\n", n, argv[1]);
	ev_run(loop, 0);
	return 0;
}
