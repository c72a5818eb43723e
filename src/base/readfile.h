/*
 * readfile.h: reading a whole file that recmesh is told to read (the
 * config file, the NATS credential and TLS files), bounded and without
 * blocking on what is not a file.
 *
 * The file is opened with O_NONBLOCK (a FIFO does not wait for a writer),
 * then refused unless it is a regular file (a directory, FIFO, socket or
 * device such as /dev/zero is an error: a symlink is followed and its
 * target judged) or when it holds more than max bytes. A symlink is fine:
 * operators link configs.
 *
 * Ownership: the buffer returned is malloc'd, max + 2 bytes long (callers
 * that hold secrets wipe all of it), NUL-terminated after the len bytes
 * read, and belongs to the caller.
 */
#ifndef RECMESH_READFILE_H
#define RECMESH_READFILE_H

#include <stddef.h>

/*
 * Reads path whole. what names the file in errors ("config file",
 * "--nats-creds"). Returns the buffer and sets *len, or NULL with a reason
 * in err that names what and path ("cannot read config file '/x': ...").
 * *err_no gets the errno of a failed open (EACCES: not readable by this
 * user), 0 for the other refusals; err_no may be NULL.
 */
char *readfile_regular(const char *path, const char *what, size_t max, size_t *len, int *err_no,
		       char *err, size_t err_size);

#endif
