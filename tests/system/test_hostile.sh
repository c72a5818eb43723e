#!/usr/bin/env bash
# test_hostile.sh - recmesh proxy (with --protobuf-listen) in front of a real
# pdns_recursor, and recmesh mirror, under attack from hostile clients,
# protobuf peers and a spoofing upstream.
#
# What an operator relies on: TCP clients that trickle bytes, never read, or
# come in numbers from one address cannot hold the slots (normal clients are
# still served, the limits close them and say so in the log); at the
# descriptor limit the proxy does not spin; 150 pipelined queries on one
# connection are all answered, none with SERVFAIL; an answer with the right
# ID but another question is dropped and counted; the protobuf listener
# refuses addresses not allowed, caps its connections, drops frames with an
# absurd time or a hostile question, and the hot list stays readable.
# The clients are tests/system/hostile.py. RM_TEST_NET overrides the NET prefix (127.57).
# Each scenario runs alone with RM_SCENARIO=NAME (RM_SCENARIO=list lists them and what each needs).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/lib.sh"
HOSTILE=(python3 "$HERE/hostile.py")

rm_init test_hostile

# logged PATTERN: the proxy's log has a line matching PATTERN (polled: the log is written by another process)
logged() { rm_wait_until 5 grep -q -- "$1" "$PLOG"; }
# counters PROCESS: ask for the counter lines, print the last proxy counter line once it is there
counters() {
    local n
    n=$(grep -c 'counters: queries' "$RM_TMP/$1.log" || true)
    kill -USR1 "$(rm_pid "$1")"
    rm_wait_until 5 eval "(( \$(grep -c 'counters: queries' '$RM_TMP/$1.log') > $n ))" \
        || fail "no counter line from $1: $(tail -3 "$RM_TMP/$1.log")"
    grep 'counters: queries' "$RM_TMP/$1.log" | tail -1
}

sc_cloexec() {
    # every socket of the proxy carries O_CLOEXEC, but the NATS client's own (nats.c opens it)
    nats_hex=$(printf '%04X' "$NATS_PORT")
    pid=$(rm_pid proxy)
    nsock=0
    for fd in /proc/"$pid"/fd/*; do
        l=$(readlink "$fd") || continue
        [[ $l == socket:* ]] || continue
        nsock=$((nsock + 1))
        flags=$(awk '/^flags:/ {print $2}' "/proc/$pid/fdinfo/${fd##*/}")
        (( (8#$flags & 8#2000000) != 0 )) && continue
        ino=${l//[^0-9]/}
        conn=$(awk -v i="$ino" '$10 == i {print $2, $3}' /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6)
        [[ $conn == *":$nats_hex" ]] || fail "socket fd ${fd##*/} ($conn) of the proxy lacks O_CLOEXEC"
    done
    ((nsock >= 5)) || fail "only $nsock sockets seen in /proc/$pid/fd"
    ok "all $nsock sockets of the proxy but the NATS client's carry O_CLOEXEC"
}

sc_trickle() {
    # 3 addresses x 7 connections = 21 > --max-tcp-clients 20, each sending a byte every 0.3 s
    "${HOSTILE[@]}" trickle 127.0.0.1 "$PROXY_PORT" "$NET.251.1,$NET.251.2,$NET.251.3" 7 $((IDLE * 3)) \
        "$RM_TMP/trickle.open" >"$RM_TMP/trickle.out" 2>&1 &
    TRICKLE=$!
    rm_wait_until 10 test -s "$RM_TMP/trickle.open" || fail "the trickling clients did not connect"
    out=$("$DNSTCP" "127.0.0.1:$PROXY_PORT" www.z1.com) || fail "a normal TCP client was not served while trickling clients held the slots: $out"
    ok "a normal TCP client is served while $(cat "$RM_TMP/trickle.open") trickling connections were opened: $out"
    logged "TCP client limit (--max-tcp-clients $MAX_TCP) reached: closed the connection idle longest" \
        || fail "the client limit was not logged: $(grep -i tcp "$PLOG" | tail -3)"
    ok "the client limit is logged: $(grep -o 'TCP client limit.*' "$PLOG" | head -1)"
    wait "$TRICKLE" || fail "trickle failed: $(cat "$RM_TMP/trickle.out")"
    grep -q ', 0 still open' "$RM_TMP/trickle.out" || fail "trickling connections survived: $(cat "$RM_TMP/trickle.out")"
    ok "every trickling connection was closed: $(cat "$RM_TMP/trickle.out")"
}

sc_duration() {
    out=$("${HOSTILE[@]}" duration 127.0.0.1 "$PROXY_PORT" www.z1.com $MAX_DURATION) || fail "$out"
    ok "a busy connection is closed at --tcp-max-duration $MAX_DURATION: $out"
    out=$("${HOSTILE[@]}" per-client 127.0.0.1 "$PROXY_PORT" "$NET.252.1" $PER_CLIENT) || fail "$out"
    ok "$out"
    logged "refusing TCP connection from '$NET.252.1:[0-9]*': it has $PER_CLIENT open" \
        || fail "the per-client refusal was not logged: $(grep -i refus "$PLOG" | tail -3)"
    ok "the per-client limit is logged"
}

sc_pipeline() {
    NAMES=()
    for i in $(seq 1 150); do NAMES+=("n$(( (i - 1) % 10 + 1 )).$(rm_zone $(( (i - 1) / 10 % 20 + 1 )))"); done
    out=$("$DNSTCP" "127.0.0.1:$PROXY_PORT" "${NAMES[@]}" 2>&1) || fail "pipelined queries: $(tail -3 <<<"$out")"
    n=$(grep -c . <<<"$out")
    servfail=$(awk '$4 == 2' <<<"$out" | wc -l)
    [[ $n -eq 150 && $servfail -eq 0 ]] || fail "150 pipelined queries: $n answers, $servfail SERVFAIL: $(awk '$4 != 0' <<<"$out" | head -3)"
    ok "150 pipelined queries on one connection: $n answers, none SERVFAIL"
}

sc_spoof() {
    FAKE_PORT=$(rm_free_port)
    P2_PORT=$(rm_free_port)
    rm_spawn fake "${HOSTILE[@]}" fake-upstream 127.0.0.1 "$FAKE_PORT" "$RM_TMP/fake.ready"
    rm_wait_until 10 test -s "$RM_TMP/fake.ready" || fail "the fake upstream did not start"
    rm_spawn proxy2 "$RECMESH" proxy --listen "127.0.0.1:$P2_PORT" --upstream "127.0.0.1:$FAKE_PORT" \
        --nats "$NATS" --cluster t --node h2 --stats-interval 0 --upstream-timeout 1 --upstream-sockets 1
    _rm_wait_for proxy2 10 rm_dig @127.0.0.1 -p "$P2_PORT" +short good.example A \
        || fail "the proxy in front of the fake upstream does not answer"
    out=$(rm_dig @127.0.0.1 -p "$P2_PORT" +short good.example A)
    [[ $out == 192.0.2.1 ]] || fail "the fake upstream's honest answer: '$out'"
    out=$(dig +time=2 +tries=1 @127.0.0.1 -p "$P2_PORT" spoof.example A 2>&1) || true
    grep -q 'evil.example' <<<"$out" && fail "the spoofed answer was relayed: $out"
    grep -Eq 'timed out|no servers could be reached' <<<"$out" || fail "expected no answer to spoof.example: $out"
    out=$(dig +time=2 +tries=1 @127.0.0.1 -p "$P2_PORT" broken.example A 2>&1) || true
    grep -Eq 'timed out|no servers could be reached' <<<"$out" && fail "an unparsable answer with the right question was dropped: $out"
    line=$(counters proxy2)
    grep -Eq 'unexpected=1 ' <<<"$line" || fail "the spoofed answer was not counted as unexpected (once): $line"
    grep -Eq 'malformed-queries=0 malformed-responses=1 ' <<<"$line" || fail "the unparsable answer with the right question was not relayed and counted: $line"
    ok "spoofed answer (another question) dropped and counted, unparsable answer to the right question relayed: ${line#*: }"
}

sc_noread() {
    P3_PORT=$(rm_free_port)
    rm_spawn proxy3 bash -c "ulimit -n 64 && exec \"\$0\" \"\$@\"" "$RECMESH" proxy --listen "127.0.0.1:$P3_PORT" \
        --upstream "127.0.0.1:$REC_PORT" --nats "$NATS" --cluster t --node h3 --stats-interval 0 \
        --upstream-sockets 1 --tcp-idle-timeout $IDLE --tcp-max-duration 600
    _rm_wait_for proxy3 10 rm_dig @127.0.0.1 -p "$P3_PORT" +short localhost A \
        || fail "the proxy under ulimit -n 64 does not answer"
    # 15000 answers of about 60 bytes: more than the kernel's buffers hold, less than the
    # proxy's 1 MB output limit, so the unread answers wait in the proxy until the idle timeout
    "${HOSTILE[@]}" no-read 127.0.0.1 "$P3_PORT" www.z1.com 15000 $((IDLE * 6)) >"$RM_TMP/noread.out" 2>&1 &
    NOREAD=$!
    rm_wait_until $((IDLE * 5)) grep -q "closing TCP client '127.0.0.1:[0-9]*': its answers have not drained for" \
        "$RM_TMP/proxy3.log" || fail "the client that never reads was not closed: $(tail -3 "$RM_TMP/proxy3.log")"
    line=$(counters proxy3)
    grep -Eq ' tcp-open=0( |$)' <<<"$line" || fail "a TCP connection is still open: $line"
    wait "$NOREAD" || true
    ok "a client that never reads is closed ($(cat "$RM_TMP/noread.out")): $(grep -o 'closing TCP client.*' "$RM_TMP/proxy3.log" | head -1)"
    "${HOSTILE[@]}" hold 127.0.0.1 "$P3_PORT" 100 8 "$RM_TMP/hold.open" &
    HOLD=$!
    rm_wait_until 10 test -s "$RM_TMP/hold.open" || fail "the holding client did not connect"
    rm_wait_until 5 grep -q 'cannot accept TCP connections: Too many open files' "$RM_TMP/proxy3.log" \
        || fail "the descriptor limit was not logged: $(tail -3 "$RM_TMP/proxy3.log")"
    # cpu PID: utime + stime of PID in clock ticks
    cpu() { local s; read -r s <"/proc/$1/stat"; s=${s##*) }; read -r -a f <<<"$s"; echo $(( f[11] + f[12] )); }
    pid3=$(rm_pid proxy3)
    t0=$(cpu "$pid3")
    start=$(date +%s%N)
    rm_wait_until 5 eval '(( $(date +%s%N) - start >= 2000000000 ))'
    t1=$(cpu "$pid3")
    ticks=$(getconf CLK_TCK)
    (( (t1 - t0) * 100 < ticks * 2 * 20 )) \
        || fail "at the descriptor limit the proxy used $((t1 - t0)) ticks of CPU in 2 s (CLK_TCK $ticks): it spins"
    lines=$(grep -c 'cannot accept TCP connections' "$RM_TMP/proxy3.log")
    ok "at the descriptor limit ($(cat "$RM_TMP/hold.open")): $((t1 - t0)) ticks of CPU in 2 s, $lines log line(s): $(grep -o 'cannot accept.*' "$RM_TMP/proxy3.log" | head -1)"
    out=$(rm_dig @127.0.0.1 -p "$P3_PORT" +short www.z1.com A)
    [[ $out == 198.18.0.1 ]] || fail "UDP at the descriptor limit: '$out'"
    ok "UDP clients are still answered at the descriptor limit"
    wait "$HOLD" || true
}

sc_protobuf() {
    out=$("${HOSTILE[@]}" pb-refused "$PB_ADDR" "$PB_PORT" 127.0.0.1) || fail "$out"
    logged "refusing protobuf connection from '127.0.0.1:[0-9]*': not in --protobuf-allow-from" \
        || fail "the refusal was not logged: $(grep -i protobuf "$PLOG" | tail -3)"
    ok "$out, and logged"
    out=$("${HOSTILE[@]}" pb-send "$PB_ADDR" "$PB_PORT" "$PB_PEER" good) || fail "an allowed peer: $out"
    ok "an allowed peer ($PB_PEER) stays connected: $out"
    out=$("${HOSTILE[@]}" pb-cap "$PB_ADDR" "$PB_PORT" "$PB_PEER" $PB_MAX) || fail "$out"
    logged "protobuf connection limit ($PB_MAX) reached: closed the connection idle longest" \
        || fail "the connection limit was not logged: $(grep -i protobuf "$PLOG" | tail -3)"
    ok "$out, and logged"
    for kind in future:"its time 4294967295 s is more than 86400 s from now" nul:"a NUL inside the name" \
        qtype:"a qtype or qclass over 65535"; do
        "${HOSTILE[@]}" pb-send "$PB_ADDR" "$PB_PORT" "$PB_PEER" "${kind%%:*}" >/dev/null
        logged "dropping protobuf frame: ${kind#*:}" || fail "frame '${kind%%:*}' not dropped: $(grep -i 'protobuf frame' "$PLOG" | tail -3)"
    done
    ok "frames with timeSec 0xFFFFFFFF, a NUL in the name, qtype 70000: dropped and logged"
}

sc_hotlist() {
    M_PORT=$(rm_free_port)
    rm_spawn mirror "$RECMESH" mirror --protobuf-listen "127.0.0.1:$M_PORT" --nats "$NATS" --cluster t \
        --node m1 --hot-interval 0.5 --stats-interval 0
    _rm_wait_for mirror 10 grep -q 'listening for the Recursor' "$RM_TMP/mirror.log" || fail "the mirror does not listen"
    for kind in future nul qtype good; do
        "${HOSTILE[@]}" pb-send 127.0.0.1 "$M_PORT" 127.0.0.1 "$kind" 2 >/dev/null || fail "mirror closed on $kind"
    done
    hot_ok() {
        "$RECMESH" hot --nats "$NATS" --cluster t --top 100 >"$RM_TMP/hot.out" 2>"$RM_TMP/hot.err" &&
            grep -q 'good.example.' "$RM_TMP/hot.out"
    }
    rm_wait_until 15 hot_ok || fail "recmesh hot does not list good.example.: $(cat "$RM_TMP/hot.out" "$RM_TMP/hot.err")"
    grep -Eqi '(^| )(inf|nan)( |$)' "$RM_TMP/hot.out" && fail "inf or nan in the hot list: $(cat "$RM_TMP/hot.out")"
    grep -Eq 'future.example|evil|big.example' "$RM_TMP/hot.out" && fail "a hostile frame reached the hot list: $(cat "$RM_TMP/hot.out")"
    ok "recmesh hot lists $(grep -c . "$RM_TMP/hot.out") names, none inf or nan, none from a hostile frame"
}

rm_scenario cloexec  "no socket of the data path is inherited by a child (rec_control)"
rm_scenario trickle  "TCP: trickling clients cannot hold the slots"
rm_scenario duration "TCP: a connection lives --tcp-max-duration at most, one address holds --max-tcp-per-client"
rm_scenario pipeline "TCP: 150 pipelined queries on one connection"
rm_scenario spoof    "UDP: an answer with the right ID but another question is not relayed"
rm_scenario noread   "TCP: a client that never reads is closed; at the descriptor limit the proxy does not spin"
rm_scenario protobuf "protobuf listener"
rm_scenario hotlist  "the hot list stays readable after hostile frames (recmesh mirror takes client responses)" protobuf
rm_scenario_listing

NET=${RM_TEST_NET:-127.57}
rm_start_tree "$NET" 20 10
REC_PORT=$(rm_free_port)
NATS_PORT=$(rm_free_port)
PROXY_PORT=$(rm_free_port)
PB_PORT=$(rm_free_port)
NATS=nats://127.0.0.1:$NATS_PORT
PB_ADDR=$NET.250.1 # the protobuf listener, on its own loopback address
PB_PEER=$NET.250.2 # an allowed peer
rm_start_nats nats "$NATS_PORT"
rm_start_recursor rec "$REC_PORT"

MAX_TCP=20 PER_CLIENT=8 IDLE=2 MAX_DURATION=5 PB_MAX=4
rm_spawn proxy "$RECMESH" proxy --listen "127.0.0.1:$PROXY_PORT" --upstream "127.0.0.1:$REC_PORT" \
    --nats "$NATS" --cluster t --node h1 --hot-interval 0.5 --stats-interval 0 \
    --max-tcp-clients $MAX_TCP --max-tcp-per-client $PER_CLIENT --tcp-idle-timeout $IDLE \
    --tcp-max-duration $MAX_DURATION --protobuf-listen "$PB_ADDR:$PB_PORT" \
    --protobuf-allow-from "$NET.250.0/24" --protobuf-max-connections $PB_MAX \
    --threads 1 # the limits' exact counts are one thread's (with several each takes its share: test_workers)
_rm_wait_for proxy 10 rm_dig @127.0.0.1 -p "$PROXY_PORT" +short localhost A \
    || fail "the proxy does not answer on 127.0.0.1:$PROXY_PORT"
PLOG=$RM_TMP/proxy.log

rm_scenarios
