/*
 * health.c: the upstream probe thread behind GET /health; see health.h.
 *
 * The thread wakes every 0.5 s (so that a stop is quick and a hot-list
 * write is noticed within a second) and probes every HEALTH_INTERVAL. The
 * result is kept under a mutex that only this thread and readers take,
 * never the data path.
 */
#include "config.h"

#include "health.h"

#include "clock.h"
#include "dnsmsg.h"
#include "log.h"
#include "netaddr.h"
#include "publisher.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HEALTH_TICK_MS 500

struct health {
	char *upstream;
	struct netaddr addr;
	struct publisher *pub;
	pthread_t thread;
	atomic_int stop;
	pthread_mutex_t lock;
	struct health_state st; /* under lock */
	uint64_t hot_writes;    /* the probe thread's own */
	uint16_t next_id;
};

int health_answer(const uint8_t *pkt, size_t len, uint16_t id, int *rcode)
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

/* One probe: 0 with the rcode in *rcode, or -1 with what went wrong in why */
static int probe(struct health *h, int *rcode, double *took, char *why, size_t why_size)
{
	uint8_t q[512], a[4096];
	uint8_t root[1] = {0};
	uint16_t id = (uint16_t)(h->next_id++ ^ (uint16_t)random());
	int qlen = dnsmsg_make_query(id, root, 1, 2 /* NS */, 1, q, sizeof(q));
	double t0 = clock_mono();
	int fd = socket(h->addr.ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || qlen < 0) {
		snprintf(why, why_size, "cannot open a probe socket: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&h->addr.ss, h->addr.len) < 0 ||
	    send(fd, q, (size_t)qlen, 0) != qlen) {
		snprintf(why, why_size, "cannot send the probe: %s", strerror(errno));
		close(fd);
		return -1;
	}
	for (;;) {
		int left = (int)((HEALTH_TIMEOUT - (clock_mono() - t0)) * 1000);
		struct pollfd pfd = {fd, POLLIN, 0};
		if (left <= 0 || poll(&pfd, 1, left) <= 0) {
			snprintf(why, why_size, "no answer within %.0f s", HEALTH_TIMEOUT);
			close(fd);
			return -1;
		}
		ssize_t n = recv(fd, a, sizeof(a), 0);
		if (n < 0) {
			snprintf(why, why_size, "%s",
				 strerror(errno)); /* ICMP unreachable: nobody there */
			close(fd);
			return -1;
		}
		if (health_answer(a, (size_t)n, id, rcode) < 0)
			continue; /* not the answer: keep waiting */
		*took = clock_mono() - t0;
		close(fd);
		return 0;
	}
}

static void *health_thread(void *arg)
{
	struct health *h = arg;
	double next_probe = 0;
	while (!atomic_load(&h->stop)) {
		struct publisher_stats ps = {0};
		if (h->pub)
			publisher_get_stats(h->pub, &ps);
		double now = clock_mono();
		pthread_mutex_lock(&h->lock);
		h->st.nats_connected = ps.connected;
		if (ps.hot_writes != h->hot_writes) {
			h->hot_writes = ps.hot_writes;
			h->st.last_hot_write = clock_unix();
		}
		pthread_mutex_unlock(&h->lock);
		if (now >= next_probe) {
			char why[160], line[256], rc[16];
			int rcode = 0, up;
			double took = 0;
			if (!h->upstream) {
				up = 1;
				snprintf(line, sizeof(line), "ok: no upstream to probe");
			} else if (probe(h, &rcode, &took, why, sizeof(why)) < 0) {
				up = 0;
				snprintf(line, sizeof(line), "upstream '%s' does not answer: %s",
					 h->upstream, why);
			} else {
				up = rcode == 0;
				snprintf(line, sizeof(line),
					 "%supstream '%s' answers %s in %.0f ms", up ? "ok: " : "",
					 h->upstream, dnsmsg_rcode_to_text(rcode, rc), took * 1000);
			}
			pthread_mutex_lock(&h->lock);
			if (h->st.probed && up != h->st.up)
				log_info("health: %s", line);
			h->st.up = up;
			h->st.probed = 1;
			snprintf(h->st.reason, sizeof(h->st.reason), "%s", line);
			pthread_mutex_unlock(&h->lock);
			next_probe = clock_mono() + HEALTH_INTERVAL;
		}
		poll(NULL, 0, HEALTH_TICK_MS);
	}
	return NULL;
}

struct health *health_create(const char *upstream, struct publisher *pub, char *err,
			     size_t err_size)
{
	struct health *h = calloc(1, sizeof(*h));
	if (!h || (upstream && !(h->upstream = strdup(upstream)))) {
		free(h);
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	if (upstream && netaddr_parse(upstream, 53, &h->addr) < 0) {
		snprintf(err, err_size, "bad upstream address '%s'", upstream);
		free(h->upstream);
		free(h);
		return NULL;
	}
	h->pub = pub;
	atomic_init(&h->stop, 0);
	pthread_mutex_init(&h->lock, NULL);
	snprintf(h->st.reason, sizeof(h->st.reason), "starting: no probe yet");
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = pthread_create(&h->thread, NULL, health_thread, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, err_size, "cannot start the health thread: %s", strerror(rc));
		pthread_mutex_destroy(&h->lock);
		free(h->upstream);
		free(h);
		return NULL;
	}
	return h;
}

void health_get(const struct health *h, struct health_state *st)
{
	struct health *m = (struct health *)h; /* the lock is not part of the value */
	pthread_mutex_lock(&m->lock);
	*st = m->st;
	pthread_mutex_unlock(&m->lock);
}

void health_destroy(struct health *h)
{
	if (!h)
		return;
	atomic_store(&h->stop, 1);
	pthread_join(h->thread, NULL);
	pthread_mutex_destroy(&h->lock);
	free(h->upstream);
	free(h);
}
