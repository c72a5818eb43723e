/* cmd_common.c: what the read-only commands share; see cmd_common.h */
#include "config.h"

#include "cmd/cmd_common.h"

#include "base/log.h"
#include "base/names.h"
#include "nats/natsconn.h"

#include <stdio.h>

/* Options and names; returns 0, or -1 with the exit status */
static int start(enum rm_command cmd, const char *name, int argc, char **argv, struct rm_options *o,
		 int *exit_status)
{
	int rc = options_parse(cmd, argc, argv, o);
	if (rc == 0 && options_apply(cmd, o) < 0)
		rc = -1;
	if (rc != 0) {
		*exit_status = rc > 0 ? 0 : 2;
		return -1;
	}
	log_init("recmesh", 0, o->verbose ? LOG_LVL_DEBUG : o->quiet ? LOG_LVL_ERR : LOG_LVL_WARN);
	if (!o->cluster || !names_valid(o->cluster)) {
		fprintf(stderr, "recmesh %s: --cluster NAME is required (letters, digits, '-', '_')\n",
			name);
		*exit_status = 2;
		return -1;
	}
	if (o->node && !names_valid(o->node)) {
		fprintf(stderr, "recmesh %s: bad --node name '%s'\n", name, o->node);
		*exit_status = 2;
		return -1;
	}
	return 0;
}

natsConnection *cmd_common_start(enum rm_command cmd, const char *name, int argc, char **argv,
				 struct rm_options *o, struct natslink **link, int *exit_status)
{
	char err[512], client[64];
	if (start(cmd, name, argc, argv, o, exit_status) < 0) {
		options_free(o);
		return NULL;
	}
	snprintf(client, sizeof(client), "recmesh %s", name);
	natsConnection *nc = NULL;
	if (!(*link = natslink_new()))
		snprintf(err, sizeof(err), "out of memory");
	else
		nc = natsconn_open(*link, o->nats, client, 0, 3000, err, sizeof(err));
	natslink_log(*link);
	if (!nc) {
		fprintf(stderr, "recmesh %s: %s\n", name, err);
		natslink_drop(*link);
		*link = NULL;
		options_free(o);
		*exit_status = 1;
	}
	return nc;
}

void cmd_common_finish(natsConnection *nc, struct natslink *link, struct rm_options *o)
{
	natsconn_close(link, nc);
	if (link)
		natslink_wait(link, 2);
	natslink_log(link);
	natslink_drop(link);
	nats_Close();
	natsconn_unconfigure(); /* wipes the secrets read at start */
	options_free(o);
}
