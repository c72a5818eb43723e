#!/usr/bin/env bash
# warm.sh: what a Recursor restart costs its clients, cold and warmed by recmesh.
#
# A hermetic signed tree whose leaf authoritatives have 20-80 ms of latency
# (ns1 dead in a tenth of the zones, ns2 at 400 ms in a twentieth), NATS, and
# a Recursor behind `recmesh proxy`. Every name once and a Zipf load (s=0.9)
# through the proxy teach the fleet its hot list. Then the same kind of load,
# straight at the Recursor, for WINDOW seconds each time:
#   never restarted | restarted cold | restarted, then `recmesh warm`
# and a table: median and p99 latency, share of answers under 5 ms, upstream
# queries and timeouts; the goals of the warm-up issue; the latency CDFs in
# bench/out/warm-cdf.png.
# Options: --quick (100 zones, 15 s windows), --window S (default 60).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RECMESH=${RECMESH:-$("$HERE/build.sh")}
ZONES=500 NAMES=20 WINDOW=60 QPS=300
source "$HERE/../tests/system/lib.sh"
rm_init warm-bench
source "$HERE/common.sh"
bench_args "$@"

echo "== tree: $ZONES zones x $NAMES names behind a latency relay" >&2
bench_tree 127.72 "$ZONES" "$NAMES"
echo "   $BENCH_SERVERS leaf server addresses, $BENCH_DEAD dead" >&2
NATS_PORT=$(rm_free_port)
NATS=nats://127.0.0.1:$NATS_PORT
rm_start_nats nats "$NATS_PORT"
REC_PORT=$(rm_free_port)
PROXY_PORT=$(rm_free_port)
rm_start_recursor rec "$REC_PORT"
rm_spawn proxy "$RECMESH" proxy --listen "127.0.0.1:$PROXY_PORT" --upstream "127.0.0.1:$REC_PORT" \
	--nats "$NATS" --cluster bench --node r1 --hot-interval 2 --stats-interval 0
rm_wait_until 10 rm_dig @127.0.0.1 -p "$PROXY_PORT" +short localhost A >/dev/null

echo "== learning: every name once, then a Zipf load, through the proxy" >&2
{ cat "$RM_TREE/names.txt"; bench_zipf $((WINDOW * QPS)) 1; } >"$RM_TMP/learn.txt"
dnsperf -s 127.0.0.1 -p "$PROXY_PORT" -d "$RM_TMP/learn.txt" -n 1 -c 4 -q 200 -Q 2000 -t 10 >"$RM_TMP/learn.out" 2>&1
sleep 2.5 # one --hot-interval: the list is written
"$RECMESH" hot --nats "$NATS" --cluster bench --top 3 >&2

restart_rec() {
	rm_stop rec
	rm_start_recursor rec "$REC_PORT"
}
echo "== never restarted" >&2
bench_measure never rec "$REC_PORT" 2
echo "== restarted cold" >&2
restart_rec
bench_measure cold rec "$REC_PORT" 3
echo "== restarted, then recmesh warm" >&2
restart_rec
"$RECMESH" warm --target "127.0.0.1:$REC_PORT" --nats "$NATS" --cluster bench --top 10000 \
	--qps 2000 --concurrency 200 --intel-file "" --json >"$RM_TMP/warm.json"
cat "$RM_TMP/warm.json" >&2
bench_measure warmed rec "$REC_PORT" 4

{
	bench_table never cold warmed
	echo
	read -r _ p_never f_never <<<"$(bench_stats "$BENCH_OUT/lat-never.txt")"
	read -r _ p_warm f_warm <<<"$(bench_stats "$BENCH_OUT/lat-warmed.txt")"
	wsec=$(sed -n 's/.*"seconds":\([0-9.]*\).*/\1/p' "$RM_TMP/warm.json")
	wnames=$(sed -n 's/.*"names":\([0-9]*\).*/\1/p' "$RM_TMP/warm.json")
	awk -v a="$f_warm" -v b="$f_never" 'BEGIN { r = 100 * a / b; printf "goal: fast answers (<5 ms) warmed >= 97%% of never-restarted: %s (%.1f%%)\n", ((r >= 97) ? "MET" : "NOT MET"), r }'
	awk -v a="$p_warm" -v b="$p_never" 'BEGIN { r = a / b; printf "goal: p99 warmed <= 1.5 x never-restarted: %s (%.2f x: %s ms vs %s ms)\n", ((r <= 1.5) ? "MET" : "NOT MET"), r, a, b }'
	awk -v s="$wsec" -v n="$wnames" 'BEGIN { printf "goal: warm-up of %d names in < 20 s: %s (%.1f s)\n", n, ((s < 20 && n >= 10000) ? "MET" : "NOT MET"), s }'
} | tee "$BENCH_OUT/warm-$(date +%Y%m%d-%H%M%S).txt"
bench_cdf "$BENCH_OUT/warm-cdf.png" "Client latency in the first ${WINDOW} s after a Recursor restart" \
	never "never restarted" cold "restarted cold" warmed "restarted + recmesh warm"
echo "CDF plot: $BENCH_OUT/warm-cdf.png"
