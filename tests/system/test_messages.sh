#!/usr/bin/env bash
# test_messages.sh - what a node says and counts when NATS or the disk will
# not take what it sends, against a real nats-server, pdns_recursor and
# `recmesh proxy` / `recmesh mirror`.
#
# Shows what recmesh(1) promises: with a server max_payload of 1024 bytes,
# event batches are sized to it and all 3000 events are published and
# received, while the hot list, which cannot fit, fails at every interval
# and is said once; with 256 bytes, an event that alone does not fit is
# dropped, counted under reason max_payload and logged once. With
# publishing on the traffic subject denied, no event counts as published:
# they are counted as dropped(denied). An intelligence file that cannot be
# written (a directory at its name: each try fails on a new temporary name)
# is said once, its recovery once, a new failure once more. A hot list no
# longer rewritten is marked stale by `recmesh hot` (text and --json) and in
# the node's /metrics.
# RM_TEST_NET overrides the NET prefix (127.71), e.g. to run two copies side by side.
# Each scenario runs alone with RM_SCENARIO=NAME (RM_SCENARIO=list lists them and what
# each needs).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/lib.sh"

rm_init test_messages

# flood PORT NAME N [K]: ask the proxy on PORT for NAME A N times (50 in flight at
# most; with K, the i-th query's NAME has its {} replaced by i modulo K); prints how
# many were answered
flood() {
    python3 - "$@" <<'EOF'
import socket, struct, sys
port, name, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
k_names = int(sys.argv[4]) if len(sys.argv) > 4 else 1
def question(i):
    qn = name.replace("{}", str(i % k_names))
    return b"".join(bytes([len(l)]) + l.encode() for l in qn.strip(".").split(".")) + b"\0" + struct.pack("!HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
answered = sent = 0
while sent < n:
    k = min(50, n - sent)
    want = set()
    for i in range(k):
        qid = (sent + i) & 0xffff
        want.add(qid)
        s.sendto(struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question(sent + i), ("127.0.0.1", port))
    sent += k
    try:
        while want:
            data = s.recv(4096)
            qid = struct.unpack("!H", data[:2])[0]
            if qid in want:
                want.discard(qid)
                answered += 1
    except socket.timeout:
        pass
print(answered)
EOF
}
metric() { # metric PORT NAME: its value from /metrics (fails when absent)
    local out v
    out=$(rm_http_get "$1" /metrics) || return 1
    v=$(awk -v m="$2" '$1 == m { print $2 }' <<<"$out")
    [[ -n $v ]] && echo "$v"
}
# settled PORT: every event handed to the publisher is published or dropped
settled() {
    local sub pub full nats pay den
    sub=$(metric "$1" recmesh_events_submitted_total) && pub=$(metric "$1" recmesh_events_published_total) &&
        full=$(metric "$1" 'recmesh_events_dropped_total{reason="queue_full"}') &&
        nats=$(metric "$1" 'recmesh_events_dropped_total{reason="nats"}') &&
        pay=$(metric "$1" 'recmesh_events_dropped_total{reason="max_payload"}') &&
        den=$(metric "$1" 'recmesh_events_dropped_total{reason="denied"}') || return 1
    ((sub > 0 && sub == pub + full + nats + pay + den))
}
counts() { # counts PORT: the event counters in one line
    local m
    for m in recmesh_events_submitted_total recmesh_events_published_total 'recmesh_events_dropped_total{reason="nats"}' \
        'recmesh_events_dropped_total{reason="max_payload"}' 'recmesh_events_dropped_total{reason="denied"}'; do
        printf '%s=%s ' "${m#recmesh_events_}" "$(metric "$1" "$m" || echo absent)"
    done
}

connected() { [[ $(metric "$hport" recmesh_nats_connected) == 1 ]]; }
# small_node MAX_PAYLOAD: a nats-server with that max_payload (nats-MAX) and a proxy
# (proxy-MAX, node pMAX) on it; sets NATS, pport, hport
small_node() {
    echo "max_payload: $1" >"$D/small$1.conf"
    local nport
    nport=$(rm_free_port)
    NATS=nats://127.0.0.1:$nport
    rm_start_nats_conf "nats-$1" "$nport" "$D/small$1.conf"
    pport=$(rm_free_port) hport=$(rm_free_port)
    rm_spawn "proxy-$1" "$RECMESH" proxy --listen "127.0.0.1:$pport" --upstream "127.0.0.1:$REC_PORT" \
        --nats "$NATS" --cluster t --node "p$1" --hot-interval 1 --stats-interval 0 --metrics-listen "127.0.0.1:$hport"
    _rm_wait_for "proxy-$1" 10 rm_dig @127.0.0.1 -p "$pport" +short localhost A || fail "the proxy does not answer"
    rm_wait_until 10 connected || fail "the proxy did not connect: $(tail -3 "$RM_TMP/proxy-$1.log")"
}

sc_p1024() {
    small_node 1024
    "$RECMESH" events --nats "$NATS" --cluster t --node p1024 --json --timeout 4 >"$RM_TMP/events.out" 2>"$RM_TMP/events.err" &
    EVPID=$!
    sleep 0.5 # the subscriber's SUB reaches the server before the first event (it sends nothing to wait on)
    # 60 names (unknown ones: NXDOMAIN counts too): a hot list longer than 1024 bytes
    n=$(flood "$pport" 'h{}.z1.com' 3000 60)
    ((n == 3000)) || fail "the proxy answered $n of 3000"
    rm_wait_until 20 settled "$hport" || fail "the events did not settle: $(counts "$hport")"
    wait "$EVPID" || true
    got=$(grep -c '"qname":"h[0-9]*.z1.com."' "$RM_TMP/events.out" || true)
    pub=$(metric "$hport" recmesh_events_published_total)
    echo "  $(counts "$hport") received=$got"
    ((pub >= 3000 && got == 3000)) || fail "published $pub, received $got of 3000 events: $(counts "$hport")"
    ok "max_payload 1024: $got of 3000 events received, in batches that fit"
    rm_stop proxy-1024
    LOG=$RM_TMP/proxy-1024.log
    line=$(grep 'final counters: events published=' "$LOG" | tail -1) || fail "no stats line at exit"
    # the hot list's chunks (at least 2048 bytes) do not fit: each interval fails the same way
    [[ $line =~ hot-write-errors=([0-9]+) ]] && ((BASH_REMATCH[1] >= 3)) || fail "hot-list writes did not fail: $line"
    n=$(grep -c 'hot list not written\|cannot write hot list' "$LOG" || true)
    ((n == 1)) || fail "$n hot-list failures said for ${BASH_REMATCH[1]} failed writes, expected one: $(grep 'hot list' "$LOG" | tail -3)"
    [[ $line == *" hot-stale=1 "* ]] || fail "the stats line does not say the list is stale: $line"
    ok "${BASH_REMATCH[1]} failed hot-list writes said once: $(grep -o 'hot list not written: .*' "$LOG")"
    ok "the stats line at exit: ${line#*final counters: }"
    rm_stop nats-1024
}

sc_p256() {
    small_node 256
    long=$(printf 'a%.0s' {1..60}).$(printf 'b%.0s' {1..60}).$(printf 'c%.0s' {1..60}).$(printf 'd%.0s' {1..50}).z1.com
    short_n=$(flood "$pport" www.z1.com 100)
    long_n=$(flood "$pport" "$long" 20)
    ((short_n == 100 && long_n == 20)) || fail "the proxy answered $short_n of 100 and $long_n of 20"
    rm_wait_until 20 settled "$hport" || fail "the events did not settle: $(counts "$hport")"
    pub=$(metric "$hport" recmesh_events_published_total)
    pay=$(metric "$hport" 'recmesh_events_dropped_total{reason="max_payload"}')
    echo "  $(counts "$hport")"
    ((pub >= 100)) || fail "published $pub of the 100 short-name events: $(counts "$hport")"
    ((pay == 20)) || fail "dropped(max_payload) is $pay, expected the 20 long-name events: $(counts "$hport")"
    rm_stop proxy-256
    LOG=$RM_TMP/proxy-256.log
    n=$(grep -c "events dropped: [0-9]* bytes do not fit the NATS server's max_payload of 256" "$LOG" || true)
    ((n == 1)) || fail "the drop was logged $n times, expected once: $(grep -v debug "$LOG" | tail -5)"
    line=$(grep 'final counters: events published=' "$LOG" | tail -1) || fail "no stats line at exit"
    [[ $line == *" dropped-max-payload=20 "* ]] || fail "the stats line: $line"
    ok "max_payload 256: published $pub, 20 too large alone counted as max_payload, said $n time: $(grep -o 'events dropped: .*' "$LOG")"
    rm_stop nats-256
}

sc_deny() {
    cat >"$D/deny.conf" <<'EOF'
authorization { users = [
  {user: node, password: node, permissions: {publish: {deny: ["recmesh.t.traffic.>"]}}}
] }
EOF
    NPORT=$(rm_free_port)
    NATS=nats://127.0.0.1:$NPORT
    rm_start_nats_conf nats-deny "$NPORT" "$D/deny.conf"
    echo node >"$D/node.pw"
    pport=$(rm_free_port) hport=$(rm_free_port)
    rm_spawn proxy-deny "$RECMESH" proxy --listen "127.0.0.1:$pport" --upstream "127.0.0.1:$REC_PORT" \
        --nats "$NATS" --cluster t --node deny --hot-interval 1 --stats-interval 0 --metrics-listen "127.0.0.1:$hport" \
        --nats-user node --nats-password-file "$D/node.pw"
    _rm_wait_for proxy-deny 10 rm_dig @127.0.0.1 -p "$pport" +short localhost A || fail "the proxy does not answer"
    rm_wait_until 10 connected || fail "the proxy did not connect: $(tail -3 "$RM_TMP/proxy-deny.log")"
    n=$(flood "$pport" www.z1.com 500)
    ((n == 500)) || fail "the proxy answered $n of 500"
    rm_wait_until 20 settled "$hport" || fail "the events did not settle: $(counts "$hport")"
    pub=$(metric "$hport" recmesh_events_published_total)
    den=$(metric "$hport" 'recmesh_events_dropped_total{reason="denied"}')
    sub=$(metric "$hport" recmesh_events_submitted_total)
    echo "  $(counts "$hport")"
    ((pub == 0 && den == sub && den >= 500)) || fail "published $pub, denied $den of $sub submitted"
    grep -q 'Permissions Violation for Publish to "recmesh.t.traffic.deny"' "$RM_TMP/proxy-deny.log" \
        || fail "the refusal was not logged: $(grep -v debug "$RM_TMP/proxy-deny.log" | tail -5)"
    ok "denied: published $pub, dropped(denied) $den of $sub submitted"
}

sc_stale() {
    READER=(--nats "$NATS" --cluster t --nats-user node --nats-password-file "$D/node.pw" --hot-interval 1)
    hot_fresh() { "$RECMESH" hot "${READER[@]}" --json >"$RM_TMP/hot.json" 2>"$RM_TMP/hot.err" && grep -q '"node":"deny",.*"stale":false' "$RM_TMP/hot.json"; }
    rm_wait_until 10 hot_fresh || fail "recmesh hot: $(cat "$RM_TMP/hot.json" "$RM_TMP/hot.err")"
    "$RECMESH" hot "${READER[@]}" >"$RM_TMP/hot.txt" 2>&1 || fail "recmesh hot: $(cat "$RM_TMP/hot.txt")"
    grep -q '^# stale' "$RM_TMP/hot.txt" && fail "a fresh list is marked stale: $(cat "$RM_TMP/hot.txt")"
    st=$(metric "$hport" recmesh_hot_list_stale) age=$(metric "$hport" recmesh_hot_list_age_seconds)
    [[ $st == 0 ]] || fail "the node says its fresh list is stale: stale $st, age $age"
    ok "fresh: $(grep -o '{"node":"deny"[^}]*}' "$RM_TMP/hot.json"), node's stale gauge $st (age $age s)"
    rm_stop nats-deny
    stale() { [[ $(metric "$hport" recmesh_hot_list_stale) == 1 ]]; }
    rm_wait_until 15 stale || fail "the node's list is not stale without NATS: age $(metric "$hport" recmesh_hot_list_age_seconds)"
    ok "NATS away: the node's stale gauge is 1 at age $(metric "$hport" recmesh_hot_list_age_seconds) s"
    rm_start_nats_conf nats-deny "$NPORT" "$D/deny.conf"
    fresh() { [[ $(metric "$hport" recmesh_hot_list_stale) == 0 ]]; }
    rm_wait_until 20 fresh || fail "the list is still stale with NATS back: age $(metric "$hport" recmesh_hot_list_age_seconds)"
    ok "NATS back: stale gauge 0, age $(metric "$hport" recmesh_hot_list_age_seconds) s"
    rm_stop proxy-deny
    hot_stale() { "$RECMESH" hot "${READER[@]}" --json >"$RM_TMP/hot.json" 2>"$RM_TMP/hot.err" && grep -q '"node":"deny",.*"stale":true' "$RM_TMP/hot.json"; }
    rm_wait_until 15 hot_stale || fail "recmesh hot does not mark the list stale: $(cat "$RM_TMP/hot.json" "$RM_TMP/hot.err")"
    "$RECMESH" hot "${READER[@]}" >"$RM_TMP/hot.txt" 2>&1 || fail "recmesh hot: $(cat "$RM_TMP/hot.txt")"
    grep -q "^# stale: node 'deny': its list was taken [0-9.]* s ago, not rewritten for 3 hot intervals of 1 s" "$RM_TMP/hot.txt" \
        || fail "the text output does not mark the list stale: $(cat "$RM_TMP/hot.txt")"
    ok "the node stopped: $(grep -o '{"node":"deny"[^}]*}' "$RM_TMP/hot.json"); $(grep '^# stale' "$RM_TMP/hot.txt")"
    rm_stop nats-deny
}

sc_intel() {
    NPORT=$(rm_free_port)
    NATS=nats://127.0.0.1:$NPORT
    rm_start_nats nats "$NPORT"
    rm_nats_ns_bucket "$NPORT" || fail "cannot reach nats-server on $NPORT"
    # shellcheck disable=SC2016  # the $ are NATS's, not the shell's
    table() { rm_nats_pub "$NPORT" '$KV.recmesh_ns.t.other' "#recmesh-ns 1 node=other time=$(date +%s)\n192.0.2.1 0 0 9 9 0 $(date +%s) $(date +%s)\n"; }
    rm_wait_until 20 table || fail "cannot put a table"
    INTEL=$RM_TMP/intel/intel.txt
    mkdir -p "$INTEL" # a directory at the file's name: each try fails to rename its new temporary file
    rm_spawn mirror "$RECMESH" mirror --protobuf-listen "127.0.0.1:$(rm_free_port)" --nats "$NATS" \
        --cluster t --node m1 --hot-interval 0.3 --stats-interval 0 --intel-file "$INTEL" -v
    LOG=$RM_TMP/mirror.log
    refreshes() { grep -c 'hot list written' "$LOG" || true; }
    after() { (($(refreshes) >= $1)); }
    said() { grep -c "intelligence file '$INTEL' not written" "$LOG" || true; }
    rm_wait_until 30 after 12 || fail "the mirror did not write hot lists: $(grep -v debug "$LOG" | tail -5)"
    n=$(said)
    ((n == 1)) || fail "after $(refreshes) refreshes the failure was said $n times, expected once: $(grep 'not written' "$LOG" | tail -3)"
    ok "a directory at the file's name: said $n time in $(refreshes) refreshes: $(grep -o 'not written: .*' "$LOG" | head -1)"
    rmdir "$INTEL"
    rm_wait_until 10 test -f "$INTEL" || fail "the file was not written: $(grep -v debug "$LOG" | tail -5)"
    w=$(refreshes)
    rm_wait_until 30 after $((w + 10)) || fail "the mirror stopped writing hot lists"
    n=$(grep -c "intelligence file '$INTEL' written again" "$LOG" || true)
    ((n == 1)) || fail "the recovery was said $n times, expected once"
    rm -f "$INTEL"
    mkdir "$INTEL"
    w=$(refreshes)
    rm_wait_until 30 after $((w + 12)) || fail "the mirror stopped writing hot lists"
    n=$(said)
    ((n == 2)) || fail "failing again: said $n times in all, expected twice: $(grep 'not written' "$LOG" | tail -3)"
    ok "written again: said once; failing again: said once more ($n in $(refreshes) refreshes)"
    rm_stop mirror
}

rm_scenario p1024 "a server max_payload of 1024 bytes: event batches fit it, the hot list's failure is said once"
rm_scenario p256  "a server max_payload of 256 bytes: an event too large alone is dropped, counted and said once"
rm_scenario deny  "publishing on the traffic subject denied: nothing counts as published"
rm_scenario stale "a hot list not rewritten for 3 intervals is stale: in the node's /metrics and in recmesh hot" deny
rm_scenario intel "an intelligence file that cannot be written: said once per condition, its recovery once"
rm_scenario_listing

NET=${RM_TEST_NET:-127.71}
rm_start_tree "$NET" 4 4
REC_PORT=$(rm_free_port)
rm_start_recursor rec "$REC_PORT"
D=$RM_TMP/conf
mkdir -p "$D"

rm_scenarios
