# src/nats: everything on NATS: connections, the event publisher, the KV
# writer, the fleet's lists and their merge, the intelligence file made from
# them.
# Layer uses: base dns tables
# (tests/layers.sh checks that its files include headers of these layers only)
noinst_LIBRARIES += src/nats/librm_nats.a
src_nats_librm_nats_a_SOURCES = \
	src/nats/fleet.c src/nats/fleet.h src/nats/intel.c src/nats/intel.h src/nats/kvwriter.c \
	src/nats/kvwriter.h src/nats/merge.c src/nats/merge.h src/nats/natsconn.c src/nats/natsconn.h src/nats/natslink.c src/nats/natslink.h src/nats/publisher.c \
	src/nats/publisher.h
