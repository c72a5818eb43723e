/* readfile.c: a whole regular file, bounded, never blocking on a FIFO; see readfile.h */
#include "config.h"

#include "base/readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *kind_of(mode_t m)
{
	return S_ISDIR(m)    ? "a directory"
	       : S_ISFIFO(m) ? "a FIFO"
	       : S_ISSOCK(m) ? "a socket"
	       : S_ISCHR(m)  ? "a character device"
	       : S_ISBLK(m)  ? "a block device"
			     : "not a regular file";
}

char *readfile_regular(const char *path, const char *what, size_t max, size_t *len, int *err_no,
		       char *err, size_t err_size)
{
	struct stat st;
	if (err_no)
		*err_no = 0;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (err_no)
			*err_no = errno;
		snprintf(err, err_size, "cannot read %s '%s': %s", what, path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, err_size, "cannot read %s '%s': it is %s, not a regular file", what,
			 path, kind_of(st.st_mode));
		close(fd);
		return NULL;
	}
	if ((unsigned long long)st.st_size > max) {
		snprintf(err, err_size, "%s '%s' is over %zu bytes (%lld)", what, path, max,
			 (long long)st.st_size);
		close(fd);
		return NULL;
	}
	char *buf = malloc(max + 2);
	if (!buf) {
		snprintf(err, err_size, "out of memory reading %s '%s'", what, path);
		close(fd);
		return NULL;
	}
	size_t n = 0;
	/* at most max + 1 bytes: a file that grew since fstat is still caught */
	while (n <= max) {
		ssize_t r = read(fd, buf + n, max + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, err_size, "cannot read %s '%s': %s", what, path,
				 strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		snprintf(err, err_size, "%s '%s' is over %zu bytes", what, path, max);
		goto fail;
	}
	close(fd);
	buf[n] = '\0';
	*len = n;
	return buf;
fail:
	close(fd);
	explicit_bzero(buf, max + 2);
	free(buf);
	return NULL;
}
