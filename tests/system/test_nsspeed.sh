#!/usr/bin/env bash
# test_nsspeed.sh - the fleet's NS speeds end to end, against a real Recursor,
# nats-server and `recmesh mirror`.
#
# The leaf servers sit behind bench/dnsdelay: both servers of z1 are dead, those
# of z2 answer after 40 ms, the others after 1 ms. Recursor A streams its client
# and outgoing traffic to the mirror. From Recursor 5.1 on, the outgoing stream
# names the NS name each server was asked under: the mirror's table (recmesh ns)
# shows them, and the intelligence file the mirror keeps (and the one recmesh
# warm writes) has, after the dead lines, `ns NSNAME ADDRESS RTT_US` lines for
# the tree's servers: the names the Recursor used, each at its own address, the
# dead servers at 1000000, z2's at 40 ms or more, every other below a second.
# On 4.8 (no names in its stream) the same files have the dead lines and no ns
# line.
# Then hand-made frames on the mirror's stream: timeouts the Recursor gave up
# on before 80 % of --rec-network-timeout are counted apart and make no server
# dead, nor end a run of timeouts; a reload of --rec-network-timeout changes
# which are early; a hostile NS name is ignored and counted; the table of
# client queries' header bits stays bounded, and says so.
# RM_TEST_NET overrides the NET prefix (127.65), e.g. to run two copies side by side.
# Each scenario runs alone with RM_SCENARIO=NAME (RM_SCENARIO=list lists them and
# what each needs).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/lib.sh"

rm_init test_nsspeed

# counter NAME: the mirror's latest value of a counter it logs (on SIGUSR1)
counter() { grep -o " $1=[0-9]*" "$RM_TMP/mirror.log" | tail -1 | cut -d= -f2; }
# counters_show NAME MIN: ask for the counters until NAME is at least MIN
counters_show() { kill -USR1 "$(rm_pid mirror)"; sleep 0.1; [[ $(counter "$1") -ge $2 ]]; }
ns_json() { "$RECMESH" ns --nats "$NATS" --cluster t --json 2>"$RM_TMP/ns.err"; }
z1_dead() {
    local ns k
    ns=$(ns_json) || return 1
    for k in "${DEAD[@]}"; do grep -q "\"address\":\"$k\",\"state\":\"dead\"" <<<"$ns" || return 1; done
}
# check_intel FILE: a version 2 file as the contract says: dead lines first, then ns lines of
# the dead servers at 1000000, then the working ones; names and addresses as in the tree
check_intel() {
    python3 - "$1" "$RM_TMP/names-of.txt" "$NAMED" "${DEAD[*]}" "${SLOW[*]}" <<'PY'
import re, sys
path, tree, named = sys.argv[1], dict(l.split() for l in open(sys.argv[2])), sys.argv[3] == "1"
dead_addrs, slow_addrs = set(sys.argv[4].split()), set(sys.argv[5].split())
lines = open(path, "rb").read().decode("ascii").split("\n")
if lines[-1] != "" or not re.fullmatch(r"# recmesh-intel 2 time=\d+\.\d{3}", lines[0]):
    sys.exit("header or final LF: %r" % lines[:1])
body, dead, ns, stage = lines[1:-1], [], [], 0
for l in body:
    if len(l) + 1 > 320:
        sys.exit("a line of %d bytes" % (len(l) + 1))
    m = re.fullmatch(r"dead ([0-9.]+)", l)
    if m:
        if stage:
            sys.exit("a dead line after an ns line: %s" % l)
        dead.append(m.group(1))
        continue
    m = re.fullmatch(r"ns ([a-z0-9_.-]+\.) ([0-9.]+) (\d+)", l)
    if not m:
        sys.exit("not a line of version 2: %r" % l)
    name, addr, rtt = m.group(1), m.group(2), int(m.group(3))
    if tree.get(addr) != name:
        sys.exit("%s is %s in the tree, the file says %s" % (addr, tree.get(addr), name))
    if not 1 <= rtt <= 10000000:
        sys.exit("RTT %d out of range: %s" % (rtt, l))
    is_dead = addr in dead_addrs
    if is_dead and (rtt != 1000000 or stage == 2):
        sys.exit("a dead server's speed: %s (after the working ones: %s)" % (l, stage == 2))
    if not is_dead:
        stage = 2
        if addr in slow_addrs and not 40000 <= rtt < 1000000:
            sys.exit("z2's server is 40 ms away: %s" % l)
        if addr not in slow_addrs and rtt >= 1000000:
            sys.exit("a server 1 ms away at %d us: %s" % (rtt, l))
    else:
        stage = max(stage, 1)
    ns.append((name, addr, rtt))
if set(dead) != dead_addrs:
    sys.exit("dead lines %s, expected %s" % (dead, sorted(dead_addrs)))
if not named:
    if ns:
        sys.exit("ns lines without names in the stream: %s" % ns)
    print("    %d dead lines, no ns line" % len(dead))
    sys.exit(0)
addrs = {a for _, a, _ in ns}
for want in dead_addrs | {tree_addr for tree_addr, n in tree.items() if n.startswith("a.root")}:
    if want not in addrs:
        sys.exit("no ns line for %s (%s)" % (want, tree[want]))
zones = {n.split(".", 1)[1] for n, _, _ in ns if ".z" in n}
if zones != {"z%d.%s." % (i, ("com", "net", "org")[(i - 1) % 3]) for i in range(1, 7)}:
    sys.exit("ns lines for the zones %s, expected z1..z6" % sorted(zones))
if not any(a in slow_addrs for a in addrs):
    sys.exit("no ns line for z2's servers")
print("    %d dead lines, %d ns lines: %s" % (len(dead), len(ns), " ".join("%s@%s=%d" % x for x in ns)))
PY
}
intel_ready() {
    [[ -f $INTEL ]] && check_intel "$INTEL" >"$RM_TMP/check.out" 2>&1
}
# frames ADDR KIND WAITED_MS NSNAME COUNT: COUNT incoming responses (type 4) from ADDR, now:
# KIND timeout or answer, WAITED_MS after their query, with meta nsName NSNAME ('' for none);
# or, with KIND query, COUNT client queries (type 1) of a 5.2+ Recursor, each with its own
# random messageId and RD set (ADDR, WAITED_MS and NSNAME unused)
frames() {
    python3 - "$PB_PORT" "$@" <<'PY'
import os, socket, struct, sys, time
port, addr, kind, waited, nsname, count = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
def varint(v):
    out = b""
    while True:
        b = v & 0x7f
        v >>= 7
        out += bytes([b | (0x80 if v else 0)])
        if not v:
            return out
def num(f, v): return varint(f << 3) + varint(v)
def blob(f, b): return varint(f << 3 | 2) + varint(len(b)) + b
s = socket.create_connection(("127.0.0.1", port))
out = b""
for i in range(count):
    if kind == "query":
        msg = num(1, 1) + blob(2, os.urandom(16)) + num(28, 0x0001)
        out += struct.pack(">H", len(msg)) + msg
        continue
    t = int(time.time() * 1e6)
    q = t - waited * 1000
    msg = num(1, 4) + blob(7, socket.inet_aton(addr)) + num(9, t // 10**6) + num(10, t % 10**6)
    msg += blob(12, blob(1, b"example.") + num(2, 1))
    msg += blob(13, num(1, 65536 if kind == "timeout" else 0) + num(5, q // 10**6) + num(6, q % 10**6))
    if nsname:
        msg += blob(22, blob(1, b"nsName") + blob(2, blob(1, nsname.encode())))
    out += struct.pack(">H", len(msg)) + msg
s.sendall(out)
s.close()
PY
}
late_dead() { ns_json | grep -q '"address":"192.0.2.78","state":"dead","rtt_ms":0.000,"answers":0,"timeouts":2,"streak":2,'; }
now_dead() { ns_json | grep -q '"address":"192.0.2.79","state":"dead","rtt_ms":0.000,"answers":0,"timeouts":2,'; }
hostile_seen() { ns_json | grep -q '"address":"192.0.2.80","state":"ok","rtt_ms":5.[0-9]*,"answers":2,.*"names":\[\]'; }

sc_stream() {
    A_PORT=$(rm_free_port)
    rm_start_recursor rec-a "$A_PORT" "protobuf=127.0.0.1:$PB_PORT" "outgoing-protobuf=127.0.0.1:$PB_PORT"
    rm_wait_until 10 counters_show connections 1 || fail "the Recursor never connected its streams: $(tail -3 "$RM_TMP/mirror.log")"
    mapfile -t NAMES < <(awk '{ print $1 }' "$RM_TREE/names.txt")
    # at once: the names of z1 wait for the timeouts of both its servers
    pids=()
    for n in "${NAMES[@]}"; do
        (dig +time=20 +tries=1 -p "$A_PORT" @127.0.0.1 +short "$n" A >"$RM_TMP/ask-$n" 2>&1 || true) &
        pids+=("$!")
    done
    wait "${pids[@]}"
    for n in "${NAMES[@]}"; do
        [[ $n == *.z1.com ]] && continue
        [[ -s $RM_TMP/ask-$n ]] || fail "A gave no answer for $n: $(cat "$RM_TMP/ask-$n")"
    done
    ok "A answered the ${#NAMES[@]} names outside z1"

    rm_wait_until 20 z1_dead || fail "z1's servers are not dead: $(ns_json; cat "$RM_TMP/ns.err")"
    ns_json >"$RM_TMP/ns.json"
    if ((NAMED)); then
        # every server of the table with names: its names are the tree's names for its address
        python3 - "$RM_TMP/ns.json" "$RM_TMP/names-of.txt" <<'PY' || fail "names in recmesh ns: $(cat "$RM_TMP/ns.json")"
import json, sys
tree = dict(line.split() for line in open(sys.argv[2]))
named = 0
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o["names"]:
        named += 1
        if o["names"] != [tree.get(o["address"])]:
            sys.exit("%s has names %s, the tree calls it %s" % (o["address"], o["names"], tree.get(o["address"])))
    elif o["address"] in tree:
        sys.exit("%s (%s) has no name" % (o["address"], tree[o["address"]]))
print("    %d servers with their names" % named)
PY
        ok "recmesh ns: every server A asked has the NS name A asked it under: $(grep -o '"names":\[[^]]*\]' "$RM_TMP/ns.json" | sort -u | tr '\n' ' ')"
    else
        grep -q '"names":\["' "$RM_TMP/ns.json" && fail "4.8 streams no NS names, yet: $(grep '"names":\["' "$RM_TMP/ns.json")"
        ok "recmesh ns: no NS names from a 4.8 stream"
    fi
}

sc_intel() {
    rm_wait_until 20 intel_ready || fail "the mirror's intelligence file: $(cat "$RM_TMP/check.out"; cat "$INTEL" 2>/dev/null)"
    cat "$RM_TMP/check.out"
    if ((NAMED)); then
        ok "the mirror's file: dead lines for z1's servers, then ns lines with the tree's names, 1000000 for the dead, z2's at 40 ms or more"
    else
        ok "the mirror's file: the dead lines of z1's servers, no ns line (no names on a 4.8 stream)"
    fi
}

sc_warm() {
    B_PORT=$(rm_free_port)
    rm_start_recursor rec-b "$B_PORT"
    "$RECMESH" warm --target "127.0.0.1:$B_PORT" --nats "$NATS" --cluster t --intel-file "$RM_TMP/intel/warm.txt" \
        --intel-wait 0 --query-timeout 2 >"$RM_TMP/warm.out" 2>"$RM_TMP/warm.err" || fail "warm failed: $(cat "$RM_TMP/warm.err")"
    grep -q "wrote '$RM_TMP/intel/warm.txt': 2 dead of [0-9]* servers, [0-9]* ns line(s), from 1 node table(s)" "$RM_TMP/warm.err" \
        || fail "what warm said: $(cat "$RM_TMP/warm.err")"
    check_intel "$RM_TMP/intel/warm.txt" || fail "warm's file: $(cat "$RM_TMP/intel/warm.txt")"
    ok "recmesh warm: $(grep -o "2 dead of .*" "$RM_TMP/warm.err")"
}

sc_frames() {
    kill -USR1 "$(rm_pid mirror)"
    rm_wait_until 5 grep -q 'early-timeouts=' "$RM_TMP/mirror.log" || fail "no counters: $(tail -3 "$RM_TMP/mirror.log")"
    e0=$(counter early-timeouts) t0=$(counter outgoing-timeouts)
    echo "    the Recursor's own: timeouts=$t0 early-timeouts=$e0"
    frames 192.0.2.77 timeout 150 ns.early.example 3      # a tenth of 1500 ms: early
    frames 192.0.2.78 timeout 1400 ns.late.example 2      # 93 %: timeouts
    frames 192.0.2.78 timeout 1100 ns.late.example 3      # 73 %: early, the run of 2 goes on
    rm_wait_until 10 counters_show early-timeouts $((e0 + 6)) || fail "early timeouts: $(counter early-timeouts), expected $((e0 + 6))"
    rm_wait_until 10 counters_show outgoing-timeouts $((t0 + 2)) || fail "outgoing timeouts: $(counter outgoing-timeouts), expected $((t0 + 2))"
    rm_wait_until 10 late_dead || fail "192.0.2.78 after 2 timeouts and 3 early ones: $(ns_json | grep 192.0.2.78)"
    ns_json | grep -q '192.0.2.77' && fail "early timeouts reached the table: $(ns_json | grep 192.0.2.77)"
    ok "early-timeouts=$(counter early-timeouts) (+6), outgoing-timeouts=$(counter outgoing-timeouts) (+2): 192.0.2.77 unknown, 192.0.2.78 dead with timeouts 2, streak 2"
    sed -i 's/^rec-network-timeout = 1500$/rec-network-timeout = 100/' "$RM_TMP/mirror.conf"
    kill -HUP "$(rm_pid mirror)"
    rm_wait_until 10 grep -q "reload: 'rec-network-timeout' 1500 -> 100" "$RM_TMP/mirror.log" \
        || fail "no reload of --rec-network-timeout: $(grep reload "$RM_TMP/mirror.log")"
    frames 192.0.2.79 timeout 150 ns.now-late.example 2   # 150 % of 100 ms: timeouts now
    rm_wait_until 10 now_dead || fail "after the reload, 150 ms timeouts should count: $(ns_json | grep 192.0.2.79)"
    [[ $(counter early-timeouts) -eq $((e0 + 6)) ]] || counters_show early-timeouts 0
    [[ $(counter early-timeouts) -eq $((e0 + 6)) ]] || fail "early-timeouts moved after the reload: $(counter early-timeouts)"
    ok "after a reload to --rec-network-timeout 100, 150 ms timeouts count: 192.0.2.79 dead"
    b0=$(counter bad-ns-name)
    frames 192.0.2.80 answer 5 'Bad Name!' 1
    frames 192.0.2.80 answer 5 'a..b' 1
    rm_wait_until 10 counters_show bad-ns-name $((b0 + 2)) || fail "bad-ns-name=$(counter bad-ns-name), expected $((b0 + 2))"
    rm_wait_until 10 hostile_seen || fail "192.0.2.80: $(ns_json | grep 192.0.2.80)"
    grep -q "ignoring an NS name that is not lower-case labels" "$RM_TMP/mirror.log" || fail "the hostile name was not logged"
    ok "hostile NS names ignored and counted (bad-ns-name=$(counter bad-ns-name)); their answers still count"
}

sc_bits() {
    q0=$(counter query-bits-dropped) c0=$(counter client-queries)
    # client queries whose responses never come
    frames - query 0 '' 40000
    rm_wait_until 20 counters_show client-queries $((c0 + 40000)) || fail "client-queries=$(counter client-queries), expected $((c0 + 40000))"
    dropped=$(($(counter query-bits-dropped) - q0))
    # of the 40000 + c0 put, at most 16384 stay and at most c0 (A's) were taken or aged out
    ((dropped >= 40000 - 16384)) || fail "40000 queries waiting, 16384 kept at most, yet only $dropped dropped"
    grep -q "header bits of client queries waiting for their responses (16384 at most)" "$RM_TMP/mirror.log" \
        || fail "the bound was not logged"
    kill -0 "$(rm_pid mirror)" || fail "the mirror died"
    ok "40000 client queries without responses: $dropped header bits dropped (at most 16384 kept), logged; the mirror runs on"
}

rm_scenario stream "Recursor A ($RM_RECURSOR) streams to the mirror; every name of the tree is asked"
rm_scenario intel  "the intelligence file the mirror writes" stream
rm_scenario warm   "recmesh warm writes the same kind of file" stream
rm_scenario frames "hand-made frames: early timeouts, --rec-network-timeout and its reload, a hostile NS name"
rm_scenario bits   "the header bits of client queries waiting for their responses are bounded" stream
rm_scenario_listing

NET=${RM_TEST_NET:-127.65}
export RM_LEAF_BACKEND=$NET.254.1
rm_start_tree "$NET" 6 3
# z1: both servers dead; z2: 40 ms; the others 1 ms
awk '{ split($1, p, "."); z = substr(p[1], 2) + 0; print $2, (z == 1 ? "dead" : z == 2 ? 40 : 1) }' \
    "$RM_TREE/leaf-servers.txt" >"$RM_TMP/plan.txt"
rm_spawn dnsdelay "$DNSDELAY" "$NET.254.1:53" "$RM_TMP/plan.txt"
_rm_wait_for dnsdelay 10 grep -q "relaying" "$RM_TMP/dnsdelay.log" \
    || fail "dnsdelay did not start relaying: $(tail -5 "$RM_TMP/dnsdelay.log")"
# the name each server has in the tree: ADDRESS NSNAME (leaf, TLD and root servers)
awk '{ split($1, p, "."); z = substr(p[1], 2) + 0; k = (z in s) ? 2 : 1; s[z] = 1; print $2, "ns" k "." $1 "." }' \
    "$RM_TREE/leaf-servers.txt" >"$RM_TMP/names-of.txt"
printf '%s ns1.tld-servers.hermetic.\n%s ns2.tld-servers.hermetic.\n%s a.root-servers.hermetic.\n' \
    "$NET.1.1" "$NET.1.2" "$NET.0.1" >>"$RM_TMP/names-of.txt"
DEAD=("$NET.2.1" "$NET.3.1")
SLOW=("$NET.2.2" "$NET.3.2")
case $RM_RECURSOR in 4.8) NAMED=0 ;; *) NAMED=1 ;; esac # nsName: Recursor 5.1 and later

NATS_PORT=$(rm_free_port)
NATS=nats://127.0.0.1:$NATS_PORT
rm_start_nats nats "$NATS_PORT"
mkdir "$RM_TMP/intel"
INTEL=$RM_TMP/intel/node.txt
PB_PORT=$(rm_free_port)
# options in a file, so that a reload (SIGHUP) can change --rec-network-timeout
cat >"$RM_TMP/mirror.conf" <<EOF
protobuf-listen = 127.0.0.1:$PB_PORT
nats = $NATS
cluster = t
node = m1
hot-interval = 0.5
stats-interval = 0
intel-file = $INTEL
rec-network-timeout = 1500
EOF
rm_spawn mirror "$RECMESH" mirror --config "$RM_TMP/mirror.conf"
_rm_wait_for mirror 10 grep -q 'listening for the Recursor' "$RM_TMP/mirror.log" \
    || fail "recmesh mirror does not listen: $(tail -5 "$RM_TMP/mirror.log")"

rm_scenarios
