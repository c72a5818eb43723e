#!/usr/bin/env bash
# warm.sh: what a Recursor restart costs its clients, cold and warmed by recmesh.
#
# A hermetic signed tree whose leaf authoritatives have 20-80 ms of latency
# (ns1 dead in a tenth of the zones, ns2 at 300 ms in 15 % of them), NATS, and
# a Recursor behind `recmesh proxy`. Every name once and a Zipf load (s=0.9)
# through the proxy teach the fleet its hot list. Then the same kind of load,
# straight at the Recursor, for WINDOW seconds each time:
#   never restarted | restarted cold | restarted, then `recmesh warm`
# and a table: median and p99 latency, share of answers under 5 ms, upstream
# queries and timeouts; the goals of the warm-up issue; the latency CDFs in
# bench/out/warm-cdf.png.
# Options: --quick (100 zones, 15 s windows), --window S (default 60).
#
# --pacing [--names N]: instead, how long N names (default 50000) take to
# warm, fixed pacing (--max-qps = --qps) against adaptive: the same kind of
# tree (100 zones x N/100 names) behind the latency relay, so that each
# recursion costs the Recursor tens of milliseconds and every dead ns1
# about 1.5 s, as on a real network; a teacher Recursor behind `recmesh
# proxy` learns every name once; then a fresh Recursor, with one thread
# (PACING_THREADS) so that the replay can overload it, is warmed once per
# mode (restarted in between). The table per mode: names, seconds,
# answers/s, timeouts, SERVFAILs, the highest rate, raises, back-offs.
# The rates: PACING_QPS (1000), PACING_MAX_QPS (5000), PACING_CONCURRENCY
# (1000, recmesh's default); the tree's prefix: RM_TEST_NET (127.73).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RECMESH=${RECMESH:-$("$HERE/build.sh")}
ZONES=500 NAMES=20 WINDOW=60 QPS=300
PACING=0 PACING_NAMES=50000
: "${PACING_QPS:=1000}" "${PACING_MAX_QPS:=5000}" "${PACING_CONCURRENCY:=1000}" "${PACING_THREADS:=1}"
rest=()
while (($#)); do
	case $1 in
	--pacing) PACING=1 ;;
	--names) PACING_NAMES=${2:?--names N}; shift ;;
	*) rest+=("$1") ;;
	esac
	shift
done
source "$HERE/../tests/system/lib.sh"
rm_init warm-bench
source "$HERE/common.sh"
bench_args ${rest[@]+"${rest[@]}"}

# pacing_bench: fixed against adaptive pacing for PACING_NAMES names; prints the table
pacing_bench() {
	local per=$(((PACING_NAMES + 99) / 100)) nats_port nats teach_port proxy_port rec_port mode max out
	echo "== tree: 100 zones x $per names behind a latency relay" >&2
	bench_tree "${RM_TEST_NET:-127.73}" 100 "$per"
	echo "   $BENCH_SERVERS leaf server addresses, $BENCH_DEAD dead" >&2
	nats_port=$(rm_free_port)
	nats=nats://127.0.0.1:$nats_port
	rm_start_nats nats "$nats_port"
	teach_port=$(rm_free_port)
	proxy_port=$(rm_free_port)
	rec_port=$(rm_free_port)
	rm_start_recursor teach "$teach_port"
	rm_spawn proxy "$RECMESH" proxy --listen "127.0.0.1:$proxy_port" --upstream "127.0.0.1:$teach_port" \
		--nats "$nats" --cluster pace --node t1 --hot-interval 2 --stats-interval 0 \
		--hot-capacity $((PACING_NAMES * 2)) --hot-publish "$PACING_NAMES"
	rm_wait_until 10 rm_dig @127.0.0.1 -p "$proxy_port" +short localhost A >/dev/null
	echo "== learning: every name once through the proxy" >&2
	head -n "$PACING_NAMES" "$RM_TREE/names.txt" >"$RM_TMP/pace-names.txt"
	dnsperf -s 127.0.0.1 -p "$proxy_port" -d "$RM_TMP/pace-names.txt" -n 1 -c 4 -q 500 -Q 5000 -t 10 \
		>"$RM_TMP/pace-learn.out" 2>&1
	hot_names() { "$RECMESH" hot --nats "$nats" --cluster pace --json --top "$PACING_NAMES" 2>/dev/null | grep -c '"qname"' || true; }
	hot_enough() { (($(hot_names) >= PACING_NAMES * 9 / 10)); }
	rm_wait_until 60 hot_enough || echo "   the hot list holds only $(hot_names) names" >&2
	for mode in fixed adaptive; do
		max=$PACING_QPS
		[[ $mode == adaptive ]] && max=$PACING_MAX_QPS
		rm_stop rec
		rm_start_recursor rec "$rec_port" "threads=$PACING_THREADS"
		echo "== $mode: --qps $PACING_QPS --max-qps $max --concurrency $PACING_CONCURRENCY" >&2
		out=$("$RECMESH" warm --target "127.0.0.1:$rec_port" --nats "$nats" --cluster pace --top "$PACING_NAMES" \
			--qps "$PACING_QPS" --max-qps "$max" --concurrency "$PACING_CONCURRENCY" --intel-file "" --json -v \
			2>"$RM_TMP/pace-$mode.err") || echo "   recmesh warm failed: $out $(tail -3 "$RM_TMP/pace-$mode.err")" >&2
		echo "$mode $out" >>"$RM_TMP/pace.txt"
	done
	echo "(a Recursor with threads=$PACING_THREADS; --qps $PACING_QPS, --max-qps $PACING_MAX_QPS adaptive, --concurrency $PACING_CONCURRENCY)"
	printf '%-9s %8s %8s %10s %9s %10s %9s %7s %9s\n' mode names seconds answers/s timeouts SERVFAILs peak_q/s raises back-offs
	while read -r mode out; do
		awk -v mode="$mode" -v j="$out" 'function num(k,   m) {
				if (match(j, "\"" k "\":[0-9.]+")) { m = substr(j, RSTART, RLENGTH); sub(/.*:/, "", m); return m }
				return 0 }
			BEGIN { printf "%-9s %8d %8.1f %10.0f %9d %10d %9.0f %7d %9d\n", mode, num("names"), num("seconds"),
				num("rate"), num("timeouts"), num("SERVFAIL"), num("peak_qps"), num("raises"), num("backoffs") }'
	done <"$RM_TMP/pace.txt"
	echo "adaptive pacing decisions:"
	grep -o 'pace [0-9].*' "$RM_TMP/pace-adaptive.err" | sed 's/^/  /' || echo "  none"
}
if ((PACING)); then
	# not in a pipeline: a subshell's servers would escape the exit trap's cleanup
	table=$BENCH_OUT/warm-pacing-$(date +%Y%m%d-%H%M%S).txt
	pacing_bench >"$table"
	cat "$table"
	exit 0
fi

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
