/*
 * dnsmsg.h: DNS wire-format helpers. This is the only module that reads DNS
 * messages; everything else works on the summary it fills in.
 *
 * dnsmsg_parse() validates a whole message (header, one question, every
 * resource record, the OPT record) without allocating, so it can run on
 * every packet of the data path. It never reads outside [pkt, pkt+len) and
 * rejects compression loops, forward pointers, reserved label types, names
 * over 255 octets, records that run past the end and trailing garbage.
 */
#ifndef RECMESH_DNSMSG_H
#define RECMESH_DNSMSG_H

#include <stddef.h>
#include <stdint.h>

#define DNS_HDR_LEN 12
#define DNS_MAX_NAME 255
#define DNS_MAX_NAME_TEXT 1024 /* 255 octets, every one escaped as \DDD, plus NUL */

#define DNS_FLAG_QR 0x8000
#define DNS_FLAG_AA 0x0400
#define DNS_FLAG_TC 0x0200
#define DNS_FLAG_RD 0x0100
#define DNS_FLAG_RA 0x0080
#define DNS_FLAG_AD 0x0020
#define DNS_FLAG_CD 0x0010

#define DNS_CLASS_IN 1
#define DNS_TYPE_SOA 6
#define DNS_TYPE_OPT 41
#define DNS_TYPE_IXFR 251
#define DNS_TYPE_AXFR 252
#define DNS_TYPE_ANY 255

#define DNS_RCODE_NOERROR 0
#define DNS_RCODE_FORMERR 1
#define DNS_RCODE_SERVFAIL 2
#define DNS_RCODE_NXDOMAIN 3
#define DNS_RCODE_NOTIMP 4
#define DNS_RCODE_REFUSED 5

/*
 * EDNS option code (from the local/experimental range) that `recmesh warm`
 * puts in its replayed queries, so that a proxy in front of the same
 * Recursor does not count them as client interest.
 */
#define RECMESH_EDNS_OPT_WARM 65301
/*
 * EDNS option code that a proxy puts in the queries it sends to a peer, so
 * that a proxy that receives one never sends it to a peer of its own (no
 * loops between proxies that peer each other)
 */
#define RECMESH_EDNS_OPT_PEER 65302

enum dns_parse_err {
	DNS_OK = 0,
	DNS_ERR_SHORT,      /* shorter than a header */
	DNS_ERR_QDCOUNT,    /* not exactly one question */
	DNS_ERR_LABEL,      /* reserved label type */
	DNS_ERR_NAME_LONG,  /* name over 255 octets */
	DNS_ERR_POINTER,    /* compression pointer loop or forward pointer */
	DNS_ERR_TRUNCATED,  /* a name or record runs past the end */
	DNS_ERR_TRAILING,   /* bytes after the last record */
	DNS_ERR_OPT,        /* misplaced, duplicate or malformed OPT record */
	DNS_ERR__COUNT
};

struct dns_msg_info {
	uint16_t id;
	uint16_t flags; /* header bits, see DNS_FLAG_* ; low 4 bits: rcode */
	uint16_t qdcount, ancount, nscount, arcount;
	uint16_t qtype, qclass;
	uint16_t question_end; /* offset of the first byte after the question */
	uint8_t qname_len;     /* wire length including the root label */
	uint8_t qname[DNS_MAX_NAME]; /* lower-cased, uncompressed wire form */
	uint8_t has_edns;
	uint8_t do_bit;
	uint8_t ext_rcode;   /* upper 8 bits of the rcode, from OPT */
	uint8_t warm_marker; /* carries RECMESH_EDNS_OPT_WARM */
	uint8_t peer_marker; /* carries RECMESH_EDNS_OPT_PEER */
	uint8_t opt_last;    /* the OPT record is the message's last */
	uint16_t opt_rdlen_off; /* where the OPT record's RDLENGTH is (with has_edns) */
	uint16_t edns_udp_size;
	uint8_t has_min_ttl;
	uint32_t min_ttl; /* lowest TTL in the answer section (or the SOA of a negative answer) */
};

/*
 * Returns DNS_OK and fills *info, or a dns_parse_err (info then undefined).
 *
 * This is the one exception to the project's error convention (0 / -1 and
 * a reason in the caller's err buffer), on purpose: it runs on every packet
 * of the data path, where the caller does not print a reason but counts
 * the failure per kind (and logs a sample with dnsmsg_strerror, which
 * turns the code into its one-line text, a static string). Formatting a
 * text per malformed packet would cost more than the parse.
 */
int dnsmsg_parse(const uint8_t *pkt, size_t len, struct dns_msg_info *info);
const char *dnsmsg_strerror(int err);

static inline int dnsmsg_rcode(const struct dns_msg_info *info)
{
	return (info->flags & 0x000f) | (info->ext_rcode << 4);
}

/*
 * The header's bits of a message at least DNS_HDR_LEN long, without
 * parsing it: for the data path's checks before a parse (is it a query, an
 * answer, truncated) and for answers that do not parse
 */
static inline int dnsmsg_hdr_qr(const uint8_t *pkt)
{
	return (pkt[2] & 0x80) != 0;
}
static inline int dnsmsg_hdr_tc(const uint8_t *pkt)
{
	return (pkt[2] & 0x02) != 0;
}
static inline int dnsmsg_hdr_rcode(const uint8_t *pkt)
{
	return pkt[3] & 0x0f;
}
static inline int dnsmsg_hdr_ra(const uint8_t *pkt)
{
	return (pkt[3] & 0x80) != 0;
}

static inline uint16_t dnsmsg_get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline void dnsmsg_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/*
 * Converts an uncompressed wire name to presentation format ("www.example.")
 * with RFC 1035 escapes. Returns the text length or -1 if out is too small
 * or the name is malformed.
 */
int dnsmsg_name_to_text(const uint8_t *wire, size_t wire_len, char *out, size_t out_size);

/*
 * Parses a presentation-format name (absolute or relative to the root;
 * \. \\ and \DDD escapes) into lower-cased wire form. Returns the wire
 * length, or -1 on a malformed or over-long name.
 */
int dnsmsg_name_from_text(const char *text, uint8_t *wire, size_t wire_size);

/*
 * Meta and obsolete types, never counted as hot, listed, merged or replayed:
 * TYPE0, MD, MF, NULL, OPT, TKEY, TSIG, IXFR, AXFR, MAILB, MAILA, ANY.
 * Returns 1 for such a type.
 */
int dnsmsg_type_is_meta(uint16_t qtype);

/* Mnemonic or "TYPEnnn" (RFC 3597); out needs 16 bytes */
const char *dnsmsg_type_to_text(uint16_t type, char out[16]);
/* Returns 0 and sets *type, or -1 for an unknown mnemonic */
int dnsmsg_type_from_text(const char *text, uint16_t *type);
const char *dnsmsg_rcode_to_text(int rcode, char out[16]);

/*
 * Writes a SERVFAIL answer to a parsed query into out: same ID, RD and CD,
 * QR and RA set, the question copied. Only qi->flags and qi->question_end
 * are used; with question_end == DNS_HDR_LEN (a query whose question did not
 * parse) the answer has no question. Returns its length, or -1 if it does
 * not fit.
 */
int dnsmsg_make_servfail(const uint8_t *query, const struct dns_msg_info *qi, uint8_t *out,
			 size_t out_size);

/*
 * Writes a recursive query (RD=1, CD=0, EDNS0 with DO=1, UDP size 1232)
 * for the wire name into out. With warm_marker the query carries the
 * RECMESH_EDNS_OPT_WARM option. Returns its length or -1.
 */
int dnsmsg_make_query(uint16_t id, const uint8_t *qname, size_t qname_len, uint16_t qtype,
		      int warm_marker, uint8_t *out, size_t out_size);

/*
 * Adds an empty EDNS option (code) to a message of len bytes that
 * dnsmsg_parse took (info), in place: only when its OPT record is its last
 * record and cap leaves room for 4 more bytes. Returns the new length, or
 * -1 (nothing changed: no OPT, OPT not last, no room, or the option is
 * there already).
 */
int dnsmsg_add_option(uint8_t *pkt, size_t len, size_t cap, const struct dns_msg_info *info, uint16_t code);

#endif
