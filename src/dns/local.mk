# src/dns: the only code that reads or writes DNS messages (dnsmsg), the
# compact events made of them, and the ring and sink that carry events off the
# data path.
# Layer uses: base
# (tests/layers.sh checks that its files include headers of these layers only)
noinst_LIBRARIES += src/dns/librm_dns.a
src_dns_librm_dns_a_SOURCES = \
	src/dns/dnsmsg.c src/dns/dnsmsg.h src/dns/event.c src/dns/event.h src/dns/qkey.h src/dns/ring.h src/dns/sink.h
