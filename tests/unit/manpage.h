/*
 * manpage.h: the unit tests' way to read recmesh(1)'s source
 * (doc/recmesh.1.in), for the tests that hold the man page to a table
 * of the code (test_counters, test_options). The source tree is
 * RECMESH_SRCDIR, or SRCDIR as configured.
 */
#ifndef RECMESH_TEST_MANPAGE_H
#define RECMESH_TEST_MANPAGE_H

#include <stdio.h>
#include <stdlib.h>

/* The man page's path into path; the whole text in a static buffer (1 MiB at most) */
static char *man_read(char *path, size_t size)
{
	const char *dir = getenv("RECMESH_SRCDIR");
	snprintf(path, size, "%s/doc/recmesh.1.in", dir ? dir : SRCDIR);
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("cannot read %s", path);
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

#endif
