/* cmd_hot.c: `recmesh hot`, the fleet's hottest names; see recmesh(1) and doc/nats.md */
#include "config.h"

#include "base/json.h"
#include "cmd/cmd_common.h"
#include "cmd/commands.h"
#include "nats/fleet.h"
#include "tables/hotlist.h"

#include <stdio.h>
#include <stdlib.h>

/* One name: a line of the table, or one JSON object */
static void print_item(const struct hot_item *it, size_t rank, int json)
{
	char name[DNS_MAX_NAME_TEXT], type[16], line[8192];
	struct json j;
	dnsmsg_name_to_text(it->qname, it->qname_len, name, sizeof(name));
	dnsmsg_type_to_text(it->qtype, type);
	if (!json) {
		printf("%-6zu %12.4f %-8s %s\n", rank, it->score, type, name);
		return;
	}
	json_init(&j, line, sizeof(line));
	json_obj_begin(&j);
	json_ku64(&j, "rank", rank);
	json_kstr(&j, "qname", name);
	json_kstr(&j, "qtype", type);
	json_knum(&j, "score", it->score, 4);
	json_obj_end(&j);
	json_print(&j, stdout);
}

/*
 * The node lists used: with --json one object each, before the names; in
 * the text, a comment line for each stale one
 */
static void print_lists(const struct fleet_report *rep, double hot_interval, int json)
{
	double limit = HOTLIST_STALE_INTERVALS * hot_interval;
	char line[512];
	struct json j;
	for (size_t i = 0; i < rep->nodes; i++) {
		const struct fleet_node_report *n = &rep->node[i];
		if (!n->used)
			continue;
		int stale = n->age > limit;
		if (!json) {
			if (stale)
				printf("# stale: node '%s': its list was taken %.1f s ago, not rewritten for %d "
				       "hot intervals of %g s\n",
				       n->node, n->age, HOTLIST_STALE_INTERVALS, hot_interval);
			continue;
		}
		json_init(&j, line, sizeof(line));
		json_obj_begin(&j);
		json_kstr(&j, "node", n->node);
		json_knum(&j, "age", n->age, 3);
		json_ku64(&j, "names", n->items);
		json_knum(&j, "sum", n->sum, 3);
		json_kbool(&j, "stale", stale);
		json_obj_end(&j);
		json_print(&j, stdout);
	}
}

/* With --json and a sampled read: what was read, one object before the names */
static void print_merge(const struct fleet_report *rep)
{
	char line[1024];
	struct json j;
	json_init(&j, line, sizeof(line));
	json_obj_begin(&j);
	json_key(&j, "merge");
	json_obj_begin(&j);
	json_kbool(&j, "used", rep->merge_used);
	json_kstr(&j, "node", rep->merge_node);
	json_knum(&j, "age", rep->merge_age, 3);
	json_ku64(&j, "names", rep->merge_names);
	json_ku64(&j, "confirmed", rep->confirmed);
	json_ku64(&j, "filled", rep->filled);
	json_ku64(&j, "cover", rep->cover);
	json_ku64(&j, "cover_of", rep->cover_of);
	json_ku64(&j, "sampled", rep->used);
	json_ku64(&j, "heads", rep->heads);
	json_kstr(&j, "why", rep->merge_why);
	json_obj_end(&j);
	json_obj_end(&j);
	json_print(&j, stdout);
}

int cmd_hot(int argc, char **argv)
{
	struct rm_options o;
	char err[512];
	int rc;
	struct natslink *link = NULL;
	natsConnection *nc = cmd_common_start(CMD_HOT, "hot", argc, argv, &o, &link, &rc);
	if (!nc)
		return rc;
	struct fleet_report rep;
	struct hot_item *items = NULL;
	size_t n = 0;
	rc = 1;
	if (fleet_top(nc, o.cluster, o.max_age, o.hot_half_life, o.nats_timeout, o.sample, o.top, &items,
		      &n, &rep, err, sizeof(err)) < 0) {
		notes_log(&rep.notes);
		fprintf(stderr, "recmesh hot: %s\n", err);
		goto out;
	}
	notes_log(&rep.notes);
	if (rep.source == FLEET_SOURCE_REQUEST)
		fprintf(stderr, "recmesh hot: the bucket did not serve (%s): asked the running nodes\n",
			rep.fallback);
	for (size_t i = 0; i < rep.nodes; i++)
		if (!rep.node[i].used)
			fprintf(stderr, "recmesh hot: skipped node '%s': %s\n", rep.node[i].node,
				rep.node[i].why);
	if (rep.used == 0) {
		fprintf(stderr, "recmesh hot: no hot list for cluster '%s' (source: %s)\n", o.cluster,
			fleet_source_name(rep.source));
		fleet_report_free(&rep);
		goto out;
	}
	if (!o.json) {
		printf("# %zu of %zu names from %zu node list(s), source %s\n", n, rep.candidates,
		       rep.used, fleet_source_name(rep.source));
		if (rep.merge_used)
			printf("# the fleet's merged list of node '%s', %.1f s old, checked against %zu "
			       "sampled of %zu node lists: %zu of its %zu names confirmed (first), it "
			       "holds %u of their %u hottest names\n",
			       rep.merge_node, rep.merge_age, rep.used, rep.heads, rep.confirmed,
			       rep.merge_names, rep.cover, rep.cover_of);
	}
	print_lists(&rep, o.hot_interval, o.json);
	if (o.json && rep.heads)
		print_merge(&rep);
	if (!o.json)
		printf("%-6s %12s %-8s %s\n", "RANK", "SCORE", "QTYPE", "QNAME");
	for (size_t i = 0; i < n; i++)
		print_item(&items[i], i + 1, o.json);
	fleet_report_free(&rep);
	rc = 0;
out:
	free(items);
	cmd_common_finish(nc, link, &o);
	return rc;
}
