#!/usr/bin/env bash
# scenarios.sh - runs every scenario of the given system tests alone (each with what it
# needs, RM_SCENARIO=NAME), to show that each can be run by itself, and prints one line per
# scenario: the test, the scenario, PASS, SKIP (the test exited 77: RECMESH_SKIP_SYSTEM=1
# or a missing tool) or FAIL, the seconds it took. Exits 1 when any failed, or when fewer
# ran than were listed. The tests' environment (RECMESH, DNSTCP, DNSDELAY, RM_RECURSOR, ...)
# is passed on; a failed scenario's output is kept in $TMPDIR/recmesh-scenario-TEST-NAME.log.
#
#   RECMESH=build/recmesh tests/system/scenarios.sh tests/system/test_merge.sh
#   tests/system/scenarios.sh            # every test_*.sh beside this script
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
(($# > 0)) || set -- "$HERE"/test_*.sh
failed=0 passed=0 skipped=0 listed=0 tests_skipped=0
for t in "$@"; do
    name=$(basename "$t" .sh)
    log=${TMPDIR:-/tmp}/recmesh-scenario-$name-list.log
    list=$(RM_SCENARIO=list bash "$t" </dev/null 2>"$log")
    rc=$?
    if ((rc == 77)); then
        echo "$name - SKIP: $list"
        tests_skipped=$((tests_skipped + 1))
        rm -f "$log"
        continue
    fi
    if ((rc != 0)) || [[ -z $list ]]; then
        echo "$name - FAIL: RM_SCENARIO=list gave status $rc and $(wc -l <<<"$list") line(s) (see $log)"
        failed=$((failed + 1))
        continue
    fi
    rm -f "$log"
    while IFS=$'\t' read -r sc needs _; do
        listed=$((listed + 1))
        log=${TMPDIR:-/tmp}/recmesh-scenario-$name-$sc.log
        start=$SECONDS
        RM_SCENARIO=$sc bash "$t" </dev/null >"$log" 2>&1
        rc=$?
        if ((rc == 0)); then
            r=PASS
            passed=$((passed + 1))
            rm -f "$log"
        elif ((rc == 77)); then
            r=SKIP
            skipped=$((skipped + 1))
        else
            r="FAIL (status $rc, see $log)"
            failed=$((failed + 1))
        fi
        [[ $needs == - ]] && needs=
        echo "$name $sc${needs:+ (needs $needs)} $r $((SECONDS - start)) s"
    done <<<"$list"
done
echo "scenarios alone: $listed listed, $passed passed, $skipped skipped, $failed failed" \
    "($tests_skipped test(s) skipped whole)"
((failed == 0 && passed + skipped == listed))
