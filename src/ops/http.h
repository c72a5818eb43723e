/*
 * http.h: the node's small HTTP server for /metrics and /health
 * (--metrics-listen). HTTP/1.0 and 1.1, GET only, one request per
 * connection (the answer closes it). It runs on its own thread with its
 * own libev loop, never on the data path's thread.
 *
 * Limits (each stated in recmesh(1), logged once when first reached and
 * counted): HTTP_MAX_PER_CLIENT connections at once from one address (more
 * are closed at once); HTTP_MAX_CONNS connections at once in all, where a
 * new connection beyond that closes the oldest one still sending its
 * request head (so slow clients cannot keep a health probe out), or is
 * closed at once when every open one is being answered; HTTP_MAX_REQUEST
 * bytes of request head (400), HTTP_TIMEOUT seconds for a connection from
 * accept to the last byte of its answer (a slow client is closed).
 * Anything but GET is answered 405, an unknown path 404, a request that
 * does not parse 400, at once, and so is a head holding a NUL byte or
 * another control character than CR, LF and HT.
 *
 * Ownership: the server owns its socket, loop and thread. The handler runs
 * on the server's thread; the body it returns in r->body is malloc'd and
 * taken over by the server (freed after sending). The handler's arg must
 * outlive the server.
 */
#ifndef RECMESH_HTTP_H
#define RECMESH_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_CONNS 32
#define HTTP_MAX_PER_CLIENT 8
#define HTTP_MAX_REQUEST 4096
#define HTTP_TIMEOUT 5.0

struct http_response {
	int status;               /* 200, 404, 503, ... */
	const char *content_type; /* a string literal */
	char *body;               /* malloc'd; the server frees it */
	size_t body_len;
};

/*
 * Answers a GET for path (the request target without the query string).
 * Returns 0 with r filled (status and body), or -1 for 404.
 */
typedef int (*http_handler)(void *arg, const char *path, struct http_response *r);

struct http_stats {
	uint64_t requests; /* answered (any status) */
	uint64_t refused;  /* closed at once: HTTP_MAX_CONNS open, all being answered */
	uint64_t client_refused; /* closed at once: HTTP_MAX_PER_CLIENT open from its address */
	uint64_t evicted;  /* closed before its head was complete, for a new connection at HTTP_MAX_CONNS */
	uint64_t bad;      /* 400 (too large or not HTTP) and 405 */
	uint64_t timeouts; /* closed after HTTP_TIMEOUT */
	uint64_t accept_errors; /* accept failed (EMFILE and the like): accepting paused */
};

struct http_server;

/*
 * Binds and listens on listen ("ADDR:PORT"); nothing is served before
 * http_start. Returns NULL with a reason in err.
 */
struct http_server *http_create(const char *listen, http_handler handler, void *arg, char *err,
				size_t err_size);
/* Starts the server's thread: 0, or -1 with a reason in err */
int http_start(struct http_server *s, char *err, size_t err_size);
/* Any thread; all zero for NULL */
void http_get_stats(const struct http_server *s, struct http_stats *st);
/* Stops the thread, closes every connection and the socket; accepts NULL */
void http_destroy(struct http_server *s);

#endif
