/* router.c: the peer policy of `recmesh proxy --peer`, apart from packets; see router.h */
#include "config.h"

#include "proxy/router.h"

#include "net/recphase.h"

#include <string.h>

/* The shield */

void peer_shield_init(struct peer_shield *s)
{
	memset(s, 0, sizeof(*s));
}

enum peer_mode peer_shield_step(struct peer_shield *s, int phase, int local_down, uint64_t now_ns,
				uint64_t max_ns, int *ended)
{
	*ended = 0;
	if (local_down || phase == REC_PHASE_DOWN) {
		/* the clock starts when it is back; a warm-up seen before the restart does not count */
		s->active = 1;
		s->saw_warming = 0;
		s->expired = 0;
		s->since_ns = now_ns;
		return PEER_NOW;
	}
	if (s->expired) {
		/* cut off at max_ns: off until the warm-up that outlasted it ends */
		if (phase == REC_PHASE_WARMING)
			return PEER_OFF;
		s->expired = 0;
	}
	if (phase == REC_PHASE_WARMING) {
		if (!s->active) {
			s->active = 1;
			s->since_ns = now_ns;
		}
		s->saw_warming = 1;
	}
	if (!s->active)
		return PEER_OFF;
	if ((s->saw_warming && phase == REC_PHASE_IDLE) || now_ns - s->since_ns > max_ns) {
		s->expired = phase == REC_PHASE_WARMING;
		s->active = 0;
		s->saw_warming = 0;
		*ended = 1;
		return PEER_OFF;
	}
	return PEER_HEDGE;
}

void peer_bench_init(struct peer_bench *b)
{
	b->fails = 0;
	b->next = PEER_BENCH_MIN;
	b->until_ns = 0;
}

int peer_bench_usable(const struct peer_bench *b, uint64_t now_ns)
{
	return now_ns >= b->until_ns;
}

double peer_bench_fail(struct peer_bench *b, int refused, uint64_t now_ns)
{
	if (!peer_bench_usable(b, now_ns))
		return 0; /* already benched: answers of queries sent before do not extend it */
	if (!refused && ++b->fails < PEER_BENCH_FAILS)
		return 0;
	double d = b->next;
	b->until_ns = now_ns + (uint64_t)(d * 1e9);
	b->fails = 0;
	b->next = d * 2 > PEER_BENCH_MAX ? PEER_BENCH_MAX : d * 2;
	return d;
}

void peer_bench_ok(struct peer_bench *b)
{
	b->fails = 0;
	b->next = PEER_BENCH_MIN;
}

void peer_rate_init(struct peer_rate *r, unsigned max_qps, uint64_t now_ns)
{
	r->rate = max_qps;
	r->burst = max_qps / 10.0 < 1 ? 1 : max_qps / 10.0;
	r->tokens = r->burst;
	r->last_ns = now_ns;
}

int peer_rate_take(struct peer_rate *r, uint64_t now_ns)
{
	if (now_ns > r->last_ns) {
		r->tokens += (double)(now_ns - r->last_ns) / 1e9 * r->rate;
		if (r->tokens > r->burst)
			r->tokens = r->burst;
		r->last_ns = now_ns;
	}
	if (r->tokens < 1)
		return 0;
	r->tokens -= 1;
	return 1;
}

/* The route of one query */

struct route_decision router_route(enum peer_mode mode, int from_peer, int cold, uint64_t hedge_ns)
{
	struct route_decision d = {ROUTE_LOCAL, PEER_OFF};
	if (mode == PEER_OFF || from_peer)
		return d; /* nor is a query a peer proxy sent us hedged: never round again */
	if (mode == PEER_HEDGE && cold) {
		d.route = ROUTE_PEER_NOW; /* the warm-up has not reached it: the client would wait */
		d.counted_as = PEER_COLD;
	} else if (mode == PEER_HEDGE && hedge_ns > 0) {
		d.route = ROUTE_PEER_HEDGED;
		d.counted_as = PEER_HEDGE;
	} else {
		d.route = ROUTE_PEER_NOW;
		d.counted_as = mode;
	}
	return d;
}

/* Admission */

void router_init(struct router *r, unsigned npeers, unsigned max_qps, unsigned max_inflight, uint64_t now_ns)
{
	memset(r, 0, sizeof(*r));
	r->npeers = npeers < PEER_MAX ? npeers : PEER_MAX;
	r->max_inflight = max_inflight;
	for (unsigned i = 0; i < PEER_MAX; i++)
		peer_bench_init(&r->bench[i]);
	peer_rate_init(&r->rate, max_qps, now_ns);
}

int router_admit(struct router *r, unsigned in_flight, int slot_free, uint64_t now_ns,
		 enum router_refusal *refusal)
{
	if (in_flight >= r->max_inflight || !slot_free) {
		*refusal = ROUTER_INFLIGHT;
		return -1;
	}
	int pick = -1;
	for (unsigned k = 0; k < r->npeers; k++) {
		unsigned i = (r->next + k) % r->npeers;
		if (peer_bench_usable(&r->bench[i], now_ns)) {
			pick = (int)i;
			break;
		}
	}
	if (pick < 0) {
		*refusal = ROUTER_NO_PEER;
		return -1;
	}
	r->next = ((unsigned)pick + 1) % r->npeers;
	if (!peer_rate_take(&r->rate, now_ns)) {
		*refusal = ROUTER_RATE;
		return -1;
	}
	return pick;
}

double router_failed(struct router *r, unsigned i, int refused, uint64_t now_ns)
{
	return i < r->npeers ? peer_bench_fail(&r->bench[i], refused, now_ns) : 0;
}

void router_answered(struct router *r, unsigned i)
{
	if (i < r->npeers)
		peer_bench_ok(&r->bench[i]);
}
