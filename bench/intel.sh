#!/usr/bin/env bash
# intel.sh: a warm-up with the fleet's authoritative-server intelligence
# against one without, in one run.
#
# The hermetic tree of bench/common.sh: leaf servers 20-80 ms away, ns1 dead
# in a tenth of the zones, ns2 at 400 ms in a twentieth. A learning Recursor
# streams its client and outgoing traffic (protobufServer,
# outgoingProtobufServer) to `recmesh mirror`, which builds the hot list and
# the authoritative-server table. Then two fresh Recursors are warmed up with
# the same hot list, one after the other:
#   without   no Lua script, no intelligence
#   with      contrib/recmesh.lua, and `recmesh warm --intel-file`
# and each then gets WINDOW seconds of Zipf client traffic. The table shows
# the warm-up's duration and the Recursor's outgoing timeouts during the
# warm-up and during the client traffic; then the goals of the issue.
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
rm_start_recursor learn "$L_PORT" "lua:protobufServer(\"127.0.0.1:$PB_PORT\")" \
	"lua:outgoingProtobufServer(\"127.0.0.1:$PB_PORT\")"
{ cat "$RM_TREE/names.txt"; bench_zipf $((WINDOW * QPS)) 1; } >"$RM_TMP/learn.txt"
dnsperf -s 127.0.0.1 -p "$L_PORT" -d "$RM_TMP/learn.txt" -n 1 -c 4 -q 200 -Q 2000 -t 10 >"$RM_TMP/learn.out" 2>&1
sleep 2.5 # one --hot-interval: the hot list and the NS table are written
"$RECMESH" ns --nats "$NATS" --cluster bench --json >"$RM_TMP/ns.json"
known_dead=$(grep -c '"state":"dead"' "$RM_TMP/ns.json" || true)
echo "   the fleet's table: $(wc -l <"$RM_TMP/ns.json") servers, $known_dead dead (of $BENCH_DEAD really dead)" >&2

run() { # NAME [recursor.conf lines]: a fresh Recursor, warmed, then client traffic
	local name=$1 port t0 t1 to0 to1
	shift
	port=$(rm_free_port)
	RECMESH_INTEL_FILE=$RM_TMP/intel.txt rm_start_recursor "rec-$name" "$port" "$@"
	to0=$(rm_rec_stat "rec-$name" outgoing-timeouts)
	local intel=""
	[[ $name == with ]] && intel=$RM_TMP/intel.txt
	t0=$EPOCHREALTIME
	"$RECMESH" warm --target "127.0.0.1:$port" --nats "$NATS" --cluster bench --top 10000 \
		--qps "$WARM_QPS" --concurrency 200 --intel-file "$intel" --json >"$RM_TMP/warm-$name.json" 2>"$RM_TMP/warm-$name.err"
	t1=$EPOCHREALTIME
	to1=$(rm_rec_stat "rec-$name" outgoing-timeouts)
	# the whole command: fetching, writing the file, waiting for it to load, replaying
	wsec=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	echo "$name $wsec $((to1 - to0)) $(sed -n 's/.*"answered":\([0-9]*\).*/\1/p' "$RM_TMP/warm-$name.json")" >>"$RM_TMP/warmups.txt"
	echo "   warm-up $name: $(cat "$RM_TMP/warm-$name.json")" >&2
	bench_measure "$name" "rec-$name" "$port" 5
	rm_stop "rec-$name"
}
echo "== warm-up without the fleet's intelligence" >&2
run without
echo "== warm-up with contrib/recmesh.lua and the intelligence file" >&2
run with "lua-dns-script=$LUA"

{
	printf '%-10s %10s %10s %18s %22s %14s\n' "" warm_cmd_s names "warmup_timeouts" "client_timeouts_${WINDOW}s" "client_<5ms_%"
	for name in without with; do
		read -r _ ws wt wn < <(grep "^$name " "$RM_TMP/warmups.txt")
		read -r _ _ ct < <(grep "^$name " "$RM_TMP/counters.txt")
		read -r _ _ fast <<<"$(bench_stats "$BENCH_OUT/lat-$name.txt")"
		printf '%-10s %10s %10s %18s %22s %14s\n' "$name" "$ws" "$wn" "$wt" "$ct" "$fast"
	done
	echo "(fleet's table: $known_dead of $BENCH_DEAD dead servers known before the warm-ups;"
	echo " warm_cmd_s: the whole recmesh warm command at --qps $WARM_QPS --concurrency 200, the"
	echo " intelligence file's --intel-wait included)"
	echo
	read -r _ ws0 wt0 _ < <(grep "^without " "$RM_TMP/warmups.txt")
	read -r _ ws1 wt1 _ < <(grep "^with " "$RM_TMP/warmups.txt")
	read -r _ _ ct0 < <(grep "^without " "$RM_TMP/counters.txt")
	read -r _ _ ct1 < <(grep "^with " "$RM_TMP/counters.txt")
	awk -v a="$((wt0 + ct0))" -v b="$((wt1 + ct1))" 'BEGIN { r = a ? 100 * (a - b) / a : 0
		printf "goal: >= 90%% fewer outgoing timeouts (warm-up + first %s s): %s (%d -> %d, %.1f%% fewer)\n", "'"$WINDOW"'", ((r >= 90) ? "MET" : "NOT MET"), a, b, r }'
	awk -v a="$ws0" -v b="$ws1" 'BEGIN { printf "goal: a shorter warm-up: %s (%.1f s -> %.1f s)\n", ((b < a) ? "MET" : "NOT MET"), a, b }'
} | tee "$BENCH_OUT/intel-$(date +%Y%m%d-%H%M%S).txt"
