#!/usr/bin/env bash
# test_forgery.sh - a forger of a warm peer's address gets no client its answer.
#
# Recursor B is a warm peer; proxy F's own upstream is down, so every client
# query goes to the peer at once (recmesh(1) "Restarts and peers"). 800
# clients ask www.z1.com A through F over and over, while a forger (a raw
# socket: root) sends 100000 answers "from" the peer's address for that name
# with the address 6.6.6.6 and random IDs, at the source ports F's sockets to
# the peer had when it looked once (/proc/net/udp): an attacker who found out a
# port. Each query to a peer has its own socket and ID, and identical questions
# in flight go once, so the forger must guess both per query: no client may get
# 6.6.6.6.
# RM_TEST_NET overrides the NET prefix (127.72), e.g. to run two copies side by side.
# Each scenario runs alone with RM_SCENARIO=NAME (RM_SCENARIO=list lists them and what each needs).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/lib.sh"

rm_init test_forgery

metric() { rm_http_get "$M_PORT" /metrics | awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print "none" }'; }
# /metrics reads the data path's snapshot, published every 0.1 s
mode_now() { [[ $(metric recmesh_peer_mode) == 2 ]]; }

sc_forgery() {
    rm -f "$RM_TMP/stop"
    python3 "$HERE/clients.py" "$F_PORT" www.z1.com 800 "$RM_TMP/stop" "$RM_TMP/clients.txt" &
    CL=$!
    # the clients are asking: queries to the peer are in flight
    asking() { (($(metric 'recmesh_peer_results_total{result="first"}') > 100)); }
    rm_wait_until 10 asking || fail "the clients' queries do not reach the peer: $(rm_http_get "$M_PORT" /metrics | grep peer_)"
    python3 "$HERE/forger.py" "$B_PORT" "$(rm_pid proxy-f)" www.z1.com 100000 "$RM_TMP/forger.txt" \
        || fail "the forger failed"
    touch "$RM_TMP/stop"
    wait "$CL" || fail "the clients failed"
    read -r _ ports _ sent <"$RM_TMP/forger.txt"
    read -r _ asked _ answered _ forged <"$RM_TMP/clients.txt"
    echo "   forger: learned $ports port(s), sent $sent answers; clients: asked $asked, answered $answered, forged $forged"
    echo "   F: $(rm_http_get "$M_PORT" /metrics | grep -E '^recmesh_peer_(results_total|unexpected|coalesced)' | tr '\n' ' ')"
    ((sent == 100000)) || fail "the forger sent $sent of 100000"
    ((answered > 800)) || fail "the clients got $answered answers: the test proves nothing"
    ((forged == 0)) || fail "$forged client answers were the forger's 6.6.6.6 ($answered answers in all)"
    ok "no forged answer reached a client: $answered answers to 800 clients, 0 with 6.6.6.6, against $sent forged answers at $ports learned port(s)"
}

rm_scenario forgery "800 clients ask www.z1.com through F while a forger sends 100000 answers as the peer"
rm_scenario_listing

NET=${RM_TEST_NET:-127.72}
rm_start_tree "$NET" 3 3
NATS_PORT=$(rm_free_port)
rm_start_nats nats "$NATS_PORT"
B_PORT=$(rm_free_port)
rm_start_recursor rec-b "$B_PORT"
[[ -n $(rm_dig @127.0.0.1 -p "$B_PORT" +short www.z1.com A) ]] || fail "Recursor B does not resolve www.z1.com"
DEAD=$(rm_free_port) F_PORT=$(rm_free_port) M_PORT=$(rm_free_port)
rm_spawn proxy-f "$RECMESH" proxy --listen "127.0.0.1:$F_PORT" --upstream "127.0.0.1:$DEAD" \
    --nats "nats://127.0.0.1:$NATS_PORT" --cluster t --node f --stats-interval 0 --upstream-timeout 2 \
    --peer "127.0.0.1:$B_PORT" --peer-max-qps 100000 --peer-max-inflight 4096 --metrics-listen "127.0.0.1:$M_PORT"
rm_wait_until 10 rm_http_get "$M_PORT" /metrics || fail "proxy F has no /metrics"
# the upstream refuses: F takes it for down and asks the peer at once
rm_wait_until 10 bash -c "[[ -n \$(dig +short +tries=1 +time=2 @127.0.0.1 -p $F_PORT www.z1.com A) ]]" \
    || fail "F never answered through the peer: $(tail -5 "$RM_TMP/proxy-f.log")"
rm_wait_until 5 mode_now || fail "F is not asking the peer at once: mode $(metric recmesh_peer_mode)"

rm_scenarios
