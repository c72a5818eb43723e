#!/usr/bin/env bash
# test_nats_security.sh - recmesh against nats-servers that demand TLS and credentials.
#
# What an operator of a production NATS relies on: a proxy (node rec1 of cluster
# prod) and the readers (recmesh hot, warm) connect and work against servers that
# demand mutual TLS (a private CA, certificates made here with openssl,
# verify_and_map), a user and password, a user NKey (made here with python3-nacl,
# tests/system/nkeys.py), a token, and JWT credentials (an operator, account and
# user chain made by nkeys.py, operator mode with a memory resolver); each user
# gets the least-privilege permissions of contrib/nats-server-recmesh-permissions.conf,
# included as shipped, and the server logs no permission violation, while a node
# writing another node's keys is refused. A wrong password, a missing client
# certificate or an unknown CA are reported as what they are, not as "not
# reachable". No secret appears in a log, an output or a command line
# (/proc/PID/cmdline). The server list form connects when the first server is down.
# Buckets get 1 replica on a single server and 3 on a three-server JetStream cluster,
# with a TTL of --max-age; a bucket with other settings is reported once; a node given
# one server of the cluster reconnects to another the cluster announced.
# RM_TEST_NET overrides the NET prefix (127.62), e.g. to run two copies side by side.
# Each scenario runs alone with RM_SCENARIO=NAME (RM_SCENARIO=list lists them and what
# each needs).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/lib.sh"
SRCDIR=${RECMESH_SRCDIR:-$HERE/../..}
PY=/usr/bin/python3 # python3-nacl is Debian's, whatever python3 comes first in PATH

rm_init test_nats_security


# Secrets: random, so that finding one anywhere means it leaked
secret() { head -c 24 /dev/urandom | base64 | tr -d '/+='; }

# server_conf MODE: the nats-server configuration of MODE, on stdout
# (every block of the permissions file must be used, or nats-server refuses it: rec2 and
# rec3 get credentials of their own that no one uses)
server_conf() {
    [[ $1 == token || $1 == creds ]] || echo 'include "nats-server-recmesh-permissions.conf"'
    if [[ $1 == tls ]]; then
        echo "tls { cert_file: \"$D/server.pem\", key_file: \"$D/server.key\", ca_file: \"$D/ca.pem\", verify_and_map: true }"
        echo 'authorization { users = ['
        echo '  {user: "CN=rec1", permissions: $RECMESH_NODE_REC1}'
        echo '  {user: "CN=rec2", permissions: $RECMESH_NODE_REC2}'
        echo '  {user: "CN=rec3", permissions: $RECMESH_NODE_REC3}'
        echo '  {user: "CN=reader", permissions: $RECMESH_READER}'
        echo '  {user: "CN=merger", permissions: $RECMESH_MERGER}'
        echo '] }'
    elif [[ $1 == password ]]; then
        echo 'authorization { users = ['
        echo "  {user: rec1, password: \"$NODE_PW\", permissions: \$RECMESH_NODE_REC1}"
        echo "  {user: rec2, password: \"$(secret)\", permissions: \$RECMESH_NODE_REC2}"
        echo "  {user: rec3, password: \"$(secret)\", permissions: \$RECMESH_NODE_REC3}"
        echo "  {user: reader, password: \"$READER_PW\", permissions: \$RECMESH_READER}"
        echo "  {user: merger, password: \"$MERGER_PW\", permissions: \$RECMESH_MERGER}"
        echo '] }'
    elif [[ $1 == nkey ]]; then
        echo 'authorization { users = ['
        echo "  {nkey: $NODE_NKEY, permissions: \$RECMESH_NODE_REC1}"
        echo "  {nkey: $("$PY" "$HERE/nkeys.py" user "$D/rec2.nk"), permissions: \$RECMESH_NODE_REC2}"
        echo "  {nkey: $("$PY" "$HERE/nkeys.py" user "$D/rec3.nk"), permissions: \$RECMESH_NODE_REC3}"
        echo "  {nkey: $READER_NKEY, permissions: \$RECMESH_READER}"
        echo "  {nkey: $("$PY" "$HERE/nkeys.py" user "$D/merger.nk"), permissions: \$RECMESH_MERGER}"
        echo '] }'
    elif [[ $1 == creds ]]; then
        # operator mode: the accounts' JWTs preloaded, JetStream for the account
        echo "operator: \"$D/op/operator.jwt\""
        echo "system_account: $(<"$D/op/sys.pub")"
        echo 'resolver: MEMORY'
        echo "resolver_preload: { $(<"$D/op/account.pub"): $(<"$D/op/account.jwt")"
        echo "  $(<"$D/op/sys.pub"): $(<"$D/op/sys.jwt") }"
    else
        echo "authorization { token: \"$TOKEN\" }"
    fi
}

# Every process's command line and output is checked for the secrets at the end
# ($CMDLINES, made with the fixtures below)
record_cmdline() { tr '\0' ' ' <"/proc/$1/cmdline" >>"$CMDLINES"; echo >>"$CMDLINES"; }

HOT=(www.z1.com n3.z2.net n6.z4.com)
# check_mode MODE URL NODE_ARGS_VAR READER_ARGS_VAR: a node and the readers work
check_mode() {
    local mode=$1 url=$2 out pport n
    local -n node_args=$3 reader_args=$4
    # A node refused at its first connect stays without NATS until restarted (recmesh(1),
    # SECURITY), so it starts once a reader gets in. (Refusals of an operator-mode server
    # right after it said healthy were not seen again: 0 in 210 logins right after
    # /healthz; the refusals seen were libnats' dropped signatures, see natsconn.c.)
    logs_in() { ! "$RECMESH" hot --nats "$url" --cluster prod "${reader_args[@]}" 2>&1 | grep -q 'refused the credentials'; }
    rm_wait_until 10 logs_in || fail "$mode: the server keeps refusing the reader's credentials: $("$RECMESH" hot --nats "$url" --cluster prod "${reader_args[@]}" 2>&1 | tail -2)"
    pport=$(rm_free_port)
    rm_spawn "proxy-$mode" "$RECMESH" proxy --listen "127.0.0.1:$pport" --upstream "127.0.0.1:$REC_PORT" \
        --nats "$url" --cluster prod --node rec1 --hot-interval 0.5 --stats-interval 0 -v "${node_args[@]}"
    _rm_wait_for "proxy-$mode" 10 rm_dig @127.0.0.1 -p "$pport" +short localhost A \
        || fail "$mode: the proxy does not answer on 127.0.0.1:$pport"
    record_cmdline "$(rm_pid "proxy-$mode")"
    for n in "${HOT[@]}"; do rm_dig @127.0.0.1 -p "$pport" +short "$n" A >/dev/null || true; done
    # (the output of the run that listed the name is kept: it is the one counted)
    hot_has() { "$RECMESH" hot --nats "$url" --cluster prod --json "${reader_args[@]}" >"$RM_TMP/hot-$mode.out" 2>&1 &&
        grep -q '"qname":"n6.z4.com."' "$RM_TMP/hot-$mode.out"; }
    rm_wait_until 30 hot_has \
        || fail "$mode: recmesh hot never listed n6.z4.com.: $(tail -3 "$RM_TMP/hot-$mode.out"); proxy: $(grep -v debug "$RM_TMP/proxy-$mode.log" | tail -5)"
    ok "$mode: the proxy wrote its hot list, recmesh hot read it ($(grep -c qname "$RM_TMP/hot-$mode.out") names)"
    out=$("$RECMESH" warm --target "127.0.0.1:$REC_PORT" --nats "$url" --cluster prod --json --qps 200 \
        --intel-file "" "${reader_args[@]}" 2>"$RM_TMP/warm-$mode.err") \
        || fail "$mode: recmesh warm failed: $out $(cat "$RM_TMP/warm-$mode.err")"
    echo "$out" >"$RM_TMP/warm-$mode.out"
    [[ $out =~ \"source\":\"kv\",\"lists\":1,\"names\":([0-9]+) ]] && ((BASH_REMATCH[1] >= ${#HOT[@]})) \
        || fail "$mode: recmesh warm did not replay the ${#HOT[@]} names: $out"
    ok "$mode: recmesh warm replayed ${BASH_REMATCH[1]} names"
    rm_stop "proxy-$mode"
    if grep -Eq '(Publish|Subscription) Violation' "$RM_TMP/nats-$mode.log"; then
        fail "$mode: the server logged permission violations: $(grep -E '(Publish|Subscription) Violation' "$RM_TMP/nats-$mode.log" | head -3)"
    fi
    [[ $mode == token || $mode == creds ]] || ok "$mode: the node and the readers kept to the least-privilege permissions"
}

# expect_failure MODE WHAT PATTERN CMD...: CMD exits 1 with PATTERN in its error
expect_failure() {
    local mode=$1 what=$2 pattern=$3 out rc=0
    shift 3
    out=$("$@" 2>&1) || rc=$?
    echo "$out" >>"$RM_TMP/failures.out"
    ((rc == 1)) || fail "$mode: $what: exit status $rc, expected 1: $out"
    [[ $out == *"$pattern"* ]] || fail "$mode: $what: expected '$pattern' in: $out"
    [[ $out != *"not reachable"* ]] || fail "$mode: $what reported as unreachable: $out"
    ok "$mode: $what is reported: $(head -c 160 <<<"$out")..."
}

sc_certs() {
    (
        cd "$D"
        ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
        openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 2 -subj /CN=recmesh-test-ca
        openssl req -x509 "${ec[@]}" -keyout other-ca.key -out other-ca.pem -days 2 -subj /CN=other-ca
        mk() { # mk NAME CN EXT
            openssl req "${ec[@]}" -keyout "$1.key" -out "$1.csr" -subj "/CN=$2"
            printf '%s\n' "$3" >"$1.ext"
            openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
                -out "$1.pem" -extfile "$1.ext"
        }
        mk server 127.0.0.1 $'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'
        mk node rec1 'extendedKeyUsage=clientAuth'
        mk reader reader 'extendedKeyUsage=clientAuth'
    ) >"$RM_TMP/openssl.log" 2>&1 || fail "openssl failed: $(tail -5 "$RM_TMP/openssl.log")"
    ok "made a CA, a server certificate for 127.0.0.1 and client certificates rec1, reader"

    declare -gA PORTS
    for mode in tls password nkey token creds; do
        PORTS[$mode]=$(rm_free_port)
        server_conf "$mode" >"$D/$mode.conf"
        rm_start_nats_conf "nats-$mode" "${PORTS[$mode]}" "$D/$mode.conf"
    done
}

sc_tls() {
    # mutual TLS
    URL=tls://127.0.0.1:${PORTS[tls]}
    NODE=(--nats-tls-ca "$D/ca.pem" --nats-tls-cert "$D/node.pem" --nats-tls-key "$D/node.key")
    READER=(--nats-tls-ca "$D/ca.pem" --nats-tls-cert "$D/reader.pem" --nats-tls-key "$D/reader.key")
    check_mode tls "$URL" NODE READER
    expect_failure tls "no client certificate" "TLS" "$RECMESH" hot --nats "$URL" --cluster prod --nats-tls-ca "$D/ca.pem"
    expect_failure tls "an unknown CA" "TLS" "$RECMESH" hot --nats "$URL" --cluster prod --nats-tls-ca "$D/other-ca.pem" \
        --nats-tls-cert "$D/reader.pem" --nats-tls-key "$D/reader.key"
    expect_failure tls "plain nats:// to a TLS server" "TLS" "$RECMESH" hot --nats "nats://127.0.0.1:${PORTS[tls]}" --cluster prod
}

sc_password() {
    # user and password
    URL=nats://127.0.0.1:${PORTS[password]}
    NODE=(--nats-user rec1 --nats-password-file "$D/node.pw")
    READER=(--nats-user reader --nats-password-file "$D/reader.pw")
    check_mode password "$URL" NODE READER
    expect_failure password "a wrong password" "refused the credentials" \
        "$RECMESH" hot --nats "$URL" --cluster prod --nats-user reader --nats-password-file "$D/wrong.pw"
    expect_failure password "no credentials" "refused the credentials" "$RECMESH" hot --nats "$URL" --cluster prod
}

sc_keys() {
    pport=$(rm_free_port)
    rm_spawn proxy-rec2 "$RECMESH" proxy --listen "127.0.0.1:$pport" --upstream "127.0.0.1:$REC_PORT" --nats "$URL" \
        --cluster prod --node rec2 --hot-interval 0.5 --stats-interval 0 "${NODE[@]}"
    _rm_wait_for proxy-rec2 10 rm_dig @127.0.0.1 -p "$pport" +short localhost A || fail "proxy rec2 does not answer"
    rm_dig @127.0.0.1 -p "$pport" +short www.z1.com A >/dev/null || true
    refused() { grep -q 'Publish Violation - User "rec1", Subject "$KV.recmesh_hot.prod.rec2' "$RM_TMP/nats-password.log"; }
    rm_wait_until 20 refused || fail "rec1's credentials wrote rec2's keys: $(grep -i violation "$RM_TMP/nats-password.log" | tail -3)"
    rm_stop proxy-rec2
    n=$("$RECMESH" hot --nats "$URL" --cluster prod --json "${READER[@]}" 2>&1 | grep -c '"node":"rec2"' || true)
    ((n == 0)) || fail "rec2's list is readable though its writes were refused ($n lines)"
    ok "the server refused rec1's credentials writing \$KV.recmesh_hot.prod.rec2"
}

sc_merger() {
    MERGER=(--nats-user merger --nats-password-file "$D/merger.pw")
    out=$("$RECMESH" merge --nats "$URL" --cluster prod --node m1 "${MERGER[@]}" 2>&1) || fail "recmesh merge as merger failed: $out"
    [[ $out == "merged 1 node list(s) of cluster 'prod'"* ]] || fail "recmesh merge as merger: $out"
    grep -q 'Publish Violation - User "merger"' "$RM_TMP/nats-password.log" \
        && fail "the merger's permissions are short: $(grep 'User "merger"' "$RM_TMP/nats-password.log" | head -3)"
    ok "the merger merges and writes: $out"
    for who in rec1 reader; do
        pw=node; [[ $who == reader ]] && pw=reader
        rc=0; out=$("$RECMESH" merge --nats "$URL" --cluster prod --node m1 --nats-timeout 1 \
            --nats-user "$who" --nats-password-file "$D/$pw.pw" 2>&1) || rc=$?
        ((rc == 1)) || fail "recmesh merge as $who: exit status $rc: $out"
        denied() { grep -q "Publish Violation - User \"$who\", Subject \"\$KV.recmesh_hot.prod.=lease\"" "$RM_TMP/nats-password.log"; }
        rm_wait_until 10 denied || fail "no violation logged for $who: $(grep -i violation "$RM_TMP/nats-password.log" | tail -3)"
        ok "$who's credentials cannot take the lease: $(head -c 140 <<<"$out")"
    done
}

sc_serverlist() {
    dead=$(rm_free_port)
    for i in 1 2 3 4 5 6; do
        out=$("$RECMESH" hot --nats "nats://127.0.0.1:$dead,$URL" --cluster prod "${READER[@]}" 2>&1) \
            || fail "try $i: 'nats://127.0.0.1:$dead,$URL' did not connect: $out"
    done
    ok "'nats://DEAD,nats://LIVE' connected 6 times out of 6 with the first server down"
    err=$("$RECMESH" hot --nats "nats://reader:$READER_PW@127.0.0.1:${PORTS[password]}" --cluster prod -v 2>&1 >/dev/null) \
        || fail "a password in the URL no longer works: $err"
    echo "$err" >"$RM_TMP/url-password.err"
    n=$(grep -c 'shows in ps' <<<"$err" || true)
    ((n == 1)) || fail "the warning about a password in the URL came $n times: $err"
    grep -qF "nats://***@127.0.0.1:${PORTS[password]}" <<<"$err" || fail "the URL is not shown redacted: $err"
    ok "a password in the URL works, is warned about once and is shown as '***@'"
}

sc_nkey() {
    # NKey
    URL=nats://127.0.0.1:${PORTS[nkey]}
    NODE=(--nats-nkey "$D/node.nk")
    READER=(--nats-nkey "$D/reader.nk")
    check_mode nkey "$URL" NODE READER
    "$PY" "$HERE/nkeys.py" user "$D/stranger.nk" >/dev/null
    expect_failure nkey "an unknown NKey" "refused the credentials" "$RECMESH" hot --nats "$URL" --cluster prod --nats-nkey "$D/stranger.nk"
}

sc_token() {
    # token
    URL=nats://127.0.0.1:${PORTS[token]}
    NODE=(--nats-token-file "$D/token")
    READER=(--nats-token-file "$D/token")
    check_mode token "$URL" NODE READER
    expect_failure token "a wrong token" "refused the credentials" "$RECMESH" hot --nats "$URL" --cluster prod --nats-token-file "$D/wrong.pw"
}

sc_creds() {
    # JWT credentials (operator mode)
    URL=nats://127.0.0.1:${PORTS[creds]}
    NODE=(--nats-creds "$D/op/user.creds")
    READER=(--nats-creds "$D/op/user.creds")
    check_mode creds "$URL" NODE READER
    expect_failure creds "credentials of another operator" "refused the credentials" \
        "$RECMESH" hot --nats "$URL" --cluster prod --nats-creds "$D/other-op/user.creds"
}

sc_badnode() {
    pport=$(rm_free_port)
    rm_spawn proxy-bad "$RECMESH" proxy --listen "127.0.0.1:$pport" --upstream "127.0.0.1:$REC_PORT" \
        --nats "nats://127.0.0.1:${PORTS[password]}" --cluster prod --node rec1 --stats-interval 0 -v \
        --nats-user rec1 --nats-password-file "$D/wrong.pw"
    _rm_wait_for proxy-bad 10 rm_dig @127.0.0.1 -p "$pport" +short localhost A || fail "proxy-bad does not answer"
    record_cmdline "$(rm_pid proxy-bad)"
    # libnats gives the connection up after the server refused it twice in a row (the node
    # then opens new ones with backoff: test_nats_reopen.sh)
    said() { grep -q 'the NATS connection was closed (the server refused the credentials)' "$RM_TMP/proxy-bad.log"; }
    rm_wait_until 20 said || fail "the proxy did not say NATS closed the connection: $(grep -v debug "$RM_TMP/proxy-bad.log" | tail -5)"
    out=$(rm_dig @127.0.0.1 -p "$pport" +short www.z1.com A) && [[ $out == 198.18.0.1 ]] \
        || fail "the proxy without NATS does not answer: '$out'"
    rm_stop proxy-bad
    n=$(grep -c 'refused the credentials (authorization violation)' "$RM_TMP/proxy-bad.log" || true)
    ((n == 1)) || fail "the refused password was reported $n times, expected once: $(grep -v debug "$RM_TMP/proxy-bad.log")"
    n=$(grep -c 'not reachable' "$RM_TMP/proxy-bad.log" || true)
    ((n == 0)) || fail "the refused password was also reported as 'not reachable' ($n times)"
    ok "a node with a wrong password reports it once, says it opens a new connection, and answers DNS"
}

sc_buckets() {
    line=$(grep -h "created KV bucket 'recmesh_hot'" "$RM_TMP/proxy-tls.log") || fail "the first proxy did not create the bucket"
    [[ $line == *"(replicas 1, keys expire after 86400 s without a write)"* ]] || fail "on a single server: $line"
    ok "on a single server the bucket is made with 1 replica and a TTL of one day (--max-age)"
    CPORTS=() RPORTS=()
    for i in 1 2 3; do CPORTS+=("$(rm_free_port)"); RPORTS+=("$(rm_free_port)"); done
    for i in 0 1 2; do
        {
            echo "cluster { name: rmtest, listen: 127.0.0.1:${RPORTS[$i]}"
            echo "  routes: [nats-route://127.0.0.1:${RPORTS[0]}, nats-route://127.0.0.1:${RPORTS[1]}, nats-route://127.0.0.1:${RPORTS[2]}] }"
        } >"$D/c$i.conf"
        mkdir -p "$RM_TMP/c$i-js"
        rm_free_port >"$RM_TMP/c$i.mport"
        # all three first: a clustered server is healthy only once JetStream has a leader
        rm_spawn "c$i" nats-server -c "$D/c$i.conf" -a 127.0.0.1 -p "${CPORTS[$i]}" -m "$(<"$RM_TMP/c$i.mport")" \
            -n "c$i" -js -sd "$RM_TMP/c$i-js"
    done
    for i in 0 1 2; do
        _rm_wait_for "c$i" 60 rm_http_get "$(<"$RM_TMP/c$i.mport")" /healthz || fail "cluster server c$i is not healthy"
    done
    CURL="nats://127.0.0.1:${CPORTS[0]},nats://127.0.0.1:${CPORTS[1]},nats://127.0.0.1:${CPORTS[2]}"
    pport=$(rm_free_port)
    rm_spawn proxy-c "$RECMESH" proxy --listen "127.0.0.1:$pport" --upstream "127.0.0.1:$REC_PORT" --nats "$CURL" \
        --cluster prod --node rec1 --hot-interval 0.5 --stats-interval 0 --max-age 7200 -v
    _rm_wait_for proxy-c 10 rm_dig @127.0.0.1 -p "$pport" +short localhost A || fail "proxy-c does not answer"
    created() { grep -q "created KV bucket 'recmesh_hot'" "$RM_TMP/proxy-c.log"; }
    rm_wait_until 60 created || fail "proxy-c did not create the bucket: $(grep -v debug "$RM_TMP/proxy-c.log" | tail -5)"
    line=$(grep "created KV bucket 'recmesh_hot'" "$RM_TMP/proxy-c.log")
    [[ $line == *"(replicas 3, keys expire after 7200 s without a write)"* ]] || fail "bucket created as: $line"
    jsz=$(rm_http_get "$(<"$RM_TMP/c0.mport")" '/jsz?streams=true&config=true')
    [[ $jsz =~ \"name\":\ *\"KV_recmesh_hot\" ]] || fail "no stream KV_recmesh_hot in /jsz: ${jsz:0:400}"
    grep -q '"num_replicas": *3' <<<"$jsz" && grep -q '"max_age": *7200000000000' <<<"$jsz" \
        || fail "KV_recmesh_hot is not R3 with max_age 7200 s: $(grep -E 'num_replicas|max_age' <<<"$jsz" | head -4)"
    rm_stop proxy-c
    ok "on a cluster the bucket is made with 3 replicas and a TTL of --max-age (7200 s), as the server reports"
    rm_spawn proxy-c1 "$RECMESH" proxy --listen "127.0.0.1:$pport" --upstream "127.0.0.1:$REC_PORT" --nats "$CURL" \
        --cluster prod --node rec1 --hot-interval 0.5 --stats-interval 0 --kv-replicas 1
    reported() { grep -q "KV bucket 'recmesh_hot' exists with other settings" "$RM_TMP/proxy-c1.log"; }
    rm_wait_until 30 reported || fail "a bucket with other settings was not reported: $(tail -5 "$RM_TMP/proxy-c1.log")"
    rm_stop proxy-c1
    line=$(grep "exists with other settings" "$RM_TMP/proxy-c1.log")
    n=$(grep -c "KV bucket 'recmesh_hot' exists with other settings" "$RM_TMP/proxy-c1.log")
    ((n == 1)) || fail "the other settings were reported $n times"
    [[ $line == *"replicas 3 (want 1)"*"TTL 7200 s (want 86400 s)"*"num_replicas 1"* ]] || fail "the report: $line"
    ok "a bucket with other replicas and TTL is reported once, with the fix: ${line#*warning: }"
    # given only c0, a node reconnects to a server the cluster announced when c0 goes
    rm_spawn proxy-c0 "$RECMESH" proxy --listen "127.0.0.1:$pport" --upstream "127.0.0.1:$REC_PORT" \
        --nats "nats://127.0.0.1:${CPORTS[0]}" --cluster prod --node rec1 --hot-interval 0.5 --stats-interval 0 -v
    connected_to() { grep -q "$1 to NATS at 'nats://127.0.0.1:$2'" "$RM_TMP/proxy-c0.log"; }
    rm_wait_until 20 connected_to connected "${CPORTS[0]}" || fail "proxy-c0 did not connect: $(tail -3 "$RM_TMP/proxy-c0.log")"
    rm_stop c0
    reconnected() { connected_to reconnected "${CPORTS[1]}" || connected_to reconnected "${CPORTS[2]}"; }
    rm_wait_until 30 reconnected || fail "no reconnect to c1 or c2: $(grep -v debug "$RM_TMP/proxy-c0.log" | tail -4)"
    ok "a node given one server reconnects to one the cluster announced: $(grep -o "reconnected to NATS at '[^']*'" "$RM_TMP/proxy-c0.log" | head -1)"
    rm_stop proxy-c0
    for i in 1 2; do rm_stop "c$i"; done
}

sc_badfiles() {
    rc=0; err=$("$RECMESH" hot --cluster prod --nats-token-file "$D/nonexistent" 2>&1) || rc=$?
    ((rc == 2)) && [[ $err == *"cannot read --nats-token-file"* ]] || fail "a missing token file: status $rc: $err"
    : >"$D/empty"
    rc=0; err=$("$RECMESH" warm --target 127.0.0.1:53 --cluster prod --nats-user x --nats-password-file "$D/empty" 2>&1) || rc=$?
    ((rc == 2)) && [[ $err == *"is empty"* ]] || fail "an empty password file: status $rc: $err"
    rc=0; err=$("$RECMESH" hot --cluster prod --nats-nkey "$D/node.pw" 2>&1) || rc=$?
    ((rc == 2)) && [[ $err == *"not an NKey seed"* ]] || fail "a password file as NKey seed: status $rc: $err"
    [[ $err != *"$NODE_PW"* ]] || fail "the error quotes the file's content: $err"
    ok "a missing, an empty and a wrong-kind secret file each stop the command with status 2"
}

sc_nosecret() {
    # what the scenarios run before this one left: alone, what password left
    # (RM_SCENARIO=nkey,nosecret checks what nkey left too)
    leaks=0 files=0
    for f in "$RM_TMP"/*.log "$RM_TMP"/*.out "$RM_TMP"/*.err "$CMDLINES"; do
        # the servers' logs are not ours
        [[ -f $f && $f != */nats-*.log ]] || continue
        files=$((files + 1))
        for s in "$NODE_PW" "$READER_PW" "$TOKEN" "${SEEDS[@]}"; do
            if grep -qF -- "$s" "$f"; then
                echo "secret ${s:0:4}... found in $f" >&2
                leaks=$((leaks + 1))
            fi
        done
    done
    ((leaks == 0)) || fail "$leaks secrets leaked (see above)"
    (($(wc -l <"$CMDLINES") > 0)) || fail "nothing to check: no node ran before this scenario"
    ok "no password, token or seed in $files logs, outputs and command-line records ($(wc -l <"$CMDLINES") proxies)"
}

rm_scenario certs      "certificates: a private CA, the server's, two clients'"
rm_scenario tls        "tls" certs
rm_scenario password   "password" certs
rm_scenario keys       "a node cannot write another node's keys" password
rm_scenario merger     "only the merger's credentials write the merged list" password
rm_scenario serverlist "the server list form and a password in the URL" password
rm_scenario nkey       "nkey" certs
rm_scenario token      "token" certs
rm_scenario creds      "creds" certs
rm_scenario badnode    "a background node with a wrong password says so once and keeps serving DNS" certs
rm_scenario buckets    "buckets on a single server: 1 replica; on a three-server JetStream cluster: 3" tls
rm_scenario badfiles   "bad files stop a command at start"
rm_scenario nosecret   "no secret anywhere" password
rm_scenario_listing
command -v openssl >/dev/null || fail "openssl is missing (tests/deps.sh installs it)"
"$PY" -c 'import nacl.signing' 2>/dev/null || fail "python3-nacl is missing (tests/deps.sh installs it)"

NET=${RM_TEST_NET:-127.62}
rm_start_tree "$NET" 20 10
REC_PORT=$(rm_free_port)
rm_start_recursor rec "$REC_PORT"
D=$RM_TMP/sec
mkdir -p "$D"
cp "$SRCDIR/contrib/nats-server-recmesh-permissions.conf" "$D/"

NODE_PW=$(secret) READER_PW=$(secret) MERGER_PW=$(secret) TOKEN=$(secret)
umask 077
echo "$NODE_PW" >"$D/node.pw"
echo "$MERGER_PW" >"$D/merger.pw"
echo "$READER_PW" >"$D/reader.pw"
echo "wrong-$(secret)" >"$D/wrong.pw"
echo "$TOKEN" >"$D/token"
umask 022
NODE_NKEY=$("$PY" "$HERE/nkeys.py" user "$D/node.nk")
READER_NKEY=$("$PY" "$HERE/nkeys.py" user "$D/reader.nk")
mkdir -p "$D/op" "$D/other-op"
"$PY" "$HERE/nkeys.py" chain "$D/op"
"$PY" "$HERE/nkeys.py" chain "$D/other-op"
SEEDS=("$(<"$D/node.nk")" "$(<"$D/reader.nk")" "$(grep '^SU' "$D/op/user.creds")")

CMDLINES=$RM_TMP/cmdlines.txt
: >"$CMDLINES"

rm_scenarios
