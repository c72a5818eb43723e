#!/usr/bin/env bash
# restart.sh: what a restart of the Recursor behind `recmesh proxy` costs its
# clients, with each part of recmesh that helps.
#
# The hermetic tree of bench/common.sh (leaf servers 20-80 ms away, ns1 dead
# in a tenth of the zones, ns2 at 300 ms in 15 % of them), NATS, and a warm
# node B: Recursor B behind proxy B, streaming its protobuf to proxy B, which
# learns every name once and a Zipf load (the fleet's hot list and NS
# table). Then for each setup of node A, a fresh Recursor A behind proxy A:
#   plain        recmesh proxy
#   auto-warm    --auto-warm
#   +intel       --auto-warm, --intel-file and contrib/recmesh.lua in Recursor A
#   +peer        the same and --peer <Recursor B>
# a Zipf load through proxy A warms it (LEARN s), then WINDOW s of the load
# (before), then the same load goes on while Recursor A is stopped, left down
# GAP s and started again, for WINDOW s from the stop (after). The table:
# queries lost (no answer within 5 s), share of answers under 5 ms, p50 and
# p99, before and after, and the ratios; the goal for +peer: 0 lost, fast
# share after >= 0.95 x before, p99 after <= 1.5 x before.
# Options: --quick (100 zones), --window S (default 10). QPS (300), GAP (0.5),
# LEARN (15), BENCH_NET (127.75), SETUPS ("plain auto-warm +intel +peer").
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RECMESH=${RECMESH:-$("$HERE/build.sh")}
ZONES=${ZONES:-300} NAMES=${NAMES:-20} WINDOW=${WINDOW:-10} QPS=${QPS:-300}
GAP=${GAP:-0.5} LEARN=${LEARN:-15}
SETUPS=${SETUPS:-plain auto-warm +intel +peer}
source "$HERE/../tests/system/lib.sh"
rm_init restart-bench
source "$HERE/common.sh"
bench_args "$@"
LUA=$HERE/../contrib/recmesh.lua

echo "== tree: $ZONES zones x $NAMES names behind a latency relay" >&2
bench_tree "${BENCH_NET:-127.75}" "$ZONES" "$NAMES"
echo "   $BENCH_SERVERS leaf server addresses, $BENCH_DEAD dead" >&2
NATS_PORT=$(rm_free_port)
NATS=nats://127.0.0.1:$NATS_PORT
rm_start_nats nats "$NATS_PORT"

echo "== node B learns: every name once, then a Zipf load, through proxy B" >&2
B_PORT=$(rm_free_port)
PB_PORT=$(rm_free_port)
PBB_PORT=$(rm_free_port)
rm_start_recursor rec-b "$B_PORT" "protobuf=127.0.0.1:$PBB_PORT" \
	"outgoing-protobuf=127.0.0.1:$PBB_PORT"
rm_spawn proxy-b "$RECMESH" proxy --listen "127.0.0.1:$PB_PORT" --upstream "127.0.0.1:$B_PORT" \
	--nats "$NATS" --cluster bench --node b --hot-interval 2 --stats-interval 0 \
	--protobuf-listen "127.0.0.1:$PBB_PORT"
rm_wait_until 10 rm_dig @127.0.0.1 -p "$PB_PORT" +short localhost A >/dev/null
{ cat "$RM_TREE/names.txt"; bench_zipf $((LEARN * QPS * 2)) 1; } >"$RM_TMP/learn-b.txt"
dnsperf -s 127.0.0.1 -p "$PB_PORT" -d "$RM_TMP/learn-b.txt" -n 1 -c 4 -q 200 -Q 2000 -t 10 >"$RM_TMP/learn-b.out" 2>&1
sleep 2.5 # one --hot-interval: the hot list and the NS table are written
"$RECMESH" hot --nats "$NATS" --cluster bench --top 3 >&2

A_PORT=$(rm_free_port)
PA_PORT=$(rm_free_port)
PBA_PORT=$(rm_free_port)
# dnsperf_run NAME SEED SECONDS: the Zipf load through proxy A (bench_lat reads its latencies)
dnsperf_run() {
	bench_zipf $(($3 * QPS)) "$2" >"$RM_TMP/q-$1.txt"
	dnsperf -s 127.0.0.1 -p "$PA_PORT" -d "$RM_TMP/q-$1.txt" -n 1 -c 4 -q 500 -Q "$QPS" -t 5 -v \
		>"$RM_TMP/dnsperf-$1.out" 2>&1 || true
}
restart_a() {
	rm_stop rec-a
	sleep "$GAP"
	RECMESH_INTEL_FILE=$RM_TMP/intel-a.txt rm_start_recursor rec-a "$A_PORT" ${REC_EXTRA[@]+"${REC_EXTRA[@]}"}
}

# setup NAME: node A in that setup, warmed by LEARN s of load, measured before and after a restart
setup() {
	local name=$1 proxy_extra=() seed=$((RANDOM))
	REC_EXTRA=()
	case $name in
	plain) ;;
	auto-warm) proxy_extra=(--auto-warm --rec-socket-dir "$RM_TMP/rec-a") ;;
	+intel | +peer)
		REC_EXTRA=("lua-dns-script=$LUA" "protobuf=127.0.0.1:$PBA_PORT"
			"outgoing-protobuf=127.0.0.1:$PBA_PORT")
		proxy_extra=(--auto-warm --rec-socket-dir "$RM_TMP/rec-a" --intel-file "$RM_TMP/intel-a.txt"
			--protobuf-listen "127.0.0.1:$PBA_PORT")
		[[ $name == +peer ]] && proxy_extra+=(--peer "127.0.0.1:$B_PORT")
		;;
	esac
	echo "== $name: Recursor A fresh, proxy A ${proxy_extra[*]}" >&2
	RECMESH_INTEL_FILE=$RM_TMP/intel-a.txt rm_start_recursor rec-a "$A_PORT" ${REC_EXTRA[@]+"${REC_EXTRA[@]}"}
	rm_spawn proxy-a "$RECMESH" proxy --listen "127.0.0.1:$PA_PORT" --upstream "127.0.0.1:$A_PORT" \
		--nats "$NATS" --cluster bench --node a --hot-interval 2 --stats-interval 0 --top 10000 \
		--qps 2000 --concurrency 200 ${proxy_extra[@]+"${proxy_extra[@]}"}
	rm_wait_until 10 rm_dig @127.0.0.1 -p "$PA_PORT" +short localhost A >/dev/null
	dnsperf_run "learn-$name" "$seed" "$LEARN"
	dnsperf_run "$name-before" $((seed + 1)) "$WINDOW"
	bench_lat "$name-before"
	# the same load, and the restart under it
	bench_restart "$name-after" rec-a "$PA_PORT" $((seed + 2)) restart_a
	grep -o "peers: the upstream's restart was shielded.*" "$RM_TMP/proxy-a.log" | tail -1 >&2 || true
	grep -o "auto-warm: warm-up of .*" "$RM_TMP/proxy-a.log" | tail -1 | cut -c1-200 >&2 || true
	rm_stop proxy-a
	rm_stop rec-a
	rm -f "$RM_TMP/intel-a.txt"
}
for s in $SETUPS; do setup "$s"; done

{
	printf '%-10s %6s %14s %14s %7s %16s %16s %8s\n' setup lost "<5ms_% before" "<5ms_% after" ratio \
		"p50/p99 before" "p50/p99 after" "p99 x"
	for s in $SETUPS; do
		read -r m0 p0 f0 <<<"$(bench_stats "$BENCH_OUT/lat-$s-before.txt")"
		read -r m1 p1 f1 <<<"$(bench_stats "$BENCH_OUT/lat-$s-after.txt")"
		lost=$(bench_lost "$s-after")
		awk -v s="$s" -v lost="$lost" -v f0="$f0" -v f1="$f1" -v m0="$m0" -v p0="$p0" -v m1="$m1" -v p1="$p1" 'BEGIN {
			printf "%-10s %6d %14.2f %14.2f %7.2f %16s %16s %8.2f\n", s, lost, f0, f1, (f0 > 0 ? f1 / f0 : 0),
				m0 "/" p0, m1 "/" p1, (p0 > 0 ? p1 / p0 : 0) }'
	done
	echo "(the first ${WINDOW} s from the stop, down ${GAP} s, against ${WINDOW} s of the same load before; ${QPS} q/s;"
	echo " lost: no answer within 5 s; times in ms)"
	if [[ " $SETUPS " == *" +peer "* ]]; then
		read -r _ p0 f0 <<<"$(bench_stats "$BENCH_OUT/lat-+peer-before.txt")"
		read -r _ p1 f1 <<<"$(bench_stats "$BENCH_OUT/lat-+peer-after.txt")"
		lost=$(bench_lost +peer-after)
		awk -v lost="$lost" -v f0="$f0" -v f1="$f1" -v p0="$p0" -v p1="$p1" 'BEGIN {
			ok = lost == 0 && f1 >= 0.95 * f0 && p1 <= 1.5 * p0
			printf "goal (+peer): 0 lost, fast share >= 0.95 x, p99 <= 1.5 x: %s (%d lost, %.2f x, %.2f x)\n",
				ok ? "MET" : "NOT MET", lost, (f0 > 0 ? f1 / f0 : 0), (p0 > 0 ? p1 / p0 : 0) }'
	fi
} | tee "$BENCH_OUT/restart-$(date +%Y%m%d-%H%M%S).txt"
