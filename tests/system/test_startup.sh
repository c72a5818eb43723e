#!/usr/bin/env bash
# test_startup.sh - NATS never delays the data path or readiness, and the
# signals a node handles are handled from the start.
#
# Every server of the proxy's --nats list is a black hole: it accepts TCP and
# never says a word, so libnats waits its connect timeout (2 s) on each in turn.
# Checks: the proxy answers its first query, and sends READY=1, before its first
# round of NATS servers is over (the black holes count the connections they
# took: fewer than the list's length when the answer and READY=1 came); the time
# from the "listening" line to the first answer is printed. Then SIGHUP, SIGUSR1
# and SIGTERM are each sent at several moments of a fresh start (right when the
# node logs that it is starting, 5, 20, 50 and 150 ms later, and once it
# listens): after SIGHUP the node reloads, after SIGUSR1 it logs its counters,
# and it answers and stops with status 0 on SIGTERM; SIGTERM at any of these
# moments stops it with status 0 (the time it took is printed).
# RM_TEST_NET overrides the NET prefix (127.70), e.g. to run two copies side by side.
# Each scenario runs alone with RM_SCENARIO=NAME (RM_SCENARIO=list lists them and what each needs).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/lib.sh"

rm_init test_startup

py() { python3 "$RM_TMP/startup.py" "$@"; }
# ms_after T0 T1: milliseconds from T0 to T1 (0 when T1 was seen first)
ms_after() { awk -v a="$2" -v l="$1" 'BEGIN { d = (a - l) * 1000; printf "%.0f", d < 0 ? 0 : d }'; }
# contacts TIME: how many connections the black holes had taken by TIME
contacts() { awk -v t="$1" '$1 == "accept" && $3 <= t { n++ } END { print n + 0 }' "$BHLOG"; }

sc_blackhole() {
    rm_spawn proxy env NOTIFY_SOCKET="$NOTIFY_SOCK" "$RECMESH" proxy "${PROXY[@]}"
    read -r t_listen t_answer < <(py first "$RM_TMP/proxy.log" "$PORT")
    [[ $t_listen != 0* ]] || fail "no 'listening on UDP' line in the proxy's log"
    [[ $t_answer != 0* ]] || fail "the proxy did not answer within 60 s"
    ms=$(ms_after "$t_listen" "$t_answer")
    n=$(contacts "$t_answer")
    ((n < NBH)) || fail "the first answer came $ms ms after the sockets were bound, after the node had tried all $NBH NATS servers ($n connections)"
    ok "the first answer came $ms ms after the sockets were bound, with $n of the $NBH NATS servers tried so far"
    rm_wait_until 10 grep -q ' READY=1' "$NLOG" || fail "no READY=1: $(cat "$NLOG")"
    t_ready=$(awk '$2 == "READY=1" { print $1; exit }' "$NLOG")
    n=$(contacts "$t_ready")
    ((n < NBH)) || fail "READY=1 came after the node had tried all $NBH NATS servers ($n connections)"
    ok "READY=1 came $(ms_after "$t_listen" "$t_ready") ms after the sockets were bound, with $n of the $NBH NATS servers tried"
    round_over() { (($(contacts 1e12) >= NBH)); }
    rm_wait_until 30 round_over || fail "the node tried only $(contacts 1e12) of the $NBH NATS servers in 30 s"
    out=$(rm_dig @127.0.0.1 -p "$PORT" +short www.z1.com A) && [[ -n $out ]] || fail "the proxy does not answer www.z1.com: '$out'"
    ok "the node keeps answering ($out) after trying all $NBH NATS servers"
    rm_stop proxy
}

sc_signals() {
    status=0
    py signals "$RM_TMP" "$PORT" -- "$RECMESH" proxy "${PROXY[@]}" | tee "$RM_TMP/signals.out" || status=$?
    ((status == 0)) || fail "a signal during the start was not handled: $(grep FAIL "$RM_TMP/signals.out" | tr '\n' ' ')"
    ok "SIGHUP reloads, SIGUSR1 logs the counters, SIGTERM stops with status 0, at every moment of the start"
}

rm_scenario blackhole "every NATS server is a black hole: the first answer and READY=1 do not wait for them"
rm_scenario signals   "SIGHUP, SIGUSR1 and SIGTERM at every moment of the start"
rm_scenario_listing

command -v python3 >/dev/null || fail "python3 is missing (tests/deps.sh installs it)"

NET=${RM_TEST_NET:-127.70}
rm_start_tree "$NET" 5 5
REC_PORT=$(rm_free_port)
rm_start_recursor rec "$REC_PORT"

cat >"$RM_TMP/startup.py" <<'EOF'
import os, selectors, signal, socket, struct, subprocess, sys, time

def query(qid):  # "localhost. A", RD set
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + b"\x09localhost\x00\x00\x01\x00\x01"

def wait_line(path, text, deadline, proc=None):  # the time text was first seen in path, or None
    while time.time() < deadline:
        try:
            with open(path, "rb") as f:
                if text.encode() in f.read():
                    return time.time()
        except FileNotFoundError:
            pass
        if proc is not None and proc.poll() is not None:
            return None
        time.sleep(0.0005)
    return None

def first_answer(port, deadline, proc=None):  # asks every 2 ms; the time of the first answer, or None
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    qid = 0
    while time.time() < deadline:
        qid = (qid + 1) & 0xffff
        try:
            s.sendto(query(qid), ("127.0.0.1", port))
        except OSError:
            pass
        end = time.time() + 0.002
        while time.time() < end:
            try:
                d = s.recv(4096)
                if len(d) >= 12 and d[2] & 0x80:
                    return time.time()
            except (BlockingIOError, ConnectionRefusedError):
                time.sleep(0.0002)
        if proc is not None and proc.poll() is not None:
            return None
    return None

cmd = sys.argv[1]
if cmd == "blackhole":  # blackhole LOG PORT...: accepts on 127.0.0.1:PORT, never writes; logs "accept PORT TIME"
    log, ports = sys.argv[2], [int(p) for p in sys.argv[3:]]
    sel, kept = selectors.DefaultSelector(), []
    for p in ports:
        l = socket.socket()
        l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        l.bind(("127.0.0.1", p))
        l.listen(64)
        sel.register(l, selectors.EVENT_READ, p)
    with open(log + ".ready", "w"):
        pass
    while True:
        for key, _ in sel.select():
            c, _ = key.fileobj.accept()
            kept.append(c)
            with open(log, "a") as f:
                f.write("accept %d %.6f\n" % (key.data, time.time()))
elif cmd == "notify":  # notify PATH LOG: appends "TIME DATAGRAM" lines to LOG
    path, log = sys.argv[2], sys.argv[3]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    while True:
        d = s.recv(4096)
        with open(log, "a") as f:
            f.write("%.6f %s\n" % (time.time(), d.decode().replace("\n", "|")))
elif cmd == "first":  # first LOG PORT: prints the time "listening on UDP" was seen and that of the first answer
    log, port = sys.argv[2], int(sys.argv[3])
    deadline = time.time() + 60
    t_listen = wait_line(log, "listening on UDP", deadline)
    t_answer = first_answer(port, deadline)
    print("%.6f %.6f" % (t_listen or 0, t_answer or 0))
elif cmd == "signals":  # signals DIR PORT -- CMD...: the signal matrix; one line per case, "FAIL" in failed ones
    d, port, argv = sys.argv[2], int(sys.argv[3]), sys.argv[5:]
    names = {"HUP": signal.SIGHUP, "USR1": signal.SIGUSR1, "TERM": signal.SIGTERM}
    says = {"HUP": "reload: done", "USR1": "counters: events published"}
    failed = 0
    for sig in ("HUP", "USR1", "TERM"):
        for when in ("0", "5", "20", "50", "150", "listening"):
            log = "%s/proxy-%s-%s.log" % (d, sig, when)
            out = open(log, "ab")
            p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            why = []
            try:
                t0 = wait_line(log, "proxy starting", time.time() + 10, p)
                if t0 is None:
                    why.append("no start line")
                elif when == "listening":
                    if wait_line(log, "listening on UDP", time.time() + 10, p) is None:
                        why.append("no listening line")
                else:
                    time.sleep(max(0, t0 + int(when) / 1000 - time.time()))
                if not why:
                    t_sig = time.time()
                    p.send_signal(names[sig])
                    if sig == "TERM":
                        try:
                            rc = p.wait(10)
                            info = "stopped with status %d %.0f ms after the signal" % (rc, (time.time() - t_sig) * 1000)
                            if rc != 0:
                                why.append(info)
                        except subprocess.TimeoutExpired:
                            why.append("still running 10 s after the signal")
                    else:
                        t_ans = first_answer(port, time.time() + 10, p)
                        if t_ans is None:
                            why.append("no answer (status %s)" % p.poll())
                        elif wait_line(log, says[sig], time.time() + 5, p) is None:
                            why.append("no '%s' line (status %s)" % (says[sig], p.poll()))
                        p.send_signal(signal.SIGTERM)
                        try:
                            rc = p.wait(10)
                            if rc != 0:
                                why.append("stopped with status %d on SIGTERM" % rc)
                        except subprocess.TimeoutExpired:
                            why.append("still running 10 s after SIGTERM")
                        info = "answered %.0f ms after the signal" % ((t_ans - t_sig) * 1000) if t_ans else ""
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
                out.close()
            label = "SIG%s at %s" % (sig, "the listening line" if when == "listening" else "start + %s ms" % when)
            if why:
                failed += 1
                print("FAIL %s: %s (log %s)" % (label, "; ".join(why), log), flush=True)
            else:
                print("%s: %s" % (label, info), flush=True)
    sys.exit(1 if failed else 0)
EOF

# The black holes: one port each, all in --nats
NBH=4
BH_PORTS=() URLS=()
for ((i = 0; i < NBH; i++)); do
    BH_PORTS+=("$(rm_free_port)")
    URLS+=("nats://127.0.0.1:${BH_PORTS[i]}")
done
BHLOG=$RM_TMP/blackhole.lines
rm_spawn blackhole python3 "$RM_TMP/startup.py" blackhole "$BHLOG" "${BH_PORTS[@]}"
rm_wait_until 10 test -e "$BHLOG.ready" || fail "the black holes did not start"
NATS=$(IFS=,; echo "${URLS[*]}")

NOTIFY_SOCK=$RM_TMP/notify.sock
NLOG=$RM_TMP/notify.lines
: >"$NLOG"
rm_spawn notify python3 "$RM_TMP/startup.py" notify "$NOTIFY_SOCK" "$NLOG"
rm_wait_until 10 test -S "$NOTIFY_SOCK" || fail "the notification listener did not bind $NOTIFY_SOCK"

# the proxy both scenarios start
PORT=$(rm_free_port)
PROXY=(--listen "127.0.0.1:$PORT" --upstream "127.0.0.1:$REC_PORT" --nats "$NATS" --cluster t --node s1
    --stats-interval 0)

rm_scenarios
