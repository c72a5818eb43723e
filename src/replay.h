/*
 * warm.h: replaying hot names into a Recursor as real DNS queries.
 *
 * Every name is asked once, hottest first, with RD=1, CD=0 and EDNS DO=1 so
 * the Recursor resolves and validates it itself, and with the EDNS option
 * RECMESH_EDNS_OPT_WARM so that a recmesh proxy in front of the same
 * Recursor does not count the replay as client interest. At most
 * `concurrency` queries are in flight and at most `qps` are sent per second.
 * Runs its own libev loop: callable from any thread, blocks until done.
 */
#ifndef RECMESH_WARM_H
#define RECMESH_WARM_H

#include "hot.h"

#include <stddef.h>
#include <stdint.h>

struct warm_config {
	const char *target; /* ADDR:PORT */
	unsigned qps;
	unsigned concurrency;
	double query_timeout; /* seconds */
	int progress;         /* draw a progress bar on stderr */
	volatile int *stop;   /* set to non-zero to stop early (may be NULL) */
};

struct warm_result {
	size_t total, sent, answered, timeouts, send_errors;
	size_t rcodes[16]; /* answers by rcode (extended rcodes above 15 count in [15]) */
	double seconds;
	int stopped; /* stopped early */
};

/*
 * Replays items[0..n). Returns 0 when the replay ran (whatever the answers
 * were), -1 with a reason in err when it could not start.
 */
int warm_run(const struct warm_config *cfg, const struct hot_item *items, size_t n,
	     struct warm_result *res, char *err, size_t err_size);

/*
 * Asks the target a question it answers without recursion (localhost. A)
 * until it answers or timeout seconds pass. Returns 0 once it answered.
 */
int warm_wait_target(const char *target, double timeout, volatile int *stop);

/* One probe with the given timeout: 0 if the target answered */
int warm_probe(const char *target, double timeout);

#endif
