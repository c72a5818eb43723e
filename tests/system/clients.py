#!/usr/bin/env python3
"""clients.py: N clients asking one name through a proxy, for test_forgery.sh.

  clients.py PORT QNAME N STOPFILE OUT

Each of N UDP sockets asks QNAME A at 127.0.0.1:PORT, and again as soon as
it has its answer (or after 2 s without one), until STOPFILE exists. Writes
"asked N answered N forged N" to OUT: forged counts answers with 6.6.6.6.
"""
import os
import random
import select
import socket
import struct
import sys
import time

port, qname, n, stopfile, out = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
q = b"".join(bytes([len(l)]) + l.encode() for l in qname.rstrip(".").split(".")) + b"\0" + struct.pack(">HH", 1, 1)
forged_rdata = socket.inet_aton("6.6.6.6")
socks, ids, sent_at = [], {}, {}
asked = answered = forged = 0


def ask(s):
    global asked
    i = random.getrandbits(16)
    ids[s] = i
    sent_at[s] = time.monotonic()
    s.send(struct.pack(">HHHHHH", i, 0x0100, 1, 0, 0, 0) + q)
    asked += 1


poll = select.epoll()
byfd = {}
for _ in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    socks.append(s)
    byfd[s.fileno()] = s
    poll.register(s.fileno(), select.EPOLLIN)
    ask(s)
while not os.path.exists(stopfile):
    for fd, _ in poll.poll(0.05):
        s = byfd[fd]
        try:
            data = s.recv(4096)
        except OSError:
            continue
        if len(data) < 12 or struct.unpack(">H", data[:2])[0] != ids[s]:
            continue
        answered += 1
        if forged_rdata in data:
            forged += 1
        ask(s)
    now = time.monotonic()
    for s in socks:
        if now - sent_at[s] > 2:
            ask(s)
with open(out, "w") as f:
    f.write("asked %d answered %d forged %d\n" % (asked, answered, forged))
