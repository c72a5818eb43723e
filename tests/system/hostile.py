#!/usr/bin/env python3
"""hostile.py: the hostile clients and the fake upstream of test_hostile.sh.

Each subcommand prints one line a test can check and exits 0 when what it
saw is what the proxy promises, 1 otherwise (the line then says what it saw).
Loopback only.
"""
import os
import select
import socket
import struct
import sys
import threading
import time


def query(qid, name, qtype=1):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack(">HH", qtype, 1)


def framed(msg):
    return struct.pack(">H", len(msg)) + msg


def connect(addr, port, src=None, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if src:
        s.bind((src, 0))
    s.connect((addr, port))
    return s


def closed_within(s, timeout):
    """Seconds until the peer closed s (EOF or reset), reading and discarding; None on timeout"""
    start = time.monotonic()
    s.setblocking(False)
    while time.monotonic() - start < timeout:
        r, _, _ = select.select([s], [], [], 0.1)
        if not r:
            continue
        try:
            if not s.recv(65536):
                return time.monotonic() - start
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - start
        except BlockingIOError:
            pass
    return None


def trickle(addr, port, srcs, per_src, seconds, marker):
    """Opens per_src connections from each source and sends one byte each 0.3 s for seconds"""
    conns = []
    for src in srcs.split(","):
        for _ in range(int(per_src)):
            try:
                conns.append(connect(addr, int(port), src))
            except OSError as e:
                print("connect from %s failed: %s" % (src, e))
    open(marker, "w").write("%d\n" % len(conns))
    end = time.monotonic() + float(seconds)
    closed = 0
    while time.monotonic() < end and conns:
        for s in list(conns):
            try:
                s.send(b"\x00")
            except OSError:
                conns.remove(s)
                closed += 1
        time.sleep(0.3)
    print("trickle: %d connections closed by the proxy, %d still open" % (closed, len(conns)))
    return 0


def cmd_per_client(addr, port, src, limit):
    """limit connections from src stay open; the next one is closed at once"""
    limit = int(limit)
    keep = [connect(addr, int(port), src) for _ in range(limit)]
    extra = connect(addr, int(port), src)
    t = closed_within(extra, 5)
    still = sum(1 for s in keep if closed_within(s, 0.05) is None)
    print("per-client: connection %d closed after %s s; %d of the first %d open" %
          (limit + 1, "%.2f" % t if t is not None else "never", still, limit))
    return 0 if t is not None and t < 5 and still == limit else 1


def cmd_duration(addr, port, name, max_seconds):
    """A client that asks every 0.3 s (never idle) is still closed after --tcp-max-duration"""
    s = connect(addr, int(port))
    start = time.monotonic()
    qid = 1
    while time.monotonic() - start < 60:
        try:
            s.send(framed(query(qid, name)))
        except OSError:
            break
        qid += 1
        t = closed_within(s, 0.3)
        if t is not None:
            break
    took = time.monotonic() - start
    print("duration: closed after %.1f s and %d queries" % (took, qid - 1))
    return 0 if float(max_seconds) - 0.5 <= took <= float(max_seconds) + 10 else 1


def cmd_no_read(addr, port, name, count, hold_seconds):
    """Sends count queries, never reads an answer, holds the connection for hold_seconds.

    The proxy's close cannot be seen from here: its FIN waits behind the
    unread answers in the kernel's buffers. The test reads the proxy's log.
    """
    s = connect(addr, int(port), rcvbuf=4096)
    s.setblocking(False)
    q = b"".join(framed(query(i & 0xffff, name)) for i in range(int(count)))
    sent = 0
    start = time.monotonic()
    while time.monotonic() - start < float(hold_seconds):
        if sent < len(q):
            try:
                sent += s.send(q[sent:])
            except BlockingIOError:
                pass
            except OSError:
                break
        time.sleep(0.02)
    print("no-read: %d of %d query bytes sent" % (sent, len(q)))
    return 0


def cmd_hold(addr, port, count, seconds, marker):
    """Opens count connections (as many as it can) and holds them for seconds"""
    conns = []
    errors = 0
    for _ in range(int(count)):
        try:
            conns.append(connect(addr, int(port)))
        except OSError:
            errors += 1
    open(marker, "w").write("%d opened, %d failed\n" % (len(conns), errors))
    time.sleep(float(seconds))
    return 0


def encode_varint(v):
    out = b""
    while True:
        b = v & 0x7f
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def pb_field(num, wt, payload):
    key = encode_varint((num << 3) | wt)
    if wt == 0:
        return key + encode_varint(payload)
    return key + encode_varint(len(payload)) + payload


def pb_frame(name, qtype, timesec, mtype=4):
    """A PBDNSMessage: an authoritative's answer (type 4) or a client response (type 2)"""
    qn = pb_field(1, 2, name) + pb_field(2, 0, qtype) + pb_field(3, 0, 1)
    m = pb_field(1, 0, mtype) + pb_field(7, 2, bytes([127, 0, 0, 1])) + pb_field(9, 0, timesec)
    m += pb_field(12, 2, qn) + pb_field(13, 2, pb_field(1, 0, 0))
    return framed(m)


def cmd_pb_send(addr, port, src, kind, mtype="4"):
    """Sends one frame of kind (future, nul, qtype, good) as a type mtype message"""
    now = int(time.time())
    mt = int(mtype)
    frames = {
        "future": pb_frame(b"future.example.", 1, 0xFFFFFFFF, mt),
        "nul": pb_frame(b"evil\x00.example.", 1, now, mt),
        "qtype": pb_frame(b"big.example.", 70000, now, mt),
        "good": pb_frame(b"good.example.", 1, now, mt),
    }
    s = connect(addr, int(port), src)
    s.sendall(frames[kind])
    t = closed_within(s, 0.5)
    print("pb-send %s: %s" % (kind, "closed by the listener" if t is not None else "connection kept"))
    return 0 if t is None else 1


def cmd_pb_refused(addr, port, src):
    s = connect(addr, int(port), src)
    t = closed_within(s, 5)
    print("pb-refused: connection from %s %s" % (src, "closed" if t is not None else "kept"))
    return 0 if t is not None else 1


def cmd_pb_cap(addr, port, src, cap):
    """cap connections, then one more: the one idle longest (the first) is closed"""
    cap = int(cap)
    conns = []
    for i in range(cap):
        conns.append(connect(addr, int(port), src))
        time.sleep(0.05)  # distinct idle times; the first is idle longest
        conns[-1].sendall(b"")
    for s in conns[1:]:
        s.sendall(pb_frame(b"good.example.", 1, int(time.time())))
    extra = connect(addr, int(port), src)
    t = closed_within(conns[0], 5)
    kept = sum(1 for s in conns[1:] + [extra] if closed_within(s, 0.05) is None)
    print("pb-cap: the idle one %s; %d of the other %d open" % (
        "closed" if t is not None else "kept", kept, cap))
    return 0 if t is not None and kept == cap else 1


def cmd_fake_upstream(addr, port, ready):
    """A UDP 'Recursor' that answers names starting with 'spoof' for another question"""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, int(port)))
    open(ready, "w").write("ready\n")
    while True:
        q, peer = s.recvfrom(4096)
        if len(q) < 12:
            continue
        qid = q[:2]
        qname = q[12:]
        first = qname[1:1 + qname[0]] if qname else b""
        hdr = qid + struct.pack(">HHHHH", 0x8180, 1, 1, 0, 0)
        if first.startswith(b"spoof"):
            question = query(0, "evil.example.")[12:]
        elif first.startswith(b"broken"):
            # the right question, then garbage: does not parse, still matched by its question
            end = 12 + q[12:].index(b"\x00") + 5
            question = q[12:end]
            s.sendto(hdr[:6] + b"\x00\x00\x00\x00\x00\x00" + question + b"\xff\xff", peer)
            continue
        else:
            end = 12 + q[12:].index(b"\x00") + 5
            question = q[12:end]
        rr = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 1])
        s.sendto(hdr + question + rr, peer)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    fn = {
        "trickle": trickle, "per-client": cmd_per_client, "duration": cmd_duration,
        "no-read": cmd_no_read, "hold": cmd_hold, "pb-send": cmd_pb_send,
        "pb-refused": cmd_pb_refused, "pb-cap": cmd_pb_cap, "fake-upstream": cmd_fake_upstream,
    }[cmd]
    sys.stdout.flush()
    rc = fn(*args)
    sys.stdout.flush()
    sys.exit(rc)


if __name__ == "__main__":
    main()
