/*
 * names.h: every name recmesh uses on NATS, in one place: the cluster and
 * node names operators choose, the subjects, the KV buckets and the keys.
 * doc/nats.md is the normative description; keep the two in step.
 *
 *   recmesh.<cluster>.traffic.<node>   event batches of one node
 *   recmesh.<cluster>.hot.get          hot-list requests (answered by every node)
 *   KV recmesh_hot, key <cluster>.<node>[.<chunk>]   a node's hot list
 *   KV recmesh_ns,  key <cluster>.<node>             a node's NS table
 *
 * Cluster and node names hold 1 to 63 letters, digits, '-' or '_', so they
 * are safe in subjects and keys. The builders return 0, or -1 when out is
 * too small or a name is not valid (out is then an empty string).
 */
#ifndef RECMESH_NAMES_H
#define RECMESH_NAMES_H

#include <stddef.h>

#define NAMES_MAX 64 /* a cluster or node name with its NUL */
#define NAMES_SUBJECT_MAX 160
#define NAMES_KEY_MAX 160

#define NAMES_HOT_BUCKET "recmesh_hot"
#define NAMES_NS_BUCKET "recmesh_ns"

/* Whether s is a usable cluster or node name */
int names_valid(const char *s);

/* The host name, cut at the first dot, with other characters made '-'; "node" if none */
void names_default_node(char out[NAMES_MAX]);

/* recmesh.<cluster>.traffic.<node>; node NULL gives the wildcard '*' */
int names_traffic_subject(char *out, size_t size, const char *cluster, const char *node);
/* recmesh.<cluster>.hot.get */
int names_hot_get_subject(char *out, size_t size, const char *cluster);
/* <cluster>.<node>: a node's key in both buckets, and the head of its hot list */
int names_node_key(char *out, size_t size, const char *cluster, const char *node);
/* <cluster>.<node> for chunk 0, <cluster>.<node>.<chunk> after it */
int names_chunk_key(char *out, size_t size, const char *cluster, const char *node, unsigned chunk);

/*
 * Whether key is a node's head key of cluster (<cluster>.<node>, no
 * further dot); with node non-NULL, the node's name is copied there.
 * Returns 1 or 0.
 */
int names_key_node(const char *key, const char *cluster, char node[NAMES_MAX]);

#endif
