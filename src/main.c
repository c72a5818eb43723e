/* main.c: the recmesh program: dispatches to a subcommand */
#include "config.h"

#include "commands.h"

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
		     "  ns       print the fleet's authoritative-server table\n\n"
		     "'recmesh COMMAND --help' describes each command; see also recmesh(1).\n");
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int, char **);
	} cmds[] = {
		{"proxy", cmd_proxy},
		{"hot", cmd_hot},
		{"events", cmd_events},
		{"warm", cmd_warm},
		{"mirror", cmd_mirror},
		{"ns", cmd_ns},
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
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].run(argc - 1, argv + 1);
	fprintf(stderr, "recmesh: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
