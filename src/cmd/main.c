/* main.c: the recmesh program: dispatches to a subcommand */
#include "config.h"

#include "cmd/commands.h"
#include "ops/node.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
	fprintf(out, "Usage: recmesh COMMAND [OPTIONS]\n"
		     "Keep a fleet of PowerDNS Recursors warm across restarts.\n\n"
		     "Commands:\n"
		     "  proxy    forward queries to a Recursor, mirror events and hot names onto NATS\n"
		     "  hot      print the fleet's merged hot list\n"
		     "  events   print the traffic events the nodes publish\n"
		     "  warm     replay the fleet's hottest names into a restarted Recursor\n"
		     "  mirror   the same as proxy, off-path, fed by the Recursor's protobuf streams\n"
		     "  ns       print the fleet's authoritative-server table\n"
		     "  merge    write the fleet's merged hot list (one node at a time, by lease)\n\n"
		     "'recmesh COMMAND --help' describes each command; see also recmesh(1).\n");
}

int main(int argc, char **argv)
{
	/*
	 * From the first instruction, the signals a node handles on its loop
	 * are held pending instead of killing a process that is still starting
	 * (node_hold_signals); the other commands get the mask back.
	 */
	sigset_t started_with;
	node_hold_signals(&started_with);

	static const struct {
		const char *name;
		int (*run)(int, char **);
		int node; /* handles the held signals on its loop */
	} cmds[] = {
		{"proxy", cmd_proxy, 1},
		{"hot", cmd_hot, 0},
		{"events", cmd_events, 0},
		{"warm", cmd_warm, 0},
		{"mirror", cmd_mirror, 1},
		{"ns", cmd_ns, 0},
		{"merge", cmd_merge, 0},
	};
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("recmesh %s\n", PACKAGE_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name)) {
			if (!cmds[i].node)
				sigprocmask(SIG_SETMASK, &started_with, NULL);
			return cmds[i].run(argc - 1, argv + 1);
		}
	fprintf(stderr, "recmesh: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
