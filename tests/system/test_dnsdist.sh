#!/usr/bin/env bash
# test_dnsdist.sh - dnsdist stays in front of the Recursor and feeds recmesh mirror.
#
# The deployment of README "dnsdist in front of the Recursors": dnsdist
# answers the clients and logs every answer (its own cache hits too) to
# recmesh mirror with the lines of contrib/dnsdist/recmesh-dnsdist.conf, used
# as they are; the Recursor behind it sends only its outgoing
# stream to the mirror, for the authoritative-server table. Run with dnsdist
# 1.7 (Debian 12, the host's) and 1.9 (Debian 13, the trixie chroot of
# tests/chroots.sh), each in front of the same Recursor (RM_RECURSOR), and
# each with a mirror of its own cluster:
#   - the names the clients ask through dnsdist fill the hot list, and a name
#     asked three times (twice answered from dnsdist's packet cache, as its
#     cache-hits counter shows) ranks above one asked once: cache hits count;
#   - a CD=1 query counts (dnsdist's messages carry no header bits the mirror
#     reads, README), and the events say RD only, with the client's address
#     (the mirrors run with --mirror-client-ip);
#   - the Recursor's outgoing stream fills the NS table, with the tree's
#     servers answering;
#   - with its mirror stopped, dnsdist answers as before;
#   - a warm-up from that hot list warms a fresh Recursor.
# RM_TEST_NET overrides the NET prefix (127.77), e.g. to run two copies side by side.
# Each scenario runs alone with RM_SCENARIO=NAME (RM_SCENARIO=list lists them and what each needs).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/lib.sh"
SRC=${RECMESH_SRCDIR:-$(cd "$HERE/../.." && pwd)}

rm_init test_dnsdist

# dd_stat VERSION NAME: a counter of dnsdist VERSION, from its web server's /jsonstat
dd_stat() {
    python3 - "${WEB_PORT[$1]}" "$2" <<'PY'
import json, sys, urllib.request
req = urllib.request.Request("http://127.0.0.1:%s/jsonstat?command=stats" % sys.argv[1],
                             headers={"X-API-Key": "recmesh-test"})
print(int(json.load(urllib.request.urlopen(req, timeout=5))[sys.argv[2]]))
PY
}

hot() { "$RECMESH" hot --nats "$NATS" --cluster "$1" --json --top 1000 2>/dev/null; }
rank_of() { hot "$1" | sed -n "s/.*\"rank\":\([0-9]*\),\"qname\":\"$2\",\"qtype\":\"A\".*/\1/p"; }

# dnsdist_in_front VERSION: dnsdist VERSION (1.7 or 1.9) in front of Recursor A, logging to the
# mirror of its cluster (d17 or d19), asked the names of its zones (FIRST)
dnsdist_in_front() {
    v=$1
    c=d${v/./}
    DD_PORT[$v]=$(rm_free_port) WEB_PORT[$v]=$(rm_free_port)
    cat >"$RM_TMP/dnsdist-$c.conf" <<EOF
-- dnsdist in front of the Recursor (written by test_dnsdist.sh), then contrib/dnsdist/recmesh-dnsdist.conf
setSecurityPollSuffix("")
setLocal("127.0.0.1:${DD_PORT[$v]}")
newServer({address="127.0.0.1:$A_PORT", name="recursor", checkName="localhost.", checkType="A"})
-- its counters, for the test: cache-hits
webserver("127.0.0.1:${WEB_PORT[$v]}")
setWebserverConfig({apiKey="recmesh-test", password="recmesh-test"})
getPool(""):setCache(newPacketCache(10000))
EOF
    # contrib's lines as they are, with the mirror's address
    sed "s/127\.0\.0\.1:4242/127.0.0.1:${PB_PORT[$v]}/" "$SRC/contrib/dnsdist/recmesh-dnsdist.conf" >>"$RM_TMP/dnsdist-$c.conf"
    grep -q "newRemoteLogger(\"127.0.0.1:${PB_PORT[$v]}\")" "$RM_TMP/dnsdist-$c.conf" \
        || fail "contrib/dnsdist/recmesh-dnsdist.conf no longer names 127.0.0.1:4242"
    rm_start_dnsdist "dnsdist-$c" "$v" "${DD_PORT[$v]}" "$RM_TMP/dnsdist-$c.conf" \
        || fail "dnsdist $v did not start: $(tail -5 "$RM_TMP/dnsdist-$c.log")"
    # dnsdist connects its remote logger in the background: wait for the mirror's connection
    conns() { kill -USR1 "$(rm_pid "mirror-$c")"; grep -o 'protobuf connections=[0-9]*' "$RM_TMP/mirror-$c.log" | tail -1; }
    connected() { [[ $(conns) == *=[1-9]* ]]; }
    rm_wait_until 15 connected || fail "dnsdist $v never connected to the mirror: $(conns); $(tail -5 "$RM_TMP/dnsdist-$c.log")"

    # www names three times (the second and third from dnsdist's cache), n1 names once
    WWW=() N1=()
    for i in $(seq "${FIRST[$v]}" $((FIRST[$v] + 5))); do WWW+=("www.$(rm_zone "$i")"); N1+=("n1.$(rm_zone "$i")"); done
    h0=$(dd_stat "$v" cache-hits) || fail "dnsdist $v: cannot read its cache-hits counter"
    for n in "${WWW[@]}" "${WWW[@]}" "${WWW[@]}" "${N1[@]}"; do
        out=$(rm_dig @127.0.0.1 -p "${DD_PORT[$v]}" +short "$n" A) && [[ $out == 198.18.* ]] \
            || fail "dnsdist $v: no answer for $n: $out"
    done
    h1=$(dd_stat "$v" cache-hits) || fail "dnsdist $v: cannot read its cache-hits counter"
    # the second and third query of each www name came from dnsdist's cache
    ((h1 - h0 == 12)) || fail "dnsdist $v: $((h1 - h0)) cache hits for 30 client queries of 12 names, want 12"
    listed() { local h; h=$(hot "$c"); for n in "${WWW[@]}" "${N1[@]}"; do grep -q "\"qname\":\"$n.\"" <<<"$h" || return 1; done; }
    rm_wait_until 10 listed || fail "dnsdist $v: the hot list lacks names asked: $(hot "$c" | head -20)"
    ok "dnsdist $v: the ${#WWW[@]} + ${#N1[@]} names asked through it are in the hot list of $c"
    # ranks: every www name (3 answers, 2 of them cache hits) above every n1 name (1)
    worst_www=0 best_n1=100000
    for n in "${WWW[@]}"; do r=$(rank_of "$c" "$n."); ((r > worst_www)) && worst_www=$r; done
    for n in "${N1[@]}"; do r=$(rank_of "$c" "$n."); ((r < best_n1)) && best_n1=$r; done
    ((worst_www < best_n1)) || fail "dnsdist $v: a www name at rank $worst_www, an n1 name at $best_n1: cache hits not counted? $(hot "$c")"
    ok "dnsdist $v: names answered from its cache ($((h1 - h0)) cache hits) rank above those asked once (www ranks 1..$worst_www, n1 from $best_n1)"

    # a CD=1 query: dnsdist's query messages carry no header bits the mirror reads
    CDNAME=n2.$(rm_zone "${FIRST[$v]}")
    rm_spawn "events-$c" "$RECMESH" events --nats "$NATS" --cluster "$c" --json
    EVLOG=$RM_TMP/events-$c.log
    rm_wait_until 5 grep -q listening "$EVLOG" || fail "recmesh events did not subscribe: $(cat "$EVLOG")"
    out=$(rm_dig @127.0.0.1 -p "${DD_PORT[$v]}" +cd +dnssec +short "$CDNAME" A) || fail "dnsdist $v: no answer to $CDNAME with CD=1: $out"
    rm_wait_until 10 grep -q "\"qname\":\"$CDNAME.\"" "$EVLOG" || fail "no event for $CDNAME: $(cat "$EVLOG")"
    rm_stop "events-$c"
    ev=$(grep "\"qname\":\"$CDNAME.\"" "$EVLOG" | head -1)
    echo "    event of the CD=1 query through dnsdist $v: $ev"
    grep -q '"rd":true,"cd":false,"do":false' <<<"$ev" || fail "dnsdist $v: the event should say RD only: $ev"
    grep -q '"client":"127.0.0.1"' <<<"$ev" || fail "dnsdist $v: the event lacks the client's address (--mirror-client-ip): $ev"
    cd_listed() { hot "$c" | grep -q "\"qname\":\"$CDNAME.\""; }
    rm_wait_until 10 cd_listed || fail "dnsdist $v: the CD=1 query should count for the hot list as documented"
    ok "dnsdist $v: no header bits in its stream: the CD=1 query counts, the event says RD only, with the client"
}

sc_d17() {
    dnsdist_in_front 1.7
}

sc_d19() {
    dnsdist_in_front 1.9
}

sc_ns() {
    ns_ok() { (($("$RECMESH" ns --nats "$NATS" --cluster d17 --json 2>/dev/null | grep -c '"state":"ok"') >= 3)); }
    rm_wait_until 10 ns_ok || fail "the NS table of d17 lacks answering servers: $("$RECMESH" ns --nats "$NATS" --cluster d17 2>&1 | head)"
    ok "recmesh ns: $("$RECMESH" ns --nats "$NATS" --cluster d17 --json | grep -c '"state":"ok"') answering servers learned from the Recursor behind dnsdist"
}

sc_away() {
    rm_stop mirror-d17
    for i in 1 2 3 4 5 6; do
        n=n4.$(rm_zone "$i")
        out=$(rm_dig @127.0.0.1 -p "${DD_PORT[1.7]}" +short "$n" A) && [[ $out == 198.18.* ]] \
            || fail "dnsdist 1.7 without its mirror: no answer for $n: $out"
    done
    ok "dnsdist 1.7 answers 6 names with its mirror stopped"
}

sc_warm() {
    B_PORT=$(rm_free_port)
    rm_start_recursor rec-b "$B_PORT"
    out=$("$RECMESH" warm --target "127.0.0.1:$B_PORT" --nats "$NATS" --cluster d19 --json 2>&1) \
        || fail "recmesh warm from cluster d19 failed: $out"
    cached() { [[ $(rm_dig +norecurse @127.0.0.1 -p "$B_PORT" "$1" A) == *$'\tA\t198.18.'* ]]; }
    for i in $(seq 7 12); do
        cached "www.$(rm_zone "$i")" || fail "www.$(rm_zone "$i") is not in B's cache after the warm-up: $out"
    done
    ok "B has the 6 www names of dnsdist 1.9's clients in its cache: $(tail -1 <<<"$out")"
}

rm_scenario d17  "dnsdist 1.7 in front of Recursor $RM_RECURSOR, logging to the mirror of cluster d17"
rm_scenario d19  "dnsdist 1.9 in front of Recursor $RM_RECURSOR, logging to the mirror of cluster d19"
rm_scenario ns   "the Recursor's outgoing stream fills the NS table" d17
rm_scenario away "the mirror away: dnsdist answers as before" d17
rm_scenario warm "a fresh Recursor warmed from the hot list dnsdist's clients made" d19
rm_scenario_listing

NET=${RM_TEST_NET:-127.77}
rm_start_tree "$NET" 12 6
NATS_PORT=$(rm_free_port)
NATS=nats://127.0.0.1:$NATS_PORT
rm_start_nats nats "$NATS_PORT"

# one mirror per dnsdist version: cluster d17 or d19
declare -A PB_PORT DD_PORT WEB_PORT
for v in 1.7 1.9; do
    c=d${v/./}
    PB_PORT[$v]=$(rm_free_port)
    rm_spawn "mirror-$c" "$RECMESH" mirror --protobuf-listen "127.0.0.1:${PB_PORT[$v]}" --nats "$NATS" \
        --cluster "$c" --node m1 --hot-interval 0.3 --stats-interval 0 --mirror-client-ip
    _rm_wait_for "mirror-$c" 10 grep -q 'listening for the Recursor' "$RM_TMP/mirror-$c.log" \
        || fail "recmesh mirror of $c does not listen: $(tail -5 "$RM_TMP/mirror-$c.log")"
done
# the Recursor's outgoing stream goes to the 1.7 mirror: its NS table is checked once
A_PORT=$(rm_free_port)
rm_start_recursor rec-a "$A_PORT" "outgoing-protobuf=127.0.0.1:${PB_PORT[1.7]}"

# the zones each version's clients ask: 1..6 for 1.7, 7..12 for 1.9
declare -A FIRST=([1.7]=1 [1.9]=7)

rm_scenarios
