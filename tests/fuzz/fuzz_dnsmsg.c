/*
 * fuzz_dnsmsg.c: libFuzzer harness for src/dnsmsg.c, the one DNS wire
 * parser, with ldns as the reference.
 *
 * Every input is read twice:
 *  - as a DNS message: where dnsmsg_parse accepts it, ldns_wire2pkt must
 *    accept it too and agree on the header, the counts, the question (name
 *    lower-cased, type, class) and the EDNS fields; the question name must
 *    survive dnsmsg_name_to_text -> dnsmsg_name_from_text, and the SERVFAIL
 *    and query we would build from it must parse again;
 *  - as a presentation-format name: where dnsmsg_name_from_text accepts
 *    it, the wire form must be sane, round-trip, and read the same as
 *    ldns_str2rdf_dname reads the text.
 *
 * Differences we tolerate on purpose (dnsmsg is stricter or reads less):
 *  1. Record data. dnsmsg skips RDATA by RDLENGTH and never looks inside;
 *     ldns parses it by type and, when a field does not end exactly at
 *     RDLENGTH, goes on reading the next record from wherever the field
 *     ended (inside the RDATA or beyond it). So ldns would reject or
 *     misread messages whose RDATA does not match its type. So ldns reads
 *     every name of the message with its own name reader
 *     (ldns_wire2dname, compression and all), and ldns_wire2pkt gets the
 *     message rebuilt from those names, uncompressed, with every record's
 *     type except OPT set to 0xff00 (unknown: RDATA is opaque). Patching
 *     the types in place would not do: a pointer may point at them.
 *  2. TSIG. ldns takes a TSIG out of the additional section while it
 *     counts it (and leaks a second one); the rewrite of 1 covers it.
 *  3. dnsmsg accepts only one question, rejects pointers into the header,
 *     forward pointers, trailing bytes, and OPT records that are not
 *     alone, not in the additional section or not owned by the root;
 *     ldns accepts all of those. Only what dnsmsg accepts is compared.
 *  4. ldns does not count the OPT record in ARCOUNT; we add it back.
 *  5. Text names: ldns refuses texts over 1020 characters (4 per octet)
 *     and reads a backslash before a non-digit as that character, as we
 *     do; texts ldns accepts and we refuse are not an error (we refuse
 *     more, e.g. names of over 255 octets counted before the last label).
 */
#include "config.h"

#include "fuzz.h"

#include "dns/dnsmsg.h"

#include <ldns/ldns.h>
#include <string.h>
#include <strings.h>

#define PATCH_TYPE 0xff00

/* wire is a valid lower-case name: its text must read back to it, in dnsmsg and in ldns */
static void name_roundtrip(const uint8_t *wire, size_t len)
{
	char text[DNS_MAX_NAME_TEXT];
	uint8_t back[DNS_MAX_NAME];
	int tl = dnsmsg_name_to_text(wire, len, text, sizeof(text));
	FUZZ_CHECK(tl > 0 && (size_t)tl == strlen(text), "to_text gave %d for a %zu-octet name", tl, len);
	int bl = dnsmsg_name_from_text(text, back, sizeof(back));
	FUZZ_CHECK(bl == (int)len && memcmp(back, wire, len) == 0, "'%s' reads back as %d octets, not %zu",
		   text, bl, len);
	ldns_rdf *d = NULL;
	ldns_status st = ldns_str2rdf_dname(&d, text);
	FUZZ_CHECK(st == LDNS_STATUS_OK, "ldns refuses '%s': %s", text, ldns_get_errorstr_by_id(st));
	ldns_dname2canonical(d);
	FUZZ_CHECK(ldns_rdf_size(d) == len && memcmp(ldns_rdf_data(d), wire, len) == 0,
		   "ldns reads '%s' as %zu other octets", text, ldns_rdf_size(d));
	ldns_rdf_deep_free(d);
}

static void check_wire_name(const uint8_t *w, size_t len)
{
	size_t pos = 0;
	FUZZ_CHECK(len >= 1 && len <= DNS_MAX_NAME, "name of %zu octets", len);
	while (w[pos] != 0) {
		FUZZ_CHECK(w[pos] <= 63 && pos + 1 + w[pos] < len, "label of %u at %zu of %zu", w[pos], pos, len);
		for (size_t i = 1; i <= w[pos]; i++)
			FUZZ_CHECK(!(w[pos + i] >= 'A' && w[pos + i] <= 'Z'), "upper case octet at %zu", pos + i);
		pos += 1 + (size_t)w[pos];
	}
	FUZZ_CHECK(pos + 1 == len, "root label at %zu of %zu", pos, len);
}

static void fuzz_text(const uint8_t *data, size_t size)
{
	uint8_t wire[DNS_MAX_NAME];
	char *text = fuzz_strndup(data, size);
	int wl = dnsmsg_name_from_text(text, wire, sizeof(wire));
	if (wl > 0) {
		check_wire_name(wire, (size_t)wl);
		name_roundtrip(wire, (size_t)wl);
		ldns_rdf *d = NULL;
		if (strlen(text) <= LDNS_MAX_DOMAINLEN * 4) {
			ldns_status st = ldns_str2rdf_dname(&d, text);
			FUZZ_CHECK(st == LDNS_STATUS_OK, "ldns refuses '%s': %s", text, ldns_get_errorstr_by_id(st));
			ldns_dname2canonical(d);
			FUZZ_CHECK(ldns_rdf_size(d) == (size_t)wl && memcmp(ldns_rdf_data(d), wire, (size_t)wl) == 0,
				   "ldns reads '%s' as %zu octets, we as %d", text, ldns_rdf_size(d), wl);
			ldns_rdf_deep_free(d);
		}
	} else {
		FUZZ_CHECK(wl == -1, "name_from_text returned %d", wl);
	}
	/* a type mnemonic: the accepted text is the type's name or TYPEnnn (nnn up to 65535) */
	uint16_t type;
	if (strlen(text) < 64 && dnsmsg_type_from_text(text, &type) == 0) {
		char tb[16];
		int numeric = 0;
		if (strncasecmp(text, "TYPE", 4) == 0) {
			size_t digits = strspn(text + 4, "0123456789");
			numeric = digits > 0 && text[4 + digits] == '\0' && strtoul(text + 4, NULL, 10) == type;
		}
		FUZZ_CHECK(numeric || strcasecmp(text, dnsmsg_type_to_text(type, tb)) == 0,
			   "'%s' read as type %u (%s)", text, type, dnsmsg_type_to_text(type, tb));
	}
	/* the text side on raw octets: never past the buffer, always NUL-terminated */
	char out[DNS_MAX_NAME_TEXT];
	int tl = dnsmsg_name_to_text(data, size, out, sizeof(out));
	FUZZ_CHECK(tl == -1 || (tl > 0 && (size_t)tl == strlen(out)), "to_text on raw input: %d", tl);
	free(text);
}

/* What the message says, read with ldns's name reader; rebuilt uncompressed into out */
struct walk {
	int has_opt;
	int has_min_ttl;
	uint32_t min_ttl;
	uint8_t *out;
	size_t out_len, out_size;
};

static void put(struct walk *w, const void *p, size_t n)
{
	if (w->out_len + n > w->out_size) {
		w->out_size = (w->out_len + n) * 2;
		w->out = realloc(w->out, w->out_size);
		FUZZ_CHECK(w->out != NULL, "out of memory");
	}
	memcpy(w->out + w->out_len, p, n);
	w->out_len += n;
}

static void put_name(struct walk *w, const uint8_t *pkt, size_t len, size_t *pos, const char *what)
{
	ldns_rdf *d = NULL;
	ldns_status st = ldns_wire2dname(&d, pkt, len, pos);
	FUZZ_CHECK(st == LDNS_STATUS_OK, "ldns cannot read %s: %s", what, ldns_get_errorstr_by_id(st));
	put(w, ldns_rdf_data(d), ldns_rdf_size(d));
	ldns_rdf_deep_free(d);
}

static void walk_and_rebuild(const uint8_t *pkt, size_t len, const struct dns_msg_info *info, struct walk *w)
{
	size_t pos = DNS_HDR_LEN;
	put(w, pkt, DNS_HDR_LEN);
	put_name(w, pkt, len, &pos, "the question name");
	FUZZ_CHECK(pos + 4 <= len, "question fields at %zu past %zu", pos, len);
	put(w, pkt + pos, 4);
	pos += 4;
	FUZZ_CHECK(pos == info->question_end, "question ends at %zu, dnsmsg says %u", pos, info->question_end);
	unsigned counts[3] = {info->ancount, info->nscount, info->arcount};
	uint32_t soa_ttl = 0;
	int have_soa = 0;
	for (int s = 0; s < 3; s++) {
		for (unsigned i = 0; i < counts[s]; i++) {
			put_name(w, pkt, len, &pos, "an owner name");
			FUZZ_CHECK(pos + 10 <= len, "record header at %zu past %zu", pos, len);
			uint16_t type = dnsmsg_get16(pkt + pos);
			uint32_t ttl = ((uint32_t)pkt[pos + 4] << 24) | ((uint32_t)pkt[pos + 5] << 16) |
				       ((uint32_t)pkt[pos + 6] << 8) | pkt[pos + 7];
			uint16_t rdlen = dnsmsg_get16(pkt + pos + 8);
			FUZZ_CHECK(pos + 10 + rdlen <= len, "record data ends at %zu past %zu", pos + 10 + rdlen, len);
			uint8_t t[2];
			dnsmsg_put16(t, type == DNS_TYPE_OPT ? DNS_TYPE_OPT : PATCH_TYPE);
			put(w, t, 2);
			put(w, pkt + pos + 2, 8 + (size_t)rdlen);
			if (ttl > 0x7fffffffu)
				ttl = 0;
			if (type == DNS_TYPE_OPT) {
				FUZZ_CHECK(s == 2 && !w->has_opt, "OPT in section %d accepted (had one: %d)", s, w->has_opt);
				w->has_opt = 1;
			}
			if (s == 0 && type != DNS_TYPE_OPT) {
				if (!w->has_min_ttl || ttl < w->min_ttl)
					w->min_ttl = ttl;
				w->has_min_ttl = 1;
			} else if (s == 1 && type == DNS_TYPE_SOA) {
				soa_ttl = ttl;
				have_soa = 1;
			}
			pos += 10 + (size_t)rdlen;
		}
	}
	FUZZ_CHECK(pos == len, "records end at %zu, message at %zu", pos, len);
	if (!w->has_min_ttl && have_soa) {
		w->min_ttl = soa_ttl;
		w->has_min_ttl = 1;
	}
}

static void compare_ldns(const uint8_t *pkt, size_t len, const struct dns_msg_info *info)
{
	struct walk w;
	ldns_pkt *p = NULL;
	memset(&w, 0, sizeof(w));
	walk_and_rebuild(pkt, len, info, &w);
	ldns_status st = ldns_wire2pkt(&p, w.out, w.out_len);
	FUZZ_CHECK(st == LDNS_STATUS_OK, "ldns refuses a message dnsmsg accepts: %s", ldns_get_errorstr_by_id(st));

	FUZZ_CHECK(ldns_pkt_id(p) == info->id, "id %u vs %u", ldns_pkt_id(p), info->id);
	uint16_t f = info->flags;
	FUZZ_CHECK(ldns_pkt_qr(p) == !!(f & DNS_FLAG_QR) && ldns_pkt_aa(p) == !!(f & DNS_FLAG_AA) &&
			   ldns_pkt_tc(p) == !!(f & DNS_FLAG_TC) && ldns_pkt_rd(p) == !!(f & DNS_FLAG_RD) &&
			   ldns_pkt_ra(p) == !!(f & DNS_FLAG_RA) && ldns_pkt_ad(p) == !!(f & DNS_FLAG_AD) &&
			   ldns_pkt_cd(p) == !!(f & DNS_FLAG_CD) && ldns_pkt_get_opcode(p) == ((f >> 11) & 15) &&
			   ldns_pkt_get_rcode(p) == (f & 15),
		   "flags 0x%04x read differently", f);
	FUZZ_CHECK(ldns_pkt_qdcount(p) == 1 && ldns_pkt_ancount(p) == info->ancount &&
			   ldns_pkt_nscount(p) == info->nscount &&
			   ldns_pkt_arcount(p) + (w.has_opt ? 1 : 0) == info->arcount,
		   "counts %u/%u/%u/%u vs %u/%u/%u/%u", ldns_pkt_qdcount(p), ldns_pkt_ancount(p),
		   ldns_pkt_nscount(p), ldns_pkt_arcount(p), info->qdcount, info->ancount, info->nscount,
		   info->arcount);

	ldns_rr *q = ldns_rr_list_rr(ldns_pkt_question(p), 0);
	FUZZ_CHECK(q != NULL, "ldns has no question");
	ldns_rdf *owner = ldns_rdf_clone(ldns_rr_owner(q));
	ldns_dname2canonical(owner);
	FUZZ_CHECK(ldns_rdf_size(owner) == info->qname_len &&
			   memcmp(ldns_rdf_data(owner), info->qname, info->qname_len) == 0,
		   "question name: ldns %zu octets, dnsmsg %u", ldns_rdf_size(owner), info->qname_len);
	ldns_rdf_deep_free(owner);
	FUZZ_CHECK(ldns_rr_get_type(q) == info->qtype && ldns_rr_get_class(q) == info->qclass,
		   "question type/class %u/%u vs %u/%u", ldns_rr_get_type(q), ldns_rr_get_class(q), info->qtype,
		   info->qclass);

	FUZZ_CHECK(w.has_opt == info->has_edns, "OPT: walk %d, dnsmsg %d", w.has_opt, info->has_edns);
	if (info->has_edns) {
		FUZZ_CHECK(ldns_pkt_edns_udp_size(p) == info->edns_udp_size &&
				   ldns_pkt_edns_do(p) == info->do_bit &&
				   ldns_pkt_edns_extended_rcode(p) == info->ext_rcode,
			   "EDNS size/do/ext %u/%d/%u vs %u/%u/%u", ldns_pkt_edns_udp_size(p), ldns_pkt_edns_do(p),
			   ldns_pkt_edns_extended_rcode(p), info->edns_udp_size, info->do_bit, info->ext_rcode);
		int warm = 0;
		ldns_edns_option_list *ol = ldns_pkt_edns_get_option_list(p);
		FUZZ_CHECK(ol != NULL || ldns_pkt_edns_data(p) == NULL, "ldns cannot read the EDNS options");
		for (size_t i = 0; ol && i < ldns_edns_option_list_get_count(ol); i++)
			if (ldns_edns_get_code(ldns_edns_option_list_get_option(ol, i)) == RECMESH_EDNS_OPT_WARM)
				warm = 1;
		FUZZ_CHECK(warm == info->warm_marker, "warm marker: ldns %d, dnsmsg %u", warm, info->warm_marker);
	} else {
		FUZZ_CHECK(!info->do_bit && !info->ext_rcode && !info->warm_marker && !info->edns_udp_size,
			   "EDNS fields set without OPT");
	}
	FUZZ_CHECK(w.has_min_ttl == info->has_min_ttl && (!w.has_min_ttl || w.min_ttl == info->min_ttl),
		   "min TTL %d/%u vs %u/%u", w.has_min_ttl, w.min_ttl, info->has_min_ttl, info->min_ttl);
	ldns_pkt_free(p);
	free(w.out);
}

/* What we build from a parsed message must parse again */
static void check_builders(const uint8_t *pkt, const struct dns_msg_info *info)
{
	uint8_t out[DNS_HDR_LEN + DNS_MAX_NAME + 4 + 15];
	struct dns_msg_info r;
	int n = dnsmsg_make_servfail(pkt, info, out, sizeof(out));
	if (info->question_end <= sizeof(out)) {
		FUZZ_CHECK(n == info->question_end, "servfail of %d octets, question ends at %u", n,
			   info->question_end);
		int rc = dnsmsg_parse(out, (size_t)n, &r);
		FUZZ_CHECK(rc == DNS_OK, "our SERVFAIL does not parse: %s", dnsmsg_strerror(rc));
		FUZZ_CHECK(r.id == info->id && dnsmsg_rcode(&r) == DNS_RCODE_SERVFAIL && (r.flags & DNS_FLAG_QR) &&
				   r.qname_len == info->qname_len && memcmp(r.qname, info->qname, r.qname_len) == 0 &&
				   r.qtype == info->qtype,
			   "SERVFAIL id %u rcode %d", r.id, dnsmsg_rcode(&r));
	} else {
		FUZZ_CHECK(n == -1, "servfail of %d octets into %zu", n, sizeof(out));
	}
	for (int warm = 0; warm <= 1; warm++) {
		n = dnsmsg_make_query(info->id, info->qname, info->qname_len, info->qtype, warm, out, sizeof(out));
		FUZZ_CHECK(n > 0, "make_query failed for a %u-octet name", info->qname_len);
		int rc = dnsmsg_parse(out, (size_t)n, &r);
		FUZZ_CHECK(rc == DNS_OK, "our query does not parse: %s", dnsmsg_strerror(rc));
		FUZZ_CHECK(r.id == info->id && r.qtype == info->qtype && r.qclass == DNS_CLASS_IN && r.has_edns &&
				   r.do_bit && r.warm_marker == warm && r.qname_len == info->qname_len &&
				   memcmp(r.qname, info->qname, r.qname_len) == 0,
			   "query read back differently (warm %d)", warm);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_msg_info info;

	fuzz_text(data, size);
	int rc = dnsmsg_parse(data, size, &info);
	FUZZ_CHECK(rc >= 0 && rc < DNS_ERR__COUNT, "parse returned %d", rc);
	FUZZ_CHECK(strcmp(dnsmsg_strerror(rc), "unknown error") != 0, "no text for %d", rc);
	if (rc != DNS_OK)
		return 0;
	FUZZ_CHECK(info.question_end <= size && info.qdcount == 1, "question_end %u of %zu", info.question_end,
		   size);
	check_wire_name(info.qname, info.qname_len);
	name_roundtrip(info.qname, info.qname_len);
	compare_ldns(data, size, &info);
	check_builders(data, &info);
	return 0;
}
