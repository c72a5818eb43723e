/* names.c: subjects, buckets and keys on NATS; see names.h */
#include "config.h"

#include "base/names.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int names_valid(const char *s)
{
	size_t n = 0;
	if (!s)
		return 0;
	for (; s[n]; n++)
		if (!(isalnum((unsigned char)s[n]) || s[n] == '-' || s[n] == '_'))
			return 0;
	return n > 0 && n < NAMES_MAX;
}

void names_default_node(char out[NAMES_MAX])
{
	char host[256] = "";
	if (gethostname(host, sizeof(host) - 1) < 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	host[strcspn(host, ".")] = '\0';
	for (char *s = host; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '-' || *s == '_'))
			*s = '-';
	host[NAMES_MAX - 1] = '\0';
	snprintf(out, NAMES_MAX, "%s", host[0] ? host : "node");
}

/* snprintf that says -1 when it did not fit, and leaves out empty then */
static int fmt_ok(char *out, size_t size, int n)
{
	if (n < 0 || (size_t)n >= size) {
		if (size)
			out[0] = '\0';
		return -1;
	}
	return 0;
}

static int bad(char *out, size_t size)
{
	if (size)
		out[0] = '\0';
	return -1;
}

int names_traffic_subject(char *out, size_t size, const char *cluster, const char *node)
{
	if (!names_valid(cluster) || (node && !names_valid(node)))
		return bad(out, size);
	return fmt_ok(out, size, snprintf(out, size, "recmesh.%s.traffic.%s", cluster, node ? node : "*"));
}

int names_hot_get_subject(char *out, size_t size, const char *cluster)
{
	if (!names_valid(cluster))
		return bad(out, size);
	return fmt_ok(out, size, snprintf(out, size, "recmesh.%s.hot.get", cluster));
}

int names_node_key(char *out, size_t size, const char *cluster, const char *node)
{
	if (!names_valid(cluster) || !names_valid(node))
		return bad(out, size);
	return fmt_ok(out, size, snprintf(out, size, "%s.%s", cluster, node));
}

int names_chunk_key(char *out, size_t size, const char *cluster, const char *node, unsigned chunk)
{
	if (chunk == 0)
		return names_node_key(out, size, cluster, node);
	if (!names_valid(cluster) || !names_valid(node))
		return bad(out, size);
	return fmt_ok(out, size, snprintf(out, size, "%s.%s.%u", cluster, node, chunk));
}

int names_key_node(const char *key, const char *cluster, char node[NAMES_MAX])
{
	size_t plen = strlen(cluster);
	if (strncmp(key, cluster, plen) != 0 || key[plen] != '.')
		return 0;
	const char *n = key + plen + 1;
	if (!names_valid(n))
		return 0; /* also rejects a further dot: a continuation chunk */
	if (node)
		snprintf(node, NAMES_MAX, "%s", n);
	return 1;
}
