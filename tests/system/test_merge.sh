#!/usr/bin/env bash
# test_merge.sh - the fleet's merged list: one writer at a time, and no trust in it.
#
# doc/nats.md, "The merged list" and "Reads that do not grow with the fleet":
# `recmesh merge` holds the lease <cluster>.=lease and writes the merge of
# every node list under <cluster>.=merge. A reader that finds more than
# --sample node lists reads the merge and --sample lists chosen at random:
#   - it uses the merge only when it is valid, at most 900 s old and holds at
#     least half of the sample's 100 hottest names; otherwise it uses the
#     sample's own merge, and says why;
#   - of the merge's names, those a sampled list names too come first, the
#     others after them, each in the merge's order.
# Here 24 honest node lists (Zipf, 400 of 500 names each, with noise) are
# written into the real bucket of a real nats-server, as nodes write them.
# Checked: the lease (held, run out, void, not a lease), the merged reader's
# names are the exact merge's, a merge that puts 100 made-up names first has
# them replayed after every confirmed name, a merge of made-up names only,
# a stale, a future and a malformed merge are not used, and the reader reads
# the sample's lists only. No Recursor. Each scenario runs alone with
# RM_SCENARIO=NAME (RM_SCENARIO=list lists them and what each needs).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/lib.sh"

rm_init test_merge

lists() { "$RECMESH" hot --nats "$NATS" --cluster fleet --sample 0 --json --top 1 2>/dev/null | grep -c '"node"'; }
all_there() { [[ $(lists) == 24 ]]; }
names() { sed -n 's/.*"qname":"\([^"]*\)".*/\1/p' "$1"; }
# shellcheck disable=SC2016
lease() { rm_nats_pub "$NATS_PORT" '$KV.recmesh_hot.fleet.=lease' "$1"; }
# write_merge NAME TIME HEAD ITEMS_FILE: the merge under fleet.=merge, one chunk, as writer NAME
write_merge() {
    # shellcheck disable=SC2016
    rm_nats_pub "$NATS_PORT" '$KV.recmesh_hot.fleet.=merge' \
        "#recmesh-hot 1 node=$1 time=$2.000 gen=$(date +%s%N) chunk=0/1\n$(<"$3")\n"
}
check_unused() { # WHAT PATTERN
    "$RECMESH" hot --nats "$NATS" --cluster fleet --sample 4 --top 300 --json >"$RM_TMP/u.json" 2>"$RM_TMP/u.err"
    grep -q '"merge":{"used":false' "$RM_TMP/u.json" || fail "$1: the merge was used"
    grep -q "$2" "$RM_TMP/u.err" || fail "$1: not said why ($2): $(cat "$RM_TMP/u.err")"
    m=$(names "$RM_TMP/u.json" | wc -l)
    ((m >= 300)) || fail "$1: $m names from the sample"
    ok "$1: not used ($(grep -o "merged list[^:]*: .*" "$RM_TMP/u.err" | head -1 | cut -c1-120)), $m names from the sample"
}

sc_lists() {
    python3 - "$RM_TMP" "$(date +%s)" <<'EOF'
import random, sys
tmp, now = sys.argv[1], int(sys.argv[2])
rng = random.Random(20261206)
for k in range(24):
    s = {"n%d.honest.example." % i: 1000.0 / (i + 1) * rng.uniform(0.7, 1.3) for i in range(500)}
    top = sorted(s.items(), key=lambda x: -x[1])[:400]
    with open("%s/list-h%d" % (tmp, k), "w") as f:
        f.write("#recmesh-hot 1 node=h%d time=%d.000 gen=1 chunk=0/1\n" % (k, now))
        f.write("".join("%.3f A %s\n" % (v, n) for n, v in top))
EOF
    for f in "$RM_TMP"/list-h*; do
        node=${f##*/list-}
        # shellcheck disable=SC2016  # $KV is part of the subject
        rm_nats_pub "$NATS_PORT" "\$KV.recmesh_hot.fleet.$node" "$(<"$f")\n" || fail "could not publish $node"
    done
    rm_wait_until 10 all_there || fail "lists read: $(lists) of 24"
    ok "24 node lists in the bucket"
}

sc_lease() {
    union=$(grep -hv '^#' "$RM_TMP"/list-h* | cut -d' ' -f3 | sort -u | wc -l)
    out=$("$RECMESH" merge --nats "$NATS" --cluster fleet --node m1 --top 500 2>&1) || fail "recmesh merge failed: $out"
    [[ $out == "merged 24 node list(s) of cluster 'fleet' into $union names"* ]] || fail "recmesh merge said: $out (the lists name $union)"
    ok "m1: $out"
    out=$("$RECMESH" merge --nats "$NATS" --cluster fleet --node m2 --top 500 2>&1) || fail "m2's recmesh merge failed: $out"
    [[ $out == "not merging: node 'm1' holds the lease of cluster 'fleet' for "* ]] || fail "m2 merged while m1 held the lease: $out"
    ok "m2, while m1 holds the lease: $out"
    out=$("$RECMESH" merge --nats "$NATS" --cluster fleet --node m1 --top 500 --json 2>&1) || fail "m1 again: $out"
    [[ $out == *'"merged":true'* ]] || fail "m1 could not renew its own lease: $out"
    ok "m1 renews its own lease"
    lease "#recmesh-lease 1 node=m1 until=$(($(date +%s) - 1)).000\n" || fail "could not write the lease"
    out=$("$RECMESH" merge --nats "$NATS" --cluster fleet --node m2 --top 500 --json 2>&1) || fail "m2: $out"
    [[ $out == *'"merged":true'* ]] || fail "m2 did not take a lease that ran out: $out"
    ok "m2 takes over a lease that ran out"
    lease "#recmesh-lease 1 node=evil until=$(($(date +%s) + 315360000)).000\n" || fail "could not write the lease"
    out=$("$RECMESH" merge --nats "$NATS" --cluster fleet --node m1 --top 500 --json 2>&1) || fail "m1: $out"
    [[ $out == *"the lease 'fleet.=lease' of node 'evil' claims 3153"*" s: void, taken over"*'"merged":true'* ]] \
        || fail "a lease for ten years held off the merge: $out"
    ok "a lease that claims ten years is void: $(grep -o "warning: .*" <<<"$out")"
    lease 'node=m2 forever\n' || fail "could not write the lease"
    out=$("$RECMESH" merge --nats "$NATS" --cluster fleet --node m1 --top 500 --json 2>&1) || fail "m1: $out"
    [[ $out == *"the lease 'fleet.=lease' is not a lease: taken over"*'"merged":true'* ]] || fail "garbage held off the merge: $out"
    ok "a lease that is not one is taken over"
    # a run that writes nothing (every list older than its --max-age) gives the lease back
    rc=0; out=$("$RECMESH" merge --nats "$NATS" --cluster fleet --node m1 --top 500 --max-age 0.001 2>&1) || rc=$?
    ((rc == 1)) && [[ $out == *"no usable hot list"*"nothing written"* ]] || fail "m1 with every list stale: status $rc: $out"
    out=$("$RECMESH" merge --nats "$NATS" --cluster fleet --node m2 --top 500 --json 2>&1) || fail "m2: $out"
    [[ $out == *'"merged":true'* ]] || fail "m1's failed run kept the lease from m2: $out"
    ok "a run that writes nothing gives the lease back: m2 merges at once"
    out=$("$RECMESH" merge --nats "$NATS" --cluster fleet --node m1 --top 500 --json 2>&1) || fail "m1: $out"
    [[ $out == *'"merged":false,"holder":"m2"'* ]] || fail "m1 merged while m2 held the lease: $out"
}

sc_reader() {
    "$RECMESH" hot --nats "$NATS" --cluster fleet --sample 0 --top 300 --json >"$RM_TMP/exact.json"
    "$RECMESH" hot --nats "$NATS" --cluster fleet --sample 4 --top 300 --json >"$RM_TMP/sampled.json" 2>"$RM_TMP/sampled.err"
    n=$(grep -c '^{"node"' "$RM_TMP/sampled.json" || true)
    ((n == 4)) || fail "the sampled reader read $n node lists, not 4"
    grep -q '"merge":{"used":true,"node":"m2"' "$RM_TMP/sampled.json" || fail "the merge was not used: $(grep '"merge"' "$RM_TMP/sampled.json") $(cat "$RM_TMP/sampled.err")"
    grep -q '"heads":24' "$RM_TMP/sampled.json" || fail "the 24 lists are not reported: $(grep '"merge"' "$RM_TMP/sampled.json")"
    [[ $(names "$RM_TMP/sampled.json" | sort) == "$(names "$RM_TMP/exact.json" | sort)" ]] \
        || fail "the merged reader's 300 names differ from the exact merge's: $(diff <(names "$RM_TMP/sampled.json" | sort) <(names "$RM_TMP/exact.json" | sort) | head -5)"
    ok "read 4 node lists and the merge: the same 300 names as the merge of all 24"

    names "$RM_TMP/exact.json" | head -300 | awk '{ printf "%.3f A %s\n", 1000 - NR, $1 }' >"$RM_TMP/honest.items"
    seq 0 99 | awk '{ printf "5000.000 A m%d.attack.example.\n", $1 }' >"$RM_TMP/fake.items"
}

sc_front() {
    cat "$RM_TMP/fake.items" "$RM_TMP/honest.items" >"$RM_TMP/front.items"
    write_merge evil "$(date +%s)" "$RM_TMP/front.items" || fail "could not write the merge"
    "$RECMESH" hot --nats "$NATS" --cluster fleet --sample 4 --top 400 --json >"$RM_TMP/front.json" 2>&1
    grep -q '"merge":{"used":true,"node":"evil"' "$RM_TMP/front.json" || fail "the merge was not used: $(grep -v qname "$RM_TMP/front.json")"
    first=$(names "$RM_TMP/front.json" | grep -n -m1 attack | cut -d: -f1)
    honest_before=$(names "$RM_TMP/front.json" | head -$((first - 1)) | grep -c honest || true)
    confirmed=$(sed -n 's/.*"confirmed":\([0-9]*\).*/\1/p' "$RM_TMP/front.json")
    ((first == confirmed + 1 && honest_before == confirmed && confirmed >= 290)) \
        || fail "the first made-up name at rank $first; $honest_before honest names before it, $confirmed confirmed"
    n=$(names "$RM_TMP/front.json" | tail -n +"$first" | grep -c honest || true)
    ((n == 0)) || fail "$n honest names after the first made-up one"
    ok "the 100 made-up names come after all $confirmed names a sampled list confirms (first at rank $first)"
}

sc_allfake() {
    seq 0 399 | awk '{ printf "%d.000 A m%d.attack.example.\n", 5000 - $1, $1 }' >"$RM_TMP/allfake.items"
    write_merge evil "$(date +%s)" "$RM_TMP/allfake.items" || fail "could not write the merge"
    "$RECMESH" hot --nats "$NATS" --cluster fleet --sample 4 --top 300 --json >"$RM_TMP/allfake.json" 2>"$RM_TMP/allfake.err"
    grep -q '"merge":{"used":false,"node":"evil"' "$RM_TMP/allfake.json" || fail "the merge of made-up names was used: $(grep -v qname "$RM_TMP/allfake.json")"
    grep -q "not using the fleet's merged list of node 'evil': it holds 0 of the 100 hottest names of the 4 sampled list(s), fewer than 50 %" "$RM_TMP/allfake.err" \
        || fail "not said why: $(cat "$RM_TMP/allfake.err")"
    n=$(names "$RM_TMP/allfake.json" | grep -c attack || true)
    m=$(names "$RM_TMP/allfake.json" | wc -l)
    ((n == 0 && m >= 300)) || fail "$n made-up names of $m"
    ok "not used, said why, and the $m names are the sample's merge's, none made up"
}

sc_unused() {
    write_merge m1 "$(($(date +%s) - 1000))" "$RM_TMP/honest.items" || fail "could not write the merge"
    check_unused "1000 s old" "stale: written by node 'm1' 100[0-9].[0-9] s ago, the limit is 900 s"
    write_merge m1 "$(($(date +%s) + 3600))" "$RM_TMP/honest.items" || fail "could not write the merge"
    check_unused "an hour ahead" "written by node 'm1' 3[56][0-9][0-9] s in the future"
    printf '1.0 A ok.example.\nnot an item\n' >"$RM_TMP/bad.items"
    write_merge m1 "$(date +%s)" "$RM_TMP/bad.items" || fail "could not write the merge"
    check_unused "a bad line" "chunk 0 rejected: bad item on line 3"
}

sc_nomerge() {
    out=$("$RECMESH" merge --nats "$NATS" --cluster fleet --node m1 --top 500 2>&1) || fail "recmesh merge failed: $out"
    # shellcheck disable=SC2016
    rm_nats_pub "$NATS_PORT" '$KV.recmesh_hot.fleet.=merge' '' || fail "could not empty the merge"
    "$RECMESH" hot --nats "$NATS" --cluster fleet --sample 4 --top 300 --json >"$RM_TMP/none.json" 2>"$RM_TMP/none.err"
    grep -q '"merge":{"used":false' "$RM_TMP/none.json" || fail "an empty merge was used"
    n=$(grep -c '^{"node"' "$RM_TMP/none.json" || true)
    ((n == 4)) || fail "read $n node lists, not 4"
    ok "an empty merge is not used; 4 node lists read ($(grep -o "merged list[^:]*: .*" "$RM_TMP/none.err" | head -1 | cut -c1-100))"
}

rm_scenario lists    "24 honest node lists (400 names each) into recmesh_hot"
rm_scenario lease    "the lease: one node merges at a time" lists
rm_scenario reader   "the merged reader: the exact merge's names from 4 of the 24 lists" lease
rm_scenario front    "a merge with 100 made-up names first" reader
rm_scenario allfake  "a merge of made-up names only" lists
rm_scenario unused   "a stale, a future and a malformed merge" reader
rm_scenario nomerge  "no merge: the sample alone" lists
rm_scenario_listing

NATS_PORT=$(rm_free_port)
rm_start_nats nats "$NATS_PORT"
NATS=nats://127.0.0.1:$NATS_PORT

rm_hot_bucket "$NATS_PORT"

rm_scenarios
