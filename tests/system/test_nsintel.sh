#!/usr/bin/env bash
# test_nsintel.sh - hostile authoritative-server tables, the node's
# intelligence file and hot-list requests, against a real nats-server and a
# real `recmesh mirror`.
#
# Shows what an operator relies on: tables from the future are ignored;
# counters that would wrap saturate (a truly dead server stays dead) and old
# evidence makes no server dead; `recmesh ns --json` stays valid JSON; tables
# of version 1 and 2 (NS names) merge, and one with a bad name is refused; a node
# refuses a missing directory for its --intel-file and says so once, writes
# when it exists, lists at most --intel-max-entries servers (the strongest
# evidence first) and replaces a symlink at the file's name without writing
# through it; hot.get requests are answered only to inboxes, once per
# requester, within a rate, so 600 requests do not make 600 answers; a
# hot list larger than the readers' byte budget is not read whole.
# RM_TEST_NET overrides the NET prefix (127.63), e.g. to run two copies side by side.
# Each scenario runs alone with RM_SCENARIO=NAME (RM_SCENARIO=list lists them and
# what each needs).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/lib.sh"

rm_init test_nsintel

put_table() { # KEY TEXT: one node's table
    rm_nats_pub "$NATS_PORT" "\$KV.recmesh_ns.$1" "$2" || fail "cannot put '$1'"
}
ns_json() { "$RECMESH" ns --nats "$NATS" --cluster t --json 2>"$RM_TMP/ns.err"; }
bucket_ready() { put_table t.probe "#recmesh-ns 1 node=probe time=$(date +%s)\n" && ns_json >/dev/null; }
# three more intervals (each tries the file again before writing the hot list)
intervals_after_error() {
    [[ $(sed -n '/does not exist/,$p' "$RM_TMP/mirror.log" | grep -c 'hot list written') -ge 3 ]]
}

sc_hostile() {
    now=$(date +%s)
    put_table t.future "#recmesh-ns 1 node=future time=$((now + 3600))\n192.0.2.9 0 0 9 9 0 $((now + 3600)) $((now + 3600))\n"
    put_table t.itemfuture "#recmesh-ns 1 node=itemfuture time=$now\n192.0.2.9 0 0 9 9 0 $((now + 3600)) $((now + 3600))\n"
    put_table t.sat1 "#recmesh-ns 1 node=sat1 time=$now\n192.0.2.1 0 0 4294967295 4294967295 0 $((now - 5)) $((now - 5))\n192.0.2.2 1000000 18446744073709551615 0 0 $((now - 5)) 0 $((now - 5))\n192.0.2.4 0 0 3 3 0 $((now - 5)) $((now - 5))\n"
    # 192.0.2.4 is reported by two nodes (dead); 192.0.2.5 by one only (not dead in a fleet)
    put_table t.sat2 "#recmesh-ns 1 node=sat2 time=$now\n192.0.2.1 0 0 5 5 0 $((now - 4)) $((now - 4))\n192.0.2.2 20 18446744073709551615 18446744073709551615 0 $((now - 4)) 0 $((now - 4))\n192.0.2.4 0 0 1 1 0 $((now - 4)) $((now - 4))\n192.0.2.5 0 0 999 999 0 $((now - 4)) $((now - 4))\n"
    put_table t.old "#recmesh-ns 1 node=old time=$now\n192.0.2.3 0 0 9 9 0 $((now - 700)) $((now - 700))\n"
    # one writer repeating an address, or speaking for another node: refused whole
    put_table t.dup "#recmesh-ns 1 node=dup time=$now\n192.0.2.6 0 0 9 9 0 $((now - 4)) $((now - 4))\n192.0.2.6 0 0 9 9 0 $((now - 4)) $((now - 4))\n"
    put_table t.liar "#recmesh-ns 1 node=sat1 time=$now\n192.0.2.6 0 0 9 9 0 $((now - 4)) $((now - 4))\n"
    ns_json >"$RM_TMP/ns.json" || fail "recmesh ns failed: $(cat "$RM_TMP/ns.err")"
    python3 -c '
import json, sys
for line in open(sys.argv[1]):
    json.loads(line)
' "$RM_TMP/ns.json" 2>"$RM_TMP/json.err" || fail "recmesh ns --json is not JSON: $(cat "$RM_TMP/json.err") in $(cat "$RM_TMP/ns.json")"
    grep -q "ignoring NS table 't.future': time in the future" "$RM_TMP/ns.err" || fail "the future table: $(cat "$RM_TMP/ns.err")"
    grep -q "ignoring NS table 't.itemfuture': time after the table's on line 2" "$RM_TMP/ns.err" || fail "the table with a future item: $(cat "$RM_TMP/ns.err")"
    grep -q '192.0.2.9' "$RM_TMP/ns.json" && fail "a refused table's server shows: $(cat "$RM_TMP/ns.json")"
    ok "tables from the future are refused whole: $(grep -c ignoring "$RM_TMP/ns.err") warnings"
    grep -q "ignoring NS table 't.dup': duplicate address on line 3" "$RM_TMP/ns.err" || fail "the repeated address: $(cat "$RM_TMP/ns.err")"
    grep -q "ignoring NS table 't.liar': its header names node 'sat1'" "$RM_TMP/ns.err" || fail "the table under another key: $(cat "$RM_TMP/ns.err")"
    grep -q '192.0.2.6' "$RM_TMP/ns.json" && fail "a refused table's server shows: $(grep 192.0.2.6 "$RM_TMP/ns.json")"
    grep -q '"address":"192.0.2.5","state":"ok"' "$RM_TMP/ns.json" || fail "one node's run of 999 made it dead: $(grep 192.0.2.5 "$RM_TMP/ns.json")"
    grep -q '"address":"192.0.2.4","state":"dead"' "$RM_TMP/ns.json" || fail "two nodes' runs: $(grep 192.0.2.4 "$RM_TMP/ns.json")"
    ok "a repeated address or another node's name: refused; one node's run alone makes no server dead, two do"
    grep -q '"address":"192.0.2.1","state":"dead","rtt_ms":0.000,"answers":0,"timeouts":4294967300,"streak":4294967295,' "$RM_TMP/ns.json" \
        || fail "streaks wrapped: $(grep 192.0.2.1 "$RM_TMP/ns.json")"
    grep -q '"address":"192.0.2.2","state":"slow","rtt_ms":500010.000,"answers":18446744073709551615,"timeouts":18446744073709551615,' "$RM_TMP/ns.json" \
        || fail "answers wrapped or the RTT is off: $(grep 192.0.2.2 "$RM_TMP/ns.json")"
    ok "counters saturate: $(grep 192.0.2.1 "$RM_TMP/ns.json")"
    grep -q '"address":"192.0.2.3","state":"ok"' "$RM_TMP/ns.json" || fail "old evidence: $(grep 192.0.2.3 "$RM_TMP/ns.json")"
    ok "a run of timeouts 700 s old makes no server dead"
}

sc_v2() {
    put_table t.v2 "#recmesh-ns 2 node=v2 time=$now\n192.0.2.4 0.000 0 0 0 0 0 $((now - 3)) ns1.example.@$((now - 3)),ns2.example.@$((now - 9))\n192.0.2.10 12.000 5 0 0 $((now - 3)) 0 $((now - 3)) ns.example.net.@$((now - 3))\n"
    put_table t.badname "#recmesh-ns 2 node=badname time=$now\n192.0.2.11 1 1 0 0 $((now - 3)) 0 $((now - 3)) NS.Example.@$((now - 3))\n"
    ns_json >"$RM_TMP/ns2.json" || fail "recmesh ns failed: $(cat "$RM_TMP/ns.err")"
    grep -q "ignoring NS table 't.badname': bad names on line 2" "$RM_TMP/ns.err" || fail "the table with a bad name: $(cat "$RM_TMP/ns.err")"
    grep -q '192.0.2.11' "$RM_TMP/ns2.json" && fail "a refused table's server shows: $(grep 192.0.2.11 "$RM_TMP/ns2.json")"
    grep -q '"address":"192.0.2.4","state":"dead",.*"nodes":3,.*"names":\["ns1.example.","ns2.example."\]' "$RM_TMP/ns2.json" \
        || fail "192.0.2.4 from two version 1 tables and a version 2 one: $(grep 192.0.2.4 "$RM_TMP/ns2.json")"
    grep -q '"address":"192.0.2.10","state":"ok","rtt_ms":12.000,.*"names":\["ns.example.net."\]' "$RM_TMP/ns2.json" \
        || fail "192.0.2.10: $(grep 192.0.2.10 "$RM_TMP/ns2.json")"
    ok "version 1 and 2 tables merge: $(grep 192.0.2.4 "$RM_TMP/ns2.json"); a version 2 table with a bad name is refused whole"
}

sc_intel() {
    DIR=$RM_TMP/intel
    INTEL=$DIR/intel.txt
    rm_spawn mirror "$RECMESH" mirror --protobuf-listen "$NET.0.1:$(rm_free_port)" --nats "$NATS" \
        --cluster t --node m1 --hot-interval 0.3 --stats-interval 0 --intel-file "$INTEL" --intel-max-entries 1 -v
    rm_wait_until 20 grep -q "not written: directory '$DIR' does not exist" "$RM_TMP/mirror.log" \
        || fail "no error about the missing directory: $(tail -5 "$RM_TMP/mirror.log")"
    rm_wait_until 20 intervals_after_error || fail "the node stopped writing its hot list: $(tail -5 "$RM_TMP/mirror.log")"
    [[ -e $DIR ]] && fail "the node created '$DIR'"
    n=$(grep -c "does not exist" "$RM_TMP/mirror.log")
    [[ $n -eq 1 ]] || fail "the missing directory was logged $n times: $(grep 'does not exist' "$RM_TMP/mirror.log")"
    ok "a missing directory: refused, said once, not created"
    echo precious >"$RM_TMP/victim"
    # the directory appears with the symlink already in it (the node tries every 0.3 s)
    mkdir "$DIR.new"
    ln -s "$RM_TMP/victim" "$DIR.new/intel.txt"
    mv "$DIR.new" "$DIR"
    rm_wait_until 20 test -f "$INTEL" -a ! -L "$INTEL" || fail "the file was not written: $(tail -5 "$RM_TMP/mirror.log")"
    [[ $(cat "$RM_TMP/victim") == precious ]] || fail "written through the symlink: $(cat "$RM_TMP/victim")"
    grep -q "intelligence file '$INTEL' written again" "$RM_TMP/mirror.log" || fail "no message once it works: $(tail -5 "$RM_TMP/mirror.log")"
    ok "once the directory exists the file is written; the symlink at its name is replaced, its target untouched"
    if [[ $(grep -c '^dead ' "$INTEL") -ne 1 ]] || ! grep -qx 'dead 192.0.2.1' "$INTEL"; then
        fail "--intel-max-entries 1 should keep the longest run (192.0.2.1): $(cat "$INTEL")"
    fi
    grep -q "1 dead server(s) beyond --intel-max-entries 1 left out" "$RM_TMP/mirror.log" || fail "the bound was not logged: $(grep intel "$RM_TMP/mirror.log")"
    ok "--intel-max-entries 1: only the strongest evidence, $(tail -1 "$INTEL"); the bound is logged"
    [[ -z $(find "$DIR" -name 'intel.txt.tmp.*') ]] || fail "temporary files left: $(ls "$DIR")"
}

sc_hotget() {
    exec {fd}<>"/dev/tcp/127.0.0.1/$NATS_PORT"
    t0=$EPOCHREALTIME
    {
        # only our own reply subjects: the node's own JetStream traffic uses inboxes too
        printf 'CONNECT {"verbose":false}\r\nSUB _INBOX.*.x 1\r\nSUB evil.> 2\r\nPING\r\n'
        for i in $(seq 200); do printf 'PUB recmesh.t.hot.get evil.%d 0\r\n\r\n' "$i"; done
        for i in $(seq 200); do printf 'PUB recmesh.t.hot.get _INBOX.same.x 0\r\n\r\n'; done
        for i in $(seq 200); do printf 'PUB recmesh.t.hot.get _INBOX.f%d.x 0\r\n\r\n' "$i"; done
        printf 'PING\r\n'
    } >&"$fd"
    t1=$EPOCHREALTIME
    # collect until nothing came for 2 s (the node answers at once; a generous quiet time)
    : >"$RM_TMP/replies.txt"
    while IFS= read -r -t 2 line <&"$fd"; do
        [[ $line == MSG\ * ]] && echo "$line" >>"$RM_TMP/replies.txt"
    done
    exec {fd}>&-
    evil=$(grep -c '^MSG evil\.' "$RM_TMP/replies.txt" || true)
    same=$(grep -c '^MSG _INBOX\.same\.x ' "$RM_TMP/replies.txt" || true)  # one message per answer: the list is empty, one chunk
    fresh=$(grep '^MSG _INBOX\.f' "$RM_TMP/replies.txt" | awk '{ print $2 }' | sort -u | wc -l)
    bound=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", 10 + 2 * (b - a + 2) + 1 }')
    [[ $evil -eq 0 ]] || fail "$evil replies to a subject that is not an inbox"
    [[ $same -eq 1 ]] || fail "one requester (_INBOX.same) got $same answers to 200 requests"
    ((fresh >= 1 && fresh + same <= bound)) || fail "200 fresh inboxes got $fresh answers, the bound is $bound"
    ok "600 requests: 0 answers to non-inbox replies, 1 to one requester, $fresh to 200 fresh inboxes (bucket bound $bound)"
    for why in "its reply subject is not an inbox" "it asked again within the interval" "the request rate limit"; do
        n=$(grep -c "not answered: $why" "$RM_TMP/mirror.log" || true)
        [[ $n -eq 1 ]] || fail "'$why' logged $n times"
    done
    ok "each kind of refusal logged once"
}

sc_budget() {
    # a head announcing 80 chunks and 79 continuation keys of about 900 kB each
    # (72 MB): a reader stops reading once it holds the budget (32 MB)
    python3 - "$NATS_PORT" "$(date +%s)" <<'PY' || fail "cannot put the hostile hot list"
import socket, sys
port, now = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b'CONNECT {"verbose":false}\r\n')
for c in range(80):
    head = "#recmesh-hot 1 node=big time=%s gen=1 chunk=%d/80\n" % (now, c)
    body = (head + "".join("1 A n%d-%d.example.\n" % (c, i) for i in range(45000)))[:900000].encode()
    key = "t.big" if c == 0 else "t.big.%d" % c
    s.sendall(b"PUB $KV.recmesh_hot.%s %d\r\n" % (key.encode(), len(body)) + body + b"\r\n")
s.sendall(b"PING\r\n")
buf = b""
while b"PONG" not in buf and b"-ERR" not in buf:
    d = s.recv(4096)
    if not d:
        break
    buf += d
sys.exit(0 if b"PONG" in buf else 1)
PY
    "$RECMESH" hot --nats "$NATS" --cluster t --top 10 >"$RM_TMP/hot.out" 2>"$RM_TMP/hot.err" || true
    grep -q "hot list of node 'big' given up after reading [0-9]* of its 80 keys: over the byte budget of 33554432 bytes" "$RM_TMP/hot.err" \
        || fail "the reader did not stop at the budget: $(grep -v '^ *$' "$RM_TMP/hot.err" | head -5)"
    read_keys=$(sed -n "s/.*given up after reading \([0-9]*\) of its 80 keys.*/\1/p" "$RM_TMP/hot.err" | head -1)
    ((read_keys < 80)) || fail "all $read_keys keys were read"
    ok "a hot list beyond the byte budget: given up after $read_keys of 80 keys, not all held"
}

sc_stopping() {
    # the node's responder runs on a NATS client thread: shutdown must wait for a
    # running callback before it frees what the callback uses. A smoke test: the
    # window is narrow, and this flood did not make the old code fail even under ASan.
    python3 - "$NATS_PORT" "$RM_TMP/flood.started" <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b'CONNECT {"verbose":false}\r\n')
end, n = time.monotonic() + 30, 0
try:
    while time.monotonic() < end:
        s.sendall(b"".join(b"PUB recmesh.t.hot.get _INBOX.flood%d.x 0\r\n\r\n" % (n + i) for i in range(100)))
        n += 100
        if n == 1000:
            open(sys.argv[2], "w").write("started\n")
except OSError:
    pass
PY
    flood=$!
    rm_wait_until 20 test -s "$RM_TMP/flood.started" || fail "the request flood did not start"
    mpid=$(rm_pid mirror)
    kill -TERM "$mpid"
    status=0
    wait "$mpid" || status=$?
    kill "$flood" 2>/dev/null || true
    wait "$flood" 2>/dev/null || true
    [[ $status -eq 0 ]] || fail "the node exited with status $status while answering: $(tail -5 "$RM_TMP/mirror.log")"
    grep -q "AddressSanitizer" "$RM_TMP/mirror.log" && fail "$(grep -A3 AddressSanitizer "$RM_TMP/mirror.log" | head -5)"
    grep -q "info: stopped" "$RM_TMP/mirror.log" || fail "the node did not say it stopped: $(tail -3 "$RM_TMP/mirror.log")"
    ok "SIGTERM during a flood of hot.get requests: the node stops cleanly (status 0)"
}

rm_scenario hostile  "hostile tables"
rm_scenario v2       "version 2 tables (NS names) beside version 1 ones, as in a fleet being upgraded" hostile
rm_scenario intel    "the node's intelligence file" hostile
rm_scenario hotget   "hot.get: inboxes only, once per requester, a rate for all" intel
rm_scenario budget   "a hostile hot list larger than the readers' byte budget" intel
rm_scenario stopping "stopping while hot.get requests keep coming" intel
rm_scenario_listing

NET=${RM_TEST_NET:-127.63}
NATS_PORT=$(rm_free_port)
NATS=nats://127.0.0.1:$NATS_PORT
rm_start_nats nats "$NATS_PORT"

rm_nats_ns_bucket "$NATS_PORT" || fail "cannot reach nats-server on $NATS_PORT"
rm_wait_until 20 bucket_ready || fail "the bucket recmesh_ns does not work: $(cat "$RM_TMP/ns.err")"

rm_scenarios
