#!/usr/bin/env bash
# intel_reload.sh: what reloading the intelligence file costs the clients
# of a Recursor that runs contrib/recmesh.lua.
#
# One pdns_recursor (threads=2) answers www.bench. A from a local zone
# (auth-zones, so every answer comes from the thread that also runs
# maintenance()), with contrib/recmesh.lua as its lua-dns-script. dnsperf
# sends QPS queries a second from 4 sockets for WINDOW seconds and reports
# each answer's latency. Three runs, each on a fresh Recursor:
#   quiet     the file at the maximum size, never rewritten
#   reload    the same file rewritten (new time stamp, temp file + rename,
#             as recmesh does) every second
#   old       as reload, with the script before the bounded reader (the
#             version at git commit OLD_REV), for comparison; --no-old skips it
# The file holds ENTRIES dead servers (default 100000, the limit of
# --intel-max-entries) written as the longest IPv6 addresses, so it has the
# largest size recmesh can write (about 5 MB). The table: worst and p99
# latency per run, and the latency the reloads added.
# Options: --entries N, --window S (default 20), --qps N (default 2000), --no-old.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$HERE/..
ENTRIES=100000 WINDOW=20 QPS=2000 OLD_REV=f39fc85 RUN_OLD=1
while (($#)); do
	case $1 in
	--entries) ENTRIES=$2; shift ;;
	--window) WINDOW=$2; shift ;;
	--qps) QPS=$2; shift ;;
	--no-old) RUN_OLD=0 ;;
	*) echo "usage: $(basename "$0") [--entries N] [--window S] [--qps N] [--no-old]" >&2; exit 2 ;;
	esac
	shift
done
source "$TOP/tests/system/lib.sh"
rm_init intel-reload
: "${BENCH_OUT:=$HERE/out}"
mkdir -p "$BENCH_OUT"

INTEL=$RM_TMP/intel.txt
# the body once; each rewrite puts a new header in front of it
awk -v n="$ENTRIES" 'BEGIN { for (i = 0; i < n; i++)
	printf "dead 2001:db8:ffff:ffff:ffff:ffff:%04x:%04x\n", int(i / 65536), i % 65536 }' >"$RM_TMP/body.txt"
write_intel() {
	{ printf '# recmesh-intel 1 time=%s\n' "$EPOCHREALTIME"; cat "$RM_TMP/body.txt"; } >"$INTEL.tmp"
	mv -f "$INTEL.tmp" "$INTEL"
}
write_intel
echo "== intelligence file: $ENTRIES dead servers, $(stat -c %s "$INTEL") bytes" >&2
cat >"$RM_TMP/bench.zone" <<'EOF'
bench. 3600 IN SOA ns.bench. hostmaster.bench. 1 3600 600 86400 3600
bench. 3600 IN NS ns.bench.
ns.bench. 3600 IN A 127.0.0.1
www.bench. 3600 IN A 192.0.2.1
EOF
echo "www.bench A" >"$RM_TMP/queries.txt"
git -C "$TOP" show "$OLD_REV:contrib/recmesh.lua" >"$RM_TMP/recmesh-old.lua" 2>/dev/null || RUN_OLD=0

# start_rec NAME SCRIPT: a Recursor on a free port, its port in $PORT
start_rec() {
	local name=$1 dir=$RM_TMP/$1
	PORT=$(rm_free_port)
	mkdir -p "$dir"
	cat >"$dir/recursor.conf" <<EOF
local-address=127.0.0.1
local-port=$PORT
socket-dir=$dir
daemon=no
write-pid=no
disable-syslog=yes
quiet=yes
threads=2
security-poll-suffix=
auth-zones=bench.=$RM_TMP/bench.zone
lua-dns-script=$2
lua-maintenance-interval=1
webserver=no
EOF
	RECMESH_INTEL_FILE=$INTEL rm_spawn "$name" pdns_recursor --config-dir="$dir"
	rm_wait_until 60 rec_control --socket-dir="$dir" --timeout=2 ping >/dev/null \
		|| { echo "Recursor $name did not start: $(tail -5 "$RM_TMP/$name.log")" >&2; exit 1; }
}

# measure NAME SCRIPT REWRITE(0/1): worst and p99 latency (ms) to $RM_TMP/results.txt
measure() {
	local name=$1 script=$2 rewrite=$3 wpid=""
	start_rec "$name" "$script"
	# let every thread load the file once, then start the clock
	dnsperf -s 127.0.0.1 -p "$PORT" -d "$RM_TMP/queries.txt" -l 2 -Q 200 >/dev/null 2>&1
	if ((rewrite)); then
		(while :; do write_intel; sleep 1; done) &
		wpid=$!
	fi
	dnsperf -s 127.0.0.1 -p "$PORT" -d "$RM_TMP/queries.txt" -c 4 -q 100 -Q "$QPS" -l "$WINDOW" -v \
		>"$RM_TMP/dnsperf-$name.txt" 2>&1
	[[ -z $wpid ]] || { kill "$wpid"; wait "$wpid" 2>/dev/null || true; }
	rm_stop "$name"
	awk '/^> NOERROR/ { print $NF * 1000 }' "$RM_TMP/dnsperf-$name.txt" | sort -n >"$BENCH_OUT/reload-lat-$name.txt"
	local n lost
	n=$(wc -l <"$BENCH_OUT/reload-lat-$name.txt")
	lost=$(sed -n 's/.*Queries lost: *\([0-9]*\).*/\1/p' "$RM_TMP/dnsperf-$name.txt")
	awk -v name="$name" -v n="$n" -v lost="${lost:-?}" '{ v[NR] = $1 }
		END { p = int(n * 0.99); if (p < 1) p = 1; med = int(n / 2); if (med < 1) med = 1
			printf "%s %d %s %.3f %.3f %.3f\n", name, n, lost, v[med], v[p], v[n] }' \
		"$BENCH_OUT/reload-lat-$name.txt" >>"$RM_TMP/results.txt"
	echo "   $name: $(tail -1 "$RM_TMP/results.txt")" >&2
}

echo "== $WINDOW s at $QPS q/s per run" >&2
measure quiet "$TOP/contrib/recmesh.lua" 0
measure reload "$TOP/contrib/recmesh.lua" 1
((RUN_OLD)) && measure old "$RM_TMP/recmesh-old.lua" 1

{
	echo "# contrib/recmesh.lua, a $(stat -c %s "$INTEL")-byte file ($ENTRIES entries), $WINDOW s at $QPS q/s"
	printf '%-8s %8s %6s %10s %10s %10s\n' run answers lost median_ms p99_ms worst_ms
	while read -r name n lost med p99 worst; do
		printf '%-8s %8s %6s %10s %10s %10s\n' "$name" "$n" "$lost" "$med" "$p99" "$worst"
	done <"$RM_TMP/results.txt"
	read -r _ _ _ _ q99 qw < <(grep '^quiet ' "$RM_TMP/results.txt")
	read -r _ _ _ _ r99 rw < <(grep '^reload ' "$RM_TMP/results.txt")
	awk -v a="$qw" -v b="$rw" -v a99="$q99" -v b99="$r99" 'BEGIN {
		d = b - a; printf "added by the reloads: worst %+.3f ms, p99 %+.3f ms\n", d, b99 - a99
		printf "goal: worst added latency under 20 ms at the maximum size: %s\n", (d < 20 ? "MET" : "NOT MET") }'
} | tee "$BENCH_OUT/intel-reload-$(date +%Y%m%d-%H%M%S).txt"
