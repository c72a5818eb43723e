/*
 * rootprobe.h: the one active check of "does the Recursor answer": `. NS`
 * (RD=1, EDNS DO=1 and the warm option, as a warm-up's queries) over UDP,
 * answered by a response to that question with the probe's ID. The HTTP
 * side's /health (ops/health.c) and the warm-up's readiness wait
 * (warm/replay.c) both ask it.
 *
 * Blocking; callable from any thread.
 */
#ifndef RECMESH_ROOTPROBE_H
#define RECMESH_ROOTPROBE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * Whether pkt (len bytes) is the answer to the probe with this id: a
 * response to `. NS IN` with that ID that parses. Returns 0 with its
 * RCODE in *rcode, or -1.
 */
int rootprobe_answer(const uint8_t *pkt, size_t len, uint16_t id, int *rcode);

/* What a failed probe met */
#define ROOTPROBE_REFUSED (-1) /* an ICMP port unreachable ("Connection refused": nothing listens) */
#define ROOTPROBE_TIMEOUT (-2) /* no answer within the timeout, or another error on the way (no route) */
#define ROOTPROBE_LOCAL (-3)   /* no socket, or the send failed here: says nothing of the Recursor */

/*
 * One probe of the address sa, waiting up to timeout seconds. Returns 0
 * with the answer's RCODE in *rcode and the seconds it took in *took (may
 * be NULL); or one of the ROOTPROBE_ codes above with what went wrong in
 * why: "no answer within N s", the error a send or receive met,
 * "cannot open a probe socket".
 */
int rootprobe_ask(const struct sockaddr *sa, socklen_t salen, double timeout, int *rcode, double *took,
		  char *why, size_t why_size);

#endif
