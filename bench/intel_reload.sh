#!/usr/bin/env bash
# intel_reload.sh: what reloading the intelligence file costs the clients
# of a Recursor that runs contrib/recmesh.lua, and how long one
# maintenance() call holds a worker thread.
#
# One Recursor of RM_RECURSOR's version (4.8, 5.2 or 5.4; lib.sh's
# rm_start_recursor, threads=2) resolves the hermetic tree (mktree.sh, one
# zone) with contrib/recmesh.lua loaded through a thin wrapper that times each
# maintenance() call with the monotonic clock (LuaJIT's ffi) and the script's
# load, per thread. dnsperf asks www.z1.com. A, QPS queries a second from 4
# sockets for WINDOW seconds (after a warm-up, so every answer comes from the
# packet cache of the thread that also runs maintenance()), and reports each
# answer's latency. Runs, each on a fresh Recursor:
#   quiet     the file, never rewritten
#   reload    the same file rewritten (new time stamp, temp file + rename,
#             as recmesh does) every second
#   old       as reload, with the script before the bounded reader (the
#             version at git commit OLD_REV), for comparison: --old, dead
#             servers only (that script reads version 1 files)
# The file (--kind):
#   speeds    (the default) version 2, ENTRIES ns lines (default 100000, the
#             most a file may have) of NS names ns<i>.z<j>.example. (about 25
#             characters), IPv4 and IPv6 addresses in turn; --long: NS names of
#             254 characters and the longest IPv6 form, the largest file the
#             format allows (about 31 MB: a reload then takes over 8 minutes)
#   dead      version 1, ENTRIES dead servers written as the longest IPv6
#             addresses (about 5 MB), as before version 2
# On 5.3+ the speeds are imported by one thread after it has read the file;
# make WINDOW long enough to see it (the default 150 s covers reading a
# 100000-line file at 64 KB a call and importing it at 2000 pairs a call).
# The table: per run the answers, the median, p99 and worst latency, the
# longest maintenance() call of any thread, the calls and their mean, and the
# longest script load (a whole file at once, when the Recursor starts).
# Options: --entries N, --window S, --qps N (default 2000), --kind speeds|dead,
# --long, --old. RM_TEST_NET: the tree's prefix (127.76).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$HERE/..
ENTRIES=100000 WINDOW=150 QPS=2000 OLD_REV=f39fc85 RUN_OLD=0 KIND=speeds LONG=0
while (($#)); do
	case $1 in
	--entries) ENTRIES=$2; shift ;;
	--window) WINDOW=$2; shift ;;
	--qps) QPS=$2; shift ;;
	--kind) KIND=$2; shift ;;
	--long) LONG=1 ;;
	--old) RUN_OLD=1 ;;
	*) echo "usage: $(basename "$0") [--entries N] [--window S] [--qps N] [--kind speeds|dead] [--long] [--old]" >&2; exit 2 ;;
	esac
	shift
done
[[ $KIND == speeds || $KIND == dead ]] || { echo "--kind: speeds or dead" >&2; exit 2; }
[[ $KIND == dead ]] || RUN_OLD=0
source "$TOP/tests/system/lib.sh"
rm_init intel-reload
: "${BENCH_OUT:=$HERE/out}"
mkdir -p "$BENCH_OUT"
rm_start_tree "${RM_TEST_NET:-127.76}" 1 1

INTEL=$RM_TMP/intel.txt
VERSION=2
# the body once; each rewrite puts a new header in front of it
if [[ $KIND == dead ]]; then
	VERSION=1
	awk -v n="$ENTRIES" 'BEGIN { for (i = 0; i < n; i++)
		printf "dead 2001:db8:ffff:ffff:ffff:ffff:%04x:%04x\n", int(i / 65536), i % 65536 }' >"$RM_TMP/body.txt"
elif ((LONG)); then
	awk -v n="$ENTRIES" 'BEGIN { l61 = sprintf("%61s", ""); gsub(/ /, "a", l61); l58 = sprintf("%58s", ""); gsub(/ /, "b", l58)
		for (i = 0; i < n; i++)
			printf "ns %08x.%s.%s.%s.%s. ffff:ffff:ffff:ffff:ffff:ffff:%04x:%04x %d\n", i, l61, l61, l61, l58,
				int(i / 65536), i % 65536, 10000000 - i }' >"$RM_TMP/body.txt"
else
	awk -v n="$ENTRIES" 'BEGIN { for (i = 0; i < n; i++) {
		name = sprintf("ns%d.z%d.example.", i % 4 + 1, int(i / 4))
		if (i % 2) printf "ns %s 2001:db8:%x:%x::53 %d\n", name, int(i / 65536), i % 65536, 1000 + i % 300000
		else printf "ns %s 10.%d.%d.%d %d\n", name, int(i / 65536), int(i / 256) % 256, i % 256, 1000 + i % 300000 } }' \
		>"$RM_TMP/body.txt"
fi
write_intel() {
	{ printf '# recmesh-intel %d time=%s\n' "$VERSION" "${EPOCHREALTIME:0:14}"; cat "$RM_TMP/body.txt"; } >"$INTEL.tmp"
	mv -f "$INTEL.tmp" "$INTEL"
}
write_intel
echo "== intelligence file: version $VERSION, $ENTRIES $KIND lines, $(stat -c %s "$INTEL") bytes; Recursor $RM_RECURSOR" >&2
echo "www.z1.com A" >"$RM_TMP/queries.txt"
git -C "$TOP" show "$OLD_REV:contrib/recmesh.lua" >"$RM_TMP/recmesh-old.lua" 2>/dev/null || RUN_OLD=0

# the wrapper: loads SCRIPT, times its load and every maintenance() call on the
# monotonic clock, and keeps per thread "calls worst_s total_s load_s" in $RM_TMP/maint/
cat >"$RM_TMP/timed.lua" <<'EOF'
local ffi = require("ffi")
ffi.cdef("typedef struct { long tv_sec; long tv_nsec; } recmesh_bench_ts; int clock_gettime(int, recmesh_bench_ts *);")
local ts = ffi.new("recmesh_bench_ts")
local function now() ffi.C.clock_gettime(1, ts); return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9 end
local t0 = now()
dofile(os.getenv("RECMESH_BENCH_SCRIPT"))
local load = now() - t0
local inner = maintenance
local out = os.getenv("RECMESH_BENCH_MAINT") .. "/thread-" .. tostring(getRecursorThreadId and getRecursorThreadId()
	or tostring({}):match("0x(%x+)"))
local calls, worst, total = 0, 0, 0
local function save()
	local f = io.open(out, "w")
	if f then f:write(string.format("%d %.6f %.6f %.6f\n", calls, worst, total, load)); f:close() end
end
save()
function maintenance()
	local a = now()
	inner()
	local d = now() - a
	calls, total = calls + 1, total + d
	if d > worst then worst = d end
	save()
end
EOF

# measure NAME SCRIPT REWRITE(0/1): a line of results to $RM_TMP/results.txt
measure() {
	local name=$1 script=$2 rewrite=$3 wpid="" port
	port=$(rm_free_port)
	rm -rf "$RM_TMP/maint" && mkdir -p "$RM_TMP/maint"
	RECMESH_INTEL_FILE=$INTEL RECMESH_BENCH_SCRIPT=$script RECMESH_BENCH_MAINT=$RM_TMP/maint \
		rm_start_recursor "rec-$name" "$port" "lua-dns-script=$RM_TMP/timed.lua"
	# fill the cache, then start the clock (the timings cover the whole life of the Recursor)
	dnsperf -s 127.0.0.1 -p "$port" -d "$RM_TMP/queries.txt" -l 2 -Q 200 >/dev/null 2>&1
	if ((rewrite)); then
		(while :; do write_intel; sleep 1; done) &
		wpid=$!
	fi
	dnsperf -s 127.0.0.1 -p "$port" -d "$RM_TMP/queries.txt" -c 4 -q 100 -Q "$QPS" -l "$WINDOW" -v \
		>"$RM_TMP/dnsperf-$name.txt" 2>&1
	[[ -z $wpid ]] || { kill "$wpid"; wait "$wpid" 2>/dev/null || true; }
	cat "$RM_TMP"/maint/thread-* >"$RM_TMP/maint-$name.txt" 2>/dev/null || true
	grep -o 'NS speeds from [^"]*' "$RM_TMP/rec-$name.log" >"$RM_TMP/imports-$name.txt" || true
	rm_stop "rec-$name"
	awk '/^> NOERROR/ { print $NF * 1000 }' "$RM_TMP/dnsperf-$name.txt" | sort -n >"$BENCH_OUT/reload-lat-$name.txt"
	local n lost
	n=$(wc -l <"$BENCH_OUT/reload-lat-$name.txt")
	lost=$(sed -n 's/.*Queries lost: *\([0-9]*\).*/\1/p' "$RM_TMP/dnsperf-$name.txt")
	# per thread: calls worst total load; keep the worst thread's worst, all calls, the mean
	read -r mcalls mworst mmean mload < <(awk '{ c += $1; t += $3; if ($2 > w) w = $2; if ($4 > l) l = $4 }
		END { printf "%d %.3f %.3f %.1f\n", c, w * 1000, (c ? t / c * 1000 : 0), l * 1000 }' "$RM_TMP/maint-$name.txt")
	awk -v name="$name" -v n="$n" -v lost="${lost:-?}" -v mc="$mcalls" -v mw="$mworst" -v mm="$mmean" -v ml="$mload" '{ v[NR] = $1 }
		END { p = int(n * 0.99); if (p < 1) p = 1; med = int(n / 2); if (med < 1) med = 1
			printf "%s %d %s %.3f %.3f %.3f %s %s %s %s\n", name, n, lost, v[med], v[p], v[n], mw, mc, mm, ml }' \
		"$BENCH_OUT/reload-lat-$name.txt" >>"$RM_TMP/results.txt"
	echo "   $name: $(tail -1 "$RM_TMP/results.txt"); imports: $(wc -l <"$RM_TMP/imports-$name.txt") $(tail -1 "$RM_TMP/imports-$name.txt")" >&2
}

echo "== $WINDOW s at $QPS q/s per run" >&2
measure quiet "$TOP/contrib/recmesh.lua" 0
measure reload "$TOP/contrib/recmesh.lua" 1
((RUN_OLD)) && measure old "$RM_TMP/recmesh-old.lua" 1

{
	echo "# contrib/recmesh.lua on Recursor $(rm_rec_version), a $(stat -c %s "$INTEL")-byte version $VERSION file ($ENTRIES $KIND lines), $WINDOW s at $QPS q/s"
	echo "# maint: maintenance() calls of all threads (the longest, how many, their mean); load: the script's load"
	echo "# with the whole file at once (the import included), in the slowest thread"
	printf '%-8s %8s %6s %10s %10s %10s %14s %10s %12s %10s\n' run answers lost median_ms p99_ms worst_ms maint_worst_ms \
		maint_calls maint_mean_ms load_ms
	while read -r name n lost med p99 worst mw mc mm ml; do
		printf '%-8s %8s %6s %10s %10s %10s %14s %10s %12s %10s\n' "$name" "$n" "$lost" "$med" "$p99" "$worst" "$mw" "$mc" "$mm" "$ml"
	done <"$RM_TMP/results.txt"
	read -r _ _ _ _ q99 qw _ < <(grep '^quiet ' "$RM_TMP/results.txt")
	read -r _ _ _ _ r99 rw _ < <(grep '^reload ' "$RM_TMP/results.txt")
	awk -v a="$qw" -v b="$rw" -v a99="$q99" -v b99="$r99" 'BEGIN {
		d = b - a; printf "added by the reloads: worst %+.3f ms, p99 %+.3f ms\n", d, b99 - a99
		printf "goal: worst added latency under 20 ms at the maximum size: %s\n", (d < 20 ? "MET" : "NOT MET") }'
} | tee "$BENCH_OUT/intel-reload-$(date +%Y%m%d-%H%M%S).txt"
