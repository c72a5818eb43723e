/*
 * autowarm.h: `recmesh proxy --auto-warm`. A watcher thread notices when the
 * Recursor behind the proxy has restarted (it stopped answering probes and
 * answers again, or its uptime went back, read through rec_control) and
 * then runs the same warm-up as `recmesh warm`, while the proxy keeps
 * forwarding clients. Nothing here touches the data path's thread.
 */
#ifndef RECMESH_AUTOWARM_H
#define RECMESH_AUTOWARM_H

struct autowarm_config {
	const char *upstream;
	const char *nats_url;
	const char *cluster;
	const char *rec_socket_dir; /* may be NULL */
	unsigned top, qps, concurrency;
	double max_age, query_timeout, wait_timeout;
	double half_life; /* decay each node's list to now with it (0: not) */
};

struct autowarm;
struct autowarm *autowarm_create(const struct autowarm_config *cfg);
/* Stops the watcher, interrupting a warm-up in progress */
void autowarm_destroy(struct autowarm *a);

#endif
