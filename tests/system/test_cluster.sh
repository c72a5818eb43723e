#!/usr/bin/env bash
# test_cluster.sh - the fleet's hot lists read from a 3-server JetStream cluster while
# servers die.
#
# Three nats-servers with JetStream form a cluster on loopback; a proxy in front of a
# Recursor writes its hot list into recmesh_hot with 3 replicas while clients ask
# through it (a loop of digs in the background). The server leading the bucket's
# stream is killed (SIGKILL): once a new leader is elected, every client query has
# still been answered, the proxy writes its list again, and `recmesh warm` succeeds
# from the bucket in every one of several runs. Then a second server is killed (no
# quorum): `recmesh warm` still succeeds in every run, from the bucket while the
# lone replica still answers reads, or else from the running proxy's answers on
# recmesh.<cluster>.hot.get, saying so. Last, the surviving server comes back without
# JetStream: `recmesh warm` succeeds from the proxy's answers and says so.
# The proxy and the readers are connected to the one server that is never killed (a
# client's own reconnection to another server is not what this test is about).
# RM_TEST_NET overrides the NET prefix (127.60). Each scenario runs alone with
# RM_SCENARIO=NAME (RM_SCENARIO=list lists them and what each needs).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/lib.sh"

rm_init test_cluster

# start_proxy SERVER: the proxy, connected to cluster member SERVER
start_proxy() {
    rm_spawn proxy "$RECMESH" proxy --listen "127.0.0.1:$PROXY_PORT" --upstream "127.0.0.1:$REC_PORT" \
        --nats "nats://127.0.0.1:$(rm_nats_port "$1")" --cluster c --node p1 --kv-replicas 3 \
        --hot-interval 0.5 --stats-interval 0
    rm_wait_until 20 ready_ns "$PROXY_PORT" || fail "the proxy never answered '. NS' with NOERROR"
}
ready_ns() { [[ $(rm_dig @127.0.0.1 -p "$1" . NS) == *"status: NOERROR"* ]]; }
stream_leader() { rm_nats_stream_leader js 3 KV_recmesh_hot; }
# the leader as one poll saw it (right after the stream is made, members may disagree
# for a moment: asking a second time could find none)
leader_known() { LEADER=$(stream_leader) && [[ $LEADER =~ ^js[123]$ ]]; }
# the client load: names of zones 1..10 through the proxy, one after the other, until
# $RM_TMP/load.stop exists; "answered failed" in load.count, each failure in load.bad
load() {
    local answered=0 failed=0 k=0 name out
    while [[ ! -e $RM_TMP/load.stop ]]; do
        name=${NAMES[k++ % ${#NAMES[@]}]}
        if out=$(dig +time=2 +tries=1 @127.0.0.1 -p "$PROXY_PORT" "$name" A 2>&1) && [[ $out == *"status: NOERROR"* ]]; then
            answered=$((answered + 1))
        else
            failed=$((failed + 1))
            printf '%s: %s\n' "$name" "${out//$'\n'/ | }" >>"$RM_TMP/load.bad"
        fi
        echo "$answered $failed" >"$RM_TMP/load.count.new"
        mv "$RM_TMP/load.count.new" "$RM_TMP/load.count"
    done
}
load_answered() { local a f; read -r a f <"$RM_TMP/load.count" && ((a >= $1)); }
# the list in the bucket, with the names the clients ask
hot_names() { "$RECMESH" hot --nats "$URLS" --cluster c --json --top 100 2>/dev/null | grep -c '"qname":"\(www\|n2\)\.z' || true; }
has_list() { (($(hot_names) >= 20)); }
# hot-writes from the proxy's latest counters line (SIGUSR1 logs one)
stat_lines() { grep -c 'counters: events' "$RM_TMP/proxy.log" || true; }
more_lines() { (($(stat_lines) > $1)); }
last_writes() { grep -o 'counters: events .* hot-writes=[0-9]*' "$RM_TMP/proxy.log" | tail -1 | sed 's/.*=//'; }
hot_writes() {
    local n0
    n0=$(stat_lines)
    kill -USR1 "$(rm_pid proxy)"
    rm_wait_until 10 more_lines "$n0" || fail "no counters line after SIGUSR1: $(tail -3 "$RM_TMP/proxy.log")"
    last_writes
}

sc_leader() {
    read -r a0 _ <"$RM_TMP/load.count"
    kill -KILL "$(rm_pid "$LEADER")"
    rm_stop "$LEADER" # reaps it
    NEW=''
    new_leader() { NEW=$(stream_leader) && [[ $NEW =~ ^js[123]$ && $NEW != "$LEADER" ]]; }
    rm_wait_until 60 new_leader || fail "no new leader for KV_recmesh_hot after $LEADER died (last seen: '$NEW')"
    ok "new stream leader: $NEW"
    w0=$(hot_writes)
    writes_grew() { kill -USR1 "$(rm_pid proxy)"; local w; w=$(last_writes); [[ -n $w ]] && ((w >= w0 + 2)); }
    rm_wait_until 30 writes_grew || fail "the list was not written again with quorum: hot-writes $w0 -> $(last_writes)"
    ok "the proxy writes its list again: hot-writes $w0 -> $(last_writes)"
    for run in 1 2 3 4 5; do
        out=$("$RECMESH" warm --target "127.0.0.1:$REC_PORT" --nats "$URLS" --cluster c --json --qps 500 \
            --intel-file "" 2>"$RM_TMP/warm$run.err") || fail "run $run: recmesh warm failed: $out $(cat "$RM_TMP/warm$run.err")"
        [[ $out == *'"source":"kv","lists":1,'* ]] || fail "run $run: not from the bucket: $out $(cat "$RM_TMP/warm$run.err")"
    done
    ok "recmesh warm succeeded from the bucket in 5 of 5 runs with $LEADER down"
}

sc_noquorum() {
    kill -KILL "$(rm_pid "$SECOND")"
    rm_stop "$SECOND"
    SOURCES=()
    for run in 1 2 3; do
        out=$("$RECMESH" warm --target "127.0.0.1:$REC_PORT" --nats "$URLS" --cluster c --json --qps 500 \
            --intel-file "" --nats-timeout 2 2>"$RM_TMP/noq$run.err") \
            || fail "run $run without quorum: recmesh warm failed: $out $(cat "$RM_TMP/noq$run.err")"
        [[ $out =~ \"source\":\"(kv|request)\",\"lists\":1, ]] || fail "run $run without quorum: $out"
        SOURCES+=("${BASH_REMATCH[1]}")
        if [[ ${BASH_REMATCH[1]} == request ]]; then
            grep -q 'the bucket did not serve (.*): asked the running nodes' "$RM_TMP/noq$run.err" \
                || fail "run $run without quorum: no word on the source: $(cat "$RM_TMP/noq$run.err")"
        fi
    done
    # (a lone replica answers reads again once it knows it is alone: then the source is kv)
    ok "without quorum recmesh warm succeeded 3 of 3 times, sources: ${SOURCES[*]}"
}

sc_nojs() {
    rm_stop "$STAY"
    rm_spawn nojs nats-server -a 127.0.0.1 -p "$(rm_nats_port "$STAY")"
    proxy_back() { grep -q "reconnected to NATS" "$RM_TMP/proxy.log"; }
    rm_wait_until 30 proxy_back || fail "the proxy did not reconnect: $(tail -3 "$RM_TMP/proxy.log")"
    out=$("$RECMESH" warm --target "127.0.0.1:$REC_PORT" --nats "$URLS" --cluster c --json --qps 500 \
        --intel-file "" 2>"$RM_TMP/nojs.err") || fail "recmesh warm failed without JetStream: $out $(cat "$RM_TMP/nojs.err")"
    [[ $out == *'"source":"request","lists":1,'* ]] || fail "without JetStream: $out $(cat "$RM_TMP/nojs.err")"
    grep -q 'the bucket did not serve (.*): asked the running nodes' "$RM_TMP/nojs.err" \
        || fail "without JetStream: no word on the source: $(cat "$RM_TMP/nojs.err")"
    ok "recmesh warm from the running proxy: $(head -1 "$RM_TMP/nojs.err")"

    touch "$RM_TMP/load.stop"
    rm_wait_until 10 _rm_dead "$(rm_pid load)" || fail "the client load did not stop"
    read -r a f <"$RM_TMP/load.count"
    ((f == 0)) || fail "$f of $((a + f)) client queries failed: $(head -5 "$RM_TMP/load.bad")"
    ((a > a0)) || fail "no client query answered after the first kill ($a0 -> $a)"
    ok "every client query answered: $a (of which $((a - a0)) after the first kill)"
}

# (which server leads and which stays is known only once the cluster runs: the ok before
# the scenarios names them)
rm_scenario leader   "kill the stream leader"
rm_scenario noquorum "kill a second server: no quorum" leader
rm_scenario nojs     "the proxy's server comes back without JetStream: the bucket is gone, the proxy answers" noquorum
rm_scenario_listing

NET=${RM_TEST_NET:-127.60}
rm_start_tree "$NET" 10 5
rm_start_nats_cluster js 3
REC_PORT=$(rm_free_port)
PROXY_PORT=$(rm_free_port)
rm_start_recursor rec "$REC_PORT"
URLS=nats://127.0.0.1:$(rm_nats_port js1)
start_proxy js1 # it creates the bucket, 3 replicas
for _ in 1 2 3; do rm_dig @127.0.0.1 -p "$PROXY_PORT" www.z1.com A >/dev/null; done

LEADER=''
rm_wait_until 20 leader_known || fail "no leader for stream KV_recmesh_hot (last seen: '$LEADER')"
STAY='' SECOND=''
for s in js1 js2 js3; do
    [[ $s == "$LEADER" ]] && continue
    if [[ -z $STAY ]]; then STAY=$s; else SECOND=$s; fi
done
if [[ $STAY != js1 ]]; then
    rm_stop proxy
    start_proxy "$STAY"
fi
URLS=nats://127.0.0.1:$(rm_nats_port "$STAY")
ok "stream KV_recmesh_hot is led by $LEADER; the proxy and the readers use $STAY; $SECOND goes second"

NAMES=()
for i in $(seq 1 10); do
    tld=$(( (i - 1) % 3 )); tld=$([[ $tld == 0 ]] && echo com || { [[ $tld == 1 ]] && echo net || echo org; })
    NAMES+=("www.z$i.$tld" "n2.z$i.$tld")
done
rm_spawn load load
rm_wait_until 20 load_answered 20 || fail "the client load did not get going: $(cat "$RM_TMP/load.count" 2>&1)"

rm_wait_until 20 has_list || fail "the hot list never held the 20 names: $("$RECMESH" hot --nats "$URLS" --cluster c 2>&1 | head -5)"
ok "the proxy's list is in the bucket: $(hot_names) names"

rm_scenarios
