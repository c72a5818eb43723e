#!/usr/bin/env bash
# proxy.sh - what an inline proxy costs: the Recursor directly, through dnsdist and through
# `recmesh proxy` (mirroring on), measured in one run on this machine with dnsperf on
# cached names.
#
# Usage: bench/proxy.sh [--duration S] [--rounds N] [--quick] [--latency-qps "Q..."]
#                       [--load "DNSPERF ARGS"] [--net NET] [--recmesh-args "ARGS"]
#
#   --duration S       seconds per dnsperf run, throughput and latency [10]
#   --rounds N         rounds; each round runs every target once, in rotating order [3]
#   --quick            short check: 2 s runs, 1 round, 1 s warm-up
#   --latency-qps Q    fixed query rates of the latency runs, blank-separated [2000 20000]
#   --load ARGS        dnsperf options of the throughput runs [-c 1 -q 100] (see LOAD below)
#   --net NET          loopback /16 of the hermetic tree [127.61]
#   --recmesh-args A   more options for every `recmesh proxy` target, e.g. "--upstream-sockets 1" []
#
# Environment: RECMESH (binary; default ../recmesh next to this script), RM_KEEP=1 keeps the
# temp dir (logs, configs, dnsperf outputs).
#
# Setup (all on 127.0.0.0/8, started with tests/system/lib.sh): a signed tree of 50 zones x
# 20 names served by NSD, nats-server with JetStream, one pdns_recursor (harness defaults:
# threads=2, packet cache on), and in front of that same Recursor:
#   dnsdist 1.7  plain forwarding: one backend, no packet cache, default threads;
#   recmesh      `recmesh proxy`, which always mirrors every query as an event to NATS, with
#                its defaults (--scheduling batch: the data path threads under SCHED_BATCH;
#                --threads: one per 4 CPUs), node n1;
#   rm-auto      the same with --scheduling auto (the data path thread under the normal
#                policy at low load, SCHED_BATCH at high load; the switches are counted), node n3;
#   rm-normal    the same with --scheduling normal (never SCHED_BATCH), node n2;
#   rm-tN, dd-tN recmesh with --threads N and dnsdist over N threads (N listener threads on
#                one port with reusePort, a backend with N sockets), for N = 2 and, on a
#                machine with more CPUs, N = its number of CPUs; "recmesh" and "dnsdist"
#                above are the one-thread configurations (recmesh's default --threads: one per
#                4 CPUs, so 1 on a machine with fewer than 8);
#   nullfwd      bench/nullfwd.c, the yardstick: recmesh's UDP loop (one SCHED_BATCH
#                thread, recvmmsg/sendmmsg) without its work (no parsing, no ID mapping,
#                no timeouts, no events). What it costs is what two more loopback hops
#                and the wake-ups of any user-space forwarder cost here.
# The Recursor's cache is primed with every name before each run, so every measured query
# is answered from the Recursor's packet cache (checked: all-outqueries must not grow).
#
# Measurements:
#   throughput  dnsperf with $LOAD for --duration seconds, per target and round; the table
#               shows the median qps over the rounds, and the proxy's CPU time (utime+stime
#               of all its threads, /proc/PID/stat) per answered query over all rounds.
#   latency     dnsperf -v at each --latency-qps rate for --duration seconds per target and
#               round; -v prints "> RCODE QNAME QTYPE SECONDS" per answer (1 us resolution);
#               the samples of all rounds are pooled into median, mean and p99, and each is
#               also shown minus the Recursor's own (the latency a target adds). Measured twice:
#                 halt  the machine as it is: an idle vCPU halts, and waking a thread on it
#                       costs a round trip through the hypervisor (on this VM ~20 us per
#                       wake-up; a query through a proxy wakes two more threads);
#                 poll  while this script holds /dev/cpu_dma_latency at 0, as cyclictest
#                       and tuned's latency profiles do: idle CPUs poll instead of halting,
#                       so what remains is the proxies' own work and their extra hops.
#               (skipped, and said so, when /dev/cpu_dma_latency cannot be opened).
# Other processes on the machine distort both; their CPU use during each run is measured
# (the machine's user+system time, /proc/stat, minus that of this script's processes and
# dnsperf) and reported, with a warning when it reached 5% of the machine.
#
# Output: the table on stdout, progress on stderr, and everything (per-run raw numbers,
# versions, the table) in bench/out/proxy-YYYYmmdd-HHMMSS.txt. Exit status 0 when the
# benchmark ran, whether the goals were met or not; non-zero when something broke.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../tests/system/lib.sh
source "$BENCH_DIR/../tests/system/lib.sh"

RECMESH=${RECMESH:-$("$BENCH_DIR/build.sh")}
DURATION=10
ROUNDS=3
WARMUP=3
LAT_RATES="2000 20000"
NET=127.61
ZONES=50
NAMES_PER_ZONE=20
# LOAD: dnsperf options of the throughput runs, the same for every target. On a 2-core
# machine dnsperf, the Recursor (distributor + 2 worker threads) and the proxy share the
# cores, so "saturated" means every core is busy, not that the proxy alone is the limit.
# Tried in 4-5 s runs, interleaved: -c 1 -q 20/50/100/200/300, -c 2 -q 50/100/150/200/300/500,
# -c 4 -q 200, -c 10 -q 200, -T 2 -c 2 -q 200.
#  - With 20 or 50 outstanding queries qps was already within the noise (+-15% between
#    repeats) of 100, and more than 100 did not raise it either: the cores are busy.
#  - From -q 200 on, dnsdist loses queries: the start burst overflows its UDP receive buffer
#    (net.core.rmem_default, 212992 bytes): ~5-7 per run at 200, ~100 at 300, ~300 at 500.
#    recmesh lost none. A lost query holds a dnsperf slot until dnsperf's 5 s timeout, and
#    dnsperf then keeps running (busy, 2-5 times its usual CPU per query) past the end of
#    the run until those time out, which would spoil the CPU accounting below.
#  - More sockets (-c 2/4/10) or dnsperf threads (-T 2) gained nothing and cost dnsperf CPU.
# So: one socket and 100 outstanding queries (well above saturation, below the losses).
LOAD="-c 1 -q 100"
RM_ARGS=

usage() { sed -n '6,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while (($# > 0)); do
    case $1 in
    --duration) DURATION=${2:?--duration S}; shift 2 ;;
    --rounds) ROUNDS=${2:?--rounds N}; shift 2 ;;
    --quick) DURATION=2; ROUNDS=1; WARMUP=1; shift ;;
    --latency-qps) LAT_RATES=${2:?--latency-qps "Q..."}; shift 2 ;;
    --load) LOAD=${2:?--load ARGS}; shift 2 ;;
    --net) NET=${2:?--net NET}; shift 2 ;;
    --recmesh-args) RM_ARGS=${2?--recmesh-args ARGS}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "proxy.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
read -r -a RATES <<<"$LAT_RATES"
[[ $DURATION =~ ^[1-9][0-9]*$ && $ROUNDS =~ ^[1-9][0-9]*$ && ${#RATES[@]} -gt 0 && \
    " ${RATES[*]} " =~ ^(\ [1-9][0-9]*)+\ $ ]] \
    || { echo "proxy.sh: --duration, --rounds and --latency-qps take positive integers" >&2; exit 2; }
[[ -x $RECMESH ]] || { echo "proxy.sh: no recmesh binary at $RECMESH (run make, or set RECMESH)" >&2; exit 2; }
for tool in dnsperf dnsdist nats-server nsd dig; do
    command -v "$tool" >/dev/null || { echo "proxy.sh: $tool is not installed" >&2; exit 2; }
done

TARGETS=(direct dnsdist recmesh rm-auto rm-normal nullfwd)
CLK_TCK=$(getconf CLK_TCK)
NCPU=$(nproc)
mkdir -p "$BENCH_DIR/out"
OUT=$BENCH_DIR/out/proxy-$(date +%Y%m%d-%H%M%S).txt

rm_init bench_proxy
log() { printf '[proxy.sh] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# raw LINE...: append to the raw output file.
raw() { printf '%s\n' "$*" >>"$OUT"; }

# ---- CPU accounting -------------------------------------------------------------------

# cpu_ticks PID: utime+stime of PID (all threads), in clock ticks.
cpu_ticks() {
    local stat f
    read -r stat <"/proc/$1/stat" || die "process $1 is gone"
    stat=${stat##*) }   # fields from 3 (state) on; the command name may contain blanks
    read -r -a f <<<"$stat"
    echo $((f[11] + f[12]))
}

# thread_ticks PID: "TID TICKS" (utime+stime) for each thread of PID.
thread_ticks() {
    { cat /proc/"$1"/task/*/stat 2>/dev/null || true; } | awk '{
        s = $0; sub(/^[^ ]+ \(.*\) /, "", s); split(s, f, " "); print $1, f[12] + f[13] }'
}

# thread_delta BEFORE AFTER: the busiest threads' ticks between two thread_ticks outputs,
# e.g. "412,95,3" (threads using no CPU left out).
thread_delta() {
    awk 'NR == FNR { a[$1] = $2; next } $2 - a[$1] > 0 { print $2 - a[$1] }' <(echo "$1") <(echo "$2") \
        | sort -rn | head -5 | paste -sd, -
}

# cpu_snapshot: print "MACHINE OURS IRQ": the machine's user+nice+system ticks (/proc/stat;
# without irq, softirq and steal, like the per-process times), the utime+stime ticks of this
# script's process tree (the servers it started; not dnsperf, which has exited by the end
# of a run and is measured with bash's time), and the machine's irq+softirq ticks (mostly
# the loopback traffic's packet processing, which no process is charged for). Other
# processes used MACHINE - OURS.
cpu_snapshot() {
    local machine
    machine=$(awk '$1 == "cpu" { print $2 + $3 + $4, $7 + $8; exit }' /proc/stat)
    # (cat fails when a process exits between the glob and the read; that is fine)
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v self=$$ -v machine="$machine" '
        { s = $0; sub(/^[^ ]+ \(.*\) /, "", s); split(s, f, " ")
          pid = $1 + 0; ppid[pid] = f[2] + 0; ticks[pid] = f[12] + f[13] }
        END { for (p in ticks) {
                  q = p + 0
                  while (q > 1 && q != self) q = ppid[q] + 0
                  if (q == self) ours += ticks[p]
              }
              split(machine, m, " "); print m[1], ours + 0, m[2] }'
}

# other_pct SNAP0 SNAP1 EXTRA_TICKS SECONDS: % of the machine's CPU used by other processes
# between two snapshots; EXTRA_TICKS: ours but not in the snapshots (dnsperf).
other_pct() {
    awk -v a="$1" -v b="$2" -v x="$3" -v w="$4" -v hz="$CLK_TCK" -v n="$NCPU" 'BEGIN {
        split(a, s, " "); split(b, e, " ")
        t = (e[1] - s[1]) - (e[2] - s[2]) - x; if (t < 0) t = 0
        printf "%.1f", 100 * t / (w * hz * n) }'
}

# ---- start everything -----------------------------------------------------------------

# proc_ticks: "PID:STARTTIME TICKS COMMAND" (utime+stime) of every process.
proc_ticks() {
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk '{
        s = $0; sub(/^[^ ]+ \(.*\) /, "", s); split(s, f, " ")
        c = $0; sub(/^[^(]*\(/, "", c); sub(/\) [^)]*$/, "", c); gsub(/ /, "_", c)
        print $1 ":" f[20], f[12] + f[13], c }'
}

busiest=
# The machine should be idle: other processes' CPU use distorts every number here.
snap0=$(cpu_snapshot); proc_ticks >"$RM_TMP/procs.0"
sleep 2
snap1=$(cpu_snapshot); proc_ticks >"$RM_TMP/procs.1"
IDLE_OTHER_PCT=$(other_pct "$snap0" "$snap1" 0 2)
if ! awk -v p="$IDLE_OTHER_PCT" 'BEGIN { exit !(p < 5) }'; then
    # name the biggest users (PID, command, % of one CPU)
    busiest=$(awk -v hz="$CLK_TCK" 'NR == FNR { a[$1] = $2; next }
        ($1 in a) && 50 * ($2 - a[$1]) / hz >= 1 { split($1, k, ":"); printf "%d %s %s(%.0f%%)\n", $2 - a[$1], k[1], $3, 50 * ($2 - a[$1]) / hz }' \
        "$RM_TMP/procs.0" "$RM_TMP/procs.1" | sort -rn | head -3 | cut -d' ' -f2- | paste -sd, - | sed 's/,/, /g')
    log "WARNING: other processes use ${IDLE_OTHER_PCT}% of the machine's CPU before the start;" \
        "busiest (pid command %-of-one-CPU): $busiest"
fi

log "tree: NET $NET, $ZONES zones x $NAMES_PER_ZONE names"
rm_start_tree "$NET" "$ZONES" "$NAMES_PER_ZONE"
NAMES=$RM_TREE/names.txt
NNAMES=$(wc -l <"$NAMES")
CHECK_NAME=www.z1.com # exists in every tree (zone 1, name 0), A 198.18.0.1

NATS_PORT=$(rm_free_port)
rm_start_nats nats "$NATS_PORT"
NATS_URL=nats://127.0.0.1:$NATS_PORT

REC_PORT=$(rm_free_port)
rm_start_recursor rec "$REC_PORT"

RM_PORT=$(rm_free_port)
# shellcheck disable=SC2086  # RM_ARGS is a list of options
rm_spawn recmesh "$RECMESH" proxy --listen "127.0.0.1:$RM_PORT" --upstream "127.0.0.1:$REC_PORT" \
    --cluster bench --node n1 --nats "$NATS_URL" --stats-interval 0 $RM_ARGS
RMN_PORT=$(rm_free_port)
# shellcheck disable=SC2086
rm_spawn rm-normal "$RECMESH" proxy --listen "127.0.0.1:$RMN_PORT" --upstream "127.0.0.1:$REC_PORT" \
    --cluster bench --node n2 --nats "$NATS_URL" --stats-interval 0 $RM_ARGS --scheduling normal
RMA_PORT=$(rm_free_port)
# shellcheck disable=SC2086
rm_spawn rm-auto "$RECMESH" proxy --listen "127.0.0.1:$RMA_PORT" --upstream "127.0.0.1:$REC_PORT" \
    --cluster bench --node n3 --nats "$NATS_URL" --stats-interval 0 $RM_ARGS --scheduling auto

# dnsdist: plain forwarding to the same Recursor. No packet cache (none unless configured),
# no console (none without controlSocket), default threads. The health check must ask for a
# name that exists in the tree: the default, a.root-servers.net, does not, so the backend
# would be marked down.
DD_PORT=$(rm_free_port)
cat >"$RM_TMP/dnsdist.conf" <<EOF
setLocal("127.0.0.1:$DD_PORT")
setACL({"127.0.0.0/8"})
newServer({address="127.0.0.1:$REC_PORT", checkName="$CHECK_NAME."})
setSecurityPollSuffix("")
EOF
rm_spawn dnsdist dnsdist --supervised --disable-syslog -C "$RM_TMP/dnsdist.conf"

# More threads: for each N in THREAD_COUNTS, recmesh with --threads N (rm-tN: N data path
# threads, each with its own SO_REUSEPORT sockets) against dnsdist over as many threads
# (dd-tN: N UDP listener threads on one port with reusePort, and a backend with N sockets,
# a responder thread each). 1 is the targets above (recmesh's default on this machine is
# said in the table); then 2 and the machine's number of CPUs.
THREAD_COUNTS=(2)
((NCPU > 2)) && THREAD_COUNTS+=("$NCPU")
declare -A TPORT=()
for n in "${THREAD_COUNTS[@]}"; do
    TPORT[rm-t$n]=$(rm_free_port)
    # shellcheck disable=SC2086
    rm_spawn "rm-t$n" "$RECMESH" proxy --listen "127.0.0.1:${TPORT[rm-t$n]}" --upstream "127.0.0.1:$REC_PORT" \
        --cluster bench --node "t$n" --nats "$NATS_URL" --stats-interval 0 $RM_ARGS --threads "$n"
    TPORT[dd-t$n]=$(rm_free_port)
    {
        echo "setLocal(\"127.0.0.1:${TPORT[dd-t$n]}\", {reusePort=true})"
        for ((i = 1; i < n; i++)); do echo "addLocal(\"127.0.0.1:${TPORT[dd-t$n]}\", {reusePort=true})"; done
        echo 'setACL({"127.0.0.0/8"})'
        echo "newServer({address=\"127.0.0.1:$REC_PORT\", checkName=\"$CHECK_NAME.\", sockets=$n})"
        echo 'setSecurityPollSuffix("")'
    } >"$RM_TMP/dnsdist-t$n.conf"
    rm_spawn "dd-t$n" dnsdist --supervised --disable-syslog -C "$RM_TMP/dnsdist-t$n.conf"
    TARGETS+=("rm-t$n" "dd-t$n")
done

# answers PORT: true when 127.0.0.1:PORT answers $CHECK_NAME A with the tree's address.
answers() { [[ $(rm_dig +short @127.0.0.1 -p "$1" "$CHECK_NAME" A) == 198.18.0.1 ]]; }
_rm_wait_for rec 30 answers "$REC_PORT" || die "the Recursor does not resolve $CHECK_NAME"
_rm_wait_for recmesh 30 answers "$RM_PORT" || die "recmesh proxy does not answer"
_rm_wait_for rm-normal 30 answers "$RMN_PORT" || die "recmesh proxy --scheduling normal does not answer"
_rm_wait_for rm-auto 30 answers "$RMA_PORT" || die "recmesh proxy --scheduling auto does not answer"
_rm_wait_for dnsdist 30 answers "$DD_PORT" || die "dnsdist does not answer"
for t in "${!TPORT[@]}"; do
    _rm_wait_for "$t" 30 answers "${TPORT[$t]}" || die "$t does not answer"
done

NULLFWD=${NULLFWD:-$(dirname "$RECMESH")/bench/nullfwd}
[[ -x $NULLFWD && ! $NULLFWD -ot $BENCH_DIR/nullfwd.c ]] || make -C "$(dirname "$RECMESH")" bench/nullfwd >&2 \
    || die "cannot build bench/nullfwd"
NF_PORT=$(rm_free_port)
rm_spawn nullfwd "$NULLFWD" "127.0.0.1:$NF_PORT" "127.0.0.1:$REC_PORT"
_rm_wait_for nullfwd 30 answers "$NF_PORT" || die "nullfwd does not answer"

declare -A PORT=([direct]=$REC_PORT [dnsdist]=$DD_PORT [recmesh]=$RM_PORT [rm-auto]=$RMA_PORT
    [rm-normal]=$RMN_PORT [nullfwd]=$NF_PORT)
declare -A PID=([direct]='' [dnsdist]=$(rm_pid dnsdist) [recmesh]=$(rm_pid recmesh)
    [rm-auto]=$(rm_pid rm-auto) [rm-normal]=$(rm_pid rm-normal) [nullfwd]=$(rm_pid nullfwd))
for t in "${!TPORT[@]}"; do
    PORT[$t]=${TPORT[$t]}
    PID[$t]=$(rm_pid "$t")
done
REC_PID=$(rm_pid rec)
NATS_PID=$(rm_pid nats)

# ---- helpers for the runs -------------------------------------------------------------

# load_of TARGET: the dnsperf options of TARGET's throughput runs: $LOAD, and for the
# N-thread targets 4N client sockets (a later -c wins), so that the kernel's SO_REUSEPORT
# hash spreads them over the N listening sockets (it spreads by source address and port:
# one dnsperf socket would all go to one thread).
load_of() {
    case $1 in
    rm-t* | dd-t*) echo "$LOAD -c $((4 * ${1#*-t}))" ;;
    *) echo "$LOAD" ;;
    esac
}

# prime: ask the Recursor every name once (fills or refreshes its cache; some TTLs are 300 s).
prime() {
    dnsperf -s 127.0.0.1 -p "$REC_PORT" -d "$NAMES" -n 1 -q 50 -t 5 >"$RM_TMP/prime.out" 2>&1 \
        || die "priming failed: $(tail -3 "$RM_TMP/prime.out")"
    grep -q "Queries completed: *$NNAMES " "$RM_TMP/prime.out" \
        || die "priming: not every name answered: $(grep -E 'completed|lost' "$RM_TMP/prime.out")"
}

# stat_of FILE LABEL FIELD: a number from dnsperf's statistics.
stat_of() { awk -v l="$2" -v f="$3" 'index($0, l) { print $f; exit }' "$1"; }

# run_dnsperf KIND TARGET ROUND ARGS...: one measured dnsperf run against TARGET; output in
# $RM_TMP/KIND-TARGET-ROUND.out; sets R_QPS R_DONE R_LOST R_PROXY R_REC R_NATS R_PERF
# R_IRQ (CPU ticks; R_PERF from bash's time) R_OTHER (% of the machine) R_OUTQ (Recursor's
# outgoing queries during the run) and appends a raw line.
run_dnsperf() {
    local kind=$1 target=$2 round=$3 out t0 t1 snap0 snap1 th0='' th1='' p0=0 p1=0 r0 r1 n0 n1 q0 q1 wall TIMEFORMAT
    shift 3
    out=$RM_TMP/$kind-$target-$round.out
    prime
    q0=$(rm_rec_stat rec all-outqueries) || die "cannot read all-outqueries of the Recursor"
    [[ -z ${PID[$target]} ]] || { p0=$(cpu_ticks "${PID[$target]}"); th0=$(thread_ticks "${PID[$target]}"); }
    r0=$(cpu_ticks "$REC_PID"); n0=$(cpu_ticks "$NATS_PID")
    snap0=$(cpu_snapshot)
    t0=$EPOCHREALTIME
    TIMEFORMAT='%3U %3S'
    { time dnsperf -s 127.0.0.1 -p "${PORT[$target]}" -d "$NAMES" "$@" >"$out" 2>&1; } 2>"$out.time" \
        || die "dnsperf against $target failed: $(tail -3 "$out")"
    t1=$EPOCHREALTIME
    R_POLICY=
    [[ $target != rm-auto ]] || R_POLICY=$(thread_policy "${PID[rm-auto]}")
    snap1=$(cpu_snapshot)
    [[ -z ${PID[$target]} ]] || { p1=$(cpu_ticks "${PID[$target]}"); th1=$(thread_ticks "${PID[$target]}"); }
    r1=$(cpu_ticks "$REC_PID"); n1=$(cpu_ticks "$NATS_PID")
    q1=$(rm_rec_stat rec all-outqueries) || die "cannot read all-outqueries of the Recursor"
    R_QPS=$(stat_of "$out" "Queries per second:" 4)
    R_DONE=$(stat_of "$out" "Queries completed:" 3)
    R_LOST=$(stat_of "$out" "Queries lost:" 3)
    [[ -n $R_QPS && ${R_DONE:-0} -gt 0 ]] || die "dnsperf against $target answered nothing: $(tail -5 "$out")"
    R_PROXY=$((p1 - p0)); R_REC=$((r1 - r0)); R_NATS=$((n1 - n0)); R_OUTQ=$((q1 - q0))
    R_PERF=$(awk -v hz="$CLK_TCK" '{ printf "%.0f", ($1 + $2) * hz }' "$out.time")
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
    R_OTHER=$(other_pct "$snap0" "$snap1" "$R_PERF" "$wall")
    R_IRQ=$(awk -v a="$snap0" -v b="$snap1" 'BEGIN { split(a, s, " "); split(b, e, " "); print e[3] - s[3] }')
    raw "$kind round=$round target=$target qps=$R_QPS completed=$R_DONE lost=$R_LOST" \
        "cpu_ticks(proxy=$R_PROXY rec=$R_REC nats=$R_NATS dnsperf=$R_PERF softirq=$R_IRQ) other_cpu_pct=$R_OTHER" \
        "proxy_threads_ticks=$(thread_delta "$th0" "$th1") rec_outqueries=$R_OUTQ wall_s=$wall" \
        "${R_POLICY:+data_path_policy_at_end=$R_POLICY}"
}

# thread_policy PID: the scheduling policy of PID's first data path thread (rm-data0):
# normal, batch, or the number (field 41 of its /proc/PID/task/TID/stat).
thread_policy() {
    local stat f t name task=
    for t in /proc/"$1"/task/*; do
        read -r name <"$t/comm" 2>/dev/null || continue
        [[ $name == rm-data0 ]] && { task=$t; break; }
    done
    [[ -n $task ]] || die "process $1 has no data path thread rm-data0"
    read -r stat <"$task/stat" || die "process $1 is gone"
    stat=${stat##*) }
    read -r -a f <<<"$stat"
    case ${f[38]} in 0) echo normal ;; 3) echo batch ;; *) echo "${f[38]}" ;; esac
}

# recmesh_counters: log recmesh's counters (SIGUSR1) and print "QUERIES PUBLISHED DROPPED"
# (dropped: mirror queue full + NATS errors) from the new log lines. Waits a second first,
# for the mirror thread to publish its last batch.
recmesh_counters() {
    local log=$RM_TMP/recmesh.log before
    sleep 1
    before=$(grep -c 'events published=' "$log" || true)
    kill -USR1 "${PID[recmesh]}"
    # shellcheck disable=SC2016
    rm_wait_until 5 bash -c '(( $(grep -c "events published=" "$1") > $2 ))' _ "$log" "$before" \
        || die "recmesh did not log its counters on SIGUSR1"
    awk '/counters: queries udp=/ { split($0, a, "udp="); split(a[2], b, " "); q = b[1] }
         /events published=/ { split($0, a, "published="); split(a[2], b, " "); p = b[1]
                               split($0, a, "dropped-queue-full="); split(a[2], b, " "); d = b[1]
                               split($0, a, "dropped-nats="); split(a[2], b, " "); d += b[1] }
         END { print q, p, d }' "$log"
}

# pct FILE P: the P-th percentile (nearest rank) of the numbers in FILE, one per line.
pct() {
    sort -n "$1" | awk -v p="$2" '{ v[NR] = $1 } END { r = int(p / 100 * NR); if (r < p / 100 * NR) r++; if (r < 1) r = 1; print v[r] }'
}

# lat_stats FILE: "MEDIAN MEAN P99" of the numbers in FILE (percentiles by nearest rank).
lat_stats() {
    sort -n "$1" | awk 'function rank(p,   r) { r = int(p / 100 * NR); if (r < p / 100 * NR) r++; return r < 1 ? 1 : r }
        { v[NR] = $1; sum += $1 }
        END { printf "%d %.1f %d\n", v[rank(50)], sum / NR, v[rank(99)] }'
}

# median VALUES...: median of the arguments (mean of the middle two for an even count).
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ---- raw file header --------------------------------------------------------------------

{
    echo "# bench/proxy.sh $(date '+%F %T %z')"
    echo "machine: $(uname -srm), $NCPU CPUs, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "recmesh: $RECMESH (modified $(date -r "$RECMESH" '+%F %T'), sha256 $(sha256sum "$RECMESH" | cut -c1-16));" \
        "work tree at $(git -C "$BENCH_DIR/.." describe --always --dirty 2>/dev/null || echo '?')"
    echo "versions: $(dnsperf -h 2>&1 | grep -m1 Version) | $(dnsdist --version 2>&1 | head -1)" \
        "| PowerDNS Recursor $(rm_rec_version) | $(nats-server --version)"
    echo "settings: duration=${DURATION}s rounds=$ROUNDS warmup=${WARMUP}s load='$LOAD' latency_qps='${RATES[*]}'" \
        "recmesh_args='$RM_ARGS'" \
        "names=$NNAMES (${ZONES}x$NAMES_PER_ZONE) clk_tck=$CLK_TCK"
    echo "other processes before the start: ${IDLE_OTHER_PCT}% of the machine${busiest:+; busiest: $busiest}"
} >"$OUT"

# ---- warm-up and checks -----------------------------------------------------------------

log "priming the Recursor's cache with $NNAMES names"
prime
out0=$(rm_rec_stat rec all-outqueries) || die "cannot read all-outqueries of the Recursor"
prime
out1=$(rm_rec_stat rec all-outqueries) || die "cannot read all-outqueries of the Recursor"
((out1 == out0)) || die "a second pass over the names still caused outgoing queries: all-outqueries $out0 -> $out1"

log "warm-up: ${WARMUP}s per target"
for target in "${TARGETS[@]}"; do
    # shellcheck disable=SC2086  # LOAD is a list of options
    dnsperf -s 127.0.0.1 -p "${PORT[$target]}" -d "$NAMES" -l "$WARMUP" $(load_of "$target") >"$RM_TMP/warmup-$target.out" 2>&1 \
        || die "warm-up against $target failed"
done

# Mirroring must really be on: `recmesh events` is a plain NATS subscriber, so keep queries
# flowing through recmesh until it has received an event (it gives up after 10 s without).
log "checking that recmesh's events arrive at NATS"
"$RECMESH" events --cluster bench --nats "$NATS_URL" --count 1 --timeout 10 \
    >"$RM_TMP/events.out" 2>"$RM_TMP/events.log" &
events_pid=$!
while kill -0 "$events_pid" 2>/dev/null; do
    rm_dig @127.0.0.1 -p "$RM_PORT" "$CHECK_NAME" A >/dev/null || true
    sleep 0.2
done
wait "$events_pid" || die "recmesh events got no event within 10 s: $(cat "$RM_TMP/events.log")"
[[ -s $RM_TMP/events.out ]] || die "recmesh events printed nothing"
raw "event check: $(head -1 "$RM_TMP/events.out")"

read -r rmq0 rmpub0 rmdrop0 < <(recmesh_counters)

# ---- throughput -------------------------------------------------------------------------

declare -A QPS=() NDONE=() PROXYT=() RECT=() NATST=() PERFT=() IRQT=() LATR=() AUTO_POLICY=()
OTHER_MAX=0
OUTQ_SUM=0
LOST_SUM=()
# note_other [poll]: keep the run's other-process CPU and outgoing queries. While idle CPUs
# poll (poll) and queries flow, /proc/stat shows system time that no process is charged for
# (seen only then: 5-25% of the machine at 5000 qps, none when idle), so other processes
# cannot be told apart from it: those runs are not counted.
note_other() {
    [[ ${1:-} == poll ]] || OTHER_MAX=$(awk -v a="$OTHER_MAX" -v b="$R_OTHER" 'BEGIN { print (b > a) ? b : a }')
    OUTQ_SUM=$((OUTQ_SUM + R_OUTQ))
}
# rotated ROUND: the targets in the order of round ROUND (1-based), so that no target
# always runs first or last.
rotated() {
    local i n=${#TARGETS[@]}
    for ((i = 0; i < n; i++)); do echo "${TARGETS[(i + $1 - 1) % n]}"; done
}

for ((round = 1; round <= ROUNDS; round++)); do
    for target in $(rotated "$round"); do
        log "throughput round $round/$ROUNDS: $target (${DURATION}s, $(load_of "$target"))"
        # shellcheck disable=SC2086
        run_dnsperf throughput "$target" "$round" -l "$DURATION" $(load_of "$target")
        QPS[$target]+="$(printf "%.0f" "$R_QPS") "
        NDONE[$target]=$((${NDONE[$target]:-0} + R_DONE))
        PROXYT[$target]=$((${PROXYT[$target]:-0} + R_PROXY))
        RECT[$target]=$((${RECT[$target]:-0} + R_REC))
        NATST[$target]=$((${NATST[$target]:-0} + R_NATS))
        PERFT[$target]=$((${PERFT[$target]:-0} + R_PERF))
        IRQT[$target]=$((${IRQT[$target]:-0} + R_IRQ))
        ((R_LOST == 0)) || LOST_SUM+=("$target round $round: $R_LOST lost")
        [[ -z $R_POLICY ]] || AUTO_POLICY[throughput]+="$R_POLICY "
        note_other
    done
done

# ---- latency ----------------------------------------------------------------------------

# QoS: /dev/cpu_dma_latency holds its request while the file is open; "0" (parsed as hex)
# asks for no idle-state exit latency at all, so idle CPUs poll.
MODES=(halt)
QOS_NOTE="idle vCPUs halt (cpuidle driver: $(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null || echo none))"
if (: >/dev/cpu_dma_latency) 2>/dev/null; then
    MODES+=(poll)
else
    QOS_NOTE+="; the poll runs are skipped: /dev/cpu_dma_latency cannot be opened"
fi
raw "latency modes: ${MODES[*]}; $QOS_NOTE"

declare -A LAT=()
for mode in "${MODES[@]}"; do
    if [[ $mode == poll ]]; then
        exec {QOS_FD}>/dev/cpu_dma_latency || die "cannot open /dev/cpu_dma_latency"
        printf 0 >&"$QOS_FD" || die "cannot write /dev/cpu_dma_latency"
    fi
    for rate in "${RATES[@]}"; do
        for ((round = 1; round <= ROUNDS; round++)); do
            for target in $(rotated "$round"); do
                log "latency ($mode) round $round/$ROUNDS: $target (${DURATION}s at $rate qps)"
                run_dnsperf "latency-$mode-$rate" "$target" "$round" -l "$DURATION" -Q "$rate" -c 1 -v
                # "> NOERROR www.z1.com A 0.000045": the last field is the latency in seconds.
                lf=$RM_TMP/lat-$mode-$rate-$target-$round.us
                awk '/^> / { printf "%.0f\n", $NF * 1000000 }' "$RM_TMP/latency-$mode-$rate-$target-$round.out" >"$lf"
                [[ -s $lf ]] || die "no latency samples for $target (does dnsperf -v still print '> ' lines?)"
                cat "$lf" >>"$RM_TMP/lat-$mode-$rate-$target.us"
                read -r med mean p99 < <(lat_stats "$lf")
                LATR[$mode.$rate.$target]+="$med "
                raw "latency mode=$mode qps=$rate round=$round target=$target samples=$(wc -l <"$lf")" \
                    "median_us=$med mean_us=$mean p99_us=$p99"
                ((R_LOST == 0)) || LOST_SUM+=("$target latency ($mode, $rate qps) round $round: $R_LOST lost")
                [[ -z $R_POLICY ]] || AUTO_POLICY[$mode.$rate]+="$R_POLICY "
                note_other "$mode"
            done
        done
        for target in "${TARGETS[@]}"; do
            read -r "LAT[$mode.$rate.$target.p50]" "LAT[$mode.$rate.$target.mean]" "LAT[$mode.$rate.$target.p99]" \
                < <(lat_stats "$RM_TMP/lat-$mode-$rate-$target.us")
        done
    done
    [[ $mode != poll ]] || exec {QOS_FD}>&-
done

read -r rmq1 rmpub1 rmdrop1 < <(recmesh_counters)

# ---- report -----------------------------------------------------------------------------

declare -A QMED=()
for target in "${TARGETS[@]}"; do
    # shellcheck disable=SC2086  # a list of numbers
    QMED[$target]=$(median ${QPS[$target]})
done
RATIO=$(awk -v a="${QMED[recmesh]}" -v b="${QMED[dnsdist]}" 'BEGIN { printf "%.2f", a / b }')

RM_DEFAULT_THREADS=$(cat /proc/"${PID[recmesh]}"/task/*/comm | grep -c '^rm-data' || true)
# threads_of TARGET: the data path threads TARGET forwards with ("-" for the Recursor itself).
threads_of() {
    case $1 in
    direct) echo - ;;
    recmesh | rm-auto | rm-normal) echo "$RM_DEFAULT_THREADS" ;;
    rm-t* | dd-t*) echo "${1#*-t}" ;;
    *) echo 1 ;;
    esac
}
# dnsdist_of TARGET: the dnsdist target TARGET is held against (as many threads).
dnsdist_of() { case $1 in rm-t* | dd-t*) echo "dd-t${1#*-t}" ;; *) echo dnsdist ;; esac; }

# us_per_query TICKS QUERIES: CPU microseconds per query.
us_per_query() { awk -v t="$1" -v q="$2" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t * 1000000 / hz / q }'; }

# added MODE RATE TARGET STAT: TARGET's STAT (p50, mean, p99) minus the Recursor's, at RATE
# in MODE (in us; the mean with one decimal).
added() {
    awk -v a="${LAT[$1.$2.$3.$4]}" -v b="${LAT[$1.$2.direct.$4]}" -v s="$4" \
        'BEGIN { printf (s == "mean") ? "%.1f" : "%d", a - b }'
}

table() {
    local target cpu mode rate
    echo "throughput: dnsperf $LOAD for ${DURATION}s (N-thread targets: with -c 4N), median qps of $ROUNDS round(s), and their spread"
    echo "(threads: the proxy's data path threads; recmesh's default here is $RM_DEFAULT_THREADS)"
    printf '%-9s %7s %9s %15s %10s %9s %10s\n' target threads qps "spread (min-max)" "x dnsdist" "CPU us/q" \
        "q/s/core"
    for target in "${TARGETS[@]}"; do
        cpu=- cput=-
        [[ $target == direct ]] || cpu=$(us_per_query "${PROXYT[$target]}" "${NDONE[$target]}")
        [[ $target == direct ]] || cput=$(awk -v c="$cpu" 'BEGIN { printf "%.0f", 1000000 / c }')
        # shellcheck disable=SC2086  # a list of numbers
        printf '%-9s %7s %9.0f %15s %10.2f %9s %10s\n' "$target" "$(threads_of "$target")" "${QMED[$target]}" \
            "$(printf '%s\n' ${QPS[$target]} | sort -n | sed -n '1p;$p' | paste -sd- -)" \
            "$(awk -v a="${QMED[$target]}" -v b="${QMED[$(dnsdist_of "$target")]}" 'BEGIN { print a / b }')" "$cpu" "$cput"
    done
    echo "(x dnsdist: against dnsdist with as many threads; CPU us/q: the proxy's CPU, all its threads, per"
    echo " answered query; q/s/core: 1000000 / CPU us/q, the queries one data path thread could carry"
    echo " with a core of its own: what each further thread adds where cores are free)"
    for mode in "${MODES[@]}"; do
        echo
        echo "latency in us, idle CPUs ${mode}; +: minus the Recursor's own, what the target adds"
        printf '%-9s' ''
        for rate in "${RATES[@]}"; do printf ' | %-43s' "at $rate qps"; done
        echo
        printf '%-9s' target
        for rate in "${RATES[@]}"; do
            printf ' | %6s %7s %6s %6s %7s %6s' median mean p99 +med +mean +p99
        done
        echo
        for target in "${TARGETS[@]}"; do
            printf '%-9s' "$target"
            for rate in "${RATES[@]}"; do
                printf ' | %6s %7s %6s' "${LAT[$mode.$rate.$target.p50]}" "${LAT[$mode.$rate.$target.mean]}" \
                    "${LAT[$mode.$rate.$target.p99]}"
                if [[ $target == direct ]]; then
                    printf ' %6s %7s %6s' - - -
                else
                    printf ' %6s %7s %6s' "$(added "$mode" "$rate" "$target" p50)" \
                        "$(added "$mode" "$rate" "$target" mean)" "$(added "$mode" "$rate" "$target" p99)"
                fi
            done
            echo
        done
    done
    echo "(halt: the machine as it is, poll: idle CPUs poll, see the head of bench/proxy.sh;" \
        "recmesh runs with its defaults)"
    echo
    printf 'goal: recmesh throughput >= dnsdist: %s (%s x)\n' \
        "$(awk -v r="$RATIO" 'BEGIN { print (r >= 1) ? "MET" : "NOT MET" }')" "$RATIO"
    local rr
    rr=$(round_ratios recmesh dnsdist)
    printf 'goal: recmesh throughput >= dnsdist in every round: %s (per round:%s)\n' \
        "$(awk -v r="$rr" 'BEGIN { n = split(r, a, " "); for (i = 1; i <= n; i++) if (a[i] < 1) { print "NOT MET"; exit } print "MET" }')" "$rr"
    local n
    for n in "${THREAD_COUNTS[@]}"; do
        rr=$(round_ratios "rm-t$n" "dd-t$n")
        printf 'with %s threads: recmesh/dnsdist qps per round:%s\n' "$n" "$rr"
    done
    local am dm aa da met
    for mode in "${MODES[@]}"; do
        for rate in "${RATES[@]}"; do
            am=$(added "$mode" "$rate" recmesh p50); dm=$(added "$mode" "$rate" dnsdist p50)
            aa=$(added "$mode" "$rate" recmesh mean); da=$(added "$mode" "$rate" dnsdist mean)
            met=$(awk -v a="$am" -v b="$dm" -v c="$aa" -v d="$da" 'BEGIN { print (a <= b && c <= d) ? "MET" : "NOT MET" }')
            printf 'goal: added median and mean <= dnsdist at %s qps, idle CPUs %s: %s' "$rate" "$mode" "$met"
            printf ' (recmesh +%s / +%s us, dnsdist +%s / +%s us)\n' "$am" "$aa" "$dm" "$da"
        done
    done
    # the data path's latency goal: the median added at 2000 qps (if measured), halting CPUs
    if [[ " ${RATES[*]} " == *" 2000 "* ]]; then
        am=$(added halt 2000 recmesh p50); dm=$(added halt 2000 dnsdist p50)
        printf 'goal: added median at 2000 qps, idle CPUs halt, <= dnsdist + 10 us: %s (recmesh +%s us, dnsdist +%s us)\n' \
            "$(awk -v a="$am" -v b="$dm" 'BEGIN { print (a <= b + 10) ? "MET" : "NOT MET" }')" "$am" "$dm"
    fi
}

# round_ratios A B: A's qps over B's in each round (" 1.02 0.98 ...").
round_ratios() {
    local -a a b
    local r
    read -r -a a <<<"${QPS[$1]}"
    read -r -a b <<<"${QPS[$2]}"
    for r in "${!a[@]}"; do awk -v x="${a[r]}" -v y="${b[r]}" 'BEGIN { printf " %.2f", x / y }'; done
}

# cpu_total TARGET: the machine's CPU per answered query in TARGET's throughput runs, us.
cpu_total() {
    us_per_query $((PERFT[$1] + RECT[$1] + PROXYT[$1] + NATST[$1] + IRQT[$1])) "${NDONE[$1]}"
}

# details: where the CPU goes per query in the throughput runs, the spread over the rounds,
# and the sanity checks.
details() {
    local target r other
    local -a a b
    echo
    echo "CPU per answered query in the throughput runs, us:"
    for target in "${TARGETS[@]}"; do
        printf '  %-9s dnsperf %5s  recursor %5s  proxy %5s  nats-server %5s  softirq %5s  total %6s\n' \
            "$target" "$(us_per_query "${PERFT[$target]}" "${NDONE[$target]}")" \
            "$(us_per_query "${RECT[$target]}" "${NDONE[$target]}")" \
            "$(us_per_query "${PROXYT[$target]}" "${NDONE[$target]}")" \
            "$(us_per_query "${NATST[$target]}" "${NDONE[$target]}")" \
            "$(us_per_query "${IRQT[$target]}" "${NDONE[$target]}")" \
            "$(cpu_total "$target")"
    done
    local mode rate cols=()
    for mode in "${MODES[@]}"; do for rate in "${RATES[@]}"; do cols+=("$mode@$rate"); done; done
    echo "per round (qps / latency median us, $(IFS=/; echo "${cols[*]}")):"
    for target in "${TARGETS[@]}"; do
        printf '  %-9s %s' "$target" "${QPS[$target]% }"
        for mode in "${MODES[@]}"; do
            for rate in "${RATES[@]}"; do printf ' / %s' "${LATR[$mode.$rate.$target]% }"; done
        done
        echo
    done
    echo "rm-auto (--scheduling auto): its data path thread's policy at the end of each run:"
    echo "  throughput: ${AUTO_POLICY[throughput]% }"
    for mode in "${MODES[@]}"; do
        for rate in "${RATES[@]}"; do echo "  latency $mode at $rate qps: ${AUTO_POLICY[$mode.$rate]% }"; done
    done
    echo "  policy switches logged: $(grep -c 'scheduling auto: the data path thread now runs' "$RM_TMP/rm-auto.log" || true)"
    # The ratio within a round: both ran minutes apart at most, so it is less exposed to
    # slow drifts of the machine's speed than the medians.
    for other in dnsdist rm-auto rm-normal nullfwd; do
        printf '  recmesh/%s qps ratio per round:%s\n' "$other" "$(round_ratios recmesh "$other")"
    done
    echo "recmesh mirror: $((rmpub1 - rmpub0)) events published for $((rmq1 - rmq0)) queries" \
        "during the runs, $((rmdrop1 - rmdrop0)) dropped"
    echo "Recursor outgoing queries during the runs: $OUTQ_SUM (0: every measured query was a cache hit)"
    ((${#LOST_SUM[@]} == 0)) || echo "lost queries: $(IFS=';'; echo "${LOST_SUM[*]}")"
    echo "other processes: ${IDLE_OTHER_PCT}% of the CPU before the start, at most ${OTHER_MAX}% during a run" \
        "(poll runs not counted: see note_other)"
    awk -v m="$OTHER_MAX" 'BEGIN { exit !(m >= 5) }' \
        && echo "WARNING: other processes used >= 5% of the CPU during a run: the numbers above are distorted"
    return 0
}

{ echo; table; details; } >>"$OUT"
table
details
echo "raw numbers: $OUT"
