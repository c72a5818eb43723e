#!/usr/bin/env bash
# all.sh: installs the dependencies, builds recmesh and runs every test:
# the unit and system tests (make check, warnings as errors), the same again
# in a build with AddressSanitizer and UndefinedBehaviorSanitizer, and
# make distcheck (the tarball builds and its unit tests pass; its system tests
# are skipped with RECMESH_SKIP_SYSTEM=1: the two passes above ran them). Run
# as root on Debian 12 (the authoritative servers of the system tests listen
# on port 53 of 127.x addresses). Exits non-zero on the first failure, and
# when a system test was skipped in either of the two main passes.
set -euo pipefail
cd "$(dirname "$0")/.."
# the two main passes must run the system tests, whatever the caller's environment says
unset RECMESH_SKIP_SYSTEM
top=$PWD
sh tests/deps.sh
jobs=$(nproc)

step() { printf '\n===== %s =====\n' "$*"; }

# Each system test takes its own 127.x prefix by default (RM_TEST_NET overrides
# it), so that make -j runs them side by side: two tests sharing one would
# fail at random, whichever starts second. Check that no two do.
step "system tests: one default NET prefix each"
dups=$(grep -ho 'NET=${RM_TEST_NET:-[0-9.]*}' tests/system/test_*.sh | sort | uniq -d)
if [[ -n $dups ]]; then
	echo "system tests share a default NET prefix: $dups" >&2
	grep -n 'NET=${RM_TEST_NET:-' tests/system/test_*.sh >&2
	exit 1
fi
grep -h 'NET=${RM_TEST_NET:-' tests/system/test_*.sh | sort

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

step "make distcheck (system tests skipped: RECMESH_SKIP_SYSTEM=1)"
RECMESH_SKIP_SYSTEM=1 make -j"$jobs" distcheck
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

step "fuzz (libFuzzer, fixed runs; every harness and regression input)"
tests/fuzz/build.sh "$top/build-fuzz"
tests/fuzz/run.sh -b "$top/build-fuzz"

step "summary"
for d in build build-asan; do
	for f in "$d"/tests/unit/*.trs "$d"/tests/system/*.trs; do
		[[ -e $f ]] || continue
		printf '%-12s %-40s %s\n' "$d" "${f#"$d"/}" "$(sed -n 's/^:test-result: //p' "$f")"
	done
done
# count RESULT: how many tests of both passes had RESULT (a regular expression)
count() { cat build/tests/*/*.trs build-asan/tests/*/*.trs | grep -c "^:test-result: \($1\)" || true; }
pass=$(count PASS)
skip=$(count SKIP)
fail=$(count 'FAIL\|ERROR\|XPASS')
echo "all: $pass passed, $skip skipped, $fail failed"
# every system test must have run (and passed) in both passes: none skipped, none missing
bad=0
nsys=$(find tests/system -name 'test_*.sh' | wc -l)
for d in build build-asan; do
	skipped=$(grep -l '^:test-result: SKIP' "$d"/tests/system/*.trs 2>/dev/null || true)
	if [[ -n $skipped ]]; then
		echo "all: system tests skipped in $d: $(echo "$skipped" | tr '\n' ' ')"
		bad=1
	fi
	ran=$(find "$d"/tests/system -name 'test_*.sh.trs' | wc -l)
	if ((ran != nsys)); then
		echo "all: $ran of the $nsys system tests ran in $d"
		bad=1
	fi
done
[[ $fail -eq 0 && $bad -eq 0 ]]

step "Debian package: build from the distribution tarball, lintian, install, run"
# a self-contained step: the tarball make distcheck left in build/ must carry debian/
pkgdir=$(mktemp -d /tmp/recmesh-pkg.XXXXXX)
tar -C "$pkgdir" -xzf build/recmesh-*.tar.gz
(cd "$pkgdir"/recmesh-*/ && dpkg-buildpackage -us -uc -b)
deb=$(ls "$pkgdir"/recmesh_*.deb)
lintian --fail-on error "$deb"
dpkg -i "$deb"
/usr/bin/recmesh --version
/usr/bin/recmesh proxy --version
getent passwd recmesh
tests/system/test_units.sh --installed
for u in recmesh-proxy.service recmesh-mirror.service; do
	systemd-analyze verify --man=no "/lib/systemd/system/$u"
done
rm -rf "$pkgdir"
