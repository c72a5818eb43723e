#!/usr/bin/env bash
# test_mirror.sh - recmesh mirror fed by real pdns_recursor protobuf streams,
# the fleet's authoritative-server table, and contrib/recmesh.lua.
#
# The leaf authoritatives sit behind bench/dnsdelay. First both name servers
# of zones z1..z10 are dead; Recursor A streams its client and outgoing
# traffic to `recmesh mirror`, which fills the hot list and sees the
# timeouts. Then every ns2 comes back, and Recursor C's traffic shows the
# fleet that they answer again, while every ns1 stays dead. `recmesh warm`
# writes the intelligence file and warms two fresh Recursors with the same
# names: B runs contrib/recmesh.lua and never sends a query to a dead server
# (dnsdelay counts what they receive); D does not and does. On the way, a CD=1
# query stays out of the hot list on Recursor 5.2+ (their streams carry the
# query's header bits) and counts on 4.8 (its stream does not).
# Queries that wait on dead servers are sent all at once (ask_all), not one by one.
# RM_TEST_NET overrides the NET prefix (127.56), e.g. to run two copies side by side.
# Each scenario runs alone with RM_SCENARIO=NAME (RM_SCENARIO=list lists them and
# what each needs).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/lib.sh"
LUA=${RECMESH_SRCDIR:-$HERE/../..}/contrib/recmesh.lua

rm_init test_mirror

# plan: zones 1..10 have both servers dead at first; the rest answer after 2 ms
plan() { # $1: "both" or "ns1" (which servers of z1..z10 are dead)
    awk -v mode="$1" '{
        split($1, p, "."); z = substr(p[1], 2) + 0
        first = !(z in seen); seen[z] = 1
        if (z <= 10 && (mode == "both" || first)) print $2, "dead"; else print $2, 2
    }' "$RM_TREE/leaf-servers.txt" >"$RM_TMP/plan.txt"
    rm_spawn dnsdelay "$DNSDELAY" "$NET.254.1:53" "$RM_TMP/plan.txt" "$RM_TMP/relay-counts.txt"
    _rm_wait_for dnsdelay 10 grep -q "relaying" "$RM_TMP/dnsdelay.log" \
        || fail "dnsdelay did not start relaying: $(tail -5 "$RM_TMP/dnsdelay.log")"
}
# ns1_queries: set NS1Q to how many queries the ns1 servers of z1..z10 have received since
# dnsdelay started (it counts each query, a dead server's too, and writes the counts on SIGUSR1)
ns1_queries() {
    local k n
    NS1Q=0
    rm -f "$RM_TMP/relay-counts.txt"
    kill -USR1 "$(rm_pid dnsdelay)"
    rm_wait_until 5 test -e "$RM_TMP/relay-counts.txt" || fail "dnsdelay does not write its counts"
    for k in "${NS1[@]}"; do
        n=$(awk -v a="$k" '$1 == a { print $3 }' "$RM_TMP/relay-counts.txt")
        [[ $n =~ ^[0-9]+$ ]] || fail "dnsdelay has no count for $k: $(cat "$RM_TMP/relay-counts.txt")"
        NS1Q=$((NS1Q + n))
    done
}
# ask_all PORT TAG NAME...: ask the Recursor on PORT for every NAME (type A, +short) at
# once, as background jobs, and wait for all of them: each waits up to rm_dig's 2 s on a
# dead server, one after the other they took a minute. Per NAME: the answer in
# $RM_TMP/ask-TAG/NAME, dig's stderr in NAME.err and its exit status in NAME.rc.
ask_all() {
    local port=$1 dir=$RM_TMP/ask-$2 n pids=()
    shift 2
    mkdir -p "$dir"
    for n in "$@"; do
        # +time=7: a Recursor that tries a dead server first waits 1.5 s for it (its
        # network-timeout) before it asks the next, and a cold one under a loaded machine
        # (the ASan pass, other tests beside) took more than 8 s once; dig's 2 s would cut
        # such an answer off. +tries=3, as a stub resolver: a Recursor silently drops a
        # question that waited over a second before a worker thread took it (its
        # too-old-drops counter), which a loaded machine did once to a fresh Recursor;
        # retried names are counted (retried) and printed
        (rc=0; rm_dig @127.0.0.1 -p "$port" +time=7 +tries=3 +short "$n" A >"$dir/$n" 2>"$dir/$n.err" || rc=$?; echo "$rc" >"$dir/$n.rc") &
        pids+=("$!")
    done
    wait "${pids[@]}"
}
# asked TAG NAME: NAME's answer from ask_all, and true when dig succeeded and gave one; else
# prints what dig said and the Recursor's (rec-TAG) count of questions it dropped as too
# old, and fails.
asked() {
    local dir=$RM_TMP/ask-$1 rc drops
    rc=$(cat "$dir/$2.rc" 2>/dev/null) || rc=missing
    [[ $rc == 0 ]] && grep -qv '^;;' "$dir/$2" 2>/dev/null && return 0
    drops=$(rm_rec_stat "rec-$1" too-old-drops 2>/dev/null) || drops=unknown
    echo "$2: dig status $rc, answer '$(tr '\n' ' ' <"$dir/$2" 2>/dev/null)', said '$(tr '\n' ' ' <"$dir/$2.err" 2>/dev/null)'; rec-$1 too-old-drops: $drops"
    return 1
}
# retried TAG: how many names of the last ask_all TAG got no answer to dig's first try
retried() {
    grep -l 'timed out' "$RM_TMP/ask-$1"/* 2>/dev/null | sed 's/\.err$//' | sort -u | wc -l
}
# stream_conns: the mirror's protobuf connection count, from the counters it logs on SIGUSR1
stream_conns() { grep -o 'protobuf connections=[0-9]*' "$RM_TMP/mirror.log" | tail -1; }
dead_count() { "$RECMESH" ns --nats "$NATS" --cluster t --json 2>/dev/null | grep -c '"state":"dead"' || true; }
all_dead() { [[ $(dead_count) -ge 20 ]]; }
hot_has() { "$RECMESH" hot --nats "$NATS" --cluster t --json --top 1000 | grep -q "\"qname\":\"$1.\""; }
ns2_ok() {
    local ns k
    ns=$("$RECMESH" ns --nats "$NATS" --cluster t --json)
    for k in "${NS2[@]}"; do grep -q "\"address\":\"$k\",\"state\":\"ok\"" <<<"$ns" || return 1; done
    for k in "${NS1[@]}"; do grep -q "\"address\":\"$k\",\"state\":\"dead\"" <<<"$ns" || return 1; done
}
warm_up() { # PORT
    "$RECMESH" warm --target "127.0.0.1:$1" --nats "$NATS" --cluster t --intel-file "$INTEL" --json \
        >"$RM_TMP/warm-$1.json" 2>"$RM_TMP/warm-$1.err" || fail "warm of $1 failed: $(cat "$RM_TMP/warm-$1.err")"
}
bad_counted() { kill -USR1 "$(rm_pid mirror)"; grep -Eq 'bad=[1-9][0-9]* truncated=[1-9]' "$RM_TMP/mirror.log"; }

sc_streams() {
    A_PORT=$(rm_free_port)
    rm_start_recursor rec-a "$A_PORT" "${STREAMS[@]}"
    rm_wait_until 10 grep -q 'protobuf connections=[1-9]' <(kill -USR1 "$(rm_pid mirror)"; sleep 0.2; cat "$RM_TMP/mirror.log") \
        || fail "the Recursor never connected its streams: $(stream_conns)"
    LIVE=()
    for i in $(seq 11 20); do LIVE+=("www.$(rm_zone "$i")"); done
    # the names of z1..z10 get no answer (both servers dead); those of z11..z20 must
    ask_all "$A_PORT" a "${NAMES[@]}" "${LIVE[@]}"
    for n in "${LIVE[@]}"; do why=$(asked a "$n") || fail "A, with z11..z20 alive: $why"; done
    rm_wait_until 15 all_dead || fail "the NS table does not show 20 dead servers: $("$RECMESH" ns --nats "$NATS" --cluster t 2>&1)"
    ok "recmesh ns: all 20 servers of z1..z10 dead after A's timeouts"
    ns=$("$RECMESH" ns --nats "$NATS" --cluster t --json)
    grep -q "\"address\":\"$NET.1.1\",\"state\":\"ok\"" <<<"$ns" || grep -q "\"address\":\"$NET.1.2\",\"state\":\"ok\"" <<<"$ns" \
        || fail "TLD servers missing or not ok: $ns"
    grep -Eq "\"address\":\"${NS1[0]}\",\"state\":\"dead\",\"rtt_ms\":0.000,\"answers\":0,\"timeouts\":[2-9]" <<<"$ns" || fail "ns1 of z1: $ns"
    ok "answering servers are ok, with RTTs; dead ones have timeouts and no answers"
    rm_wait_until 10 bash -c "'$RECMESH' hot --nats '$NATS' --cluster t --json --top 100 | grep -q '\"qname\":\"www.z15.org.\"'" \
        || fail "the hot list from the client stream lacks www.z15.org: $("$RECMESH" hot --nats "$NATS" --cluster t --top 100 2>&1)"
    ok "the hot list fills from the client stream"
}

sc_cdbits() {
    # 5.2+ logs a client query's RD/CD and DO in the query's message; the mirror gives them to the
    # response's event. 4.8 logs none: the event says RD only, and the query counts (README).
    CDNAME=n5.z16.com MARK=n6.z17.net
    "$RECMESH" events --nats "$NATS" --cluster t --json >"$RM_TMP/cd-events.out" 2>"$RM_TMP/cd-events.err" &
    EVPID=$!
    rm_wait_until 5 grep -q listening "$RM_TMP/cd-events.err" || fail "recmesh events did not subscribe: $(cat "$RM_TMP/cd-events.err")"
    out=$(rm_dig @127.0.0.1 -p "$A_PORT" +cd +dnssec +short "$CDNAME" A) || fail "A: no answer to $CDNAME with CD=1: $out"
    rm_wait_until 10 grep -q "\"qname\":\"$CDNAME.\"" "$RM_TMP/cd-events.out" \
        || fail "no event for $CDNAME: $(cat "$RM_TMP/cd-events.out")"
    kill "$EVPID"; wait "$EVPID" || true
    ev=$(grep "\"qname\":\"$CDNAME.\"" "$RM_TMP/cd-events.out" | head -1)
    echo "    event of the CD=1 query: $ev"
    # the event is out, so the publisher has taken it; a name asked after it shows when a later list is in
    out=$(rm_dig @127.0.0.1 -p "$A_PORT" +short "$MARK" A) || fail "A: no answer to $MARK: $out"
    rm_wait_until 10 hot_has "$MARK" || fail "$MARK never entered the hot list"
    kill -USR1 "$(rm_pid mirror)"
    rm_wait_until 5 grep -q 'client-queries=' "$RM_TMP/mirror.log" || fail "no protobuf counters: $(tail -3 "$RM_TMP/mirror.log")"
    cq=$(grep -o 'client-queries=[0-9]*' "$RM_TMP/mirror.log" | tail -1)
    if [[ $RM_RECURSOR == 4.8 ]]; then
        grep -q '"rd":true,"cd":false,"do":false' <<<"$ev" || fail "4.8's stream has no header bits, the event should say RD only: $ev"
        hot_has "$CDNAME" || fail "4.8: the CD=1 query should count for the hot list as documented, it does not"
        [[ $cq == client-queries=0 ]] || fail "4.8 logs no header bits, yet $cq"
        ok "4.8: no header bits in the stream ($cq): the CD=1 query counts for the hot list, as documented"
    else
        grep -q '"rd":true,"cd":true,"do":true' <<<"$ev" || fail "the event should carry the query's RD, CD and DO: $ev"
        hot_has "$CDNAME" && fail "the CD=1 query $CDNAME entered the hot list"
        [[ $cq != client-queries=0 ]] || fail "the Recursor's query messages were not taken: $cq"
        ok "$RM_RECURSOR: the CD=1 query's event has RD, CD and DO ($cq); it stays out of the hot list while $MARK, asked after it, is in"
        out=$(rm_dig @127.0.0.1 -p "$A_PORT" +short "$CDNAME" A) || fail "A: no answer to $CDNAME: $out"
        rm_wait_until 10 hot_has "$CDNAME" || fail "$CDNAME with CD=0 never entered the hot list"
        ok "the same name with CD=0 enters the hot list"
    fi
}

sc_ns2() {
    rm_stop dnsdelay
    plan ns1
    C_PORT=$(rm_free_port)
    rm_start_recursor rec-c "$C_PORT" "${STREAMS[@]}"
    rm_wait_until 10 grep -q 'protobuf connections=[2-9]' <(kill -USR1 "$(rm_pid mirror)"; sleep 0.2; cat "$RM_TMP/mirror.log") \
        || fail "Recursor C never connected its streams: $(stream_conns)"
    ask_all "$C_PORT" c "${NAMES[@]}"
    for n in "${NAMES[@]}"; do why=$(asked c "$n") || fail "C got no answer with ns2 back: $why"; done
    rm_wait_until 15 ns2_ok || fail "after C's answers: $("$RECMESH" ns --nats "$NATS" --cluster t 2>&1)"
    ok "the 10 ns2 servers are ok again, the 10 ns1 servers still dead ($(retried c) of C's names needed another try)"
}

sc_intel() {
    INTEL=$RM_TMP/intel/intel.txt
    B_PORT=$(rm_free_port)
    D_PORT=$(rm_free_port)
    RECMESH_INTEL_FILE=$INTEL rm_start_recursor rec-b "$B_PORT" "lua-dns-script=$LUA"
    rm_start_recursor rec-d "$D_PORT"
    # One warm-up after the other, so that the queries the dead ns1 servers receive (counted by
    # dnsdelay) tell which Recursor sent them. B's warm-up writes the intelligence file.
    # outgoing-timeouts alone cannot tell: for 27 to 30 queries sent to the dead servers, 4.8.8
    # counted each, 5.2.13 and 5.4.9 0 to 4 (their speed tables held each dead one at 1500 ms).
    ns1_queries; q0=$NS1Q
    warm_up "$B_PORT"
    ns1_queries; q_b=$((NS1Q - q0)); q0=$NS1Q
    warm_up "$D_PORT"
    ns1_queries; q_d=$((NS1Q - q0))
    [[ $(grep -c '^dead ' "$INTEL") -eq 10 ]] || fail "intel file: $(cat "$INTEL")"
    for k in "${NS1[@]}"; do grep -qx "dead $k" "$INTEL" || fail "$k missing from the intel file: $(cat "$INTEL")"; done
    ok "intelligence file lists exactly the 10 dead ns1 servers"
    for t in "$B_PORT" "$D_PORT"; do
        grep -q '"NOERROR":' "$RM_TMP/warm-$t.json" || fail "warm-up of $t: $(cat "$RM_TMP/warm-$t.json")"
    done
    b_to=$(rm_rec_stat rec-b outgoing-timeouts) || fail "cannot read outgoing-timeouts of Recursor rec-b"
    d_to=$(rm_rec_stat rec-d outgoing-timeouts) || fail "cannot read outgoing-timeouts of Recursor rec-d"
    [[ $q_b -eq 0 ]] || fail "B (with recmesh.lua) sent $q_b queries to the dead ns1 servers"
    [[ $b_to -eq 0 ]] || fail "B (with recmesh.lua) had $b_to outgoing timeouts"
    [[ $q_d -gt 0 ]] || fail "D (without the script) sent no query to the dead ns1 servers: the test proves nothing"
    ok "warm-up: B sent 0 queries to the dead servers (0 outgoing timeouts); D (no script) sent $q_d ($d_to outgoing timeouts)"
    ask_all "$B_PORT" b "${NAMES[@]}"
    for n in "${NAMES[@]}"; do why=$(asked b "$n") || fail "B has no answer: $why"; done
    ok "B answers every name in the zones with a dead ns1 ($(retried b) needed another try)"
}

sc_corrupt() {
    printf 'garbage\n' >"$INTEL"
    E_PORT=$(rm_free_port)
    RECMESH_INTEL_FILE=$INTEL rm_start_recursor rec-e "$E_PORT" "lua-dns-script=$LUA"
    ns1_queries; q0=$NS1Q
    ask_all "$E_PORT" e "${NAMES[@]}"
    for n in "${NAMES[@]}"; do why=$(asked e "$n") || fail "E (corrupt file) has no answer: $why"; done
    ns1_queries; q_e=$((NS1Q - q0))
    e_to=$(rm_rec_stat rec-e outgoing-timeouts) || fail "cannot read outgoing-timeouts of Recursor rec-e"
    [[ $q_e -gt 0 ]] || fail "a corrupt file still made E skip servers: it sent no query to the dead ns1 servers"
    ok "corrupt file: E behaves like a Recursor without the script ($q_e queries to the dead servers, $e_to outgoing timeouts; every name answered, $(retried e) needed another try)"
}

sc_hostile() {
    exec 3<>"/dev/tcp/127.0.0.1/$PB_PORT"
    printf '\x00\x05\xff\xff\xff\xff\xff\x00\x00\x00\x03\x08' >&3 # a bad frame, an empty one, a truncated one
    exec 3>&-
    # the counters are logged on SIGUSR1: ask again while waiting, the frames may still be in flight
    rm_wait_until 5 bad_counted || fail "counters: $(grep 'protobuf connections' "$RM_TMP/mirror.log" | tail -1)"
    out=$(rm_dig @127.0.0.1 -p "$A_PORT" +short "www.$(rm_zone 12)" A 2>&1) || true
    [[ $out == 198.18.0.111 ]] || fail "A stopped answering: www.$(rm_zone 12) A gave '$out', expected 198.18.0.111"
    kill -0 "$(rm_pid mirror)" || fail "the mirror died: $(tail -5 "$RM_TMP/mirror.log")"
    ok "garbage, empty and truncated frames counted; the mirror keeps running"
}

rm_scenario streams "Recursor A streams to recmesh mirror; both servers of z1..z10 are dead"
rm_scenario cdbits  "header bits: a CD=1 query stays out of the hot list (Recursor 5.2+), counts on 4.8" streams
rm_scenario ns2     "every ns2 answers again; Recursor C's traffic shows it" streams
rm_scenario intel   "recmesh warm with the intelligence file: B runs recmesh.lua, D does not" ns2
rm_scenario corrupt "a corrupt or missing intelligence file changes nothing" intel
rm_scenario hostile "hostile protobuf input" streams
rm_scenario_listing

NET=${RM_TEST_NET:-127.56}
export RM_LEAF_BACKEND=$NET.254.1
rm_start_tree "$NET" 20 10
plan both
mapfile -t NS1 < <(awk '{ split($1, p, "."); z = substr(p[1], 2) + 0; if (z <= 10 && !(z in s)) { s[z] = 1; print $2 } }' "$RM_TREE/leaf-servers.txt")
mapfile -t NS2 < <(awk '{ split($1, p, "."); z = substr(p[1], 2) + 0; if (z <= 10 && (z in s)) print $2; s[z] = 1 }' "$RM_TREE/leaf-servers.txt")
[[ ${#NS1[@]} -eq 10 && ${#NS2[@]} -eq 10 ]] || fail "plan: ${#NS1[@]} ns1, ${#NS2[@]} ns2"

NATS_PORT=$(rm_free_port)
NATS=nats://127.0.0.1:$NATS_PORT
rm_start_nats nats "$NATS_PORT"
PB_PORT=$(rm_free_port)
rm_spawn mirror "$RECMESH" mirror --protobuf-listen "127.0.0.1:$PB_PORT" --nats "$NATS" \
    --cluster t --node m1 --hot-interval 0.5 --stats-interval 0
_rm_wait_for mirror 10 grep -q 'listening for the Recursor' "$RM_TMP/mirror.log" \
    || fail "recmesh mirror does not listen: $(tail -5 "$RM_TMP/mirror.log")"
STREAMS=("protobuf=127.0.0.1:$PB_PORT" "outgoing-protobuf=127.0.0.1:$PB_PORT")

NAMES=()
for i in $(seq 1 10); do NAMES+=("www.$(rm_zone "$i")" "n1.$(rm_zone "$i")" "n2.$(rm_zone "$i")"); done

rm_scenarios
