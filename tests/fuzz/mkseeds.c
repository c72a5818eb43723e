/*
 * mkseeds.c: writes the seed inputs of tests/fuzz/corpus/ that our own
 * encoders produce (event batches, hot-list chunks, NS tables, TCP frame
 * streams, line-parser inputs), so that the seeds are what recmesh really
 * sends. Built by build.sh; run by hand when a format changes:
 *     build-fuzz/mkseeds tests/fuzz/corpus
 * The DNS messages (fuzz_dnsmsg), protobuf frames (fuzz_pbstream, copies of
 * tests/unit/data/) and config files (fuzz_options) are kept as files.
 */
#include "config.h"

#include "dns/event.h"
#include "tables/hotlist.h"
#include "tables/nstable.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *dir;

static void out(const char *harness, const char *name, const void *data, size_t len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s/%s", dir, harness, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "mkseeds: cannot write '%s'\n", path);
		exit(1);
	}
}

static void make_event(struct rm_event *ev, const char *name, uint16_t qtype, uint64_t t, int family)
{
	memset(ev, 0, sizeof(*ev));
	ev->time_us = t;
	ev->latency_us = 1234;
	ev->min_ttl = 300;
	ev->qtype = qtype;
	ev->qclass = 1;
	ev->query_size = 40;
	ev->response_size = 120;
	ev->flags = EV_RD | EV_DO | EV_TTL;
	ev->qname_len = (uint8_t)dnsmsg_name_from_text(name, ev->qname, sizeof(ev->qname));
	ev->client_family = (uint8_t)family;
	if (family == 4)
		inet_pton(AF_INET, "192.0.2.7", ev->client);
	else if (family == 6)
		inet_pton(AF_INET6, "2001:db8::7", ev->client);
}

static void events(void)
{
	uint8_t buf[2048];
	struct event_batch b;
	struct rm_event ev;
	for (int client = 0; client <= 1; client++) {
		event_batch_init(&b, buf, sizeof(buf), client);
		make_event(&ev, "www.example.com.", 1, 1700000000000000ull, client ? 4 : 0);
		event_batch_add(&b, &ev);
		make_event(&ev, "odd\\032name.z2.net.", 28, 1700000000250000ull, client ? 6 : 0);
		ev.flags |= EV_TCP | EV_AD;
		ev.rcode = 3;
		event_batch_add(&b, &ev);
		make_event(&ev, ".", 2, 1700000001000000ull, 0);
		ev.flags = EV_CD | EV_WARM;
		event_batch_add(&b, &ev);
		size_t len = event_batch_finish(&b);
		out("fuzz_event", client ? "batch-client" : "batch", buf, len);
	}
	event_batch_init(&b, buf, sizeof(buf), 0);
	out("fuzz_event", "batch-empty", buf, event_batch_finish(&b));
}

static void hot_item(struct hot_item *it, const char *name, uint16_t qtype, double score)
{
	it->qname_len = (uint8_t)dnsmsg_name_from_text(name, it->qname, sizeof(it->qname));
	it->qtype = qtype;
	it->score = score;
}

static void hotlists(void)
{
	struct hot_item items[40];
	struct hotlist_chunk *chunks;
	size_t n;
	char name[64];
	hot_item(&items[0], "www.example.com.", 1, 1234.5);
	hot_item(&items[1], "odd\\032name.z2.net.", 16, 7);
	hot_item(&items[2], ".", 2, 0.25);
	for (int i = 3; i < 40; i++) {
		snprintf(name, sizeof(name), "host%d.zone%d.example.", i, i % 7);
		hot_item(&items[i], name, (uint16_t)(i % 2 ? 28 : 65), 1000.0 / i);
	}
	if (hotlist_encode(items, 3, "node-1", 1700000000.5, 42, 64 * 1024, &chunks, &n) == 0) {
		out("fuzz_hotlist", "chunk-3", chunks[0].data, chunks[0].len);
		char *l = malloc(chunks[0].len + 2);
		l[0] = (char)0xff;
		memcpy(l + 1, chunks[0].data, chunks[0].len);
		out("fuzz_linefmt", "hot-chunk", l, chunks[0].len + 1);
		free(l);
		hotlist_chunks_free(chunks, n);
	}
	if (hotlist_encode(items, 40, "n_2", 1700000123.125, 7, 1600, &chunks, &n) == 0) {
		out("fuzz_hotlist", "chunk-1-of-2", chunks[0].data, chunks[0].len);
		out("fuzz_hotlist", "chunk-2-of-2", chunks[n - 1].data, chunks[n - 1].len);
		hotlist_chunks_free(chunks, n);
	}
	if (hotlist_encode(items, 0, "n", 1, 1, 4096, &chunks, &n) == 0) {
		out("fuzz_hotlist", "chunk-empty", chunks[0].data, chunks[0].len);
		hotlist_chunks_free(chunks, n);
	}
}

static void nstables(void)
{
	struct nstable_item in[3];
	size_t len;
	memset(in, 0, sizeof(in));
	in[0].family = 4;
	inet_pton(AF_INET, "192.0.2.53", in[0].addr);
	in[0].srtt_ms = 12.5;
	in[0].answers = 100;
	in[0].last_answer = in[0].last_seen = 1700000000.25;
	in[1].family = 6;
	inet_pton(AF_INET6, "2001:db8::53", in[1].addr);
	in[1].timeouts = in[1].streak = 3;
	in[1].last_timeout = in[1].last_seen = 1700000001;
	in[2].family = 4;
	inet_pton(AF_INET, "198.51.100.1", in[2].addr);
	in[2].srtt_ms = 250;
	in[2].answers = 4;
	in[2].timeouts = 9;
	in[2].streak = 1;
	in[2].last_answer = 1700000000;
	in[2].last_timeout = in[2].last_seen = 1700000002.5;
	/* version 2: the NS names of 5.1+ streams (the 4.8 seed, version 1, is table-v1) */
	in[0].nnames = 2;
	in[0].names[0] = "ns1.example.";
	in[0].name_seen[0] = 1700000000.25;
	in[0].names[1] = "a_b-2.example.";
	in[0].name_seen[1] = 1699999000;
	in[2].nnames = 1;
	in[2].names[0] = "ns.example.net.";
	in[2].name_seen[0] = 1700000002.5;
	char *text = nstable_encode(in, 3, "n1", 1700000003, 4096, &len);
	if (text) {
		out("fuzz_nstable", "table-3", text, len);
		char *l = malloc(len + 2);
		l[0] = (char)0xc0;
		memcpy(l + 1, text, len);
		out("fuzz_linefmt", "ns-table", l, len + 1);
		free(l);
		free(text);
	}
	text = nstable_encode(in, 0, "n1", 1700000003, 4096, &len);
	if (text) {
		out("fuzz_nstable", "table-empty", text, len);
		free(text);
	}
}

static void tcpframes(void)
{
	/* limit 512, seed 7, then three DNS queries as over TCP, the last one split */
	uint8_t s[256], q[300];
	size_t o = 0;
	s[o++] = 0x01;
	s[o++] = 0xff;
	s[o++] = 7;
	for (int i = 0; i < 3; i++) {
		uint8_t qn[DNS_MAX_NAME];
		int ql = dnsmsg_name_from_text(i == 1 ? "." : "www.example.com.", qn, sizeof(qn));
		int n = dnsmsg_make_query((uint16_t)(0x100 + i), qn, (size_t)ql, 1, i == 2, q, sizeof(q));
		dnsmsg_put16(s + o, (uint16_t)n);
		memcpy(s + o + 2, q, (size_t)n);
		o += 2 + (size_t)n;
	}
	out("fuzz_tcpframe", "three-queries", s, o);
	out("fuzz_tcpframe", "cut-short", s, o - 5);
	uint8_t big[] = {0x00, 0x10, 1, 0x00, 0x20, 'x'}; /* limit 17, a frame of 32 */
	out("fuzz_tcpframe", "over-limit", big, sizeof(big));
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: mkseeds CORPUS_DIR\n");
		return 2;
	}
	dir = argv[1];
	events();
	hotlists();
	nstables();
	tcpframes();
	return 0;
}
