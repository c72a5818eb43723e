/* intel.c: the intelligence file for the Recursor's Lua script; see intel.h */
#include "config.h"

#include "nats/intel.h"

#include "base/clock.h"
#include "base/log.h"
#include "nats/fleet.h"

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

/* The larger first (a qsort result) */
#define DESC(a, b) ((a) < (b) ? 1 : -1)

/* The last tie-break of both orders: the address, so that a file's order never depends on the merge's */
static int cmp_address(const struct nstable_item *x, const struct nstable_item *y)
{
	if (x->family != y->family)
		return x->family - y->family;
	return memcmp(x->addr, y->addr, sizeof(x->addr));
}

/* Strongest evidence first: longest fresh run, most nodes, latest timeout */
static int cmp_evidence(const void *a, const void *b)
{
	const struct nstable_item *x = *(const struct nstable_item *const *)a;
	const struct nstable_item *y = *(const struct nstable_item *const *)b;
	return x->streak != y->streak               ? DESC(x->streak, y->streak)
	       : x->nodes != y->nodes               ? DESC(x->nodes, y->nodes)
	       : x->last_timeout != y->last_timeout ? DESC(x->last_timeout, y->last_timeout)
						    : cmp_address(x, y);
}

/* Working servers' evidence: most nodes, most answers, latest answer */
static int cmp_working(const void *a, const void *b)
{
	const struct nstable_item *x = *(const struct nstable_item *const *)a;
	const struct nstable_item *y = *(const struct nstable_item *const *)b;
	return x->nodes != y->nodes               ? DESC(x->nodes, y->nodes)
	       : x->answers != y->answers         ? DESC(x->answers, y->answers)
	       : x->last_answer != y->last_answer ? DESC(x->last_answer, y->last_answer)
						  : cmp_address(x, y);
}

/* Within the last INTEL_NS_FRESH seconds (and not beyond the tolerated clock skew) */
static int recent(double t, double now)
{
	return t > 0 && t >= now - INTEL_NS_FRESH && t <= now + NS_CLOCK_SKEW;
}

/* A working server's RTT_US: its smoothed RTT within [1, INTEL_RTT_US_MAX]; 0 when never measured */
static long rtt_us_of(const struct nstable_item *it)
{
	double us = it->srtt_ms * 1000.0;
	if (!(us >= 0.5)) /* not measured (or NaN): no line */
		return 0;
	return us >= INTEL_RTT_US_MAX ? INTEL_RTT_US_MAX : (long)(us + 0.5);
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

/* The file's text, grown as lines come; no line beyond max lines after the header */
struct text {
	char *buf;
	size_t len, cap, lines, max;
};

/* Appends one line (at most INTEL_LINE_MAX bytes with its LF); 1 added, 0 full or too long, -1 out of memory */
static int text_line(struct text *t, const char *line, int l)
{
	if (l <= 0 || l > INTEL_LINE_MAX || t->lines >= t->max)
		return 0;
	if (t->len + (size_t)l > t->cap) {
		size_t cap = t->cap * 2 > t->len + (size_t)l ? t->cap * 2 : t->len + (size_t)l + 4096;
		char *b = realloc(t->buf, cap);
		if (!b)
			return -1;
		t->buf = b;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, line, (size_t)l);
	t->len += (size_t)l;
	t->lines++;
	return 1;
}

/*
 * The ns lines of one server (its names in the merge's order, the most
 * recently seen first) with rtt_us; counts what the bound leaves out.
 */
static int ns_lines(struct text *t, const struct nstable_item *it, long rtt_us, struct intel_counts *c)
{
	char a[64], line[INTEL_LINE_MAX + 1];
	nstable_addr_text(it, a, sizeof(a));
	for (uint8_t k = 0; k < it->nnames && k < NS_NAMES_MAX; k++) {
		const char *nm = it->names[k];
		if (!nm || !nstable_ns_name_ok(nm, strlen(nm)))
			continue; /* only the names the reader takes */
		int l = snprintf(line, sizeof(line), "ns %s %s %ld\n", nm, a, rtt_us);
		int r = text_line(t, line, l);
		if (r < 0)
			return -1;
		if (r > 0)
			c->ns++;
		else
			c->ns_left_out++;
	}
	return 0;
}

int intel_write_file(const char *path, const struct nstable_item *merged, size_t n, double now,
		     size_t max_entries_, struct intel_counts *counts, char *err, size_t err_size)
{
	enum intel_fail fail;
	return intel_write_file_why(path, merged, n, now, max_entries_, counts, &fail, err,
				    err_size);
}

int intel_write_file_why(const char *path, const struct nstable_item *merged, size_t n, double now,
			 size_t max_entries_, struct intel_counts *counts, enum intel_fail *fail,
			 char *err, size_t err_size)
{
	char tmp[4096], dir[4096], a[64], line[INTEL_LINE_MAX + 1];
	const struct nstable_item **dead = NULL, **working = NULL;
	size_t ndead = 0, nworking = 0;
	struct intel_counts c = {0, 0, 0, 0};
	struct text t = {NULL, 0, 0, 0, max_entries_};
	struct stat st;
	int fd = -1, rc = -1;

	*fail = INTEL_FAIL_MEMORY;
	if (dir_of(path, dir, sizeof(dir)) < 0 ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp)) {
		snprintf(err, err_size, "path too long");
		*fail = INTEL_FAIL_PATH;
		return -1;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, err_size, "directory '%s' does not exist", dir);
		*fail = INTEL_FAIL_NO_DIR;
		return -1;
	}
	if (!(dead = malloc((n ? n : 1) * sizeof(*dead))) || !(working = malloc((n ? n : 1) * sizeof(*working))) ||
	    !(t.buf = malloc(t.cap = 4096))) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct nstable_item *it = &merged[i];
		if (nstable_state_of(it, now) == NS_DEAD)
			dead[ndead++] = it;
		else if (it->nnames && it->answers && recent(it->last_answer, now) && rtt_us_of(it) > 0)
			working[nworking++] = it;
	}
	qsort(dead, ndead, sizeof(*dead), cmp_evidence);
	qsort(working, nworking, sizeof(*working), cmp_working);
	t.len = (size_t)snprintf(t.buf, t.cap, "# recmesh-intel 2 time=%.3f\n", now);
	for (size_t i = 0; i < ndead; i++) {
		int l = snprintf(line, sizeof(line), "dead %s\n", nstable_addr_text(dead[i], a, sizeof(a)));
		int r = text_line(&t, line, l);
		if (r < 0)
			goto oom;
		if (r > 0)
			c.dead++;
		else
			c.dead_left_out++;
	}
	/* the fleet's speeds: dead servers first (as a Recursor records a timeout), then working ones */
	for (size_t i = 0; i < ndead; i++)
		if (recent(dead[i]->last_timeout, now) && ns_lines(&t, dead[i], INTEL_RTT_US_DEAD, &c) < 0)
			goto oom;
	for (size_t i = 0; i < nworking; i++)
		if (ns_lines(&t, working[i], rtt_us_of(working[i]), &c) < 0)
			goto oom;
	/* a fresh name with O_EXCL: never an existing file, never through a symlink */
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		*fail = INTEL_FAIL_CREATE;
		snprintf(err, err_size, "cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (write_all(fd, t.buf, t.len) < 0 || fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
		*fail = INTEL_FAIL_WRITE;
		snprintf(err, err_size, "cannot write '%s': %s", tmp, strerror(errno));
		goto out_unlink;
	}
	if (close(fd) < 0) {
		fd = -1;
		*fail = INTEL_FAIL_WRITE;
		snprintf(err, err_size, "cannot write '%s': %s", tmp, strerror(errno));
		goto out_unlink;
	}
	fd = -1;
	/* rename replaces whatever is at path, a symlink too: it never writes through one */
	if (rename(tmp, path) < 0) {
		*fail = INTEL_FAIL_RENAME;
		snprintf(err, err_size, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
		goto out_unlink;
	}
	*fail = INTEL_FAIL_NONE;
	if (counts)
		*counts = c;
	rc = (int)c.dead;
	goto out;
oom:
	snprintf(err, err_size, "out of memory");
	goto out;
out_unlink:
	if (fd >= 0)
		close(fd);
	fd = -1;
	unlink(tmp);
out:
	free(t.buf);
	free(working);
	free(dead);
	return rc;
}

int intel_refresh_from_fleet(natsConnection *nc, const char *cluster, double max_age,
			     const char *path, int mode, struct intel_refresh *out, char *err,
			     size_t err_size)
{
	return intel_refresh_within(nc, cluster, max_age, 0, path, mode, NULL, out, err, err_size);
}

int intel_refresh_within(natsConnection *nc, const char *cluster, double max_age, double within,
			 const char *path, int mode, struct log_once *once, struct intel_refresh *out,
			 char *err, size_t err_size)
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
	if ((out->tables = fleet_fetch_ns_within(nc, cluster, max_age, within, m, &out->notes, once, err,
						   err_size)) < 0)
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
		notes_add(&out->notes, LOG_LVL_WARN, "%s", err);
	struct intel_counts c;
	if ((out->dead = intel_write_file_why(path, items, n, now, intel_max_entries(), &c,
					      &out->fail, err, err_size)) < 0) {
		out->dead = 0;
		rc = -1;
	} else {
		out->written = 1;
		out->left_out = c.dead_left_out;
		out->ns_lines = c.ns;
		out->ns_left_out = c.ns_left_out;
	}
done:
	free(items);
	nstable_merge_destroy(m);
	return rc;
}

double intel_load_seconds(size_t bytes, size_t ns_lines)
{
	size_t slices = (bytes + INTEL_LUA_STEP_BYTES - 1) / INTEL_LUA_STEP_BYTES;
	size_t imports = (ns_lines + INTEL_LUA_IMPORT_STEP - 1) / INTEL_LUA_IMPORT_STEP;
	return (double)slices + (double)imports + 1.0;
}
