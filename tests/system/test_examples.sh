#!/usr/bin/env bash
# test_examples.sh - every example Recursor configuration that recmesh ships
# works on the Recursor it is written for.
#
# The examples are taken from the files themselves, so that an edit that
# breaks one fails here: the fenced blocks of README.md and doc/*.md, the
# .nf/.fi blocks of doc/recmesh.1.in, and contrib/recursor-5/*.yml (Recursor
# 5.x drop-ins) and contrib/recursor-4.8/*.conf, *.lua (4.8: old-style
# drop-ins and lines for the Lua config). A block is a Recursor example when
# it has a line of one (a YAML section such as `logging:`, an old-style
# setting such as `lua-dns-script=`, a `protobufServer(` call); its format
# says its version: YAML is 5.x, old-style settings and Lua config are 4.8.
# The test fails when it finds an example it does not know how to run (a
# setting it does not know, a Recursor line outside a block, a stray one in
# another contrib file), or fewer examples in a file than WANT says.
#
# Each example is started on the RM_RECURSOR of the run when it is written
# for it: the YAML ones on 5.2 and 5.4 (RM_RECURSOR=5.2, RM_RECURSOR=5.4),
# the others on 4.8 (the default); tests/all.sh runs this test once per
# version, so all its runs together start every example on the versions it is
# written for. An example is started as it is, with only its ports and paths
# substituted (a stream's 127.0.0.1:PORT, the Recursor's port, the path of
# recmesh.lua and of the Lua config), as a drop-in (include-dir) over
# rm_start_recursor's hermetic config (the tree's hints and trust anchor,
# dont-query, no security polling, its own socket dir), or, for 4.8's Lua
# config lines, added to that config's Lua file. Examples whose text is the
# same once comments are left out are started once.
#
# For each: the Recursor resolves a name of the tree. With a port of its own
# or the outgoing stream alone (the proxy deployment), a `recmesh proxy`
# forwards to it, resolves the name too and takes the outgoing stream; with
# the client stream, the streams go to a `recmesh mirror`. The node counts
# what each configured stream carries (client responses and events
# published, authoritative servers' answers). 4.8's two halves of a
# deployment (old-style settings, Lua config lines) are started one at a time.
# Every Recursor gets an intel file that lists both servers of z2.net as
# dead: one that loads contrib/recmesh.lua says so in its log and answers
# www.z2.net with SERVFAIL (its live servers skipped), one that does not
# resolves it.
# RM_TEST_NET overrides the NET prefix (127.66). Each scenario runs alone with
# RM_SCENARIO=NAME (RM_SCENARIO=list lists them and what each needs).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/lib.sh"
SRC=${RECMESH_SRCDIR:-$(cd "$HERE/../.." && pwd)}
LUA=$SRC/contrib/recmesh.lua

rm_init test_examples

# The least number of examples each file must give, by format. A file may
# give more (each is run); fewer means an example was lost, or the test no
# longer finds it.
declare -A WANT=(
    [README.md yaml]=2 [README.md conf]=2 [README.md lua]=2
    [doc/recmesh.1.in yaml]=2 [doc/recmesh.1.in conf]=2 [doc/recmesh.1.in lua]=2
    [doc/intel.md conf]=1 [doc/intel.md lua]=1 [doc/intel.md yaml]=1
    [contrib/recursor-5 yaml]=2 [contrib/recursor-4.8 conf]=2 [contrib/recursor-4.8 lua]=2
)

# ---- finding the examples ---------------------------------------------------------
# Lines that make a block a Recursor example (extended regular expressions, matched
# against a line without its leading blanks, comment lines aside).
M_YAML='^(incoming|outgoing|recursor|logging|dnssec|recordcache|packetcache|webservice|carbon|ecs|nod|snmp|dnstap):'
M_CONF='^(local-address|local-port|lua-dns-script|lua-config-file|lua-maintenance-interval|include-dir|allow-from|hint-file|forward-zones|query-local-address|dont-query|socket-dir|dnssec)[[:space:]]*='
M_LUA='^(protobufServer|outgoingProtobufServer|dnstapFrameStreamServer|addTA|rpzFile|rpzPrimary)[[:space:]]*\('
# the same, for commented lines and the YAML settings alone (a contrib file that is not an example)
M_STRAY='^(protobufServer|outgoingProtobufServer)[[:space:]]*\(|^(protobuf_servers|outgoing_protobuf_servers|lua_dns_script|lua_config_file):|^(local-address|local-port|lua-dns-script|lua-config-file)[[:space:]]*='

BLOCKS=$RM_TMP/blocks
mkdir -p "$BLOCKS"
: >"$RM_TMP/stray.txt"

# blocks_md FILE: the fenced blocks of a Markdown file, into $BLOCKS/N (N counts on
# from the files already there), each with its place in $BLOCKS/N.at; lines outside
# the blocks that start like a Recursor example go to $RM_TMP/stray.txt
blocks_md() {
    awk -v out="$BLOCKS" -v n="$(find "$BLOCKS" -name '*.at' | wc -l)" -v src="$1" \
        -v my="$M_YAML" -v mc="$M_CONF" -v ml="$M_LUA" -v stray="$RM_TMP/stray.txt" '
        !inb && match($0, /^[[:space:]]*(```|~~~)/) {
            inb = 1; ind = RLENGTH - 3; fence = substr($0, RLENGTH - 2, 3)
            n++; f = out "/" n; printf "" >f; print src ":" FNR + 1 >(f ".at"); close(f ".at"); next
        }
        inb && $0 ~ "^[[:space:]]*" fence "[[:space:]]*$" { inb = 0; close(f); next }
        inb { print substr($0, ind + 1) >>f; next }
        { l = $0; sub(/^[[:space:]]+/, "", l)
          if (l ~ my || l ~ mc || l ~ ml) print src ":" FNR ": " $0 " (not in a fenced block)" >>stray }
    ' "$SRC/$1"
}

# blocks_man FILE: the same for the .nf/.fi blocks of a man page, with the escapes
# it uses turned back into text
blocks_man() {
    awk -v out="$BLOCKS" -v n="$(find "$BLOCKS" -name '*.at' | wc -l)" -v src="$1" \
        -v my="$M_YAML" -v mc="$M_CONF" -v ml="$M_LUA" -v stray="$RM_TMP/stray.txt" '
        /^\.nf/ { inb = 1; n++; f = out "/" n; printf "" >f; print src ":" FNR + 1 >(f ".at"); close(f ".at"); next }
        /^\.fi/ && inb { inb = 0; close(f); next }
        inb {
            l = $0
            gsub(/\\-/, "-", l); gsub(/\\\(aq/, "\047", l); gsub(/\\\(ga/, "`", l); gsub(/\\\(dq/, "\"", l)
            gsub(/\\&/, "", l); gsub(/\\e/, "\\", l)
            print l >>f; next
        }
        { l = $0; sub(/^[[:space:]]+/, "", l)
          if (l ~ my || l ~ mc || l ~ ml) print src ":" FNR ": " $0 " (not in an .nf block)" >>stray }
    ' "$SRC/$1"
}

# kind_of FILE: the format of a block (yaml, conf or lua) when it is a Recursor example,
# "mixed" when it has lines of two formats, nothing when it is not one
kind_of() {
    local y c l
    y=$(grep -cE "$M_YAML" "$1") || true
    c=$(sed 's/^[[:space:]]*//' "$1" | grep -v '^#' | grep -cE "$M_CONF") || true
    l=$(sed 's/^[[:space:]]*//' "$1" | grep -v '^--' | grep -cE "$M_LUA") || true
    case $(( (y > 0) + (c > 0) + (l > 0) )) in
        0) ;;
        1) ((y > 0)) && echo yaml; ((c > 0)) && echo conf; ((l > 0)) && echo lua; true ;;
        *) echo mixed ;;
    esac
}

# ---- running them: substitution -----------------------------------------------------
# subst KIND IN OUT PROPS PB RP LUACFG: IN with its stream addresses (127.0.0.1:PB), its
# Recursor port (RP), recmesh.lua (the source's) and Lua config file (LUACFG)
# substituted, into OUT; PROPS gets one word per thing the example configures:
# client-stream, outgoing-stream, port, script. Exit status 1, with the reasons on
# stderr, when the example has anything this test does not know how to run.
subst() {
    local kind=$1 in=$2 out=$3 pfile=$4 pbport=$5 recport=$6 lcfile=$7
    : >"$pfile"
    case $kind in
    yaml)
        awk -v pb="$pbport" -v rp="$recport" -v lua="$LUA" -v props="$pfile" '
            function bad(m) { print "line " FNR ": " m >"/dev/stderr"; err = 1 }
            BEGIN { split("incoming.listen incoming.port incoming.allow_no_rd logging.protobuf_servers " \
                          "logging.outgoing_protobuf_servers recursor.lua_dns_script " \
                          "recursor.lua_maintenance_interval", k, " ")
                    for (i in k) known[k[i]] = 1 }
            /^[[:space:]]*(#.*)?$/ { print; next }
            /^[a-z_]+:[[:space:]]*(#.*)?$/ { sec = $0; sub(/:.*/, "", sec); kid = -1; full = ""; print; next }
            /^[^[:space:]]/ { bad("not a YAML section: " $0); print; next }
            {
                line = $0; match(line, /^ +/); ind = RLENGTH
                if (sec == "") { bad("an indented line outside a section"); print; next }
                if (kid < 0) kid = ind
                if (ind == kid) {
                    if (!match(line, /^ +[a-z_]+:/)) { bad("not a setting: " line); print; next }
                    key = substr(line, ind + 1); sub(/:.*/, "", key); full = sec "." key
                    if (!(full in known)) bad("setting \047" full "\047 is not known to this test")
                    seen[full] = 1
                } else if (ind < kid) bad("indented less than the settings before it: " line)
                if (full == "incoming.port") {
                    if (!sub(/port:[[:space:]]*[0-9]+/, "port: " rp, line)) bad("a port that is not a number: " line)
                } else if (full ~ /protobuf_servers$/) {
                    streams[full] += gsub(/127\.0\.0\.1:[0-9]+/, "127.0.0.1:" pb, line)
                    t = line; gsub("127.0.0.1:" pb, "", t)
                    if (t ~ /[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+|::/) bad("a stream to another address than 127.0.0.1:PORT: " line)
                } else if (full == "recursor.lua_dns_script") {
                    if (!sub(/[^[:space:]"\047]*\/recmesh\.lua/, lua, line)) bad("a script other than recmesh.lua: " line)
                } else if (full == "incoming.listen") {
                    t = line; gsub(/127\.0\.0\.1/, "", t)
                    if (t ~ /[0-9]+\.[0-9]+|::|:[0-9]/) bad("a listen address other than 127.0.0.1: " line)
                }
                print line
            }
            END {
                for (s in seen) if (s ~ /protobuf_servers$/ && !streams[s]) bad(s " names no 127.0.0.1:PORT")
                if ("logging.protobuf_servers" in seen) print "client-stream" >props
                if ("logging.outgoing_protobuf_servers" in seen) print "outgoing-stream" >props
                if ("incoming.port" in seen) print "port" >props
                if ("recursor.lua_dns_script" in seen) print "script" >props
                exit err
            }' "$in" >"$out"
        ;;
    conf)
        awk -v rp="$recport" -v lua="$LUA" -v luacfg="$lcfile" -v props="$pfile" '
            function bad(m) { print "line " FNR ": " m >"/dev/stderr"; err = 1 }
            /^[[:space:]]*(#.*)?$/ { print; next }
            !match($0, /^[a-z-]+[[:space:]]*=[[:space:]]*/) { bad("not a setting: " $0); print; next }
            {
                key = $0; sub(/[[:space:]]*=.*/, "", key); val = substr($0, RLENGTH + 1); pre = substr($0, 1, RLENGTH)
                if (key == "local-port") {
                    if (val !~ /^[0-9]+$/) bad("a port that is not a number: " $0)
                    val = rp; p["port"] = 1
                } else if (key == "local-address") {
                    if (val != "127.0.0.1") bad("a listen address other than 127.0.0.1: " $0)
                } else if (key == "lua-dns-script") {
                    if (!sub(/.*\/recmesh\.lua$/, lua, val)) bad("a script other than recmesh.lua: " $0)
                    p["script"] = 1
                } else if (key == "lua-config-file") {
                    val = luacfg
                } else if (key != "lua-maintenance-interval") {
                    bad("setting \047" key "\047 is not known to this test")
                }
                print pre val
            }
            END { for (k in p) print k >props; exit err }' "$in" >"$out"
        ;;
    lua)
        awk -v pb="$pbport" -v props="$pfile" '
            function bad(m) { print "line " FNR ": " m >"/dev/stderr"; err = 1 }
            /^[[:space:]]*(--.*)?$/ { print; next }
            /^(protobufServer|outgoingProtobufServer)\("127\.0\.0\.1:[0-9]+"\)[[:space:]]*(--.*)?$/ {
                line = $0; sub(/127\.0\.0\.1:[0-9]+/, "127.0.0.1:" pb, line); print line
                p[/^outgoing/ ? "outgoing-stream" : "client-stream"] = 1; next
            }
            { bad("not a stream to 127.0.0.1:PORT: " $0); print }
            END { for (k in p) print k >props; exit err }' "$in" >"$out"
        ;;
    *) echo "not a Recursor example ($kind)" >&2; return 1 ;;
    esac
}

# metric PORT NAME: a counter of a node's /metrics (NAME with its labels), 0 when absent
metric() {
    rm_http_get "$1" /metrics | awk -v m="$2" '$1 == m { v = $2 } END { print v + 0 }'
}
# more PORT NAME: true when that counter is above 0
more() { (($(metric "$1" "$2") > 0)); }
# answer PORT NAME: the status line of the Recursor's (or proxy's) answer to NAME A
answer() { rm_dig @127.0.0.1 -p "$1" +time=5 "$2" A | grep -o 'status: [A-Z]*' || true; }

# ---- collect, check, count ------------------------------------------------------------
sc_collect() {
    blocks_md README.md
    for f in "$SRC"/doc/*.md; do blocks_md "doc/${f##*/}"; done
    blocks_man doc/recmesh.1.in
    n=$(find "$BLOCKS" -name '*.at' | wc -l)
    for f in "$SRC"/contrib/recursor-5/*.yml "$SRC"/contrib/recursor-4.8/*.conf "$SRC"/contrib/recursor-4.8/*.lua; do
        [[ -e $f ]] || continue
        n=$((n + 1))
        cp "$f" "$BLOCKS/$n"
        echo "${f#"$SRC"/}:1" >"$BLOCKS/$n.at"
    done
    # any other contrib file (recmesh.lua, the dashboard aside) must not hold an example, not even in a comment
    while IFS= read -r f; do
        sed 's/^[[:space:]]*\(#\|--\|;\|\/\/\)*[[:space:]]*//' "$f" | grep -nE "$M_STRAY" \
            | sed "s|^|${f#"$SRC"/}:|; s|\$| (an example in a contrib file that is not one)|" >>"$RM_TMP/stray.txt" || true
    done < <(find "$SRC/contrib" -type f ! -path '*/recursor-5/*' ! -path '*/recursor-4.8/*' \
        ! -name recmesh.lua ! -name '*.json' | sort)
    [[ ! -s $RM_TMP/stray.txt ]] || fail "Recursor examples this test does not run:"$'\n'"$(cat "$RM_TMP/stray.txt")"
    ok "no Recursor example outside the blocks and files this test runs"

    declare -gA GOT=() KIND=() KEY=() PLACES=()
    unknown=
    for at in "$BLOCKS"/*.at; do
        b=${at%.at}
        place=$(<"$at")
        kind=$(kind_of "$b")
        [[ -n $kind ]] || continue
        if [[ $kind == mixed ]] || ! why=$(subst "$kind" "$b" "$b.check" "$b.props" 1 2 /x.lua 2>&1); then
            unknown+=$'\n'"  $place ($kind): ${why:-lines of more than one format}"
            continue
        fi
        src=${place%%:*}
        [[ $src == contrib/* ]] && src=${src%/*}
        GOT[$src $kind]=$((${GOT[$src $kind]:-0} + 1))
        # the same text without comments and blank lines: started once
        key=$kind:$(grep -vE '^[[:space:]]*(#|--|$)' "$b" | sed 's/[[:space:]]*$//' | md5sum | cut -c1-12)
        KIND[$key]=$kind
        KEY[$key]=$b
        PLACES[$key]+="${PLACES[$key]:+, }$place"
    done
    [[ -z $unknown ]] || fail "examples this test does not know how to run:$unknown"
    for k in $(printf '%s\n' "${!GOT[@]}" "${!WANT[@]}" | sort -u | tr ' ' '@'); do
        k=${k//@/ }
        echo "  $k: ${GOT[$k]:-0} example(s) (at least ${WANT[$k]:-0})"
        ((${GOT[$k]:-0} >= ${WANT[$k]:-0})) || fail "$k: ${GOT[$k]:-0} example(s), fewer than the ${WANT[$k]} expected"
    done
    total=0
    for k in "${!GOT[@]}"; do total=$((total + GOT[$k])); done
    ok "$total examples found, ${#KEY[@]} different ones, each as expected"
}

# ---- start them ----------------------------------------------------------------------
sc_start() {
    if [[ $(rm_rec_major) == 5 ]]; then family=yaml; else family='conf lua'; fi
    NET=${RM_TEST_NET:-127.66}
    rm_start_tree "$NET" 3 2
    NATS_PORT=$(rm_free_port)
    NATS=nats://127.0.0.1:$NATS_PORT
    rm_start_nats nats "$NATS_PORT"
    mapfile -t DEAD < <(awk '$1 ~ /^z2\.net\.?$/ { print $2 }' "$RM_TREE/leaf-servers.txt")
    ((${#DEAD[@]} == 2)) || fail "the tree's servers of z2.net: '${DEAD[*]}' (two expected)"

    ran=0
    for key in $(printf '%s\n' "${!KEY[@]}" | sort); do
        kind=${KIND[$key]}
        [[ " $family " == *" $kind "* ]] || continue
        ran=$((ran + 1))
        name=ex$ran
        b=${KEY[$key]}
        echo "== example $ran, $kind, on Recursor $RM_RECURSOR: ${PLACES[$key]}"
        pbp=$(rm_free_port)
        rp=$(rm_free_port)
        mp=$(rm_free_port)
        mkdir -p "$RM_TMP/$name.in"
        case $kind in yaml) f=$RM_TMP/$name.in/recmesh-example.yml ;; conf) f=$RM_TMP/$name.in/recmesh-example.conf ;; lua) f=$RM_TMP/$name.in/lines.lua ;; esac
        subst "$kind" "$b" "$f" "$RM_TMP/$name.props" "$pbp" "$rp" "$RM_TMP/$name/recursor.lua" \
            || fail "example $ran: substitution failed"
        props=" $(tr '\n' ' ' <"$RM_TMP/$name.props")"
        sed 's/^/    | /' "$f"
        node='' port=$rp
        if [[ $props == *" port "* || ($props == *" outgoing-stream "* && $props != *" client-stream "*) ]]; then
            # the proxy deployment: the Recursor moved to a port of its own, a proxy in
            # front; the outgoing stream alone is what a proxy takes
            [[ $props != *" client-stream "* ]] \
                || fail "example $ran moves the Recursor behind a proxy and sends it the client stream, which counts every query twice (recmesh(1), --protobuf-listen)"
            node=proxy-$name
            port=$(rm_free_port)
            args=(proxy --listen "127.0.0.1:$port" --upstream "127.0.0.1:$rp")
            [[ $props != *" outgoing-stream "* ]] || args+=(--protobuf-listen "127.0.0.1:$pbp")
        elif [[ $props == *stream* ]]; then
            node=mirror-$name
            args=(mirror --protobuf-listen "127.0.0.1:$pbp")
        fi
        if [[ -n $node ]]; then
            rm_spawn "$node" "$RECMESH" "${args[@]}" --nats "$NATS" --cluster ex --node "$name" \
                --hot-interval 1 --stats-interval 0 --metrics-listen "127.0.0.1:$mp"
            _rm_wait_for "$node" 10 grep -q "listening on UDP\|listening for the Recursor" "$RM_TMP/$node.log" \
                || fail "example $ran: $node does not listen"
            _rm_wait_for "$node" 10 rm_http_get "$mp" /metrics || fail "example $ran: no /metrics from $node"
        fi
        intel=$RM_TMP/$name.intel
        # the intel file of doc/intel.md ("Format of the intel file"), fresh, listing z2.net's servers
        { printf '# recmesh-intel 1 time=%s\n' "$(date +%s)"; printf 'dead %s\n' "${DEAD[@]}"; } >"$intel"
        # 4.8's Lua config lines go into the Lua config, everything else is a drop-in
        item=dropin=$f
        [[ $kind != lua ]] || item=lua-config=$f
        export RECMESH_INTEL_FILE=$intel
        rm_start_recursor "$name" "$rp" "$item" \
            || fail "example $ran (${PLACES[$key]}) did not start on Recursor $RM_RECURSOR"
        got=$(rm_dig @127.0.0.1 -p "$rp" +short www.z1.com A) || true
        [[ -n $got ]] || fail "example $ran: the Recursor on 127.0.0.1:$rp does not resolve www.z1.com: $(rm_dig @127.0.0.1 -p "$rp" www.z1.com A 2>&1)"
        ok "example $ran: the Recursor resolves www.z1.com ($got) on 127.0.0.1:$rp"
        if [[ $node == proxy-* ]]; then
            got=$(rm_dig @127.0.0.1 -p "$port" +short www.z1.com A) || true
            [[ -n $got ]] || fail "example $ran: the proxy in front of it does not resolve www.z1.com"
            rm_wait_until 5 more "$mp" recmesh_answers_total || fail "example $ran: the proxy counted no answer"
            ok "example $ran: so does the proxy in front of it on 127.0.0.1:$port ($(metric "$mp" recmesh_answers_total) answer(s) relayed)"
        fi
        if [[ $props == *" client-stream "* ]]; then
            rm_wait_until 10 more "$mp" 'recmesh_protobuf_messages_total{kind="client_response"}' \
                || fail "example $ran: the mirror counted no client response from the stream"
            rm_wait_until 10 more "$mp" recmesh_events_published_total \
                || fail "example $ran: the mirror published no event"
            ok "example $ran: client stream: the mirror took $(metric "$mp" 'recmesh_protobuf_messages_total{kind="client_response"}') client response(s), published $(metric "$mp" recmesh_events_published_total) event(s)"
        fi
        if [[ $props == *" outgoing-stream "* ]]; then
            rm_wait_until 10 more "$mp" 'recmesh_protobuf_messages_total{kind="outgoing_answer"}' \
                || fail "example $ran: the $node counted no answer of an authoritative server from the outgoing stream"
            ok "example $ran: outgoing stream: the ${node%%-*} took $(metric "$mp" 'recmesh_protobuf_messages_total{kind="outgoing_answer"}') answer(s) of authoritative servers"
        fi
        got=$(answer "$rp" www.z2.net)
        if [[ $props == *" script "* ]]; then
            grep -qF "name=\"$LUA\"" "$RM_TMP/$name.log" \
                || fail "example $ran: no 'Loading Lua script' line for $LUA in the Recursor's log: $(grep -i lua "$RM_TMP/$name.log" | tail -3)"
            [[ $got == "status: SERVFAIL" ]] \
                || fail "example $ran: recmesh.lua should skip both servers of z2.net (${DEAD[*]}), listed dead: www.z2.net got '$got'"
            ok "example $ran: recmesh.lua loaded, skips z2.net's live servers listed dead in the intel file (www.z2.net: $got)"
        else
            [[ $got == "status: NOERROR" ]] || fail "example $ran: without recmesh.lua, www.z2.net got '$got'"
            ok "example $ran: no recmesh.lua, so the intel file changes nothing (www.z2.net: $got)"
        fi
        rm_stop "$name"
        [[ -z $node ]] || rm_stop "$node"
    done
    want=0
    for key in "${!KEY[@]}"; do [[ " $family " != *" ${KIND[$key]} "* ]] || want=$((want + 1)); done
    ((ran == want && ran > 0)) || fail "started $ran example(s) on Recursor $RM_RECURSOR, expected $want (and at least 1)"
    ok "$ran different example(s) for this Recursor started on $RM_RECURSOR ($(rm_rec_version)); the others run with RM_RECURSOR=$([[ $family == yaml ]] && echo 4.8 || echo '5.2 and 5.4')"
}

rm_scenario collect "the examples in the documentation and in contrib/"
rm_scenario start   "each example started on the Recursor it is written for" collect
rm_scenario_listing

rm_scenarios
