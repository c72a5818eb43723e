# src/tables: bounded tables of what the fleet learns: hot names, their lists,
# authoritative servers; pure data, no I/O.
# Layer uses: base dns
# (tests/layers.sh checks that its files include headers of these layers only)
noinst_LIBRARIES += src/tables/librm_tables.a
src_tables_librm_tables_a_SOURCES = \
	src/tables/hot.c src/tables/hot.h src/tables/hotlist.c src/tables/hotlist.h \
	src/tables/nstable.c src/tables/nstable.h src/tables/warmset.c src/tables/warmset.h
