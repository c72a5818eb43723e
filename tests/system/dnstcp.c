/*
 * dnstcp.c: a test client that pipelines queries on one TCP connection.
 *
 * Usage: dnstcp ADDR:PORT QNAME[/QTYPE]...
 * Sends every query at once (IDs 1, 2, ...), then reads answers in the
 * order they come and prints "ID QNAME QTYPE RCODE ANCOUNT" for each. Exits
 * 0 when every query got exactly one answer whose question matches its own,
 * 1 otherwise (timeout 10 s).
 */
#include "config.h"

#include "dns/dnsmsg.h"
#include "net/netaddr.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXQ 256

int main(int argc, char **argv)
{
	struct netaddr a;
	uint8_t names[MAXQ][DNS_MAX_NAME];
	int name_len[MAXQ], answered[MAXQ] = {0};
	uint16_t types[MAXQ];
	int nq = argc - 2;

	if (argc < 3 || nq > MAXQ || netaddr_parse(argv[1], 53, &a) < 0) {
		fprintf(stderr, "usage: dnstcp ADDR:PORT QNAME[/QTYPE]...\n");
		return 2;
	}
	int fd = socket(a.ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a.ss, a.len) < 0) {
		perror("dnstcp: connect");
		return 1;
	}
	uint8_t *out = malloc((size_t)nq * 600), *p = out;
	for (int i = 0; i < nq; i++) {
		char text[600];
		snprintf(text, sizeof(text), "%s", argv[i + 2]);
		char *slash = strchr(text, '/');
		types[i] = 1;
		if (slash) {
			*slash = '\0';
			if (dnsmsg_type_from_text(slash + 1, &types[i]) < 0) {
				fprintf(stderr, "dnstcp: bad type '%s'\n", slash + 1);
				return 2;
			}
		}
		name_len[i] = dnsmsg_name_from_text(text, names[i], DNS_MAX_NAME);
		if (name_len[i] < 0) {
			fprintf(stderr, "dnstcp: bad name '%s'\n", text);
			return 2;
		}
		int l = dnsmsg_make_query((uint16_t)(i + 1), names[i], (size_t)name_len[i], types[i], 0,
					  p + 2, 600);
		dnsmsg_put16(p, (uint16_t)l);
		p += 2 + l;
	}
	/* all queries in one write: the proxy sees them pipelined */
	if (write(fd, out, (size_t)(p - out)) != p - out) {
		perror("dnstcp: write");
		return 1;
	}
	uint8_t buf[70000];
	size_t have = 0;
	int got = 0, bad = 0;
	while (got < nq) {
		struct pollfd pfd = {fd, POLLIN, 0};
		if (poll(&pfd, 1, 10000) <= 0) {
			fprintf(stderr, "dnstcp: timeout after %d of %d answers\n", got, nq);
			return 1;
		}
		ssize_t r = read(fd, buf + have, sizeof(buf) - have);
		if (r <= 0) {
			fprintf(stderr, "dnstcp: connection closed after %d of %d answers\n", got, nq);
			return 1;
		}
		have += (size_t)r;
		while (have >= 2 && have >= 2u + dnsmsg_get16(buf)) {
			size_t len = dnsmsg_get16(buf);
			struct dns_msg_info m;
			char name[DNS_MAX_NAME_TEXT], type[16];
			if (dnsmsg_parse(buf + 2, len, &m) != DNS_OK || m.id < 1 || m.id > nq) {
				fprintf(stderr, "dnstcp: unparsable or unknown answer\n");
				return 1;
			}
			int i = m.id - 1;
			if (answered[i]++ || m.qname_len != name_len[i] ||
			    memcmp(m.qname, names[i], m.qname_len) != 0 || m.qtype != types[i])
				bad++;
			dnsmsg_name_to_text(m.qname, m.qname_len, name, sizeof(name));
			printf("%u %s %s %d %u\n", m.id, name, dnsmsg_type_to_text(m.qtype, type),
			       dnsmsg_rcode(&m), m.ancount);
			got++;
			memmove(buf, buf + 2 + len, have - 2 - len);
			have -= 2 + len;
		}
	}
	close(fd);
	free(out);
	if (bad) {
		fprintf(stderr, "dnstcp: %d answers did not match their queries\n", bad);
		return 1;
	}
	return 0;
}
