/*
 * commands.h: the subcommands of the recmesh program. Each takes its argv
 * (argv[0] is the subcommand's name) and returns the process exit status:
 * 0 success, 1 the work failed (the reason was logged), 2 bad usage.
 */
#ifndef RECMESH_COMMANDS_H
#define RECMESH_COMMANDS_H

int cmd_proxy(int argc, char **argv);
int cmd_hot(int argc, char **argv);
int cmd_events(int argc, char **argv);
int cmd_warm(int argc, char **argv);
int cmd_mirror(int argc, char **argv);
int cmd_ns(int argc, char **argv);
int cmd_merge(int argc, char **argv);

#endif
