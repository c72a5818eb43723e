/* merge.c: the fleet's merged hot list, written under a lease; see merge.h */
#include "config.h"

#include "nats/merge.h"

#include "base/clock.h"
#include "base/log.h"
#include "base/names.h"
#include "nats/natsconn.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MERGE_PAYLOAD_MARGIN 4096 /* room for a KV write's headers, as a node's chunks keep */

int merge_lease_format(char *out, size_t size, const char *node, double until)
{
	int l = snprintf(out, size, "%s 1 node=%s until=%.3f\n", MERGE_LEASE_MAGIC, node, until);
	return l < 0 || (size_t)l >= size ? -1 : l;
}

int merge_lease_parse(const char *data, size_t len, char node[64], double *until)
{
	char buf[160], name[64];
	double u;
	int used = 0;
	if (!data || len == 0 || len >= sizeof(buf) || memchr(data, '\0', len))
		return -1;
	memcpy(buf, data, len);
	buf[len] = '\0';
	if (sscanf(buf, MERGE_LEASE_MAGIC " 1 node=%63[A-Za-z0-9_-] until=%lf%n", name, &u, &used) != 2)
		return -1;
	/* nothing after the time but the line feed */
	if ((strcmp(buf + used, "\n") != 0 && buf[used] != '\0') || !isfinite(u) || u < 0 ||
	    !names_valid(name))
		return -1;
	snprintf(node, 64, "%s", name);
	*until = u;
	return 0;
}

/* Whether the lease's revision is no longer last (0: it did not exist) */
static int lease_changed(kvStore *kv, const char *key, uint64_t last)
{
	kvEntry *e = NULL;
	if (kvStore_Get(&e, kv, key) != NATS_OK)
		return 0;
	int changed = kvEntry_Revision(e) != last;
	kvEntry_Destroy(e);
	return changed;
}

/*
 * The lease: 1 taken, 0 held by another node (res->holder), -1 with a
 * reason. A lease held by this node, run out, or unreadable is taken over
 * with a write conditional on its revision, so of two nodes that try at
 * once one wins.
 */
static int take_lease(kvStore *kv, const char *cluster, const char *node, double lease,
		      struct merge_result *res, char *err, size_t err_size)
{
	char key[NAMES_KEY_MAX], val[160], holder[64], ebuf[256];
	double until = 0, now = clock_unix();
	int vl = merge_lease_format(val, sizeof(val), node, now + lease);
	snprintf(key, sizeof(key), "%s.%s", cluster, FLEET_LEASE_NAME);
	if (vl < 0) {
		snprintf(err, err_size, "cannot write the lease");
		return -1;
	}
	for (int tries = 0; tries < 2; tries++) {
		kvEntry *e = NULL;
		natsStatus s = kvStore_Get(&e, kv, key);
		if (s == NATS_NOT_FOUND) {
			uint64_t rev = 0;
			s = kvStore_Create(&rev, kv, key, val, vl);
			if (s == NATS_OK)
				return 1;
			if (!lease_changed(kv, key, 0)) {
				snprintf(err, err_size, "cannot write the lease '%s': %s", key,
					 natsconn_strerror(s, ebuf, sizeof(ebuf)));
				return -1;
			}
			continue; /* another node created it meanwhile: read it */
		}
		if (s != NATS_OK) {
			snprintf(err, err_size, "cannot read the lease '%s': %s", key, natsStatus_GetText(s));
			return -1;
		}
		uint64_t last = kvEntry_Revision(e);
		int ok = merge_lease_parse(kvEntry_ValueString(e), (size_t)kvEntry_ValueLen(e), holder,
					   &until) == 0;
		kvEntry_Destroy(e);
		if (!ok)
			log_warn("the lease '%s' is not a lease: taken over", key);
		else if (until > now + MERGE_LEASE_MAX + FLEET_MAX_SKEW)
			log_warn("the lease '%s' of node '%s' claims %.0f s: void, taken over", key, holder,
				 until - now);
		else if (strcmp(holder, node) != 0 && until > now) {
			snprintf(res->holder, sizeof(res->holder), "%s", holder);
			res->holder_left = until - now;
			return 0;
		}
		uint64_t rev = 0;
		s = kvStore_Update(&rev, kv, key, val, vl, last);
		if (s == NATS_OK)
			return 1;
		if (!lease_changed(kv, key, last)) {
			snprintf(err, err_size, "cannot write the lease '%s': %s", key,
				 natsconn_strerror(s, ebuf, sizeof(ebuf)));
			return -1;
		}
		/* another node took it first: read who */
	}
	snprintf(err, err_size, "the lease '%s' changed twice while taken", key);
	return -1;
}

/* The chunk count of the merged list there now (0: none or unreadable) */
static unsigned old_chunks(kvStore *kv, const char *cluster)
{
	char key[NAMES_KEY_MAX], err[160];
	struct hotlist_header h;
	kvEntry *e = NULL;
	unsigned n = 0;
	if (fleet_merge_key(key, sizeof(key), cluster, 0) == 0 && kvStore_Get(&e, kv, key) == NATS_OK &&
	    hotlist_parse_header(kvEntry_ValueString(e), (size_t)kvEntry_ValueLen(e), &h, err,
				 sizeof(err)) == 0)
		n = h.chunks;
	kvEntry_Destroy(e);
	return n;
}

int merge_run(natsConnection *nc, const char *cluster, const char *node, size_t top, double max_age,
	      double half_life, double timeout, double lease, struct merge_result *res, char *err,
	      size_t err_size)
{
	jsCtx *js = NULL;
	kvStore *kv = NULL;
	struct hot_item *items = NULL;
	struct hotlist_chunk *chunks = NULL;
	size_t n = 0, nchunks = 0;
	int missing = 0, no_js = 0, rc = -1;
	char key[NAMES_KEY_MAX];

	memset(res, 0, sizeof(*res));
	if (natsconn_kv_open(nc, NAMES_HOT_BUCKET, 0, 0, &js, &kv, &missing, &no_js, err, err_size) < 0)
		return -1;
	int l = take_lease(kv, cluster, node, lease, res, err, err_size);
	if (l <= 0) {
		rc = l;
		goto out;
	}
	double t0 = clock_mono();
	if (fleet_top(nc, cluster, max_age, half_life, timeout, 0, top, &items, &n, &res->report, err,
		      err_size) < 0)
		goto out;
	res->seconds = clock_mono() - t0;
	if (res->report.source != FLEET_SOURCE_KV || res->report.used == 0 || n == 0) {
		snprintf(err, err_size, "no usable hot list in KV bucket '%s' for cluster '%s': nothing "
			 "written", NAMES_HOT_BUCKET, cluster);
		goto out;
	}
	if (res->seconds > lease)
		log_warn("merging took %.0f s, longer than the lease of %g s: another node may have "
			 "merged meanwhile (harmless; raise --lease)", res->seconds, lease);
	int64_t maxp = natsConnection_GetMaxPayload(nc);
	size_t chunk = maxp > 0 ? (size_t)maxp - (maxp > 8 * MERGE_PAYLOAD_MARGIN ? MERGE_PAYLOAD_MARGIN
										 : (size_t)maxp / 8)
				: 1024 * 1024 - MERGE_PAYLOAD_MARGIN;
	if (chunk < 2048)
		chunk = 2048;
	double now = clock_unix();
	if (hotlist_encode(items, n, node, now, (uint64_t)(now * 1000.0), chunk, &chunks, &nchunks) < 0 ||
	    nchunks > HOTLIST_MAX_CHUNKS) {
		snprintf(err, err_size, "cannot encode the merged list (%zu names)", n);
		goto out;
	}
	unsigned before = old_chunks(kv, cluster);
	/* continuation chunks first, from the last down, the head last: a reader of the new head finds them */
	for (size_t k = nchunks; k-- > 0;) {
		fleet_merge_key(key, sizeof(key), cluster, (unsigned)k);
		natsStatus s = kvStore_Put(NULL, kv, key, chunks[k].data, (int)chunks[k].len);
		if (s != NATS_OK) {
			snprintf(err, err_size, "cannot write key '%s' (%zu bytes): %s", key, chunks[k].len,
				 natsStatus_GetText(s));
			goto out;
		}
		res->bytes += chunks[k].len;
	}
	/* the continuation keys of a longer merged list before it: gone, so nothing stale is left */
	for (unsigned k = (unsigned)nchunks; k < before; k++) {
		fleet_merge_key(key, sizeof(key), cluster, k);
		if (kvStore_Delete(kv, key) == NATS_OK)
			res->stale_deleted++;
	}
	res->merged = 1;
	res->names = n;
	res->chunks = nchunks;
	rc = 0;
out:
	hotlist_chunks_free(chunks, nchunks);
	free(items);
	natsconn_kv_close(js, kv);
	return rc;
}
