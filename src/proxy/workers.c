/* workers.c: the data path's threads; see workers.h */
#include "config.h"

#include "proxy/workers.h"

#include "base/log.h"
#include "net/netaddr.h"
#include "proxy/liveness.h"
#include "proxy/pathstats.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct worker {
	struct workers *w;
	unsigned index;
	struct ev_loop *loop;
	struct proxy *proxy;
	struct proxy_config cfg;
	struct peer_config peers;
	struct schedpol_auto sched;
	ev_async stop, publish;
	atomic_uint asked, published; /* workers_sync's generations: the caller's, the worker's */
	pthread_t thread;
	int running;
};

struct workers {
	unsigned n;
	enum schedpol policy;
	struct worker *k;
	struct recstate *rec;     /* the upstream as every worker sees it: cfg.rec, or own_rec */
	struct recstate *own_rec; /* made here: none was given */
	struct liveness *live;    /* with peers: the shield every worker's peers share */
};

unsigned workers_auto(void)
{
	cpu_set_t set;
	long cpus = 0;
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		cpus = CPU_COUNT(&set);
	if (cpus <= 0)
		cpus = sysconf(_SC_NPROCESSORS_ONLN);
	long n = cpus / 4;
	return n < 1 ? 1 : n > 16 ? 16 : (unsigned)n;
}

unsigned workers_share(unsigned limit, unsigned n, unsigned k)
{
	return limit / n + (k < limit % n ? 1 : 0);
}

/*
 * Several workers bind with SO_REUSEPORT, which lets any later socket of
 * the same user with SO_REUSEPORT share the address: a second proxy on the
 * same port would take part of the clients instead of failing. So the
 * address is first bound alone: TCP with SO_REUSEADDR only (no listener
 * may hold it; a connection closing from a previous run may), UDP with no
 * option at all (nothing may hold it).
 */
static int probe_free(const char *text, char *err, size_t err_size)
{
	struct netaddr a;
	char shown[128];
	int one = 1;
	if (netaddr_parse(text, 53, &a) < 0) {
		snprintf(err, err_size, "bad listen address '%s' (expected ADDR:PORT)", text);
		return -1;
	}
	netaddr_format((struct sockaddr *)&a.ss, shown, sizeof(shown));
	for (int tcp = 0; tcp < 2; tcp++) {
		int fd = socket(a.ss.ss_family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			snprintf(err, err_size, "cannot create socket for '%s': %s", shown, strerror(errno));
			return -1;
		}
		if (tcp)
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (a.ss.ss_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		int rc = bind(fd, (struct sockaddr *)&a.ss, a.len);
		int e = errno;
		close(fd);
		if (rc < 0) {
			snprintf(err, err_size, "cannot listen on %s '%s': %s", tcp ? "TCP" : "UDP", shown, strerror(e));
			return -1;
		}
	}
	return 0;
}

static void on_stop(struct ev_loop *loop, ev_async *a, int revents)
{
	ev_break(loop, EVBREAK_ALL);
}

static void on_publish(struct ev_loop *loop, ev_async *a, int revents)
{
	struct worker *k = a->data;
	unsigned asked = atomic_load_explicit(&k->asked, memory_order_acquire);
	proxy_publish(k->proxy);
	atomic_store_explicit(&k->published, asked, memory_order_release);
}

static void *worker_main(void *arg)
{
	struct worker *k = arg;
	char err[256];
	pathstats_set_thread(k->index);
	if (k->w->policy == SCHEDPOL_AUTO) {
		if (schedpol_auto_start(&k->sched, err, sizeof(err)) < 0)
			log_warn("data path thread %u: %s: it keeps its policy", k->index, err);
	} else if (k->w->policy == SCHEDPOL_BATCH && schedpol_apply(SCHEDPOL_BATCH, err, sizeof(err)) < 0) {
		log_warn("data path thread %u: %s: using the normal policy", k->index, err);
	}
	ev_run(k->loop, 0);
	proxy_publish(k->proxy); /* the last counters, for the final stats line */
	return NULL;
}

struct workers *workers_create(unsigned n, const struct proxy_config *cfg, enum schedpol policy,
			       char *err, size_t err_size)
{
	if (n < 1 || n > WORKERS_MAX) {
		snprintf(err, err_size, "%u data path threads: must be 1 to %u", n, WORKERS_MAX);
		return NULL;
	}
	struct workers *w = calloc(1, sizeof(*w));
	if (!w || !(w->k = calloc(n, sizeof(*w->k)))) {
		free(w);
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	w->n = n;
	w->policy = policy;
	if (!(w->rec = cfg->rec) && !(w->rec = w->own_rec = recstate_create(cfg->upstream))) {
		free(w->k);
		free(w);
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	if (cfg->peers && !(w->live = liveness_create(w->rec, cfg->peers->hedge_delay, cfg->peers->shield_max,
						      cfg->peers->warmed))) {
		recstate_destroy(w->own_rec);
		free(w->k);
		free(w);
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	for (size_t i = 0; n > 1 && i < cfg->nlisten; i++)
		if (probe_free(cfg->listen[i], err, err_size) < 0) {
			workers_destroy(w);
			return NULL;
		}
	for (unsigned i = 0; i < n; i++) {
		struct worker *k = &w->k[i];
		k->w = w;
		k->index = i;
		k->cfg = *cfg;
		k->cfg.thread = i;
		k->cfg.reuseport = n > 1;
		k->cfg.threads = n;
		k->cfg.rec = w->rec;
		k->cfg.sched = policy == SCHEDPOL_AUTO ? &k->sched : NULL;
		k->cfg.max_tcp_clients = workers_share(cfg->max_tcp_clients, n, i);
		if (cfg->max_tcp_per_client) {
			unsigned per = workers_share(cfg->max_tcp_per_client, n, i);
			k->cfg.max_tcp_per_client = per ? per : 1;
		}
		if (cfg->peers) {
			k->peers = *cfg->peers;
			k->peers.max_qps = workers_share(cfg->peers->max_qps, n, i);
			k->peers.max_inflight = workers_share(cfg->peers->max_inflight, n, i);
			k->peers.threads = n;
			k->peers.live = w->live;
			k->cfg.peers = k->peers.max_qps && k->peers.max_inflight ? &k->peers : NULL;
		}
		if (!(k->loop = ev_loop_new(EVFLAG_AUTO))) {
			snprintf(err, err_size, "cannot make an event loop for data path thread %u", i);
			workers_destroy(w);
			return NULL;
		}
		ev_async_init(&k->stop, on_stop);
		ev_async_start(k->loop, &k->stop);
		ev_async_init(&k->publish, on_publish);
		k->publish.data = k;
		ev_async_start(k->loop, &k->publish);
		if (!(k->proxy = proxy_create(k->loop, &k->cfg, err, err_size))) {
			workers_destroy(w);
			return NULL;
		}
	}
	return w;
}

unsigned workers_count(const struct workers *w)
{
	return w->n;
}

void workers_set_sink(struct workers *w, unsigned k, struct event_sink sink)
{
	if (k < w->n)
		proxy_set_sink(w->k[k].proxy, sink);
}

void workers_set_phase(struct workers *w, const atomic_int *phase)
{
	for (unsigned i = 0; i < w->n; i++)
		proxy_set_phase(w->k[i].proxy, phase);
}

int workers_start(struct workers *w, char *err, size_t err_size)
{
	sigset_t all, before;
	sigfillset(&all);
	/* the node's loop thread takes the signals: the workers never do */
	pthread_sigmask(SIG_SETMASK, &all, &before);
	int rc = 0;
	for (unsigned i = 0; i < w->n; i++) {
		struct worker *k = &w->k[i];
		int e = pthread_create(&k->thread, NULL, worker_main, k);
		if (e) {
			snprintf(err, err_size, "cannot start data path thread %u: %s", i, strerror(e));
			rc = -1;
			break;
		}
		k->running = 1;
		char name[32];
		snprintf(name, sizeof(name), "rm-data%u", i);
		name[15] = 0; /* the kernel's limit */
		pthread_setname_np(k->thread, name);
	}
	pthread_sigmask(SIG_SETMASK, &before, NULL);
	if (rc < 0)
		workers_stop(w);
	return rc;
}

/* Asks a worker to publish its counters (on_publish); returns the generation its answer will carry */
static unsigned ask(struct worker *k)
{
	unsigned gen = atomic_fetch_add(&k->asked, 1) + 1;
	if (k->running)
		ev_async_send(k->loop, &k->publish);
	return gen;
}

void workers_sync(struct workers *w)
{
	unsigned gen[WORKERS_MAX];
	for (unsigned i = 0; i < w->n; i++)
		gen[i] = ask(&w->k[i]);
	/* a worker answers within one turn of its loop; one that is stuck is not waited for long */
	for (int waited_ms = 0; waited_ms < WORKERS_SYNC_WAIT_MS; waited_ms++) {
		unsigned i = 0;
		while (i < w->n && (!w->k[i].running ||
				    (int)(atomic_load_explicit(&w->k[i].published, memory_order_acquire) - gen[i]) >= 0))
			i++;
		if (i == w->n)
			return;
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
}

int workers_alive(struct workers *w, char *why, size_t why_size)
{
	int alive = 1;
	for (unsigned i = 0; i < w->n; i++) {
		struct worker *k = &w->k[i];
		if (k->running && atomic_load_explicit(&k->published, memory_order_acquire) !=
					  atomic_load_explicit(&k->asked, memory_order_relaxed)) {
			snprintf(why, why_size, "data path thread %u has not answered since the last look", i);
			alive = 0;
		}
	}
	for (unsigned i = 0; i < w->n; i++)
		if (w->k[i].running)
			ask(&w->k[i]);
	return alive;
}

void workers_stop(struct workers *w)
{
	if (!w)
		return;
	for (unsigned i = 0; i < w->n; i++)
		if (w->k[i].running)
			ev_async_send(w->k[i].loop, &w->k[i].stop);
	for (unsigned i = 0; i < w->n; i++)
		if (w->k[i].running) {
			pthread_join(w->k[i].thread, NULL);
			w->k[i].running = 0;
		}
}

void workers_destroy(struct workers *w)
{
	if (!w)
		return;
	workers_stop(w);
	for (unsigned i = 0; i < w->n; i++) {
		struct worker *k = &w->k[i];
		proxy_destroy(k->proxy);
		if (k->loop) {
			if (ev_is_active(&k->stop))
				ev_async_stop(k->loop, &k->stop);
			if (ev_is_active(&k->publish))
				ev_async_stop(k->loop, &k->publish);
			ev_loop_destroy(k->loop);
		}
	}
	liveness_destroy(w->live); /* after every worker's peers left it */
	recstate_destroy(w->own_rec);
	free(w->k);
	free(w);
}
