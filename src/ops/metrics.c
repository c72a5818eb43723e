/*
 * metrics.c: the Prometheus exposition of the node's counters (the table in
 * counters.c) and of the families that are not one value each; see metrics.h.
 */
#include "config.h"

#include "ops/metrics.h"

#include "ops/counters.h"

#include "dns/dnsmsg.h"
#include "nats/publisher.h"
#include "ops/health.h"
#include "ops/http.h"
#include "proxy/pathstats.h"
#include "warm/autowarm.h"

#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RCODES PATHSTATS_RCODES

/* The families whose samples are not one value each: the version label, rcodes, the histogram */
static void custom(struct ctext *o, const struct counter_def *d, void *arg)
{
	const struct metrics_sources *src = arg;
	if (!strcmp(d->family, "recmesh_build_info")) {
		ctext_printf(o, "recmesh_build_info{version=\"%s\"} 1\n", src->version ? src->version : "");
	} else if (!strcmp(d->family, "recmesh_answer_rcodes_total")) {
		char rname[16];
		for (int i = 0; i <= RCODES; i++) {
			uint64_t v = pathstats_rcode(i);
			if (v == 0 && i > 5 && i != 9)
				continue; /* the common ones always, the rest once seen */
			ctext_printf(o, "recmesh_answer_rcodes_total{rcode=\"%s\"} %llu\n",
				     i < RCODES ? dnsmsg_rcode_to_text(i, rname) : "other",
				     (unsigned long long)v);
		}
	} else if (!strcmp(d->family, "recmesh_upstream_answer_duration_seconds")) {
		static const char *proto[2] = {"udp", "tcp"};
		for (int p = 0; p < 2; p++) {
			uint64_t cum = 0, sum_ns = 0;
			pathstats_latency(p, 0, &sum_ns);
			for (int b = 0; b <= PATHSTATS_LATENCY_NBOUNDS; b++) {
				cum += pathstats_latency(p, b, NULL);
				if (b < PATHSTATS_LATENCY_NBOUNDS)
					ctext_printf(o,
						     "%s_bucket{protocol=\"%s\",le=\"%g\"} %llu\n",
						     d->family, proto[p], pathstats_latency_bounds[b],
						     (unsigned long long)cum);
				else
					ctext_printf(o, "%s_bucket{protocol=\"%s\",le=\"+Inf\"} %llu\n",
						     d->family, proto[p], (unsigned long long)cum);
			}
			ctext_printf(o, "%s_sum{protocol=\"%s\"} %.9f\n", d->family, proto[p],
				     (double)sum_ns / 1e9);
			ctext_printf(o, "%s_count{protocol=\"%s\"} %llu\n", d->family, proto[p],
				     (unsigned long long)cum);
		}
	}
}

char *metrics_render(const struct metrics_sources *src, size_t *len)
{
	struct counter_values *v = calloc(1, sizeof(*v));
	struct ctext o = {malloc(8192), 0, 8192, 0};
	if (!v || !o.buf) {
		free(v);
		free(o.buf);
		return NULL;
	}
	o.buf[0] = '\0';
	v->has[CSRC_NODE] = 1;
	v->start_time = src->start_time;
	if (pathstats_proxy_read(&v->proxy, &v->in_flight) == 0)
		v->has[CSRC_PROXY] = v->has[CSRC_PEER] = 1;
	if (pathstats_pbstream_read(&v->pb) == 0)
		v->has[CSRC_PB] = 1;
	if (src->pub) {
		publisher_get_stats(src->pub, &v->pub);
		v->last_hot_write = src->last_hot_write;
		v->has[CSRC_PUB] = 1;
	}
	if (src->autowarm) {
		autowarm_get_stats(src->autowarm, &v->aw);
		v->has[CSRC_AUTOWARM] = 1;
	}
	if (src->health) {
		struct health_state hs;
		health_get(src->health, &hs);
		v->upstream_up = hs.up ? 1 : 0;
		v->upstream_downs[0] = hs.downs_refused;
		v->upstream_downs[1] = hs.downs_timeouts;
		v->upstream_downs[2] = hs.downs_probes;
		v->has[CSRC_HEALTH] = 1;
	}
	if (src->http) {
		http_get_stats(src->http, &v->http);
		v->has[CSRC_HTTP] = 1;
	}
	counters_prometheus(v, &o, custom, (void *)src);
	free(v);
	if (o.oom) {
		free(o.buf);
		return NULL;
	}
	*len = o.len;
	return o.buf;
}
