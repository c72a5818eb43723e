#!/usr/bin/env bash
# test_reload.sh - a reload (SIGHUP) reads the config file off the data path,
# bounded, and applies it only when it parsed; credentials under --user.
#
# A proxy in front of a real pdns_recursor and a real nats-server that wants
# a password, started as root with --user nobody: its config file is readable
# by nobody, its password file by root only (as the README recommends). The
# config sets hot-interval 2, stats-interval 0 and an intelligence file. Then
# the config path is made, in turn: an empty file, a file of comments only, a
# directory, a FIFO, a symlink to /dev/zero, 2 MiB of comments, a file whose
# commented-out line of 4200 bytes ends in 'stats-interval = 7', and a file
# only root can read. Each reload must say why (naming the file, and the line
# where there is one) and change nothing, and the proxy must answer every one
# of 50 queries sent while it reads the FIFO and /dev/zero. A good file after
# them must change the values from the ones set at start (2, 0, the file),
# proving that none was reset. The password file cannot be read again as
# nobody: the first good reload says so once, the second does not repeat it,
# and the node stays connected with the password read at start. SIGTERM
# stops the node at the end.
# RM_TEST_NET overrides the NET prefix (127.69).
# Each scenario runs alone with RM_SCENARIO=NAME (RM_SCENARIO=list lists them and what each needs).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/lib.sh"

rm_init test_reload

good_conf() { # good_conf STATS HOT INTEL: a config file with these values
    cat <<EOF
listen = 127.0.0.1:$PROXY_PORT
upstream = 127.0.0.1:$REC_PORT
nats = nats://127.0.0.1:$NPORT
nats-user = rec1
nats-password-file = $ETC/node.pw
cluster = t
node = rl1
upstream-timeout = 1
stats-interval = $1
hot-interval = $2
intel-file = $3
EOF
}
count() { grep -c -- "$1" "$LOG" || true; }
# answered N: how many of N queries through the proxy were answered
answered() {
    local n=0 i
    for i in $(seq 1 "$1"); do
        [[ $(dig +time=1 +tries=1 "${P[@]}" +short www.z1.com A 2>/dev/null) == 198.18.* ]] && n=$((n + 1))
    done
    echo "$n"
}
# bad_reload WHAT REASON [QUERIES]: SIGHUP with the config path as it is now; the reload
# must log REASON and 'nothing changed', and change no option; with QUERIES, that many
# queries sent once the reload began must all be answered
bad_reload() {
    local what=$1 reason=$2 q=${3:-0} r0 e0 a
    r0=$(count 'reload: reading')
    e0=$(count 'reload: the configuration has errors: nothing changed')
    kill -HUP "$(rm_pid proxy)"
    rm_wait_until 10 eval '(( $(count "reload: reading") > r0 ))' || fail "$what: the reload did not begin"
    if ((q > 0)); then
        a=$(answered "$q")
        ((a == q)) || fail "$what: $a of $q queries answered during the reload"
    fi
    rm_wait_until 10 eval '(( $(count "reload: the configuration has errors: nothing changed") > e0 ))' \
        || fail "$what: no 'nothing changed' within 10 s: $(grep reload "$LOG" | tail -3)"
    grep -qF -- "$reason" "$LOG" || fail "$what: the reason '$reason' was not logged: $(grep reload "$LOG" | tail -3)"
    ! grep -q "reload: '" "$LOG" || fail "$what: an option changed: $(grep "reload: '" "$LOG")"
    ! grep -q "reload: done" "$LOG" || fail "$what: a reload was applied: $(grep "reload: done" "$LOG")"
    ok "$what: nothing changed: $(grep -F -- "$reason" "$LOG" | tail -1 | sed 's/.*reload: //')${a:+; $a of $q queries answered meanwhile}"
}

sc_bad() {
    mv "$CONF" "$RM_TMP/saved.conf"
    : >"$CONF"
    chmod 644 "$CONF"
    bad_reload "an empty file" "reload: config file '$CONF' holds no option (empty, or truncated?)"
    printf '# only comments\n\n' >"$CONF"
    bad_reload "a file of comments only" "reload: config file '$CONF' holds no option"
    rm -f "$CONF"
    mkdir "$CONF"
    bad_reload "a directory" "reload: cannot read config file '$CONF': it is a directory, not a regular file"
    rmdir "$CONF"
    mkfifo -m 644 "$CONF"
    bad_reload "a FIFO" "reload: cannot read config file '$CONF': it is a FIFO, not a regular file" 50
    rm -f "$CONF"
    ln -s /dev/zero "$CONF"
    bad_reload "a symlink to /dev/zero" "reload: cannot read config file '$CONF': it is a character device, not a regular file" 50
    rm -f "$CONF"
    { cat "$RM_TMP/saved.conf"; head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' '#'; } >"$CONF"
    bad_reload "2 MiB of comments" "reload: config file '$CONF' is over 1048576 bytes"
    {
        cat "$RM_TMP/saved.conf"
        printf '#%04200d stats-interval = 7\n' 0
    } >"$CONF"
    bad_reload "a commented-out line of 4220 bytes" "reload: $CONF:12: the line has 4220 bytes, more than 4095: not read"
    cp "$RM_TMP/saved.conf" "$CONF"
    chmod 600 "$CONF"
    bad_reload "a config file only root can read" \
        "reload: the config file '$CONF' cannot be read as user 'nobody' (--user): a reload needs it readable by that user"
    grep -qF "reload: cannot read config file '$CONF': Permission denied" "$LOG" \
        || fail "the root-only config's reason: $(grep reload "$LOG" | tail -3)"
    ! grep -q 'NATS credentials' "$LOG" || fail "a failed reload read the credentials: $(grep 'NATS credentials' "$LOG")"
}

sc_good() {
    good_conf 0.5 3 "$ETC/intel/b.txt" >"$CONF"
    chmod 644 "$CONF"
    kill -HUP "$(rm_pid proxy)"
    rm_wait_until 10 grep -q 'reload: done' "$LOG" || fail "no reload of the good file: $(grep reload "$LOG" | tail -3)"
    for line in "reload: 'stats-interval' 0 -> 0.5" "reload: 'hot-interval' 2 -> 3" \
        "reload: 'intel-file' '$ETC/intel/a.txt' -> '$ETC/intel/b.txt'" \
        'reload: done, 3 option(s) changed, 0 of them need a restart'; do
        grep -qF -- "$line" "$LOG" || fail "'$line' not logged: $(grep reload "$LOG" | tail -6)"
    done
    ok "the good file changes stats-interval 0 -> 0.5, hot-interval 2 -> 3 and the intelligence file: none was reset before"
    denied="reload: NATS credentials not changed: cannot read --nats-password-file '$ETC/node.pw': Permission denied; the running ones are kept (running as user 'nobody'"
    [[ $(count "$denied") -eq 1 ]] || fail "the unreadable password file was logged $(count "$denied") times: $(grep 'NATS credentials' "$LOG")"
    d0=$(count 'reload: done')
    kill -HUP "$(rm_pid proxy)"
    rm_wait_until 10 eval '(( $(count "reload: done") > d0 ))' || fail "no second reload"
    [[ $(count "$denied") -eq 1 ]] || fail "after a second reload the unreadable password file was logged $(count "$denied") times"
    [[ $(count 'Permission denied') -eq 2 ]] || fail "'Permission denied' logged $(count 'Permission denied') times, expected 2 (the config, the password once)"
    c0=$(count 'counters:.*nats=connected')
    rm_wait_until 10 eval '(( $(count "counters:.*nats=connected") > c0 ))' || fail "the node is not connected after the reloads: $(grep 'counters:' "$LOG" | tail -2)"
    a=$(answered 20)
    ((a == 20)) || fail "$a of 20 queries answered after the reloads"
    ok "two good reloads: the root-only password file said once ($(count "$denied") line), still connected, $a of 20 queries answered"
}

sc_sigterm() {
    pid=$(rm_pid proxy)
    kill -TERM "$pid"
    rm_wait_until 10 eval '! kill -0 '"$pid"' 2>/dev/null' || fail "the proxy ignored SIGTERM for 10 s"
    grep -q 'received signal 15, stopping' "$LOG" || fail "the stop was not logged"
    ok "SIGTERM stops the proxy after the reloads"
}

rm_scenario bad     "a config file that cannot be taken changes nothing"
rm_scenario good    "a good file: the values set at start were kept; the password file is said once" bad
rm_scenario sigterm "SIGTERM" good
rm_scenario_listing

id nobody >/dev/null 2>&1 || fail "there is no user 'nobody' to run the proxy as"

NET=${RM_TEST_NET:-127.69}
rm_start_tree "$NET" 20 10
REC_PORT=$(rm_free_port)
NPORT=$(rm_free_port)
PROXY_PORT=$(rm_free_port)
rm_start_recursor rec "$REC_PORT"

# nobody must reach the config file and the intelligence file's directory;
# the password file stays root's
chmod 711 "$RM_TMP"
ETC=$RM_TMP/etc
mkdir -m 755 "$ETC"
mkdir -m 755 "$ETC/intel"
chown nobody "$ETC/intel"
PW=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
(umask 077 && echo "$PW" >"$ETC/node.pw")
printf 'authorization { users = [ {user: rec1, password: "%s"} ] }\n' "$PW" >"$RM_TMP/nats.conf"
rm_start_nats_conf nats "$NPORT" "$RM_TMP/nats.conf"

CONF=$ETC/proxy.conf
good_conf 0 2 "$ETC/intel/a.txt" >"$CONF"
chmod 644 "$CONF"
cp "$CONF" "$RM_TMP/start.conf"
rm_spawn proxy "$RECMESH" proxy --config "$CONF" --user nobody
LOG=$RM_TMP/proxy.log
P=(@127.0.0.1 -p "$PROXY_PORT")
_rm_wait_for proxy 15 rm_dig "${P[@]}" +short localhost A || fail "the proxy does not answer on 127.0.0.1:$PROXY_PORT"
grep -q "running as user 'nobody'" "$LOG" || fail "the proxy did not drop privileges: $(head -5 "$LOG")"
rm_wait_until 30 grep -q 'connected to NATS at' "$LOG" || fail "the proxy did not connect to NATS: $(grep -i nats "$LOG" | tail -3)"
ok "proxy as 'nobody', connected to NATS with a root-only password file"

rm_scenarios
