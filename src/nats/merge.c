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

/* <cluster>.=lease */
static void lease_key(char *out, size_t size, const char *cluster)
{
	snprintf(out, size, "%s.%s", cluster, FLEET_LEASE_NAME);
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
		      uint64_t *rev, struct merge_result *res, char *err, size_t err_size)
{
	char key[NAMES_KEY_MAX], val[160], holder[64], ebuf[256];
	double until = 0, now = clock_unix();
	int vl = merge_lease_format(val, sizeof(val), node, now + lease);
	lease_key(key, sizeof(key), cluster);
	if (vl < 0) {
		snprintf(err, err_size, "cannot write the lease");
		return -1;
	}
	for (int tries = 0; tries < 2; tries++) {
		kvEntry *e = NULL;
		natsStatus s = kvStore_Get(&e, kv, key);
		if (s == NATS_NOT_FOUND) {
			s = kvStore_Create(rev, kv, key, val, vl);
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
			notes_add(&res->notes, LOG_LVL_WARN, "the lease '%s' is not a lease: taken over", key);
		else if (until > now + MERGE_LEASE_MAX + FLEET_MAX_SKEW)
			notes_add(&res->notes, LOG_LVL_WARN, "the lease '%s' of node '%s' claims %.0f s: void, taken over", key, holder,
				 until - now);
		else if (strcmp(holder, node) != 0 && until > now) {
			snprintf(res->holder, sizeof(res->holder), "%s", holder);
			res->holder_left = until - now;
			return 0;
		}
		s = kvStore_Update(rev, kv, key, val, vl, last);
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

/*
 * Whether this run still holds the lease: its revision is the one it wrote
 * (no other host took it over since) and it has not run out.
 */
static int lease_held(kvStore *kv, const char *cluster, uint64_t rev, double until)
{
	char key[NAMES_KEY_MAX];
	kvEntry *e = NULL;
	lease_key(key, sizeof(key), cluster);
	if (kvStore_Get(&e, kv, key) != NATS_OK)
		return 0;
	int held = kvEntry_Revision(e) == rev && clock_unix() < until;
	kvEntry_Destroy(e);
	return held;
}

/*
 * Gives the lease back after a run that wrote nothing, so that the next
 * host's timer need not wait for it to run out: it is rewritten as run out
 * (until=0), only if it is still this run's revision.
 */
static void release_lease(kvStore *kv, const char *cluster, const char *node, uint64_t rev,
			  struct notes *notes)
{
	char key[NAMES_KEY_MAX], val[160];
	uint64_t next = 0;
	int vl = merge_lease_format(val, sizeof(val), node, 0);
	lease_key(key, sizeof(key), cluster);
	if (vl > 0 && kvStore_Update(&next, kv, key, val, vl, rev) == NATS_OK)
		notes_add(notes, LOG_LVL_INFO, "the lease '%s' given back: nothing was written", key);
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
	struct hotmerge *m = NULL;
	struct hotlist_chunk *chunks = NULL;
	size_t n = 0, nchunks = 0;
	int missing = 0, no_js = 0, rc = -1;
	uint64_t rev = 0;
	char key[NAMES_KEY_MAX];

	memset(res, 0, sizeof(*res));
	if (natsconn_kv_open(NULL, nc, NAMES_HOT_BUCKET, 0, 0, &js, &kv, &missing, &no_js, err, err_size) < 0)
		return -1;
	double until = clock_unix() + lease;
	int l = take_lease(kv, cluster, node, lease, &rev, res, err, err_size);
	if (l <= 0) {
		natsconn_kv_close(js, kv);
		return l;
	}
	double t0 = clock_mono();
	/* the bucket only: the merger does not ask the nodes (its credentials may not) */
	if (!(m = hotmerge_create(top)) || !(items = calloc(top ? top : 1, sizeof(*items)))) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	if (fleet_fetch_hot(nc, cluster, max_age, half_life, timeout, 0, m, &res->report, err, err_size) < 0)
		goto out;
	n = hotmerge_top(m, items, top);
	hotmerge_destroy(m);
	m = NULL;
	res->seconds = clock_mono() - t0;
	if (res->report.used == 0 || n == 0) {
		snprintf(err, err_size, "no usable hot list in KV bucket '%s' for cluster '%s': nothing "
			 "written", NAMES_HOT_BUCKET, cluster);
		goto out;
	}
	size_t chunk = natsconn_kv_chunk_max(natsConnection_GetMaxPayload(nc));
	double now = clock_unix();
	/* what the readers take: at most FLEET_BYTE_BUDGET of text; fewer names when it is more */
	for (;;) {
		size_t bytes = 0;
		if (hotlist_encode(items, n, node, now, (uint64_t)(now * 1000.0), chunk, &chunks, &nchunks) < 0 ||
		    nchunks > HOTLIST_MAX_CHUNKS) {
			snprintf(err, err_size, "cannot encode the merged list (%zu names)", n);
			goto out;
		}
		for (size_t k = 0; k < nchunks; k++)
			bytes += chunks[k].len;
		bytes += nchunks * FLEET_CHUNK_SLOT;
		if (bytes <= FLEET_BYTE_BUDGET)
			break;
		size_t fewer = (size_t)((double)n * ((double)FLEET_BYTE_BUDGET / (double)bytes) * 0.95);
		notes_add(&res->notes, LOG_LVL_WARN, "the merged list of %zu names takes %zu bytes, more than the readers' budget of "
			 "%u: cut to %zu names", n, bytes, (unsigned)FLEET_BYTE_BUDGET, fewer);
		hotlist_chunks_free(chunks, nchunks);
		chunks = NULL;
		nchunks = 0;
		if (fewer == 0 || fewer >= n) {
			snprintf(err, err_size, "cannot fit the merged list into %u bytes",
				 (unsigned)FLEET_BYTE_BUDGET);
			goto out;
		}
		n = fewer;
	}
	/* a run that outlived its lease, or whose lease another host took, writes nothing */
	if (!lease_held(kv, cluster, rev, until)) {
		snprintf(err, err_size, "the lease ran out or was taken over while merging (%.1f s, --lease "
			 "%g s): nothing written; raise --lease", res->seconds, lease);
		goto out;
	}
	unsigned before = old_chunks(kv, cluster);
	/* continuation chunks first, from the last down, the head last: a reader of the new head finds them */
	for (size_t k = nchunks; k-- > 0;) {
		if (k == 0 && !lease_held(kv, cluster, rev, until)) {
			snprintf(err, err_size, "the lease ran out or was taken over while writing: the head "
				 "not written");
			goto out;
		}
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
	if (rc < 0 && !res->merged)
		release_lease(kv, cluster, node, rev, &res->notes);
	hotlist_chunks_free(chunks, nchunks);
	hotmerge_destroy(m);
	free(items);
	natsconn_kv_close(js, kv);
	return rc;
}
