#!/usr/bin/env bash
# scenarios.sh - runs every scenario of the given system tests alone (each with what it
# needs, RM_SCENARIO=NAME), to show that each can be run by itself, and prints one line per
# scenario: the test, the scenario, PASS or FAIL, the seconds it took. Exits 1 when any
# failed. The tests' environment (RECMESH, DNSTCP, DNSDELAY, RM_RECURSOR, ...) is passed
# on; a failed scenario's output is kept in $TMPDIR/recmesh-scenario-TEST-NAME.log.
#
#   RECMESH=build/recmesh tests/system/scenarios.sh tests/system/test_merge.sh
#   tests/system/scenarios.sh            # every test_*.sh beside this script
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
(($# > 0)) || set -- "$HERE"/test_*.sh
failed=0 passed=0
for t in "$@"; do
    name=$(basename "$t" .sh)
    if ! list=$(RM_SCENARIO=list bash "$t" 2>/dev/null) || [[ -z $list ]]; then
        echo "$name - FAIL: it declares no scenarios (RM_SCENARIO=list)"
        failed=$((failed + 1))
        continue
    fi
    while IFS=$'\t' read -r sc needs _; do
        log=${TMPDIR:-/tmp}/recmesh-scenario-$name-$sc.log
        start=$SECONDS
        if RM_SCENARIO=$sc bash "$t" >"$log" 2>&1; then
            r=PASS
            passed=$((passed + 1))
            rm -f "$log"
        else
            r="FAIL (see $log)"
            failed=$((failed + 1))
        fi
        [[ $needs == - ]] && needs=
        echo "$name $sc${needs:+ (needs $needs)} $r $((SECONDS - start)) s"
    done <<<"$list"
done
echo "scenarios alone: $passed passed, $failed failed"
((failed == 0))
