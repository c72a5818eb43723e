/* dnsmsg.c: DNS wire-format validation and helpers; see dnsmsg.h */
#include "config.h"

#include "dns/dnsmsg.h"

#include <ldns/ldns.h>
#include <stdio.h>
#include <string.h>

static const char *const parse_errors[DNS_ERR__COUNT] = {
	[DNS_OK] = "ok",
	[DNS_ERR_SHORT] = "shorter than a DNS header",
	[DNS_ERR_QDCOUNT] = "not exactly one question",
	[DNS_ERR_LABEL] = "reserved label type",
	[DNS_ERR_NAME_LONG] = "name longer than 255 octets",
	[DNS_ERR_POINTER] = "bad compression pointer",
	[DNS_ERR_TRUNCATED] = "record runs past the end",
	[DNS_ERR_TRAILING] = "trailing garbage",
	[DNS_ERR_OPT] = "bad OPT record",
};

const char *dnsmsg_strerror(int err)
{
	if (err < 0 || err >= DNS_ERR__COUNT)
		return "unknown error";
	return parse_errors[err];
}

static inline uint32_t get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint8_t lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/*
 * Walks the name at *off. Every compression pointer must point before the
 * start of the run of labels it ends, which rules out loops. On success
 * *off is the offset after the name (after the first pointer, if any).
 * With out, the name is copied there lower-cased and uncompressed.
 */
static int walk_name(const uint8_t *pkt, size_t len, size_t *off, uint8_t *out, uint8_t *out_len)
{
	size_t pos = *off, run_start = *off, end = 0;
	size_t total = 0;
	int jumped = 0;

	for (;;) {
		if (pos >= len)
			return DNS_ERR_TRUNCATED;
		uint8_t l = pkt[pos];
		if ((l & 0xc0) == 0xc0) {
			if (pos + 1 >= len)
				return DNS_ERR_TRUNCATED;
			size_t target = ((size_t)(l & 0x3f) << 8) | pkt[pos + 1];
			if (target >= run_start || target < DNS_HDR_LEN)
				return DNS_ERR_POINTER;
			if (!jumped)
				end = pos + 2;
			jumped = 1;
			pos = run_start = target;
			continue;
		}
		if (l & 0xc0)
			return DNS_ERR_LABEL;
		if (total + l + 1 > DNS_MAX_NAME)
			return DNS_ERR_NAME_LONG;
		if (pos + 1 + l > len)
			return DNS_ERR_TRUNCATED;
		if (out) {
			out[total] = l;
			for (size_t i = 1; i <= l; i++)
				out[total + i] = lower(pkt[pos + i]);
		}
		total += (size_t)l + 1;
		pos += (size_t)l + 1;
		if (l == 0)
			break;
	}
	*off = jumped ? end : pos;
	if (out_len)
		*out_len = (uint8_t)total;
	return DNS_OK;
}

static int parse_opt(const uint8_t *pkt, size_t rr_start, size_t rdata, uint16_t rdlen, int is_root,
		     struct dns_msg_info *info)
{
	if (info->has_edns || !is_root)
		return DNS_ERR_OPT;
	info->has_edns = 1;
	info->opt_rdlen_off = (uint16_t)(rr_start + 8);
	info->edns_udp_size = dnsmsg_get16(pkt + rr_start + 2);
	info->ext_rcode = pkt[rr_start + 4];
	info->do_bit = (pkt[rr_start + 6] & 0x80) ? 1 : 0;
	size_t p = rdata, end = rdata + rdlen;
	while (p < end) {
		if (p + 4 > end)
			return DNS_ERR_OPT;
		uint16_t code = dnsmsg_get16(pkt + p), olen = dnsmsg_get16(pkt + p + 2);
		if (p + 4 + olen > end)
			return DNS_ERR_OPT;
		if (code == RECMESH_EDNS_OPT_WARM)
			info->warm_marker = 1;
		else if (code == RECMESH_EDNS_OPT_PEER)
			info->peer_marker = 1;
		p += 4 + (size_t)olen;
	}
	return DNS_OK;
}

int dnsmsg_parse(const uint8_t *pkt, size_t len, struct dns_msg_info *info)
{
	size_t off = DNS_HDR_LEN;
	int rc;

	if (len < DNS_HDR_LEN)
		return DNS_ERR_SHORT;
	info->id = dnsmsg_get16(pkt);
	info->flags = dnsmsg_get16(pkt + 2);
	info->qdcount = dnsmsg_get16(pkt + 4);
	info->ancount = dnsmsg_get16(pkt + 6);
	info->nscount = dnsmsg_get16(pkt + 8);
	info->arcount = dnsmsg_get16(pkt + 10);
	info->has_edns = info->do_bit = info->ext_rcode = info->warm_marker = 0;
	info->peer_marker = info->opt_last = 0;
	info->opt_rdlen_off = 0;
	info->has_min_ttl = 0;
	info->min_ttl = 0;
	info->edns_udp_size = 0;
	if (info->qdcount != 1)
		return DNS_ERR_QDCOUNT;
	if ((rc = walk_name(pkt, len, &off, info->qname, &info->qname_len)) != DNS_OK)
		return rc;
	if (off + 4 > len)
		return DNS_ERR_TRUNCATED;
	info->qtype = dnsmsg_get16(pkt + off);
	info->qclass = dnsmsg_get16(pkt + off + 2);
	off += 4;
	info->question_end = (uint16_t)off;

	uint32_t soa_ttl = 0;
	int have_soa = 0;
	unsigned counts[3] = {info->ancount, info->nscount, info->arcount};
	for (int section = 0; section < 3; section++) {
		for (unsigned i = 0; i < counts[section]; i++) {
			size_t name_start = off;
			if ((rc = walk_name(pkt, len, &off, NULL, NULL)) != DNS_OK)
				return rc;
			if (off + 10 > len)
				return DNS_ERR_TRUNCATED;
			uint16_t type = dnsmsg_get16(pkt + off);
			uint32_t ttl = get32(pkt + off + 4);
			uint16_t rdlen = dnsmsg_get16(pkt + off + 8);
			size_t rr_start = off;
			off += 10;
			if (off + rdlen > len)
				return DNS_ERR_TRUNCATED;
			if (ttl > 0x7fffffffu) /* RFC 2181: treat as zero */
				ttl = 0;
			if (section == 0 && type != DNS_TYPE_OPT) {
				if (!info->has_min_ttl || ttl < info->min_ttl)
					info->min_ttl = ttl;
				info->has_min_ttl = 1;
			} else if (section == 1 && type == DNS_TYPE_SOA) {
				soa_ttl = ttl;
				have_soa = 1;
			}
			if (type == DNS_TYPE_OPT) {
				if (section != 2)
					return DNS_ERR_OPT;
				rc = parse_opt(pkt, rr_start, off, rdlen, pkt[name_start] == 0, info);
				if (rc != DNS_OK)
					return rc;
				info->opt_last = off + rdlen == len;
			}
			off += rdlen;
		}
	}
	if (off != len)
		return DNS_ERR_TRAILING;
	if (!info->has_min_ttl && have_soa) {
		info->min_ttl = soa_ttl;
		info->has_min_ttl = 1;
	}
	return DNS_OK;
}

int dnsmsg_name_to_text(const uint8_t *wire, size_t wire_len, char *out, size_t out_size)
{
	size_t pos = 0, o = 0;

	if (out_size < 2 || wire_len == 0)
		return -1;
	if (wire[0] == 0) {
		out[0] = '.';
		out[1] = '\0';
		return 1;
	}
	while (pos < wire_len) {
		uint8_t l = wire[pos++];
		if (l == 0)
			break;
		if (l > 63 || pos + l > wire_len)
			return -1;
		for (uint8_t i = 0; i < l; i++) {
			uint8_t c = wire[pos + i];
			if (o + 5 >= out_size)
				return -1;
			if (c == '.' || c == '\\' || c == '"' || c == ';' || c == '(' || c == ')' ||
			    c == '@' || c == '$') {
				out[o++] = '\\';
				out[o++] = (char)c;
			} else if (c <= 0x20 || c >= 0x7f) {
				o += (size_t)snprintf(out + o, out_size - o, "\\%03u", c);
			} else {
				out[o++] = (char)c;
			}
		}
		pos += l;
		if (o + 2 >= out_size)
			return -1;
		out[o++] = '.';
	}
	out[o] = '\0';
	return (int)o;
}

int dnsmsg_name_from_text(const char *text, uint8_t *wire, size_t wire_size)
{
	size_t o = 0, label_at = 0;
	const char *p = text;

	if (wire_size < 1)
		return -1;
	if (strcmp(text, ".") == 0) {
		wire[0] = 0;
		return 1;
	}
	if (*p == '\0' || *p == '.')
		return -1;
	wire[label_at] = 0;
	o = 1;
	while (*p) {
		uint8_t c;
		if (*p == '.') {
			if (wire[label_at] == 0)
				return -1; /* empty label */
			p++;
			label_at = o;
			if (o >= wire_size || o >= DNS_MAX_NAME)
				return -1;
			wire[o++] = 0;
			continue;
		}
		if (*p == '\\') {
			p++;
			if (p[0] >= '0' && p[0] <= '9') {
				if (!(p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9'))
					return -1;
				unsigned v = (unsigned)(p[0] - '0') * 100 + (unsigned)(p[1] - '0') * 10 +
					     (unsigned)(p[2] - '0');
				if (v > 255)
					return -1;
				c = (uint8_t)v;
				p += 3;
			} else if (*p) {
				c = (uint8_t)*p++;
			} else {
				return -1;
			}
		} else {
			c = (uint8_t)*p++;
		}
		if (wire[label_at] >= 63 || o >= wire_size || o >= DNS_MAX_NAME - 1)
			return -1;
		wire[o++] = lower(c);
		wire[label_at]++;
	}
	/* terminate: a trailing dot already opened an empty label */
	if (wire[label_at] != 0) {
		if (o >= wire_size || o >= DNS_MAX_NAME)
			return -1;
		wire[o++] = 0;
	}
	return (int)o;
}

const char *dnsmsg_type_to_text(uint16_t type, char out[16])
{
	/* the query-only types: ldns reads these names but has no descriptor for them */
	static const char *const meta[] = {"IXFR", "AXFR", "MAILB", "MAILA", "ANY"};
	if (type >= DNS_TYPE_IXFR && type <= DNS_TYPE_ANY) {
		snprintf(out, 16, "%s", meta[type - DNS_TYPE_IXFR]);
		return out;
	}
	const ldns_rr_descriptor *d = ldns_rr_descript(type);
	if (d && d->_name && type != 0)
		snprintf(out, 16, "%s", d->_name);
	else
		snprintf(out, 16, "TYPE%u", type);
	return out;
}

int dnsmsg_type_is_meta(uint16_t qtype)
{
	switch (qtype) {
	case 0:   /* reserved */
	case 3:   /* MD, obsolete */
	case 4:   /* MF, obsolete */
	case 10:  /* NULL, experimental */
	case 41:  /* OPT, a pseudo-type */
	case 249: /* TKEY */
	case 250: /* TSIG */
	case 251: /* IXFR */
	case 252: /* AXFR */
	case 253: /* MAILB */
	case 254: /* MAILA */
	case 255: /* ANY */
		return 1;
	}
	return 0;
}

int dnsmsg_type_from_text(const char *text, uint16_t *type)
{
	/*
	 * TYPEnnn is ours to read: ldns would take "TYPE-5" or "TYPE70000"
	 * through atoi() and wrap it. No mnemonic starts with TYPE.
	 */
	if (strncasecmp(text, "TYPE", 4) == 0) {
		unsigned v = 0;
		const char *p = text + 4;
		if (*p == '\0')
			return -1;
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				return -1;
			v = v * 10 + (unsigned)(*p - '0');
			if (v > 65535)
				return -1;
		}
		*type = (uint16_t)v;
		return 0;
	}
	ldns_rr_type t = ldns_get_rr_type_by_name(text);
	if (t == 0)
		return -1;
	*type = (uint16_t)t;
	return 0;
}

const char *dnsmsg_rcode_to_text(int rcode, char out[16])
{
	ldns_lookup_table *lt = ldns_lookup_by_id(ldns_rcodes, rcode);
	if (lt && lt->name)
		snprintf(out, 16, "%s", lt->name);
	else
		snprintf(out, 16, "RCODE%d", rcode);
	return out;
}

int dnsmsg_make_servfail(const uint8_t *query, const struct dns_msg_info *qi, uint8_t *out,
			 size_t out_size)
{
	size_t qlen = qi->question_end;
	if (qlen > out_size)
		return -1;
	memcpy(out, query, qlen);
	uint16_t flags = (uint16_t)((qi->flags & (DNS_FLAG_RD | DNS_FLAG_CD | 0x7800)) | DNS_FLAG_QR |
				    DNS_FLAG_RA | DNS_RCODE_SERVFAIL);
	dnsmsg_put16(out + 2, flags);
	dnsmsg_put16(out + 4, qlen > DNS_HDR_LEN ? 1 : 0);
	dnsmsg_put16(out + 6, 0);
	dnsmsg_put16(out + 8, 0);
	dnsmsg_put16(out + 10, 0);
	return (int)qlen;
}

int dnsmsg_make_query(uint16_t id, const uint8_t *qname, size_t qname_len, uint16_t qtype,
		      int warm_marker, uint8_t *out, size_t out_size)
{
	size_t need = DNS_HDR_LEN + qname_len + 4 + 11 + (warm_marker ? 4 : 0);
	if (need > out_size || qname_len == 0 || qname_len > DNS_MAX_NAME)
		return -1;
	uint8_t *p = out;
	dnsmsg_put16(p, id);
	dnsmsg_put16(p + 2, DNS_FLAG_RD);
	dnsmsg_put16(p + 4, 1);
	dnsmsg_put16(p + 6, 0);
	dnsmsg_put16(p + 8, 0);
	dnsmsg_put16(p + 10, 1);
	p += DNS_HDR_LEN;
	memcpy(p, qname, qname_len);
	p += qname_len;
	dnsmsg_put16(p, qtype);
	dnsmsg_put16(p + 2, DNS_CLASS_IN);
	p += 4;
	/* OPT: root name, type, UDP size 1232, ext-rcode 0, version 0, DO */
	*p++ = 0;
	dnsmsg_put16(p, DNS_TYPE_OPT);
	dnsmsg_put16(p + 2, 1232);
	p[4] = 0;
	p[5] = 0;
	dnsmsg_put16(p + 6, 0x8000);
	dnsmsg_put16(p + 8, warm_marker ? 4 : 0);
	p += 10;
	if (warm_marker) {
		dnsmsg_put16(p, RECMESH_EDNS_OPT_WARM);
		dnsmsg_put16(p + 2, 0);
		p += 4;
	}
	return (int)(p - out);
}

int dnsmsg_add_option(uint8_t *pkt, size_t len, size_t cap, const struct dns_msg_info *info, uint16_t code)
{
	if (!info->has_edns || !info->opt_last || len + 4 > cap || len + 4 > 65535 ||
	    (code == RECMESH_EDNS_OPT_PEER && info->peer_marker) ||
	    (code == RECMESH_EDNS_OPT_WARM && info->warm_marker))
		return -1;
	uint16_t rdlen = dnsmsg_get16(pkt + info->opt_rdlen_off);
	if (rdlen > 65535 - 4)
		return -1;
	dnsmsg_put16(pkt + info->opt_rdlen_off, (uint16_t)(rdlen + 4));
	dnsmsg_put16(pkt + len, code);
	dnsmsg_put16(pkt + len + 2, 0);
	return (int)(len + 4);
}
