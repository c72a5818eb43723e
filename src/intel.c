/* intel.c: the intelligence file for the Recursor's Lua script; see intel.h */
#include "config.h"

#include "intel.h"

#include "clock.h"
#include "fleet.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_size_t max_entries = INTEL_MAX_ENTRIES_DEFAULT;

void intel_set_max_entries(size_t n)
{
	if (n < 1)
		n = 1;
	if (n > INTEL_MAX_ENTRIES_LIMIT)
		n = INTEL_MAX_ENTRIES_LIMIT;
	atomic_store(&max_entries, n);
}

size_t intel_max_entries(void)
{
	return atomic_load(&max_entries);
}

/* The directory part of path ("." for a bare name); 0, or -1 when it does not fit */
static int dir_of(const char *path, char *dir, size_t size)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return snprintf(dir, size, ".") >= (int)size ? -1 : 0;
	if (slash == path)
		return snprintf(dir, size, "/") >= (int)size ? -1 : 0;
	if ((size_t)(slash - path) >= size)
		return -1;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	return 0;
}

int intel_make_parent(const char *path, char *err, size_t err_size)
{
	char dir[4096];
	if (dir_of(path, dir, sizeof(dir)) < 0) {
		snprintf(err, err_size, "path too long");
		return -1;
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		snprintf(err, err_size, "cannot create '%s': %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* Strongest evidence first: longest fresh run, most nodes, latest timeout; then the address */
static int cmp_evidence(const void *a, const void *b)
{
	const struct nstable_item *x = *(const struct nstable_item *const *)a;
	const struct nstable_item *y = *(const struct nstable_item *const *)b;
	if (x->streak != y->streak)
		return x->streak < y->streak ? 1 : -1;
	if (x->nodes != y->nodes)
		return x->nodes < y->nodes ? 1 : -1;
	if (x->last_timeout != y->last_timeout)
		return x->last_timeout < y->last_timeout ? 1 : -1;
	if (x->family != y->family)
		return x->family - y->family;
	return memcmp(x->addr, y->addr, sizeof(x->addr));
}

/* Writes all of len bytes to fd; 0 or -1 (errno set) */
static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int intel_write_file(const char *path, const struct nstable_item *merged, size_t n, double now,
		     size_t max_entries_, size_t *left_out, char *err, size_t err_size)
{
	char tmp[4096], dir[4096], a[64], line[INTEL_LINE_MAX + 1];
	const struct nstable_item **dead = NULL;
	size_t ndead = 0, take;
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd = -1, rc = -1;

	if (dir_of(path, dir, sizeof(dir)) < 0 ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp)) {
		snprintf(err, err_size, "path too long");
		return -1;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, err_size, "directory '%s' does not exist", dir);
		return -1;
	}
	if (!(dead = malloc((n ? n : 1) * sizeof(*dead)))) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (nstable_state_of(&merged[i], now) == NS_DEAD)
			dead[ndead++] = &merged[i];
	qsort(dead, ndead, sizeof(*dead), cmp_evidence);
	take = ndead < max_entries_ ? ndead : max_entries_;
	if (!(buf = malloc(64 + take * INTEL_LINE_MAX))) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	len = (size_t)snprintf(buf, 64, "# recmesh-intel 1 time=%.3f\n", now);
	for (size_t i = 0; i < take; i++) {
		int l = snprintf(line, sizeof(line), "dead %s\n", nstable_addr_text(dead[i], a, sizeof(a)));
		if (l > 0 && l <= INTEL_LINE_MAX) {
			memcpy(buf + len, line, (size_t)l);
			len += (size_t)l;
		}
	}
	/* a fresh name with O_EXCL: never an existing file, never through a symlink */
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		snprintf(err, err_size, "cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (write_all(fd, buf, len) < 0 || fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
		snprintf(err, err_size, "cannot write '%s': %s", tmp, strerror(errno));
		goto out_unlink;
	}
	if (close(fd) < 0) {
		fd = -1;
		snprintf(err, err_size, "cannot write '%s': %s", tmp, strerror(errno));
		goto out_unlink;
	}
	fd = -1;
	/* rename replaces whatever is at path, a symlink too: it never writes through one */
	if (rename(tmp, path) < 0) {
		snprintf(err, err_size, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
		goto out_unlink;
	}
	if (left_out)
		*left_out = ndead - take;
	rc = (int)take;
	goto out;
out_unlink:
	if (fd >= 0)
		close(fd);
	fd = -1;
	unlink(tmp);
out:
	free(buf);
	free(dead);
	return rc;
}

int intel_refresh_from_fleet(natsConnection *nc, const char *cluster, double max_age,
			     const char *path, int mode, struct intel_refresh *out, char *err,
			     size_t err_size)
{
	return intel_refresh_within(nc, cluster, max_age, 0, path, mode, out, err, err_size);
}

int intel_refresh_within(natsConnection *nc, const char *cluster, double max_age, double within,
			 const char *path, int mode, struct intel_refresh *out, char *err,
			 size_t err_size)
{
	struct nstable_merge *m = nstable_merge_create();
	struct nstable_item *items = NULL;
	double now = clock_unix();
	size_t n = 0;
	int rc = -1;
	if (max_age <= 0 || max_age > NS_TABLE_MAX_AGE)
		max_age = NS_TABLE_MAX_AGE;
	memset(out, 0, sizeof(*out));
	if (!m) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	if ((out->tables = fleet_fetch_ns_within(nc, cluster, max_age, within, m, err, err_size)) < 0)
		goto done;
	rc = 0;
	if (out->tables == 0 && mode != INTEL_FOR_NODE)
		goto done; /* nothing known: leave any file as it is */
	items = nstable_merge_items(m, now, &n);
	out->servers = n;
	/*
	 * `recmesh warm` runs as the operator, often right after boot: it
	 * creates a missing /var/lib/recmesh (one level). A node runs as its
	 * --user and must not create directories: there it is an error.
	 */
	if (mode != INTEL_FOR_NODE && intel_make_parent(path, err, err_size) < 0)
		log_warn("%s", err);
	if ((out->dead = intel_write_file(path, items, n, now, intel_max_entries(), &out->left_out, err,
					  err_size)) < 0) {
		out->no_dir = strstr(err, "does not exist") != NULL;
		out->dead = 0;
		rc = -1;
	} else {
		out->written = 1;
	}
done:
	free(items);
	nstable_merge_destroy(m);
	return rc;
}
