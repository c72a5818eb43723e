# src/proxy: the data path: the proxy's UDP and TCP front ends, the peers, the
# Recursor's protobuf stream listener, the scheduling policy, and the counters
# it publishes for other threads; no NATS.
# Layer uses: base dns net tables
# (tests/layers.sh checks that its files include headers of these layers only)
noinst_LIBRARIES += src/proxy/librm_proxy.a
src_proxy_librm_proxy_a_SOURCES = \
	src/proxy/channel.h src/proxy/liveness.c src/proxy/liveness.h src/proxy/localchan.c src/proxy/localchan.h src/proxy/pathstats.c src/proxy/pathstats.h src/proxy/pbstream.c src/proxy/pbstream.h \
	src/proxy/peer.c src/proxy/peer.h src/proxy/router.c src/proxy/router.h src/proxy/proxy.c src/proxy/proxy.h src/proxy/proxy_int.h \
	src/proxy/proxy_tcp.c src/proxy/schedpol.c src/proxy/tcpchan.c src/proxy/tcpchan.h src/proxy/schedpol.h \
	src/proxy/workers.c src/proxy/workers.h
