/*
 * metrics.c: the Prometheus exposition of the node's counters; see metrics.h.
 */
#include "config.h"

#include "ops/metrics.h"

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

/* A growing text buffer; on out of memory it stops growing and says so at the end */
struct out {
	char *buf;
	size_t len, cap;
	int oom;
};

static void outf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void outf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	if (o->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->oom = 1;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		size_t ncap = o->cap * 2 + (size_t)n;
		char *nb = realloc(o->buf, ncap);
		if (!nb) {
			o->oom = 1;
			return;
		}
		o->buf = nb;
		o->cap = ncap;
	}
}

static void family(struct out *o, const char *name, const char *type, const char *help)
{
	outf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(struct out *o, const char *name, const char *type, const char *help, uint64_t v)
{
	family(o, name, type, help);
	outf(o, "%s %llu\n", name, (unsigned long long)v);
}

static void labelled(struct out *o, const char *name, const char *label, const char *value,
		     uint64_t v)
{
	outf(o, "%s{%s=\"%s\"} %llu\n", name, label, value, (unsigned long long)v);
}

static void render_proxy(struct out *o)
{
	struct proxy_stats ps;
	uint64_t in_flight;
	if (pathstats_proxy_read(&ps, &in_flight) < 0)
		return;
	family(o, "recmesh_queries_total", "counter", "Client queries received, by protocol.");
	labelled(o, "recmesh_queries_total", "protocol", "udp", ps.udp_queries);
	labelled(o, "recmesh_queries_total", "protocol", "tcp", ps.tcp_queries);
	one(o, "recmesh_answers_total", "counter", "Upstream answers relayed to clients.",
	    ps.answers);
	one(o, "recmesh_upstream_timeouts_total", "counter",
	    "Queries the upstream did not answer within --upstream-timeout.", ps.upstream_timeouts);
	one(o, "recmesh_servfail_sent_total", "counter",
	    "SERVFAIL answers made by the proxy (TCP).", ps.servfail_sent);
	family(o, "recmesh_queries_dropped_total", "counter", "Client queries dropped, by reason.");
	labelled(o, "recmesh_queries_dropped_total", "reason", "not_dns", ps.dropped_not_query);
	labelled(o, "recmesh_queries_dropped_total", "reason", "overload", ps.overload_drops);
	family(o, "recmesh_malformed_messages_total", "counter",
	       "Messages relayed unchanged that did not parse (no event), by direction.");
	labelled(o, "recmesh_malformed_messages_total", "direction", "query", ps.malformed_queries);
	labelled(o, "recmesh_malformed_messages_total", "direction", "response",
		 ps.malformed_responses);
	one(o, "recmesh_unexpected_responses_total", "counter",
	    "Upstream messages matching no query in flight (late, wrong question, not a response).",
	    ps.unexpected_responses);
	one(o, "recmesh_send_errors_total", "counter",
	    "Datagrams or segments that could not be sent.", ps.send_errors);
	one(o, "recmesh_tcp_clients_accepted_total", "counter", "TCP client connections accepted.",
	    ps.tcp_clients);
	one(o, "recmesh_tcp_clients_refused_total", "counter",
	    "TCP client connections refused at --max-tcp-clients.", ps.tcp_clients_refused);
	one(o, "recmesh_tcp_clients", "gauge", "TCP client connections open.", ps.tcp_clients_open);
	one(o, "recmesh_tcp_clients_refused_per_client_total", "counter",
	    "TCP client connections refused at --max-tcp-per-client (also in the refused total).",
	    ps.tcp_per_client_refused);
	family(o, "recmesh_tcp_clients_closed_total", "counter",
	       "TCP client connections the proxy closed, by reason.");
	labelled(o, "recmesh_tcp_clients_closed_total", "reason", "evicted", ps.tcp_evicted);
	labelled(o, "recmesh_tcp_clients_closed_total", "reason", "max_duration", ps.tcp_closed_duration);
	labelled(o, "recmesh_tcp_clients_closed_total", "reason", "unread", ps.tcp_closed_unread);
	one(o, "recmesh_tcp_reads_paused_total", "counter",
	    "Times a TCP client's reads stopped at the pipelining limit.", ps.tcp_reads_paused);
	one(o, "recmesh_accept_errors_total", "counter",
	    "Client accept() failures (descriptors, memory) that paused accepting.", ps.accept_errors);
	one(o, "recmesh_mismatched_answers_total", "counter",
	    "Upstream answers with a query's ID but another question (dropped).",
	    ps.mismatched_answers);
	one(o, "recmesh_queries_in_flight", "gauge",
	    "Queries sent upstream over UDP and not yet answered.", in_flight);

	/* --peer (peer.h): warm peers while the upstream is down or being warmed */
	const struct peer_stats *q = &ps.peer;
	family(o, "recmesh_peer_queries_total", "counter",
	       "Client queries sent to a warm peer, by the upstream's phase "
	       "(warming_cold: at once, the name was not warmed yet).");
	labelled(o, "recmesh_peer_queries_total", "phase", "down", q->sent_down);
	labelled(o, "recmesh_peer_queries_total", "phase", "warming", q->sent_warming);
	labelled(o, "recmesh_peer_queries_total", "phase", "warming_cold", q->sent_cold);
	family(o, "recmesh_peer_results_total", "counter", "Queries sent to peers, by outcome.");
	labelled(o, "recmesh_peer_results_total", "result", "first", q->first);
	labelled(o, "recmesh_peer_results_total", "result", "lost_race", q->lost_race);
	labelled(o, "recmesh_peer_results_total", "result", "failed", q->failed);
	labelled(o, "recmesh_peer_results_total", "result", "refused", q->refused);
	labelled(o, "recmesh_peer_results_total", "result", "truncated", q->truncated);
	labelled(o, "recmesh_peer_results_total", "result", "rejected", q->rejected);
	one(o, "recmesh_peer_unexpected_responses_total", "counter",
	    "Peer messages matching no query in flight (late, lost the race, wrong question).",
	    q->unexpected);
	family(o, "recmesh_peer_not_sent_total", "counter",
	       "Client queries a peer was not asked for, by limit.");
	labelled(o, "recmesh_peer_not_sent_total", "reason", "rate", q->limited_rate);
	labelled(o, "recmesh_peer_not_sent_total", "reason", "in_flight", q->limited_inflight);
	labelled(o, "recmesh_peer_not_sent_total", "reason", "hedge_queue", q->limited_queue);
	labelled(o, "recmesh_peer_not_sent_total", "reason", "all_benched", q->no_peer);
	labelled(o, "recmesh_peer_not_sent_total", "reason", "from_peer", q->from_peer);
	one(o, "recmesh_peer_coalesced_total", "counter",
	    "Client queries that waited for an identical one in flight to a peer instead of being sent.",
	    q->coalesced);
	one(o, "recmesh_peer_benched_total", "counter",
	    "Times a peer was benched (timed out or refused).", q->benched);
	one(o, "recmesh_peer_shields_total", "counter",
	    "Upstream restarts during which peers were asked.", q->shields);
	one(o, "recmesh_peer_queries_in_flight", "gauge", "Queries to peers not yet answered.",
	    q->in_flight);
	one(o, "recmesh_peer_queries_in_flight_max", "gauge",
	    "The most queries to peers in flight at once since the start.", q->in_flight_max);
	one(o, "recmesh_peer_mode", "gauge",
	    "Where client queries go: 0 the upstream only, 1 also a peer after the hedge delay "
	    "(warming), 2 also a peer at once (down).",
	    q->mode);

	char rname[16];
	family(o, "recmesh_answer_rcodes_total", "counter", "Parsed upstream answers, by rcode.");
	for (int i = 0; i <= RCODES; i++) {
		uint64_t v = pathstats_rcode(i);
		if (v == 0 && i > 5 && i != 9)
			continue; /* the common ones always, the rest once seen */
		labelled(o, "recmesh_answer_rcodes_total", "rcode",
			 i < RCODES ? dnsmsg_rcode_to_text(i, rname) : "other", v);
	}

	family(o, "recmesh_upstream_answer_duration_seconds", "histogram",
	       "Time from sending a query upstream to its parsed answer, by protocol.");
	static const char *proto[2] = {"udp", "tcp"};
	for (int p = 0; p < 2; p++) {
		uint64_t cum = 0, sum_ns = 0;
		pathstats_latency(p, 0, &sum_ns);
		for (int b = 0; b <= PATHSTATS_LATENCY_NBOUNDS; b++) {
			cum += pathstats_latency(p, b, NULL);
			if (b < PATHSTATS_LATENCY_NBOUNDS)
				outf(o,
				     "recmesh_upstream_answer_duration_seconds_bucket{protocol=\"%s\",le=\"%g\"} %llu\n",
				     proto[p], pathstats_latency_bounds[b], (unsigned long long)cum);
			else
				outf(o,
				     "recmesh_upstream_answer_duration_seconds_bucket{protocol=\"%s\",le=\"+Inf\"} %llu\n",
				     proto[p], (unsigned long long)cum);
		}
		outf(o, "recmesh_upstream_answer_duration_seconds_sum{protocol=\"%s\"} %.9f\n",
		     proto[p],
		     (double)sum_ns / 1e9);
		outf(o, "recmesh_upstream_answer_duration_seconds_count{protocol=\"%s\"} %llu\n",
		     proto[p], (unsigned long long)cum);
	}
}

static void render_pbstream(struct out *o)
{
	struct pbstream_stats bs;
	if (pathstats_pbstream_read(&bs) < 0)
		return;
	one(o, "recmesh_protobuf_connections_total", "counter",
	    "Protobuf stream connections accepted from the Recursor.", bs.connections);
	one(o, "recmesh_protobuf_connections", "gauge", "Protobuf stream connections open.",
	    bs.connections_open);
	one(o, "recmesh_protobuf_frames_total", "counter", "Protobuf frames received.", bs.frames);
	family(o, "recmesh_protobuf_frames_rejected_total", "counter",
	       "Protobuf frames or connections given up, by reason.");
	labelled(o, "recmesh_protobuf_frames_rejected_total", "reason", "bad", bs.bad_frames);
	labelled(o, "recmesh_protobuf_frames_rejected_total", "reason", "truncated", bs.truncated);
	labelled(o, "recmesh_protobuf_frames_rejected_total", "reason", "stalled", bs.stalled);
	labelled(o, "recmesh_protobuf_frames_rejected_total", "reason", "ignored", bs.ignored);
	labelled(o, "recmesh_protobuf_frames_rejected_total", "reason", "bad_time", bs.bad_time);
	labelled(o, "recmesh_protobuf_frames_rejected_total", "reason", "bad_question",
		 bs.bad_question);
	family(o, "recmesh_protobuf_connections_closed_total", "counter",
	       "Protobuf connections refused or closed by the listener, by reason.");
	labelled(o, "recmesh_protobuf_connections_closed_total", "reason", "not_allowed", bs.refused);
	labelled(o, "recmesh_protobuf_connections_closed_total", "reason", "evicted", bs.evicted);
	one(o, "recmesh_protobuf_accept_errors_total", "counter",
	    "Protobuf accept() failures (descriptors, memory) that paused accepting.",
	    bs.accept_errors);
	family(o, "recmesh_protobuf_messages_total", "counter", "Protobuf messages used, by kind.");
	labelled(o, "recmesh_protobuf_messages_total", "kind", "client_response",
		 bs.client_responses);
	labelled(o, "recmesh_protobuf_messages_total", "kind", "outgoing_answer",
		 bs.outgoing_answers);
	labelled(o, "recmesh_protobuf_messages_total", "kind", "outgoing_timeout",
		 bs.outgoing_timeouts);
	labelled(o, "recmesh_protobuf_messages_total", "kind", "outgoing_early_timeout",
		 bs.outgoing_early_timeouts);
	labelled(o, "recmesh_protobuf_messages_total", "kind", "client_query", bs.client_queries);
	one(o, "recmesh_protobuf_ns_names_ignored_total", "counter",
	    "NS names in outgoing messages that recmesh does not keep (not a lower-case name of [a-z0-9_-] labels).",
	    bs.bad_ns_names);
	one(o, "recmesh_protobuf_query_bits_dropped_total", "counter",
	    "Header bits of client queries dropped for room before their response came.", bs.query_bits_evicted);
	one(o, "recmesh_protobuf_events_dropped_total", "counter",
	    "Events from the protobuf streams dropped (queue full).", bs.events_dropped);
}

static void render_publisher(struct out *o, const struct metrics_sources *src)
{
	struct publisher_stats ps;
	publisher_get_stats(src->pub, &ps);
	one(o, "recmesh_events_submitted_total", "counter", "Events handed to the publisher.",
	    ps.submitted);
	one(o, "recmesh_events_published_total", "counter",
	    "Events in batches the NATS server took (flushed, not refused).", ps.published);
	family(o, "recmesh_events_dropped_total", "counter", "Events dropped, by reason.");
	labelled(o, "recmesh_events_dropped_total", "reason", "queue_full", ps.dropped_full);
	labelled(o, "recmesh_events_dropped_total", "reason", "nats", ps.dropped_nats);
	labelled(o, "recmesh_events_dropped_total", "reason", "max_payload", ps.dropped_payload);
	labelled(o, "recmesh_events_dropped_total", "reason", "denied", ps.dropped_denied);
	one(o, "recmesh_event_batches_total", "counter", "Event batches published.", ps.batches);
	one(o, "recmesh_hot_table_entries", "gauge", "Names in the hot table.", ps.hot_entries);
	one(o, "recmesh_hot_list_writes_total", "counter", "Hot lists written to KV.",
	    ps.hot_writes);
	one(o, "recmesh_hot_list_write_errors_total", "counter", "Hot-list writes that failed.",
	    ps.hot_write_errors);
	family(o, "recmesh_hot_list_age_seconds", "gauge",
	       "Seconds since this node last wrote its hot list (since its start, before the first).");
	outf(o, "recmesh_hot_list_age_seconds %.3f\n", ps.hot_age);
	one(o, "recmesh_hot_list_stale", "gauge",
	    "1 while this node's hot list has not been written for more than 3 times --hot-interval.",
	    ps.hot_stale ? 1 : 0);
	family(o, "recmesh_hot_list_last_write_timestamp_seconds", "gauge",
	       "When a successful hot-list write was last seen (unix seconds, within a second; 0: none yet).");
	outf(o, "recmesh_hot_list_last_write_timestamp_seconds %.3f\n", src->last_hot_write);
	one(o, "recmesh_nameserver_table_entries", "gauge",
	    "Authoritative servers in the NS table.", ps.ns_entries);
	one(o, "recmesh_nameserver_observations_total", "counter",
	    "Outgoing-query observations taken.", ps.ns_observations);
	one(o, "recmesh_intel_file_writes_total", "counter", "Intelligence file writes.",
	    ps.intel_writes);
	one(o, "recmesh_intel_dead_servers", "gauge",
	    "Servers the intelligence file last written marks as dead.", ps.intel_dead);
	one(o, "recmesh_hot_get_answered_total", "counter",
	    "Hot-list requests (recmesh.<cluster>.hot.get) answered.", ps.get_answered);
	family(o, "recmesh_hot_get_refused_total", "counter",
	       "Hot-list requests refused, by reason (doc/nats.md, hot.get limits).");
	labelled(o, "recmesh_hot_get_refused_total", "reason", "not_inbox", ps.get_refused_inbox);
	labelled(o, "recmesh_hot_get_refused_total", "reason", "repeat", ps.get_refused_repeat);
	labelled(o, "recmesh_hot_get_refused_total", "reason", "rate", ps.get_refused_rate);
	one(o, "recmesh_nats_connected", "gauge", "1 while the node's NATS connection is up.",
	    ps.connected ? 1 : 0);
	one(o, "recmesh_nats_reopens_total", "counter",
	    "New NATS connections opened after the server refused one for good (credentials, TLS).",
	    ps.nats_reopens);
}

static void render_autowarm(struct out *o, const struct autowarm *a)
{
	struct autowarm_stats as;
	autowarm_get_stats(a, &as);
	family(o, "recmesh_autowarm_runs_total", "counter", "Automatic warm-ups, by result.");
	labelled(o, "recmesh_autowarm_runs_total", "result", "replayed", as.runs);
	labelled(o, "recmesh_autowarm_runs_total", "result", "failed", as.failed);
	one(o, "recmesh_autowarm_names_total", "counter", "Names replayed by automatic warm-ups.",
	    as.names);
	family(o, "recmesh_autowarm_answers_total", "counter",
	       "Replayed names by what came back (servfail is part of answered).");
	labelled(o, "recmesh_autowarm_answers_total", "result", "answered", as.answered);
	labelled(o, "recmesh_autowarm_answers_total", "result", "timeout", as.timeouts);
	labelled(o, "recmesh_autowarm_answers_total", "result", "servfail", as.servfails);
	one(o, "recmesh_autowarm_running", "gauge", "1 while an automatic warm-up runs.",
	    (uint64_t)as.running);
	family(o, "recmesh_autowarm_progress_names", "gauge",
	       "The running (or last) automatic warm-up's names: to replay, and done so far.");
	labelled(o, "recmesh_autowarm_progress_names", "state", "planned", as.planned);
	labelled(o, "recmesh_autowarm_progress_names", "state", "done", as.done);
}

char *metrics_render(const struct metrics_sources *src, size_t *len)
{
	struct out o = {malloc(8192), 0, 8192, 0};
	if (!o.buf)
		return NULL;
	o.buf[0] = '\0';
	family(&o, "recmesh_build_info", "gauge", "Always 1; the version in a label.");
	outf(&o, "recmesh_build_info{version=\"%s\"} 1\n", src->version ? src->version : "");
	family(&o, "recmesh_start_time_seconds", "gauge", "When the node started (unix seconds).");
	outf(&o, "recmesh_start_time_seconds %.3f\n", src->start_time);
	render_proxy(&o);
	render_pbstream(&o);
	if (src->pub)
		render_publisher(&o, src);
	if (src->autowarm)
		render_autowarm(&o, src->autowarm);
	if (src->health) {
		struct health_state hs;
		health_get(src->health, &hs);
		one(&o, "recmesh_upstream_up", "gauge",
		    "1 while the upstream Recursor answers the health probe.", hs.up ? 1 : 0);
	}
	if (src->http) {
		struct http_stats h;
		http_get_stats(src->http, &h);
		one(&o, "recmesh_http_requests_total", "counter", "HTTP requests answered.",
		    h.requests);
		family(&o, "recmesh_http_rejected_total", "counter",
		       "HTTP connections or requests rejected, by reason.");
		labelled(&o, "recmesh_http_rejected_total", "reason", "connection_limit",
			 h.refused);
		labelled(&o, "recmesh_http_rejected_total", "reason", "client_limit",
			 h.client_refused);
		labelled(&o, "recmesh_http_rejected_total", "reason", "evicted", h.evicted);
		labelled(&o, "recmesh_http_rejected_total", "reason", "bad_request", h.bad);
		labelled(&o, "recmesh_http_rejected_total", "reason", "timeout", h.timeouts);
		one(&o, "recmesh_http_accept_errors_total", "counter",
		    "Times the HTTP server could not accept a connection (out of descriptors or memory) and paused accepting.",
		    h.accept_errors);
	}
	if (o.oom) {
		free(o.buf);
		return NULL;
	}
	*len = o.len;
	return o.buf;
}
