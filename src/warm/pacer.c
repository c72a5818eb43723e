/* pacer.c: the warm-up's adaptive rate; see pacer.h */
#include "config.h"

#include "warm/pacer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int fixed(const struct pacer *p)
{
	return p->cfg.max_qps <= p->cfg.qps;
}

static struct pacer_window *newest(struct pacer *p)
{
	return &p->ring[(p->first + p->count - 1) % PACER_RING];
}

/* Closes the open window at now and opens the next one at the current rate */
static void roll(struct pacer *p, double now)
{
	struct pacer_window *w = newest(p);
	w->closed = 1;
	w->end = now < w->start ? w->start : now;
	if (p->count == PACER_RING) { /* cannot happen with the lag bounded; drop the oldest */
		p->first = (p->first + 1) % PACER_RING;
		p->count--;
	}
	p->count++;
	w = newest(p);
	memset(w, 0, sizeof(*w));
	w->start = now;
	w->rate = p->rate;
}

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
	if (!(p->cfg.slow_after > 0))
		p->cfg.slow_after = 1;
	if (!(p->cfg.timeout >= p->cfg.slow_after))
		p->cfg.timeout = 5 * p->cfg.slow_after;
	p->lag = p->cfg.slow_after < PACER_MAX_LAG ? p->cfg.slow_after : PACER_MAX_LAG;
	p->rate = p->peak = p->cfg.qps;
	p->tokens = 1;
	p->last_refill = p->changed = now;
	p->backed_off = -1;
	p->count = 1;
	p->why = "start";
	p->ring[0].start = now;
	p->ring[0].rate = p->rate;
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

static void bump(unsigned *c)
{
	if (*c < ~0u)
		(*c)++;
}

/*
 * The window of a query sent at sent; NULL when that one was judged
 * already. A query sent at the very instant a window was closed belongs
 * to the closed one, whether it was sent before or after the close: the
 * sent count and the outcome always land in the same window.
 */
static struct pacer_window *window_of(struct pacer *p, double sent)
{
	for (size_t i = p->count; i > 1; i--) {
		struct pacer_window *w = &p->ring[(p->first + i - 1) % PACER_RING];
		if (w->start < sent)
			return w;
	}
	return p->ring[p->first].start <= sent ? &p->ring[p->first] : NULL;
}

void pacer_sent(struct pacer *p, double now)
{
	struct pacer_window *w = window_of(p, now);
	p->tokens -= 1;
	bump(w ? &w->sent : &newest(p)->sent);
}

/* Histogram bin of an answer time: 0 below 1 ms, then half-octaves from 1 ms */
static int bin_of(double t)
{
	double edge = 0.001;
	int k = 0;
	while (t >= edge && k < PACER_BINS - 1) {
		k++;
		edge *= M_SQRT2;
	}
	return k;
}

/* The middle of a bin (geometric) */
static double bin_time(int k)
{
	if (k == 0)
		return 0.0005;
	return 0.001 * pow(M_SQRT2, k - 0.5);
}

void pacer_answer(struct pacer *p, double sent, double now)
{
	struct pacer_window *w = window_of(p, sent);
	if (!w)
		return;
	double t = now - sent;
	if (t <= p->lag) {
		bump(&w->fast);
		bump(&w->hist[bin_of(t)]);
	} else {
		bump(&w->late_answers);
	}
}

void pacer_timeout(struct pacer *p, double sent, double now)
{
	struct pacer_window *w = window_of(p, sent);
	if (w)
		bump(&w->timeouts);
	if (p->pend.on && sent > p->pend.start && sent <= p->pend.end)
		bump(&p->pend.timeouts);
}

static void set_rate(struct pacer *p, double rate, double now)
{
	if (rate > p->cfg.max_qps)
		rate = p->cfg.max_qps;
	if (rate < p->cfg.min_qps)
		rate = p->cfg.min_qps;
	if (rate > p->peak)
		p->peak = rate;
	if (rate < p->rate) { /* no burst at the old rate after a back-off */
		p->tokens = 0;
		p->last_refill = now;
	}
	p->rate = rate;
	p->changed = now;
	roll(p, now); /* each window has one rate */
}

static struct pacer_figures figures(const struct pacer_window *w, unsigned fast)
{
	struct pacer_figures f;
	unsigned n = w->sent, k = n / 2 + 1, seen = 0; /* k: the median's rank */
	f.late = (double)(n - fast) / n;
	f.median = INFINITY;
	if (fast >= k)
		for (int b = 0; b < PACER_BINS; b++) {
			seen += w->hist[b];
			if (seen >= k) {
				f.median = bin_time(b);
				break;
			}
		}
	return f;
}

static void base_push(struct pacer *p, struct pacer_figures f)
{
	p->base[p->base_next] = f;
	p->base_next = (p->base_next + 1) % PACER_BASE_WINDOWS;
	if (p->nbase < PACER_BASE_WINDOWS)
		p->nbase++;
}

/* The names, not the rate: f, the window that showed it, becomes the whole baseline */
static void hold(struct pacer *p, struct pacer_figures f, const char *why)
{
	p->holds++;
	p->why = why;
	p->nbase = p->base_next = 0;
	base_push(p, f);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The lower middle of the good windows' figures (each figure on its own) */
static struct pacer_figures baseline(const struct pacer *p)
{
	double late[PACER_BASE_WINDOWS], med[PACER_BASE_WINDOWS];
	for (size_t i = 0; i < p->nbase; i++) {
		late[i] = p->base[i].late;
		med[i] = p->base[i].median;
	}
	qsort(late, p->nbase, sizeof(double), cmp_double);
	qsort(med, p->nbase, sizeof(double), cmp_double);
	return (struct pacer_figures){late[(p->nbase - 1) / 2], med[(p->nbase - 1) / 2]};
}

static int late_bad(struct pacer_figures f, struct pacer_figures b, unsigned n)
{
	/*
	 * By chance: three standard deviations of the difference between two
	 * windows of n queries (the baseline's fraction is a sample too),
	 * counting at least one late query in the baseline.
	 */
	double q = b.late > 1.0 / n ? b.late : 1.0 / n;
	return f.late > b.late + PACER_LATE_MARGIN + 3 * sqrt(2 * q * (1 - q) / n);
}

static int slow_bad(struct pacer_figures f, struct pacer_figures b)
{
	return f.median > PACER_SLOW_FACTOR * b.median + PACER_SLOW_MARGIN;
}

/* Whether the last back-off helped, judged by a window sent after it */
static int helped(const struct pacer *p, struct pacer_figures f, double good)
{
	struct pacer_figures t = p->trig, b = p->trig_base;
	if (good >= PACER_HELD * p->trig_good)
		return 1; /* as many answers in time at the lower rate */
	if (p->trig_late && t.late - f.late >= fmax(PACER_LATE_MARGIN, (t.late - b.late) * 2 / 3))
		return 1;
	if (p->trig_slow && isfinite(b.median) &&
	    (isinf(t.median) ? isfinite(f.median) : f.median <= (t.median + b.median) / 2))
		return 1;
	return 0;
}

/* Better than the window before, in what made the back-off */
static int improving(const struct pacer *p, struct pacer_figures f)
{
	if (p->trig_late && p->prev.late - f.late > PACER_LATE_MARGIN)
		return 1;
	return p->trig_slow && f.median < p->prev.median * 0.8;
}

static void judge(struct pacer *p, const struct pacer_window *w, double now)
{
	p->judged++;
	if (w->sent < PACER_MIN_SAMPLES)
		return; /* too little to tell */
	unsigned fast = w->fast < w->sent ? w->fast : w->sent;
	struct pacer_figures f = figures(w, fast);
	struct pacer_figures b = p->nbase ? baseline(p) : f;
	int lbad = late_bad(f, b, w->sent), sbad = slow_bad(f, b), late_seen = lbad;
	p->last = f;
	p->last_base = b;
	if (!lbad && !sbad)
		base_push(p, f); /* only the Recursor's normal makes the baseline */
	if (p->pend.on && w->start >= p->pend.at) {
		p->pend.nafter++;
		p->pend.after_bad = lbad;
	}
	/*
	 * Late answers alone come in bursts with the names: the names of a zone
	 * whose first server is dead sit together in the list, and each costs
	 * the Recursor a 1.5 s timeout whatever the rate. A Recursor that the
	 * replay overloads stays late; so a late share alone counts from the
	 * PACER_LATE_RUN-th bad window in a row.
	 */
	p->late_run = lbad ? p->late_run + 1 : 0;
	if (lbad && !sbad && p->late_run < PACER_LATE_RUN)
		lbad = 0;
	if (fixed(p) || w->start < p->backed_off)
		return; /* sent before the last back-off: that one answered it */
	double span = w->end - w->start;
	double good = span > 0 ? fast / span : 0;
	if (p->checking == 1) {
		/* the first window after a back-off: the Recursor may still be working off its queue */
		p->checking = 2;
		p->waited = 0;
		p->prev = f;
		return;
	}
	if (p->checking == 2) {
		if (!helped(p, f, good) && improving(p, f) && p->waited < PACER_CHECK_WAIT) {
			p->waited++; /* getting better: the queue is still draining */
			p->prev = f;
			return;
		}
		p->checking = 0;
		if (!helped(p, f, good)) {
			/* as slow at the lower rate: the names are (dead servers), not the rate */
			hold(p, f, "hold: as slow at the lower rate (the names, not the rate)");
			return;
		}
	}
	if (lbad || sbad) {
		if (p->rate <= p->cfg.min_qps || (!sbad && p->pend.on))
			return;
		double from = w->rate < p->rate ? w->rate : p->rate;
		double sent_rate = span >= PACER_WINDOW ? w->sent / span : from;
		/*
		 * (the concurrency held it lower: when answers are slower, the rate
		 * really sent is what was too much; answers that wait on dead
		 * servers fill the concurrency too, whatever the rate, so a step on
		 * lateness alone is from the rate)
		 */
		if (sent_rate < from && sbad)
			from = sent_rate;
		p->backoffs++;
		p->late_run = 0;
		if (!sbad) {
			/*
			 * Late, not slower: queries lost (overload) or answers
			 * that wait on dead servers (the names). Only the end
			 * tells: step down a little until it does.
			 */
			p->pend.on = 1;
			p->pend.start = w->start;
			p->pend.end = w->end;
			p->pend.at = now;
			p->pend.rate = p->rate;
			p->pend.late = w->sent - fast;
			p->pend.timeouts = w->timeouts;
			p->pend.f = f;
			p->pend.nafter = 0;
			p->pend.after_bad = 0;
			p->why = "back-off: late answers (provisional, until they come or time out)";
			set_rate(p, from * PACER_DOWN_LATE, now);
			p->backed_off = now;
			return;
		}
		p->pend.on = 0; /* slower answers: overload, whatever the late ones turn out to be */
		p->trig = f;
		p->trig_base = b;
		p->trig_good = good;
		p->trig_late = lbad;
		p->trig_slow = sbad;
		p->checking = 1;
		p->trouble = w->rate;
		p->why = "back-off: answers slower";
		set_rate(p, from * PACER_DOWN, now);
		p->backed_off = now;
		return;
	}
	if (!p->pend.on && !late_seen && w->start >= p->changed && w->rate == p->rate && f.late <= 0.5 &&
	    p->rate < p->cfg.max_qps && (double)w->sent * 4 >= p->rate * span * 3) {
		/* near the rate that was too much last time, step carefully; past it, it was not */
		if (p->rate > p->trouble)
			p->trouble = 0;
		double up = p->trouble > 0 && p->rate * PACER_UP > PACER_NEAR * p->trouble ? PACER_UP_NEAR : PACER_UP;
		p->raises++;
		p->why = "raise";
		set_rate(p, p->rate * up, now);
	}
}

/*
 * A provisional back-off's end: the late window's queries all answered or
 * timed out, and the windows sent after it judged.
 *   - At least half of the late ones lost, and the lower rate cured it:
 *     overload, the rate stays down, and the raises creep up on the rate
 *     it came from.
 *   - Otherwise (they came, only late; or as late at the lower rate):
 *     the names, not the rate. The late window becomes the baseline (as
 *     a slow hold's does) and the rate goes back up.
 */
static void settle(struct pacer *p, double now)
{
	p->pend.on = 0;
	p->late_run = 0; /* the next step takes PACER_LATE_RUN late windows again */
	if (!p->pend.after_bad && 2 * (double)p->pend.timeouts >= p->pend.late) {
		p->confirmed++;
		p->trouble = p->pend.rate;
		p->why = "back-off stands: the late queries were lost, and fewer at the lower rate";
		p->last = p->pend.f;
		return;
	}
	hold(p, p->pend.f,
	     p->pend.after_bad ? "hold: as late at the lower rate (the names, not the rate)"
			       : "hold: the late answers came (the names, not the rate)");
	p->last = p->pend.f;
	set_rate(p, p->pend.rate, now); /* (nothing else moves the rate while a step is open) */
}

void pacer_tick(struct pacer *p, double now)
{
	struct pacer_window *cur = newest(p);
	double open = now - cur->start;
	if ((open >= PACER_WINDOW && cur->sent >= PACER_MIN_SAMPLES) || open >= PACER_MAX_WINDOW)
		roll(p, now);
	while (p->count > 1 && now >= p->ring[p->first].end + p->lag) {
		struct pacer_window w = p->ring[p->first];
		p->first = (p->first + 1) % PACER_RING;
		p->count--;
		judge(p, &w, now);
	}
	/*
	 * (with too few queries for windows to be judged, as at the end of a
	 * replay or below 4 q/s, the timeouts alone settle it a while later)
	 */
	if (p->pend.on && now >= p->pend.end + p->cfg.timeout &&
	    (p->pend.nafter >= 2 || now >= p->pend.at + p->cfg.timeout + 2 * PACER_MAX_WINDOW + p->lag))
		settle(p, now);
}
