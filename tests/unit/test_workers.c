/* test_workers.c: the data path threads (workers.h): shared-out limits, sockets, start, sync, liveness, stop */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proxy/pathstats.h"
#include "proxy/workers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
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
		cmocka_unit_test(test_auto),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
