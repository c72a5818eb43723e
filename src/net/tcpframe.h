/*
 * tcpframe.h: the reader of 2-byte-length-prefixed frames on a TCP stream
 * (DNS over TCP, RFC 1035 4.2.2; the Recursor's protobuf stream). It keeps
 * what a connection has received so far, reads more from the socket, and
 * hands out complete frames one by one: frames split over many reads,
 * several frames in one read, a frame over the limit and a stream that ends
 * in the middle of a frame are all handled here.
 *
 * Ownership: struct tcpframe belongs to its connection; tcpframe_init
 * allocates its buffer (2 + max_frame bytes), tcpframe_free releases it
 * (and accepts a zeroed struct). A frame handed out by tcpframe_next points
 * into that buffer: it is writable and valid until the next tcpframe_recv,
 * tcpframe_feed or tcpframe_reset call. Not thread-safe: the connection's
 * (libev) thread owns it.
 */
#ifndef RECMESH_TCPFRAME_H
#define RECMESH_TCPFRAME_H

#include <stddef.h>
#include <stdint.h>

#define TCPFRAME_MAX 65535 /* what a 2-byte length can say */

struct tcpframe {
	uint8_t *buf;
	size_t max_frame;
	size_t start, len; /* the unconsumed bytes are buf[start, len) */
	int eof;	   /* the peer closed its side */
};

/* max_frame from 1 to TCPFRAME_MAX. Returns 0, or -1 with a reason */
int tcpframe_init(struct tcpframe *f, size_t max_frame, char *err, size_t err_size);
void tcpframe_free(struct tcpframe *f);

/* Forgets what was received (the connection is being reopened) */
void tcpframe_reset(struct tcpframe *f);

/* Bytes received but not yet handed out: nonzero means a frame is incomplete */
size_t tcpframe_pending(const struct tcpframe *f);

/*
 * One recv() from fd into the buffer. Returns the number of bytes received,
 * 0 when none are there yet (EAGAIN, EINTR, or the buffer is full), or -1
 * when the stream ended, with a reason: the peer closed its side (f->eof is
 * then 1, "closed by the peer") or the read failed. Take every complete
 * frame with tcpframe_next before calling it again.
 */
int tcpframe_recv(struct tcpframe *f, int fd, char *err, size_t err_size);

/*
 * Copies up to len bytes of data into the buffer (the tests' way in, or a
 * caller that read elsewhere). Returns how many were taken: fewer than len
 * when the buffer is full, that is when complete frames wait.
 */
size_t tcpframe_feed(struct tcpframe *f, const uint8_t *data, size_t len);

/*
 * The next complete frame. Returns 1 with *frame and *len set (len may be 0:
 * a zero-length frame, which the caller judges), 0 when no complete frame is
 * buffered, or -1 with a reason when the next frame is longer than
 * max_frame (the stream cannot be trusted further: close it).
 */
int tcpframe_next(struct tcpframe *f, uint8_t **frame, size_t *len, char *err, size_t err_size);

/*
 * The writer's side: an output buffer of a connection, which grows as
 * needed (the caller bounds it: obuf_pending says how much waits) and
 * keeps what the socket did not take yet. Ownership: its connection's;
 * obuf_free releases it (and accepts a zeroed struct).
 */
struct obuf {
	uint8_t *data;
	size_t len, off, cap;
};

/* Appends len bytes; 0, or -1 when out of memory (nothing appended) */
int obuf_append(struct obuf *b, const uint8_t *data, size_t len);
/* Appends a 2-byte length and the message (a DNS message over TCP); 0, or -1 */
int obuf_append_framed(struct obuf *b, const uint8_t *msg, size_t len);
/* Bytes waiting to be written */
static inline size_t obuf_pending(const struct obuf *b)
{
	return b->len - b->off;
}
/* Forgets what waits (the connection is being reopened) */
static inline void obuf_reset(struct obuf *b)
{
	b->len = b->off = 0;
}
/* Writes what the socket takes now; returns how many bytes went (saturated), or -1 on a write error */
int obuf_flush(struct obuf *b, int fd);
void obuf_free(struct obuf *b);

#endif
