# src/ops: what runs a node: options, the node itself, metrics, the HTTP
# endpoint, health, service manager notification.
# Layer uses: base dns net tables proxy nats warm
# (tests/layers.sh checks that its files include headers of these layers only)
noinst_LIBRARIES += src/ops/librm_ops.a
src_ops_librm_ops_a_SOURCES = \
	src/ops/counters.c src/ops/counters.h src/ops/health.c src/ops/health.h src/ops/http.c src/ops/http.h src/ops/metrics.c \
	src/ops/metrics.h src/ops/node.c src/ops/node.h src/ops/notify.c src/ops/notify.h \
	src/ops/options.c src/ops/options.h
