# src/warm: the warm-up: replay of a hot list as DNS queries, pacing, restart
# detection, rec_control, the auto-warm watcher.
# Layer uses: base dns net tables nats
# (tests/layers.sh checks that its files include headers of these layers only)
noinst_LIBRARIES += src/warm/librm_warm.a
src_warm_librm_warm_a_SOURCES = \
	src/warm/autowarm.c src/warm/autowarm.h src/warm/pacer.c src/warm/pacer.h src/warm/reccontrol.c \
	src/warm/reccontrol.h src/warm/replay.c src/warm/replay.h src/warm/restart.c src/warm/restart.h \
	src/warm/warmup.c src/warm/warmup.h
