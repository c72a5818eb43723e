#!/usr/bin/env bash
# test_nsspeed_lua.sh - contrib/recmesh.lua with a version 2 intel file (dead
# servers and the fleet's NS speeds) on a real Recursor of RM_RECURSOR's
# version.
#
# The leaf authoritatives sit behind bench/dnsdelay, which counts the queries
# each address gets. Zones z1..z20: one server answers after 1 ms, the other
# after 300 ms (ns1 fast in odd zones, ns2 in even ones), and the file gives
# the fleet's RTTs of both. Zones z21..z30: ns1 is dead (dnsdelay swallows its
# queries) and listed dead in the file; ns2 answers. The file is written by
# hand, exactly per the version 2 contract (doc/intel.md).
# The slow servers are 300 ms away, a gap the Recursor's own measurements of
# a fast server cannot close on a loaded machine: at 40 ms, one did (a 1 ms
# server measured above 41 ms sent its zone's next query to the slow one).
#   5.4 (putIntoNSSpeedTable): rec_control dump-nsspeeds lists every name and
#       address of the file with the file's RTTs, once (one thread imports); the
#       first query for each of z1..z20 goes to its fast server, never to the
#       slow one; a changed file adds its new names and keeps the ones the
#       Recursor has.
#   4.8, 5.2: the script loads without an error and imports nothing; the slow
#       servers get queries (an unknown server is tried first).
#   Every version: no query reaches a dead server, none times out, every
#   name is answered, and the Recursor still answers afterwards.
# RM_TEST_NET overrides the NET prefix (127.68), e.g. to run two copies side by side.
# Each scenario runs alone with RM_SCENARIO=NAME (RM_SCENARIO=list lists them and
# what each needs).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/lib.sh"
LUA=${RECMESH_SRCDIR:-$HERE/../..}/contrib/recmesh.lua

rm_init test_nsspeed_lua

# addr I N: the address of nsN.zI (leaf-servers.txt lists ns1 then ns2 of each zone)
addr() { awk -v z="$(rm_zone "$1")" -v n="$2" '$1 == z { if (++k == n) print $2 }' "$RM_TREE/leaf-servers.txt"; }
# counts: the queries each relayed address got so far, "ADDR N" lines into $RM_TMP/counts.txt
# (dnsdelay writes "ADDR DELAY|dead N" lines into a new file on SIGUSR1, renamed into place)
counts() {
    rm -f "$RM_TMP/relay-counts.txt"
    kill -USR1 "$(rm_pid dnsdelay)"
    rm_wait_until 5 test -e "$RM_TMP/relay-counts.txt" || fail "dnsdelay does not count"
    awk '{ print $1, $3 }' "$RM_TMP/relay-counts.txt" >"$RM_TMP/counts.txt"
}
count_of() { awk -v a="$1" '$1 == a { print $2 }' "$RM_TMP/counts.txt"; }
# the intel file, version 2, written as recmesh writes it: a temp file renamed over it
write_intel() { # extra ns lines as arguments
    local l
    {
        printf '# recmesh-intel 2 time=%s\n' "${EPOCHREALTIME:0:14}"
        for i in $(seq 21 30); do printf 'dead %s\n' "${DEAD[i]}"; done
        for i in $(seq 1 20); do
            printf 'ns %s %s 1200\nns %s %s 301000\n' "${FASTNS[i]}" "${FAST[i]}" "${SLOWNS[i]}" "${SLOW[i]}"
        done
        for l in "$@"; do printf 'ns %s\n' "$l"; done
    } >"$INTEL.tmp"
    mv -f "$INTEL.tmp" "$INTEL"
}
# speeds: the Recursor's NS speed table as "name address decaying-ms last-ms" lines
speeds() {
    rm_rec_control rec dump-nsspeeds - | awk -F'\t' '!/^;/ && NF >= 3 { for (i = 3; i <= NF; i++) {
        split($i, p, "/"); print $1 ".", p[1], p[2], p[3] } }'
}
want() { # the lines the import must have put there, sorted
    for i in $(seq 1 20); do
        printf '%s %s 1.200 1.200\n%s %s 301.000 301.000\n' "${FASTNS[i]}" "${FAST[i]}" "${SLOWNS[i]}" "${SLOW[i]}"
    done
    printf 'kept.example. 192.0.2.1 4.000 4.000\nkept.example. 2001:db8::1 4.500 4.500\n'
}
has_new() { speeds | grep -qx 'new2.example. 2001:db8::22 10000.000 10000.000'; }
ask_zone() { # www, then n1: the second query goes to the server not asked yet (unknown: 0 ms)
    local z=$1 n
    for n in www n1; do rm_dig @127.0.0.1 -p "$PORT" +time=10 +short "$n.$z" A >"$RM_TMP/ask-$n.$z" 2>&1 || return 1; done
}

sc_script() {
    PORT=$(rm_free_port)
    RECMESH_INTEL_FILE=$INTEL rm_start_recursor rec "$PORT" "lua-dns-script=$LUA"
    errs=$(grep -Ei 'lua.*(error|exception)|(error|exception).*lua|failed to load' "$RM_TMP/rec.log" || true)
    [[ -z $errs ]] || fail "Lua errors in the Recursor's log: $errs"
    ok "the script loads without an error"

    speeds >"$RM_TMP/speeds-0.txt" || fail "dump-nsspeeds failed"
    if ((IMPORTS)); then
        missing=$(comm -23 <(want | sort) <(sort "$RM_TMP/speeds-0.txt"))
        [[ -z $missing ]] || fail "dump-nsspeeds lacks imported speeds: $missing (it has: $(cat "$RM_TMP/speeds-0.txt"))"
        n=$(want | wc -l)
        ok "dump-nsspeeds lists all $n (name, address) pairs of the file with the file's RTTs (1.200 and 301.000 ms)"
        # the script logs its import; the Recursor logs every dump it processed
        imported=$(grep -o "recmesh: NS speeds from '[^']*': [0-9]* of [0-9]* name(s) imported" "$RM_TMP/rec.log" || true)
        [[ $(wc -l <<<"$imported") -eq 1 && $imported == *": 41 of 41 name(s) imported" ]] \
            || fail "expected one import of 41 names, the log says: '$imported'"
        ok "one thread imported the file: $imported"
    else
        leaked=$(grep -E '^(ns[12]\.z[0-9]+|kept\.example|recmesh-import-)' "$RM_TMP/speeds-0.txt" || true)
        [[ -z $leaked ]] || fail "Recursor $RM_RECURSOR has speeds of the file: $leaked"
        ! grep -q 'recmesh: NS speeds' "$RM_TMP/rec.log" || fail "the script says it imported on $RM_RECURSOR"
        ok "nothing imported on $RM_RECURSOR (no putIntoNSSpeedTable): $(wc -l <"$RM_TMP/speeds-0.txt") entries, all the Recursor's own"
    fi
}

sc_first() {
    counts
    for i in $(seq 1 20); do
        [[ $(count_of "${FAST[i]}") == 0 && $(count_of "${SLOW[i]}") == 0 ]] \
            || fail "z$i's servers were asked before the test asked: $(cat "$RM_TMP/counts.txt")"
    done
    for i in $(seq 1 20); do
        out=$(rm_dig @127.0.0.1 -p "$PORT" +short "www.$(rm_zone "$i")" A) || fail "www.$(rm_zone "$i") A: no answer"
        [[ -n $out ]] || fail "www.$(rm_zone "$i") A: empty answer"
    done
    counts
    fast=0 slow=0 slow_hit=()
    for i in $(seq 1 20); do
        fast=$((fast + $(count_of "${FAST[i]}"))) slow=$((slow + $(count_of "${SLOW[i]}")))
        [[ $(count_of "${SLOW[i]}") == 0 ]] || slow_hit+=("z$i")
    done
    echo "   queries to the 20 fast servers: $fast; to the 20 slow ones: $slow (zones: ${slow_hit[*]:-none})"
    if ((IMPORTS)); then
        [[ $slow -eq 0 && $fast -ge 20 ]] || fail "with the fleet's speeds, the slow servers got $slow queries (${slow_hit[*]}), the fast ones $fast"
        ok "with the fleet's speeds every query went to the fast server: fast $fast, slow 0"
    else
        # without speeds the Recursor asks the servers it does not know first, so the
        # zone's second query (A, DNSKEY) goes to the other server, slow or not
        [[ $slow -gt 0 ]] || fail "without the fleet's speeds no slow server was asked: the comparison proves nothing"
        ok "without the fleet's speeds ($RM_RECURSOR) the slow servers got $slow of $((fast + slow)) queries"
    fi
}

sc_changed() {
    write_intel "kept.example. 192.0.2.1 9000" "new1.example. 192.0.2.11 3300" "new2.example. 2001:db8::22 10000000"
    if ((IMPORTS)); then
        rm_wait_until 15 has_new || fail "the new names were not imported: $(speeds)"
        speeds >"$RM_TMP/speeds-1.txt"
        grep -qx 'new1.example. 192.0.2.11 3.300 3.300' "$RM_TMP/speeds-1.txt" || fail "new1.example.: $(cat "$RM_TMP/speeds-1.txt")"
        grep -qx 'kept.example. 192.0.2.1 4.000 4.000' "$RM_TMP/speeds-1.txt" \
            || fail "kept.example. changed: $(grep kept "$RM_TMP/speeds-1.txt")"
        rm_wait_until 5 grep -q ': 2 of 43 name(s) imported' "$RM_TMP/rec.log" \
            || fail "the second import: $(grep 'recmesh: NS speeds' "$RM_TMP/rec.log")"
        ok "a changed file: its 2 new names imported (3.300, 10000.000 ms), the names the Recursor had kept (kept.example. still 4.000)"
    fi
}

sc_dead() {
    to0=$(rm_rec_stat rec outgoing-timeouts) || fail "cannot read outgoing-timeouts"
    pids=()
    for i in $(seq 21 30); do ask_zone "$(rm_zone "$i")" & pids+=("$!"); done
    for k in "${!pids[@]}"; do wait "${pids[k]}" || fail "z$((k + 21)): no answer: $(cat "$RM_TMP"/ask-*."$(rm_zone $((k + 21)))")"; done
    for i in $(seq 21 30); do
        for n in www n1; do [[ -s $RM_TMP/ask-$n.$(rm_zone "$i") ]] || fail "$n.$(rm_zone "$i"): empty answer"; done
    done
    counts
    to1=$(rm_rec_stat rec outgoing-timeouts) || fail "cannot read outgoing-timeouts"
    sent=0
    for i in $(seq 21 30); do sent=$((sent + $(count_of "${DEAD[i]}"))); done
    speeds >"$RM_TMP/speeds-2.txt"
    skipped=0
    for i in $(seq 21 30); do
        # the skip's sample is the last one; the average decays from it as it is read
        awk -v n="ns1.$(rm_zone "$i")." -v a="${DEAD[i]}" '$1 == n && $2 == a && $4 == "1000.000" { f = 1 } END { exit !f }' \
            "$RM_TMP/speeds-2.txt" && skipped=$((skipped + 1))
    done
    echo "   20 names of 10 zones answered; queries that reached the dead servers: $sent; outgoing timeouts: $((to1 - to0)); dead servers with the skip's 1000 ms sample: $skipped"
    [[ $sent -eq 0 ]] || fail "$sent queries reached the dead servers"
    [[ $((to1 - to0)) -eq 0 ]] || fail "$((to1 - to0)) outgoing timeouts"
    [[ $skipped -eq 10 ]] || fail "only $skipped of the 10 dead servers show the skip's 1000 ms sample: $(grep '^ns1\.z' "$RM_TMP/speeds-2.txt")"
    ok "every dead server skipped (10 of 10 with the skip's 1000 ms sample), none asked, 0 timeouts, all 20 names answered"

    if ((!IMPORTS)); then
        ! speeds | grep -qE '^(new1|new2|kept)\.example\.' || fail "Recursor $RM_RECURSOR imported the changed file"
        ok "the changed file imported nothing on $RM_RECURSOR either"
    fi
    rm_rec_control rec ping >/dev/null || fail "the Recursor does not answer rec_control ping any more"
    out=$(rm_dig @127.0.0.1 -p "$PORT" +short www.z2.net A) || fail "the Recursor stopped answering"
    ok "the Recursor still answers (rec_control ping, www.z2.net A = $out)"
}

rm_scenario script  "Recursor $RM_RECURSOR with contrib/recmesh.lua and a version 2 file (40 speeds of z1..z20, 10 dead servers)"
rm_scenario first   "the first query for each of z1..z20: which server gets it" script
rm_scenario changed "a changed file" script
rm_scenario dead    "dead servers of z21..z30: skipped" changed
rm_scenario_listing

NET=${RM_TEST_NET:-127.68}
export RM_LEAF_BACKEND=$NET.254.1
rm_start_tree "$NET" 30 4
IMPORTS=0
[[ $RM_RECURSOR == 5.4 ]] && IMPORTS=1 # putIntoNSSpeedTable: 5.3 and later

FAST=() SLOW=() FASTNS=() SLOWNS=() DEAD=() LIVE=()
for i in $(seq 1 20); do
    if ((i % 2)); then f=1 s=2; else f=2 s=1; fi
    FAST[i]=$(addr "$i" "$f") SLOW[i]=$(addr "$i" "$s") FASTNS[i]=ns$f.$(rm_zone "$i"). SLOWNS[i]=ns$s.$(rm_zone "$i").
done
for i in $(seq 21 30); do DEAD[i]=$(addr "$i" 1) LIVE[i]=$(addr "$i" 2); done
{
    for i in $(seq 1 20); do printf '%s 1\n%s 300\n' "${FAST[i]}" "${SLOW[i]}"; done
    for i in $(seq 21 30); do printf '%s dead\n%s 1\n' "${DEAD[i]}" "${LIVE[i]}"; done
} >"$RM_TMP/plan.txt"
rm_spawn dnsdelay "$DNSDELAY" "$NET.254.1:53" "$RM_TMP/plan.txt" "$RM_TMP/relay-counts.txt"
_rm_wait_for dnsdelay 10 grep -q "relaying 60 addresses" "$RM_TMP/dnsdelay.log" \
    || fail "dnsdelay did not start relaying: $(tail -5 "$RM_TMP/dnsdelay.log")"

INTEL=$RM_TMP/intel.txt
write_intel "kept.example. 192.0.2.1 4000" "kept.example. 2001:db8::1 4500"

rm_scenarios
