/* cmd_merge.c: `recmesh merge`, the fleet's merged hot list; see recmesh(1) and doc/nats.md */
#include "config.h"

#include "base/json.h"
#include "base/names.h"
#include "cmd/cmd_common.h"
#include "cmd/commands.h"
#include "nats/merge.h"

#include <stdio.h>

int cmd_merge(int argc, char **argv)
{
	struct rm_options o;
	struct merge_result res;
	char err[512], node[NAMES_MAX], line[1024];
	int rc;
	struct natslink *link = NULL;
	natsConnection *nc = cmd_common_start(CMD_MERGE, "merge", argc, argv, &o, &link, &rc);
	if (!nc)
		return rc;
	if (o.node)
		snprintf(node, sizeof(node), "%s", o.node);
	else
		names_default_node(node);
	rc = 1;
	if (merge_run(nc, o.cluster, node, o.top, o.max_age, o.hot_half_life, o.nats_timeout, o.lease,
		      &res, err, sizeof(err)) < 0) {
		notes_log(&res.notes);
		notes_log(&res.report.notes);
		fprintf(stderr, "recmesh merge: %s\n", err);
		fleet_report_free(&res.report);
		goto out;
	}
	notes_log(&res.notes);
	notes_log(&res.report.notes);
	for (size_t i = 0; i < res.report.nodes; i++)
		if (!res.report.node[i].used)
			fprintf(stderr, "recmesh merge: skipped node '%s': %s\n", res.report.node[i].node,
				res.report.node[i].why);
	if (o.json) {
		struct json j;
		json_init(&j, line, sizeof(line));
		json_obj_begin(&j);
		json_kstr(&j, "cluster", o.cluster);
		json_kstr(&j, "node", node);
		json_kbool(&j, "merged", res.merged);
		json_kstr(&j, "holder", res.holder);
		json_knum(&j, "holder_left", res.holder_left, 1);
		json_ku64(&j, "lists", res.report.used);
		json_ku64(&j, "names", res.names);
		json_ku64(&j, "chunks", res.chunks);
		json_ku64(&j, "bytes", res.bytes);
		json_knum(&j, "seconds", res.seconds, 3);
		json_obj_end(&j);
		json_print(&j, stdout);
	} else if (res.merged) {
		printf("merged %zu node list(s) of cluster '%s' into %zu names in %.1f s; wrote %zu "
		       "chunk(s), %zu bytes, as node '%s'; the lease is held for %g s\n",
		       res.report.used, o.cluster, res.names, res.seconds, res.chunks, res.bytes, node,
		       o.lease);
	} else {
		printf("not merging: node '%s' holds the lease of cluster '%s' for %.0f more s\n",
		       res.holder, o.cluster, res.holder_left);
	}
	fleet_report_free(&res.report);
	rc = 0;
out:
	cmd_common_finish(nc, link, &o);
	return rc;
}
