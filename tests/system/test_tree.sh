#!/usr/bin/env bash
# test_tree.sh - smoke test of the system-test harness (lib.sh + mktree.sh).
#
# Starts the hermetic tree (20 zones, 10 names each) and one validating pdns_recursor and
# checks real answers against the addresses mktree.sh is defined to generate; then checks
# that nats-server with JetStream survives rm_stop + restart on the same port with its store.
# Exit status 0 when every check passes. RM_TEST_NET overrides the NET prefix (127.53),
# e.g. to run two copies side by side; RM_KEEP=1 keeps the temp dir. Each scenario runs
# alone with RM_SCENARIO=NAME (RM_SCENARIO=list lists them and what each needs).
# shellcheck disable=SC2015,SC2016  # "check && check || fail" and literal $JS are intended
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rm_init test_tree
NET=${RM_TEST_NET:-127.53}

# answer_has OUT REGEX: true if a line of dig output OUT matches the (extended) REGEX.
answer_has() { grep -Eq "$2" <<<"$1"; }
# flags_have OUT FLAG: true if the header flags of dig output OUT include FLAG.
flags_have() { grep -Eq "^;; flags:[a-z ]* $2[ ;]" <<<"$1"; }
q() { rm_dig @127.0.0.1 -p "$REC_PORT" "$@"; }
# stat STAT: rec1's counter STAT; a failed read fails the test, naming it.
stat() { rm_rec_stat rec1 "$1" || fail "cannot read counter '$1' of Recursor 'rec1'"; }
# stat_above STAT N: true when rec1's STAT is above N (a failed read is false, and
# rm_rec_stat marks the test failed).
stat_above() { local v; v=$(rm_rec_stat rec1 "$1") && ((v > $2)); }
# nats_pub PORT SUBJECT PAYLOAD: publish with the plain NATS text protocol and wait for
# the PONG that follows (so the server has processed the PUB).
nats_pub() {
    local fd line
    exec {fd}<>"/dev/tcp/127.0.0.1/$1"
    read -r -t 2 line <&"$fd" && [[ $line == INFO* ]] || { exec {fd}>&-; return 1; }
    printf 'CONNECT {"verbose":false,"pedantic":false}\r\nPUB %s %d\r\n%s\r\nPING\r\n' \
        "$2" "${#3}" "$3" >&"$fd"
    while read -r -t 2 line <&"$fd"; do
        [[ $line == PONG* ]] && { exec {fd}>&-; return 0; }
        [[ $line == -ERR* ]] && break
    done
    exec {fd}>&-
    return 1
}
# jsz_is KEY VALUE: true if the top-level /jsz field KEY equals VALUE.
jsz_is() { rm_http_get "$(rm_nats_monitor_port nats1)" /jsz | grep -Eq "^  \"$1\": $2,"; }
jsz() { rm_http_get "$(rm_nats_monitor_port nats1)" /jsz | grep -E '^  "(streams|messages)"' | tr -d '\n '; }

sc_tree() {
    t0=${EPOCHREALTIME}
    rm_start_tree "$NET" 20 10
    echo "   rm_start_tree took $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s"
    n=$(wc -l <"$RM_TREE/names.txt")
    [[ $n -eq 200 ]] || fail "names.txt should have 200 lines, has $n"
    n=$(wc -l <"$RM_TREE/leaf-servers.txt")
    [[ $n -eq 40 ]] || fail "leaf-servers.txt should have 40 lines, has $n"
    grep -qx "n5.z17.net A" "$RM_TREE/names.txt" || fail "names.txt lacks 'n5.z17.net A': $(grep z17.net "$RM_TREE/names.txt" | tr '\n' ' ')"
    grep -qx "z17.net $NET.3.17" "$RM_TREE/leaf-servers.txt" \
        || fail "leaf-servers.txt lacks 'z17.net $NET.3.17': $(grep z17.net "$RM_TREE/leaf-servers.txt" | tr '\n' ' ')"
    ok "tree files: names.txt 200 lines, leaf-servers.txt 40 lines"
}

# Zone 17 is z17.net (tld rotates com, net, org); its ns1/ns2 are NET.2.17 and NET.3.17;
# name j=5 has A 198.18.0.(16*10+5+1) = 198.18.0.166; name j=6 has AAAA 2001:db8:11::6.
sc_leaf() {
    for addr in "$NET.2.17" "$NET.3.17"; do
        out=$(rm_dig +norec @"$addr" n5.z17.net A)
        flags_have "$out" aa && answer_has "$out" $'^n5\\.z17\\.net\\.\t+[0-9]+\tIN\tA\t198\\.18\\.0\\.166$' \
            || fail "leaf NSD $addr: n5.z17.net A should be 198.18.0.166 with aa:"$'\n'"$out"
        ok "leaf NSD $addr: n5.z17.net A 198.18.0.166 (aa)"
    done
    out=$(rm_dig +norec @"$NET.2.17" com SOA)
    answer_has "$out" 'status: REFUSED' || fail "leaf NSD must not serve com.:"$'\n'"$out"
    ok "leaf NSD $NET.2.17 refuses com. (hierarchy not collapsed)"
    rm_stop nsd-leaf
    out=$(rm_dig +norec @"$NET.3.17" z17.net SOA) && fail "stopped leaf NSD still answers:"$'\n'"$out"
    rm_start_nsd leaf
    out=$(rm_dig +norec @"$NET.3.17" z17.net SOA)
    flags_have "$out" aa || fail "restarted leaf NSD does not answer z17.net SOA:"$'\n'"$out"
    ok "leaf NSD stopped (no answer) and restarted with rm_start_nsd (answers again)"
}

sc_recursor() {
    REC_PORT=$(rm_free_port)
    rm_start_recursor rec1 "$REC_PORT"
    ok "pdns_recursor rec1 answers rec_control ping (port $REC_PORT)"
}

sc_positive() {
    out=$(q +dnssec n5.z17.net A)
    answer_has "$out" 'status: NOERROR' && flags_have "$out" ad \
        && answer_has "$out" $'^n5\\.z17\\.net\\.\t+[0-9]+\tIN\tA\t198\\.18\\.0\\.166$' \
        || fail "n5.z17.net A should be 198.18.0.166 with AD:"$'\n'"$out"
    ok "n5.z17.net A = 198.18.0.166, AD set"
    out=$(q +dnssec n6.z17.net AAAA)
    flags_have "$out" ad && answer_has "$out" $'\tAAAA\t2001:db8:11::6$' \
        || fail "n6.z17.net AAAA should be 2001:db8:11::6 with AD:"$'\n'"$out"
    ok "n6.z17.net AAAA = 2001:db8:11::6, AD set"
    out=$(q +dnssec alias.z1.com A)
    flags_have "$out" ad && answer_has "$out" $'\tCNAME\twww\\.z1\\.com\\.$' \
        && answer_has "$out" $'^www\\.z1\\.com\\.\t+[0-9]+\tIN\tA\t198\\.18\\.0\\.1$' \
        || fail "alias.z1.com A should be a CNAME to www.z1.com (198.18.0.1) with AD:"$'\n'"$out"
    ok "alias.z1.com -> www.z1.com A 198.18.0.1, AD set"
}

sc_nxdomain() {
    out=$(q +dnssec no-such-name.z17.net A)
    answer_has "$out" 'status: NXDOMAIN' && flags_have "$out" ad \
        || fail "no-such-name.z17.net should be NXDOMAIN with AD:"$'\n'"$out"
    ok "no-such-name.z17.net: NXDOMAIN, AD set"
}

sc_cache() {
    # An identical question is answered from the packet cache (packetcache-hits); the same
    # name asked with other flags (here: without DO) misses the packet cache and is answered
    # from the record cache (cache-hits), without an outgoing query.
    q +dnssec www.z2.net A >/dev/null
    rm_rec_settle rec1 all-outqueries
    pc0=$(stat packetcache-hits)
    ch0=$(stat cache-hits)
    out0=$(stat all-outqueries)
    q +dnssec www.z2.net A >/dev/null
    rm_wait_until 5 stat_above packetcache-hits "$pc0" || fail "packetcache-hits stayed at $pc0 (now $(stat packetcache-hits))"
    ok "same question again: packetcache-hits $pc0 -> $(stat packetcache-hits)"
    out=$(q +nodnssec www.z2.net A)
    answer_has "$out" $'^www\\.z2\\.net\\.\t+[0-9]+\tIN\tA\t198\\.18\\.0\\.11$' \
        || fail "www.z2.net A should be 198.18.0.11:"$'\n'"$out"
    rm_wait_until 5 stat_above cache-hits "$ch0" || fail "cache-hits stayed at $ch0 (now $(stat cache-hits))"
    # The name itself is in the cache: asked without recursion, the Recursor answers it
    # (all-outqueries is not compared: its own background queries, a refresh of the root's
    # NS set for one, may move it at any moment)
    norec=$(q +norec +nodnssec www.z2.net A)
    answer_has "$norec" $'^www\\.z2\\.net\\.\t+[0-9]+\tIN\tA\t198\\.18\\.0\\.11$' \
        || fail "www.z2.net A is not answered from the cache (RD=0):"$'\n'"$norec"
    ok "same name without DO: cache-hits $ch0 -> $(stat cache-hits), answered from the cache (all-outqueries $out0 -> $(stat all-outqueries))"
}

sc_restart() {
    rm_stop rec1
    rm_start_recursor rec1 "$REC_PORT"
    out=$(q +dnssec n9.z20.net A)
    flags_have "$out" ad && answer_has "$out" $'\tA\t198\\.18\\.0\\.200$' \
        || fail "after restart n9.z20.net A should be 198.18.0.200 with AD:"$'\n'"$out"
    ok "rec1 restarted; n9.z20.net A = 198.18.0.200, AD set"
}

sc_nats() {
    NATS_PORT=$(rm_free_port)
    rm_start_nats nats1 "$NATS_PORT"
    ok "nats1 healthy on 127.0.0.1:$NATS_PORT (monitor $(rm_nats_monitor_port nats1))"
    nats_pub "$NATS_PORT" '$JS.API.STREAM.CREATE.RMTEST' \
        '{"name":"RMTEST","subjects":["rmtest.>"],"storage":"file"}' || fail "stream create: no INFO or PONG from 127.0.0.1:$NATS_PORT"
    rm_wait_until 5 jsz_is streams 1 || fail "JetStream stream RMTEST not created: /jsz $(jsz)"
    nats_pub "$NATS_PORT" rmtest.one hello || fail "publish: no INFO or PONG from 127.0.0.1:$NATS_PORT"
    rm_wait_until 5 jsz_is messages 1 || fail "message not stored in RMTEST: /jsz $(jsz)"
    ok "JetStream stream RMTEST holds 1 message"
    rm_stop nats1
    out=$(ss -Hlntp "( sport = :$NATS_PORT )")
    [[ -z $out ]] || fail "port $NATS_PORT still open after rm_stop: $out"
    ok "nats1 stopped, port $NATS_PORT closed"
    rm_start_nats nats1 "$NATS_PORT"
    rm_wait_until 5 jsz_is messages 1 || fail "JetStream store lost across restart: /jsz $(jsz)"
    nats_pub "$NATS_PORT" rmtest.two world || fail "publish after restart: no INFO or PONG from 127.0.0.1:$NATS_PORT"
    rm_wait_until 5 jsz_is messages 2 || fail "message after restart not stored: /jsz $(jsz)"
    ok "nats1 restarted on port $NATS_PORT, store kept (1 message), publish works (2 messages)"
}

rm_scenario tree     "tree: NET $NET, 20 zones x 10 names"
rm_scenario leaf     "(d) leaf NSD answers directly, and only for leaf zones" tree
rm_scenario recursor "recursor" tree
rm_scenario positive "(a) validated positive answers" recursor
rm_scenario nxdomain "(b) validated NXDOMAIN" recursor
rm_scenario cache    "(c) cache counters" recursor
rm_scenario restart  "recursor restart on the same port" recursor
rm_scenario nats     "nats-server with JetStream: stop and restart on the same port"
rm_scenario_listing

rm_scenarios
