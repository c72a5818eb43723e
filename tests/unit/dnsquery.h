/*
 * dnsquery.h: DNS messages for unit tests: a query for LABEL. IN A (ID
 * 0xabcd, RD) and the header bits of a resolver's answer. Include after
 * cmocka.h.
 */
#ifndef RECMESH_TEST_DNSQUERY_H
#define RECMESH_TEST_DNSQUERY_H

#include "dns/dnsmsg.h"

#include <stdint.h>
#include <string.h>

/* A query for label (up to 63 bytes) into out; its length */
static inline size_t make_query(uint8_t *out, const char *label)
{
	size_t n = strlen(label);
	memset(out, 0, DNS_HDR_LEN);
	out[0] = 0xab;
	out[1] = 0xcd;
	out[2] = 0x01;
	out[5] = 1;
	out[DNS_HDR_LEN] = (uint8_t)n;
	memcpy(out + DNS_HDR_LEN + 1, label, n);
	out[DNS_HDR_LEN + 1 + n] = 0;
	size_t len = DNS_HDR_LEN + n + 2;
	dnsmsg_put16(out + len, 1);
	dnsmsg_put16(out + len + 2, 1);
	return len + 4;
}

/* A resolver's answer's header bits on a copy of the query: QR and RA */
static inline void answer_bits(uint8_t *pkt)
{
	pkt[2] |= 0x80;
	pkt[3] |= 0x80;
}

#endif
