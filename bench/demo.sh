#!/usr/bin/env bash
# demo.sh: recmesh on one machine, with real servers on loopback.
#
# A hermetic, DNSSEC-signed DNS tree (NSD), nats-server with JetStream, two
# PowerDNS Recursors each behind `recmesh proxy`, and a Zipf-distributed
# client load (dnsperf). Then it shows what the fleet learned: the merged hot
# list, the events on NATS and the proxies' counters.
# Installs the dependencies and builds first (bench/build.sh). Run as root.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RECMESH=${RECMESH:-$("$HERE/build.sh")}
source "$HERE/../tests/system/lib.sh"

ZONES=${ZONES:-100}
NAMES=${NAMES:-20}
QUERIES=${QUERIES:-60000}

rm_init demo
if [[ -t 1 ]]; then B=$'\033[1m' N=$'\033[0m'; else B='' N=''; fi
say() { printf '\n%s== %s%s\n' "$B" "$*" "$N"; }

say "starting a hermetic DNS tree: $ZONES zones x $NAMES names, signed"
rm_start_tree 127.70 "$ZONES" "$NAMES"
NATS_PORT=$(rm_free_port)
NATS=nats://127.0.0.1:$NATS_PORT
rm_start_nats nats "$NATS_PORT"
echo "nats-server with JetStream on $NATS"

declare -A PROXY_PORT
for node in a b; do
	rec_port=$(rm_free_port)
	PROXY_PORT[$node]=$(rm_free_port)
	rm_start_recursor "rec-$node" "$rec_port"
	rm_spawn "proxy-$node" "$RECMESH" proxy --listen "127.0.0.1:${PROXY_PORT[$node]}" \
		--upstream "127.0.0.1:$rec_port" --nats "$NATS" --cluster demo --node "$node" \
		--hot-interval 2 --stats-interval 0
	rm_wait_until 10 rm_dig @127.0.0.1 -p "${PROXY_PORT[$node]}" +short localhost A >/dev/null
	echo "node $node: pdns_recursor on 127.0.0.1:$rec_port, recmesh proxy on 127.0.0.1:${PROXY_PORT[$node]}"
done

say "client load: $QUERIES queries per node, Zipf (s=0.9) over $(wc -l <"$RM_TREE/names.txt") names"
"$RECMESH" events --nats "$NATS" --cluster demo >"$RM_TMP/events.txt" 2>"$RM_TMP/events.err" &
EVPID=$!
for node in a b; do
	awk -v COUNT="$QUERIES" -v S=0.9 -v SEED="$RANDOM" -f "$HERE/zipf.awk" "$RM_TREE/names.txt" >"$RM_TMP/q-$node.txt"
	dnsperf -s 127.0.0.1 -p "${PROXY_PORT[$node]}" -d "$RM_TMP/q-$node.txt" -n 1 -c 4 -q 100 -Q 4000 >"$RM_TMP/dnsperf-$node.txt" 2>&1 &
done
wait_load() { ! pgrep -f "dnsperf -s 127.0.0.1 -p (${PROXY_PORT[a]}|${PROXY_PORT[b]})" >/dev/null; }
rm_wait_until 120 wait_load
for node in a b; do
	printf 'node %s: %s, %s\n' "$node" "$(grep -o 'Queries completed:.*' "$RM_TMP/dnsperf-$node.txt")" \
		"$(grep -o 'Average Latency (s):[^(]*' "$RM_TMP/dnsperf-$node.txt")"
done

say "the fleet's hot list (recmesh hot --top 15), merged from both nodes' KV entries"
sleep 2.5 # one --hot-interval, so both nodes have written their lists
"$RECMESH" hot --nats "$NATS" --cluster demo --top 15

say "traffic events on recmesh.demo.traffic.* (recmesh events)"
kill "$EVPID" 2>/dev/null || true
wait "$EVPID" 2>/dev/null || true
echo "$(wc -l <"$RM_TMP/events.txt") events received; the first three:"
head -3 "$RM_TMP/events.txt"

say "proxy counters"
for node in a b; do
	kill -USR1 "$(rm_pid "proxy-$node")"
done
rm_wait_until 5 grep -q 'events published' "$RM_TMP/proxy-b.log"
for node in a b; do
	echo "node $node:"
	grep 'counters:' "$RM_TMP/proxy-$node.log" | tail -2 | sed 's/^.*counters: /  /'
done
echo
echo "done; everything started here is stopped now"
