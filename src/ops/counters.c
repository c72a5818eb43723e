/* counters.c: the one table of a node's counters, and the stats lines and Prometheus families made from it; see counters.h */
#include "config.h"

#include "ops/counters.h"

#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const counter_line_names[CLINE_N] = {
	[CLINE_NONE] = "",
	[CLINE_PROTOBUF] = "protobuf",
	[CLINE_PROTOBUF_LIMITS] = "protobuf limits",
	[CLINE_QUERIES] = "queries",
	[CLINE_LIMITS] = "limits",
	[CLINE_PEERS] = "peers",
	[CLINE_AUTOWARM] = "auto-warm",
	[CLINE_EVENTS] = "events",
	[CLINE_HOTGET] = "hot-get",
};

/* enum peer_mode as peers_mode gives it: 0 local only, 1 hedge (warming), 2 at once (down) */
static const char *const peer_modes[] = {"local", "warming", "down"};
static const char *const nats_states[] = {"disconnected", "connected"};

#define V(f) offsetof(struct counter_values, f)
#define C "counter"
#define G "gauge"

/* One entry: source, kind, field, line, key, family, type, label, label value, help */
#define U(src, f, line, key, fam, type, lab, lv, help)                                             \
	{src, CK_U64, V(f), line, key, fam, type, lab, lv, help, NULL, 0}
#define D(src, f, line, key, fam, help) {src, CK_DBL, V(f), line, key, fam, G, NULL, NULL, help, NULL, 0}
#define W(src, f, line, key, fam, help, words)                                                     \
	{src, CK_U64, V(f), line, key, fam, G, NULL, NULL, help, words,                            \
	 sizeof(words) / sizeof(words[0])}
#define X(src, fam, type, help) {src, CK_CUSTOM, 0, CLINE_NONE, NULL, fam, type, NULL, NULL, help, NULL, 0}

const struct counter_def counter_defs[] = {
	X(CSRC_NODE, "recmesh_build_info", G, "Always 1; the version in a label."),
	D(CSRC_NODE, start_time, CLINE_NONE, NULL, "recmesh_start_time_seconds",
	  "When the node started (unix seconds)."),

	/* the proxy (proxy.h) */
	U(CSRC_PROXY, proxy.udp_queries, CLINE_QUERIES, "udp", "recmesh_queries_total", C, "protocol", "udp",
	  "Client queries received, by protocol."),
	U(CSRC_PROXY, proxy.tcp_queries, CLINE_QUERIES, "tcp", "recmesh_queries_total", C, "protocol", "tcp", NULL),
	U(CSRC_PROXY, proxy.answers, CLINE_QUERIES, "answers", "recmesh_answers_total", C, NULL, NULL,
	  "Upstream answers relayed to clients."),
	U(CSRC_PROXY, proxy.upstream_timeouts, CLINE_QUERIES, "timeouts", "recmesh_upstream_timeouts_total", C,
	  NULL, NULL, "Queries the upstream did not answer within --upstream-timeout."),
	U(CSRC_PROXY, proxy.servfail_sent, CLINE_QUERIES, "servfail", "recmesh_servfail_sent_total", C, NULL,
	  NULL, "SERVFAIL answers made by the proxy (TCP)."),
	U(CSRC_PROXY, proxy.dropped_not_query, CLINE_QUERIES, "not-dns", "recmesh_queries_dropped_total", C,
	  "reason", "not_dns", "Client queries dropped, by reason."),
	U(CSRC_PROXY, proxy.overload_drops, CLINE_QUERIES, "overload", "recmesh_queries_dropped_total", C,
	  "reason", "overload", NULL),
	U(CSRC_PROXY, proxy.malformed_queries, CLINE_QUERIES, "malformed-queries",
	  "recmesh_malformed_messages_total", C, "direction", "query",
	  "Messages relayed unchanged that did not parse (no event), by direction."),
	U(CSRC_PROXY, proxy.malformed_responses, CLINE_QUERIES, "malformed-responses",
	  "recmesh_malformed_messages_total", C, "direction", "response", NULL),
	U(CSRC_PROXY, proxy.unexpected_responses, CLINE_QUERIES, "unexpected",
	  "recmesh_unexpected_responses_total", C, NULL, NULL,
	  "Upstream messages matching no query in flight (late, wrong question, not a response)."),
	U(CSRC_PROXY, proxy.send_errors, CLINE_QUERIES, "send-errors", "recmesh_send_errors_total", C, NULL,
	  NULL, "Datagrams or segments that could not be sent."),
	U(CSRC_PROXY, proxy.tcp_clients, CLINE_QUERIES, "tcp-clients", "recmesh_tcp_clients_accepted_total", C,
	  NULL, NULL, "TCP client connections accepted."),
	U(CSRC_PROXY, proxy.tcp_clients_refused, CLINE_QUERIES, "tcp-refused",
	  "recmesh_tcp_clients_refused_total", C, NULL, NULL,
	  "TCP client connections refused at --max-tcp-clients or --max-tcp-per-client."),
	U(CSRC_PROXY, proxy.tcp_clients_open, CLINE_QUERIES, "tcp-open", "recmesh_tcp_clients", G, NULL, NULL,
	  "TCP client connections open."),
	U(CSRC_PROXY, proxy.mismatched_answers, CLINE_LIMITS, "mismatched-answers",
	  "recmesh_mismatched_answers_total", C, NULL, NULL,
	  "Upstream answers with a query's ID but another question (dropped)."),
	U(CSRC_PROXY, proxy.tcp_per_client_refused, CLINE_LIMITS, "tcp-per-client-refused",
	  "recmesh_tcp_clients_refused_per_client_total", C, NULL, NULL,
	  "TCP client connections refused at --max-tcp-per-client (also in the refused total)."),
	U(CSRC_PROXY, proxy.tcp_evicted, CLINE_LIMITS, "tcp-evicted", "recmesh_tcp_clients_closed_total", C,
	  "reason", "evicted", "TCP client connections the proxy closed, by reason."),
	U(CSRC_PROXY, proxy.tcp_closed_duration, CLINE_LIMITS, "tcp-max-duration",
	  "recmesh_tcp_clients_closed_total", C, "reason", "max_duration", NULL),
	U(CSRC_PROXY, proxy.tcp_closed_unread, CLINE_LIMITS, "tcp-unread", "recmesh_tcp_clients_closed_total",
	  C, "reason", "unread", NULL),
	U(CSRC_PROXY, proxy.tcp_reads_paused, CLINE_LIMITS, "tcp-reads-paused", "recmesh_tcp_reads_paused_total",
	  C, NULL, NULL, "Times a TCP client's reads stopped at the pipelining limit."),
	U(CSRC_PROXY, proxy.accept_errors, CLINE_LIMITS, "accept-errors", "recmesh_accept_errors_total", C,
	  NULL, NULL, "Client accept() failures (descriptors, memory) that paused accepting."),
	U(CSRC_PROXY, in_flight, CLINE_NONE, NULL, "recmesh_queries_in_flight", G, NULL, NULL,
	  "Queries sent upstream over UDP and not yet answered."),

	/* --peer (peer.h): warm peers while the upstream is down or being warmed */
	U(CSRC_PEER, proxy.peer.sent_down, CLINE_PEERS, "sent-down", "recmesh_peer_queries_total", C, "phase",
	  "down",
	  "Client queries sent to a warm peer, by the upstream's phase "
	  "(warming_cold: at once, the name was not warmed yet)."),
	U(CSRC_PEER, proxy.peer.sent_warming, CLINE_PEERS, "sent-warming", "recmesh_peer_queries_total", C,
	  "phase", "warming", NULL),
	U(CSRC_PEER, proxy.peer.sent_cold, CLINE_PEERS, "sent-cold", "recmesh_peer_queries_total", C, "phase",
	  "warming_cold", NULL),
	U(CSRC_PEER, proxy.peer.first, CLINE_PEERS, "first", "recmesh_peer_results_total", C, "result", "first",
	  "Queries sent to peers, by outcome."),
	U(CSRC_PEER, proxy.peer.lost_race, CLINE_PEERS, "lost-race", "recmesh_peer_results_total", C, "result",
	  "lost_race", NULL),
	U(CSRC_PEER, proxy.peer.failed, CLINE_PEERS, "failed", "recmesh_peer_results_total", C, "result",
	  "failed", NULL),
	U(CSRC_PEER, proxy.peer.refused, CLINE_PEERS, "refused", "recmesh_peer_results_total", C, "result",
	  "refused", NULL),
	U(CSRC_PEER, proxy.peer.truncated, CLINE_PEERS, "truncated", "recmesh_peer_results_total", C, "result",
	  "truncated", NULL),
	U(CSRC_PEER, proxy.peer.rejected, CLINE_PEERS, "rejected", "recmesh_peer_results_total", C, "result",
	  "rejected", NULL),
	U(CSRC_PEER, proxy.peer.unexpected, CLINE_PEERS, "unexpected", "recmesh_peer_unexpected_responses_total",
	  C, NULL, NULL, "Peer messages matching no query in flight (late, lost the race, wrong question)."),
	U(CSRC_PEER, proxy.peer.limited_rate, CLINE_PEERS, "limited-rate", "recmesh_peer_not_sent_total", C,
	  "reason", "rate", "Client queries a peer was not asked for, by limit."),
	U(CSRC_PEER, proxy.peer.limited_inflight, CLINE_PEERS, "limited-inflight", "recmesh_peer_not_sent_total",
	  C, "reason", "in_flight", NULL),
	U(CSRC_PEER, proxy.peer.limited_queue, CLINE_PEERS, "limited-queue", "recmesh_peer_not_sent_total", C,
	  "reason", "hedge_queue", NULL),
	U(CSRC_PEER, proxy.peer.no_peer, CLINE_PEERS, "no-peer", "recmesh_peer_not_sent_total", C, "reason",
	  "all_benched", NULL),
	U(CSRC_PEER, proxy.peer.from_peer, CLINE_PEERS, "from-peer", "recmesh_peer_not_sent_total", C, "reason",
	  "from_peer", NULL),
	U(CSRC_PEER, proxy.peer.coalesced, CLINE_PEERS, "coalesced", "recmesh_peer_coalesced_total", C, NULL,
	  NULL,
	  "Client queries that waited for an identical one in flight to a peer instead of being sent."),
	U(CSRC_PEER, proxy.peer.benched, CLINE_PEERS, "benched", "recmesh_peer_benched_total", C, NULL, NULL,
	  "Times a peer was benched (timed out or refused)."),
	U(CSRC_PEER, proxy.peer.shields, CLINE_PEERS, "shields", "recmesh_peer_shields_total", C, NULL, NULL,
	  "Upstream restarts during which peers were asked."),
	U(CSRC_PEER, proxy.peer.in_flight, CLINE_PEERS, "in-flight", "recmesh_peer_queries_in_flight", G, NULL,
	  NULL, "Queries to peers not yet answered."),
	U(CSRC_PEER, proxy.peer.in_flight_max, CLINE_PEERS, "in-flight-max",
	  "recmesh_peer_queries_in_flight_max", G, NULL, NULL,
	  "The most queries to peers in flight at once since the start."),
	W(CSRC_PEER, proxy.peer.mode, CLINE_PEERS, "mode", "recmesh_peer_mode",
	  "Where client queries go: 0 the upstream only, 1 also a peer after the hedge delay "
	  "(warming), 2 also a peer at once (down).",
	  peer_modes),

	X(CSRC_PROXY, "recmesh_answer_rcodes_total", C, "Parsed upstream answers, by rcode."),
	X(CSRC_PROXY, "recmesh_upstream_answer_duration_seconds", "histogram",
	  "Time from sending a query upstream to its parsed answer, by protocol."),

	/* the protobuf listener (pbstream.h) */
	U(CSRC_PB, pb.connections, CLINE_PROTOBUF, "connections", "recmesh_protobuf_connections_total", C, NULL,
	  NULL, "Protobuf stream connections accepted from the Recursor."),
	U(CSRC_PB, pb.connections_open, CLINE_PROTOBUF, "open", "recmesh_protobuf_connections", G, NULL, NULL,
	  "Protobuf stream connections open."),
	U(CSRC_PB, pb.frames, CLINE_PROTOBUF, "frames", "recmesh_protobuf_frames_total", C, NULL, NULL,
	  "Protobuf frames received."),
	U(CSRC_PB, pb.bad_frames, CLINE_PROTOBUF, "bad", "recmesh_protobuf_frames_rejected_total", C, "reason",
	  "bad", "Protobuf frames or connections given up, by reason."),
	U(CSRC_PB, pb.truncated, CLINE_PROTOBUF, "truncated", "recmesh_protobuf_frames_rejected_total", C,
	  "reason", "truncated", NULL),
	U(CSRC_PB, pb.stalled, CLINE_PROTOBUF, "stalled", "recmesh_protobuf_frames_rejected_total", C, "reason",
	  "stalled", NULL),
	U(CSRC_PB, pb.ignored, CLINE_PROTOBUF, "ignored", "recmesh_protobuf_frames_rejected_total", C, "reason",
	  "ignored", NULL),
	U(CSRC_PB, pb.bad_time, CLINE_PROTOBUF_LIMITS, "bad-time", "recmesh_protobuf_frames_rejected_total", C,
	  "reason", "bad_time", NULL),
	U(CSRC_PB, pb.bad_question, CLINE_PROTOBUF_LIMITS, "bad-question",
	  "recmesh_protobuf_frames_rejected_total", C, "reason", "bad_question", NULL),
	U(CSRC_PB, pb.refused, CLINE_PROTOBUF_LIMITS, "refused", "recmesh_protobuf_connections_closed_total", C,
	  "reason", "not_allowed", "Protobuf connections refused or closed by the listener, by reason."),
	U(CSRC_PB, pb.evicted, CLINE_PROTOBUF_LIMITS, "evicted", "recmesh_protobuf_connections_closed_total", C,
	  "reason", "evicted", NULL),
	U(CSRC_PB, pb.accept_errors, CLINE_PROTOBUF_LIMITS, "accept-errors",
	  "recmesh_protobuf_accept_errors_total", C, NULL, NULL,
	  "Protobuf accept() failures (descriptors, memory) that paused accepting."),
	U(CSRC_PB, pb.client_queries, CLINE_PROTOBUF, "client-queries", "recmesh_protobuf_messages_total", C,
	  "kind", "client_query", "Protobuf messages used, by kind."),
	U(CSRC_PB, pb.client_responses, CLINE_PROTOBUF, "client-responses", "recmesh_protobuf_messages_total", C,
	  "kind", "client_response", NULL),
	U(CSRC_PB, pb.outgoing_answers, CLINE_PROTOBUF, "outgoing-answers", "recmesh_protobuf_messages_total", C,
	  "kind", "outgoing_answer", NULL),
	U(CSRC_PB, pb.outgoing_timeouts, CLINE_PROTOBUF, "outgoing-timeouts", "recmesh_protobuf_messages_total",
	  C, "kind", "outgoing_timeout", NULL),
	U(CSRC_PB, pb.outgoing_early_timeouts, CLINE_PROTOBUF, "early-timeouts",
	  "recmesh_protobuf_messages_total", C, "kind", "outgoing_early_timeout", NULL),
	U(CSRC_PB, pb.bad_ns_names, CLINE_PROTOBUF_LIMITS, "bad-ns-name", "recmesh_protobuf_ns_names_ignored_total",
	  C, NULL, NULL,
	  "NS names in outgoing messages that recmesh does not keep (not a lower-case name of [a-z0-9_-] labels)."),
	U(CSRC_PB, pb.query_bits_evicted, CLINE_PROTOBUF_LIMITS, "query-bits-dropped",
	  "recmesh_protobuf_query_bits_dropped_total", C, NULL, NULL,
	  "Header bits of client queries dropped for room before their response came."),
	U(CSRC_PB, pb.events_dropped, CLINE_PROTOBUF, "dropped", "recmesh_protobuf_events_dropped_total", C, NULL,
	  NULL, "Events from the protobuf streams dropped (queue full)."),

	/* the publisher (publisher.h) */
	U(CSRC_PUB, pub.submitted, CLINE_NONE, NULL, "recmesh_events_submitted_total", C, NULL, NULL,
	  "Events handed to the publisher."),
	U(CSRC_PUB, pub.published, CLINE_EVENTS, "published", "recmesh_events_published_total", C, NULL, NULL,
	  "Events in batches the NATS server took (flushed, not refused)."),
	U(CSRC_PUB, pub.dropped_full, CLINE_EVENTS, "dropped-queue-full", "recmesh_events_dropped_total", C,
	  "reason", "queue_full", "Events dropped, by reason."),
	U(CSRC_PUB, pub.dropped_nats, CLINE_EVENTS, "dropped-nats", "recmesh_events_dropped_total", C, "reason",
	  "nats", NULL),
	U(CSRC_PUB, pub.dropped_payload, CLINE_EVENTS, "dropped-max-payload", "recmesh_events_dropped_total", C,
	  "reason", "max_payload", NULL),
	U(CSRC_PUB, pub.dropped_denied, CLINE_EVENTS, "dropped-denied", "recmesh_events_dropped_total", C,
	  "reason", "denied", NULL),
	U(CSRC_PUB, pub.batches, CLINE_EVENTS, "batches", "recmesh_event_batches_total", C, NULL, NULL,
	  "Event batches published."),
	U(CSRC_PUB, pub.hot_entries, CLINE_EVENTS, "hot-names", "recmesh_hot_table_entries", G, NULL, NULL,
	  "Names in the hot table."),
	U(CSRC_PUB, pub.hot_writes, CLINE_EVENTS, "hot-writes", "recmesh_hot_list_writes_total", C, NULL, NULL,
	  "Hot lists written to KV."),
	U(CSRC_PUB, pub.hot_write_errors, CLINE_EVENTS, "hot-write-errors", "recmesh_hot_list_write_errors_total",
	  C, NULL, NULL, "Hot-list writes that failed."),
	D(CSRC_PUB, pub.hot_age, CLINE_NONE, NULL, "recmesh_hot_list_age_seconds",
	  "Seconds since this node last wrote its hot list (since its start, before the first)."),
	U(CSRC_PUB, pub.hot_stale, CLINE_EVENTS, "hot-stale", "recmesh_hot_list_stale", G, NULL, NULL,
	  "1 while this node's hot list has not been written for more than 3 times --hot-interval."),
	D(CSRC_PUB, last_hot_write, CLINE_NONE, NULL, "recmesh_hot_list_last_write_timestamp_seconds",
	  "When a successful hot-list write was last seen (unix seconds, within a second; 0: none yet)."),
	U(CSRC_PUB, pub.ns_observations, CLINE_PROTOBUF, "ns-observations",
	  "recmesh_nameserver_observations_total", C, NULL, NULL, "Outgoing-query observations taken."),
	U(CSRC_PUB, pub.ns_entries, CLINE_PROTOBUF, "ns-servers", "recmesh_nameserver_table_entries", G, NULL,
	  NULL, "Authoritative servers in the NS table."),
	U(CSRC_PUB, pub.intel_writes, CLINE_NONE, NULL, "recmesh_intel_file_writes_total", C, NULL, NULL,
	  "Intelligence file writes."),
	U(CSRC_PUB, pub.intel_dead, CLINE_PROTOBUF, "intel-dead", "recmesh_intel_dead_servers", G, NULL, NULL,
	  "Servers the intelligence file last written marks as dead."),
	U(CSRC_PUB, pub.get_answered, CLINE_HOTGET, "answered", "recmesh_hot_get_answered_total", C, NULL, NULL,
	  "Hot-list requests (recmesh.<cluster>.hot.get) answered."),
	U(CSRC_PUB, pub.get_refused_inbox, CLINE_HOTGET, "refused-inbox", "recmesh_hot_get_refused_total", C,
	  "reason", "not_inbox", "Hot-list requests refused, by reason (doc/nats.md, hot.get limits)."),
	U(CSRC_PUB, pub.get_refused_repeat, CLINE_HOTGET, "refused-repeat", "recmesh_hot_get_refused_total", C,
	  "reason", "repeat", NULL),
	U(CSRC_PUB, pub.get_refused_rate, CLINE_HOTGET, "refused-rate", "recmesh_hot_get_refused_total", C,
	  "reason", "rate", NULL),
	W(CSRC_PUB, pub.connected, CLINE_EVENTS, "nats", "recmesh_nats_connected",
	  "1 while the node's NATS connection is up.", nats_states),
	U(CSRC_PUB, pub.nats_reopens, CLINE_EVENTS, "nats-reopens", "recmesh_nats_reopens_total", C, NULL, NULL,
	  "New NATS connections opened after the server refused one for good (credentials, TLS)."),

	/* --auto-warm (autowarm.h) */
	U(CSRC_AUTOWARM, aw.runs, CLINE_AUTOWARM, "runs", "recmesh_autowarm_runs_total", C, "result", "replayed",
	  "Automatic warm-ups, by result."),
	U(CSRC_AUTOWARM, aw.failed, CLINE_AUTOWARM, "failed", "recmesh_autowarm_runs_total", C, "result",
	  "failed", NULL),
	U(CSRC_AUTOWARM, aw.names, CLINE_AUTOWARM, "names", "recmesh_autowarm_names_total", C, NULL, NULL,
	  "Names replayed by automatic warm-ups."),
	U(CSRC_AUTOWARM, aw.answered, CLINE_AUTOWARM, "answered", "recmesh_autowarm_answers_total", C, "result",
	  "answered", "Replayed names by what came back (servfail is part of answered)."),
	U(CSRC_AUTOWARM, aw.timeouts, CLINE_AUTOWARM, "timeouts", "recmesh_autowarm_answers_total", C, "result",
	  "timeout", NULL),
	U(CSRC_AUTOWARM, aw.servfails, CLINE_AUTOWARM, "servfail", "recmesh_autowarm_answers_total", C, "result",
	  "servfail", NULL),
	U(CSRC_AUTOWARM, aw.running, CLINE_NONE, NULL, "recmesh_autowarm_running", G, NULL, NULL,
	  "1 while an automatic warm-up runs."),
	U(CSRC_AUTOWARM, aw.planned, CLINE_NONE, NULL, "recmesh_autowarm_progress_names", G, "state", "planned",
	  "The running (or last) automatic warm-up's names: to replay, and done so far."),
	U(CSRC_AUTOWARM, aw.done, CLINE_NONE, NULL, "recmesh_autowarm_progress_names", G, "state", "done", NULL),

	/* --metrics-listen: the health probe (health.h) and the HTTP server (http.h) */
	U(CSRC_HEALTH, upstream_up, CLINE_NONE, NULL, "recmesh_upstream_up", G, NULL, NULL,
	  "1 while the upstream Recursor answers the health probe."),
	U(CSRC_HEALTH, upstream_downs[0], CLINE_NONE, NULL, "recmesh_upstream_downs_total", C, "cause", "refused",
	  "Times the node took the upstream Recursor for down, by what took it for down first."),
	U(CSRC_HEALTH, upstream_downs[1], CLINE_NONE, NULL, "recmesh_upstream_downs_total", C, "cause", "timeouts",
	  NULL),
	U(CSRC_HEALTH, upstream_downs[2], CLINE_NONE, NULL, "recmesh_upstream_downs_total", C, "cause", "probes",
	  NULL),
	U(CSRC_HTTP, http.requests, CLINE_NONE, NULL, "recmesh_http_requests_total", C, NULL, NULL,
	  "HTTP requests answered."),
	U(CSRC_HTTP, http.refused, CLINE_NONE, NULL, "recmesh_http_rejected_total", C, "reason",
	  "connection_limit", "HTTP connections or requests rejected, by reason."),
	U(CSRC_HTTP, http.client_refused, CLINE_NONE, NULL, "recmesh_http_rejected_total", C, "reason",
	  "client_limit", NULL),
	U(CSRC_HTTP, http.evicted, CLINE_NONE, NULL, "recmesh_http_rejected_total", C, "reason", "evicted", NULL),
	U(CSRC_HTTP, http.bad, CLINE_NONE, NULL, "recmesh_http_rejected_total", C, "reason", "bad_request", NULL),
	U(CSRC_HTTP, http.timeouts, CLINE_NONE, NULL, "recmesh_http_rejected_total", C, "reason", "timeout", NULL),
	U(CSRC_HTTP, http.accept_errors, CLINE_NONE, NULL, "recmesh_http_accept_errors_total", C, NULL, NULL,
	  "Times the HTTP server could not accept a connection (out of descriptors or memory) and paused accepting."),
};
const size_t counter_ndefs = sizeof(counter_defs) / sizeof(counter_defs[0]);

void ctext_printf(struct ctext *o, const char *fmt, ...)
{
	va_list ap;
	if (o->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(o->buf ? o->buf + o->len : NULL, o->buf ? o->cap - o->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->oom = 1;
			return;
		}
		if (o->buf && (size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		size_t ncap = o->cap * 2 + (size_t)n + 1;
		char *nb = realloc(o->buf, ncap);
		if (!nb) {
			o->oom = 1;
			return;
		}
		o->buf = nb;
		o->cap = ncap;
	}
}

static uint64_t u64_at(const struct counter_values *v, const struct counter_def *d)
{
	uint64_t u;
	memcpy(&u, (const char *)v + d->off, sizeof(u));
	return u;
}

static double dbl_at(const struct counter_values *v, const struct counter_def *d)
{
	double x;
	memcpy(&x, (const char *)v + d->off, sizeof(x));
	return x;
}

int counters_line(const struct counter_values *v, enum counter_line line, char *buf, size_t size)
{
	size_t len = 0;
	int first = 1;
	if (size == 0)
		return 0;
	buf[0] = '\0';
	for (size_t i = 0; i < counter_ndefs; i++) {
		const struct counter_def *d = &counter_defs[i];
		if (d->line != line || d->kind == CK_CUSTOM)
			continue;
		if (first && !v->has[d->src])
			return 0;
		if (first)
			len += (size_t)snprintf(buf + len, len < size ? size - len : 0, "%s",
						counter_line_names[line]);
		first = 0;
		if (!v->has[d->src])
			continue;
		size_t room = len < size ? size - len : 0;
		if (d->kind == CK_DBL)
			len += (size_t)snprintf(buf + len, room, " %s=%.3f", d->key, dbl_at(v, d));
		else if (d->words && u64_at(v, d) < d->nwords)
			len += (size_t)snprintf(buf + len, room, " %s=%s", d->key, d->words[u64_at(v, d)]);
		else
			len += (size_t)snprintf(buf + len, room, " %s=%llu", d->key,
						(unsigned long long)u64_at(v, d));
		if (len >= size)
			len = size; /* truncated: no more room */
	}
	return !first;
}

void counters_log(const struct counter_values *v, const char *when)
{
	char buf[1000];
	for (int l = CLINE_NONE + 1; l < CLINE_N; l++)
		if (counters_line(v, (enum counter_line)l, buf, sizeof(buf)))
			log_info("%s: %s", when, buf);
}

void counters_prometheus(const struct counter_values *v, struct ctext *o,
			 void (*custom)(struct ctext *o, const struct counter_def *d, void *arg),
			 void *arg)
{
	const char *family = NULL; /* the family whose HELP and TYPE were written last */
	for (size_t i = 0; i < counter_ndefs; i++) {
		const struct counter_def *d = &counter_defs[i];
		if (!d->family || !v->has[d->src])
			continue;
		if (!family || strcmp(family, d->family)) {
			ctext_printf(o, "# HELP %s %s\n# TYPE %s %s\n", d->family, d->help ? d->help : "",
				     d->family, d->type);
			family = d->family;
		}
		if (d->kind == CK_CUSTOM) {
			if (custom)
				custom(o, d, arg);
		} else if (d->kind == CK_DBL) {
			ctext_printf(o, "%s %.3f\n", d->family, dbl_at(v, d));
		} else if (d->label) {
			ctext_printf(o, "%s{%s=\"%s\"} %llu\n", d->family, d->label, d->label_value,
				     (unsigned long long)u64_at(v, d));
		} else {
			ctext_printf(o, "%s %llu\n", d->family, (unsigned long long)u64_at(v, d));
		}
	}
}
