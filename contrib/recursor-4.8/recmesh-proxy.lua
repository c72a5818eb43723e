-- A line for the Lua config of PowerDNS Recursor 4.8 (Debian 12: add it to
-- /etc/powerdns/recursor.lua, the lua-config-file of its recursor.conf),
-- behind `recmesh proxy` with protobuf-listen 127.0.0.1:4242
-- (proxy.conf.example); recmesh-proxy.conf moves the Recursor off port 53.
-- Only the outgoing stream: the proxy's table of authoritative servers, for
-- the intelligence file. The proxy sees its clients itself: a client stream
-- (protobufServer) sent to it would count every query twice.
-- Recursor 5.x (Debian 13, sid): ../recursor-5/recmesh-proxy.yml.
outgoingProtobufServer("127.0.0.1:4242")
