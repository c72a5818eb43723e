#!/usr/bin/env python3
"""pbnsspeed.py: an independent decoder of the PowerDNS Recursor's NS speed
table dump (PBNSSpeedDump, what getNSSpeedTable returns and
putIntoNSSpeedTable takes), written from the field layout of the Recursor's
rec-nsspeeds.cc, to check the dumps contrib/recmesh.lua builds.

    pbnsspeed.py FILE...

prints, per file, one line per top-level field and one line per map item:
    version TEXT | identity TEXT | protocolVersion N | time N | type TEXT
    entry NAME LASTGET_S LASTGET_US ADDRESS PORT VAL LAST
(VAL as Python's repr of the float32 value) and exits 1, with the reason on
standard error, on anything the format does not allow: a truncated field, a
wrong wire type, an unknown field, trailing bytes, an address that is not
4 or 16 bytes.
"""
import ipaddress
import struct
import sys


class Bad(Exception):
    pass


def varint(buf, pos):
    shift = value = 0
    while True:
        if pos >= len(buf):
            raise Bad("truncated varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
        if shift >= 70:
            raise Bad("varint too long")


def fields(buf):
    """(field number, wire type, value) of one message; bytes for wire type 2,
    the raw 4 bytes for wire type 5, an int for wire type 0."""
    pos = 0
    while pos < len(buf):
        key, pos = varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            value, pos = varint(buf, pos)
        elif wt == 2:
            n, pos = varint(buf, pos)
            if pos + n > len(buf):
                raise Bad("field %d: length %d beyond the message" % (num, n))
            value, pos = buf[pos:pos + n], pos + n
        elif wt == 5:
            if pos + 4 > len(buf):
                raise Bad("field %d: truncated fixed32" % num)
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise Bad("field %d: wire type %d is not used by the dump" % (num, wt))
        yield num, wt, value


def expect(num, wt, want):
    if wt != want:
        raise Bad("field %d: wire type %d, expected %d" % (num, wt, want))


def signed64(v):
    return v - (1 << 64) if v >= 1 << 63 else v


def decode(buf, out):
    for num, wt, value in fields(buf):
        if num in (1, 2, 5):
            expect(num, wt, 2)
            name = {1: "version", 2: "identity", 5: "type"}[num]
            out.append("%s %s" % (name, value.decode("ascii")))
        elif num in (3, 4):
            expect(num, wt, 0)
            out.append("%s %d" % ("protocolVersion" if num == 3 else "time", signed64(value)))
        elif num == 6:
            expect(num, wt, 2)
            entry(value, out)
        else:
            raise Bad("unknown top-level field %d" % num)


def entry(buf, out):
    name, secs, usecs, maps = None, None, None, []
    for num, wt, value in fields(buf):
        if num == 1:
            expect(num, wt, 2)
            name = value.decode("ascii")
        elif num == 2:
            expect(num, wt, 0)
            secs = signed64(value)
        elif num == 3:
            expect(num, wt, 0)
            usecs = signed64(value)
        elif num == 4:
            expect(num, wt, 2)
            maps.append(mapitem(value))
        else:
            raise Bad("unknown entry field %d" % num)
    if name is None or secs is None or usecs is None:
        raise Bad("entry without name or lastget")
    if not maps:
        out.append("entry %s %d %d - - - -" % (name, secs, usecs))
    for addr, port, val, last in maps:
        out.append("entry %s %d %d %s %d %r %d" % (name, secs, usecs, addr, port, val, last))


def mapitem(buf):
    addr, port, val, last = None, None, None, None
    for num, wt, value in fields(buf):
        if num == 1:
            expect(num, wt, 2)
            for n2, w2, v2 in fields(value):
                if n2 == 1:
                    expect(n2, w2, 0)
                    port = v2
                elif n2 == 2:
                    expect(n2, w2, 2)
                    if len(v2) not in (4, 16):
                        raise Bad("address of %d bytes" % len(v2))
                    addr = str(ipaddress.ip_address(bytes(v2)))
                else:
                    raise Bad("unknown address field %d" % n2)
        elif num == 2:
            expect(num, wt, 5)
            val = struct.unpack("<f", value)[0]
        elif num == 3:
            expect(num, wt, 0)
            last = value - (1 << 64) if value >= 1 << 63 else value
        else:
            raise Bad("unknown map field %d" % num)
    if addr is None or port is None or val is None or last is None:
        raise Bad("map item without address, port, val or last")
    return addr, port, val, last


def main():
    status = 0
    for path in sys.argv[1:]:
        with open(path, "rb") as f:
            data = f.read()
        out = []
        try:
            decode(data, out)
        except (Bad, UnicodeDecodeError, ValueError) as e:
            print("%s: %s" % (path, e), file=sys.stderr)
            status = 1
            continue
        print("\n".join(out))
    return status


if __name__ == "__main__":
    sys.exit(main())
