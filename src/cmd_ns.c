/* cmd_ns.c: `recmesh ns`, the fleet's view of the authoritative servers; see recmesh(1) */
#include "config.h"

#include "cmd_common.h"
#include "commands.h"
#include "fleet.h"
#include "json.h"
#include "nstable.h"

#include <stdio.h>
#include <stdlib.h>

/* One server: a line of the table, or one JSON object (a non-finite number is null) */
static void print_item(const struct nstable_item *it, int json)
{
	char a[64], line[1024];
	struct json j;
	const char *state = nstable_state_name(nstable_state_of(it));
	nstable_addr_text(it, a, sizeof(a));
	if (!json) {
		printf("%-40s %-5s %9.1f %9llu %9llu %6u %5u\n", a, state, it->srtt_ms,
		       (unsigned long long)it->answers, (unsigned long long)it->timeouts, it->streak,
		       it->nodes);
		return;
	}
	json_init(&j, line, sizeof(line));
	json_obj_begin(&j);
	json_kstr(&j, "address", a);
	json_kstr(&j, "state", state);
	json_knum(&j, "rtt_ms", it->srtt_ms, 3);
	json_ku64(&j, "answers", it->answers);
	json_ku64(&j, "timeouts", it->timeouts);
	json_ku64(&j, "streak", it->streak);
	json_ku64(&j, "nodes", it->nodes);
	json_knum(&j, "last_seen", it->last_seen, 3);
	json_obj_end(&j);
	json_print(&j, stdout);
}

int cmd_ns(int argc, char **argv)
{
	struct rm_options o;
	char err[512];
	int rc;
	natsConnection *nc = cmd_common_start(CMD_NS, "ns", argc, argv, &o, &rc);
	if (!nc)
		return rc;
	struct nstable_merge *m = nstable_merge_create();
	struct nstable_item *items = NULL;
	size_t n = 0;
	rc = 1;
	int tables = m ? fleet_fetch_ns(nc, o.cluster, o.max_age, m, err, sizeof(err)) : -1;
	if (tables < 0) {
		fprintf(stderr, "recmesh ns: %s\n", m ? err : "out of memory");
		goto out;
	}
	if (tables == 0) {
		fprintf(stderr, "recmesh ns: no authoritative-server table for cluster '%s'\n", o.cluster);
		goto out;
	}
	items = nstable_merge_items(m, &n);
	if (!o.json)
		printf("# %zu servers from %d node table(s)\n%-40s %-5s %9s %9s %9s %6s %5s\n", n, tables,
		       "ADDRESS", "STATE", "RTT_MS", "ANSWERS", "TIMEOUTS", "STREAK", "NODES");
	for (size_t i = 0; i < n; i++)
		print_item(&items[i], o.json);
	rc = 0;
out:
	free(items);
	nstable_merge_destroy(m);
	cmd_common_finish(nc, &o);
	return rc;
}
