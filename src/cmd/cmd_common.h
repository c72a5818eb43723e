/*
 * cmd_common.h: the start and the end that the read-only commands (recmesh
 * hot, events, ns) share: options, logging, the cluster and node name
 * checks, the NATS connection and its teardown.
 *
 * Ownership: the command owns its struct rm_options, its connection and
 * the connection's link (natslink.h); cmd_common_finish releases them
 * (any may already be gone: NULL or freed options are fine) and logs what
 * the link has to say.
 */
#ifndef RECMESH_CMD_COMMON_H
#define RECMESH_CMD_COMMON_H

#include "nats/natslink.h"
#include "ops/options.h"

#include <nats/nats.h>

/*
 * Parses argv into *o, starts logging to standard error, checks --cluster
 * (required) and --node, and connects to --nats as "recmesh NAME", with
 * a link of its own (*link).
 * Returns the connection (the caller ends with cmd_common_finish), or NULL
 * when the command ends here, with the reason on standard error and o
 * already freed: *exit_status is then 0 (after --help), 2 (bad usage) or 1
 * (no connection).
 */
natsConnection *cmd_common_start(enum rm_command cmd, const char *name, int argc, char **argv,
				 struct rm_options *o, struct natslink **link, int *exit_status);

/* Closes nc (may be NULL), logs link's news, shuts the NATS library down and frees o */
void cmd_common_finish(natsConnection *nc, struct natslink *link, struct rm_options *o);

#endif
