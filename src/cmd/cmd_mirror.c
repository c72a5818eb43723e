/*
 * cmd_mirror.c: `recmesh mirror`, the off-path node (the tap): no proxy, the
 * Recursor's protobuf streams are its only input; see recmesh(1). The rest
 * (the listener, the publisher, signals, counters) is the node's (node.h).
 */
#include "config.h"

#include "base/log.h"
#include "cmd/commands.h"
#include "ops/node.h"
#include "ops/options.h"

int cmd_mirror(int argc, char **argv)
{
	struct rm_options o;
	struct node n;
	int status;

	if (node_parse(&n, CMD_MIRROR, "mirror", argc, argv, &o, &status) < 0)
		return status;
	if (!o.protobuf_listen)
		return node_usage_error("mirror", "--protobuf-listen is required", &o);
	node_open(&n);
	/* the tap takes everything in the streams: client responses and what went to authoritatives */
	if (node_start(&n, 0) < 0) {
		node_finish(&n);
		options_free(&o);
		return 1;
	}
	log_info("mirroring as node '%s' of cluster '%s'", o.node, o.cluster);
	node_run(&n, NULL, NULL);
	node_finish(&n);
	options_free(&o);
	return 0;
}
