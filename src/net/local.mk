# src/net: addresses, ACLs, accepting connections, TCP framing, query IDs, the
# `. NS` probe of a Recursor, the node's one state of it (up or down).
# Layer uses: base dns
# (tests/layers.sh checks that its files include headers of these layers only)
noinst_LIBRARIES += src/net/librm_net.a
src_net_librm_net_a_SOURCES = \
	src/net/acceptor.c src/net/acceptor.h src/net/acl.c src/net/acl.h src/net/idpool.c \
	src/net/idpool.h src/net/netaddr.c src/net/netaddr.h src/net/recphase.h src/net/recstate.c src/net/recstate.h src/net/rootprobe.c src/net/rootprobe.h src/net/tcpframe.c src/net/tcpframe.h
