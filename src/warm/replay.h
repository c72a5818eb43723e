/*
 * replay.h: replaying hot names into a Recursor as real DNS queries.
 *
 * Every name is asked once, hottest first, with RD=1, CD=0 and EDNS DO=1 so
 * the Recursor resolves and validates it itself, and with the EDNS option
 * RECMESH_EDNS_OPT_WARM so that a recmesh proxy in front of the same
 * Recursor does not count the replay as client interest. At most
 * `concurrency` queries are in flight; the rate starts at `qps` and adapts
 * between a floor and `max_qps` (see pacer.h). Query IDs come from the
 * shared ID pool (idpool.h), a random permutation drawn with arc4random.
 * A send the socket cannot take now (its buffer is full: EAGAIN, ENOBUFS)
 * is tried again with the same name on the next tick (send_retries); any
 * other send error loses that name (send_errors).
 *
 * Runs its own libev loop: callable from any thread, blocks until done.
 * The config's strings and the items are borrowed for the call only.
 */
#ifndef RECMESH_REPLAY_H
#define RECMESH_REPLAY_H

#include "tables/hot.h"
#include "tables/warmset.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define REPLAY_MAX_CONCURRENCY 60000 /* below the ID pool's 65536 */
#define REPLAY_MAX_TIMEOUT 3600       /* seconds: --query-timeout, --wait-timeout, --intel-wait */

/*
 * A replay's progress, readable from other threads while it runs (the
 * proxy's /metrics): names to replay, and names done (answered, timed out
 * or not sendable). The caller owns it; the replay writes it.
 */
struct replay_progress {
	atomic_size_t total, done;
};

struct replay_config {
	const char *target; /* ADDR:PORT */
	unsigned qps;       /* the starting rate */
	unsigned max_qps;   /* the rate never goes above; <= qps: fixed at qps */
	unsigned concurrency;
	double query_timeout; /* seconds */
	int progress;         /* draw a progress bar on stderr */
	atomic_int *stop;     /* set to non-zero to stop early (may be NULL) */
	struct replay_progress *live; /* kept up to date while it runs (may be NULL) */
	/* each name answered NOERROR or NXDOMAIN is added (may be NULL; peer.h's shield reads it) */
	struct warmset *warmed;
};

struct replay_result {
	size_t total, sent, answered, timeouts, send_errors;
	size_t send_retries; /* sends put off to the next tick: the socket's buffer was full */
	size_t rcodes[16]; /* answers by rcode (extended rcodes above 15 count in [15]) */
	double seconds;
	int stopped;       /* stopped early */
	double peak_qps;   /* the highest rate the pacer allowed */
	double final_qps;  /* the rate at the end */
	size_t raises, backoffs, holds; /* the pacer's decisions (pacer.h) */
};

/*
 * Replays items[0..n). Returns 0 when the replay ran (whatever the answers
 * were), -1 with a reason in err when it could not start (res untouched).
 */
int replay_run(const struct replay_config *cfg, const struct hot_item *items, size_t n,
	       struct replay_result *res, char *err, size_t err_size);

/*
 * One readiness probe: asks the target `. NS` (RD=1, DO=1, the warm option)
 * and waits up to timeout seconds. Returns 0 and the answer's RCODE in
 * *rcode when an answer came, or what it met (net/rootprobe.h):
 * ROOTPROBE_REFUSED (nothing listens), ROOTPROBE_TIMEOUT (no answer in
 * time), ROOTPROBE_LOCAL (no socket here, a bad address).
 */
int replay_probe(const char *target, double timeout, int *rcode);

/*
 * Probes (at most five times a second, 0.5 s each) until the target can
 * resolve: `. NS` answered NOERROR. Returns 0 then; -1 when timeout
 * seconds passed or *stop was set, with the reason in err ("did not
 * answer within", "could not resolve '. NS' within", "interrupted").
 */
int replay_wait_ready(const char *target, double timeout, atomic_int *stop, char *err,
		      size_t err_size);

#endif
