# src/base: clocks, logging, JSON and line formats, names, bounded top-N,
# limits: no I/O of its own but the log.
# Layer uses: (none)
# (tests/layers.sh checks that its files include headers of these layers only)
noinst_LIBRARIES += src/base/librm_base.a
src_base_librm_base_a_SOURCES = \
	src/base/clock.h src/base/getlimit.c src/base/getlimit.h src/base/json.c src/base/json.h \
	src/base/linefmt.c src/base/linefmt.h src/base/log.c src/base/log.h src/base/names.c \
	src/base/names.h src/base/notes.c src/base/notes.h src/base/readfile.c src/base/readfile.h src/base/satsum.h src/base/topn.c src/base/topn.h
