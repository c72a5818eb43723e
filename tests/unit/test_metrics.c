/* test_metrics.c: the Prometheus exposition, the histogram and the seqlock snapshot under a writer thread */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ops/metrics.h"
#include "proxy/pathstats.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void expect_line(const char *text, const char *line)
{
	char want[512];
	snprintf(want, sizeof(want), "\n%s\n", line);
	if (!strstr(text, want))
		fail_msg("line '%s' missing from:\n%s", line, text);
}

static void test_nothing_published(void **state)
{
	pathstats_reset();
	struct metrics_sources src = {.version = "1.2.3", .start_time = 1000.5};
	size_t len = 0;
	char *t = metrics_render(&src, &len);
	assert_non_null(t);
	assert_int_equal(strlen(t), len);
	expect_line(t, "recmesh_build_info{version=\"1.2.3\"} 1");
	expect_line(t, "recmesh_start_time_seconds 1000.500");
	/* no proxy snapshot yet: no proxy families */
	if (strstr(t, "recmesh_queries_total"))
		fail_msg("proxy counters before any snapshot:\n%s", t);
	struct proxy_stats ps;
	uint64_t inf;
	assert_int_equal(pathstats_proxy_read(&ps, &inf), -1);
	free(t);
}

static void test_proxy_and_histogram(void **state)
{
	pathstats_reset();
	struct proxy_stats ps = {0};
	ps.udp_queries = 10;
	ps.tcp_queries = 3;
	ps.answers = 12;
	ps.upstream_timeouts = 1;
	ps.overload_drops = 2;
	ps.tcp_clients_open = 4;
	pathstats_proxy_publish(&ps, 7);
	pathstats_answer(300000, 0, 0);        /* 0.3 ms: first bucket */
	pathstats_answer(2000000, 0, 0);       /* 2 ms: le 0.0025 */
	pathstats_answer(9000000000ull, 0, 2); /* 9 s: only +Inf */
	pathstats_answer(40000000, 1, 3);      /* 40 ms over TCP */
	struct pbstream_stats bs = {0};
	bs.frames = 5;
	bs.truncated = 1;
	bs.outgoing_early_timeouts = 7;
	bs.client_queries = 8;
	bs.bad_ns_names = 9;
	bs.query_bits_evicted = 10;
	pathstats_pbstream_publish(&bs);

	struct metrics_sources src = {.version = "x"};
	size_t len;
	char *t = metrics_render(&src, &len);
	assert_non_null(t);
	expect_line(t, "# TYPE recmesh_queries_total counter");
	expect_line(t, "recmesh_queries_total{protocol=\"udp\"} 10");
	expect_line(t, "recmesh_queries_total{protocol=\"tcp\"} 3");
	expect_line(t, "recmesh_answers_total 12");
	expect_line(t, "recmesh_upstream_timeouts_total 1");
	expect_line(t, "recmesh_queries_dropped_total{reason=\"overload\"} 2");
	expect_line(t, "recmesh_tcp_clients 4");
	expect_line(t, "recmesh_queries_in_flight 7");
	expect_line(t, "recmesh_answer_rcodes_total{rcode=\"NOERROR\"} 2");
	expect_line(t, "recmesh_answer_rcodes_total{rcode=\"SERVFAIL\"} 1");
	expect_line(t, "recmesh_answer_rcodes_total{rcode=\"NXDOMAIN\"} 1");
	expect_line(t, "# TYPE recmesh_upstream_answer_duration_seconds histogram");
	expect_line(
		t,
		"recmesh_upstream_answer_duration_seconds_bucket{protocol=\"udp\",le=\"0.0005\"} 1");
	expect_line(
		t,
		"recmesh_upstream_answer_duration_seconds_bucket{protocol=\"udp\",le=\"0.0025\"} 2");
	expect_line(t,
		    "recmesh_upstream_answer_duration_seconds_bucket{protocol=\"udp\",le=\"5\"} 2");
	expect_line(
		t,
		"recmesh_upstream_answer_duration_seconds_bucket{protocol=\"udp\",le=\"+Inf\"} 3");
	expect_line(t, "recmesh_upstream_answer_duration_seconds_count{protocol=\"udp\"} 3");
	expect_line(t,
		    "recmesh_upstream_answer_duration_seconds_sum{protocol=\"udp\"} 9.002300000");
	expect_line(
		t,
		"recmesh_upstream_answer_duration_seconds_bucket{protocol=\"tcp\",le=\"0.025\"} 0");
	expect_line(
		t,
		"recmesh_upstream_answer_duration_seconds_bucket{protocol=\"tcp\",le=\"0.05\"} 1");
	expect_line(t, "recmesh_protobuf_frames_total 5");
	expect_line(t, "recmesh_protobuf_frames_rejected_total{reason=\"truncated\"} 1");
	expect_line(t, "recmesh_protobuf_messages_total{kind=\"outgoing_early_timeout\"} 7");
	expect_line(t, "recmesh_protobuf_messages_total{kind=\"client_query\"} 8");
	expect_line(t, "recmesh_protobuf_ns_names_ignored_total 9");
	expect_line(t, "recmesh_protobuf_query_bits_dropped_total 10");
	/* every family has HELP and TYPE right before its samples */
	for (const char *p = t; (p = strstr(p, "# TYPE ")); p++) {
		const char *name = p + 7;
		size_t nl = strcspn(name, " ");
		char help[128];
		snprintf(help, sizeof(help), "# HELP %.*s ", (int)nl, name);
		if (!strstr(t, help))
			fail_msg("no HELP for '%.*s'", (int)nl, name);
	}
	free(t);
}

/* A writer publishes snapshots whose every field is k; the reader must never see a mix */
struct race {
	atomic_int stop;
	uint64_t rounds;
};

static void *writer(void *arg)
{
	struct race *r = arg;
	struct proxy_stats ps;
	uint64_t k = 1;
	while (!atomic_load(&r->stop)) {
		uint64_t *w = (uint64_t *)&ps;
		for (size_t i = 0; i < sizeof(ps) / sizeof(uint64_t); i++)
			w[i] = k;
		pathstats_proxy_publish(&ps, k);
		k++;
	}
	r->rounds = k;
	return NULL;
}

static void test_snapshot_consistent(void **state)
{
	pathstats_reset();
	struct race r = {0};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, writer, &r), 0);
	unsigned reads = 0, mixed = 0;
	uint64_t last = 0;
	while (reads < 200000) {
		struct proxy_stats ps;
		uint64_t inf;
		if (pathstats_proxy_read(&ps, &inf) < 0)
			continue;
		reads++;
		const uint64_t *w = (const uint64_t *)&ps;
		for (size_t i = 0; i < sizeof(ps) / sizeof(uint64_t); i++)
			if (w[i] != inf)
				mixed++;
		if (inf < last)
			mixed++;
		last = inf;
	}
	atomic_store(&r.stop, 1);
	pthread_join(t, NULL);
	if (mixed)
		fail_msg("%u mixed snapshots in %u reads (%llu writes)", mixed, reads,
			 (unsigned long long)r.rounds);
}

/* One data path thread of several (workers.h): its own pathstats slot */
struct slot_writer {
	unsigned slot;
	struct proxy_stats st;
	uint64_t in_flight;
	int answers_ms; /* one answer of this many ms */
};

static void *slot_writer_main(void *arg)
{
	struct slot_writer *w = arg;
	pathstats_set_thread(w->slot);
	pathstats_proxy_publish(&w->st, w->in_flight);
	pathstats_answer((uint64_t)w->answers_ms * 1000000, 0, 0);
	return NULL;
}

/* recmesh(1) "Threads": the counters are every thread's added up; the shields and the peer mode show once */
static void test_threads_add_up(void **state)
{
	pathstats_reset();
	struct slot_writer w[3] = {{.slot = 0}, {.slot = 1}, {.slot = 63}};
	for (int i = 0; i < 3; i++) {
		w[i].st.udp_queries = 10u * (i + 1);
		w[i].st.tcp_clients_open = 2;
		w[i].st.peer.shields = 4;
		w[i].st.peer.mode = (uint64_t)i; /* PEER_OFF, PEER_HEDGE, PEER_NOW */
		w[i].st.peer.in_flight = 5;
		w[i].in_flight = 100;
		w[i].answers_ms = 1 + 20 * i; /* 1 ms, 21 ms, 41 ms */
	}
	w[2].st.answers = UINT64_MAX - 1; /* saturates, never wraps */
	w[1].st.answers = 7;
	pthread_t t[3];
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, slot_writer_main, &w[i]), 0);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	struct proxy_stats sum;
	uint64_t inf;
	assert_int_equal(pathstats_proxy_read(&sum, &inf), 0);
	assert_int_equal(sum.udp_queries, 60);
	assert_int_equal(sum.tcp_clients_open, 6);
	assert_int_equal(sum.peer.in_flight, 15);
	assert_int_equal(sum.peer.shields, 4);
	assert_int_equal(sum.peer.mode, 2);
	assert_true(sum.answers == UINT64_MAX);
	assert_int_equal(inf, 300);
	/* the histogram: 1 ms (le 0.001), 21 and 41 ms (le 0.025, le 0.05), from three slots */
	uint64_t sum_ns = 0, n = 0;
	for (int b = 0; b <= PATHSTATS_LATENCY_NBOUNDS; b++)
		n += pathstats_latency(0, b, b == 0 ? &sum_ns : NULL);
	assert_int_equal(n, 3);
	assert_int_equal(sum_ns, 63000000);
	assert_int_equal(pathstats_latency(0, 1, NULL), 1);
	assert_int_equal(pathstats_rcode(0), 3);
	/* /metrics shows the sums */
	struct metrics_sources src = {.version = "x"};
	size_t len;
	char *text = metrics_render(&src, &len);
	assert_non_null(text);
	expect_line(text, "recmesh_queries_total{protocol=\"udp\"} 60");
	expect_line(text, "recmesh_queries_in_flight 300");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nothing_published),
		cmocka_unit_test(test_proxy_and_histogram),
		cmocka_unit_test(test_snapshot_consistent),
		cmocka_unit_test(test_threads_add_up),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
