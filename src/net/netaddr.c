/* netaddr.c: parsing and printing socket addresses; see netaddr.h */
#include "config.h"

#include "net/netaddr.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse_port(const char *s, int *port)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < 1 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

int netaddr_parse(const char *text, int default_port, struct netaddr *out)
{
	char host[INET6_ADDRSTRLEN + 8];
	int port = default_port;
	const char *colon;

	memset(out, 0, sizeof(*out));
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || (size_t)(close - text - 1) >= sizeof(host))
			return -1;
		memcpy(host, text + 1, (size_t)(close - text - 1));
		host[close - text - 1] = '\0';
		if (close[1] == ':') {
			if (parse_port(close + 2, &port) < 0)
				return -1;
		} else if (close[1] != '\0') {
			return -1;
		}
	} else if ((colon = strchr(text, ':')) && !strchr(colon + 1, ':')) {
		if ((size_t)(colon - text) >= sizeof(host))
			return -1;
		memcpy(host, text, (size_t)(colon - text));
		host[colon - text] = '\0';
		if (parse_port(colon + 1, &port) < 0)
			return -1;
	} else {
		if (strlen(text) >= sizeof(host))
			return -1;
		strcpy(host, text); /* bare IPv4, or bare IPv6 without a port */
	}
	if (port <= 0)
		return -1;
	struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		out->len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		out->len = sizeof(*sin6);
		return 0;
	}
	return -1;
}

const char *netaddr_format(const struct sockaddr *sa, char *out, size_t size)
{
	char a[INET6_ADDRSTRLEN] = "?";
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
		snprintf(out, size, "%s:%u", a, ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a));
		snprintf(out, size, "[%s]:%u", a, ntohs(sin6->sin6_port));
	} else {
		snprintf(out, size, "(unknown address family %d)", sa->sa_family);
	}
	return out;
}

int netaddr_is_wildcard(const struct netaddr *a)
{
	if (a->ss.ss_family == AF_INET)
		return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	if (a->ss.ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr);
	return 0;
}

int netaddr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

int netaddr_sa_same_host(const struct sockaddr *a, const struct sockaddr *b)
{
	/* members read with memcpy: a may be any sockaddr holder, whatever its alignment */
	if (a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == AF_INET)
		return !memcmp((const char *)a + offsetof(struct sockaddr_in, sin_addr),
			       (const char *)b + offsetof(struct sockaddr_in, sin_addr), sizeof(struct in_addr));
	if (a->sa_family == AF_INET6)
		return !memcmp((const char *)a + offsetof(struct sockaddr_in6, sin6_addr),
			       (const char *)b + offsetof(struct sockaddr_in6, sin6_addr), sizeof(struct in6_addr));
	return 0;
}

int netaddr_same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	return netaddr_sa_same_host((const struct sockaddr *)a, (const struct sockaddr *)b);
}

int netaddr_is_local(const struct netaddr *a)
{
	struct netaddr b = *a;
	if (b.ss.ss_family == AF_INET)
		((struct sockaddr_in *)&b.ss)->sin_port = 0;
	else if (b.ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&b.ss)->sin6_port = 0;
	else
		return 0;
	int fd = socket(b.ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	int ok = bind(fd, (struct sockaddr *)&b.ss, b.len) == 0;
	close(fd);
	return ok;
}

int netaddr_reaches(const struct netaddr *a, const struct netaddr *l)
{
	if (a->ss.ss_family != l->ss.ss_family ||
	    netaddr_port((const struct sockaddr *)&a->ss) != netaddr_port((const struct sockaddr *)&l->ss))
		return 0;
	if (netaddr_same_host(&a->ss, &l->ss))
		return 1;
	return netaddr_is_wildcard(l) && netaddr_is_local(a);
}
