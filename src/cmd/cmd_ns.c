/* cmd_ns.c: `recmesh ns`, the fleet's view of the authoritative servers; see recmesh(1) */
#include "config.h"

#include "base/clock.h"
#include "cmd/cmd_common.h"
#include "cmd/commands.h"
#include "nats/fleet.h"
#include "tables/nstable.h"

#include <stdio.h>
#include <string.h>
#include <stdlib.h>

/* One server: a line of the table, or one JSON object (a non-finite number is null) */
static void print_item(const struct nstable_item *it, double now, int json)
{
	/* a JSON object with four names of NS_NAME_MAX characters, each byte escaped at worst */
	char a[64], line[1024 + NS_NAMES_MAX * NS_NAME_MAX * 6];
	const char *state = nstable_state_name(nstable_state_of(it, now));
	if (!json) {
		printf("%-40s %-5s %9.1f %9llu %9llu %6u %5u ", nstable_addr_text(it, a, sizeof(a)), state,
		       it->srtt_ms, (unsigned long long)it->answers, (unsigned long long)it->timeouts,
		       it->streak, it->nodes);
		/* the names, the most recently seen first; "-" without any (a stream without names) */
		for (uint8_t i = 0; i < it->nnames && i < NS_NAMES_MAX; i++)
			printf("%s%s", i ? "," : "", it->names[i]);
		printf("%s\n", it->nnames ? "" : "-");
		return;
	}
	if (nstable_item_json(it, now, line, sizeof(line)) >= 0)
		printf("%s\n", line);
}

int cmd_ns(int argc, char **argv)
{
	struct rm_options o;
	char err[512];
	int rc;
	struct natslink *link = NULL;
	natsConnection *nc = cmd_common_start(CMD_NS, "ns", argc, argv, &o, &link, &rc);
	if (!nc)
		return rc;
	struct nstable_merge *m = nstable_merge_create();
	struct nstable_item *items = NULL;
	size_t n = 0;
	rc = 1;
	struct notes notes;
	memset(&notes, 0, sizeof(notes));
	int tables = m ? fleet_fetch_ns(nc, o.cluster, o.max_age, m, &notes, err, sizeof(err)) : -1;
	notes_log(&notes);
	if (tables < 0) {
		fprintf(stderr, "recmesh ns: %s\n", m ? err : "out of memory");
		goto out;
	}
	if (tables == 0) {
		fprintf(stderr, "recmesh ns: no authoritative-server table for cluster '%s'\n", o.cluster);
		goto out;
	}
	double now = clock_unix();
	items = nstable_merge_items(m, now, &n);
	if (!o.json)
		printf("# %zu servers from %d node table(s)\n%-40s %-5s %9s %9s %9s %6s %5s %s\n", n, tables,
		       "ADDRESS", "STATE", "RTT_MS", "ANSWERS", "TIMEOUTS", "STREAK", "NODES", "NAMES");
	for (size_t i = 0; i < n; i++)
		print_item(&items[i], now, o.json);
	rc = 0;
out:
	free(items);
	nstable_merge_destroy(m);
	cmd_common_finish(nc, link, &o);
	return rc;
}
