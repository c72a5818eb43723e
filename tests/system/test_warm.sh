#!/usr/bin/env bash
# test_warm.sh - recmesh warm and recmesh proxy --auto-warm against real Recursors.
#
# Traffic through the proxy of Recursor A publishes hot names; Recursor B
# starts empty; `recmesh warm` against B; afterwards B has every hot name in
# its cache: a non-recursive query (RD=0, with the replay's DO=1 and CD=0),
# which the Recursor answers from its cache only, gets the record, name by
# name, while a name that was never hot gets none. Replays through A's proxy
# do not inflate A's hot list. Readiness: a Recursor that answers but cannot
# resolve (`. NS` fails) is not warmed. Failure paths: no NATS, no list, a
# target that never answers, stale lists. Without JetStream, the names come
# from the running proxies instead. With --auto-warm, the proxy warms
# Recursor A up again by itself after A restarts, and its counts are checked.
# RM_TEST_NET overrides the NET prefix (127.55). Each scenario runs alone with
# RM_SCENARIO=NAME (RM_SCENARIO=list lists them and what each needs).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/lib.sh"

rm_init test_warm

# ready_ns PORT: the Recursor behind PORT can resolve (`. NS` answered NOERROR), as recmesh waits for
ready_ns() { [[ $(rm_dig @127.0.0.1 -p "$1" . NS) == *"status: NOERROR"* ]]; }
hot_count() { "$RECMESH" hot --nats "$NATS" --cluster t --json --top 1000 2>/dev/null | grep -c '"qname":"\(www\|n4\)\.z' || true; }

# cached PORT NAME TYPE: the Recursor at PORT has NAME TYPE in its cache: a
# non-recursive query (RD=0; DO=1 and CD=0 like the replay's), which it
# answers from its cache alone, gets NOERROR and the record. Prints what it
# got otherwise. (Never ask this before the name was resolved: the Recursor's
# packet cache would keep the empty answer for the same question.)
cached() {
    local out re=${2//./\\.}
    out=$(rm_dig @127.0.0.1 -p "$1" +norec +dnssec +nocdflag "$2" "$3" 2>&1) || { echo "no answer: $out"; return 1; }
    if [[ $out == *"status: NOERROR"* ]] && grep -Eq "^$re\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+$3[[:space:]]" <<<"$out"; then
        return 0
    fi
    grep -E 'status:|flags:|^[^;[:space:]]' <<<"$out" | tr '\n' ' '
    return 1
}

# all_cached PORT WHO: every hot name is cached at PORT (fails the test with what was seen)
all_cached() {
    local entry name type got
    for entry in "${HOT[@]}"; do
        read -r name type <<<"$entry"
        got=$(cached "$1" "$name" "$type") || fail "$2 has no cached answer for $name $type (RD=0 query): $got"
    done
}

# node a's sum: its scores added up (recmesh(1), hot --json), which a replay counted as traffic would raise
list_sum() { "$RECMESH" hot --nats "$NATS" --cluster t --json --top 1 | sed -n 's/.*"node":"a".*"sum":\([0-9.]*\).*/\1/p'; }
stat_lines() { grep -c 'counters: events' "$RM_TMP/proxy.log" || true; }
hot_writes() { grep -o 'counters: events .* hot-writes=[0-9]*' "$RM_TMP/proxy.log" | tail -1 | sed 's/.*=//'; }
writes_grew() { kill -USR1 "$(rm_pid proxy)"; local w; w=$(hot_writes); ((w >= w0 + 2)); }
both() { "$RECMESH" hot --nats "$NATS" --cluster dk --json >"$RM_TMP/dk.out" 2>"$RM_TMP/dk.err" \
    && grep -q old.z1 "$RM_TMP/dk.out" && grep -q new.z1 "$RM_TMP/dk.out"; }
warm_nojs() {
    "$RECMESH" warm --target "127.0.0.1:$B_PORT" --nats "nats://127.0.0.1:$NATS2_PORT" --cluster t2 --json >"$RM_TMP/nojs.out" 2>"$RM_TMP/nojs.err" &&
        grep -q '"names":[4-9]' "$RM_TMP/nojs.out"
}

sc_warm() {
    out=$("$RECMESH" warm --target "127.0.0.1:$B_PORT" --nats "$NATS" --cluster t --json --qps 500) \
        || fail "recmesh warm failed: $out"
    grep -q '"source":"kv","lists":1,"names":4[0-9],' <<<"$out" || fail "summary: $out"
    grep -q '"timeouts":0' <<<"$out" || fail "timeouts during warm-up: $out"
    grep -q '"rcodes":{"NOERROR":4[0-9]}' <<<"$out" || fail "rcodes: $out"
    grep -q '"skipped":\[\],"intel_written":' <<<"$out" || fail "skipped nodes or intel_written missing: $out"
    ok "warm-up ran: $out"
    all_cached "$B_PORT" B
    ok "B has all ${#HOT[@]} hot names in its cache (each answered to a non-recursive query)"
    got=$(cached "$B_PORT" n5.z25.com A) && fail "a never-hot name is in B's cache: $(rm_dig @127.0.0.1 -p "$B_PORT" +norec n5.z25.com A)"
    ok "a name that was never hot is not in B's cache (RD=0 answer: $got)"
}

sc_replay() {
    s1=$(list_sum)
    [[ -n $s1 ]] || fail "no sum for node a's list: $("$RECMESH" hot --nats "$NATS" --cluster t --json --top 1 2>&1)"
    "$RECMESH" warm --target "127.0.0.1:$PROXY_PORT" --nats "$NATS" --cluster t --json --qps 500 >/dev/null \
        || fail "warm through the proxy failed"
    # wait until the proxy has written its list twice since (hot-writes on its counters line, SIGUSR1)
    n0=$(stat_lines)
    kill -USR1 "$(rm_pid proxy)"
    rm_wait_until 5 eval '(( $(stat_lines) > n0 ))' || fail "no counters line after SIGUSR1: $(tail -3 "$RM_TMP/proxy.log")"
    w0=$(hot_writes)
    rm_wait_until 10 writes_grew || fail "the hot list was not rewritten twice: hot-writes $w0 -> $(hot_writes)"
    s2=$(list_sum)
    # without traffic the sum only decays; the replay asked ${#HOT[@]} names, each would have added 1
    awk -v a="$s1" -v b="$s2" 'BEGIN { exit !(b <= a + 0.5) }' || fail "node a's sum grew from $s1 to $s2"
    ok "node a's sum $s1 -> $s2 after replaying every name through the proxy (list rewritten: hot-writes $w0 -> $(hot_writes))"
}

sc_readiness() {
    # its only root server is an address nothing listens on: '. NS' fails at once
    C_PORT=$(rm_free_port)
    printf '. 3600000 IN NS a.root.test.\na.root.test. 3600000 IN A %s.250.250\n' "$NET" >"$RM_TMP/dead-hints"
    rm_start_recursor rec-c "$C_PORT" "hint-file=$RM_TMP/dead-hints"
    lh=$(rm_dig @127.0.0.1 -p "$C_PORT" localhost A | grep -o 'status: [A-Z]*')
    t0=$EPOCHREALTIME
    err=$("$RECMESH" warm --target "127.0.0.1:$C_PORT" --nats "$NATS" --cluster t --wait-timeout 2 --intel-file "" 2>&1) \
        && fail "warm replayed into a Recursor that cannot resolve: $err"
    took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    grep -q "could not resolve '. NS' within 2 s" <<<"$err" || fail "not-ready message: $err"
    ok "C answers localhost A ($lh) but is not ready; after $took s: '$(tail -1 <<<"$err")'"
    rm_stop rec-c
}

sc_failures() {
    dead_port=$(rm_free_port)
    err=$("$RECMESH" warm --target "127.0.0.1:$B_PORT" --nats "nats://127.0.0.1:$dead_port" --cluster t 2>&1) \
        && fail "warm succeeded without NATS"
    grep -q 'cannot connect to NATS' <<<"$err" || fail "no-NATS message: $err"
    ok "no NATS: '$err'"
    err=$("$RECMESH" warm --target "127.0.0.1:$B_PORT" --nats "$NATS" --cluster nobody 2>&1) \
        && fail "warm succeeded without a list"
    grep -q 'no usable hot list' <<<"$err" || fail "no-list message: $err"
    ok "no list: '$err'"
    err=$("$RECMESH" warm --target "127.0.0.1:$dead_port" --nats "$NATS" --cluster t --wait-timeout 1 2>&1) \
        && fail "warm succeeded against a dead target"
    grep -q 'did not answer within' <<<"$err" || fail "dead-target message: $err"
    ok "target never answers: '$(tail -1 <<<"$err")'"
    # node a rewrites its list every 0.5 s, and a list written after the read began is fresh:
    # the proxy is stopped (SIGSTOP) meanwhile, so its list is older than the read by the
    # time a new process takes to start and connect (well over 1 ms)
    kill -STOP "$(rm_pid proxy)"
    err=$("$RECMESH" warm --target "127.0.0.1:$B_PORT" --nats "$NATS" --cluster t --max-age 0.001 2>&1) \
        && { kill -CONT "$(rm_pid proxy)"; fail "warm used a stale list: $err"; }
    kill -CONT "$(rm_pid proxy)"
    grep -q "skipped node 'a': stale" <<<"$err" || fail "stale message: $err"
    ok "stale list skipped: '$(head -1 <<<"$err")'"
}

sc_decay() {
    # two hand-written lists in the bucket: node old, two hours old, one name scored 100; node new,
    # fresh, one name scored 10. Each name takes its whole list's traffic: it weighs 5, the cap
    # (doc/nats.md, "Ranking"), and the old list is decayed to now.
    now=$(date +%s)
    # shellcheck disable=SC2016  # $KV is part of the subject
    rm_nats_pub "$NATS_PORT" '$KV.recmesh_hot.dk.old' \
        "#recmesh-hot 1 node=old time=$((now - 7200)).000 gen=1 chunk=0/1\n100.000 A old.z1.com.\n"
    # shellcheck disable=SC2016
    rm_nats_pub "$NATS_PORT" '$KV.recmesh_hot.dk.new' \
        "#recmesh-hot 1 node=new time=$now.000 gen=1 chunk=0/1\n10.000 A new.z1.com.\n"
    rm_wait_until 10 both || fail "the hand-written lists were not read: $(cat "$RM_TMP/dk.out" "$RM_TMP/dk.err")"
    # half-life 1800 s: two hours are 4 half-lives, the old list weighs 1/16: 5 / 16 = 0.3125 and
    # its sum 100 / 16 = 6.25 (minus a little: the list's time has whole seconds, and reading takes a few)
    [[ $(grep -m1 "\"qname\"" "$RM_TMP/dk.out") == *'"qname":"new.z1.com.","qtype":"A","score":'[45].* ]] \
        || fail "fresh list not first at about 5: $(cat "$RM_TMP/dk.out")"
    grep -Eq '"qname":"new.z1.com.","qtype":"A","score":(4\.99[0-9]{2}|5\.0000)' "$RM_TMP/dk.out" \
        || fail "fresh name does not weigh 5: $(cat "$RM_TMP/dk.out")"
    grep -Eq '"qname":"old.z1.com.","qtype":"A","score":0\.31[0-2][0-9]' "$RM_TMP/dk.out" \
        || fail "old name not decayed to 5 / 16: $(cat "$RM_TMP/dk.out")"
    grep -Eq '"node":"old",.*"sum":6\.(1[5-9]|2[0-5])' "$RM_TMP/dk.out" || fail "old sum not decayed to 100 / 16: $(cat "$RM_TMP/dk.out")"
    "$RECMESH" hot --nats "$NATS" --cluster dk --json --hot-half-life 0 >"$RM_TMP/dk0.out" 2>/dev/null
    grep -q '"qname":"old.z1.com.","qtype":"A","score":5.0000' "$RM_TMP/dk0.out" \
        && grep -q '"node":"old",.*"sum":100.000' "$RM_TMP/dk0.out" \
        || fail "--hot-half-life 0 should leave the old list undecayed (5 and sum 100): $(cat "$RM_TMP/dk0.out")"
    ok "a 2 h old list ranks below a fresh one at the default half-life: $(grep -o '"score":[0-9.]*\|"sum":[0-9.]*' "$RM_TMP/dk.out" | tr '\n' ' ')"

    rc=0; "$RECMESH" warm --bogus 2>/dev/null || rc=$?
    [[ $rc -eq 2 ]] || fail "bad usage should exit 2, not $rc"
    ok "bad usage exits 2"
}

sc_nojs() {
    NATS2_PORT=$(rm_free_port)
    rm_spawn nats-nojs nats-server -a 127.0.0.1 -p "$NATS2_PORT"
    rm_wait_until 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$NATS2_PORT" 2>/dev/null
    P2=$(rm_free_port)
    rm_spawn proxy2 "$RECMESH" proxy --listen "127.0.0.1:$P2" --upstream "127.0.0.1:$A_PORT" \
        --nats "nats://127.0.0.1:$NATS2_PORT" --cluster t2 --node c --hot-interval 0.5 --stats-interval 0
    rm_wait_until 10 ready_ns "$P2" || fail "proxy2 never answered '. NS' with NOERROR"
    for n in 1 2 3; do rm_dig @127.0.0.1 -p "$P2" "n$n.z26.net" A >/dev/null; done
    rm_wait_until 15 warm_nojs || fail "no warm-up without JetStream: $(cat "$RM_TMP/nojs.out" "$RM_TMP/nojs.err")"
    grep -q '"source":"request"' "$RM_TMP/nojs.out" || fail "source should be request: $(cat "$RM_TMP/nojs.out")"
    ok "warm-up from the proxies' answers on recmesh.t2.hot.get: $(cat "$RM_TMP/nojs.out")"
}

sc_autowarm() {
    grep -q "auto-warm: warm-up of" "$RM_TMP/proxy.log" && fail "an auto-warm before any restart: $(grep auto-warm "$RM_TMP/proxy.log")"
    rm_stop rec-a
    rm_start_recursor rec-a "$A_PORT"
    rm_wait_until 30 grep -q "auto-warm: warm-up of '127.0.0.1:$A_PORT'" "$RM_TMP/proxy.log" \
        || fail "no auto-warm after the restart: $(grep -i warm "$RM_TMP/proxy.log")"
    summary=$(grep -o "auto-warm: warm-up of .*" "$RM_TMP/proxy.log" | tail -1)
    why=$(grep -o "upstream '127.0.0.1:$A_PORT' [a-z].*: warming it up" "$RM_TMP/proxy.log" | tail -1)
    ok "$why; $summary"
    [[ $summary =~ :\ ([0-9]+)\ names\ from\ ([0-9]+)\ node ]] || fail "no names in the summary: $summary"
    names=${BASH_REMATCH[1]}
    ((names >= 40)) || fail "auto-warm replayed $names names, expected at least 40: $summary"
    [[ $summary == *"; answered $names: NOERROR $names; timeouts 0, send errors 0;"* ]] \
        || fail "auto-warm did not get $names NOERROR answers without timeouts: $summary"
    # the counters on the stats line (SIGUSR1 logs them)
    kill -USR1 "$(rm_pid proxy)"
    rm_wait_until 5 grep -q "counters: auto-warm runs=" "$RM_TMP/proxy.log" || fail "no auto-warm counters: $(grep counters "$RM_TMP/proxy.log")"
    counters=$(grep -o "counters: auto-warm runs=.*" "$RM_TMP/proxy.log" | tail -1)
    [[ $counters == "counters: auto-warm runs=1 failed=0 names=$names answered=$names timeouts=0 servfail=0" ]] \
        || fail "auto-warm counters: '$counters' (expected runs=1 failed=0 names=$names answered=$names timeouts=0 servfail=0)"
    ok "$counters"
    all_cached "$A_PORT" "restarted A"
    ok "restarted A has all ${#HOT[@]} hot names in its cache (each answered to a non-recursive query)"
    for entry in "${HOT[@]}"; do
        read -r name type <<<"$entry"
        [[ -n $(rm_dig @127.0.0.1 -p "$PROXY_PORT" +short "$name" "$type") ]] || fail "no answer through the proxy for $name $type"
    done
    ok "the proxy answers all hot names"
}

rm_scenario warm      "recmesh warm against an empty Recursor B"
rm_scenario replay    "a replay through the proxy does not feed its hot list"
rm_scenario readiness "readiness: a Recursor that answers but cannot resolve is not warmed"
rm_scenario failures  "failure paths"
rm_scenario decay     "lists are decayed to now before they are merged"
rm_scenario nojs      "without JetStream: ask the running proxies"
rm_scenario autowarm  "proxy --auto-warm after Recursor A restarts"
rm_scenario_listing

NET=${RM_TEST_NET:-127.55}
rm_start_tree "$NET" 30 10
NATS_PORT=$(rm_free_port)
NATS=nats://127.0.0.1:$NATS_PORT
rm_start_nats nats "$NATS_PORT"
A_PORT=$(rm_free_port)
B_PORT=$(rm_free_port)
PROXY_PORT=$(rm_free_port)
rm_start_recursor rec-a "$A_PORT"
rm_start_recursor rec-b "$B_PORT"
rm_spawn proxy "$RECMESH" proxy --listen "127.0.0.1:$PROXY_PORT" --upstream "127.0.0.1:$A_PORT" \
    --nats "$NATS" --cluster t --node a --hot-interval 0.5 --stats-interval 0 \
    --auto-warm --rec-socket-dir "$RM_TMP/rec-a" --qps 200
rm_wait_until 10 ready_ns "$PROXY_PORT" || fail "the proxy never answered '. NS' with NOERROR: $(rm_dig @127.0.0.1 -p "$PROXY_PORT" . NS 2>&1)"

# the hot names: 40 existing names of zones 1..20, asked 1 to 3 times each
HOT=()
for i in $(seq 1 20); do
    tld=$(( (i - 1) % 3 )); tld=$([[ $tld == 0 ]] && echo com || { [[ $tld == 1 ]] && echo net || echo org; })
    HOT+=("www.z$i.$tld A" "n4.z$i.$tld A")
done
for k in "${!HOT[@]}"; do
    read -r name type <<<"${HOT[$k]}"
    for _ in $(seq 0 $((k % 3))); do
        rm_dig @127.0.0.1 -p "$PROXY_PORT" "$name" "$type" >/dev/null
    done
done
rm_wait_until 10 bash -c "[[ \$($(declare -f hot_count); RECMESH=$RECMESH NATS=$NATS hot_count) -ge 40 ]]" \
    || fail "the hot list never held the 40 names"
ok "40 names in the fleet's hot list"

rm_scenarios
