#!/usr/bin/env bash
# all.sh: installs the dependencies, builds recmesh and runs every test:
# the unit and system tests (make check, warnings as errors), the same again
# in a build with AddressSanitizer and UndefinedBehaviorSanitizer, and
# make distcheck. Run as root on Debian 12 (the authoritative servers of the
# system tests listen on port 53 of 127.x addresses). Exits non-zero on the
# first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
sh tests/deps.sh
jobs=$(nproc)

step() { printf '\n===== %s =====\n' "$*"; }

# out-of-tree builds, so the source tree stays clean for both
[[ -f Makefile ]] && make distclean >/dev/null
step "build (-Werror)"
autoreconf -fi
rm -rf build && mkdir build && cd build
"$top"/configure --enable-werror -q
make -j"$jobs"

step "make check"
if ! make -j"$jobs" check; then
	cat tests/unit/*.log tests/system/*.log 2>/dev/null | tail -200
	exit 1
fi

step "make distcheck"
make -j"$jobs" distcheck
cd "$top"

step "make check with ASan + UBSan"
rm -rf build-asan && mkdir build-asan && cd build-asan
"$top"/configure --enable-werror --enable-sanitizers -q
make -j"$jobs"
if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	make -j"$jobs" check; then
	cat tests/unit/*.log tests/system/*.log 2>/dev/null | tail -200
	exit 1
fi
cd "$top"

step "summary"
for d in build build-asan; do
	for f in "$d"/tests/unit/*.trs "$d"/tests/system/*.trs; do
		[[ -e $f ]] || continue
		printf '%-12s %-40s %s\n' "$d" "${f#"$d"/}" "$(sed -n 's/^:test-result: //p' "$f")"
	done
done
pass=$(cat build/tests/*/*.trs build-asan/tests/*/*.trs | grep -c '^:test-result: PASS')
fail=$(cat build/tests/*/*.trs build-asan/tests/*/*.trs | grep -c '^:test-result: \(FAIL\|ERROR\|XPASS\)' || true)
echo "all: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
