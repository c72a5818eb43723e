# common.sh: pieces the demo and the restart benchmarks share (source it
# after tests/system/lib.sh and rm_init).
#
#   bench_tree NET ZONES NAMES       a signed tree whose leaf servers sit behind
#                                    dnsdelay: 20-80 ms each; ns1 dead in a tenth
#                                    of the zones, ns2 at 300 ms in 15 % of them
#   bench_relay_counts               "SLOW DEAD": the queries the slow (300 ms)
#                                    and the dead leaf servers got so far
#   bench_zipf COUNT SEED            COUNT query lines, Zipf s=0.9 over names.txt
#   bench_measure NAME REC PORT SEED a Zipf load of WINDOW s at QPS on PORT; the
#                                    latencies go to $BENCH_OUT/lat-NAME.txt, the
#                                    Recursor REC's outgoing queries and timeouts
#                                    during the load to $RM_TMP/counters.txt
#   bench_restart NAME REC PORT SEED CMD...
#                                    the same load, with CMD (a restart of REC) run
#                                    0.2 s into it; also the queries lost (no answer
#                                    within 5 s) to $RM_TMP/lost.txt ("NAME N")
#   bench_stats FILE                 "median_ms p99_ms share_under_5ms_%"
#   bench_table NAME...              the table of what the clients saw

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# bench_args "$@": --quick (100 zones, 15 s windows) and --window SECONDS
bench_args() {
	while (($#)); do
		case $1 in
		--quick) ZONES=100 WINDOW=15 ;;
		--window) WINDOW=$2; shift ;;
		*) echo "usage: $(basename "$0") [--quick] [--window SECONDS]" >&2; exit 2 ;;
		esac
		shift
	done
}
: "${WINDOW:=60}" "${QPS:=300}" "${BENCH_OUT:=$BENCH_DIR/out}"
mkdir -p "$BENCH_OUT"

bench_tree() {
	local net=$1 zones=$2 names=$3
	local dnsdelay=${DNSDELAY:-$(dirname "$RECMESH")/bench/dnsdelay}
	[[ -x $dnsdelay ]] || make -C "$(dirname "$RECMESH")" bench/dnsdelay >&2
	export RM_LEAF_BACKEND=$net.254.1
	rm_start_tree "$net" "$zones" "$names"
	awk -v seed=7 'BEGIN { srand(seed) }
		{ zone[NR] = $1; addr[NR] = $2 }
		END {
			for (i = 1; i <= NR; i++) {
				z = zone[i]
				if (!(z in kind)) { r = rand(); kind[z] = r < 0.10 ? "dead1" : r < 0.25 ? "slow2" : "ok"; first[z] = i }
				is_ns1 = (first[z] == i)
				if (kind[z] == "dead1" && is_ns1) print addr[i], "dead"
				else if (kind[z] == "slow2" && !is_ns1) print addr[i], 300
				else printf "%s %d\n", addr[i], 20 + int(rand() * 61)
			}
		}' "$RM_TREE/leaf-servers.txt" >"$RM_TMP/plan.txt"
	rm_spawn dnsdelay "$dnsdelay" "$net.254.1:53" "$RM_TMP/plan.txt" "$RM_TMP/relay-counts.txt"
	rm_wait_until 10 grep -q relaying "$RM_TMP/dnsdelay.log"
	BENCH_DEAD=$(grep -c dead "$RM_TMP/plan.txt" || true)
	BENCH_SLOW=$(awk '$2 != "dead" && $2 >= 300' "$RM_TMP/plan.txt" | wc -l)
	BENCH_SERVERS=$(wc -l <"$RM_TMP/plan.txt")
}

bench_relay_counts() {
	rm -f "$RM_TMP/relay-counts.txt"
	kill -USR1 "$(rm_pid dnsdelay)"
	rm_wait_until 5 test -e "$RM_TMP/relay-counts.txt" || { echo "dnsdelay wrote no query counts" >&2; exit 1; }
	awk '$2 == "dead" { d += $3; next } $2 >= 300 { s += $3 } END { print s + 0, d + 0 }' "$RM_TMP/relay-counts.txt"
}

bench_zipf() {
	awk -v COUNT="$1" -v S=0.9 -v SEED="$2" -f "$BENCH_DIR/zipf.awk" "$RM_TREE/names.txt"
}

bench_measure() {
	local name=$1 rec=$2 port=$3 seed=$4 oq0 ot0 oq1 ot1
	bench_zipf $((WINDOW * QPS)) "$seed" >"$RM_TMP/q-$name.txt"
	oq0=$(rm_rec_stat "$rec" all-outqueries) || { echo "cannot read all-outqueries of Recursor '$rec'" >&2; exit 1; }
	ot0=$(rm_rec_stat "$rec" outgoing-timeouts) || { echo "cannot read outgoing-timeouts of Recursor '$rec'" >&2; exit 1; }
	dnsperf -s 127.0.0.1 -p "$port" -d "$RM_TMP/q-$name.txt" -n 1 -c 4 -q 500 -Q "$QPS" -t 5 -v \
		>"$RM_TMP/dnsperf-$name.out" 2>&1 || true
	bench_lat "$name"
	oq1=$(rm_rec_stat "$rec" all-outqueries) || { echo "cannot read all-outqueries of Recursor '$rec'" >&2; exit 1; }
	ot1=$(rm_rec_stat "$rec" outgoing-timeouts) || { echo "cannot read outgoing-timeouts of Recursor '$rec'" >&2; exit 1; }
	echo "$name $((oq1 - oq0)) $((ot1 - ot0))" >>"$RM_TMP/counters.txt"
}

# bench_lat NAME: the latencies of dnsperf-NAME.out (lost: 5 s) into lat-NAME.txt, the lost count to lost.txt
bench_lat() {
	local lost k printed
	awk '/^> / { if ($2 == "T") print 5.0; else print $NF }' "$RM_TMP/dnsperf-$1.out" >"$BENCH_OUT/lat-$1.txt"
	lost=$(sed -n 's/.*Queries lost: *\([0-9]*\).*/\1/p' "$RM_TMP/dnsperf-$1.out")
	# dnsperf -v prints a "T" line for a query it gave up on: add only the lost ones it did not print
	printed=$(grep -c '^> T ' "$RM_TMP/dnsperf-$1.out" || true)
	for ((k = printed; k < ${lost:-0}; k++)); do echo 5.0; done >>"$BENCH_OUT/lat-$1.txt"
	sort -g -o "$BENCH_OUT/lat-$1.txt" "$BENCH_OUT/lat-$1.txt"
	echo "$1 ${lost:-0}" >>"$RM_TMP/lost.txt"
}

bench_restart() {
	local name=$1 rec=$2 port=$3 seed=$4 load oq ot
	shift 4
	bench_zipf $((WINDOW * QPS)) "$seed" >"$RM_TMP/q-$name.txt"
	dnsperf -s 127.0.0.1 -p "$port" -d "$RM_TMP/q-$name.txt" -n 1 -c 4 -q 500 -Q "$QPS" -t 5 -v \
		>"$RM_TMP/dnsperf-$name.out" 2>&1 &
	load=$!
	sleep 0.2 # dnsperf sends from the start: the restart comes under load
	"$@"
	wait "$load" || true
	bench_lat "$name"
	# the restarted Recursor's counters are its own since the start
	oq=$(rm_rec_stat "$rec" all-outqueries) || { echo "cannot read all-outqueries of Recursor '$rec'" >&2; exit 1; }
	ot=$(rm_rec_stat "$rec" outgoing-timeouts) || { echo "cannot read outgoing-timeouts of Recursor '$rec'" >&2; exit 1; }
	echo "$name $oq $ot" >>"$RM_TMP/counters.txt"
}

# bench_lost NAME: the queries lost in run NAME
bench_lost() { awk -v n="$1" '$1 == n { v = $2 } END { print v + 0 }' "$RM_TMP/lost.txt"; }

bench_stats() {
	awk '{ v[NR] = $1; if ($1 < 0.005) f++ } END {
		if (NR == 0) { print "- - -"; exit }
		m = v[int((NR + 1) / 2)]; i = int(NR * 0.99); if (i < 1) i = 1
		printf "%.2f %.1f %.2f\n", m * 1000, v[i] * 1000, 100 * f / NR }' "$1"
}

bench_table() {
	local name med p99 fast oq ot
	printf '%-26s %8s %10s %9s %8s %11s %9s\n' "first ${WINDOW} s of clients" answers median_ms p99_ms "<5ms_%" upstream_q timeouts
	for name in "$@"; do
		read -r med p99 fast <<<"$(bench_stats "$BENCH_OUT/lat-$name.txt")"
		read -r _ oq ot < <(grep "^$name " "$RM_TMP/counters.txt" | tail -1)
		printf '%-26s %8d %10s %9s %8s %11s %9s\n' "$name" "$(wc -l <"$BENCH_OUT/lat-$name.txt")" "$med" "$p99" "$fast" "$oq" "$ot"
	done
}

# bench_cdf PNG TITLE NAME LABEL [NAME LABEL...]: latency CDFs with gnuplot
bench_cdf() {
	local png=$1 title=$2 plot="" sep=""
	shift 2
	command -v gnuplot >/dev/null || return 0
	while (($# >= 2)); do
		awk -v n="$(wc -l <"$BENCH_OUT/lat-$1.txt")" '{ print $1 * 1000, NR / n }' "$BENCH_OUT/lat-$1.txt" >"$RM_TMP/cdf-$1.txt"
		plot+="$sep\"$RM_TMP/cdf-$1.txt\" with lines lw 2 title \"$2\""
		sep=", "
		shift 2
	done
	gnuplot <<-GP
		set terminal pngcairo size 900,560
		set output "$png"
		set title "$title"
		set xlabel "latency (ms, log scale)"; set ylabel "share of answers"
		set logscale x; set xrange [0.01:6000]; set yrange [0:1]; set grid; set key bottom right
		plot $plot
	GP
}
