/*
 * fleetbench.c: the helpers of bench/fleet.sh, which measures what reading
 * the fleet's hot lists costs `recmesh hot` and `recmesh warm`.
 *
 *   fleetbench write NATS_URL CLUSTER NODES NAMES
 *       writes NODES synthetic node lists (nodes b1 .. bNODES) of NAMES
 *       names each into the bucket recmesh_hot, with recmesh's own encoder
 *       and chunking (the server's max payload); half of each list's names
 *       are every node's, half its own. Prints the bytes written.
 *   fleetbench respond ADDR:PORT
 *       a UDP responder that answers every query NOERROR with no records
 *       (enough for the warm-up's readiness check and replay). Prints
 *       "answering" once its socket is ready; runs until SIGTERM.
 */
#include "config.h"

#include "base/clock.h"
#include "base/names.h"
#include "dns/dnsmsg.h"
#include "nats/natsconn.h"
#include "net/netaddr.h"
#include "tables/hotlist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int write_lists(const char *url, const char *cluster, unsigned nodes, unsigned names)
{
	char err[512], node[NAMES_MAX], key[NAMES_KEY_MAX], name[128];
	jsCtx *js = NULL;
	kvStore *kv = NULL;
	struct hot_item *items = calloc(names ? names : 1, sizeof(*items));
	struct natslink *link = natslink_new();
	natsConnection *nc = link ? natsconn_open(link, url, "fleetbench", 0, 3000, err, sizeof(err)) : NULL;
	size_t bytes = 0;
	if (!nc || !items || natsconn_kv_open(link, nc, NAMES_HOT_BUCKET, 1, 1, &js, &kv, NULL, NULL, err,
					      sizeof(err)) < 0) {
		fprintf(stderr, "fleetbench: %s\n", nc ? err : "cannot connect");
		return 1;
	}
	size_t maxp = (size_t)natsConnection_GetMaxPayload(nc);
	for (unsigned k = 1; k <= nodes; k++) {
		snprintf(node, sizeof(node), "b%u", k);
		for (unsigned i = 0; i < names; i++) {
			if (i % 2 == 0)
				snprintf(name, sizeof(name), "www%u.shared-zone.example.", i / 2);
			else
				snprintf(name, sizeof(name), "host%u.node%u.example.", i / 2, k);
			int l = dnsmsg_name_from_text(name, items[i].qname, sizeof(items[i].qname));
			items[i].qname_len = (uint8_t)(l > 0 ? l : 0);
			items[i].qtype = 1;
			items[i].score = (double)(names - i);
		}
		struct hotlist_chunk *chunks = NULL;
		size_t n = 0;
		if (hotlist_encode(items, names, node, clock_unix(), (uint64_t)k, maxp - 1024, &chunks,
				   &n) < 0) {
			fprintf(stderr, "fleetbench: cannot encode the list of '%s'\n", node);
			return 1;
		}
		for (size_t c = n; c-- > 0;) { /* continuations first, the head last */
			names_chunk_key(key, sizeof(key), cluster, node, (unsigned)c);
			natsStatus s = kvStore_Put(NULL, kv, key, chunks[c].data, (int)chunks[c].len);
			if (s != NATS_OK) {
				fprintf(stderr, "fleetbench: cannot write '%s': %s\n", key,
					natsStatus_GetText(s));
				return 1;
			}
			bytes += chunks[c].len;
		}
		hotlist_chunks_free(chunks, n);
	}
	printf("%zu\n", bytes);
	free(items);
	natsconn_kv_close(js, kv);
	natsconn_close(link, nc);
	if (link) {
		natslink_wait(link, 2);
		natslink_log(link);
		natslink_drop(link);
	}
	nats_Close();
	return 0;
}

static int respond(const char *addr)
{
	struct netaddr na;
	unsigned char buf[4096];
	if (netaddr_parse(addr, 53, &na) < 0) {
		fprintf(stderr, "fleetbench: bad address '%s'\n", addr);
		return 1;
	}
	int fd = socket(na.ss.ss_family, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&na.ss, na.len) < 0) {
		perror("fleetbench: bind");
		return 1;
	}
	printf("answering\n");
	fflush(stdout);
	for (;;) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		size_t q = 12; /* the end of the question: its name, type and class */
		while (n >= 12 && q < (size_t)n && buf[q] != 0 && buf[q] < 64)
			q += 1u + buf[q];
		q += 5;
		if (n < 12 || q > (size_t)n)
			continue;
		buf[2] = (unsigned char)((buf[2] & 0x79) | 0x80); /* QR, keep opcode and RD */
		buf[3] = 0x80;                                    /* RA, NOERROR */
		memset(buf + 6, 0, 6);                            /* no answer, authority, additional */
		sendto(fd, buf, q, 0, (struct sockaddr *)&from, fl);
	}
}

int main(int argc, char **argv)
{
	if (argc == 6 && !strcmp(argv[1], "write"))
		return write_lists(argv[2], argv[3], (unsigned)strtoul(argv[4], NULL, 10),
				   (unsigned)strtoul(argv[5], NULL, 10));
	if (argc == 3 && !strcmp(argv[1], "respond"))
		return respond(argv[2]);
	fprintf(stderr, "usage: fleetbench write NATS_URL CLUSTER NODES NAMES\n"
			"       fleetbench respond ADDR:PORT\n");
	return 2;
}
