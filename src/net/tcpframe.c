/* tcpframe.c: the length-prefixed TCP frame reader; see tcpframe.h */
#include "config.h"

#include "net/tcpframe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int tcpframe_init(struct tcpframe *f, size_t max_frame, char *err, size_t err_size)
{
	memset(f, 0, sizeof(*f));
	if (max_frame == 0 || max_frame > TCPFRAME_MAX) {
		snprintf(err, err_size, "frame limit %zu not from 1 to %d", max_frame, TCPFRAME_MAX);
		return -1;
	}
	if (!(f->buf = malloc(2 + max_frame))) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	f->max_frame = max_frame;
	return 0;
}

void tcpframe_free(struct tcpframe *f)
{
	free(f->buf);
	memset(f, 0, sizeof(*f));
}

void tcpframe_reset(struct tcpframe *f)
{
	f->start = f->len = 0;
	f->eof = 0;
}

size_t tcpframe_pending(const struct tcpframe *f)
{
	return f->len - f->start;
}

/* Moves the unconsumed bytes to the front; returns the room after them */
static size_t room(struct tcpframe *f)
{
	if (f->start) {
		memmove(f->buf, f->buf + f->start, f->len - f->start);
		f->len -= f->start;
		f->start = 0;
	}
	return 2 + f->max_frame - f->len;
}

int tcpframe_recv(struct tcpframe *f, int fd, char *err, size_t err_size)
{
	size_t r0 = room(f);
	if (r0 == 0)
		return 0; /* a whole frame waits to be taken */
	ssize_t r = recv(fd, f->buf + f->len, r0, 0);
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		snprintf(err, err_size, "%s", strerror(errno));
		return -1;
	}
	if (r == 0) {
		f->eof = 1;
		snprintf(err, err_size, "closed by the peer");
		return -1;
	}
	f->len += (size_t)r;
	return (int)r; /* at most 2 + TCPFRAME_MAX */
}

size_t tcpframe_feed(struct tcpframe *f, const uint8_t *data, size_t len)
{
	size_t n = room(f);
	if (n > len)
		n = len;
	memcpy(f->buf + f->len, data, n);
	f->len += n;
	return n;
}

int tcpframe_next(struct tcpframe *f, uint8_t **frame, size_t *len, char *err, size_t err_size)
{
	size_t have = f->len - f->start;
	if (have < 2)
		return 0;
	const uint8_t *p = f->buf + f->start;
	size_t flen = ((size_t)p[0] << 8) | p[1];
	if (flen > f->max_frame) {
		snprintf(err, err_size, "frame of %zu bytes, over the limit of %zu", flen, f->max_frame);
		return -1;
	}
	if (have < 2 + flen)
		return 0;
	*frame = f->buf + f->start + 2;
	*len = flen;
	f->start += 2 + flen;
	return 1;
}

int obuf_append(struct obuf *b, const uint8_t *data, size_t len)
{
	if (b->off && b->off == b->len)
		b->off = b->len = 0;
	if (b->len + len > b->cap) {
		if (b->off) {
			memmove(b->data, b->data + b->off, b->len - b->off);
			b->len -= b->off;
			b->off = 0;
		}
		if (b->len + len > b->cap) {
			size_t cap = b->cap ? b->cap : 4096;
			while (cap < b->len + len)
				cap *= 2;
			uint8_t *d = realloc(b->data, cap);
			if (!d)
				return -1;
			b->data = d;
			b->cap = cap;
		}
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

int obuf_append_framed(struct obuf *b, const uint8_t *msg, size_t len)
{
	uint8_t hdr[2] = {(uint8_t)(len >> 8), (uint8_t)len};
	if (len > TCPFRAME_MAX || obuf_append(b, hdr, 2) < 0)
		return -1;
	if (obuf_append(b, msg, len) < 0) {
		b->len -= 2; /* a failed append keeps the tail: the length is taken back */
		return -1;
	}
	return 0;
}

int obuf_flush(struct obuf *b, int fd)
{
	int sent = 0;
	while (obuf_pending(b)) {
		ssize_t w = send(fd, b->data + b->off, obuf_pending(b), MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return sent;
			return -1;
		}
		b->off += (size_t)w;
		sent = w > 0x7fffffff - sent ? 0x7fffffff : sent + (int)w;
	}
	return sent;
}

void obuf_free(struct obuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->off = b->cap = 0;
}
