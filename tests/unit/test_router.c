/*
 * test_router.c: the peer policy apart from packets (router.h), on an
 * injected clock: the shield's decisions, the route of a query, the
 * admission of a query to a peer (in-flight limit, peers in turn past the
 * benched ones, rate limit, in that order), the bench and the rate limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "net/recphase.h"
#include "proxy/router.h"

#define S 1000000000ull
#define MS 1000000ull

static void shield_down_warming_idle(void **state)
{
	struct peer_shield s;
	int ended;
	peer_shield_init(&s);
	/* nothing wrong: local only */
	assert_int_equal(peer_shield_step(&s, REC_PHASE_IDLE, 0, 1 * S, 120 * S, &ended),
			 PEER_OFF);
	assert_int_equal(ended, 0);
	/* the data path sees it down (ECONNREFUSED): a peer at once */
	assert_int_equal(peer_shield_step(&s, REC_PHASE_IDLE, 1, 2 * S, 120 * S, &ended),
			 PEER_NOW);
	/* the watcher says down too */
	assert_int_equal(peer_shield_step(&s, REC_PHASE_DOWN, 0, 3 * S, 120 * S, &ended),
			 PEER_NOW);
	/* back, the watcher has not noticed: hedge */
	assert_int_equal(peer_shield_step(&s, REC_PHASE_IDLE, 0, 4 * S, 120 * S, &ended),
			 PEER_HEDGE);
	assert_int_equal(ended, 0);
	/* the warm-up runs: hedge */
	assert_int_equal(peer_shield_step(&s, REC_PHASE_WARMING, 0, 5 * S, 120 * S, &ended),
			 PEER_HEDGE);
	assert_int_equal(peer_shield_step(&s, REC_PHASE_WARMING, 0, 30 * S, 120 * S, &ended),
			 PEER_HEDGE);
	/* the warm-up finished: local only, once "ended" */
	assert_int_equal(peer_shield_step(&s, REC_PHASE_IDLE, 0, 31 * S, 120 * S, &ended),
			 PEER_OFF);
	assert_int_equal(ended, 1);
	assert_int_equal(peer_shield_step(&s, REC_PHASE_IDLE, 0, 32 * S, 120 * S, &ended),
			 PEER_OFF);
	assert_int_equal(ended, 0);
}

static void shield_max(void **state)
{
	struct peer_shield s;
	int ended;
	peer_shield_init(&s);
	assert_int_equal(peer_shield_step(&s, REC_PHASE_IDLE, 1, 10 * S, 20 * S, &ended),
			 PEER_NOW);
	/* no auto-warm (always idle): the shield lasts max after it came back */
	assert_int_equal(peer_shield_step(&s, REC_PHASE_IDLE, 0, 11 * S, 20 * S, &ended),
			 PEER_HEDGE);
	assert_int_equal(peer_shield_step(&s, REC_PHASE_IDLE, 0, 30 * S, 20 * S, &ended),
			 PEER_HEDGE);
	assert_int_equal(peer_shield_step(&s, REC_PHASE_IDLE, 0, 30 * S + 1, 20 * S, &ended),
			 PEER_OFF);
	assert_int_equal(ended, 1);
	/* a warm-up that runs past the limit is cut off too */
	assert_int_equal(peer_shield_step(&s, REC_PHASE_WARMING, 0, 40 * S, 20 * S, &ended),
			 PEER_HEDGE);
	assert_int_equal(peer_shield_step(&s, REC_PHASE_WARMING, 0, 61 * S, 20 * S, &ended),
			 PEER_OFF);
	assert_int_equal(ended, 1);
	/* and stays off while that warm-up goes on (--shield-max is the most) */
	assert_int_equal(peer_shield_step(&s, REC_PHASE_WARMING, 0, 62 * S, 20 * S, &ended),
			 PEER_OFF);
	assert_int_equal(ended, 0);
	assert_int_equal(peer_shield_step(&s, REC_PHASE_WARMING, 0, 500 * S, 20 * S, &ended),
			 PEER_OFF);
	assert_int_equal(ended, 0);
	/* that warm-up ends; the next one (no restart seen by the data path) is shielded again */
	assert_int_equal(peer_shield_step(&s, REC_PHASE_IDLE, 0, 501 * S, 20 * S, &ended),
			 PEER_OFF);
	assert_int_equal(peer_shield_step(&s, REC_PHASE_WARMING, 0, 502 * S, 20 * S, &ended),
			 PEER_HEDGE);
	/* cut off again, then the Recursor goes down during that warm-up: shielded at once */
	assert_int_equal(peer_shield_step(&s, REC_PHASE_WARMING, 0, 523 * S, 20 * S, &ended),
			 PEER_OFF);
	assert_int_equal(ended, 1);
	assert_int_equal(peer_shield_step(&s, REC_PHASE_DOWN, 0, 524 * S, 20 * S, &ended),
			 PEER_NOW);
	assert_int_equal(peer_shield_step(&s, REC_PHASE_WARMING, 0, 525 * S, 20 * S, &ended),
			 PEER_HEDGE);
}

static void shield_warming_before_down(void **state)
{
	struct peer_shield s;
	int ended;
	peer_shield_init(&s);
	/* a restart during a warm-up: the warm-up seen before it does not end the shield */
	peer_shield_step(&s, REC_PHASE_WARMING, 0, 1 * S, 120 * S, &ended);
	assert_int_equal(peer_shield_step(&s, REC_PHASE_DOWN, 0, 2 * S, 120 * S, &ended),
			 PEER_NOW);
	assert_int_equal(peer_shield_step(&s, REC_PHASE_IDLE, 0, 3 * S, 120 * S, &ended),
			 PEER_HEDGE);
	assert_int_equal(ended, 0);
}

static void bench_exponential(void **state)
{
	struct peer_bench b;
	peer_bench_init(&b);
	assert_true(peer_bench_usable(&b, 0));
	/* timeouts: benched at the third in a row */
	assert_true(peer_bench_fail(&b, 0, 1 * S) == 0);
	assert_true(peer_bench_fail(&b, 0, 1 * S) == 0);
	assert_true(peer_bench_fail(&b, 0, 1 * S) == PEER_BENCH_MIN);
	assert_false(peer_bench_usable(&b, 1 * S + 500 * MS));
	/* failures while benched (answers of earlier queries) do not extend it */
	assert_true(peer_bench_fail(&b, 1, 1 * S + 600 * MS) == 0);
	assert_true(peer_bench_usable(&b, 2 * S));
	/* a refusal benches at once, for twice as long */
	assert_true(peer_bench_fail(&b, 1, 3 * S) == 2 * PEER_BENCH_MIN);
	assert_false(peer_bench_usable(&b, 4 * S));
	assert_true(peer_bench_usable(&b, 5 * S));
	double d = 0;
	uint64_t t = 10 * S;
	for (int i = 0; i < 20; i++) {
		d = peer_bench_fail(&b, 1, t);
		t += 100 * S;
	}
	assert_true(d == PEER_BENCH_MAX);
	/* an answer starts over */
	peer_bench_ok(&b);
	assert_true(peer_bench_fail(&b, 1, t) == PEER_BENCH_MIN);
	/* a timeout between answers does not add up */
	peer_bench_ok(&b);
	t += 100 * S;
	peer_bench_fail(&b, 0, t);
	peer_bench_fail(&b, 0, t);
	peer_bench_ok(&b);
	assert_true(peer_bench_fail(&b, 0, t) == 0);
}

static void rate_limit(void **state)
{
	struct peer_rate r;
	peer_rate_init(&r, 100, 0);
	/* a burst of a tenth of a second */
	int n = 0;
	while (peer_rate_take(&r, 0))
		n++;
	assert_int_equal(n, 10);
	/* then 100 per second */
	n = 0;
	for (uint64_t t = 1 * MS; t <= 1 * S; t += 1 * MS)
		n += peer_rate_take(&r, t);
	assert_in_range(n, 99, 101);
	/* idle time does not buy more than the burst */
	n = 0;
	while (peer_rate_take(&r, 100 * S))
		n++;
	assert_int_equal(n, 10);
	/* 1 per second still lets one through */
	peer_rate_init(&r, 1, 0);
	assert_true(peer_rate_take(&r, 0));
	assert_false(peer_rate_take(&r, 500 * MS));
	assert_true(peer_rate_take(&r, 1 * S));
}

/* Every mode, with and without a query from a peer, a cold name and a hedge delay */
static void route_table(void **state)
{
	(void)state;
	static const struct {
		enum peer_mode mode;
		int from_peer, cold;
		uint64_t hedge_ns;
		enum route route;
		enum peer_mode counted_as;
	} cases[] = {
		{PEER_OFF, 0, 0, 50 * MS, ROUTE_LOCAL, PEER_OFF},
		{PEER_OFF, 0, 1, 50 * MS, ROUTE_LOCAL, PEER_OFF},
		{PEER_OFF, 1, 1, 0, ROUTE_LOCAL, PEER_OFF},
		/* down: every query goes to a peer at once, counted as sent while down */
		{PEER_NOW, 0, 0, 50 * MS, ROUTE_PEER_NOW, PEER_NOW},
		{PEER_NOW, 0, 1, 50 * MS, ROUTE_PEER_NOW, PEER_NOW},
		{PEER_NOW, 0, 0, 0, ROUTE_PEER_NOW, PEER_NOW},
		/* warming: a cold name at once, a warm one after the hedge delay (or at once without one) */
		{PEER_HEDGE, 0, 1, 50 * MS, ROUTE_PEER_NOW, PEER_COLD},
		{PEER_HEDGE, 0, 1, 0, ROUTE_PEER_NOW, PEER_COLD},
		{PEER_HEDGE, 0, 0, 50 * MS, ROUTE_PEER_HEDGED, PEER_HEDGE},
		{PEER_HEDGE, 0, 0, 0, ROUTE_PEER_NOW, PEER_HEDGE},
		/* a query a peer proxy sent never goes to a peer again */
		{PEER_NOW, 1, 0, 50 * MS, ROUTE_LOCAL, PEER_OFF},
		{PEER_HEDGE, 1, 1, 50 * MS, ROUTE_LOCAL, PEER_OFF},
		{PEER_HEDGE, 1, 0, 50 * MS, ROUTE_LOCAL, PEER_OFF},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct route_decision d = router_route(cases[i].mode, cases[i].from_peer, cases[i].cold,
						       cases[i].hedge_ns);
		if (d.route != cases[i].route || (d.route != ROUTE_LOCAL && d.counted_as != cases[i].counted_as))
			fail_msg("case %zu: route %d counted as %d, expected %d and %d", i, d.route, d.counted_as,
				 cases[i].route, cases[i].counted_as);
	}
}

/* The in-flight limit first, then the peers in turn past the benched, then the rate */
static void admit(void **state)
{
	(void)state;
	struct router r;
	enum router_refusal no = 0;
	router_init(&r, 3, 100, 2, 0);
	/* in turn: 0, 1, 2, 0 */
	assert_int_equal(router_admit(&r, 0, 1, 0, &no), 0);
	assert_int_equal(router_admit(&r, 1, 1, 0, &no), 1);
	assert_int_equal(router_admit(&r, 0, 1, 0, &no), 2);
	assert_int_equal(router_admit(&r, 0, 1, 0, &no), 0);
	/* the in-flight limit (or no slot), before any peer or token is taken */
	assert_int_equal(router_admit(&r, 2, 1, 0, &no), -1);
	assert_int_equal(no, ROUTER_INFLIGHT);
	assert_int_equal(router_admit(&r, 0, 0, 0, &no), -1);
	assert_int_equal(no, ROUTER_INFLIGHT);
	assert_int_equal(router_admit(&r, 0, 1, 0, &no), 1); /* the turn did not move */
	/* peer 2 refuses: benched 1 s, skipped */
	assert_true(router_failed(&r, 2, 1, 1 * S) == PEER_BENCH_MIN);
	assert_int_equal(router_admit(&r, 0, 1, 1 * S, &no), 0);
	assert_int_equal(router_admit(&r, 0, 1, 1 * S, &no), 1);
	assert_int_equal(router_admit(&r, 0, 1, 1 * S, &no), 0);
	/* every peer benched: no peer, and no token taken */
	router_failed(&r, 0, 1, 1 * S);
	router_failed(&r, 1, 1, 1 * S);
	assert_int_equal(router_admit(&r, 0, 1, 1 * S + 500 * MS, &no), -1);
	assert_int_equal(no, ROUTER_NO_PEER);
	/* back after the bench; an answer starts the bench's length over */
	assert_int_equal(router_admit(&r, 0, 1, 2 * S, &no), 1);
	router_answered(&r, 2);
	assert_true(router_failed(&r, 2, 1, 3 * S) == PEER_BENCH_MIN);
	/* the rate: a burst of a tenth of a second, then none until tokens come */
	struct router q;
	router_init(&q, 1, 100, 1000, 10 * S);
	int sent = 0;
	while (router_admit(&q, 0, 1, 10 * S, &no) == 0)
		sent++;
	assert_int_equal(sent, 10);
	assert_int_equal(no, ROUTER_RATE);
	assert_int_equal(router_admit(&q, 0, 1, 10 * S + 10 * MS, &no), 0);
	/* out-of-range peers are ignored; more than PEER_MAX peers are capped */
	assert_true(router_failed(&q, 5, 1, 10 * S) == 0);
	router_answered(&q, 5);
	router_init(&q, PEER_MAX + 5, 100, 10, 0);
	assert_int_equal(q.npeers, PEER_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(shield_down_warming_idle),
		cmocka_unit_test(shield_max),
		cmocka_unit_test(shield_warming_before_down),
		cmocka_unit_test(bench_exponential),
		cmocka_unit_test(rate_limit),
		cmocka_unit_test(route_table),
		cmocka_unit_test(admit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
