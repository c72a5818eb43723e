# src/cmd: the subcommands and main().
# Layer uses: base dns net tables proxy nats warm ops
# (tests/layers.sh checks that its files include headers of these layers only)
noinst_LIBRARIES += src/cmd/librm_cmd.a
src_cmd_librm_cmd_a_SOURCES = \
	src/cmd/cmd_common.c src/cmd/cmd_common.h src/cmd/cmd_events.c src/cmd/cmd_hot.c src/cmd/cmd_merge.c \
	src/cmd/cmd_mirror.c src/cmd/cmd_ns.c src/cmd/cmd_proxy.c src/cmd/cmd_warm.c src/cmd/commands.h
