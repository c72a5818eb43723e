#!/usr/bin/env bash
# test_hotrank.sh - a list that claims huge scores buys no rank in the merge.
#
# doc/nats.md, "Ranking: no list can buy it": each node list is normalised to
# its own sum, a name weighs its share of its node's traffic in percent, at
# most 5, and the merged score is the sum of what the lists give it.
#
# Five honest node lists share 1600 names whose popularity follows Zipf's law,
# each with its own noise and its own traffic (scaled 1, 3, 0.2, 10 and 1):
# what a fleet of Recursors behind one load balancer sees. They are written
# into the real bucket recmesh_hot of a real nats-server (JetStream), as a
# node writes them, three times, under three clusters:
#   honest  the five lists alone: the honest merge
#   mixed   the five, and a hostile writer's list of 500 made-up names, every
#           one at the highest score a list may hold (10^15)
#   one     the five, and a hostile list of one made-up name at 10^15
# What the docs promise and this test checks:
#   - mixed: no made-up name in the top 200 (each weighs 100 / 500 = 0.2),
#     and the top 200 is the honest merge's top 200, in the same order;
#   - one: the made-up name weighs exactly 5 and comes right after the honest
#     names that weigh more than 5 in the honest merge, no earlier;
#   - every list weighs at most 100: the honest merge's scores add up to at
#     most 500, and each node's reported sum is its scores added up.
# The lists are written with time = now and read with --hot-half-life 0, so
# the numbers do not depend on how long the test takes. No Recursor. Each
# scenario runs alone with RM_SCENARIO=NAME (RM_SCENARIO=list lists them and
# what each needs).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/lib.sh"

rm_init test_hotrank

# the reader sees every list: 5 or 6 node objects before the names
lists() { "$RECMESH" hot --nats "$NATS" --cluster "$1" --json --top 1 2>/dev/null | grep -c '"node"'; }
all_there() { [[ $(lists honest) == 5 && $(lists mixed) == 6 && $(lists one) == 6 ]]; }
hot() { "$RECMESH" hot --nats "$NATS" --cluster "$1" --json --top "$2" --hot-half-life 0; }
names() { sed -n 's/.*"qname":"\([^"]*\)".*/\1/p' "$1"; }

sc_lists() {
    # one file per list: its key, then its text (one chunk)
    python3 - "$RM_TMP" "$(date +%s)" <<'EOF'
import random, sys
tmp, now = sys.argv[1], int(sys.argv[2])
rng = random.Random(20261205)
NAMES = 1600
def chunk(node, items):
    text = "#recmesh-hot 1 node=%s time=%d.000 gen=1 chunk=0/1\n" % (node, now)
    return text + "".join("%s A %s\n" % (s, n) for s, n in items)
def write(cluster, node, items):
    with open("%s/list-%s-%s" % (tmp, cluster, node), "w") as f:
        f.write(chunk(node, items))
for k, scale in enumerate([1, 3, 0.2, 10, 1]):
    items = []
    for i in range(NAMES):
        # Zipf's law with a node's own noise (+-20 %), as decayed counts of a busy node
        s = 2000.0 * scale / (i + 1) * rng.uniform(0.8, 1.2)
        items.append(("%.3f" % s, "n%d.honest.example." % i))
    items.sort(key=lambda x: -float(x[0]))
    for cluster in ("honest", "mixed", "one"):
        write(cluster, "h%d" % k, items)
write("mixed", "evil", [("1000000000000000", "m%d.attack.example." % i) for i in range(500)])
write("one", "evil", [("1000000000000000", "one.attack.example.")])
EOF
    for f in "$RM_TMP"/list-*; do
        key=${f##*/list-} # cluster-node
        # shellcheck disable=SC2016  # $KV is part of the subject
        rm_nats_pub "$NATS_PORT" "\$KV.recmesh_hot.${key%%-*}.${key#*-}" "$(<"$f")\n" || fail "could not publish $key"
    done
    rm_wait_until 10 all_there || fail "lists read: honest $(lists honest), mixed $(lists mixed), one $(lists one)"

    hot honest 2000 >"$RM_TMP/honest.json"
    hot mixed 200 >"$RM_TMP/mixed.json"
    hot one 2000 >"$RM_TMP/one.json"
}

sc_mixed() {
    top200=$(names "$RM_TMP/mixed.json")
    n=$(wc -l <<<"$top200")
    bad=$(grep -c attack <<<"$top200" || true)
    ((n == 200)) || fail "the mixed merge gave $n names, not 200"
    ((bad == 0)) || fail "$bad made-up names in the top 200, the first at rank $(grep -n -m1 attack <<<"$top200" | cut -d: -f1)"
    [[ $top200 == "$(names "$RM_TMP/honest.json" | head -200)" ]] \
        || fail "the top 200 beside the hostile list differs from the honest merge's: $(diff <(echo "$top200") <(names "$RM_TMP/honest.json" | head -200) | head -5)"
    ok "no made-up name in the top 200; its first 200 are the honest merge's, in order (first: $(head -1 <<<"$top200"))"
    sed -n 's/.*"node":"evil".*"sum":\([0-9.]*\).*/\1/p' "$RM_TMP/mixed.json" | grep -qx '500000000000000000.000' \
        || fail "the hostile list's sum is not reported as 500 x 10^15: $(grep '"node":"evil"' "$RM_TMP/mixed.json")"
    ok "the hostile list is shown with what it claims: $(grep -o '"node":"evil".*"sum":[0-9.]*' "$RM_TMP/mixed.json")"
}

sc_one() {
    line=$(grep '"qname":"one.attack.example."' "$RM_TMP/one.json") || fail "one.attack.example. not in the merge"
    rank=$(sed -n 's/.*"rank":\([0-9]*\).*/\1/p' <<<"$line")
    score=$(sed -n 's/.*"score":\([0-9.]*\).*/\1/p' <<<"$line")
    [[ $score == 5.0000 ]] || fail "one.attack.example. weighs $score, not 5.0000 (the cap of a name in a list)"
    # the honest names that weigh more than 5 come first, and nothing else
    above=$(awk -F'"score":' '/"qname"/ { split($2, a, "}"); if (a[1] + 0 > 5) n++ } END { print n + 0 }' "$RM_TMP/honest.json")
    ((rank == above + 1)) || fail "one.attack.example. at rank $rank, want $((above + 1)) (after the $above honest names above 5)"
    ok "one.attack.example. weighs $score, at rank $rank: after the $above honest names that weigh more than 5"
}

sc_weight() {
    total=$(awk -F'"score":' '/"qname"/ { split($2, a, "}"); t += a[1] } END { printf "%.1f", t }' "$RM_TMP/honest.json")
    count=$(grep -c '"qname"' "$RM_TMP/honest.json")
    ((count == 1600)) || fail "the honest merge has $count names, not 1600"
    awk -v t="$total" 'BEGIN { exit !(t > 400 && t <= 500.0001) }' \
        || fail "the five lists weigh $total in all: want at most 500 (and more than 400: only the capped names weigh less)"
    ok "five lists weigh $total in all (at most 5 x 100; the hottest names are capped at 5 per list)"
    # each node's sum: its scores added up, as written
    for k in 0 1 2 3 4; do
        want=$(awk '!/^#/ { t += $1 } END { printf "%.3f", t }' "$RM_TMP/list-honest-h$k")
        got=$(sed -n "s/.*\"node\":\"h$k\".*\"sum\":\([0-9.]*\).*/\1/p" "$RM_TMP/honest.json")
        awk -v a="$want" -v b="$got" 'BEGIN { d = a - b; exit !(d < 0.01 && d > -0.01) }' \
            || fail "node h$k: sum $got, its scores add up to $want"
    done
    ok "each node's sum is its scores added up (h3, ten times h0's traffic: $(sed -n 's/.*"node":"h3".*"sum":\([0-9.]*\).*/\1/p' "$RM_TMP/honest.json"))"
}

rm_scenario lists  "five honest lists (1600 names each) and two hostile ones into recmesh_hot"
rm_scenario mixed  "500 made-up names at 10^15 beside the five honest lists" lists
rm_scenario one    "one made-up name at 10^15 beside the five honest lists" lists
rm_scenario weight "every list weighs at most 100" lists
rm_scenario_listing

NATS_PORT=$(rm_free_port)
rm_start_nats nats "$NATS_PORT"
NATS=nats://127.0.0.1:$NATS_PORT

rm_hot_bucket "$NATS_PORT"

rm_scenarios
