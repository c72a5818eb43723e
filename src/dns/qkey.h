/*
 * qkey.h: the question key, the one way an answer is matched with its
 * query beyond the ID: the proxy's upstream sockets, its TCP connections,
 * the peers and the warm-up's replay all match with it.
 */
#ifndef RECMESH_QKEY_H
#define RECMESH_QKEY_H

#include "dns/dnsmsg.h"

#include <stddef.h>
#include <stdint.h>

/*
 * The question key: how an answer is matched with its query, beyond the ID.
 * It is a seeded FNV-1a hash (the seed is random per proxy, so a sender
 * cannot aim at collisions) over QDCOUNT and the raw first question as it
 * stands in the packet (name, type, class; ASCII letters of the name
 * folded to lower case, as the Recursor may answer with other case), and
 * its length. It is taken from the raw bytes, not from dnsmsg_parse, so a
 * query or an answer that does not parse as a whole still has one: only
 * the question must be delimitable (uncompressed labels, 255 octets at most,
 * type and class present). A query with no delimitable single question
 * (QDCOUNT 0 or over 1, a question cut short) may be answered with no
 * question at all (FORMERR); see dns_qkey_match.
 */
struct dns_qkey {
	uint32_t hash;
	uint16_t len;   /* question bytes; 0 when not delimited */
	uint8_t single; /* QDCOUNT 1 and the question delimited */
};

static inline void dns_qkey_raw(const uint8_t *pkt, size_t len, uint32_t seed, struct dns_qkey *k)
{
	uint16_t qd = dnsmsg_get16(pkt + 4); /* len >= DNS_HDR_LEN: the callers checked */
	uint32_t h = (2166136261u ^ seed) * 16777619u;
	size_t off = DNS_HDR_LEN, end = 0;
	h = (h ^ (qd >> 8)) * 16777619u;
	h = (h ^ (qd & 0xff)) * 16777619u;
	k->len = 0;
	k->single = 0;
	if (qd > 0) {
		while (off < len) {
			uint8_t l = pkt[off];
			if (l == 0) {
				end = off + 1 + 4;
				break;
			}
			if (l & 0xc0 || off + 1 + l - DNS_HDR_LEN > DNS_MAX_NAME - 1)
				break;
			off += 1u + l;
		}
		if (end && end <= len) {
			for (size_t i = DNS_HDR_LEN; i < end; i++) {
				uint8_t c = pkt[i];
				if (i < end - 4 && c >= 'A' && c <= 'Z')
					c = (uint8_t)(c + 32);
				h = (h ^ c) * 16777619u;
			}
			k->len = (uint16_t)(end - DNS_HDR_LEN);
			k->single = qd == 1;
		}
	}
	k->hash = h;
}

/*
 * The same key from a parsed message (dnsmsg_parse gave DNS_OK: one
 * question, its name lower-cased and uncompressed as it stands in the
 * packet), without walking the name again: the two give the same key for
 * the same question.
 */
/* The key of one question given by its parts: a lower-cased, uncompressed wire name */
static inline void dns_qkey_question(const uint8_t *qname, unsigned qname_len, uint16_t qtype,
				     uint16_t qclass, uint32_t seed, struct dns_qkey *k)
{
	uint32_t h = (2166136261u ^ seed) * 16777619u;
	h = (h ^ 0) * 16777619u; /* QDCOUNT 1 */
	h = (h ^ 1) * 16777619u;
	for (unsigned i = 0; i < qname_len; i++)
		h = (h ^ qname[i]) * 16777619u;
	h = (h ^ (qtype >> 8)) * 16777619u;
	h = (h ^ (qtype & 0xff)) * 16777619u;
	h = (h ^ (qclass >> 8)) * 16777619u;
	h = (h ^ (qclass & 0xff)) * 16777619u;
	k->hash = h;
	k->len = (uint16_t)(qname_len + 4u);
	k->single = 1;
}

static inline void dns_qkey_parsed(const struct dns_msg_info *m, uint32_t seed, struct dns_qkey *k)
{
	dns_qkey_question(m->qname, m->qname_len, m->qtype, m->qclass, seed, k);
}

/*
 * Whether an answer (at least a header long) with question key a answers
 * a query with key q: the same question; or, for a query without a single
 * delimitable question, an answer without a question.
 */
static inline int dns_qkey_match(const struct dns_qkey *q, const uint8_t *answer,
				   const struct dns_qkey *a)
{
	if (q->hash == a->hash && q->len == a->len && q->single == a->single)
		return 1;
	return !q->single && dnsmsg_get16(answer + 4) == 0;
}

/*
 * A message's key (at least a header long): from its parse when it parsed
 * (parsed non-NULL), else from its raw question. Every query and answer
 * gets its key here, so both sides of a match are taken alike.
 */
static inline void dns_qkey_of(const uint8_t *pkt, size_t len, const struct dns_msg_info *parsed,
			       uint32_t seed, struct dns_qkey *k)
{
	if (parsed)
		dns_qkey_parsed(parsed, seed, k);
	else
		dns_qkey_raw(pkt, len, seed, k);
}

/* Whether an answer (parsed: its parse, or NULL) answers the query whose key is q */
static inline int dns_qkey_answers(const struct dns_qkey *q, const uint8_t *answer, size_t len,
				   const struct dns_msg_info *parsed, uint32_t seed)
{
	struct dns_qkey a;
	dns_qkey_of(answer, len, parsed, seed, &a);
	return dns_qkey_match(q, answer, &a);
}

#endif
