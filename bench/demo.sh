#!/usr/bin/env bash
# demo.sh: a warm restart with recmesh, on one machine, with real servers.
#
# A hermetic, DNSSEC-signed DNS tree whose leaf authoritatives have real
# latencies (20-80 ms; some slow, some dead), nats-server with JetStream, two
# PowerDNS Recursors each behind `recmesh proxy`, and a Zipf-distributed
# client load through both. Then Recursor B is restarted twice, once cold and
# once followed by `recmesh warm`, and a table shows what B's clients saw in
# the first WINDOW seconds each time (median and p99 latency, share of
# answers under 5 ms, upstream queries, timeouts). Then Recursor B is
# restarted twice more under the client load (down GAP s), proxy B with
# --auto-warm, once without and once with --peer (Recursor A): the queries
# lost and the latency of the first RESTART_WINDOW seconds.
# Installs the dependencies and builds first (bench/build.sh). Run as root.
# WINDOW=seconds (default 20), RESTART_WINDOW (10), GAP (0.5), ZONES, NAMES override the sizes;
# DEMO_NET the tree's 127.x prefix (127.70).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RECMESH=${RECMESH:-$("$HERE/build.sh")}
source "$HERE/../tests/system/lib.sh"
rm_init demo
WINDOW=${WINDOW:-20} QPS=${QPS:-300} RESTART_WINDOW=${RESTART_WINDOW:-10} GAP=${GAP:-0.5}
source "$HERE/common.sh"
ZONES=${ZONES:-200}
NAMES=${NAMES:-20}
if [[ -t 1 ]]; then B=$'\033[1m' N=$'\033[0m'; else B='' N=''; fi
say() { printf '\n%s== %s%s\n' "$B" "$*" "$N"; }

say "a hermetic DNS tree: $ZONES zones x $NAMES names, signed, leaf servers 20-80 ms away"
bench_tree "${DEMO_NET:-127.70}" "$ZONES" "$NAMES"
echo "$BENCH_SERVERS leaf server addresses: $BENCH_DEAD dead, $BENCH_SLOW at 300 ms"
NATS_PORT=$(rm_free_port)
NATS=nats://127.0.0.1:$NATS_PORT
rm_start_nats nats "$NATS_PORT"
echo "nats-server with JetStream on $NATS"

declare -A PROXY_PORT REC_PORT
start_node() { # NODE [PROXY OPTIONS...]
	local node=$1
	shift
	rm_spawn "proxy-$node" "$RECMESH" proxy --listen "127.0.0.1:${PROXY_PORT[$node]}" \
		--upstream "127.0.0.1:${REC_PORT[$node]}" --nats "$NATS" --cluster demo --node "$node" \
		--hot-interval 2 --stats-interval 0 "$@"
	rm_wait_until 10 rm_dig @127.0.0.1 -p "${PROXY_PORT[$node]}" +short localhost A >/dev/null
}
for node in a b; do
	REC_PORT[$node]=$(rm_free_port)
	PROXY_PORT[$node]=$(rm_free_port)
	rm_start_recursor "rec-$node" "${REC_PORT[$node]}"
	start_node "$node"
	echo "node $node: pdns_recursor on 127.0.0.1:${REC_PORT[$node]}, recmesh proxy on 127.0.0.1:${PROXY_PORT[$node]}"
done

say "client load through both proxies: Zipf (s=0.9) over $(wc -l <"$RM_TREE/names.txt") names"
LOAD=()
for node in a b; do
	bench_zipf 30000 "$RANDOM" >"$RM_TMP/learn-$node.txt"
	dnsperf -s 127.0.0.1 -p "${PROXY_PORT[$node]}" -d "$RM_TMP/learn-$node.txt" -n 1 -c 4 -q 200 -Q 3000 -t 5 \
		>"$RM_TMP/learn-$node.out" 2>&1 &
	LOAD+=($!)
done
wait "${LOAD[@]}"
for node in a b; do
	printf 'node %s: %s\n' "$node" "$(grep -o 'Queries completed:.*' "$RM_TMP/learn-$node.out")"
done
sleep 2.5 # one --hot-interval, so both nodes have written their lists

say "the fleet's hot list, merged from both nodes (recmesh hot --top 10)"
"$RECMESH" hot --nats "$NATS" --cluster demo --top 10

say "B's clients, Recursor B never restarted (${WINDOW} s, ${QPS} q/s through proxy b)"
bench_measure B-never-restarted rec-b "${PROXY_PORT[b]}" 11
restart_b() {
	rm_stop rec-b
	rm_start_recursor rec-b "${REC_PORT[b]}"
}
say "Recursor B restarted cold"
restart_b
bench_measure B-restarted-cold rec-b "${PROXY_PORT[b]}" 12

say "Recursor B restarted, then recmesh warm"
restart_b
"$RECMESH" warm --target "127.0.0.1:${REC_PORT[b]}" --nats "$NATS" --cluster demo --top 5000 \
	--qps 2000 --concurrency 200 --intel-file ""
bench_measure B-restarted+warm rec-b "${PROXY_PORT[b]}" 13

restart_b_down() {
	rm_stop rec-b
	sleep "$GAP"
	rm_start_recursor rec-b "${REC_PORT[b]}"
}
AUTO=(--auto-warm --rec-socket-dir "$RM_TMP/rec-b" --top 5000 --qps 2000 --concurrency 200)
say "Recursor B restarted under client load (down $GAP s), proxy B --auto-warm, no peer"
rm_stop proxy-b
start_node b "${AUTO[@]}"
WINDOW=$RESTART_WINDOW bench_restart B-restart-no-peer rec-b "${PROXY_PORT[b]}" 14 restart_b_down
echo "B's clients: $(bench_lost B-restart-no-peer) queries lost"

say "Recursor B restarted under client load (down $GAP s), proxy B --auto-warm --peer <Recursor A>"
rm_stop proxy-b
start_node b "${AUTO[@]}" --peer "127.0.0.1:${REC_PORT[a]}"
WINDOW=$RESTART_WINDOW bench_restart B-restart+peer rec-b "${PROXY_PORT[b]}" 15 restart_b_down
echo "B's clients: $(bench_lost B-restart+peer) queries lost"
grep -o "peers: the upstream's restart was shielded.*" "$RM_TMP/proxy-b.log" | tail -1 || true

say "what B's clients saw"
{
	bench_table B-never-restarted B-restarted-cold B-restarted+warm
	echo
	WINDOW=$RESTART_WINDOW bench_table B-restart-no-peer B-restart+peer
	for name in B-restart-no-peer B-restart+peer; do
		echo "$name: $(bench_lost "$name") of $((RESTART_WINDOW * QPS)) queries lost (no answer within 5 s)"
	done
} | tee "$BENCH_OUT/demo-$(date +%Y%m%d-%H%M%S).txt"
echo
echo "done; everything started here is stopped now"
