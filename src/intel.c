/* intel.c: the intelligence file for the Recursor's Lua script; see intel.h */
#include "config.h"

#include "intel.h"

#include "clock.h"
#include "fleet.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int intel_make_parent(const char *path, char *err, size_t err_size)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		snprintf(err, err_size, "cannot create '%s': %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

int intel_write_file(const char *path, const struct nstable_item *merged, size_t n, double now,
		     char *err, size_t err_size)
{
	char tmp[4096], a[64];
	int dead = 0;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
		snprintf(err, err_size, "path too long");
		return -1;
	}
	FILE *f = fopen(tmp, "w");
	if (!f) {
		snprintf(err, err_size, "cannot write '%s': %s", tmp, strerror(errno));
		return -1;
	}
	fprintf(f, "# recmesh-intel 1 time=%.3f\n", now);
	for (size_t i = 0; i < n; i++)
		if (nstable_state_of(&merged[i]) == NS_DEAD) {
			fprintf(f, "dead %s\n", nstable_addr_text(&merged[i], a, sizeof(a)));
			dead++;
		}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0 || ferror(f)) {
		int e = errno;
		fclose(f);
		unlink(tmp);
		snprintf(err, err_size, "cannot write '%s': %s", tmp, strerror(e));
		return -1;
	}
	fclose(f);
	chmod(tmp, 0644);
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		snprintf(err, err_size, "cannot rename '%s' to '%s': %s", tmp, path, strerror(e));
		return -1;
	}
	return dead;
}

int intel_refresh_from_fleet(natsConnection *nc, const char *cluster, double max_age,
			     const char *path, int write_empty, struct intel_refresh *out, char *err,
			     size_t err_size)
{
	struct nstable_merge *m = nstable_merge_create();
	struct nstable_item *items = NULL;
	size_t n = 0;
	int rc = -1;
	if (max_age <= 0 || max_age > NS_TABLE_MAX_AGE)
		max_age = NS_TABLE_MAX_AGE;
	memset(out, 0, sizeof(*out));
	if (!m) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	if ((out->tables = fleet_fetch_ns(nc, cluster, max_age, m, err, err_size)) < 0)
		goto done;
	rc = 0;
	if (out->tables == 0 && !write_empty)
		goto done; /* nothing known: leave any file as it is */
	items = nstable_merge_items(m, &n);
	out->servers = n;
	if (intel_make_parent(path, err, err_size) < 0)
		log_warn("%s", err);
	if ((out->dead = intel_write_file(path, items, n, clock_unix(), err, err_size)) < 0)
		rc = -1;
	else
		out->written = 1;
done:
	free(items);
	nstable_merge_destroy(m);
	return rc;
}
