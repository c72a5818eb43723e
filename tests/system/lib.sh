# lib.sh - harness for recmesh system tests and benchmarks (source it; bash only).
#
# Starts real servers on loopback: a hermetic DNSSEC-signed tree served by three NSDs
# (see mktree.sh), pdns_recursor instances resolving it, and nats-server with JetStream.
# Every process is started with rm_spawn, logs to $RM_TMP/NAME.log and is stopped by PID
# when the test exits. Tests using different NET prefixes and ports can run concurrently.
#
#   set -euo pipefail
#   HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
#   source "$HERE/lib.sh"        # ok, fail
#   rm_init test_mine            # a test_* name: RECMESH, DNSTCP, DNSDELAY get their defaults
#   rm_start_tree 127.53 20 10
#   port=$(rm_free_port); rm_start_recursor rec1 "$port"
#   rm_dig @127.0.0.1 -p "$port" www.z1.com A
#
# Environment: RM_KEEP=1 keeps $RM_TMP; RM_STOP_TIMEOUT (s, default 10) bounds a stop;
# RM_START_TIMEOUT (s, default 30) bounds readiness waits; RM_LEAF_BACKEND, see mktree.sh;
# RECMESH_SKIP_SYSTEM=1 makes every system test (rm_init test_*) exit 77, automake's SKIP;
# RM_TEST_NET overrides a test's NET prefix, so that two copies of it can run side by side;
# RM_PROXY_THREADS=N runs every `recmesh proxy` of a test with --threads N;
# RM_SCENARIO=NAME[,NAME...] runs only those scenarios of a test (and what they need),
# RM_SCENARIO=list lists them (see "scenarios" below; tests/system/scenarios.sh runs each alone).
#
# A failed read of a Recursor's counter (rm_rec_stat) fails the test even when the caller
# cannot stop on it (inside $(...) in a comparison): it is recorded in $RM_TMP/.read-failed,
# and rm_ok, rm_done and the exit trap fail the test when that file exists.

[[ -n ${_RM_LIB_LOADED:-} ]] && return 0
_RM_LIB_LOADED=1

RM_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Servers and rec_control live in /usr/sbin, which a non-login PATH may lack.
export PATH="/usr/sbin:/sbin:$PATH"

declare -A _RM_PIDS=()  # process name -> PID of everything rm_spawn started and not stopped
_RM_ORDER=()            # names in start order (stopped in reverse order)
_RM_OWNER=$$            # owner recorded in port reservations

# _rm_log MSG...: a harness message on stderr.
_rm_log() { printf '[%s] %s\n' "${RM_NAME:-rm}" "$*" >&2; }

# _rm_now_ms: wall clock in milliseconds (no fork).
_rm_now_ms() { local t=${EPOCHREALTIME//[.,]/}; REPLY=$((10#$t / 1000)); }

# rm_init NAME: temp dir ($RM_TMP), cleanup trap, log tails on failure. A test (NAME
# test_*) exits 77 at once when RECMESH_SKIP_SYSTEM=1.
rm_init() {
    RM_NAME=${1:?rm_init NAME}
    if [[ $RM_NAME == test_* ]]; then
        # a test's programs: make check sets them (TESTS_ENVIRONMENT); by default those of an
        # in-tree build (the benchmarks build their own, bench/build.sh)
        RECMESH=${RECMESH:-$RM_LIB_DIR/../../recmesh}
        DNSTCP=${DNSTCP:-$RM_LIB_DIR/dnstcp}
        DNSDELAY=${DNSDELAY:-$RM_LIB_DIR/../../bench/dnsdelay}
    fi
    if [[ $RM_NAME == test_* && ${RECMESH_SKIP_SYSTEM:-0} == 1 ]]; then
        echo "SKIP: $RM_NAME: RECMESH_SKIP_SYSTEM=1, system tests are not run"
        exit 77
    fi
    RM_TMP=$(mktemp -d "${TMPDIR:-/tmp}/recmesh-$RM_NAME.XXXXXX")
    export RM_TMP RM_NAME
    _rm_proxy_threads
    trap '_rm_exit' EXIT
    trap '_rm_signal 130' INT
    trap '_rm_signal 143' TERM
    # A command that fails where set -e ends the test says so, with where it was:
    # a test never dies without a word. (-E: also inside functions.)
    set -E
    trap '_rm_err $? "$LINENO" "$BASH_COMMAND"' ERR
}

# _rm_proxy_threads: with RM_PROXY_THREADS=N, every `recmesh proxy` the test starts runs with
# --threads N: RECMESH becomes a wrapper in $RM_TMP that puts the option first, so that a
# test's own --threads (a test that asserts one thread's exact limits) comes later and wins.
# tests/all.sh runs the proxy's system tests once with the default and once with several.
_rm_proxy_threads() {
    [[ -n ${RM_PROXY_THREADS:-} && $RM_NAME == test_* ]] || return 0
    [[ $RM_PROXY_THREADS =~ ^[1-9][0-9]*$ ]] || { _rm_log "RM_PROXY_THREADS must be a number: '$RM_PROXY_THREADS'"; exit 2; }
    local real=$RECMESH
    printf '#!/bin/sh\n# recmesh with --threads %s for every proxy (tests/system/lib.sh)\nif [ "$1" = proxy ]; then shift; exec %q proxy --threads %s "$@"; fi\nexec %q "$@"\n' \
        "$RM_PROXY_THREADS" "$real" "$RM_PROXY_THREADS" "$real" >"$RM_TMP/recmesh"
    chmod +x "$RM_TMP/recmesh"
    RECMESH=$RM_TMP/recmesh
    _rm_log "every recmesh proxy runs with --threads $RM_PROXY_THREADS (RM_PROXY_THREADS)"
}

# rm_data_threads PID: how many data path threads (rm-data0, rm-data1, ...) `recmesh proxy` PID runs.
rm_data_threads() { cat /proc/"${1:?rm_data_threads PID}"/task/*/comm 2>/dev/null | grep -c '^rm-data' || true; }

# _rm_err STATUS LINE COMMAND: the ERR trap (not in command substitutions, whose failures
# their callers handle).
_rm_err() {
    ((BASH_SUBSHELL == 0)) || return 0
    _rm_log "command failed (status $1) at ${BASH_SOURCE[1]##*/}:$2: $3"
}

# _rm_signal STATUS: on INT/TERM leave through the EXIT trap with STATUS.
_rm_signal() { exit "$1"; }

# _rm_exit: EXIT trap: stop everything, show logs if the test failed, remove RM_TMP.
_rm_exit() {
    local status=$? f
    set +e
    trap - EXIT INT TERM
    while ((${#_RM_ORDER[@]} > 0)); do
        rm_stop "${_RM_ORDER[-1]}"
    done
    _rm_release_all
    if ((status == 0)) && [[ -s ${RM_TMP:-}/.read-failed ]]; then
        _rm_log "FAILED: a counter read failed, though the test went on:"
        cat "$RM_TMP/.read-failed" >&2
        status=1
    fi
    if ((status != 0)) && [[ -d ${RM_TMP:-} ]]; then
        _rm_log "FAILED (exit status $status); log tails from $RM_TMP:"
        while IFS= read -r f; do
            [[ -s $f ]] || continue
            printf '\n===== %s (last 30 lines) =====\n' "${f#"$RM_TMP"/}" >&2
            tail -n 30 "$f" >&2
        done < <(find "$RM_TMP" -name '*.log' -type f | sort)
    fi
    if [[ -d ${RM_TMP:-} ]]; then
        if [[ ${RM_KEEP:-0} == 1 ]]; then
            _rm_log "keeping $RM_TMP"
        else
            rm -rf "$RM_TMP"
        fi
    fi
    exit "$status"
}

# rm_wait_until TIMEOUT_SECONDS CMD...: poll CMD (output discarded) every 0.1 s until it
# succeeds; return 1 with a message when TIMEOUT_SECONDS (may be fractional) pass.
rm_wait_until() {
    local timeout=${1:?rm_wait_until TIMEOUT CMD...} deadline secs frac=000
    shift
    [[ $timeout =~ ^([0-9]*)(\.([0-9]*))?$ ]] || { _rm_log "rm_wait_until: bad timeout '$timeout'"; return 2; }
    secs=${BASH_REMATCH[1]:-0}
    frac=${BASH_REMATCH[3]}000
    _rm_now_ms; deadline=$((REPLY + 10#$secs * 1000 + 10#${frac:0:3}))
    while true; do
        if "$@" >/dev/null 2>&1; then return 0; fi
        # Give up early if a process we wait for (set by _rm_wait_for) has died.
        if [[ -n ${_RM_WAIT_PROC:-} ]] && ! _rm_alive "${_RM_PIDS[$_RM_WAIT_PROC]:-}"; then
            _rm_log "rm_wait_until: process '$_RM_WAIT_PROC' died while waiting for: $*"
            return 1
        fi
        _rm_now_ms
        if ((REPLY >= deadline)); then
            _rm_log "rm_wait_until: timed out after ${timeout}s waiting for: $*"
            return 1
        fi
        sleep 0.1
    done
}

# _rm_wait_for NAME TIMEOUT CMD...: rm_wait_until that fails at once if process NAME dies;
# on failure it also prints NAME's command line and the tail of its log.
_rm_wait_for() {
    local _RM_WAIT_PROC=$1
    shift
    rm_wait_until "$@" && return 0
    _rm_start_failed "$_RM_WAIT_PROC"
    return 1
}

# _rm_start_failed NAME: say that process NAME did not come up: its state, command line
# and the last lines of its log (the exit trap shows every log again, but only at the end).
_rm_start_failed() {
    local name=$1 pid state=running
    pid=${_RM_PIDS[$name]:-}
    _rm_alive "$pid" || state="not running (exited)"
    _rm_log "'$name' (pid ${pid:-none}) did not become ready; it is $state"
    if [[ -f $RM_TMP/$name.log ]]; then
        _rm_log "command and last lines of $RM_TMP/$name.log:"
        grep -m1 '^=== .*: starting: ' "$RM_TMP/$name.log" >&2 || true
        tail -n 15 "$RM_TMP/$name.log" | sed 's/^/    /' >&2
    fi
}

# _rm_alive PID: true while PID runs (a zombie, i.e. exited but not reaped, counts as dead).
_rm_alive() {
    local pid=$1 stat
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
    read -r stat <"/proc/$pid/stat" 2>/dev/null || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]]
}

# _rm_descendants PID: print all descendant PIDs of PID (children first level, then deeper).
_rm_descendants() {
    local child
    for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        echo "$child"
        _rm_descendants "$child"
    done
}

# rm_spawn NAME CMD...: start CMD in the background, output appended to $RM_TMP/NAME.log,
# PID recorded for rm_stop and the exit trap. NAME must not be running already.
rm_spawn() {
    local name=${1:?rm_spawn NAME CMD...}
    shift
    if _rm_alive "${_RM_PIDS[$name]:-}"; then
        _rm_log "rm_spawn: '$name' is already running (pid ${_RM_PIDS[$name]})"
        return 1
    fi
    _rm_forget "$name" # it may have died by itself
    printf '=== %(%F %T)T: starting: %s\n' -1 "$*" >>"$RM_TMP/$name.log"
    "$@" >>"$RM_TMP/$name.log" 2>&1 </dev/null &
    _RM_PIDS[$name]=$!
    _RM_ORDER+=("$name")
}

# rm_pid NAME: print the PID of a process started with rm_spawn.
rm_pid() { [[ -n ${_RM_PIDS[${1:?rm_pid NAME}]:-} ]] && echo "${_RM_PIDS[$1]}"; }

# rm_stop NAME: stop one spawned process: TERM, wait up to RM_STOP_TIMEOUT seconds, then
# KILL it and any descendants that are still there. Unknown names are ignored.
rm_stop() {
    local name=${1:?rm_stop NAME} pid kids k
    pid=${_RM_PIDS[$name]:-}
    _rm_forget "$name"
    [[ -n $pid ]] || return 0
    kids=$(_rm_descendants "$pid")
    # (|| true everywhere: the process may be gone already, and callers use set -e.)
    kill -TERM "$pid" 2>/dev/null || true
    if ! rm_wait_until "${RM_STOP_TIMEOUT:-10}" _rm_dead "$pid" 2>/dev/null; then
        _rm_log "rm_stop: '$name' (pid $pid) ignored TERM, sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true # reap it; its exit status does not matter here
    # Children (e.g. NSD's server and xfrd processes) must not outlive a killed parent.
    for k in $kids; do
        if _rm_alive "$k"; then
            kill -TERM "$k" 2>/dev/null || true
            rm_wait_until 2 _rm_dead "$k" 2>/dev/null || kill -KILL "$k" 2>/dev/null || true
        fi
    done
    return 0
}
_rm_dead() { ! _rm_alive "$1"; }

# _rm_forget NAME: drop NAME from the bookkeeping of spawned processes.
_rm_forget() {
    local i
    unset "_RM_PIDS[$1]"
    for i in "${!_RM_ORDER[@]}"; do
        [[ ${_RM_ORDER[i]} == "$1" ]] && unset "_RM_ORDER[i]"
    done
    _RM_ORDER=("${_RM_ORDER[@]}")
}

# _rm_reserve KEY: reserve KEY (a port number, or net-NET) among concurrently running tests;
# returns 1 if another test holds it, 2 if this test holds it already. mkdir is atomic; the
# owner file holds the test's PID, so the reservation of a test that died without cleanup
# is taken over. Released by the exit trap. Directory: RM_PORT_DIR (/tmp/recmesh-ports).
_rm_reserve() {
    local dir=${RM_PORT_DIR:-/tmp/recmesh-ports} owner
    mkdir -p "$dir"
    if ! mkdir "$dir/$1" 2>/dev/null; then
        owner=$(cat "$dir/$1/owner" 2>/dev/null) || owner=
        [[ $owner != "$_RM_OWNER" ]] || return 2
        # Empty owner: just being created by someone else; live owner: in use.
        [[ -n $owner ]] && ! kill -0 "$owner" 2>/dev/null || return 1
        rm -rf "${dir:?}/$1"
        mkdir "$dir/$1" 2>/dev/null || return 1
    fi
    echo "$_RM_OWNER" >"$dir/$1/owner"
    [[ -z ${RM_TMP:-} ]] || echo "$1" >>"$RM_TMP/.reserved"
}

# _rm_release_all: drop this test's reservations (exit trap).
_rm_release_all() {
    local dir=${RM_PORT_DIR:-/tmp/recmesh-ports} key
    [[ -f ${RM_TMP:-}/.reserved ]] || return 0
    while read -r key; do
        [[ $(cat "$dir/$key/owner" 2>/dev/null) == "$_RM_OWNER" ]] && rm -rf "${dir:?}/$key"
    done <"$RM_TMP/.reserved"
}

# rm_free_port: print a TCP+UDP port on 127.0.0.1 that no socket uses and no other running
# test has reserved (see _rm_reserve). Ports come from 20000 up to just below the kernel's
# ephemeral range, so outgoing connections of other programs cannot take them meanwhile.
rm_free_port() {
    local lo hi port try
    read -r lo _ </proc/sys/net/ipv4/ip_local_port_range
    hi=$((lo > 20100 ? lo - 1 : 60000))
    for ((try = 0; try < 200; try++)); do
        port=$((20000 + SRANDOM % (hi - 20000 + 1)))
        # Any TCP or UDP socket (listening or connected) on that port rules it out.
        [[ -z $(ss -Hantu "( sport = :$port )" 2>/dev/null) ]] || continue
        _rm_reserve "$port" || continue
        echo "$port"
        return 0
    done
    _rm_log "rm_free_port: no free port found"
    return 1
}

# rm_zone I: the name of leaf zone I of the tree (mktree.sh: z<I>.<tld>, tld com, net, org in turn)
rm_zone() {
    local t=$((($1 - 1) % 3))
    echo "z$1.$([[ $t == 0 ]] && echo com || { [[ $t == 1 ]] && echo net || echo org; })"
}

# rm_dig ARGS...: dig with a short timeout and a single try. When dig fails (no answer:
# timeout, refused; exit status 9 and the like), what it printed goes to stderr, not
# stdout, and its status is returned: dig +short prints its error text on stdout, which a
# caller testing for a non-empty answer would take for one.
rm_dig() {
    local out status=0
    out=$(dig +time=2 +tries=1 "$@") || status=$?
    if ((status != 0)); then
        _rm_log "rm_dig $*: dig failed with status $status: ${out//$'\n'/ | }"
        return "$status"
    fi
    [[ -z $out ]] || printf '%s\n' "$out"
}

# _rm_soa_ok ADDR PORT ZONE: true when ADDR:PORT answers SOA for ZONE authoritatively.
_rm_soa_ok() {
    local out
    out=$(dig +norec +time=1 +tries=1 -p "$2" @"$1" "$3" SOA) || return 1
    [[ $out == *"status: NOERROR"* && $out == *" aa"* ]]
}

# rm_start_tree NET ZONES NAMES_PER_ZONE: generate the tree into $RM_TMP/tree (mktree.sh),
# start its three NSDs (processes nsd-root, nsd-tld, nsd-leaf) and wait until every one
# answers SOA for a zone it serves. Exports RM_TREE. One tree per test; NET is reserved
# so that a second test asking for the same NET fails instead of sharing the servers.
rm_start_tree() {
    local net=${1:?rm_start_tree NET ZONES NAMES} zones=${2:?} names=${3:?} name
    [[ -n ${RM_TMP:-} ]] || { _rm_log "rm_start_tree: call rm_init first"; return 1; }
    if ! { _rm_reserve "net-$net" || (($? == 2)); } || ss -Hlnu '( sport = :53 )' | grep -qF " $net."; then
        _rm_log "rm_start_tree: NET $net is in use (reserved, or $net.x:53 listening) by another test"
        return 1
    fi
    "$RM_LIB_DIR/mktree.sh" "$RM_TMP/tree" "$net" "$zones" "$names" >"$RM_TMP/mktree.log" 2>&1 \
        || { _rm_log "rm_start_tree: mktree.sh failed"; cat "$RM_TMP/mktree.log" >&2; return 1; }
    export RM_TREE=$RM_TMP/tree
    # Start all three, then wait for all three (they load their zones in parallel).
    for name in root tld leaf; do _rm_spawn_nsd "$name" || return 1; done
    for name in root tld leaf; do _rm_wait_nsd "$name" || return 1; done
}

# rm_start_nsd NAME: (re)start one NSD of the tree (root, tld or leaf; process nsd-NAME),
# e.g. after rm_stop nsd-leaf, and wait until it answers.
rm_start_nsd() {
    _rm_spawn_nsd "${1:?rm_start_nsd root|tld|leaf}" && _rm_wait_nsd "$1"
}

# _rm_nsd_line NAME: read NAME's line of $RM_TREE/nsd-instances.txt into REPLY (conf probes...).
_rm_nsd_line() {
    local name conf probes
    while read -r name conf probes; do
        [[ $name == "$1" ]] && { REPLY="$conf $probes"; return 0; }
    done <"$RM_TREE/nsd-instances.txt"
    _rm_log "no NSD instance '$1' in $RM_TREE/nsd-instances.txt"
    return 1
}

# _rm_spawn_nsd NAME: start NSD instance NAME of the tree in the foreground (nsd -d; its
# main process still forks a server and xfrd, which rm_stop also takes care of).
_rm_spawn_nsd() {
    local conf need hard
    _rm_nsd_line "$1" || return 1
    conf=${REPLY%% *}
    # NSD opens a UDP and a TCP socket per ip-address: the leaf NSD needs about
    # 4 * ZONES descriptors, more than the usual soft limit of 1024; raise it to the hard one.
    need=$(($(grep -c '^ *ip-address:' "$RM_TREE/$conf") * 2 + 64))
    hard=$(ulimit -Hn)
    if [[ $hard != unlimited ]] && ((hard < need)); then
        _rm_log "rm_start_tree: nsd-$1 needs $need file descriptors, hard limit is $hard" \
            "(use fewer zones, or RM_LEAF_BACKEND=ADDR[@PORT] to listen on one address)"
        return 1
    fi
    # shellcheck disable=SC2016  # expanded by the inner bash
    rm_spawn "nsd-$1" bash -c 'ulimit -n "$(ulimit -Hn)" && exec "$@"' _ \
        nsd -d -c "$RM_TREE/$conf"
}

# _rm_wait_nsd NAME: wait until NSD instance NAME answers SOA for each of its probes
# (zone/address[/port] items of nsd-instances.txt) and is still running.
_rm_wait_nsd() {
    local probe zone addr port
    _rm_nsd_line "$1" || return 1
    for probe in ${REPLY#* }; do
        IFS=/ read -r zone addr port <<<"$probe"
        _rm_wait_for "nsd-$1" "${RM_START_TIMEOUT:-30}" _rm_soa_ok "$addr" "${port:-53}" "$zone" \
            || { _rm_log "nsd-$1 does not answer $zone SOA at $addr"; return 1; }
    done
    _rm_alive "$(rm_pid "nsd-$1")" || { _rm_log "nsd-$1 exited"; _rm_start_failed "nsd-$1"; return 1; }
}

# rm_http_get PORT PATH: print the body of http://127.0.0.1:PORT/PATH; fails unless the
# status is 200. Plain bash /dev/tcp (curl is not part of a bare Debian 12); runs in a
# subshell so that a refused connection cannot end the caller.
rm_http_get() (
    local status line in_body=0
    exec 3<>"/dev/tcp/127.0.0.1/${1:?rm_http_get PORT PATH}" || exit 1
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "${2:?}" >&3
    read -r -t 2 _ status _ <&3 || exit 1
    while IFS= read -r -t 2 line <&3 || [[ -n $line ]]; do
        if ((in_body)); then
            printf '%s\n' "$line"
        elif [[ $line == $'\r' || -z $line ]]; then
            in_body=1
        fi
    done
    [[ $status == 200 ]]
)

# rm_nats_monitor_port NAME: print the HTTP monitoring port of nats-server NAME.
rm_nats_monitor_port() { cat "$RM_TMP/${1:?rm_nats_monitor_port NAME}.mport"; }

# rm_start_nats NAME PORT: nats-server with JetStream on 127.0.0.1:PORT, store in
# $RM_TMP/NAME-js, monitoring on 127.0.0.1 (port from rm_nats_monitor_port). Waits until
# /healthz (which includes JetStream) says ok. Starting again after rm_stop NAME reuses
# the store and the monitoring port.
rm_start_nats() {
    local name=${1:?rm_start_nats NAME PORT} port=${2:?rm_start_nats NAME PORT} mport
    if [[ -f $RM_TMP/$name.mport ]]; then
        mport=$(<"$RM_TMP/$name.mport")
    else
        mport=$(rm_free_port) || return 1
        echo "$mport" >"$RM_TMP/$name.mport"
    fi
    mkdir -p "$RM_TMP/$name-js"
    rm_spawn "$name" nats-server -a 127.0.0.1 -p "$port" -m "$mport" -n "$name" \
        -js -sd "$RM_TMP/$name-js"
    _rm_wait_for "$name" "${RM_START_TIMEOUT:-30}" rm_http_get "$mport" /healthz \
        || { _rm_log "rm_start_nats: $name not healthy"; return 1; }
}

# The Recursor under test. RM_RECURSOR picks its version:
#   4.8  (the default) the host's pdns-recursor (Debian 12)
#   5.2  Debian 13's, from the trixie chroot of tests/chroots.sh
#   5.4  Debian sid's, from the sid chroot
# A chroot's programs run in a private mount namespace (nothing is mounted on the host)
# with ${TMPDIR:-/tmp}, the source tree and RM_REC_BINDS (colon-separated folders)
# bind-mounted at their own paths, so every path a test writes into a config stays valid.
RM_RECURSOR=${RM_RECURSOR:-4.8}

# rm_rec_suite: print the chroot suite of RM_RECURSOR (nothing for the host's Recursor);
# fails for a version the matrix does not know.
rm_rec_suite() {
    case $RM_RECURSOR in
        4.8) ;;
        5.2) echo trixie ;;
        5.4) echo sid ;;
        *) _rm_log "RM_RECURSOR=$RM_RECURSOR: not a version of the matrix (4.8, 5.2 or 5.4)"; return 1 ;;
    esac
}

# rm_rec_major: print the major version of RM_RECURSOR (4 or 5): the config format follows it.
rm_rec_major() { echo "${RM_RECURSOR%%.*}"; }

# rm_rec_exec PROGRAM ARGS...: exec a program of the Recursor under test (pdns_recursor,
# rec_control) in place of this shell (the PID stays): on the host, or in its chroot.
rm_rec_exec() {
    local suite
    suite=$(rm_rec_suite) || exit 2
    _rm_chroot_exec "$suite" "RM_RECURSOR=$RM_RECURSOR" "$@"
}

# _rm_chroot_exec SUITE WHO PROGRAM ARGS...: exec PROGRAM in place of this shell: the host's
# when SUITE is empty, else SUITE's chroot (tests/chroots.sh) in a private mount namespace with
# ${TMPDIR:-/tmp}, the source tree and RM_REC_BINDS bind-mounted at their own paths. WHO says,
# in the error for a missing chroot, which setting asked for it.
_rm_chroot_exec() {
    local suite=$1 who=$2 root binds
    shift 2
    [[ -n $suite ]] || exec "$@"
    root=$("$RM_LIB_DIR/../chroots.sh" --print-dir "$suite")
    if [[ ! -f $root/.recmesh-complete ]]; then
        _rm_log "$who needs the $suite chroot in $root: run tests/chroots.sh (as root)"
        exit 2
    fi
    binds=${TMPDIR:-/tmp}:$(cd "$RM_LIB_DIR/../.." && pwd)${RM_REC_BINDS:+:$RM_REC_BINDS}
    # shellcheck disable=SC2016  # expanded by the inner sh
    exec unshare --mount --propagation private sh -c '
        root=$1 binds=$2
        shift 2
        IFS=:
        for d in $binds; do
            [ -d "$d" ] || continue
            mkdir -p "$root$d" && mount --bind "$d" "$root$d" || exit 2
        done
        mount -t proc proc "$root/proc" || exit 2
        exec chroot "$root" "$@"' sh "$root" "$binds" "$@"
}

# The dnsdist versions the tests run: 1.7 the host's (Debian 12), 1.9 Debian 13's (trixie chroot).
# rm_dnsdist_exec VERSION PROGRAM ARGS...: exec a program of that dnsdist in place of this shell.
rm_dnsdist_exec() {
    local v=$1 suite
    shift
    case $v in
        1.7) suite= ;;
        1.9) suite=trixie ;;
        *) _rm_log "dnsdist $v: not a version the tests run (1.7 or 1.9)"; exit 2 ;;
    esac
    _rm_chroot_exec "$suite" "dnsdist $v" "$@"
}

# rm_start_dnsdist NAME VERSION PORT CONFIG: dnsdist VERSION (rm_dnsdist_exec) in the
# foreground with the Lua configuration file CONFIG, which must listen on 127.0.0.1:PORT and
# should say setSecurityPollSuffix("") (no security polling: a test sends nothing off loopback);
# its log in $RM_TMP/NAME.log. Checks that it is the version asked for, and waits until it
# answers a query on PORT (version.bind CH TXT, which recmesh leaves out of hot lists; any
# answer: its backends may still be starting).
rm_start_dnsdist() {
    local name=${1:?rm_start_dnsdist NAME VERSION PORT CONFIG} v=${2:?rm_start_dnsdist NAME VERSION PORT CONFIG}
    local port=${3:?rm_start_dnsdist NAME VERSION PORT CONFIG} conf=${4:?rm_start_dnsdist NAME VERSION PORT CONFIG}
    local version
    grep -Eq '^[[:space:]]*setSecurityPollSuffix\(""\)' "$conf" \
        || { _rm_log "rm_start_dnsdist: $conf does not turn security polling off"; return 1; }
    version=$( (rm_dnsdist_exec "$v" dnsdist --version) 2>&1 | sed -n 's/^dnsdist \([0-9][^ ]*\).*/\1/p' | head -n 1)
    if [[ -z $version && $v == 1.9 ]]; then
        _rm_log "rm_start_dnsdist: no dnsdist in the trixie chroot: run tests/chroots.sh trixie (as root)"
        return 1
    fi
    [[ $version == "$v".* ]] || { _rm_log "rm_start_dnsdist: asked for dnsdist $v, it says '${version:-?}'"; return 1; }
    # a config dnsdist cannot read makes it start with its defaults (port 53, security polling)
    (rm_dnsdist_exec "$v" dnsdist --check-config -C "$conf") >"$RM_TMP/$name.check" 2>&1 \
        || { _rm_log "rm_start_dnsdist: dnsdist $v refuses $conf: $(cat "$RM_TMP/$name.check")"; return 1; }
    _rm_log "dnsdist $name: $version on 127.0.0.1:$port, config $conf"
    rm_spawn "$name" rm_dnsdist_exec "$v" dnsdist --supervised --disable-syslog -C "$conf"
    _rm_wait_for "$name" "${RM_START_TIMEOUT:-30}" dig +time=1 +tries=1 @127.0.0.1 -p "$port" -c CH version.bind TXT \
        || { _rm_log "rm_start_dnsdist: $name does not answer on $port"; return 1; }
}

# rm_rec_version: print the version of the Recursor under test (e.g. 5.4.9).
rm_rec_version() {
    (rm_rec_exec pdns_recursor --version) 2>&1 | sed -n 's/.*PowerDNS Recursor \([0-9][^ ]*\).*/\1/p' | head -n 1
}

# _rm_yaml_servers ADDR...: a YAML list of one protobuf server group
_rm_yaml_servers() {
    local s out=
    for s in "$@"; do out+=${out:+, }\"$s\"; done
    echo "[{servers: [$out]}]"
}

# Old-style setting names the tests use, and their YAML names (5.x); an EXTRA item
# KEY=VALUE with a key not listed here is refused on 5.x (add it here).
declare -A _RM_REC_YAML=(
    [lua-dns-script]=recursor.lua_dns_script [hint-file]=recursor.hint_file
    [threads]=recursor.threads [network-timeout]=outgoing.network_timeout
    [max-cache-entries]=recordcache.max_entries [lua-maintenance-interval]=recursor.lua_maintenance_interval
    [pdns-distributes-queries]=recursor.pdns_distributes_queries
)

# rm_start_recursor NAME PORT [EXTRA...]: pdns_recursor (RM_RECURSOR's version) on
# 127.0.0.1:PORT resolving the tree ($RM_TREE) with DNSSEC validation; config, control
# socket and logs in $RM_TMP/NAME. The config is written as an operator of that version
# would: recursor.conf (old-style) plus a lua-config-file for 4.x, recursor.yml for 5.x
# (with incoming.allow_no_rd, so that a test can ask RD=0 what is cached). EXTRA items:
#   KEY=VALUE            an old-style setting (later ones win); on 5.x its YAML name
#                        comes from _RM_REC_YAML
#   protobuf=ADDR:PORT   the client protobuf stream (protobufServer / logging.protobuf_servers)
#   outgoing-protobuf=ADDR:PORT   the outgoing stream (outgoingProtobufServer /
#                        logging.outgoing_protobuf_servers)
#   dropin=FILE          FILE copied as it is into the include directory $RM_TMP/NAME/recursor.d
#                        (include-dir / recursor.include_dir), which the Recursor reads after
#                        the config above, so that FILE's settings win: a FILE.conf of
#                        old-style settings for 4.x, a FILE.yml for 5.x
#   lua-config=FILE      4.x: FILE's lines added to the Lua config, after the tree's trust anchor
# Waits until rec_control ping answers.
rm_start_recursor() {
    local name=${1:?rm_start_recursor NAME PORT [EXTRA...]} port=${2:?rm_start_recursor NAME PORT} dir item key val
    local eph_lo eph_hi ds version
    shift 2
    [[ -n ${RM_TREE:-} ]] || { _rm_log "rm_start_recursor: run rm_start_tree first"; return 1; }
    rm_rec_suite >/dev/null || return 1
    dir=$RM_TMP/$name
    mkdir -p "$dir"
    rm -rf "$dir/recursor.conf" "$dir/recursor.yml" "$dir/recursor.lua" "$dir/recursor.d"
    # The Recursor picks a random source port per outgoing query (1024-65535 by default),
    # which could take a port rm_free_port reserved for another server before it binds it:
    # keep its queries in the kernel's ephemeral range, which rm_free_port stays below.
    read -r eph_lo eph_hi </proc/sys/net/ipv4/ip_local_port_range
    ((eph_lo > 20100)) || { eph_lo=; eph_hi=; }
    # Settings common to both formats, by old-style name; EXTRA items override them.
    declare -A opts=([threads]=2)
    local pb=() opb=() luacfg=()
    for item in "$@"; do
        case $item in
            protobuf=*) pb+=("${item#protobuf=}") ;;
            outgoing-protobuf=*) opb+=("${item#outgoing-protobuf=}") ;;
            dropin=*)
                mkdir -p "$dir/recursor.d"
                cp "${item#dropin=}" "$dir/recursor.d/" || return 1
                ;;
            lua-config=*) luacfg+=("${item#lua-config=}") ;;
            *=*) opts[${item%%=*}]=${item#*=} ;;
            *) _rm_log "rm_start_recursor: bad EXTRA item '$item' (KEY=VALUE, protobuf=, outgoing-protobuf=, dropin=, lua-config=)"; return 1 ;;
        esac
    done
    if [[ $(rm_rec_major) == 4 ]]; then
        cp "$RM_TREE/recursor-ta.lua" "$dir/recursor.lua"
        for val in ${luacfg[@]+"${luacfg[@]}"}; do cat "$val" >>"$dir/recursor.lua" || return 1; done
        for val in ${pb[@]+"${pb[@]}"}; do printf 'protobufServer("%s")\n' "$val" >>"$dir/recursor.lua"; done
        for val in ${opb[@]+"${opb[@]}"}; do printf 'outgoingProtobufServer("%s")\n' "$val" >>"$dir/recursor.lua"; done
        {
            cat <<EOF
# pdns_recursor 4.8 instance "$name" for a recmesh system test (written by lib.sh)
local-address=127.0.0.1
local-port=$port
socket-dir=$dir
daemon=no
write-pid=no
disable-syslog=yes
log-timestamp=yes
quiet=yes
server-id=$name
# Hermetic: no security polling, root hints of the tree, 127/8 allowed as a target,
# outgoing queries only from 127.0.0.1 (so nothing could leave the machine).
security-poll-suffix=
hint-file=$RM_TREE/hints
dont-query=
query-local-address=127.0.0.1
dnssec=validate
lua-config-file=$dir/recursor.lua
webserver=no
EOF
            [[ -z $eph_lo ]] || printf 'udp-source-port-min=%s\nudp-source-port-max=%s\n' "$eph_lo" "$eph_hi"
            [[ ! -d $dir/recursor.d ]] || printf 'include-dir=%s\n' "$dir/recursor.d"
            for key in "${!opts[@]}"; do printf '%s=%s\n' "$key" "${opts[$key]}"; done
        } >"$dir/recursor.conf"
    else
        ((${#luacfg[@]} == 0)) || { _rm_log "rm_start_recursor: lua-config= is for 4.x (5.x: YAML)"; return 1; }
        # the tree's root DS, from the Lua trust anchor mktree.sh wrote: addTA('.', "DS")
        ds=$(sed -n "s/^addTA('\.', \"\(.*\)\")\$/\1/p" "$RM_TREE/recursor-ta.lua")
        [[ -n $ds ]] || { _rm_log "rm_start_recursor: no root DS in $RM_TREE/recursor-ta.lua"; return 1; }
        declare -A yaml=(
            [incoming.listen]='[127.0.0.1]' [incoming.port]=$port [incoming.allow_no_rd]=true
            [recursor.socket_dir]=$dir [recursor.daemon]=false [recursor.write_pid]=false
            [recursor.server_id]=$name [recursor.security_poll_suffix]="''"
            [recursor.hint_file]=$RM_TREE/hints
            [logging.disable_syslog]=true [logging.timestamp]=true [logging.quiet]=true
            [outgoing.dont_query]='[]' [outgoing.source_address]='[127.0.0.1]'
            [dnssec.validation]=validate
            [dnssec.trustanchors]="[{name: ., dsrecords: ['$ds']}]"
            [webservice.webserver]=false
        )
        [[ -z $eph_lo ]] || yaml[outgoing.udp_source_port_min]=$eph_lo yaml[outgoing.udp_source_port_max]=$eph_hi
        [[ ! -d $dir/recursor.d ]] || yaml[recursor.include_dir]=$dir/recursor.d
        for key in "${!opts[@]}"; do
            [[ -n ${_RM_REC_YAML[$key]:-} ]] \
                || { _rm_log "rm_start_recursor: no YAML name for setting '$key' (add it to _RM_REC_YAML)"; return 1; }
            yaml[${_RM_REC_YAML[$key]}]=${opts[$key]}
        done
        ((${#pb[@]} == 0)) || yaml[logging.protobuf_servers]=$(_rm_yaml_servers "${pb[@]}")
        ((${#opb[@]} == 0)) || yaml[logging.outgoing_protobuf_servers]=$(_rm_yaml_servers "${opb[@]}")
        {
            printf '# pdns_recursor %s instance "%s" for a recmesh system test (written by lib.sh)\n' "$RM_RECURSOR" "$name"
            printf '# Hermetic: no security polling, the tree'"'"'s root hints and trust anchor,\n'
            printf '# 127/8 allowed as a target, outgoing queries only from 127.0.0.1.\n'
            local section last=
            for key in $(printf '%s\n' "${!yaml[@]}" | sort); do
                section=${key%%.*}
                [[ $section == "$last" ]] || { printf '%s:\n' "$section"; last=$section; }
                printf '  %s: %s\n' "${key#*.}" "${yaml[$key]}"
            done
        } >"$dir/recursor.yml"
    fi
    version=$(rm_rec_version)
    [[ $version == "$RM_RECURSOR".* ]] \
        || { _rm_log "rm_start_recursor: RM_RECURSOR=$RM_RECURSOR, but the Recursor says it is '${version:-?}'"; return 1; }
    _rm_log "Recursor $name: PowerDNS Recursor $version on 127.0.0.1:$port, config $(ls "$dir"/recursor.{conf,yml} 2>/dev/null)"
    rm_spawn "$name" rm_rec_exec pdns_recursor --config-dir="$dir"
    _rm_wait_for "$name" "${RM_START_TIMEOUT:-30}" rm_rec_control "$name" ping \
        || { _rm_log "rm_start_recursor: $name does not answer rec_control ping"; return 1; }
}

# rm_rec_control NAME ARGS...: rec_control (of the Recursor under test) for recursor NAME
# (5 s timeout).
rm_rec_control() {
    local name=${1:?rm_rec_control NAME ARGS...}
    shift
    (rm_rec_exec rec_control --socket-dir="$RM_TMP/$name" --timeout=5 "$@")
}

# rm_rec_stat NAME STATNAME: print the value of one statistic. A failed read (rec_control
# fails, or the value is not a number, e.g. an unknown name) returns 1, prints nothing on
# stdout and marks the test failed (see the head of this file), so that a caller's
# [[ $(rm_rec_stat ...) -eq 0 ]] cannot pass on an empty string.
rm_rec_stat() {
    local value status=0 msg
    value=$(rm_rec_control "${1:?rm_rec_stat NAME STAT}" get "${2:?rm_rec_stat NAME STAT}" 2>&1) || status=$?
    if ((status == 0)) && [[ $value =~ ^[0-9]+$ ]]; then
        echo "$value"
        return 0
    fi
    msg="cannot read counter '$2' of Recursor '$1' (rec_control status $status): '${value//$'\n'/ | }'"
    _rm_log "rm_rec_stat: $msg"
    [[ -z ${RM_TMP:-} ]] || echo "$msg" >>"$RM_TMP/.read-failed"
    return 1
}

# A test's checks: rm_ok MSG counts and prints a passed check; rm_fail MSG
# prints the failure and the tally and exits 1 (the EXIT trap shows the logs).
RM_PASSED=0
# rm_hot_bucket PORT: the KV bucket recmesh_hot on the nats-server on 127.0.0.1:PORT, made
# as the first node of a fleet makes it: a mirror of cluster "setup" starts, writes its
# (empty) hot list and is stopped
rm_hot_bucket() {
    rm_spawn hot-bucket "$RECMESH" mirror --protobuf-listen "127.0.0.1:$(rm_free_port)" \
        --nats "nats://127.0.0.1:${1:?rm_hot_bucket PORT}" --cluster setup --node m1 \
        --hot-interval 0.3 --stats-interval 0 -v
    rm_wait_until 20 grep -q 'hot list written' "$RM_TMP/hot-bucket.log" \
        || rm_fail "the mirror wrote no hot list: $(tail -5 "$RM_TMP/hot-bucket.log")"
    rm_stop hot-bucket
}

# rm_nats_pub PORT SUBJECT FORMAT: publishes the bytes of printf FORMAT on SUBJECT through
# the nats-server on 127.0.0.1:PORT, speaking the NATS protocol itself (no client needed),
# and returns once the server has answered a PING after it.
# rm_nats_ns_bucket PORT: make the KV bucket recmesh_ns through the JetStream API, as a
# node makes it (a node makes it only once its Recursor has streamed something)
rm_nats_ns_bucket() {
    # shellcheck disable=SC2016  # the $ are NATS's, not the shell's
    rm_nats_pub "${1:?rm_nats_ns_bucket PORT}" '$JS.API.STREAM.CREATE.KV_recmesh_ns' \
        '{"name":"KV_recmesh_ns","subjects":["$KV.recmesh_ns.>"],"max_msgs_per_subject":1,"discard":"new","allow_rollup_hdrs":true,"deny_delete":true,"allow_direct":true,"storage":"file","num_replicas":1,"retention":"limits"}'
}

rm_nats_pub() {
    local fd len line
    # shellcheck disable=SC2059  # the format is the payload
    len=$(printf "$3" | wc -c)
    exec {fd}<>/dev/tcp/127.0.0.1/"$1"
    # shellcheck disable=SC2059
    { printf 'CONNECT {"verbose":false}\r\nPUB %s %d\r\n' "$2" "$len"; printf "$3"; printf '\r\nPING\r\n'; } >&"$fd"
    local ok=1
    while IFS= read -r -t 5 line <&"$fd"; do
        [[ $line == PONG* ]] && { ok=0; break; }
        [[ $line == -ERR* ]] && break
    done
    exec {fd}>&-
    return "$ok"
}

# _rm_read_failures: fail the test if a counter read failed since the start.
_rm_read_failures() {
    [[ -s ${RM_TMP:-}/.read-failed ]] || return 0
    rm_fail "a counter read failed, so the check before this one proves nothing"
}
rm_ok() { _rm_read_failures; RM_PASSED=$((RM_PASSED + 1)); echo "  ok   $*"; }
rm_fail() {
    echo "  FAIL $*" >&2
    # the check may have failed because a counter could not be read: say so
    [[ ! -s ${RM_TMP:-}/.read-failed ]] || { echo "  (counter reads that failed:)" >&2; cat "$RM_TMP/.read-failed" >&2; }
    echo "$RM_PASSED passed, 1 failed"
    exit 1
}
rm_done() { _rm_read_failures; echo "$RM_PASSED passed, 0 failed"; }
# A test's own words for the two: ok WHAT, fail WHAT (a script may define its own after sourcing)
ok() { rm_ok "$@"; }
fail() { rm_fail "$@"; }

# rm_rec_settle NAME STAT: waits (at most 5 s) until the Recursor's counter STAT
# has not moved for 0.6 s, so that work a query set off in the background
# (address lookups for name servers, DNSKEY fetches) is not counted later. A counter
# that cannot be read fails the test (two failed reads must not look like a calm counter).
rm_rec_settle() {
    local name=${1:?rm_rec_settle NAME STAT} stat=${2:?rm_rec_settle NAME STAT} first last now same=0 i
    last=$(rm_rec_stat "$name" "$stat") || rm_fail "rm_rec_settle: cannot read counter '$stat' of Recursor '$name'"
    first=$last
    for ((i = 0; i < 25 && same < 3; i++)); do
        sleep 0.2
        now=$(rm_rec_stat "$name" "$stat") || rm_fail "rm_rec_settle: cannot read counter '$stat' of Recursor '$name'"
        if [[ $now == "$last" ]]; then same=$((same + 1)); else same=0; last=$now; fi
    done
    ((same >= 3)) || _rm_log "rm_rec_settle: Recursor '$name' counter '$stat' still moving after 5 s: $first -> $now"
}

# rm_start_nats_cluster PREFIX N: a JetStream cluster of N nats-servers named PREFIX1 ..
# PREFIXN on 127.0.0.1 (cluster name PREFIX, routes between all of them), each with its
# store in $RM_TMP/NAME-js and monitoring on loopback (rm_nats_monitor_port NAME). Client
# ports: rm_nats_port NAME; all client URLs, comma-separated: rm_nats_cluster_urls PREFIX.
# Waits until every server is healthy and they have elected a JetStream meta leader.
# rm_start_nats_member NAME starts one of them again (same ports and store).
rm_start_nats_cluster() {
    local prefix=${1:?rm_start_nats_cluster PREFIX N} n=${2:?rm_start_nats_cluster PREFIX N} i name routes=
    for ((i = 1; i <= n; i++)); do
        name=$prefix$i
        rm_free_port >"$RM_TMP/$name.port" || return 1
        rm_free_port >"$RM_TMP/$name.cport" || return 1
        rm_free_port >"$RM_TMP/$name.mport" || return 1
        routes+=${routes:+,}nats://127.0.0.1:$(<"$RM_TMP/$name.cport")
    done
    echo "$routes" >"$RM_TMP/$prefix.routes"
    for ((i = 1; i <= n; i++)); do
        _rm_spawn_nats_member "$prefix" "$prefix$i" || return 1
    done
    for ((i = 1; i <= n; i++)); do
        _rm_wait_for "$prefix$i" "${RM_START_TIMEOUT:-30}" rm_http_get "$(rm_nats_monitor_port "$prefix$i")" /healthz \
            || { _rm_log "rm_start_nats_cluster: $prefix$i not healthy"; return 1; }
    done
    rm_wait_until "${RM_START_TIMEOUT:-30}" rm_nats_meta_leader "$prefix" "$n" \
        || { _rm_log "rm_start_nats_cluster: no JetStream meta leader among ${prefix}1..$prefix$n"; return 1; }
}

# _rm_spawn_nats_member PREFIX NAME: start cluster member NAME with the stored ports.
_rm_spawn_nats_member() {
    local prefix=$1 name=$2
    mkdir -p "$RM_TMP/$name-js"
    rm_spawn "$name" nats-server -a 127.0.0.1 -p "$(<"$RM_TMP/$name.port")" -m "$(<"$RM_TMP/$name.mport")" \
        -n "$name" -js -sd "$RM_TMP/$name-js" --cluster_name "$prefix" \
        --cluster "nats://127.0.0.1:$(<"$RM_TMP/$name.cport")" --routes "$(<"$RM_TMP/$prefix.routes")"
}

# rm_start_nats_member PREFIX NAME: start a member of cluster PREFIX again after it was
# stopped or killed, and wait until it is healthy.
rm_start_nats_member() {
    _rm_spawn_nats_member "${1:?rm_start_nats_member PREFIX NAME}" "${2:?}" || return 1
    _rm_wait_for "$2" "${RM_START_TIMEOUT:-30}" rm_http_get "$(rm_nats_monitor_port "$2")" /healthz
}

# rm_nats_port NAME: the client port of nats-server NAME of a cluster.
rm_nats_port() { cat "$RM_TMP/${1:?rm_nats_port NAME}.port"; }

# rm_nats_cluster_urls PREFIX N: the client URLs of cluster members PREFIX1..PREFIXN.
rm_nats_cluster_urls() {
    local i urls=
    for ((i = 1; i <= ${2:?rm_nats_cluster_urls PREFIX N}; i++)); do
        urls+=${urls:+,}nats://127.0.0.1:$(rm_nats_port "$1$i")
    done
    echo "$urls"
}

# rm_nats_meta_leader PREFIX N: print the JetStream meta leader as a running member of
# PREFIX1..PREFIXN sees it (fails when none of them knows one).
rm_nats_meta_leader() {
    local i name out leader
    for ((i = 1; i <= ${2:?rm_nats_meta_leader PREFIX N}; i++)); do
        name=${1:?}$i
        _rm_alive "$(rm_pid "$name")" || continue
        out=$(rm_http_get "$(rm_nats_monitor_port "$name")" /jsz) || continue
        # (|| leader=: no match is an answer here, not an error for set -e)
        leader=$(tr -d ' \n' <<<"$out" | grep -o '"meta_cluster":{[^}]*' | grep -o '"leader":"[^"]*"' | cut -d'"' -f4) || leader=
        [[ -n $leader ]] && { echo "$leader"; return 0; }
    done
    return 1
}

# rm_nats_stream_leader PREFIX N STREAM: print the leader of STREAM as a running member
# of PREFIX1..PREFIXN reports it (fails when none of them knows one).
rm_nats_stream_leader() {
    local i name out leader
    for ((i = 1; i <= ${2:?rm_nats_stream_leader PREFIX N STREAM}; i++)); do
        name=${1:?}$i
        _rm_alive "$(rm_pid "$name")" || continue
        out=$(rm_http_get "$(rm_nats_monitor_port "$name")" "/jsz?accounts=true&streams=true") || continue
        leader=$(tr -d ' \n' <<<"$out" | grep -o "\"name\":\"${3:?}\",.*" | grep -o '"cluster":{[^}]*' | head -1 \
            | grep -o '"leader":"[^"]*"' | cut -d'"' -f4) || leader=
        [[ -n $leader ]] && { echo "$leader"; return 0; }
    done
    return 1
}

# rm_start_nats_conf NAME PORT CONFFILE: nats-server with JetStream on 127.0.0.1:PORT,
# configured by CONFFILE (authorization, TLS, includes: whatever the test wrote there;
# the command line sets the address, the ports, the name and the store directory).
# Waits until its monitoring port says healthy (that works whatever the clients need).
rm_start_nats_conf() {
    local name=${1:?rm_start_nats_conf NAME PORT CONFFILE} port=${2:?rm_start_nats_conf NAME PORT CONFFILE}
    local conf=${3:?rm_start_nats_conf NAME PORT CONFFILE} mfile=$RM_TMP/$1.mport
    # the monitoring port is kept across restarts of NAME
    [[ -s $mfile ]] || rm_free_port >"$mfile" || return 1
    mkdir -p "$RM_TMP/$name-js"
    rm_spawn "$name" nats-server -c "$conf" -a 127.0.0.1 -p "$port" -m "$(<"$mfile")" -n "$name" \
        -js -sd "$RM_TMP/$name-js"
    _rm_wait_for "$name" "${RM_START_TIMEOUT:-30}" rm_http_get "$(<"$mfile")" /healthz \
        || { _rm_log "rm_start_nats_conf: $name not healthy"; return 1; }
}

# ---- scenarios -------------------------------------------------------------------------
# A system test is a list of named scenarios, each a function sc_NAME, declared in order
# after the test has started the servers all of them share:
#
#   sc_lease() { ...; ok "..."; }
#   rm_scenario lease "the lease: one node merges at a time" lists
#   rm_scenarios
#
# rm_scenario NAME TITLE [NEEDS...]: NEEDS names the scenarios whose state (files, servers,
# variables) NAME goes on from: running NAME alone runs them first. rm_scenarios runs them:
# every scenario in order, or with RM_SCENARIO=NAME[,NAME...] only those and what they
# need (in the declared order), or with RM_SCENARIO=list prints "NAME<TAB>NEEDS<TAB>TITLE"
# per scenario (NEEDS: space-separated, "-" for none) and exits 0 (before the test's servers start, see rm_scenario_listing).
# An unknown name fails the test. Each scenario's output starts with "== TITLE [NAME]".
declare -A _RM_SC_TITLE=() _RM_SC_NEEDS=()
_RM_SC_ORDER=()

rm_scenario() {
    local name=${1:?rm_scenario NAME TITLE [NEEDS...]} title=${2:?rm_scenario NAME TITLE [NEEDS...]} n
    shift 2
    [[ -z ${_RM_SC_CHECKED:-} ]] || { _rm_log "rm_scenario: '$name' declared after rm_scenario_listing"; exit 2; }
    [[ $name =~ ^[a-z0-9_]+$ && $name != list ]] || { _rm_log "rm_scenario: bad name '$name' ([a-z0-9_]+, not 'list')"; exit 2; }
    declare -F "sc_$name" >/dev/null || { _rm_log "rm_scenario: no function sc_$name"; exit 2; }
    [[ -z ${_RM_SC_TITLE[$name]:-} ]] || { _rm_log "rm_scenario: '$name' declared twice"; exit 2; }
    for n in "$@"; do
        [[ -n ${_RM_SC_TITLE[$n]:-} ]] || { _rm_log "rm_scenario: '$name' needs '$n', which is not declared before it"; exit 2; }
    done
    _RM_SC_ORDER+=("$name")
    _RM_SC_TITLE[$name]=$title
    _RM_SC_NEEDS[$name]="$*"
}

# _rm_sc_select NAME: marks NAME and what it needs, transitively, in _RM_SC_SEL.
_rm_sc_select() {
    local n
    [[ -z ${_RM_SC_SEL[$1]:-} ]] || return 0
    _RM_SC_SEL[$1]=1
    for n in ${_RM_SC_NEEDS[$1]}; do _rm_sc_select "$n"; done
}

# rm_scenario_listing: with RM_SCENARIO=list, the test prints its scenarios and exits 0 here,
# without starting anything; an unknown name in RM_SCENARIO fails it here. Call it after the
# scenarios are declared and before the servers start (rm_scenarios calls it too).
rm_scenario_listing() {
    local n want f
    # every sc_ function is a declared scenario: none is left out of a run without a word
    while read -r _ _ f; do
        [[ $f != sc_* || -n ${_RM_SC_TITLE[${f#sc_}]:-} ]] || { _rm_log "$f is not declared with rm_scenario"; exit 2; }
    done < <(declare -F)
    if [[ ${RM_SCENARIO:-} == list ]]; then
        for n in "${_RM_SC_ORDER[@]}"; do printf '%s\t%s\t%s\n' "$n" "${_RM_SC_NEEDS[$n]:--}" "${_RM_SC_TITLE[$n]}"; done
        exit 0
    fi
    declare -gA _RM_SC_SEL=()
    _RM_SC_CHECKED=1
    if [[ -z ${RM_SCENARIO:-} ]]; then
        for n in "${_RM_SC_ORDER[@]}"; do _RM_SC_SEL[$n]=1; done
        return 0
    fi
    IFS=', ' read -r -a want <<<"$RM_SCENARIO"
    for n in "${want[@]}"; do
        [[ -n $n ]] || continue
        [[ -n ${_RM_SC_TITLE[$n]:-} ]] || { echo "RM_SCENARIO: no scenario '$n' in $RM_NAME (RM_SCENARIO=list lists them)" >&2; exit 2; }
        _rm_sc_select "$n"
    done
    echo "RM_SCENARIO=$RM_SCENARIO: only these scenarios and what they need run" >&2
}

rm_scenarios() {
    local n
    [[ -n ${_RM_SC_CHECKED:-} ]] || rm_scenario_listing
    for n in "${_RM_SC_ORDER[@]}"; do
        [[ -n ${_RM_SC_SEL[$n]:-} ]] || continue
        echo "== ${_RM_SC_TITLE[$n]} [$n]"
        "sc_$n"
    done
    rm_done
}
