/* pacer.c: the warm-up's adaptive rate; see pacer.h */
#include "config.h"

#include "pacer.h"

#include <string.h>

void pacer_init(struct pacer *p, const struct pacer_config *cfg, double now)
{
	memset(p, 0, sizeof(*p));
	p->cfg = *cfg;
	if (!(p->cfg.qps >= 1))
		p->cfg.qps = 1;
	if (!(p->cfg.max_qps >= p->cfg.qps))
		p->cfg.max_qps = p->cfg.qps;
	if (!(p->cfg.min_qps >= 1))
		p->cfg.min_qps = 1;
	if (p->cfg.min_qps > p->cfg.qps)
		p->cfg.min_qps = p->cfg.qps;
	p->rate = p->peak = p->cfg.qps;
	p->tokens = 1;
	p->last_refill = p->changed = p->window_start = now;
}

static int fixed(const struct pacer *p)
{
	return p->cfg.max_qps <= p->cfg.qps;
}

unsigned pacer_allowed(struct pacer *p, double now)
{
	double cap = p->rate / 10 < 1 ? 1 : p->rate / 10;
	double dt = now - p->last_refill;
	if (dt > 0) {
		p->tokens += p->rate * dt;
		p->last_refill = now;
	}
	if (p->tokens > cap)
		p->tokens = cap;
	return p->tokens >= 1 ? (unsigned)p->tokens : 0;
}

void pacer_sent(struct pacer *p, double now)
{
	p->tokens -= 1;
	p->sent++;
}

void pacer_answer(struct pacer *p, double sent, double now)
{
	if (sent < p->changed)
		return;
	p->answers++;
	if (now - sent > p->cfg.slow_after)
		p->slow++;
}

void pacer_timeout(struct pacer *p, double sent, double now)
{
	if (sent < p->changed)
		return;
	p->timeouts++;
}

static void set_rate(struct pacer *p, double rate, double now)
{
	if (rate > p->cfg.max_qps)
		rate = p->cfg.max_qps;
	if (rate < p->cfg.min_qps)
		rate = p->cfg.min_qps;
	if (rate > p->peak)
		p->peak = rate;
	p->rate = rate;
	p->changed = p->window_start = now;
	p->answers = p->slow = p->timeouts = p->sent = 0;
}

void pacer_tick(struct pacer *p, double now)
{
	double span = now - p->window_start;
	if (fixed(p) || span < PACER_WINDOW)
		return;
	int bad = p->timeouts > 0 || p->slow * 10 > p->answers;
	if (bad && p->rate > p->cfg.min_qps) {
		p->backoffs++;
		set_rate(p, p->rate * PACER_DOWN, now);
		return;
	}
	if (!bad && p->answers + p->timeouts < PACER_MIN_SAMPLES)
		return; /* too little to judge: keep counting */
	if (!bad && p->sent * 4 >= (size_t)(p->rate * span * 3) && p->rate < p->cfg.max_qps) {
		p->raises++;
		set_rate(p, p->rate * PACER_UP, now);
		return;
	}
	/* bad at the floor, or good while the rate was not the limit: a fresh window */
	p->window_start = now;
	p->answers = p->slow = p->timeouts = p->sent = 0;
}
