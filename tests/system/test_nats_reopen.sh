#!/usr/bin/env bash
# test_nats_reopen.sh - a node whose NATS login is refused comes back by itself.
#
# A proxy (node rec1 of cluster prod) starts against a nats-server whose
# authorization does not know its password: the refusal is logged once, libnats
# closes the connection, and the node says it opens a new one in the background.
# The server is then restarted on the same port with a configuration that accepts
# the node's password (credentials rotated on the server after the node): without a
# restart of the node, its hot list appears in the bucket, hot.get is subscribed
# again, and recmesh_nats_reopens_total is at least 1. DNS is answered throughout.
# Then a reload (SIGHUP) whose password file is missing is reported and changes
# nothing; the password is rotated on both sides (the server restarted with a new
# configuration, the node's file rewritten, SIGHUP): the node's next connection
# uses the new password, its hot list is written again, the reopens grow.
# RM_TEST_NET overrides the NET prefix (127.64), e.g. to run two copies side by side.
# Each scenario runs alone with RM_SCENARIO=NAME (RM_SCENARIO=list lists them and what
# each needs).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/lib.sh"

rm_init test_nats_reopen

secret() { head -c 24 /dev/urandom | base64 | tr -d '/+='; }
# conf PASSWORD: a server that knows rec1 by PASSWORD, and the reader
conf() {
    echo 'authorization { users = ['
    echo "  {user: rec1, password: \"$1\"}"
    echo "  {user: reader, password: \"$READER_PW\"}"
    echo '] }'
}
LOG=$RM_TMP/proxy.log
metric() { # metric NAME: its value from /metrics (fails when absent)
    local out v
    out=$(rm_http_get "$hport" /metrics) || return 1
    v=$(awk -v m="$1" '$1 == m { print $2 }' <<<"$out")
    [[ -n $v ]] && echo "$v"
}
hot_has() { "$RECMESH" hot --json "${READER[@]}" 2>/dev/null | grep -q '"qname":"n6.z4.com."'; }

sc_refused() {
    pport=$(rm_free_port) hport=$(rm_free_port)
    rm_spawn proxy "$RECMESH" proxy --listen "127.0.0.1:$pport" --upstream "127.0.0.1:$REC_PORT" \
        --nats "$URL" --cluster prod --node rec1 --hot-interval 0.5 --stats-interval 0 -v \
        --nats-user rec1 --nats-password-file "$D/node.pw" --metrics-listen "127.0.0.1:$hport"
    _rm_wait_for proxy 10 rm_dig @127.0.0.1 -p "$pport" +short localhost A || fail "the proxy does not answer"
    reopened() { grep -q 'opened a new NATS connection (reopen 1)' "$LOG"; }
    rm_wait_until 30 reopened || fail "the node did not open a new connection: $(grep -v debug "$LOG" | tail -5)"
    n=$(grep -c 'the NATS connection was closed (the server refused the credentials): this node opens a new one' "$LOG" || true)
    ((n == 1)) || fail "the close was logged $n times, expected once: $(grep -v debug "$LOG" | tail -5)"
    n=$(grep -c 'refused the credentials (authorization violation)' "$LOG" || true)
    ((n == 1)) || fail "the refusal was logged $n times, expected once: $(grep -v debug "$LOG" | tail -5)"
    out=$(rm_dig @127.0.0.1 -p "$pport" +short www.z1.com A) && [[ $out == 198.18.0.1 ]] \
        || fail "the proxy without NATS does not answer: '$out'"
    ok "a refused node logs the refusal and the close once each, opens a new connection, answers DNS"
}

sc_accept() {
    rm_stop nats
    rm_start_nats_conf nats "$NPORT" "$D/after.conf"
    HOT=(www.z1.com n3.z2.net n6.z4.com)
    for n in "${HOT[@]}"; do
        rm_dig @127.0.0.1 -p "$pport" "$n" A >"$RM_TMP/dig.out" || fail "the proxy did not answer $n: $(cat "$RM_TMP/dig.out")"
    done
    rm_wait_until 120 hot_has \
        || fail "the node's hot list never reached the bucket: $("$RECMESH" hot "${READER[@]}" 2>&1 | tail -3); proxy: $(grep -v debug "$LOG" | tail -5)"
    grep -q "connected to NATS at 'nats://127.0.0.1:$NPORT'" "$LOG" \
        || fail "the node did not log that it is connected: $(grep -v debug "$LOG" | tail -5)"
    reopens=$(metric recmesh_nats_reopens_total) || fail "no recmesh_nats_reopens_total in /metrics"
    ((reopens >= 1)) || fail "recmesh_nats_reopens_total is $reopens, expected at least 1"
    [[ $(metric recmesh_nats_connected) == 1 ]] || fail "recmesh_nats_connected is $(metric recmesh_nats_connected)"
    subs=$(rm_http_get "$(rm_nats_monitor_port nats)" '/connz?subs=1')
    grep -q '"recmesh.prod.hot.get"' <<<"$subs" || fail "no hot.get subscription on the server: ${subs:0:600}"
    out=$(rm_dig @127.0.0.1 -p "$pport" +short www.z1.com A) && [[ $out == 198.18.0.1 ]] \
        || fail "the proxy does not answer after the reopen: '$out'"
    ok "the hot list is in the bucket, hot.get is subscribed, $reopens reopen(s), DNS answered"
    n=$(grep -c 'refused the credentials (authorization violation)' "$LOG" || true)
    ((n == 1)) || fail "the refusal was logged $n times before the rotation, expected once"
    # the proxy's process: a reload must not restart it
    PROXY_PID=$(rm_pid proxy)
}

sc_badreload() {
    mv "$D/node.pw" "$D/node.pw.away"
    kill -HUP "$PROXY_PID"
    bad_said() { grep -q "reload: NATS credentials not changed: cannot read --nats-password-file '$D/node.pw'" "$LOG"; }
    rm_wait_until 30 bad_said || fail "the bad reload was not reported: $(grep reload "$LOG" | tail -5)"
    ! grep -q 'reload: NATS credentials re-read' "$LOG" || fail "a bad file was taken: $(grep reload "$LOG" | tail -5)"
    ! grep -q "$NODE_PW" "$LOG" || fail "the password shows in the log"
    [[ $(metric recmesh_nats_connected) == 1 ]] || fail "recmesh_nats_connected is $(metric recmesh_nats_connected) after a bad reload"
    ok "an unreadable password file is reported on reload and the node stays connected"
}

sc_rotate() {
    NEW_PW=$(secret)
    conf "$NEW_PW" >"$D/rotated.conf"
    umask 077
    echo "$NEW_PW" >"$D/node.pw"
    umask 022
    kill -HUP "$PROXY_PID"
    reread() { grep -q 'reload: NATS credentials re-read: used from the next connect' "$LOG"; }
    rm_wait_until 30 reread || fail "the reload did not re-read the credentials: $(grep reload "$LOG" | tail -5)"
    ! grep -q "$NEW_PW" "$LOG" || fail "the new password shows in the log"
    writes0=$(metric recmesh_hot_list_writes_total) || fail "no recmesh_hot_list_writes_total in /metrics"
    rm_stop nats
    rm_start_nats_conf nats "$NPORT" "$D/rotated.conf"
    back() {
        local r w c
        r=$(metric recmesh_nats_reopens_total) && w=$(metric recmesh_hot_list_writes_total) \
            && c=$(metric recmesh_nats_connected) && ((r > reopens && w > writes0 && c == 1))
    }
    rm_wait_until 120 back \
        || fail "the node did not come back with the new password: reopens $(metric recmesh_nats_reopens_total) (was $reopens), hot-list writes $(metric recmesh_hot_list_writes_total) (was $writes0), connected $(metric recmesh_nats_connected); $(grep -v debug "$LOG" | tail -5)"
    [[ $(rm_pid proxy) == "$PROXY_PID" ]] || fail "the proxy was restarted: $(rm_pid proxy) != $PROXY_PID"
    hot_has || fail "the hot list is not in the bucket after the rotation: $("$RECMESH" hot "${READER[@]}" 2>&1 | tail -3)"
    reopens2=$(metric recmesh_nats_reopens_total)
    ok "after the rotation: $reopens2 reopen(s) (was $reopens), hot-list writes $(metric recmesh_hot_list_writes_total) (was $writes0), same process"
    rm_stop proxy
    line=$(grep 'final counters: events published=' "$LOG" | tail -1) || fail "no stats line at exit: $(tail -3 "$LOG")"
    [[ $line =~ nats-reopens=([0-9]+) ]] && ((BASH_REMATCH[1] >= reopens2)) || fail "the stats line: $line"
    ok "the stats line at exit says nats-reopens=${BASH_REMATCH[1]}"
}

rm_scenario refused   "the server refuses the node's password"
rm_scenario accept    "the server accepts the node's password: the node comes back without a restart" refused
rm_scenario badreload "a reload with an unreadable password file changes nothing" accept
rm_scenario rotate    "the password is rotated on both sides: SIGHUP, the node reconnects without a restart" accept
rm_scenario_listing

NET=${RM_TEST_NET:-127.64}
rm_start_tree "$NET" 20 10
REC_PORT=$(rm_free_port)
rm_start_recursor rec "$REC_PORT"
D=$RM_TMP/auth
mkdir -p "$D"
NODE_PW=$(secret) READER_PW=$(secret)
umask 077
echo "$NODE_PW" >"$D/node.pw"
echo "$READER_PW" >"$D/reader.pw"
umask 022
conf "$(secret)" >"$D/before.conf"
conf "$NODE_PW" >"$D/after.conf"
NPORT=$(rm_free_port)
URL=nats://127.0.0.1:$NPORT
rm_start_nats_conf nats "$NPORT" "$D/before.conf"
READER=(--nats "$URL" --cluster prod --nats-user reader --nats-password-file "$D/reader.pw")

rm_scenarios
