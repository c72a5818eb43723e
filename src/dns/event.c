/* event.c: the traffic event, its batch encoding and its JSON form; see event.h and doc/events.md */
#include "config.h"

#include "dns/event.h"

#include "base/json.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

void event_from_dns(struct rm_event *ev, const struct ev_query *q, const struct dns_msg_info *r,
		    size_t rsize, uint64_t now_us, uint32_t latency_us, int tcp)
{
	uint16_t f = 0;
	if (q->flags & DNS_FLAG_RD)
		f |= EV_RD;
	if (q->flags & DNS_FLAG_CD)
		f |= EV_CD;
	if (q->do_bit)
		f |= EV_DO;
	if (q->warm_marker)
		f |= EV_WARM;
	if (r->flags & DNS_FLAG_AD)
		f |= EV_AD;
	if (r->flags & DNS_FLAG_TC)
		f |= EV_TC;
	if (r->has_min_ttl)
		f |= EV_TTL;
	if (tcp)
		f |= EV_TCP;
	ev->time_us = now_us;
	ev->latency_us = latency_us;
	ev->min_ttl = r->has_min_ttl ? r->min_ttl : 0;
	ev->qtype = r->qtype;
	ev->qclass = r->qclass;
	ev->query_size = q->size;
	ev->response_size = rsize > 65535 ? 65535 : (uint16_t)rsize;
	ev->flags = f;
	ev->rcode = (uint16_t)dnsmsg_rcode(r);
	ev->client_family = 0;
	ev->qname_len = r->qname_len;
	memcpy(ev->qname, r->qname, r->qname_len);
}

void event_batch_init(struct event_batch *b, uint8_t *buf, size_t size, int with_client)
{
	b->buf = buf;
	b->size = size;
	b->len = EVENT_HDR_LEN;
	b->count = 0;
	b->flags = with_client ? EVB_CLIENT : 0;
	b->base_us = 0;
}

int event_batch_add(struct event_batch *b, const struct rm_event *ev)
{
	size_t need = EVENT_FIXED_LEN + ev->qname_len;
	if (b->flags & EVB_CLIENT)
		need += 1 + (ev->client_family == 6 ? 16 : ev->client_family == 4 ? 4 : 0);
	if (b->count == 0xffff || b->len + need > b->size)
		return -1;
	if (b->count == 0)
		b->base_us = ev->time_us;
	uint64_t delta = ev->time_us >= b->base_us ? ev->time_us - b->base_us : 0;
	if (delta > 0xffffffffu)
		return -1; /* start a new batch rather than lie about the time */
	uint8_t *p = b->buf + b->len;
	put32(p, (uint32_t)delta);
	put32(p + 4, ev->latency_us);
	put32(p + 8, ev->min_ttl);
	dnsmsg_put16(p + 12, ev->qtype);
	dnsmsg_put16(p + 14, ev->qclass);
	dnsmsg_put16(p + 16, ev->query_size);
	dnsmsg_put16(p + 18, ev->response_size);
	dnsmsg_put16(p + 20, ev->rcode);
	dnsmsg_put16(p + 22, ev->flags);
	p[24] = ev->qname_len;
	memcpy(p + EVENT_FIXED_LEN, ev->qname, ev->qname_len);
	p += EVENT_FIXED_LEN + ev->qname_len;
	if (b->flags & EVB_CLIENT) {
		*p++ = ev->client_family;
		if (ev->client_family == 4) {
			memcpy(p, ev->client, 4);
			p += 4;
		} else if (ev->client_family == 6) {
			memcpy(p, ev->client, 16);
			p += 16;
		}
	}
	b->len = (size_t)(p - b->buf);
	b->count++;
	return 0;
}

size_t event_batch_finish(struct event_batch *b)
{
	uint8_t *p = b->buf;
	memcpy(p, EVENT_MAGIC, 4);
	p[4] = EVENT_VERSION;
	p[5] = b->flags;
	dnsmsg_put16(p + 6, b->count);
	put32(p + 8, (uint32_t)(b->base_us >> 32));
	put32(p + 12, (uint32_t)b->base_us);
	return b->len;
}

static int valid_wire_name(const uint8_t *n, size_t len)
{
	size_t pos = 0;
	while (pos < len) {
		uint8_t l = n[pos];
		if (l == 0)
			return pos + 1 == len;
		if (l > 63)
			return 0;
		pos += (size_t)l + 1;
	}
	return 0;
}

int hot_eligible(const struct rm_event *ev)
{
	if (ev->flags & (EV_CD | EV_WARM | EV_OUTGOING))
		return 0;
	if (ev->qclass != DNS_CLASS_IN)
		return 0;
	if (dnsmsg_type_is_meta(ev->qtype))
		return 0;
	if (ev->rcode == DNS_RCODE_REFUSED || ev->rcode == DNS_RCODE_FORMERR ||
	    ev->rcode == DNS_RCODE_NOTIMP)
		return 0;
	return 1;
}


int event_batch_decode(const uint8_t *buf, size_t len, event_cb cb, void *arg, char *err,
		       size_t err_size)
{
	struct rm_event ev;
	const char *why = NULL;

	if (len < EVENT_HDR_LEN || memcmp(buf, EVENT_MAGIC, 4) != 0) {
		why = "not a recmesh event batch";
		goto bad;
	}
	if (buf[4] != EVENT_VERSION) {
		why = "unsupported event batch version";
		goto bad;
	}
	uint8_t bflags = buf[5];
	unsigned count = dnsmsg_get16(buf + 6);
	uint64_t base = ((uint64_t)get32(buf + 8) << 32) | get32(buf + 12);
	size_t off = EVENT_HDR_LEN;
	for (unsigned i = 0; i < count; i++) {
		if (off + EVENT_FIXED_LEN > len) {
			why = "event batch truncated";
			goto bad;
		}
		const uint8_t *p = buf + off;
		memset(&ev, 0, sizeof(ev));
		ev.time_us = base + get32(p);
		ev.latency_us = get32(p + 4);
		ev.min_ttl = get32(p + 8);
		ev.qtype = dnsmsg_get16(p + 12);
		ev.qclass = dnsmsg_get16(p + 14);
		ev.query_size = dnsmsg_get16(p + 16);
		ev.response_size = dnsmsg_get16(p + 18);
		ev.rcode = dnsmsg_get16(p + 20);
		ev.flags = dnsmsg_get16(p + 22);
		ev.qname_len = p[24];
		off += EVENT_FIXED_LEN;
		if (ev.qname_len == 0 || off + ev.qname_len > len ||
		    !valid_wire_name(buf + off, ev.qname_len)) {
			why = "bad qname in event";
			goto bad;
		}
		memcpy(ev.qname, buf + off, ev.qname_len);
		off += ev.qname_len;
		if (bflags & EVB_CLIENT) {
			if (off + 1 > len) {
				why = "event batch truncated";
				goto bad;
			}
			ev.client_family = buf[off++];
			size_t alen = ev.client_family == 4 ? 4 : ev.client_family == 6 ? 16 : 0;
			if ((ev.client_family != 0 && alen == 0) || off + alen > len) {
				why = "bad client address in event";
				goto bad;
			}
			memcpy(ev.client, buf + off, alen);
			off += alen;
		}
		if (cb)
			cb(&ev, arg);
	}
	if (off != len) {
		why = "trailing bytes after the last event";
		goto bad;
	}
	return (int)count;
bad:
	if (err && err_size)
		snprintf(err, err_size, "%s", why);
	return -1;
}

int event_json_fields(struct json *j, const struct rm_event *ev)
{
	char name[DNS_MAX_NAME_TEXT], tbuf[16], rbuf[16];
	if (dnsmsg_name_to_text(ev->qname, ev->qname_len, name, sizeof(name)) < 0)
		return -1;
	/*
	 * Microseconds as seconds with six decimals: up to 2^32 s the double
	 * is within half a microsecond, so the digits are exact.
	 */
	json_knum(j, "time", (double)ev->time_us / 1e6, 6);
	json_kstr(j, "qname", name);
	json_kstr(j, "qtype", dnsmsg_type_to_text(ev->qtype, tbuf));
	json_ku64(j, "qclass", ev->qclass);
	json_kstr(j, "rcode", dnsmsg_rcode_to_text(ev->rcode, rbuf));
	json_kbool(j, "rd", ev->flags & EV_RD);
	json_kbool(j, "cd", ev->flags & EV_CD);
	json_kbool(j, "do", ev->flags & EV_DO);
	json_kbool(j, "ad", ev->flags & EV_AD);
	json_kbool(j, "tc", ev->flags & EV_TC);
	json_kstr(j, "transport", (ev->flags & EV_TCP) ? "tcp" : "udp");
	json_kbool(j, "warm", ev->flags & EV_WARM);
	json_key(j, "min_ttl");
	if (ev->flags & EV_TTL)
		json_u64(j, ev->min_ttl);
	else
		json_null(j);
	json_ku64(j, "latency_us", ev->latency_us);
	json_ku64(j, "query_size", ev->query_size);
	json_ku64(j, "response_size", ev->response_size);
	if (ev->client_family == 4 || ev->client_family == 6) {
		char a[INET6_ADDRSTRLEN];
		if (inet_ntop(ev->client_family == 4 ? AF_INET : AF_INET6, ev->client, a, sizeof(a)))
			json_kstr(j, "client", a);
	}
	return 0;
}

int event_to_json(const struct rm_event *ev, char *out, size_t out_size)
{
	struct json j;
	json_init(&j, out, out_size);
	json_obj_begin(&j);
	if (event_json_fields(&j, ev) < 0)
		return -1;
	json_obj_end(&j);
	return json_finish(&j);
}
