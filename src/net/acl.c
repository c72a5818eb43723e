/* acl.c: address allow lists; see acl.h */
#include "config.h"

#include "net/acl.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct acl_entry {
	int family; /* AF_INET or AF_INET6 */
	unsigned prefix;
	uint8_t addr[16];
};

struct acl {
	struct acl_entry e[ACL_MAX];
	size_t n;
};

struct acl *acl_create(void)
{
	return calloc(1, sizeof(struct acl));
}

void acl_destroy(struct acl *a)
{
	free(a);
}

size_t acl_count(const struct acl *a)
{
	return a->n;
}

/* The first 96 bits of an IPv4-mapped IPv6 address (::ffff:0:0/96) */
static const uint8_t acl_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Clears the bits after the prefix, so that matching compares whole bytes */
static void mask(uint8_t *addr, unsigned bytes, unsigned prefix)
{
	for (unsigned i = 0; i < bytes; i++) {
		unsigned bits = prefix >= (i + 1) * 8 ? 8 : prefix > i * 8 ? prefix - i * 8 : 0;
		addr[i] &= (uint8_t)(0xff00u >> bits);
	}
}

static int parse_one(const char *s, size_t len, struct acl_entry *out, char *err, size_t err_size)
{
	char buf[INET6_ADDRSTRLEN + 8];
	if (len == 0 || len >= sizeof(buf)) {
		snprintf(err, err_size, "bad address '%.*s' (expected ADDR or ADDR/PREFIX)",
			 (int)(len > 64 ? 64 : len), s);
		return -1;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	char *slash = strchr(buf, '/');
	long prefix = -1;
	if (slash) {
		char *end;
		*slash = '\0';
		if (slash[1] < '0' || slash[1] > '9' || (prefix = strtol(slash + 1, &end, 10)) < 0 || *end) {
			snprintf(err, err_size, "bad prefix in '%.*s'", (int)len, s);
			return -1;
		}
	}
	static const struct {
		int family;
		unsigned bits;
	} fams[] = {{AF_INET, 32}, {AF_INET6, 128}};
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
		if (inet_pton(fams[i].family, buf, out->addr) != 1)
			continue;
		if (prefix > (long)fams[i].bits) {
			snprintf(err, err_size, "prefix over %u in '%.*s'", fams[i].bits, (int)len, s);
			return -1;
		}
		out->family = fams[i].family;
		out->prefix = prefix < 0 ? fams[i].bits : (unsigned)prefix;
		if (out->family == AF_INET6 && out->prefix >= 96 && !memcmp(out->addr, acl_mapped, 12)) {
			/* acl_match sees a mapped client as IPv4: so is the entry */
			memmove(out->addr, out->addr + 12, 4);
			memset(out->addr + 4, 0, 12);
			out->family = AF_INET;
			out->prefix -= 96;
		}
		mask(out->addr, out->family == AF_INET ? 4 : 16, out->prefix);
		return 0;
	}
	snprintf(err, err_size, "bad address '%.*s' (expected ADDR or ADDR/PREFIX)", (int)len, s);
	return -1;
}

int acl_add(struct acl *a, const char *text, char *err, size_t err_size)
{
	struct acl_entry tmp[ACL_MAX];
	size_t n = 0;
	const char *s = text;
	for (;;) {
		size_t len = strcspn(s, ",");
		while (len && (*s == ' ' || *s == '\t')) {
			s++;
			len--;
		}
		while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
		if (a->n + n >= ACL_MAX) {
			snprintf(err, err_size, "more than %d entries", ACL_MAX);
			return -1;
		}
		if (parse_one(s, len, &tmp[n], err, err_size) < 0)
			return -1;
		n++;
		s += strcspn(s, ",");
		if (*s != ',')
			break;
		s++;
	}
	memcpy(a->e + a->n, tmp, n * sizeof(tmp[0]));
	a->n += n;
	return 0;
}

int acl_match(const struct acl *a, const struct sockaddr *sa)
{
	uint8_t addr[16];
	int family;
	if (sa->sa_family == AF_INET) {
		family = AF_INET;
		memcpy(addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const uint8_t *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		if (!memcmp(b, acl_mapped, 12)) {
			family = AF_INET;
			memcpy(addr, b + 12, 4);
		} else {
			family = AF_INET6;
			memcpy(addr, b, 16);
		}
	} else {
		return 0;
	}
	for (size_t i = 0; i < a->n; i++) {
		const struct acl_entry *e = &a->e[i];
		if (e->family != family)
			continue;
		uint8_t m[16];
		unsigned bytes = family == AF_INET ? 4 : 16;
		memcpy(m, addr, bytes);
		mask(m, bytes, e->prefix);
		if (!memcmp(m, e->addr, bytes))
			return 1;
	}
	return 0;
}
