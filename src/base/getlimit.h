/*
 * getlimit.h: which hot-list requests (recmesh.<cluster>.hot.get) a node
 * answers, so that a request cannot make it publish much more than it
 * received. Pure: no clock, no I/O; the caller passes the time.
 *
 * A request is answered only when
 *   1. its reply subject is an inbox: "_INBOX." then at least one token
 *      (letters, digits, '-', '_'), at most GETLIMIT_REPLY_MAX bytes;
 *   2. its requester, the inbox prefix "_INBOX.<token>" (nats.c gives each
 *      requester its own), was not answered within the last interval
 *      seconds (the last GETLIMIT_REQUESTERS requesters are remembered);
 *   3. the token bucket shared by all requests holds a token: it refills
 *      at rate per second up to burst.
 *
 * Not thread-safe: the caller serializes (the responder holds its lock).
 */
#ifndef RECMESH_GETLIMIT_H
#define RECMESH_GETLIMIT_H

#include <stddef.h>
#include <stdint.h>

#define GETLIMIT_RATE 2.0       /* answered requests per second, all requesters together */
#define GETLIMIT_BURST 10.0     /* at most this many at once */
#define GETLIMIT_INTERVAL 1.0   /* seconds: one answer per requester at most */
#define GETLIMIT_REQUESTERS 256 /* requesters remembered */
#define GETLIMIT_REPLY_MAX 128  /* bytes of a reply subject */
#define GETLIMIT_KEY_MAX 64     /* bytes of a requester's inbox prefix */

enum getlimit_verdict {
	GETLIMIT_OK = 0,
	GETLIMIT_REFUSE_INBOX, /* no reply subject, or not an inbox */
	GETLIMIT_REFUSE_REPEAT,    /* this requester was answered within the interval */
	GETLIMIT_REFUSE_RATE,      /* the shared bucket is empty */
};

struct getlimit {
	double rate, burst, interval;
	double tokens, last_refill;
	struct {
		char key[GETLIMIT_KEY_MAX];
		double at; /* last answered; 0: free slot */
	} seen[GETLIMIT_REQUESTERS];
};

void getlimit_init(struct getlimit *g, double rate, double burst, double interval);
/* The verdict on one request with reply subject reply (may be NULL) at time now (seconds, monotonic) */
enum getlimit_verdict getlimit_check(struct getlimit *g, const char *reply, double now);
/* The requester of an inbox reply subject: "_INBOX.<token>"; 0, or -1 when reply is not an inbox */
int getlimit_requester(const char *reply, char *key, size_t size);

#endif
