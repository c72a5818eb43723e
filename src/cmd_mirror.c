/*
 * cmd_mirror.c: `recmesh mirror`, the off-path node (the tap): no proxy, the
 * Recursor's protobuf streams are its only input; see recmesh(1). The rest
 * (the listener, the publisher, signals, counters) is the node's (node.h).
 */
#include "config.h"

#include "commands.h"
#include "log.h"
#include "node.h"
#include "options.h"

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
	/* the protobuf listener's limits, as in cmd_proxy.c (node.c's node_start is the better place) */
	char err[256];
	struct pbstream_limits pl = {o.protobuf_allow_from, o.nprotobuf_allow_from, o.protobuf_max_connections};
	if (pbstream_set_limits(n.pb, &pl, err, sizeof(err)) < 0)
		log_err("--protobuf-allow-from: %s", err); /* cannot happen: options.c checked the list */
	log_info("mirroring as node '%s' of cluster '%s'", o.node, o.cluster);
	node_run(&n, NULL, NULL);
	node_finish(&n);
	options_free(&o);
	return 0;
}
