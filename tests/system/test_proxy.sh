#!/usr/bin/env bash
# test_proxy.sh - recmesh proxy in front of a real pdns_recursor, with a real nats-server.
#
# Shows what an operator relies on: answers through the proxy are the
# Recursor's answers (UDP, TCP pipelined, IPv6); every answered query becomes
# an event on recmesh.<cluster>.traffic.<node>; `recmesh hot` lists what was
# asked, most asked first, without what must not be replayed; malformed
# packets are dropped or forwarded as documented and counted; losing NATS does
# not stop answers and events resume when it is back; a dead Recursor gives
# TCP clients SERVFAIL and UDP clients silence; SIGTERM stops it cleanly; with
# the data path threads (as many as --threads says: by default one per 4 CPUs, 1 to 16)
# alone run under SCHED_BATCH by default (--scheduling batch); with --scheduling auto they
# run under the normal policy at low load (the switch to SCHED_BATCH under high load is
# checked by the unit test test_schedpol: a test cannot drive the load high enough here
# deterministically on a shared machine).
# RM_TEST_NET overrides the NET prefix (127.54), e.g. to run two copies side by side.
# Each scenario runs alone with RM_SCENARIO=NAME (RM_SCENARIO=list lists them and what each needs).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/lib.sh"

rm_init test_proxy

start_proxy() {
    rm_spawn proxy "$RECMESH" proxy --listen "127.0.0.1:$PROXY_PORT" --listen "[::1]:$PROXY_PORT" \
        --upstream "127.0.0.1:$REC_PORT" --nats "$NATS" --cluster t --node n1 \
        --hot-interval 0.5 --upstream-timeout 1 --stats-interval 0
    _rm_wait_for proxy 10 rm_dig @127.0.0.1 -p "$PROXY_PORT" +short localhost A \
        || fail "the proxy does not answer on 127.0.0.1:$PROXY_PORT"
}
# Answers as one normalised line each: the answer records, sorted (TTLs dropped: they tick)
answer_of() { rm_dig "$@" +noall +answer +nottlid | sort; }
# policy THREAD_STAT_FILE: the thread's scheduling policy (field 41 of /proc/.../stat; 0 normal, 3 batch)
policy() { local s; read -r s <"$1"; s=${s##*) }; read -r -a f <<<"$s"; echo "${f[38]}"; }
# check_threads PID DATA_THREADS DATA_POLICY: PID has DATA_THREADS data path threads (named
# rm-dataN, recmesh(1) --threads), each under DATA_POLICY, and every other thread under the
# normal policy; sets OTHERS to the number of other threads.
check_threads() {
    local pid=$1 want_n=$2 want=$3 t got name n=0
    OTHERS=0
    for t in /proc/"$pid"/task/*; do
        got=$(policy "$t/stat")
        read -r name <"$t/comm"
        if [[ $name == rm-data* ]]; then
            n=$((n + 1))
            [[ $got == "$want" ]] || fail "data path thread $name of pid $pid has policy $got, expected $want (0 normal, 3 batch)"
        else
            [[ $got == 0 ]] || fail "thread ${t##*/} ($name) of pid $pid has policy $got, not the normal policy (0)"
            OTHERS=$((OTHERS + 1))
        fi
    done
    ((n == want_n)) || fail "pid $pid has $n data path threads, expected $want_n: $(cat /proc/"$pid"/task/*/comm | tr '\n' ' ')"
    ((OTHERS > 0)) || fail "no NATS thread seen in pid $pid: threads $(cd /proc/"$pid"/task && echo *)"
}

sc_answers() {
    names=(www.z1.com n3.z2.net n6.z4.com n7.z5.net n8.z6.org alias.z7.com nothere.z1.com)
    types=(A A AAAA MX TXT A A)
    for i in "${!names[@]}"; do
        direct=$(answer_of "${R[@]}" "${names[$i]}" "${types[$i]}")
        for t in "" +tcp; do
            via=$(answer_of "${P[@]}" $t "${names[$i]}" "${types[$i]}")
            [[ $via == "$direct" ]] || fail "${names[$i]} ${types[$i]} $t differs:"$'\n'"direct: $direct"$'\n'"proxy:  $via"
        done
    done
    [[ -n $(answer_of "${R[@]}" www.z1.com A) ]] || fail "the Recursor gave no answer at all"
    ok "${#names[@]} names answer the same over UDP and TCP"
    out=$(rm_dig "${P[@]}" +dnssec n3.z2.net A)
    grep -Eq '^;; flags:.* ad[ ;]' <<<"$out" || fail "no AD bit through the proxy:"$'\n'"$out"
    grep -q 'RRSIG' <<<"$out" || fail "no RRSIG with DO through the proxy:"$'\n'"$out"
    out=$(rm_dig "${P[@]}" nothere.z1.com A)
    grep -q 'status: NXDOMAIN' <<<"$out" || fail "NXDOMAIN lost:"$'\n'"$out"
    ok "DO/AD/RRSIG and NXDOMAIN pass through unchanged"
    out=$(rm_dig @::1 -p "$PROXY_PORT" +short www.z1.com A)
    [[ $out == 198.18.0.1 ]] || fail "IPv6 listener: got '$out'"
    ok "IPv6 listener answers"
}

sc_scheduling() {
    # --threads' default: one per 4 CPUs this process may use, 1 to 16
    DEFAULT_THREADS=$(($(nproc) / 4)); ((DEFAULT_THREADS >= 1)) || DEFAULT_THREADS=1; ((DEFAULT_THREADS <= 16)) || DEFAULT_THREADS=16
    DEFAULT_THREADS=${RM_PROXY_THREADS:-$DEFAULT_THREADS} # lib.sh gives every proxy --threads RM_PROXY_THREADS
    # the default, batch: the data path threads alone under SCHED_BATCH
    check_threads "$(rm_pid proxy)" "$DEFAULT_THREADS" 3
    grep -q "$DEFAULT_THREADS data path threads\? under the batch policy" "$RM_TMP/proxy.log" \
        || fail "no word of the scheduling in the log: $(grep -i 'data path' "$RM_TMP/proxy.log")"
    ok "default (batch): the $DEFAULT_THREADS data path thread(s) run under SCHED_BATCH, the $OTHERS other threads normally"
    AUTO_PORT=$(rm_free_port)
    rm_spawn proxy-auto "$RECMESH" proxy --listen "127.0.0.1:$AUTO_PORT" --upstream "127.0.0.1:$REC_PORT" \
        --nats "$NATS" --cluster t --node nb --stats-interval 0 --scheduling auto --threads 3
    _rm_wait_for proxy-auto 10 rm_dig @127.0.0.1 -p "$AUTO_PORT" +short localhost A \
        || fail "the proxy with --scheduling auto does not answer on 127.0.0.1:$AUTO_PORT"
    check_threads "$(rm_pid proxy-auto)" 3 0
    grep -q "3 data path threads, each following its load" "$RM_TMP/proxy-auto.log" \
        || fail "no word of --scheduling auto in the log: $(grep -i 'data path' "$RM_TMP/proxy-auto.log")"
    ok "--scheduling auto --threads 3 at idle: the 3 data path threads and the $OTHERS other threads run under the normal policy"
    rm_stop proxy-auto
    status=0
    out=$(timeout 5 "$RECMESH" proxy --listen 127.0.0.1:1 --upstream 127.0.0.1:1 --cluster t --scheduling fast 2>&1) \
        || status=$?
    [[ $status -eq 2 ]] || fail "--scheduling fast: exit status $status, expected 2 (usage error): $out"
    grep -q "bad --scheduling 'fast' (expected auto, batch or normal)" <<<"$out" || fail "unclear error for --scheduling fast: $out"
    ok "a bad --scheduling is refused: $(head -1 <<<"$out")"
    # the same query bytes give the same answer bytes (but for the ID) through the proxy
    q1=$(rm_dig "${P[@]}" +noall +answer +comments +nocookie www.z1.com A | grep -v 'id:' | sed 's/\t[0-9]*\tIN/\tIN/')
    q2=$(rm_dig "${R[@]}" +noall +answer +comments +nocookie www.z1.com A | grep -v 'id:' | sed 's/\t[0-9]*\tIN/\tIN/')
    [[ $q1 == "$q2" ]] || fail "headers differ:"$'\n'"$q1"$'\n'"$q2"
    ok "header flags and sections identical to the Recursor's"
}

sc_tcp() {
    out=$("$DNSTCP" "127.0.0.1:$PROXY_PORT" www.z1.com n1.z2.net/A n6.z4.com/AAAA nothere.z3.org n7.z5.net/MX www.z8.com www.z9.net www.z10.org)
    [[ $(wc -l <<<"$out") -eq 8 ]] || fail "expected 8 answers: $out"
    grep -Eq '^5 n7.z5.net. MX 0 [1-9]$' <<<"$out" || fail "MX answer missing: $out"
    grep -q '^4 nothere.z3.org. A 3 0$' <<<"$out" || fail "NXDOMAIN answer missing: $out"
    ok "8 pipelined queries answered on one connection, each matching its question"
}

sc_events() {
    "$RECMESH" events --nats "$NATS" --cluster t --json >"$RM_TMP/events.out" 2>"$RM_TMP/events.err" &
    EVPID=$!
    rm_wait_until 5 grep -q listening "$RM_TMP/events.err" || fail "recmesh events did not subscribe: $(cat "$RM_TMP/events.err")"
    rm_dig "${P[@]}" +dnssec n2.z18.org A >/dev/null
    rm_dig "${P[@]}" +tcp +cd n4.z18.org A >/dev/null
    rm_dig "${P[@]}" nothere.z18.org AAAA >/dev/null
    three_events() { [[ $(grep -cE '"qname":"(n2|n4|nothere).z18.org."' "$RM_TMP/events.out") -ge 3 ]]; }
    rm_wait_until 10 three_events || fail "events never arrived: $(cat "$RM_TMP/events.out" "$RM_TMP/events.err")"
    kill "$EVPID"; wait "$EVPID" || true
    ev=$(grep -E '"qname":"(n2|n4|nothere).z18.org."' "$RM_TMP/events.out")
    [[ $(wc -l <<<"$ev") -eq 3 ]] || fail "expected exactly 3 events for the z18.org names:"$'\n'"$ev"
    grep -q '"qname":"n2.z18.org.","qtype":"A","qclass":1,"rcode":"NOERROR","rd":true,"cd":false,"do":true,"ad":true,"tc":false,"transport":"udp"' <<<"$ev" \
        || fail "event for n2.z18.org A is wrong or missing:"$'\n'"$ev"
    grep -q '"qname":"n4.z18.org.".*"cd":true.*"transport":"tcp"' <<<"$ev" || fail "TCP CD event missing:"$'\n'"$ev"
    grep -q '"qname":"nothere.z18.org.","qtype":"AAAA".*"rcode":"NXDOMAIN"' <<<"$ev" || fail "NXDOMAIN event missing:"$'\n'"$ev"
    grep -q '"node":"n1"' <<<"$ev" || fail "node missing:"$'\n'"$ev"
    grep -q '"client"' <<<"$ev" && fail "client address published without --mirror-client-ip:"$'\n'"$ev"
    ok "3 events with qname, qtype, rcode, RD/CD/DO/AD, transport; no client address"
}

sc_badbatch() {
    # one event (24 fixed bytes, then the name) for NAME given as printf wire format of length L
    hdr='RMEV\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01'
    fixed='\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x01\x00\x01\x00\x20\x00\x30\x00\x00\x00\x01'
    "$RECMESH" events --nats "$NATS" --cluster t --node evil --count 1 --timeout 10 \
        >"$RM_TMP/bad.out" 2>"$RM_TMP/bad.err" &
    bad_pid=$!
    rm_wait_until 5 grep -q listening "$RM_TMP/bad.err" || fail "recmesh events did not subscribe"
    for _ in 1 2 3 4 5; do
        kill -0 "$bad_pid" 2>/dev/null || break
        # a valid event for bad.test. followed by trailing bytes, then a good batch for good.test.
        rm_nats_pub "$NATS_PORT" recmesh.t.traffic.evil "$hdr$fixed"'\x0a\x03bad\x04test\x00XX'
        rm_nats_pub "$NATS_PORT" recmesh.t.traffic.evil "$hdr$fixed"'\x0b\x04good\x04test\x00'
        sleep 0.5
    done
    wait "$bad_pid" || fail "recmesh events did not exit after its 1 event: $(cat "$RM_TMP/bad.err")"
    grep -q 'good.test.' "$RM_TMP/bad.out" || fail "the good batch was not printed: $(cat "$RM_TMP/bad.out" "$RM_TMP/bad.err")"
    grep -q 'bad.test.' "$RM_TMP/bad.out" && fail "an event of the bad batch was printed: $(cat "$RM_TMP/bad.out")"
    grep -q "ignoring a bad batch on 'recmesh.t.traffic.evil': trailing bytes" "$RM_TMP/bad.err" \
        || fail "the bad batch was not reported: $(cat "$RM_TMP/bad.err")"
    ok "a batch with trailing bytes prints none of its events and is reported; the next batch prints"
}

sc_hot() {
    # other names first, 200 answers (5 for each of 40 names), so that no n9 name below takes 5 %
    # of the list, the cap at which names tie (doc/nats.md, "Ranking"): the order is the counts'
    filler=()
    for i in $(seq 1 20); do
        for k in 2 5; do for _ in 1 2 3 4 5; do filler+=("n$k.$(rm_zone "$i")" A); done; done
    done
    dig +time=2 +tries=1 "${P[@]}" +short "${filler[@]}" >/dev/null || fail "the filler queries failed"
    for _ in 1 2 3 4 5 6; do rm_dig "${P[@]}" n9.z11.com A >/dev/null; done
    for _ in 1 2 3 4; do rm_dig "${P[@]}" n9.z12.net TXT >/dev/null; done
    for _ in 1 2; do rm_dig "${P[@]}" n9.z13.org A >/dev/null; done
    for _ in 1 2 3 4 5 6 7 8 9; do rm_dig "${P[@]}" +cd n9.z14.com A >/dev/null; done
    for _ in 1 2 3 4 5 6 7 8 9; do rm_dig "${P[@]}" n9.z14.com ANY >/dev/null; done
    for _ in 1 2 3 4 5 6 7 8 9; do rm_dig "${P[@]}" -c CH version.bind TXT >/dev/null || true; done
    hot_has_all() {
        "$RECMESH" hot --nats "$NATS" --cluster t --json --top 100 >"$RM_TMP/hot.out" 2>"$RM_TMP/hot.err" &&
            grep -q '"qname":"n9.z13.org."' "$RM_TMP/hot.out"
    }
    rm_wait_until 10 hot_has_all || fail "recmesh hot never listed n9.z13.org: $(cat "$RM_TMP/hot.out" "$RM_TMP/hot.err")"
    order=$(grep -o '"qname":"n9[^"]*","qtype":"[A-Z]*"' "$RM_TMP/hot.out" | tr '\n' ' ')
    [[ $order == '"qname":"n9.z11.com.","qtype":"A" "qname":"n9.z12.net.","qtype":"TXT" "qname":"n9.z13.org.","qtype":"A" ' ]] \
        || fail "hot order wrong: $order"
    ok "recmesh hot lists n9.z11.com A (6) > n9.z12.net TXT (4) > n9.z13.org A (2)"
    grep -q 'version.bind' "$RM_TMP/hot.out" && fail "a CHAOS query entered the hot list: $(grep version.bind "$RM_TMP/hot.out")"
    ok "CD=1, ANY and CHAOS queries left out of the hot list"
    "$RECMESH" hot --nats "$NATS" --cluster t --top 100 >"$RM_TMP/hot.txt"
    # recmesh(1): a summary line, a column header, then rank, score (4 decimals), type and name
    head -1 "$RM_TMP/hot.txt" | grep -Eq '^# [0-9]+ of [0-9]+ names from [0-9]+ node list\(s\), source kv$' \
        && sed -n 2p "$RM_TMP/hot.txt" | grep -Eq '^RANK +SCORE +QTYPE +QNAME$' \
        && grep -Eq '^[0-9]+ +[0-9]+\.[0-9]{4} A +n9.z11.com.$' "$RM_TMP/hot.txt" \
        || fail "table output: $(cat "$RM_TMP/hot.txt")"
    ok "table output for people: $(grep -E ' n9.z11.com.$' "$RM_TMP/hot.txt")"
    out=$("$RECMESH" hot --nats "$NATS" --cluster nobody 2>&1) && fail "recmesh hot found a list for an unknown cluster: $out"
    ok "recmesh hot fails for a cluster without lists"
}

sc_malformed() {
    send_udp() { printf "$1" >/dev/udp/127.0.0.1/"$PROXY_PORT"; }
    send_udp '\x12\x34\x01'                                   # shorter than a header
    send_udp '\x12\x34\x81\x00\x00\x01\x00\x00\x00\x00\x00\x00' # QR set: not a query
    send_udp '\x12\x35\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01' # compression loop
    send_udp '\x12\x36\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x00\x00\x01\x00\x01GARBAGE' # trailing garbage
    out=$(rm_dig "${P[@]}" +short www.z1.com A 2>&1) || true
    [[ $out == 198.18.0.1 ]] || fail "proxy stopped answering after garbage: '$out'"
    kill -USR1 "$(rm_pid proxy)"
    rm_wait_until 5 grep -q 'not-dns=2 overload=0 malformed-queries=2 malformed-responses=0 ' "$RM_TMP/proxy.log" || fail "counters: $(grep counters "$RM_TMP/proxy.log")"
    ok "2 non-queries dropped, 2 malformed queries forwarded, all counted; still answering"
}

sc_threads() {
    # recmesh(1) "Threads": each thread forwards the clients the kernel gives it (SO_REUSEPORT), the
    # counters of the stats lines and of /metrics are every thread's added up, and every answered
    # query gives one event, whichever thread forwarded it.
    T3_PORT=$(rm_free_port)
    T3_MPORT=$(rm_free_port)
    rm_spawn proxy-t3 "$RECMESH" proxy --listen "127.0.0.1:$T3_PORT" --upstream "127.0.0.1:$REC_PORT" \
        --nats "$NATS" --cluster t3 --node t3 --stats-interval 0 --threads 3 --metrics-listen "127.0.0.1:$T3_MPORT"
    _rm_wait_for proxy-t3 10 rm_dig @127.0.0.1 -p "$T3_PORT" +short localhost A \
        || fail "the proxy with --threads 3 does not answer on 127.0.0.1:$T3_PORT"
    check_threads "$(rm_pid proxy-t3)" 3 3
    # the counters before: "queries udp=U tcp=T answers=A" and "events published=P"
    t3_counters() {
        local before
        before=$(grep -c 'counters: events published=' "$RM_TMP/proxy-t3.log" || true)
        kill -USR1 "$(rm_pid proxy-t3)"
        # shellcheck disable=SC2016
        rm_wait_until 5 bash -c '(( $(grep -c "counters: events published=" "$1") > $2 ))' _ "$RM_TMP/proxy-t3.log" "$before" \
            || fail "no counters on SIGUSR1: $(tail -3 "$RM_TMP/proxy-t3.log")"
        grep 'counters: queries udp=\|counters: events published=' "$RM_TMP/proxy-t3.log" | tail -2 \
            | sed -E 's/.*udp=([0-9]+) tcp=([0-9]+) answers=([0-9]+).*/\1 \2 \3/; s/.*published=([0-9]+).*/\1/' | paste -sd' ' -
    }
    # the baseline once every answer so far (the readiness check's) has its event published
    t3_settled() { read -r u0 t0 a0 p0 <<<"$(t3_counters)"; ((p0 == a0)); }
    rm_wait_until 10 t3_settled || fail "answers $a0, events published $p0: they never met"
    "$RECMESH" events --nats "$NATS" --cluster t3 --json >"$RM_TMP/events-t3.out" 2>"$RM_TMP/events-t3.err" &
    EVPID=$!
    rm_wait_until 5 grep -q listening "$RM_TMP/events-t3.err" || fail "recmesh events did not subscribe: $(cat "$RM_TMP/events-t3.err")"
    # 60 names over UDP and TCP, each query from a socket of its own (dig's random source port)
    # (mktree.sh: www, n1, n2, n4, n5 and n9 have an A record; zone zN is under the (N-1)%3-th TLD)
    t3_names=()
    tlds=(com net org)
    for z in 1 2 3 4 5 6 7 8 9 10; do
        for n in www n1 n2 n4 n5 n9; do t3_names+=("$n.z$z.${tlds[(z - 1) % 3]}"); done
    done
    bad=0
    for name in "${t3_names[@]}"; do
        for t in +notcp +tcp; do
            out=$(rm_dig @127.0.0.1 -p "$T3_PORT" $t "$name" A)
            grep -q 'status: NOERROR' <<<"$out" && grep -q "^$name\..*IN.*A" <<<"$out" || { bad=$((bad + 1)); echo "  $name $t: $out"; }
        done
    done
    ((bad == 0)) || fail "$bad of 120 queries through 3 threads not answered right"
    T3_RE='"qname":"(www|n[0-9]).z([1-9]|10).(com|net|org)."'
    got_all() { (($(grep -cE "$T3_RE" "$RM_TMP/events-t3.out") >= 120)); }
    rm_wait_until 10 got_all || fail "events from 3 threads: $(grep -cE "$T3_RE" "$RM_TMP/events-t3.out") of 120"
    # a duplicate would come with the others (the same batches): a second more, then count
    sleep 1
    kill "$EVPID"; wait "$EVPID" || true
    ev=$(grep -oE "$T3_RE"'.*"transport":"(udp|tcp)"' "$RM_TMP/events-t3.out" \
        | sed -E 's/"qname":"([^"]*)".*"transport":"([a-z]*)"/\1 \2/' | sort)
    [[ $(wc -l <<<"$ev") -eq 120 && $(uniq <<<"$ev" | wc -l) -eq 120 ]] \
        || fail "expected 120 distinct events (60 names x UDP, TCP), got $(wc -l <<<"$ev"), $(uniq <<<"$ev" | wc -l) distinct: $(uniq -d <<<"$ev" | head -3)"
    for name in "${t3_names[@]}"; do
        grep -qx "$name. udp" <<<"$ev" && grep -qx "$name. tcp" <<<"$ev" || fail "no UDP and TCP event for $name"
    done
    ok "3 data path threads under SCHED_BATCH: 120 queries over UDP and TCP answered, 120 events, none lost or twice"
    published_all() { read -r u1 t1 a1 p1 <<<"$(t3_counters)"; ((p1 - p0 == 120)); }
    rm_wait_until 10 published_all || fail "events published: $((p1 - p0)), expected 120"
    ((u1 - u0 == 60 && t1 - t0 == 60 && a1 - a0 == 120)) \
        || fail "the threads' counters do not add up: udp +$((u1 - u0)) tcp +$((t1 - t0)) answers +$((a1 - a0)), expected +60 +60 +120"
    m=$(rm_http_get "$T3_MPORT" /metrics)
    mu=$(awk '$1 == "recmesh_queries_total{protocol=\"udp\"}" { print $2 }' <<<"$m")
    mt=$(awk '$1 == "recmesh_queries_total{protocol=\"tcp\"}" { print $2 }' <<<"$m")
    ((mu == u1 && mt == t1)) || fail "/metrics says udp $mu tcp $mt, the stats line $u1 $t1: $(grep recmesh_queries_total <<<"$m")"
    ok "the stats line and /metrics add the threads up: udp +60, tcp +60, answers +120, events +120"
    rm_stop proxy-t3
}

sc_nats() {
    rm_stop nats
    for n in 1 4 7 10 13; do
        out=$(rm_dig "${P[@]}" +short www.z$n.com A 2>&1) || true
        [[ $out == 198.18.0.$(((n - 1) * 10 + 1)) ]] || fail "www.z$n.com while NATS is down: '$out', expected 198.18.0.$(((n - 1) * 10 + 1))"
    done
    ok "answers keep coming while NATS is down"
    # A proxy started while NATS is down answers at once, and says so once, after libnats' next try
    LATE_PORT=$(rm_free_port)
    rm_spawn proxy-late "$RECMESH" proxy --listen "127.0.0.1:$LATE_PORT" --upstream "127.0.0.1:$REC_PORT" \
        --nats "$NATS" --cluster t --node late --stats-interval 0
    _rm_wait_for proxy-late 10 rm_dig @127.0.0.1 -p "$LATE_PORT" +short www.z1.com A \
        || fail "a proxy started without NATS does not answer: $(tail -3 "$RM_TMP/proxy-late.log")"
    rm_wait_until 15 grep -q "is not reachable yet, retrying in the background" "$RM_TMP/proxy-late.log" \
        || fail "a proxy started without NATS did not say so: $(tail -5 "$RM_TMP/proxy-late.log")"
    rm_start_nats nats "$NATS_PORT"
    rm_wait_until 15 grep -q 'reconnected to NATS' "$RM_TMP/proxy.log" \
        || fail "the proxy did not reconnect: $(grep -i nats "$RM_TMP/proxy.log" | tail -5)"
    rm_wait_until 15 grep -q 'connected to NATS' "$RM_TMP/proxy-late.log" \
        || fail "the proxy started without NATS did not connect once it came: $(tail -5 "$RM_TMP/proxy-late.log")"
    rm_stop proxy-late
    n=$(grep -c 'not reachable' "$RM_TMP/proxy-late.log" || true)
    ((n == 1)) || fail "'not reachable' said $n times, expected once: $(grep -i nats "$RM_TMP/proxy-late.log")"
    ok "a proxy started without NATS answered at once, said 'not reachable yet' once, and connected when NATS came"
    "$RECMESH" events --nats "$NATS" --cluster t --json >"$RM_TMP/events2.out" 2>"$RM_TMP/events2.err" &
    EVPID=$!
    rm_wait_until 5 grep -q listening "$RM_TMP/events2.err" || fail "recmesh events did not subscribe: $(cat "$RM_TMP/events2.err")"
    rm_dig "${P[@]}" n1.z15.com A >/dev/null
    rm_wait_until 10 grep -q '"qname":"n1.z15.com."' "$RM_TMP/events2.out" || fail "no event after NATS came back: $(cat "$RM_TMP/events2.out" "$RM_TMP/events2.err")"
    kill "$EVPID"; wait "$EVPID" || true
    ok "reconnected by itself; events flow again"
}

sc_recursor() {
    rm_stop rec
    out=$(rm_dig "${P[@]}" +tcp www.z2.net A 2>&1 || true)
    grep -q 'status: SERVFAIL' <<<"$out" || fail "TCP client should get SERVFAIL from a dead upstream:"$'\n'"$out"
    ok "TCP client gets SERVFAIL"
    status=0
    out=$(dig +time=2 +tries=1 "${P[@]}" www.z2.net A 2>&1) || status=$?
    [[ $status -eq 9 ]] && grep -q 'timed out' <<<"$out" \
        || fail "UDP client should get silence (dig status 9, timed out), dig status $status:"$'\n'"$out"
    ok "UDP client gets silence (the stub retries)"
    rm_start_recursor rec "$REC_PORT"
    rm_wait_until 10 rm_dig "${P[@]}" +short www.z2.net A || fail "no answer within 10 s after the Recursor came back"
    out=$(rm_dig "${P[@]}" +short www.z2.net A 2>&1) || true
    [[ $out == 198.18.0.11 ]] || fail "www.z2.net after the Recursor came back: '$out', expected 198.18.0.11"
    ok "answers again once the Recursor is back"
    kill -USR1 "$(rm_pid proxy)"
    rm_wait_until 5 grep -Eq 'timeouts=[1-9]' "$RM_TMP/proxy.log" \
        || fail "UDP timeout not counted: $(grep counters "$RM_TMP/proxy.log" | tail -1)"
    ok "upstream timeouts counted"
}

sc_sigterm() {
    pid=$(rm_pid proxy)
    kill -TERM "$pid"
    rm_wait_until 10 bash -c "! kill -0 $pid 2>/dev/null" || fail "proxy did not stop on SIGTERM within 10 s: $(tail -3 "$RM_TMP/proxy.log")"
    status=0
    wait "$pid" || status=$?
    [[ $status -eq 0 ]] || fail "proxy exited with status $status (sanitizer report in its log?)"
    grep -q 'final counters' "$RM_TMP/proxy.log" && grep -q 'stopped' "$RM_TMP/proxy.log" || fail "no clean stop in the log: $(tail -5 "$RM_TMP/proxy.log")"
    ok "stops cleanly on SIGTERM, logging its counters"
}

rm_scenario answers    "answers through the proxy are the Recursor's"
rm_scenario scheduling "scheduling"
rm_scenario tcp        "TCP: pipelined queries on one connection"
rm_scenario events     "events on recmesh.t.traffic.n1"
rm_scenario badbatch   "a bad batch prints nothing"
rm_scenario hot        "hot list"
rm_scenario malformed  "malformed input"
rm_scenario threads    "several data path threads (--threads 3)"
rm_scenario nats       "NATS goes away and comes back"
rm_scenario recursor   "the Recursor goes away"
rm_scenario sigterm    "SIGTERM"
rm_scenario_listing

NET=${RM_TEST_NET:-127.54}
rm_start_tree "$NET" 20 10
REC_PORT=$(rm_free_port)
NATS_PORT=$(rm_free_port)
PROXY_PORT=$(rm_free_port)
NATS=nats://127.0.0.1:$NATS_PORT
rm_start_nats nats "$NATS_PORT"
rm_start_recursor rec "$REC_PORT"

start_proxy
P=(@127.0.0.1 -p "$PROXY_PORT")
R=(@127.0.0.1 -p "$REC_PORT")

rm_scenarios
