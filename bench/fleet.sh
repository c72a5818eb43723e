#!/usr/bin/env bash
# fleet.sh: what reading the fleet's hot lists costs a warm-up, from 10 to 1000
# node lists of 50000 names each in the bucket recmesh_hot.
#
# A nats-server with JetStream on loopback; bench/fleetbench writes the lists
# (recmesh's own encoder, half of each list's names shared by every node) and
# answers the warm-up's queries (NOERROR, no records) in place of a Recursor.
# For each fleet size:
#   - `recmesh merge` merges every list and writes the fleet's merged list
#     (what the one node holding the lease pays, every few minutes);
#   - `recmesh warm --top 50000` with the default --sample 16 reads the merged
#     list and 16 node lists: bytes read from NATS, peak memory (VmHWM, from
#     /usr/bin/time -v), seconds from its start to the first replayed query;
#   - the same with --sample 0, reading every list (recmesh before the merged
#     list);
#   - quality: how many of the exact merge's top 50000 (`recmesh hot --sample
#     0`) the sampled read hands out, with the merged list and without it
#     (before `recmesh merge` ran: the sample of 16 alone).
# Then one `recmesh proxy --auto-warm` warm-up from each fleet: its resident
# memory (at rest, peak, after), the bytes it read from NATS and the seconds
# to its first replayed query, from the summary it logs (the responder is
# stopped and started again, which the proxy takes for a restart).
# Options: --names N (default 50000), --nodes "10 100 1000" (the node counts).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RECMESH=${RECMESH:-$("$HERE/build.sh")}
BUILD=$(dirname "$RECMESH")
NAMES=50000 NODES="10 100 1000"
while (($#)); do
	case $1 in
	--names) NAMES=${2:?--names N}; shift ;;
	--nodes) NODES=${2:?--nodes \"N ...\"}; shift ;;
	*) echo "usage: $(basename "$0") [--names N] [--nodes \"10 100 1000\"]" >&2; exit 2 ;;
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
responder=responder
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

# names FILE: the (qname, qtype) of recmesh hot --json's names, sorted
names() { sed -n 's/.*"qname":"\([^"]*\)","qtype":"\([^"]*\)".*/\1 \2/p' "$1" | sort; }
# overlap A B: how many of A's names B has, in percent of A's
overlap() { awk -v a="$(wc -l <"$1")" -v c="$(comm -12 "$1" "$2" | wc -l)" 'BEGIN { printf "%.1f", a ? 100 * c / a : 0 }'; }
# warm NAME ARGS...: recmesh warm of the top $NAMES; prints "PEAK_MB FIRST_S MB_READ REPLAY_S"
warm() {
	local name=$1 cluster=$2 mb s
	shift 2
	read -r mb s < <(measure "$name" "$RECMESH" warm --nats "$NATS" --cluster "$cluster" \
		--target "127.0.0.1:$TARGET_PORT" --top "$NAMES" --qps 20000 --max-qps 50000 \
		--concurrency 1000 --intel-file "" --max-age 0 --json "$@")
	sed -n 's/.*"seconds":\([0-9.]*\).*"nats_bytes":\([0-9]*\),.*"first_query_seconds":\([0-9.]*\).*/\3 \2 \1/p' \
		"$RM_TMP/$name.out" | awk -v mb="$mb" '{ printf "%s %s %.1f %s\n", mb, $1, $2 / 1048576, $3 }'
}

printf '%-6s %-7s | %-22s | %-33s | %-33s | %s\n' "" "" "recmesh merge" \
	"recmesh warm, sampled (16)" "recmesh warm, every list" "top $NAMES overlap (%)"
printf '%-6s %-7s | %9s %12s | %8s %8s %7s %7s | %8s %8s %7s %7s | %7s %7s\n' nodes "KV MB" \
	"peak MB" seconds "peak MB" "MB read" "first s" "replay" "peak MB" "MB read" "first s" "replay" merged alone
for nodes in $NODES; do
	cluster=b$nodes
	bytes=$("$FLEETBENCH" write "$NATS" "$cluster" "$nodes" "$NAMES")
	hot=("$RECMESH" hot --nats "$NATS" --cluster "$cluster" --max-age 0 --top "$NAMES" --json)
	"${hot[@]}" --sample 0 >"$RM_TMP/exact-$nodes.json" 2>"$RM_TMP/exact-$nodes.err"
	names "$RM_TMP/exact-$nodes.json" >"$RM_TMP/exact-$nodes"
	"${hot[@]}" >"$RM_TMP/alone-$nodes.json" 2>"$RM_TMP/alone-$nodes.err"
	names "$RM_TMP/alone-$nodes.json" >"$RM_TMP/alone-$nodes"
	read -r merge_mb merge_s < <(measure "merge-$nodes" "$RECMESH" merge --nats "$NATS" --cluster "$cluster" \
		--node merger --top "$NAMES" --max-age 0)
	grep -q "^merged $nodes node list(s)" "$RM_TMP/merge-$nodes.out" \
		|| { echo "fleet.sh: recmesh merge: $(cat "$RM_TMP/merge-$nodes.out" "$RM_TMP/merge-$nodes.err")" >&2; exit 1; }
	"${hot[@]}" >"$RM_TMP/merged-$nodes.json" 2>"$RM_TMP/merged-$nodes.err"
	names "$RM_TMP/merged-$nodes.json" >"$RM_TMP/merged-$nodes"
	read -r s_mb s_first s_read s_replay < <(warm "warm-$nodes" "$cluster")
	read -r a_mb a_first a_read a_replay < <(warm "warm-all-$nodes" "$cluster" --sample 0)
	grep -q "\"lists\":$nodes," "$RM_TMP/warm-all-$nodes.out" \
		|| { echo "fleet.sh: recmesh warm --sample 0 did not merge $nodes lists: $(cat "$RM_TMP/warm-all-$nodes.out" "$RM_TMP/warm-all-$nodes.err")" >&2; exit 1; }
	if ((nodes > 16)); then
		grep -q '"merge_used":true' "$RM_TMP/warm-$nodes.out" \
			|| { echo "fleet.sh: recmesh warm did not use the merged list: $(cat "$RM_TMP/warm-$nodes.out" "$RM_TMP/warm-$nodes.err")" >&2; exit 1; }
	fi
	printf '%-6s %-7.0f | %9s %12s | %8s %8s %7s %7s | %8s %8s %7s %7s | %7s %7s\n' "$nodes" \
		"$(awk -v b="$bytes" 'BEGIN { print b / 1048576 }')" "$merge_mb" "$merge_s" \
		"$s_mb" "$s_read" "$s_first" "$s_replay" "$a_mb" "$a_read" "$a_first" "$a_replay" \
		"$(overlap "$RM_TMP/exact-$nodes" "$RM_TMP/merged-$nodes")" "$(overlap "$RM_TMP/exact-$nodes" "$RM_TMP/alone-$nodes")"
done
echo "(with at most 16 node lists, every list is read: the sampled and the full read are the same)"

echo
echo "recmesh proxy --auto-warm, one warm-up from each fleet (the responder restarted under it)"
printf '%-6s | %9s %9s %9s | %8s %8s\n' nodes "rest MB" "peak MB" "after MB" "MB read" "first s"
for nodes in $NODES; do
	PROXY_PORT=$(rm_free_port)
	rm_spawn "proxy-$nodes" "$RECMESH" proxy --listen "127.0.0.1:$PROXY_PORT" --upstream "127.0.0.1:$TARGET_PORT" \
		--nats "$NATS" --cluster "b$nodes" --node px --auto-warm --top "$NAMES" --qps 20000 \
		--max-qps 50000 --concurrency 1000 --max-age 0 --hot-interval 3600 --stats-interval 0
	log=$RM_TMP/proxy-$nodes.log
	rm_wait_until 10 grep -q "auto-warm on" "$log"
	kb() { awk -v k="$1:" '$1 == k { printf "%.1f", $2 / 1024 }' "/proc/$(rm_pid "proxy-$nodes")/status"; }
	rest=$(kb VmRSS)
	rm_stop "$responder"
	rm_wait_until 30 grep -q "does not answer" "$log"
	responder=responder-$nodes
	rm_spawn "$responder" "$FLEETBENCH" respond "127.0.0.1:$TARGET_PORT"
	rm_wait_until 120 grep -q "auto-warm: warm-up of" "$log"
	summary=$(grep -o "auto-warm: warm-up of .*" "$log" | tail -1)
	read -r mb first < <(sed -n 's/.*lists read in [0-9.]* s (\([0-9.]*\) MB from NATS); the replay began \([0-9.]*\) s.*/\1 \2/p' <<<"$summary")
	printf '%-6s | %9s %9s %9s | %8s %8s\n' "$nodes" "$rest" "$(kb VmHWM)" "$(kb VmRSS)" "$mb" "$first"
	rm_stop "proxy-$nodes"
done
echo "last: $(sed 's/; /\n  /g' <<<"$summary" | head -4)"
