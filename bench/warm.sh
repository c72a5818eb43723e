#!/usr/bin/env bash
# warm.sh: what a restart costs the clients, cold and warmed by recmesh.
#
# A hermetic signed tree whose leaf authoritatives sit behind a latency relay
# (bench/dnsdelay: 20-80 ms each; in a tenth of the zones ns1 is dead, in
# another twentieth ns2 takes 400 ms), nats-server, and a Recursor behind
# `recmesh proxy`. A Zipf client load (s=0.9) teaches the fleet its hot list.
# Then, with the same kind of load each time:
#   never restarted | restarted cold | restarted, then `recmesh warm`
# and a table of what the clients saw in the first WINDOW seconds: median and
# p99 latency, share of answers under 5 ms, upstream queries, timeouts. The
# latency CDFs go to bench/out/warm-cdf.png (gnuplot).
# Options: --quick (small tree, short windows), --window S (default 60).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RECMESH=${RECMESH:-$("$HERE/build.sh")}
BUILD=$(dirname "$RECMESH")
DNSDELAY=${DNSDELAY:-$BUILD/bench/dnsdelay}
[[ -x $DNSDELAY ]] || make -C "$BUILD" bench/dnsdelay >&2

ZONES=500 NAMES=20 WINDOW=60 QPS=300
while (($#)); do
	case $1 in
	--quick) ZONES=100 WINDOW=15 ;;
	--window) WINDOW=$2; shift ;;
	*) echo "usage: warm.sh [--quick] [--window SECONDS]" >&2; exit 2 ;;
	esac
	shift
done
source "$HERE/../tests/system/lib.sh"
rm_init warm-bench
OUT=$HERE/out
mkdir -p "$OUT"
NET=127.72
export RM_LEAF_BACKEND=$NET.254.1

echo "== tree: $ZONES zones x $NAMES names behind a latency relay" >&2
rm_start_tree "$NET" "$ZONES" "$NAMES"
# the plan: every leaf address 20-80 ms; ns1 dead in 10% of zones; ns2 at 400 ms in 5%
awk -v seed=7 'BEGIN { srand(seed) }
	{ zone[NR] = $1; addr[NR] = $2 }
	END {
		for (i = 1; i <= NR; i++) {
			z = zone[i]
			if (!(z in kind)) { r = rand(); kind[z] = r < 0.10 ? "dead1" : r < 0.15 ? "slow2" : "ok"; first[z] = i }
			is_ns1 = (first[z] == i)
			if (kind[z] == "dead1" && is_ns1) print addr[i], "dead"
			else if (kind[z] == "slow2" && !is_ns1) print addr[i], 400
			else printf "%s %d\n", addr[i], 20 + int(rand() * 61)
		}
	}' "$RM_TREE/leaf-servers.txt" >"$RM_TMP/plan.txt"
rm_spawn dnsdelay "$DNSDELAY" "$NET.254.1:53" "$RM_TMP/plan.txt"
rm_wait_until 10 grep -q relaying "$RM_TMP/dnsdelay.log"
dead=$(grep -c dead "$RM_TMP/plan.txt" || true)
echo "   $(wc -l <"$RM_TMP/plan.txt") leaf server addresses, $dead dead" >&2

NATS_PORT=$(rm_free_port)
NATS=nats://127.0.0.1:$NATS_PORT
rm_start_nats nats "$NATS_PORT"
REC_PORT=$(rm_free_port)
PROXY_PORT=$(rm_free_port)
rm_start_recursor rec "$REC_PORT"
rm_spawn proxy "$RECMESH" proxy --listen "127.0.0.1:$PROXY_PORT" --upstream "127.0.0.1:$REC_PORT" \
	--nats "$NATS" --cluster bench --node r1 --hot-interval 2 --stats-interval 0
rm_wait_until 10 rm_dig @127.0.0.1 -p "$PROXY_PORT" +short localhost A >/dev/null

zipf() { awk -v COUNT="$1" -v S=0.9 -v SEED="$2" -f "$HERE/zipf.awk" "$RM_TREE/names.txt"; }
NQ=$((WINDOW * QPS))

echo "== learning: every name once, then a Zipf load, through the proxy" >&2
{ cat "$RM_TREE/names.txt"; zipf "$NQ" 1; } >"$RM_TMP/learn.txt"
dnsperf -s 127.0.0.1 -p "$PROXY_PORT" -d "$RM_TMP/learn.txt" -n 1 -c 4 -q 200 -Q 2000 -t 10 >"$RM_TMP/learn.out" 2>&1
sleep 2.5 # one --hot-interval: the list is written
"$RECMESH" hot --nats "$NATS" --cluster bench --top 3 >&2

# measure NAME: a Zipf load of WINDOW seconds at QPS straight at the Recursor,
# every answer's latency (lost queries count as 5 s), and the Recursor's counters
measure() {
	local name=$1 seed=$2 oq0 ot0
	zipf "$NQ" "$seed" >"$RM_TMP/q-$name.txt"
	oq0=$(rm_rec_stat rec all-outqueries)
	ot0=$(rm_rec_stat rec outgoing-timeouts)
	dnsperf -s 127.0.0.1 -p "$REC_PORT" -d "$RM_TMP/q-$name.txt" -n 1 -c 4 -q 500 -Q "$QPS" -t 5 -v \
		>"$RM_TMP/dnsperf-$name.out" 2>&1 || true
	awk '/^> / { if ($2 == "T") print 5.0; else print $NF }' "$RM_TMP/dnsperf-$name.out" | sort -g >"$OUT/warm-lat-$name.txt"
	lost=$(sed -n 's/.*Queries lost: *\([0-9]*\).*/\1/p' "$RM_TMP/dnsperf-$name.out")
	for ((k = 0; k < ${lost:-0}; k++)); do echo 5.0; done >>"$OUT/warm-lat-$name.txt"
	sort -g -o "$OUT/warm-lat-$name.txt" "$OUT/warm-lat-$name.txt"
	echo "$name $(($(rm_rec_stat rec all-outqueries) - oq0)) $(($(rm_rec_stat rec outgoing-timeouts) - ot0))" >>"$RM_TMP/counters.txt"
}
restart_rec() {
	rm_stop rec
	rm_start_recursor rec "$REC_PORT"
}

echo "== never restarted" >&2
measure never 2
echo "== restarted cold" >&2
restart_rec
measure cold 3
echo "== restarted, then recmesh warm" >&2
restart_rec
"$RECMESH" warm --target "127.0.0.1:$REC_PORT" --nats "$NATS" --cluster bench --top 10000 \
	--qps 2000 --concurrency 200 --json >"$RM_TMP/warm.json"
cat "$RM_TMP/warm.json" >&2
measure warmed 4

stats() { # FILE -> median_ms p99_ms share_under_5ms
	awk '{ v[NR] = $1; if ($1 < 0.005) f++ } END {
		if (NR == 0) { print "- - -"; exit }
		m = v[int((NR + 1) / 2)]; p = v[int(NR * 0.99) > 0 ? int(NR * 0.99) : 1]
		printf "%.2f %.1f %.2f\n", m * 1000, p * 1000, 100 * f / NR }' "$1"
}
{
	printf '%-22s %10s %10s %10s %10s %10s %10s\n' "first ${WINDOW}s after" answers median_ms p99_ms "<5ms_%" upstream_q out_timeouts
	for name in never cold warmed; do
		read -r med p99 fast <<<"$(stats "$OUT/warm-lat-$name.txt")"
		read -r _ oq ot < <(grep "^$name " "$RM_TMP/counters.txt")
		printf '%-22s %10d %10s %10s %10s %10s %10s\n' "$name" "$(wc -l <"$OUT/warm-lat-$name.txt")" "$med" "$p99" "$fast" "$oq" "$ot"
	done
	wsec=$(sed -n 's/.*"seconds":\([0-9.]*\).*/\1/p' "$RM_TMP/warm.json")
	wnames=$(sed -n 's/.*"names":\([0-9]*\).*/\1/p' "$RM_TMP/warm.json")
	read -r _ _ f_never <<<"$(stats "$OUT/warm-lat-never.txt")"
	read -r _ p_never _ <<<"$(stats "$OUT/warm-lat-never.txt")"
	read -r _ p_warm f_warm <<<"$(stats "$OUT/warm-lat-warmed.txt")"
	echo
	awk -v a="$f_warm" -v b="$f_never" 'BEGIN { r = 100 * a / b; printf "goal: fast answers (<5 ms) warmed >= 97%% of never-restarted: %s (%.1f%%)\n", ((r >= 97) ? "MET" : "NOT MET"), r }'
	awk -v a="$p_warm" -v b="$p_never" 'BEGIN { r = a / b; printf "goal: p99 warmed <= 1.5 x never-restarted: %s (%.2f x)\n", ((r <= 1.5) ? "MET" : "NOT MET"), r }'
	awk -v s="$wsec" -v n="$wnames" 'BEGIN { printf "goal: warm-up of %d names in < 20 s: %s (%.1f s)\n", n, ((s < 20 && n >= 10000) ? "MET" : "NOT MET"), s }'
} | tee "$OUT/warm-$(date +%Y%m%d-%H%M%S).txt"

if command -v gnuplot >/dev/null; then
	for name in never cold warmed; do
		awk '{ print $1 * 1000, NR }' "$OUT/warm-lat-$name.txt" | awk -v n="$(wc -l <"$OUT/warm-lat-$name.txt")" '{ print $1, $2 / n }' >"$RM_TMP/cdf-$name.txt"
	done
	gnuplot <<-GP
		set terminal pngcairo size 900,560
		set output "$OUT/warm-cdf.png"
		set title "Client latency in the first ${WINDOW} s after a Recursor restart"
		set xlabel "latency (ms, log scale)"; set ylabel "share of answers"
		set logscale x; set xrange [0.01:6000]; set yrange [0:1]; set grid; set key bottom right
		plot "$RM_TMP/cdf-never.txt" w l lw 2 t "never restarted", \
		     "$RM_TMP/cdf-cold.txt" w l lw 2 t "restarted cold", \
		     "$RM_TMP/cdf-warmed.txt" w l lw 2 t "restarted + recmesh warm"
	GP
	echo "CDF plot: $OUT/warm-cdf.png"
fi
