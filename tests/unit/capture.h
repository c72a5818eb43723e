/*
 * capture.h: what a unit test's code under test writes to stderr (the log
 * lines), for the test to count and read: stderr goes to a temporary file
 * between capture_start and capture_end, which returns what was written
 * (a static buffer of CAPTURE_MAX bytes at most, valid until the next call).
 * Include after cmocka.h.
 */
#ifndef RECMESH_TEST_CAPTURE_H
#define RECMESH_TEST_CAPTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CAPTURE_MAX 8192

static int capture_fd = -1, capture_saved = -1;
static char capture_path[64];

static void capture_start(void)
{
	snprintf(capture_path, sizeof(capture_path), "/tmp/recmesh-test-capture.XXXXXX");
	capture_fd = mkstemp(capture_path);
	assert_true(capture_fd >= 0);
	fflush(stderr);
	capture_saved = dup(STDERR_FILENO);
	dup2(capture_fd, STDERR_FILENO);
}

static const char *capture_end(void)
{
	static char buf[CAPTURE_MAX];
	fflush(stderr);
	dup2(capture_saved, STDERR_FILENO);
	close(capture_saved);
	lseek(capture_fd, 0, SEEK_SET);
	ssize_t n = read(capture_fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(capture_fd);
	unlink(capture_path);
	return buf;
}

/* How many times what occurs in s */
static inline int capture_count(const char *s, const char *what)
{
	int n = 0;
	for (const char *p = s; (p = strstr(p, what)); p++)
		n++;
	return n;
}

#endif
