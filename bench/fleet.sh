#!/usr/bin/env bash
# fleet.sh: what reading the fleet's hot lists costs: peak memory (VmHWM, from
# /usr/bin/time -v) and wall time of `recmesh hot` and `recmesh warm` for 1, 10
# and 50 synthetic node lists of 50000 names each in the bucket recmesh_hot.
#
# A nats-server with JetStream on loopback; bench/fleetbench writes the lists
# (recmesh's own encoder, half of each list's names shared by every node) and
# answers the warm-up's queries (NOERROR, no records) in place of a Recursor.
# `recmesh hot` prints the default top 100; `recmesh warm` replays --top
# 50000 at up to 50000 q/s. Prints one table. Then the resident memory of a
# `recmesh proxy --auto-warm` in front of the responder: at rest, at its
# peak, and after one auto-warm from the largest fleet (the responder is
# stopped and started again, which the proxy takes for a restart).
# Options: --names N (default 50000), --nodes "1 10 50" (the node counts).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RECMESH=${RECMESH:-$("$HERE/build.sh")}
BUILD=$(dirname "$RECMESH")
NAMES=50000 NODES="1 10 50"
while (($#)); do
	case $1 in
	--names) NAMES=${2:?--names N}; shift ;;
	--nodes) NODES=${2:?--nodes \"N ...\"}; shift ;;
	*) echo "usage: $(basename "$0") [--names N] [--nodes \"1 10 50\"]" >&2; exit 2 ;;
	esac
	shift
done
FLEETBENCH=$BUILD/bench/fleetbench
[[ -x $FLEETBENCH ]] || make -C "$BUILD" bench/fleetbench >&2
[[ -x /usr/bin/time ]] || { echo "fleet.sh: /usr/bin/time is needed (apt-get install time)" >&2; exit 1; }
source "$HERE/../tests/system/lib.sh"
rm_init fleet-bench

NATS_PORT=$(rm_free_port)
NATS=nats://127.0.0.1:$NATS_PORT
rm_start_nats nats "$NATS_PORT"
TARGET_PORT=$(rm_free_port)
rm_spawn responder "$FLEETBENCH" respond "127.0.0.1:$TARGET_PORT"
rm_wait_until 10 grep -q answering "$RM_TMP/responder.log"

# measure NAME CMD...: runs CMD under /usr/bin/time -v; prints "PEAK_MB SECONDS"
measure() {
	local name=$1
	shift
	/usr/bin/time -v -o "$RM_TMP/$name.time" "$@" >"$RM_TMP/$name.out" 2>"$RM_TMP/$name.err" \
		|| { echo "fleet.sh: $name failed: $(tail -3 "$RM_TMP/$name.err")" >&2; exit 1; }
	awk -F': ' '/Maximum resident set size/ { kb = $2 }
		/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i] }
		END { printf "%.1f %.2f\n", kb / 1024, s }' "$RM_TMP/$name.time"
}

printf '%-6s %-8s %-10s | %-22s | %-32s\n' "" "" "" "recmesh hot (top 100)" "recmesh warm (top $NAMES)"
printf '%-6s %-8s %-10s | %9s %12s | %9s %9s %12s\n' nodes names "KV MB" "peak MB" "seconds" "peak MB" seconds "replay s"
for nodes in $NODES; do
	cluster=b$nodes
	bytes=$("$FLEETBENCH" write "$NATS" "$cluster" "$nodes" "$NAMES")
	read -r hot_mb hot_s < <(measure "hot-$nodes" "$RECMESH" hot --nats "$NATS" --cluster "$cluster" --max-age 0)
	grep -q "from $nodes node list(s), source kv" "$RM_TMP/hot-$nodes.out" \
		|| { echo "fleet.sh: recmesh hot did not merge $nodes lists: $(head -1 "$RM_TMP/hot-$nodes.out") $(cat "$RM_TMP/hot-$nodes.err")" >&2; exit 1; }
	read -r warm_mb warm_s < <(measure "warm-$nodes" "$RECMESH" warm --nats "$NATS" --cluster "$cluster" \
		--target "127.0.0.1:$TARGET_PORT" --top "$NAMES" --qps 20000 --max-qps 50000 \
		--concurrency 1000 --intel-file "" --max-age 0 --json)
	replay_s=$(sed -n 's/.*"seconds":\([0-9.]*\).*/\1/p' "$RM_TMP/warm-$nodes.out")
	grep -q "\"lists\":$nodes," "$RM_TMP/warm-$nodes.out" \
		|| { echo "fleet.sh: recmesh warm did not merge $nodes lists: $(cat "$RM_TMP/warm-$nodes.out" "$RM_TMP/warm-$nodes.err")" >&2; exit 1; }
	printf '%-6s %-8s %-10.1f | %9s %12s | %9s %9s %12s\n' "$nodes" "$NAMES" \
		"$(awk -v b="$bytes" 'BEGIN { print b / 1048576 }')" "$hot_mb" "$hot_s" "$warm_mb" "$warm_s" "$replay_s"
done

echo
echo "recmesh proxy --auto-warm, warm-up from the $nodes-node fleet: resident memory (MB)"
PROXY_PORT=$(rm_free_port)
rm_spawn proxy "$RECMESH" proxy --listen "127.0.0.1:$PROXY_PORT" --upstream "127.0.0.1:$TARGET_PORT" \
	--nats "$NATS" --cluster "$cluster" --node px --auto-warm --top "$NAMES" --qps 20000 \
	--max-qps 50000 --concurrency 1000 --max-age 0 --hot-interval 3600 --stats-interval 0
rm_wait_until 10 grep -q "auto-warm on" "$RM_TMP/proxy.log"
kb() { awk -v k="$1:" '$1 == k { printf "%.1f", $2 / 1024 }' "/proc/$(rm_pid proxy)/status"; }
rest=$(kb VmRSS)
rm_stop responder
rm_wait_until 30 grep -q "does not answer" "$RM_TMP/proxy.log"
rm_spawn responder2 "$FLEETBENCH" respond "127.0.0.1:$TARGET_PORT"
rm_wait_until 120 grep -q "auto-warm: warm-up of" "$RM_TMP/proxy.log"
printf '%-12s %-12s %-12s\n' "at rest" "peak" "after"
printf '%-12s %-12s %-12s\n' "$rest" "$(kb VmHWM)" "$(kb VmRSS)"
grep -o "auto-warm: warm-up of .*" "$RM_TMP/proxy.log" | tail -1 | cut -c1-160
