/*
 * netaddr.h: socket addresses as operators write them: "127.0.0.1:53",
 * "[::1]:5300", "0.0.0.0:53", "[::]:53"; a bare address takes the default
 * port.
 *
 * Ownership: plain values, no allocation. The caller owns every buffer it
 * passes; netaddr_format writes into out and returns it. Callable from any
 * thread.
 */
#ifndef RECMESH_NETADDR_H
#define RECMESH_NETADDR_H

#include <stddef.h>
#include <sys/socket.h>

struct netaddr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/* Returns 0, or -1 when text is not an address with an optional port */
int netaddr_parse(const char *text, int default_port, struct netaddr *out);
/* "addr:port" or "[addr]:port"; returns out */
const char *netaddr_format(const struct sockaddr *sa, char *out, size_t size);
int netaddr_is_wildcard(const struct netaddr *a);
int netaddr_port(const struct sockaddr *sa);
/* Whether a and b hold the same IPv4 or IPv6 address (the ports aside); 0 for other families */
int netaddr_same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
/* The same for any holder of a struct sockaddr (one of sockaddr_in, sockaddr_in6) */
int netaddr_sa_same_host(const struct sockaddr *a, const struct sockaddr *b);
/* Whether a's address is one of this host's (a socket can bind it) */
int netaddr_is_local(const struct netaddr *a);
/*
 * Whether a (an address to send to) reaches the listening address l: the
 * same port, and the same address, or l is a wildcard and a is local
 */
int netaddr_reaches(const struct netaddr *a, const struct netaddr *l);

#endif
