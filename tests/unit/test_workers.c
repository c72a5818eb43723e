/* test_workers.c: the data path threads (workers.h): shared-out limits, sockets, start, sync, a hung thread, stop */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "echo.h"

#include "dns/dnsmsg.h"
#include "proxy/pathstats.h"
#include "proxy/workers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The shares of a limit add up to it exactly, differ by 1 at most, and the larger come first */
static void test_share(void **state)
{
	for (unsigned n = 1; n <= WORKERS_MAX; n++)
		for (unsigned limit = 0; limit <= 300; limit += (limit < 70 ? 1 : 37)) {
			unsigned sum = 0, prev = ~0u;
			for (unsigned k = 0; k < n; k++) {
				unsigned s = workers_share(limit, n, k);
				assert_true(s == limit / n || s == limit / n + 1);
				assert_true(s <= prev);
				prev = s;
				sum += s;
			}
			assert_int_equal(sum, limit);
		}
	assert_int_equal(workers_share(1000, 3, 0), 334);
	assert_int_equal(workers_share(1000, 3, 2), 333);
	assert_int_equal(workers_share(1, 2, 1), 0);
}

/* A free UDP and TCP port on 127.0.0.1 (bound once with SO_REUSEADDR, then let go) */
static unsigned free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void test_lifecycle(void **state)
{
	char listen[64], err[256];
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", free_port());
	char *const lists[] = {listen};
	struct proxy_config cfg = {
		.listen = lists,
		.nlisten = 1,
		.upstream = "127.0.0.1:9", /* nothing is sent */
		.upstream_timeout = 1,
		.upstream_sockets = 2,
		.max_tcp_clients = 10,
		.tcp_idle_timeout = 1,
	};
	pathstats_reset();
	/* several threads share the port (SO_REUSEPORT) */
	struct workers *w = workers_create(3, &cfg, SCHEDPOL_NORMAL, err, sizeof(err));
	if (!w)
		fail_msg("workers_create: %s", err);
	assert_int_equal(workers_count(w), 3);
	/* one thread binds alone: the port is taken */
	struct workers *one = workers_create(1, &cfg, SCHEDPOL_NORMAL, err, sizeof(err));
	assert_null(one);
	if (!strstr(err, "cannot listen on"))
		fail_msg("unclear error for a taken port: %s", err);
	/* nor can another set of threads join the port through SO_REUSEPORT */
	struct workers *again = workers_create(2, &cfg, SCHEDPOL_NORMAL, err, sizeof(err));
	assert_null(again);
	if (!strstr(err, "cannot listen on UDP") || !strstr(err, listen))
		fail_msg("unclear error for a port threads hold: %s", err);
	assert_int_equal(workers_start(w, err, sizeof(err)), 0);
	/* every thread answers a sync: each has published its counters */
	workers_sync(w);
	struct proxy_stats st;
	uint64_t inf;
	assert_int_equal(pathstats_proxy_read(&st, &inf), 0);
	/* running loops answer every look */
	char why[128];
	for (int i = 0; i < 5; i++) {
		workers_sync(w); /* lets the last look's request be answered */
		assert_int_equal(workers_alive(w, why, sizeof(why)), 1);
	}
	workers_stop(w);
	/* stopped threads are not looked at */
	assert_int_equal(workers_alive(w, why, sizeof(why)), 1);
	workers_destroy(w);
	/* the port is free again, for one thread alone */
	one = workers_create(1, &cfg, SCHEDPOL_NORMAL, err, sizeof(err));
	if (!one)
		fail_msg("the port was not let go: %s", err);
	workers_destroy(one);
	/* the number of threads is checked */
	assert_null(workers_create(0, &cfg, SCHEDPOL_NORMAL, err, sizeof(err)));
	assert_null(workers_create(WORKERS_MAX + 1, &cfg, SCHEDPOL_NORMAL, err, sizeof(err)));
}

/* An event sink that blocks the data path thread that calls it until released: a hung thread */
static sem_t sink_entered, sink_release;

static int blocking_sink(void *ctx, const struct rm_event *ev)
{
	(void)ctx;
	(void)ev;
	sem_post(&sink_entered);
	sem_wait(&sink_release);
	return 0;
}

static int wait_sem(sem_t *s, int seconds)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += seconds;
	int rc;
	while ((rc = sem_timedwait(s, &t)) < 0 && errno == EINTR)
		;
	return rc;
}

/*
 * The watchdog's look (workers_alive): a data path thread whose loop is
 * stuck (here in its event sink, for real) is reported, with its number,
 * at the second look; once it runs again the looks pass again
 */
static void test_hang(void **state)
{
	(void)state;
	struct echo up;
	echo_start(&up);
	unsigned port = free_port();
	char listen[64], upstream[64], err[256], why[128] = "";
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
	snprintf(upstream, sizeof(upstream), "127.0.0.1:%u", up.port);
	char *const lists[] = {listen};
	struct proxy_config cfg = {
		.listen = lists,
		.nlisten = 1,
		.upstream = upstream,
		.upstream_timeout = 2,
		.upstream_sockets = 1,
		.max_tcp_clients = 10,
		.tcp_idle_timeout = 1,
	};
	pathstats_reset();
	assert_int_equal(sem_init(&sink_entered, 0, 0), 0);
	assert_int_equal(sem_init(&sink_release, 0, 0), 0);
	struct workers *w = workers_create(2, &cfg, SCHEDPOL_NORMAL, err, sizeof(err));
	if (!w)
		fail_msg("workers_create: %s", err);
	for (unsigned k = 0; k < 2; k++)
		workers_set_sink(w, k, (struct event_sink){.fn = blocking_sink});
	assert_int_equal(workers_start(w, err, sizeof(err)), 0);
	workers_sync(w);
	assert_int_equal(workers_alive(w, why, sizeof(why)), 1);
	/* www.example.com A: its answer's event blocks the thread that forwarded it */
	uint8_t name[64], q[512];
	int nlen = dnsmsg_name_from_text("www.example.com.", name, sizeof(name));
	assert_true(nlen > 0);
	int qlen = dnsmsg_make_query(0x1234, name, (size_t)nlen, 1, 0, q, sizeof(q));
	assert_true(qlen > 0);
	int c = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(sendto(c, q, (size_t)qlen, 0, (struct sockaddr *)&to, sizeof(to)), qlen);
	if (wait_sem(&sink_entered, 5) < 0)
		fail_msg("the query's event never reached the sink in 5 s");
	/* stuck from now on: the next look asks, the one after finds it has not answered */
	workers_alive(w, why, sizeof(why));
	assert_int_equal(workers_alive(w, why, sizeof(why)), 0);
	if (!strstr(why, "data path thread ") || !strstr(why, "has not answered since the last look"))
		fail_msg("unclear reason for a hung thread: '%s'", why);
	print_message("hung: %s\n", why);
	/* it runs again: every thread answers the next look */
	sem_post(&sink_release);
	workers_sync(w);
	assert_int_equal(workers_alive(w, why, sizeof(why)), 1);
	workers_stop(w);
	workers_destroy(w);
	close(c);
	echo_stop(&up);
	sem_destroy(&sink_entered);
	sem_destroy(&sink_release);
}

static void test_auto(void **state)
{
	unsigned n = workers_auto();
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	assert_true(n >= 1 && n <= 16);
	assert_true(n <= (cpus / 4 > 1 ? cpus / 4 : 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_share),
		cmocka_unit_test(test_lifecycle),
		cmocka_unit_test(test_hang),
		cmocka_unit_test(test_auto),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
