-- Lines for the Lua config of PowerDNS Recursor 4.8 (Debian 12: add them to
-- /etc/powerdns/recursor.lua, the lua-config-file of its recursor.conf),
-- next to `recmesh mirror` (off-path) with protobuf-listen 127.0.0.1:4242
-- (mirror.conf.example); recmesh-mirror.conf names the script. 4.8 has the
-- protobuf streams in the Lua config only. Its streams carry neither the
-- query's header flags nor its DO bit nor the name server's name, so a
-- mirror counts queries with CD=1 like any other.
-- Recursor 5.x (Debian 13, sid): ../recursor-5/recmesh-mirror.yml.
--
-- the client stream: the mirror's events and hot list
protobufServer("127.0.0.1:4242")
-- the outgoing stream: its table of authoritative servers
outgoingProtobufServer("127.0.0.1:4242")
