#!/usr/bin/env bash
# intel.sh: a warm-up with the fleet's authoritative-server intelligence
# against one without, in one run, on the Recursor RM_RECURSOR names (4.8, the
# default, 5.2 or 5.4; see tests/system/lib.sh).
#
# The hermetic tree of bench/common.sh: leaf servers 20-80 ms away, ns1 dead
# in a tenth of the zones, ns2 at 300 ms in 15 % of them. A learning Recursor
# (the same version) streams its client and outgoing traffic to `recmesh
# mirror`, which builds the hot list and the authoritative-server table (with
# the NS names a 5.x stream carries). Then two fresh Recursors are warmed up
# with the same hot list, one after the other:
#   without   no Lua script, no intelligence
#   with      contrib/recmesh.lua, and `recmesh warm --intel-file`: dead
#             servers skipped on every version, the fleet's NS speeds loaded
#             where the Recursor can take them (5.3+)
# and each then gets WINDOW seconds of Zipf client traffic. The table shows,
# for the warm-up and for the client traffic, the Recursor's outgoing
# timeouts and the queries the slow (300 ms) servers got (counted by the
# relay), and the clients' median and p99; then the goals: with the
# intelligence, at most 10 % of the timeouts and at most 25 % of the queries
# to slow servers of the run without (the second on 5.3+ only: older
# Recursors cannot take speeds).
# Options: --quick (100 zones, 15 s window), --window S (default 60).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RECMESH=${RECMESH:-$("$HERE/build.sh")}
ZONES=500 NAMES=20 WINDOW=60 QPS=300
# the replay's pacing: high enough that the rate cap is not what bounds the
# warm-up, so the time lost waiting on dead servers shows
WARM_QPS=5000
source "$HERE/../tests/system/lib.sh"
rm_init intel-bench
source "$HERE/common.sh"
bench_args "$@"
LUA=$HERE/../contrib/recmesh.lua

echo "== tree: $ZONES zones x $NAMES names behind a latency relay" >&2
bench_tree 127.74 "$ZONES" "$NAMES"
echo "   $BENCH_SERVERS leaf server addresses, $BENCH_DEAD dead" >&2
NATS_PORT=$(rm_free_port)
NATS=nats://127.0.0.1:$NATS_PORT
rm_start_nats nats "$NATS_PORT"
PB_PORT=$(rm_free_port)
rm_spawn mirror "$RECMESH" mirror --protobuf-listen "127.0.0.1:$PB_PORT" --nats "$NATS" \
	--cluster bench --node m1 --hot-interval 2 --stats-interval 0
rm_wait_until 10 grep -q 'listening for the Recursor' "$RM_TMP/mirror.log"

echo "== learning: a Recursor streams to recmesh mirror; every name once, then a Zipf load" >&2
L_PORT=$(rm_free_port)
rm_start_recursor learn "$L_PORT" "protobuf=127.0.0.1:$PB_PORT" \
	"outgoing-protobuf=127.0.0.1:$PB_PORT"
{ cat "$RM_TREE/names.txt"; bench_zipf $((WINDOW * QPS)) 1; } >"$RM_TMP/learn.txt"
dnsperf -s 127.0.0.1 -p "$L_PORT" -d "$RM_TMP/learn.txt" -n 1 -c 4 -q 200 -Q 2000 -t 10 >"$RM_TMP/learn.out" 2>&1
sleep 2.5 # one --hot-interval: the hot list and the NS table are written
"$RECMESH" ns --nats "$NATS" --cluster bench --json >"$RM_TMP/ns.json"
known_dead=$(grep -c '"state":"dead"' "$RM_TMP/ns.json" || true)
known_named=$(grep -c '"names":\[ *"' "$RM_TMP/ns.json" || true)
echo "   the fleet's table: $(wc -l <"$RM_TMP/ns.json") servers, $known_dead dead (of $BENCH_DEAD really dead)" >&2

run() { # NAME [rm_start_recursor EXTRA...]: a fresh Recursor, warmed, then client traffic
	local name=$1 port t0 t1 to0 to1 to2 s0 s1 s2 intel=""
	shift
	port=$(rm_free_port)
	RECMESH_INTEL_FILE=$RM_TMP/intel.txt rm_start_recursor "rec-$name" "$port" "$@"
	to0=$(rm_rec_stat "rec-$name" outgoing-timeouts)
	read -r s0 _ <<<"$(bench_relay_counts)"
	[[ $name == with ]] && intel=$RM_TMP/intel.txt
	t0=$EPOCHREALTIME
	"$RECMESH" warm --target "127.0.0.1:$port" --nats "$NATS" --cluster bench --top 10000 \
		--qps "$WARM_QPS" --concurrency 200 --intel-file "$intel" --json >"$RM_TMP/warm-$name.json" 2>"$RM_TMP/warm-$name.err"
	t1=$EPOCHREALTIME
	to1=$(rm_rec_stat "rec-$name" outgoing-timeouts)
	read -r s1 _ <<<"$(bench_relay_counts)"
	# the whole command: fetching, writing the file, waiting for it to load, replaying
	wsec=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	echo "   warm-up $name: $(cat "$RM_TMP/warm-$name.json")" >&2
	[[ $name == with ]] && echo "   intel file: $(grep -c '^dead ' "$RM_TMP/intel.txt" || true) dead lines, $(grep -c '^ns ' "$RM_TMP/intel.txt" || true) ns lines" >&2
	bench_measure "$name" "rec-$name" "$port" 5
	to2=$(rm_rec_stat "rec-$name" outgoing-timeouts)
	read -r s2 _ <<<"$(bench_relay_counts)"
	echo "$name $wsec $(sed -n 's/.*"answered":\([0-9]*\).*/\1/p' "$RM_TMP/warm-$name.json") $((to1 - to0)) $((s1 - s0)) $((to2 - to1)) $((s2 - s1))" >>"$RM_TMP/runs.txt"
	[[ $name != with ]] || rm_rec_control "rec-$name" dump-nsspeeds - >"$RM_TMP/nsspeeds-$name.txt" 2>&1 || true
	rm_stop "rec-$name"
}
echo "== warm-up without the fleet's intelligence" >&2
run without
echo "== warm-up with contrib/recmesh.lua and the intelligence file" >&2
run with "lua-dns-script=$LUA"

version=$(rm_rec_version)
speeds=no
[[ ${version%%.*} -gt 5 || ( ${version%%.*} -eq 5 && $(cut -d. -f2 <<<"$version") -ge 3 ) ]] && speeds=yes
{
	echo "Recursor $version (NS speeds loaded: $speeds), $ZONES zones: $BENCH_SERVERS leaf server addresses, $BENCH_DEAD dead, $BENCH_SLOW at 300 ms"
	printf '%-8s %8s %7s | %9s %7s | %9s %7s %8s %8s | %9s %7s\n' "" warm_s names \
		timeouts slow_q timeouts slow_q p50_ms p99_ms timeouts slow_q
	printf '%-8s %16s | %17s | %35s | %17s\n' "" "" "warm-up" "first ${WINDOW} s of clients" "all"
	for name in without with; do
		read -r _ ws wn wt wsq ct csq < <(grep "^$name " "$RM_TMP/runs.txt")
		read -r med p99 _ <<<"$(bench_stats "$BENCH_OUT/lat-$name.txt")"
		printf '%-8s %8s %7s | %9s %7s | %9s %7s %8s %8s | %9s %7s\n' "$name" "$ws" "$wn" "$wt" "$wsq" "$ct" "$csq" \
			"$med" "$p99" "$((wt + ct))" "$((wsq + csq))"
	done
	echo "(fleet's table before the warm-ups: $known_dead of $BENCH_DEAD dead servers known, $known_named named"
	echo " servers; warm_s: the whole recmesh warm command at --qps $WARM_QPS --concurrency 200, the"
	echo " intelligence file's --intel-wait included; slow_q: queries the 300 ms servers got)"
	echo
	read -r _ _ _ wt0 wsq0 ct0 csq0 < <(grep "^without " "$RM_TMP/runs.txt")
	read -r _ _ _ wt1 wsq1 ct1 csq1 < <(grep "^with " "$RM_TMP/runs.txt")
	awk -v a="$((wt0 + ct0))" -v b="$((wt1 + ct1))" -v w="$WINDOW" 'BEGIN { r = a ? 100 * b / a : 0
		printf "goal: outgoing timeouts (warm-up + first %s s) at most 10%% of the run without: %s (%d -> %d, %.1f%%)\n", w, ((a > 0 && r <= 10) ? "MET" : "NOT MET"), a, b, r }'
	if [[ $speeds == yes ]]; then
		awk -v a="$((wsq0 + csq0))" -v b="$((wsq1 + csq1))" -v w="$WINDOW" 'BEGIN { r = a ? 100 * b / a : 0
			printf "goal: queries to slow servers (warm-up + first %s s) at most 25%% of the run without: %s (%d -> %d, %.1f%%)\n", w, ((a > 0 && r <= 25) ? "MET" : "NOT MET"), a, b, r }'
	else
		echo "(queries to slow servers: $((wsq0 + csq0)) -> $((wsq1 + csq1)); no goal: Recursor $version cannot take NS speeds)"
	fi
} | tee "$BENCH_OUT/intel-${version}-$(date +%Y%m%d-%H%M%S).txt"
