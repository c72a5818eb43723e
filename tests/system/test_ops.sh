#!/usr/bin/env bash
# test_ops.sh - what an operator runs a node with: /metrics and /health over
# HTTP, the service manager's notifications, the reload, and the HTTP limits.
#
# A proxy in front of a real pdns_recursor, with a real nats-server, started
# as systemd would: NOTIFY_SOCKET (a unix socket this test listens on) and
# WATCHDOG_USEC. Checks: READY=1, STATUS= and WATCHDOG=1 arrive; /metrics is
# valid for promtool and its counters move with traffic; /health is 200, 503
# while the Recursor is stopped, 200 again when it is back, and 200 with NATS
# stopped (the body says so); SIGHUP re-reads the config file and applies the
# log level and the stats interval, and says what needs a restart; too many
# connections (from one address, and in all), an oversized request, a NUL
# byte in a request and a slow client are handled while the proxy keeps
# answering, and a health probe gets in past 32 idle connections; SIGTERM
# sends STOPPING=1.
# RM_TEST_NET overrides the NET prefix (127.58). Each scenario runs alone with
# RM_SCENARIO=NAME (RM_SCENARIO=list lists them and what each needs).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/lib.sh"

rm_init test_ops

# the HTTP client and the notification listener: $RM_TMP/ops.py (written below)
http() { python3 "$RM_TMP/ops.py" "$@"; }
metric() { # metric NAME_WITH_LABELS: its value (fails when absent)
    local out v
    out=$(http get "$HTTP_PORT" /metrics) || return 1
    v=$(awk -v m="$1" '$1 == m { print $2 }' <<<"$out")
    [[ -n $v ]] || return 1
    echo "${v%.*}"
}
health() { http get "$HTTP_PORT" /health | tr '\n' ' '; }

sc_start() {
    grep -Eq "recmesh [0-9.]+ proxy starting \(libnats [0-9.]+, ldns [0-9.]+, libev [0-9]+\.[0-9]+\)" "$RM_TMP/proxy.log" \
        || fail "no version line at start: $(head -3 "$RM_TMP/proxy.log")"
    ok "the start is logged with the versions: $(grep -o 'recmesh [0-9.]* proxy starting.*' "$RM_TMP/proxy.log")"
    for sub in proxy mirror warm hot events ns; do
        v=$("$RECMESH" "$sub" --version) || fail "recmesh $sub --version: exit status $?"
        [[ $v =~ ^recmesh\ [0-9]+\.[0-9]+ ]] || fail "recmesh $sub --version printed '$v'"
    done
    ok "every subcommand takes --version: $v"
    status=0
    out=$("$RECMESH" proxy --listen 127.0.0.1:1 --upstream 127.0.0.1:1 --cluster t --metrics-listen 127.0.0.1:0 2>&1) || status=$?
    [[ $status -eq 2 && $out == *"bad --metrics-listen address '127.0.0.1:0'"* ]] || fail "--metrics-listen with port 0: status $status: $out"
    status=0
    out=$("$RECMESH" mirror --protobuf-listen 127.0.0.1:1 --cluster t --metrics-listen nonsense:x 2>&1) || status=$?
    [[ $status -eq 2 && $out == *"bad --metrics-listen address 'nonsense:x'"* ]] || fail "a bad --metrics-listen: status $status: $out"
    ok "a bad --metrics-listen is a usage error (status 2)"
    rm_wait_until 10 grep -q '^READY=1' "$NLOG" || fail "no READY=1 on the notification socket: $(cat "$NLOG")"
    grep -q '^STATUS=proxy of cluster .t. as node .ops1.' "$NLOG" || fail "no STATUS= line: $(cat "$NLOG")"
    wd() { grep -c '^WATCHDOG=1$' "$NLOG" || true; }
    rm_wait_until 10 eval '(( $(wd) >= 3 ))' || fail "WATCHDOG=1 came $(wd) times, expected 3 at 0.2 s intervals"
    grep -q 'feeding the service manager.s watchdog every 0.2 s' "$RM_TMP/proxy.log" || fail "watchdog interval not logged"
    ok "READY=1, STATUS= and $(wd) WATCHDOG=1 received: $(grep -m1 '^STATUS=' "$NLOG")"
}

sc_metrics() {
    out=$(http get "$HTTP_PORT" /metrics)
    [[ $(head -1 <<<"$out") == 200 ]] || fail "/metrics: status $(head -1 <<<"$out")"
    tail -n +2 <<<"$out" >"$RM_TMP/metrics.txt"
    pt=$(promtool check metrics <"$RM_TMP/metrics.txt" 2>&1) || fail "promtool check metrics: $pt"
    ok "/metrics: $(grep -c '^# TYPE' "$RM_TMP/metrics.txt") families, promtool check metrics passes"
    q0=$(metric 'recmesh_queries_total{protocol="udp"}') || fail "no UDP query counter: $(head -40 "$RM_TMP/metrics.txt")"
    h0=$(metric 'recmesh_upstream_answer_duration_seconds_count{protocol="udp"}') || fail "no histogram count"
    for i in $(seq 1 20); do rm_dig "${P[@]}" +short "n$((i % 8 + 1)).z$((i % 9 + 1)).com" A >/dev/null || true; done
    rm_wait_until 10 eval '(( $(metric "recmesh_queries_total{protocol=\"udp\"}") >= q0 + 20 ))' \
        || fail "UDP queries went from $q0 to $(metric 'recmesh_queries_total{protocol="udp"}'), expected +20"
    h1=$(metric 'recmesh_upstream_answer_duration_seconds_count{protocol="udp"}')
    ((h1 >= h0 + 20)) || fail "answer-time histogram count went from $h0 to $h1, expected +20"
    noerr=$(metric 'recmesh_answer_rcodes_total{rcode="NOERROR"}')
    nx=$(metric 'recmesh_answer_rcodes_total{rcode="NXDOMAIN"}')
    ((noerr + nx >= 20)) || fail "answers by rcode: NOERROR $noerr NXDOMAIN $nx, expected 20 together"
    ok "20 queries move the counters: udp $q0 -> $(metric 'recmesh_queries_total{protocol="udp"}'), histogram $h0 -> $h1, NOERROR $noerr, NXDOMAIN $nx"
    rm_wait_until 20 eval '(( $(metric recmesh_hot_list_writes_total) >= 1 ))' || fail "no hot-list write counted"
    lw=$(metric recmesh_hot_list_last_write_timestamp_seconds)
    now=$(date +%s)
    ((lw > now - 60 && lw <= now + 1)) || fail "last hot-list write at $lw, now is $now"
    [[ $(metric recmesh_nats_connected) == 1 ]] || fail "recmesh_nats_connected is $(metric recmesh_nats_connected)"
    ok "gauges: NATS connected, last hot-list write $((now - lw)) s ago, hot table $(metric recmesh_hot_table_entries) entries"
}

sc_health() {
    rm_wait_until 10 eval '[[ $(health) == "200 ok: upstream"* ]]' || fail "/health is not 200 with a running Recursor: $(health)"
    ok "/health with the Recursor up: $(health)"
    rm_stop rec
    rm_wait_until 15 eval '[[ $(health) == "503 upstream"*"does not answer"* ]]' || fail "/health after stopping the Recursor: $(health)"
    [[ $(metric recmesh_upstream_up) == 0 ]] || fail "recmesh_upstream_up is $(metric recmesh_upstream_up) with the Recursor stopped"
    certain_downs() { echo $(( $(metric 'recmesh_upstream_downs_total{cause="refused"}') + $(metric 'recmesh_upstream_downs_total{cause="probes"}') )); }
    # a refused probe counts at once, lost ones at the second in a row (the next probe, 2 s on)
    rm_wait_until 10 eval '(( $(certain_downs) >= 1 ))' \
        || fail "recmesh_upstream_downs_total: no certain down counted with the Recursor stopped"
    downs=$(certain_downs)
    ok "/health with the Recursor stopped: $(health); $downs down(s) counted"
    rm_start_recursor rec "$REC_PORT"
    rm_wait_until 20 eval '[[ $(health) == "200 ok: upstream"* ]]' || fail "/health after the Recursor came back: $(health)"
    ok "/health with the Recursor back: $(health)"
    rm_stop nats
    rm_wait_until 20 eval '[[ $(health) == *"nats disconnected"* ]]' || fail "/health does not say NATS is gone: $(health)"
    [[ $(health) == "200 "* ]] || fail "NATS away made the node unhealthy: $(health)"
    [[ $(metric recmesh_nats_connected) == 0 ]] || fail "recmesh_nats_connected is $(metric recmesh_nats_connected) with NATS stopped"
    ok "/health with NATS stopped: $(health)"
    rm_start_nats nats "$NATS_PORT"
    rm_wait_until 30 eval '[[ $(health) == *"nats connected"* ]]' || fail "/health after NATS came back: $(health)"
}

sc_reload() {
    cp "$CONF" "$CONF.orig"
    { echo "verbose = yes"; echo "hot-interval = 5"; echo "max-tcp-clients = 999"; } >>"$CONF"
    sed -i 's/^stats-interval = 600$/stats-interval = 0.5/' "$CONF"
    n0=$(grep -c 'info: counters: queries' "$RM_TMP/proxy.log" || true)
    kill -HUP "$(rm_pid proxy)"
    rm_wait_until 10 grep -q 'reload: done, 4 option(s) changed, 1 of them need a restart' "$RM_TMP/proxy.log" \
        || fail "no reload summary: $(grep reload "$RM_TMP/proxy.log")"
    grep -q "reload: log level info -> debug" "$RM_TMP/proxy.log" || fail "log level change not logged: $(grep reload "$RM_TMP/proxy.log")"
    grep -q "reload: 'stats-interval' 600 -> 0.5" "$RM_TMP/proxy.log" || fail "stats interval change not logged: $(grep reload "$RM_TMP/proxy.log")"
    grep -q "reload: 'hot-interval' 1 -> 5" "$RM_TMP/proxy.log" \
        || fail "hot-interval change not applied: $(grep reload "$RM_TMP/proxy.log")"
    grep -q "reload: 'max-tcp-clients' changed ('1000' -> '999'): needs a restart" "$RM_TMP/proxy.log" \
        || fail "max-tcp-clients not said to need a restart: $(grep reload "$RM_TMP/proxy.log")"
    grep -q '^RELOADING=1' "$NLOG" || fail "no RELOADING=1: $(cat "$NLOG")"
    counters() { grep -c 'info: counters: queries' "$RM_TMP/proxy.log" || true; }
    rm_wait_until 10 eval '(( $(counters) >= n0 + 2 ))' || fail "counters lines: $n0 before, $(counters) after the 0.5 s interval"
    rm_dig "${P[@]}" +short www.z1.com A >/dev/null
    rm_wait_until 10 grep -q 'debug: ' "$RM_TMP/proxy.log" || fail "no debug message after the level became debug"
    ok "SIGHUP: log level, stats interval ($(counters) counters lines) and hot interval applied, max-tcp-clients needs a restart"
    cp "$CONF.orig" "$CONF"
    kill -HUP "$(rm_pid proxy)"
    rm_wait_until 10 grep -q "reload: log level debug -> info" "$RM_TMP/proxy.log" || fail "the level did not go back"
    echo "bogus-option = 1" >>"$CONF"
    kill -HUP "$(rm_pid proxy)"
    rm_wait_until 10 grep -q 'reload: the configuration has errors: nothing changed' "$RM_TMP/proxy.log" \
        || fail "a bad config file on reload: $(tail -3 "$RM_TMP/proxy.log")"
    cp "$CONF.orig" "$CONF"
    ok "reload back to the file's values, and a bad file changes nothing"
    # a changed URL is said to need a restart, without its password
    sed -i "s|^nats = .*|nats = nats://rmuser:Rel0adSecretPw@127.0.0.1:$NATS_PORT|" "$CONF"
    d0=$(grep -c 'reload: done' "$RM_TMP/proxy.log" || true)
    kill -HUP "$(rm_pid proxy)"
    rm_wait_until 10 eval '(( $(grep -c "reload: done" "$RM_TMP/proxy.log") > d0 ))' \
        || fail "no reload summary after changing 'nats': $(grep reload "$RM_TMP/proxy.log" | tail -3)"
    grep -q "reload: 'nats' changed ('.*' -> 'nats://\*\*\*@127.0.0.1:$NATS_PORT'): needs a restart" "$RM_TMP/proxy.log" \
        || fail "the 'nats' change not logged redacted: $(grep "reload: 'nats'" "$RM_TMP/proxy.log")"
    ! grep -q 'Rel0adSecretPw' "$RM_TMP/proxy.log" || fail "the password is in the log: $(grep -m1 Rel0adSecretPw "$RM_TMP/proxy.log")"
    cp "$CONF.orig" "$CONF"
    kill -HUP "$(rm_pid proxy)"
    rm_wait_until 10 eval '(( $(grep -c "reload: done" "$RM_TMP/proxy.log") > d0 + 1 ))' || fail "no reload back to the original 'nats'"
    ok "a changed --nats URL is logged redacted on reload: $(grep -o "reload: 'nats' changed.*" "$RM_TMP/proxy.log" | head -1)"
}

sc_limits() {
    [[ $(http get "$HTTP_PORT" /nothere | head -1) == 404 ]] || fail "unknown path: $(http get "$HTTP_PORT" /nothere)"
    [[ $(http get "$HTTP_PORT" /metrics POST | head -1) == 405 ]] || fail "POST: $(http get "$HTTP_PORT" /metrics POST)"
    [[ $(http big "$HTTP_PORT") == 400 ]] || fail "a 5000-byte request head: $(http big "$HTTP_PORT")"
    ok "404 for an unknown path, 405 for POST, 400 for a 5000-byte request head"
    closed=$(http ctl "$HTTP_PORT")
    [[ $closed == "400 "* ]] && awk -v s="${closed#* }" 'BEGIN { exit !(s < 2) }' \
        || fail "a request head with a NUL byte: '$closed' (status, seconds), expected 400 at once"
    ok "a request head with a NUL byte: 400 after ${closed#* } s"
    closed=$(http flood "$HTTP_PORT" 12 "$NET.250.1")
    ((closed == 4)) || fail "12 idle connections from one address: $closed closed within 1 s, expected 4 (8 per address)"
    ok "12 idle connections from one address: $closed closed at once (8 per address)"
    SRCS=("$NET.250.1" "$NET.250.2" "$NET.250.3" "$NET.250.4" "$NET.250.5")
    closed=$(http flood "$HTTP_PORT" 40 "${SRCS[@]}")
    ((closed == 8)) || fail "40 idle connections from 5 addresses: $closed closed within 1 s, expected 8 (the cap is 32)"
    ok "40 idle connections from 5 addresses: $closed closed at once (cap 32: the oldest idle ones make room)"
    # 32 connections that never send a request hold every slot; a health probe still gets in
    http slowloris "$HTTP_PORT" 32 20 "${SRCS[@]}" >"$RM_TMP/slowloris.out" &
    loris_pid=$!
    rm_wait_until 10 test -s "$RM_TMP/slowloris.out" || fail "the 32 idle connections did not connect"
    good=0
    for i in $(seq 1 21); do
        [[ $(health) == "200 "* ]] && good=$((good + 1))
    done
    kill "$loris_pid" 2>/dev/null || true
    wait "$loris_pid" 2>/dev/null || true
    ((good == 21)) || fail "with 32 idle connections open, $good of 21 /health probes got 200"
    ok "with 32 idle connections open ($(head -1 "$RM_TMP/slowloris.out") connected), 21 of 21 /health probes got 200"
    http slow "$HTTP_PORT" >"$RM_TMP/slow.out" &
    slow_pid=$!
    # the data path answers meanwhile
    for i in $(seq 1 10); do
        [[ -n $(rm_dig "${P[@]}" +short www.z1.com A) ]] || fail "no answer through the proxy while the HTTP side is busy"
    done
    wait "$slow_pid" || fail "the slow client failed: $(cat "$RM_TMP/slow.out")"
    read -r secs bytes <"$RM_TMP/slow.out"
    awk -v s="$secs" 'BEGIN { exit !(s >= 4 && s <= 30) }' || fail "the slow client was closed after $secs s, expected about 5"
    ((bytes == 0)) || fail "the slow client got $bytes bytes"
    ok "a slow client is closed after $secs s; the proxy answered 10 queries meanwhile"
    [[ $(metric 'recmesh_http_rejected_total{reason="client_limit"}') -eq 4 ]] || fail "client-limit counter: $(metric 'recmesh_http_rejected_total{reason="client_limit"}')"
    # 8 for the 40 idle connections, then at least 1 for the first health probe (a probe ends
    # before the next one comes, so the later ones find its slot free, unless an idle connection
    # of the 40 was not closed yet when the 32 came)
    evicted=$(metric 'recmesh_http_rejected_total{reason="evicted"}')
    ((evicted >= 9 && evicted <= 29)) || fail "evicted counter: $evicted, expected 8 + 1 to 8 + 21"
    [[ $(metric 'recmesh_http_rejected_total{reason="bad_request"}') -ge 2 ]] || fail "bad-request counter: $(metric 'recmesh_http_rejected_total{reason="bad_request"}')"
    [[ $(metric 'recmesh_http_rejected_total{reason="timeout"}') -ge 1 ]] || fail "timeout counter: $(metric 'recmesh_http_rejected_total{reason="timeout"}')"
    for line in 'http: 8 connections open from one address' 'http: 32 connections open: closing the oldest one' \
        'http: a request head held control byte 0x00'; do
        [[ $(grep -c "$line" "$RM_TMP/proxy.log") -eq 1 ]] || fail "'$line' logged $(grep -c "$line" "$RM_TMP/proxy.log") times, expected once"
    done
    ok "HTTP rejections counted: client limit $(metric 'recmesh_http_rejected_total{reason="client_limit"}'), evicted $(metric 'recmesh_http_rejected_total{reason="evicted"}'), bad $(metric 'recmesh_http_rejected_total{reason="bad_request"}'), timeout $(metric 'recmesh_http_rejected_total{reason="timeout"}'); each limit logged once"
    [[ $(health) == "200 "* ]] || fail "/health after the limits: $(health)"
}

sc_fdlimit() {
    ppid=$(rm_pid proxy)
    nfd=$(ls "/proc/$ppid/fd" | wc -l)
    soft=$(prlimit --pid "$ppid" --nofile --output SOFT --noheadings | tr -d ' ')
    prlimit --pid "$ppid" --nofile=$((nfd + 2)): || fail "prlimit on the proxy ($ppid) failed"
    http hold "$HTTP_PORT" 20 4 >"$RM_TMP/hold.out" &
    hold_pid=$!
    rm_wait_until 10 grep -q 'http: cannot accept connections: Too many open files' "$RM_TMP/proxy.log" \
        || fail "the HTTP accept failure was not logged ($nfd descriptors, limit $((nfd + 2))): $(tail -3 "$RM_TMP/proxy.log")"
    cpu() { local s; read -r s <"/proc/$1/stat"; s=${s##*) }; read -r -a f <<<"$s"; echo $(( f[11] + f[12] )); }
    t0=$(cpu "$ppid")
    start=$(date +%s%N)
    rm_wait_until 5 eval '(( $(date +%s%N) - start >= 1000000000 ))'
    t1=$(cpu "$ppid")
    ticks=$(getconf CLK_TCK)
    (( (t1 - t0) * 100 < ticks * 30 )) \
        || fail "at the descriptor limit the proxy used $((t1 - t0)) ticks of CPU in 1 s (CLK_TCK $ticks): the HTTP thread spins"
    prlimit --pid "$ppid" --nofile="$soft": || fail "prlimit back on the proxy ($ppid) failed"
    wait "$hold_pid" || true
    errs=$(metric recmesh_http_accept_errors_total)
    [[ $errs -ge 1 ]] || fail "recmesh_http_accept_errors_total is '$errs' after the descriptor limit"
    rm_wait_until 20 eval '[[ $(health) == "200 "* ]]' || fail "/health after the descriptor limit: $(health)"
    ok "at the descriptor limit the HTTP side pauses accepting: $((t1 - t0)) ticks of CPU in 1 s (CLK_TCK $ticks), $errs accept errors counted"
}

sc_stop() {
    rm_stop proxy
    grep -q '^STOPPING=1' "$NLOG" || fail "no STOPPING=1: $(cat "$NLOG")"
    ok "SIGTERM: STOPPING=1 sent"
}

rm_scenario start   "start: version, notifications"
rm_scenario metrics "/metrics"
rm_scenario health  "/health"
rm_scenario reload  "reload (SIGHUP)"
rm_scenario limits  "HTTP limits"
rm_scenario fdlimit "HTTP accept at the descriptor limit"
rm_scenario stop    "stop"
rm_scenario_listing
command -v promtool >/dev/null || fail "promtool is missing (tests/deps.sh installs prometheus)"
command -v python3 >/dev/null || fail "python3 is missing (tests/deps.sh installs it)"

NET=${RM_TEST_NET:-127.58}
rm_start_tree "$NET" 20 10
REC_PORT=$(rm_free_port)
NATS_PORT=$(rm_free_port)
PROXY_PORT=$(rm_free_port)
HTTP_PORT=$(rm_free_port)
NATS=nats://127.0.0.1:$NATS_PORT
rm_start_nats nats "$NATS_PORT"
rm_start_recursor rec "$REC_PORT"

# The HTTP client and the notification listener (python3: no curl on a bare Debian)
cat >"$RM_TMP/ops.py" <<'EOF'
import socket, sys, time
port = int(sys.argv[2]) if sys.argv[1] != "notify" else 0
def connect():
    return socket.create_connection(("127.0.0.1", port), timeout=10)
def read_all(s):
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            return data
        data += b
cmd = sys.argv[1]
def connect_from(src):
    return socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(src, 0))
def closed_within(conns, seconds):  # how many of conns the server closed within seconds
    import select
    closed, deadline = set(), time.time() + seconds
    while time.time() < deadline and len(closed) < len(conns):
        r, _, _ = select.select([s for s in conns if s not in closed], [], [], max(0, deadline - time.time()))
        for s in r:
            try:
                if s.recv(1) == b"":
                    closed.add(s)
            except ConnectionResetError:
                closed.add(s)
    return len(closed)
if cmd == "get":  # get PORT PATH [METHOD]: prints the status code, then the body
    s = connect()
    s.sendall(("%s %s HTTP/1.1\r\nHost: x\r\n\r\n" % (sys.argv[4] if len(sys.argv) > 4 else "GET", sys.argv[3])).encode())
    head, _, body = read_all(s).partition(b"\r\n\r\n")
    print(head.split(b" ")[1].decode())
    sys.stdout.write(body.decode())
elif cmd == "big":  # big PORT: a request head of 5000 bytes; prints the status code
    s = connect()
    s.sendall(b"GET /metrics HTTP/1.1\r\nX-Filler: " + b"a" * 5000 + b"\r\n\r\n")
    print(read_all(s).split(b" ")[1].decode())
elif cmd == "slow":  # slow PORT: half a request, then wait; prints the seconds until the server closed
    s = connect()
    t0 = time.time()
    s.sendall(b"GET /metrics HTTP/1.1\r\n")
    data = read_all(s)
    print("%.1f %d" % (time.time() - t0, len(data)))
elif cmd == "flood":  # flood PORT N SRC...: N idle connections at once, from the SRC addresses in
    # turn; prints how many the server closed within 1 s
    srcs = sys.argv[4:]
    conns = [connect_from(srcs[i % len(srcs)]) for i in range(int(sys.argv[3]))]
    print(closed_within(conns, 1.0))
    for s in conns:
        s.close()
elif cmd == "ctl":  # ctl PORT: a request head with a NUL byte; prints the status code and the seconds it took
    s = connect()
    t0 = time.time()
    s.sendall(b"GET /met\x00rics HTTP/1.1\r\nHost: x\r\n\r\n")
    data = read_all(s)
    print(data.split(b" ")[1].decode() if data else "none", "%.1f" % (time.time() - t0))
elif cmd == "slowloris":  # slowloris PORT N SECONDS SRC...: N connections that never send a byte,
    # from the SRC addresses in turn, held SECONDS; prints how many connected, then how many were closed
    srcs = sys.argv[5:]
    conns = [connect_from(srcs[i % len(srcs)]) for i in range(int(sys.argv[3]))]
    print(len(conns), flush=True)
    print(closed_within(conns, float(sys.argv[4])), flush=True)
elif cmd == "hold":  # hold PORT N SECONDS: N idle connections kept open that long; prints how many connected
    conns = []
    for _ in range(int(sys.argv[3])):
        try:
            conns.append(connect())
        except OSError:
            pass
    print(len(conns), flush=True)
    time.sleep(float(sys.argv[4]))
elif cmd == "notify":  # notify PATH LOG: appends every datagram to LOG as one line
    path, log = sys.argv[2], sys.argv[3]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    while True:
        d = s.recv(4096)
        with open(log, "a") as f:
            f.write(d.decode().replace("\n", "|") + "\n")
EOF
NOTIFY_SOCK=$RM_TMP/notify.sock
NLOG=$RM_TMP/notify.lines
: >"$NLOG"
rm_spawn notify python3 "$RM_TMP/ops.py" notify "$NOTIFY_SOCK" "$NLOG"
rm_wait_until 10 test -S "$NOTIFY_SOCK" || fail "the notification listener did not bind $NOTIFY_SOCK"

CONF=$RM_TMP/proxy.conf
cat >"$CONF" <<EOF
listen = 127.0.0.1:$PROXY_PORT
upstream = 127.0.0.1:$REC_PORT
nats = $NATS
cluster = t
node = ops1
metrics-listen = 127.0.0.1:$HTTP_PORT
stats-interval = 600
hot-interval = 1
upstream-timeout = 1
EOF
rm_spawn proxy env NOTIFY_SOCKET="$NOTIFY_SOCK" WATCHDOG_USEC=400000 "$RECMESH" proxy --config "$CONF"
_rm_wait_for proxy 15 rm_dig @127.0.0.1 -p "$PROXY_PORT" +short localhost A \
    || fail "the proxy does not answer on 127.0.0.1:$PROXY_PORT"
P=(@127.0.0.1 -p "$PROXY_PORT")

rm_scenarios
