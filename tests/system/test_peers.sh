#!/usr/bin/env bash
# test_peers.sh - recmesh proxy --peer: no client query lost while the Recursor behind it restarts.
#
# Two Recursors on the hermetic tree; proxy A in front of Recursor A with
# --auto-warm and --peer <Recursor B>. Client loops through proxy A, two over
# UDP and one over TCP, check every answer (NOERROR with an address) while
# Recursor A is stopped, left down for a second and started again. Every query
# is answered; the peer was asked while A was down and while it was warmed,
# and no more once the warm-up is over; the in-flight and rate counters stay
# within their limits. Then the limits themselves (--peer-max-qps,
# --peer-max-inflight) against a dead upstream, and a --peer where nothing
# listens: clients of a dead upstream get what they get without peers (UDP
# silence, TCP SERVFAIL) and the peer is benched and logged once. Last, the
# shield by name: while Recursor C is warmed (slowly, 1 name a second) behind
# proxy C, a query for a name the warm-up has not answered goes to the peer at
# once (no waiting for the 2 s hedge delay), one for a name it answered, or
# that C answered a client, goes to C only; --shield-max ends the shield while
# the warm-up still runs, and it stays off.
# RM_TEST_NET overrides the NET prefix (127.59).
# Each scenario runs alone with RM_SCENARIO=NAME (RM_SCENARIO=list lists them and what each needs).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/lib.sh"

rm_init test_peers

ready_ns() { [[ $(rm_dig @127.0.0.1 -p "$1" . NS) == *"status: NOERROR"* ]]; }
# metric NAME_AND_LABELS PORT: the value of one sample on /metrics
metric() {
    rm_http_get "$2" /metrics | awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print "none" }'
}
peer_sent() {
    echo $(($(metric 'recmesh_peer_queries_total{phase="down"}' "$1") + $(metric 'recmesh_peer_queries_total{phase="warming"}' "$1") \
        + $(metric 'recmesh_peer_queries_total{phase="warming_cold"}' "$1")))
}

# load NAME [+tcp]: ask the names in a loop until $RM_TMP/stop exists; one line per query:
# "ok NAME", or "lost NAME" (no answer within 3 s) or "bad NAME STATUS"
load() {
    local out name st
    # (and while the test runs: a loop must not outlive a test that failed)
    while [[ ! -e $RM_TMP/stop ]] && kill -0 $$ 2>/dev/null; do
        for name in "${NAMES[@]}"; do
            if ! out=$(dig +tries=1 +time=3 $2 @127.0.0.1 -p "$PA_PORT" "$name" A 2>&1); then
                echo "lost $name"
            elif [[ $out == *"status: NOERROR"* && $out == *$'\tA\t198.18.'* ]]; then
                echo "ok $name"
            else
                st=$(grep -o 'status: [A-Z]*' <<<"$out" || echo "no status")
                echo "bad $name $st"
            fi
            [[ -e $RM_TMP/stop ]] && break
        done
    done >"$RM_TMP/load-$1.txt"
}
lines() { cat "$RM_TMP/load-$1.txt" 2>/dev/null | wc -l; }
at_least() { local l; for l in "${LOADS[@]}"; do (($(lines "$l") >= $1)) || return 1; done; }

sc_restart() {
    # the client loops, through proxy A
    LOADS=(udp1 udp2 tcp)
    load udp1 "" & L1=$!
    load udp2 "" & L2=$!
    load tcp +tcp & L3=$!
    rm_wait_until 60 at_least 20 || fail "the client loops do not run: $(wc -l "$RM_TMP"/load-*.txt)"
    rm_stop rec-a
    sleep 1 # the restart itself: down for a second (not a wait for a condition)
    rm_start_recursor rec-a "$A_PORT"
    rm_wait_until 90 grep -q "auto-warm: warm-up of '127.0.0.1:$A_PORT'" "$RM_TMP/proxy-a.log" \
        || fail "no auto-warm after the restart: $(grep -i warm "$RM_TMP/proxy-a.log")"
    rm_wait_until 30 grep -q "peers: the upstream's restart was shielded" "$RM_TMP/proxy-a.log" \
        || fail "the shield never ended: $(grep -i peer "$RM_TMP/proxy-a.log")"
    summary=$(grep -o "peers: the upstream's restart was shielded.*" "$RM_TMP/proxy-a.log" | tail -1)
    # one restart, one summary, whatever the number of data path threads (they add up their shares)
    nsum=$(grep -c "peers: the upstream's restart was shielded" "$RM_TMP/proxy-a.log" || true)
    ((nsum == 1)) || fail "$nsum summary lines for one restart, expected 1: $(grep "shielded" "$RM_TMP/proxy-a.log")"
    ok "$summary"
    # /metrics reads the data path's snapshot, published every 0.1 s
    mode_local() { [[ $(metric recmesh_peer_mode "$MA_PORT") == 0 ]]; }
    rm_wait_until 5 mode_local || fail "recmesh_peer_mode is $(metric recmesh_peer_mode "$MA_PORT") after the warm-up, expected 0"
    sent_after=$(peer_sent "$MA_PORT")
    declare -gA base
    for l in "${LOADS[@]}"; do base[$l]=$(lines "$l"); done
    more() { local l; for l in "${LOADS[@]}"; do (($(lines "$l") >= ${base[$l]} + 40)) || return 1; done; }
    rm_wait_until 60 more || fail "the client loops stopped after the warm-up: $(wc -l "$RM_TMP"/load-*.txt)"
    sent_end=$(peer_sent "$MA_PORT")
    touch "$RM_TMP/stop"
    wait "$L1" "$L2" "$L3"

    total=0
    for l in "${LOADS[@]}"; do
        n=$(lines "$l")
        okn=$(grep -c '^ok ' "$RM_TMP/load-$l.txt" || true)
        total=$((total + n))
        ((okn == n)) || fail "client loop $l: $((n - okn)) of $n queries not answered right: $(grep -v '^ok ' "$RM_TMP/load-$l.txt" | sort | uniq -c | head)"
    done
    ok "every one of $total client queries (2 UDP loops, 1 TCP loop) answered across the restart: 0 lost"

    down=$(metric 'recmesh_peer_queries_total{phase="down"}' "$MA_PORT")
    warming=$(metric 'recmesh_peer_queries_total{phase="warming"}' "$MA_PORT")
    cold=$(metric 'recmesh_peer_queries_total{phase="warming_cold"}' "$MA_PORT")
    first=$(metric 'recmesh_peer_results_total{result="first"}' "$MA_PORT")
    maxin=$(metric recmesh_peer_queries_in_flight_max "$MA_PORT")
    shields=$(metric recmesh_peer_shields_total "$MA_PORT")
    ((down > 0 && first > 0)) || fail "the peer was not asked while A was down: down=$down first=$first"
    ((shields == 1)) || fail "recmesh_peer_shields_total is $shields, expected 1"
    ok "the peer was asked $down times while A was down, $warming after the hedge delay and $cold at once (names not warmed yet) while it was warmed; it answered first $first times"
    ((sent_end == sent_after)) || fail "the peer was asked after the warm-up: $sent_after queries at its end, $sent_end after $total more"
    ok "no query went to the peer after the warm-up ($sent_end in all)"
    ((maxin <= 256)) || fail "peer queries in flight peaked at $maxin, over --peer-max-inflight 256"
    ok "peer queries in flight at most $maxin (limit 256)"
    grep -q "peers: the upstream does not answer" "$RM_TMP/proxy-a.log" || fail "no log line when A went down: $(grep peers "$RM_TMP/proxy-a.log")"
}

sc_limits() {
    PL_PORT=$(rm_free_port)
    ML_PORT=$(rm_free_port)
    rm_spawn proxy-l "$RECMESH" proxy --listen "127.0.0.1:$PL_PORT" --upstream "127.0.0.1:$DEAD" \
        --nats "$NATS" --cluster t --node l --stats-interval 0 --upstream-timeout 1 \
        --peer "127.0.0.1:$B_PORT" --peer-max-qps 5 --peer-max-inflight 2 --metrics-listen "127.0.0.1:$ML_PORT" \
        --threads 1 # the limits' exact counts are one thread's (with several each takes its share: test_workers)
    rm_wait_until 10 rm_http_get "$ML_PORT" /metrics || fail "no /metrics on $ML_PORT"
    _rm_now_ms; t0=$REPLY
    for round in 1 2 3; do
        digs=()
        for n in "${NAMES[@]:0:20}"; do
            dig +tries=1 +time=1 @127.0.0.1 -p "$PL_PORT" "$n" A >/dev/null 2>&1 &
            digs+=($!)
        done
        wait "${digs[@]}" || true
    done
    _rm_now_ms; t1=$REPLY
    sent=$(peer_sent "$ML_PORT")
    rate=$(metric 'recmesh_peer_not_sent_total{reason="rate"}' "$ML_PORT")
    inflight=$(metric 'recmesh_peer_not_sent_total{reason="in_flight"}' "$ML_PORT")
    maxin=$(metric recmesh_peer_queries_in_flight_max "$ML_PORT")
    # 5 q/s and a burst of 1, over the proxy's life so far (it started before t0)
    allowed=$(( (t1 - t0) * 5 / 1000 + 1 + 5 ))
    ((sent > 0 && sent <= allowed)) || fail "with --peer-max-qps 5, $sent queries went to the peer in $((t1 - t0)) ms (allowed $allowed)"
    ((rate > 0)) || fail "no query was held back by --peer-max-qps 5 (not sent: rate=$rate in_flight=$inflight)"
    ((maxin <= 2)) || fail "peer queries in flight peaked at $maxin, over --peer-max-inflight 2"
    ok "--peer-max-qps 5: $sent of 60 queries to the peer in $((t1 - t0)) ms, $rate held back; in flight at most $maxin (limit 2)"
    grep -q "over 5 queries per second (--peer-max-qps)" "$RM_TMP/proxy-l.log" || fail "the rate limit was not logged: $(grep peers "$RM_TMP/proxy-l.log")"
    rm_stop proxy-l
}

sc_loops() {
    SELF=$(rm_free_port)
    for l in "127.0.0.1:$SELF" "0.0.0.0:$SELF"; do
        st=0
        "$RECMESH" proxy --listen "$l" --upstream "127.0.0.1:$DEAD" --nats "$NATS" --cluster t --node self \
            --peer "127.0.0.1:$SELF" >"$RM_TMP/self.out" 2>&1 || st=$?
        ((st == 2)) && grep -q "is this proxy's own --listen" "$RM_TMP/self.out" \
            || fail "--listen $l --peer 127.0.0.1:$SELF: status $st: $(cat "$RM_TMP/self.out")"
    done
    ok "a --peer that is the proxy's own --listen (also under 0.0.0.0) is a usage error: $(grep -o "recmesh.*own --listen[^:]*" "$RM_TMP/self.out" | head -1)"
    P1=$(rm_free_port) P2=$(rm_free_port) M1=$(rm_free_port) M2=$(rm_free_port)
    for i in 1 2; do
        lp=P$i other=P$((3 - i)) mp=M$i
        rm_spawn "proxy-loop$i" "$RECMESH" proxy --listen "127.0.0.1:${!lp}" --upstream "127.0.0.1:$DEAD" \
            --nats "$NATS" --cluster t --node "loop$i" --stats-interval 0 --upstream-timeout 1 \
            --peer "127.0.0.1:${!other}" --metrics-listen "127.0.0.1:${!mp}"
    done
    rm_wait_until 10 rm_http_get "$M1" /metrics || fail "proxy-loop1 has no /metrics"
    rm_wait_until 10 rm_http_get "$M2" /metrics || fail "proxy-loop2 has no /metrics"
    dig +tries=1 +time=3 @127.0.0.1 -p "$P1" loop.example A >"$RM_TMP/loop.out" 2>&1 || true
    marked() { [[ $(metric 'recmesh_peer_not_sent_total{reason="from_peer"}' "$M2") -ge 1 ]]; }
    rm_wait_until 5 marked || fail "proxy-loop2 did not see the query as one from a peer: $(rm_http_get "$M2" /metrics | grep peer_)"
    s1=$(peer_sent "$M1") s2=$(peer_sent "$M2")
    ((s1 == 1 && s2 == 0)) || fail "one client query with both upstreams dead: proxy-loop1 asked its peer $s1 times, proxy-loop2 $s2 (expected 1 and 0)"
    grep -q "a query a peer proxy sent goes to the upstream only" "$RM_TMP/proxy-loop2.log" || fail "proxy-loop2 did not say so"
    ok "two proxies peering each other, both upstreams dead, one client query: sent to a peer once (loop1 $s1, loop2 $s2), marked from_peer at loop2"
    rm_stop proxy-loop1
    rm_stop proxy-loop2
}

sc_nopeer() {
    PN_PORT=$(rm_free_port)
    rm_spawn proxy-n "$RECMESH" proxy --listen "127.0.0.1:$PN_PORT" --upstream "127.0.0.1:$DEAD" \
        --nats "$NATS" --cluster t --node n --stats-interval 0 --upstream-timeout 1 \
        --peer "127.0.0.1:$DEAD_PEER"
    rm_wait_until 10 grep -q "peer '127.0.0.1:$DEAD_PEER'" "$RM_TMP/proxy-n.log" || fail "proxy-n did not start: $(tail "$RM_TMP/proxy-n.log")"
    silent=0
    for n in "${NAMES[@]:0:4}"; do
        if out=$(dig +tries=1 +time=2 @127.0.0.1 -p "$PN_PORT" "$n" A 2>&1); then
            fail "a UDP client of a dead upstream got an answer: $out"
        fi
        silent=$((silent + 1))
    done
    ok "$silent UDP queries to a dead upstream with a dead peer: silence, as without peers"
    out=$(dig +tcp +tries=1 +time=5 @127.0.0.1 -p "$PN_PORT" "${NAMES[0]}" A 2>&1) || true
    [[ $out == *"status: SERVFAIL"* ]] || fail "a TCP client of a dead upstream with a dead peer: $out"
    ok "a TCP query: SERVFAIL, as without peers"
    kill -USR1 "$(rm_pid proxy-n)"
    rm_wait_until 5 grep -q "counters: peers " "$RM_TMP/proxy-n.log" || fail "no peers counters: $(grep counters "$RM_TMP/proxy-n.log")"
    line=$(grep -o "counters: peers .*" "$RM_TMP/proxy-n.log" | tail -1)
    [[ $line =~ benched=([0-9]+) ]] && ((BASH_REMATCH[1] >= 1)) || fail "the dead peer was not benched: $line"
    [[ $line =~ first=0 ]] || fail "a dead peer answered: $line"
    [[ $line =~ refused=([0-9]+) ]] && ((BASH_REMATCH[1] >= 1)) || fail "the dead peer's refusals were not counted: $line"
    logged=$(grep -c "peer '127.0.0.1:$DEAD_PEER' refuses queries" "$RM_TMP/proxy-n.log" || true)
    # once: each data path thread keeps its own view of the peers and says its own (recmesh(1) "Threads")
    nthreads=$(rm_data_threads "$(rm_pid proxy-n)")
    ((logged >= 1 && logged <= nthreads)) \
        || fail "the dead peer's bench was logged $logged times, expected once per data path thread ($nthreads) at most: $(grep "peer '" "$RM_TMP/proxy-n.log")"
    ok "the dead peer is benched and logged once: $line"
}

sc_shield() {
    C_PORT=$(rm_free_port)
    PC_PORT=$(rm_free_port)
    MC_PORT=$(rm_free_port)
    rm_start_recursor rec-c "$C_PORT"
    rm_spawn proxy-c "$RECMESH" proxy --listen "127.0.0.1:$PC_PORT" --upstream "127.0.0.1:$C_PORT" \
        --nats "$NATS" --cluster t --node c --hot-interval 0.5 --stats-interval 0 \
        --auto-warm --rec-socket-dir "$RM_TMP/rec-c" --qps 1 --max-qps 1 --upstream-timeout 2 \
        --peer "127.0.0.1:$B_PORT" --peer-hedge-delay 2 --metrics-listen "127.0.0.1:$MC_PORT" --shield-max 15
    rm_wait_until 20 ready_ns "$PC_PORT" || fail "proxy C never answered '. NS' with NOERROR"
    rm_wait_until 10 rm_http_get "$MC_PORT" /metrics || fail "no /metrics on $MC_PORT"
    # the watcher must know C's start before the restart, or it cannot tell one happened
    rm_wait_until 10 grep -q "auto-warm: upstream '127.0.0.1:$C_PORT' up for" "$RM_TMP/proxy-c.log" \
        || fail "proxy C's auto-warm never read C's uptime: $(grep auto-warm "$RM_TMP/proxy-c.log")"
    rm_stop rec-c
    sleep 1 # the restart itself: down for a second (not a wait for a condition)
    rm_start_recursor rec-c "$C_PORT"
    # cached_in_c NAME: Recursor C answers NAME from its cache (RD=0)
    cached_in_c() { [[ $(rm_dig +norecurse @127.0.0.1 -p "$C_PORT" "$1" A) == *$'\tA\t198.18.'* ]]; }
    replayed=
    some_replayed() {
        local n
        for n in "${NAMES[@]}"; do cached_in_c "$n" && { replayed=$n; return 0; }; done
        return 1
    }
    warming_c() { [[ $(metric recmesh_peer_mode "$MC_PORT") == 1 && $(metric recmesh_autowarm_running "$MC_PORT") == 1 ]]; }
    rm_wait_until 30 warming_c || fail "proxy C's shield never saw the warm-up: mode $(metric recmesh_peer_mode "$MC_PORT"), running $(metric recmesh_autowarm_running "$MC_PORT")"
    # Ask C only once the replay has answered a few names: an RD=0 question asked before its name
    # is replayed gets an answer without the record, which C's packet cache then keeps for that
    # question, and the check would not see the replay's answer for it afterwards.
    replay_done() { (($(metric 'recmesh_autowarm_progress_names{state="done"}' "$MC_PORT") >= 3)); }
    rm_wait_until 15 replay_done || fail "the warm-up of C replayed fewer than 3 names: $(grep auto-warm "$RM_TMP/proxy-c.log")"
    rm_wait_until 5 some_replayed || fail "the warm-up of C answered none of the hot names: $(grep auto-warm "$RM_TMP/proxy-c.log")"
    cold_sent() { metric 'recmesh_peer_queries_total{phase="warming_cold"}' "$MC_PORT"; }
    hedged_sent() { metric 'recmesh_peer_queries_total{phase="warming"}' "$MC_PORT"; }
    # a name of the tree nobody asked: not in any hot list, not warmed
    COLD=$(awk '$2 == "A" && $1 ~ /^n1\.z1[0-9]\./ { print $1; exit }' "$RM_TREE/names.txt")
    [[ -n $COLD ]] || fail "no cold name in $RM_TREE/names.txt"
    cached_in_c "$COLD" && fail "$COLD is already in C's cache"
    c0=$(cold_sent) h0=$(hedged_sent) s0=$(peer_sent "$MC_PORT")
    t0=$(date +%s%N)
    out=$(dig +tries=1 +time=3 @127.0.0.1 -p "$PC_PORT" "$COLD" A 2>&1) || fail "no answer for the cold $COLD: $out"
    t1=$(date +%s%N)
    [[ $out == *"status: NOERROR"* && $out == *$'\tA\t198.18.'* ]] || fail "the cold $COLD: $out"
    cold_counted() { (($(cold_sent) == c0 + 1)); }
    rm_wait_until 2 cold_counted || fail "a cold name during the warm-up: peer queries at once $c0 -> $(cold_sent), expected +1"
    (($(hedged_sent) == h0)) || fail "the cold name waited for the hedge: warming $h0 -> $(hedged_sent)"
    ok "a name not warmed yet ($COLD) went to the peer at once, not after the 2 s hedge delay: answered in $(((t1 - t0) / 1000000)) ms, warming_cold $c0 -> $(cold_sent), warming $h0 -> $(hedged_sent)"
    # answered NOERROR by C for that client: warmed now; and the name the replay answered
    s1=$(peer_sent "$MC_PORT")
    for n in "$COLD" "$replayed"; do
        out=$(dig +tries=1 +time=3 @127.0.0.1 -p "$PC_PORT" "$n" A 2>&1) || fail "no answer for $n: $out"
        [[ $out == *"status: NOERROR"* ]] || fail "$n: $out"
    done
    # the snapshot /metrics reads is 0.1 s old at most: wait for it, then compare
    sleep 0.3 # not a wait for a condition: the counter must NOT move; 3 snapshot periods
    s2=$(peer_sent "$MC_PORT")
    ((s2 == s1)) || fail "warmed names went to the peer: $s1 -> $s2 peer queries"
    warming_c || fail "the warm-up ended during the checks: they prove nothing (mode $(metric recmesh_peer_mode "$MC_PORT"))"
    ok "warmed names ($COLD, answered to a client; $replayed, answered to the replay) went to C only: peer queries $s1 -> $s2, still warming"
    # --shield-max 15: the shield ends while the warm-up still runs, and stays off
    shield_off() { [[ $(metric recmesh_peer_mode "$MC_PORT") == 0 ]]; }
    rm_wait_until 30 shield_off || fail "--shield-max 15 did not end the shield: mode $(metric recmesh_peer_mode "$MC_PORT")"
    [[ $(metric recmesh_autowarm_running "$MC_PORT") == 1 ]] || fail "the warm-up ended before --shield-max: the check proves nothing"
    # every data path thread adds its share to the summary when it sees the end: within its 0.1 s sweep
    rm_wait_until 2 grep -q "peers: the upstream's restart was shielded" "$RM_TMP/proxy-c.log" \
        || fail "no summary line at the end of the shield"
    COLD2=$(awk '$2 == "A" && $1 ~ /^n2\.z1[0-9]\./ { print $1; exit }' "$RM_TREE/names.txt")
    s3=$(peer_sent "$MC_PORT")
    modes=
    for i in 1 2 3 4 5 6 7 8 9 10; do
        dig +tries=1 +time=3 @127.0.0.1 -p "$PC_PORT" "$COLD2" A >/dev/null 2>&1 || true
        modes+=$(metric recmesh_peer_mode "$MC_PORT")
        sleep 0.2 # sampling the mode for 2 s: it must stay 0
    done
    s4=$(peer_sent "$MC_PORT")
    running=$(metric recmesh_autowarm_running "$MC_PORT")
    [[ $modes == 0000000000 ]] || fail "the shield came back during the warm-up after --shield-max: modes $modes"
    ((s4 == s3)) || fail "queries went to the peer after --shield-max: $s3 -> $s4"
    ok "--shield-max ended the shield while the warm-up ran (running=$running): mode 0 in 10 samples over 2 s, peer queries $s3 -> $s4; $(grep -o "peers: the upstream's restart was shielded.*" "$RM_TMP/proxy-c.log" | tail -1)"
}

rm_scenario restart "Recursor A restarts under client load"
rm_scenario limits  "the limits, against a dead upstream"
rm_scenario loops   "no loops: a proxy as its own peer is refused; two proxies that peer each other ask each other once"
rm_scenario nopeer  "a --peer where nothing listens: the same as without peers"
rm_scenario shield  "shield by name: names not warmed yet go to a peer at once; --shield-max ends the shield"
rm_scenario_listing

NET=${RM_TEST_NET:-127.59}
rm_start_tree "$NET" 20 10
NATS_PORT=$(rm_free_port)
NATS=nats://127.0.0.1:$NATS_PORT
rm_start_nats nats "$NATS_PORT"
A_PORT=$(rm_free_port)
B_PORT=$(rm_free_port)
PA_PORT=$(rm_free_port)
MA_PORT=$(rm_free_port)
rm_start_recursor rec-a "$A_PORT"
rm_start_recursor rec-b "$B_PORT"
rm_spawn proxy-a "$RECMESH" proxy --listen "127.0.0.1:$PA_PORT" --upstream "127.0.0.1:$A_PORT" \
    --nats "$NATS" --cluster t --node a --hot-interval 0.5 --stats-interval 0 \
    --auto-warm --rec-socket-dir "$RM_TMP/rec-a" --qps 500 --upstream-timeout 2 \
    --peer "127.0.0.1:$B_PORT" --metrics-listen "127.0.0.1:$MA_PORT" --shield-max 60
rm_wait_until 20 ready_ns "$PA_PORT" || fail "proxy A never answered '. NS' with NOERROR"
rm_wait_until 10 rm_http_get "$MA_PORT" /metrics || fail "no /metrics on $MA_PORT"

# the names the clients ask: every zone's www and n4, asked once through A (its hot list) and at B
NAMES=()
for i in $(seq 1 20); do
    tld=$(( (i - 1) % 3 )); tld=$([[ $tld == 0 ]] && echo com || { [[ $tld == 1 ]] && echo net || echo org; })
    NAMES+=("www.z$i.$tld" "n4.z$i.$tld")
done
for n in "${NAMES[@]}"; do
    [[ -n $(rm_dig @127.0.0.1 -p "$PA_PORT" +short "$n" A) ]] || fail "no answer for $n through proxy A"
    [[ -n $(rm_dig @127.0.0.1 -p "$B_PORT" +short "$n" A) ]] || fail "no answer for $n from Recursor B"
done
hot_count() { "$RECMESH" hot --nats "$NATS" --cluster t --json --top 1000 2>/dev/null | grep -c '"qname":"\(www\|n4\)\.z' || true; }
rm_wait_until 10 bash -c "[[ \$($(declare -f hot_count); RECMESH=$RECMESH NATS=$NATS hot_count) -ge 40 ]]" \
    || fail "the hot list never held the 40 names"
ok "${#NAMES[@]} names answered through proxy A and by Recursor B, and in the hot list"

# an upstream and a peer where nothing listens
DEAD=$(rm_free_port)
DEAD_PEER=$(rm_free_port)

rm_scenarios
