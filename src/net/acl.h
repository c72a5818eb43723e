/*
 * acl.h: address allow lists ("127.0.0.0/8,::1"), for listeners that take
 * connections only from known peers (the protobuf listener).
 *
 * Ownership: acl_create returns a list its caller owns and frees with
 * acl_destroy (which accepts NULL); acl_add copies what it parses. Not
 * thread-safe: one thread fills and reads a list. Pure: no sockets, no logs.
 */
#ifndef RECMESH_ACL_H
#define RECMESH_ACL_H

#include <stddef.h>
#include <sys/socket.h>

#define ACL_MAX 256 /* entries in one list at most */

struct acl;

struct acl *acl_create(void);
void acl_destroy(struct acl *a);

/*
 * Adds the comma-separated entries of text, each an IPv4 or IPv6 address
 * with an optional /prefix ("10.0.0.0/8", "::1", "fd00::/8"). An
 * IPv4-mapped entry with a prefix of 96 or more ("::ffff:10.0.0.0/104") is
 * taken as the IPv4 entry it maps ("10.0.0.0/8"), as acl_match takes a
 * mapped client address. Returns 0, or -1 with a reason (nothing is added
 * then).
 */
int acl_add(struct acl *a, const char *text, char *err, size_t err_size);

/* Entries in the list */
size_t acl_count(const struct acl *a);

/* Whether sa (AF_INET or AF_INET6; an IPv4-mapped IPv6 address counts as IPv4) is in the list */
int acl_match(const struct acl *a, const struct sockaddr *sa);

#endif
