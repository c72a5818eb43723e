#!/usr/bin/env bash
# all.sh: installs the dependencies, builds recmesh and runs every test:
# the unit and system tests (make check, warnings as errors) on Debian 12's
# Recursor 4.8.8, every system test that starts a Recursor again on 5.2.13
# (Debian 13) and 5.4.9 (Debian sid), run from the chroots tests/chroots.sh
# makes once per machine (the trixie one also lends dnsdist 1.9 to test_dnsdist),
# the system tests that start `recmesh proxy` again with 3 data path threads,
# the unit and system tests again on 5.4.9 in a build
# with AddressSanitizer and UndefinedBehaviorSanitizer, and
# make distcheck (the tarball builds and its unit tests pass; its system tests
# are skipped with RECMESH_SKIP_SYSTEM=1: the passes above ran them), the
# Debian package, and last the distribution tarball built on Debian 13
# (tests/debian13.sh, in a trixie build chroot made once per machine). Run as
# root on Debian 12 (the authoritative servers of the system tests listen on
# port 53 of 127.x addresses). Exits non-zero on the first failure, and when
# a system test was skipped or missing in any run.
set -euo pipefail
cd "$(dirname "$0")/.."
# the two main passes must run the system tests, all of their scenarios, whatever the
# caller's environment says
unset RECMESH_SKIP_SYSTEM RM_SCENARIO
top=$PWD
sh tests/deps.sh
jobs=$(nproc)
# the Recursors of the matrix: the host's, and those of the chroots
tests/chroots.sh

step() { printf '\n===== %s =====\n' "$*"; }
# failed_logs: in a build directory, after a make check that failed: the
# whole log of every test that failed (the tail of all logs together would
# show only the last test's server logs)
failed_logs() {
	local trs
	for trs in tests/unit/*.trs tests/system/*.trs; do
		[[ -f $trs ]] && grep -q '^:test-result: \(FAIL\|ERROR\|XPASS\)' "$trs" || continue
		step "log of the failed test ${trs%.trs}"
		cat "${trs%.trs}.log"
	done
}

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

# The system tests that start a Recursor (a line that is not a comment calls
# rm_start_recursor): they run once per Recursor of the matrix.
rectests=$(cd "$top" && grep -lE '^[^#]*\<rm_start_recursor\>' tests/system/test_*.sh | tr '\n' ' ')
# keep RUN: move the system tests' results of the run just made into tests/system/RUN/,
# so that the next run (which rewrites them) does not hide them from the summary
keep() {
	rm -rf "tests/system/$1" && mkdir -p "tests/system/$1"
	mv tests/system/test_*.sh.log tests/system/test_*.sh.trs "tests/system/$1/"
}

step "make check (Recursor 4.8.8, the host's)"
if ! RM_RECURSOR=4.8 make -j"$jobs" check; then
	failed_logs
	exit 1
fi
keep rec-4.8
for v in 5.2 5.4; do
	step "system tests on Recursor $v: $rectests"
	# shellcheck disable=SC2086  # a list of names
	if ! RM_RECURSOR=$v make -j"$jobs" check TESTS="$rectests"; then
		failed_logs
		exit 1
	fi
	keep "rec-$v"
done

# The system tests that start `recmesh proxy`, again with several data path threads
# (recmesh(1) "Threads"): lib.sh gives every proxy they start --threads 3 (RM_PROXY_THREADS;
# a test's own --threads wins), so that each behaves the same at any number of threads.
proxytests=$(cd "$top" && grep -lE '"\$RECMESH" proxy|\$RECMESH proxy' tests/system/test_*.sh | tr '\n' ' ')
step "system tests with 3 data path threads (Recursor 4.8.8): $proxytests"
# shellcheck disable=SC2086  # a list of names
if ! RM_RECURSOR=4.8 RM_PROXY_THREADS=3 make -j"$jobs" check TESTS="$proxytests"; then
	failed_logs
	exit 1
fi
keep threads-4.8

step "make distcheck (system tests skipped: RECMESH_SKIP_SYSTEM=1)"
RECMESH_SKIP_SYSTEM=1 make -j"$jobs" distcheck
cd "$top"

step "make check with ASan + UBSan (Recursor 5.4.9)"
rm -rf build-asan && mkdir build-asan && cd build-asan
"$top"/configure --enable-werror --enable-sanitizers -q
make -j"$jobs"
if ! RM_RECURSOR=5.4 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	make -j"$jobs" check; then
	failed_logs
	exit 1
fi
keep rec-5.4
cd "$top"

step "fuzz (libFuzzer, fixed runs; every harness and regression input)"
tests/fuzz/build.sh "$top/build-fuzz"
tests/fuzz/run.sh -b "$top/build-fuzz"

step "summary"
# the runs: build directory and system tests' folder, and how many system tests each must have run
nsys=$(find tests/system -name 'test_*.sh' | wc -l)
nrec=$(wc -w <<<"$rectests")
nproxy=$(wc -w <<<"$proxytests")
runs=("build rec-4.8 $nsys" "build rec-5.2 $nrec" "build rec-5.4 $nrec" "build threads-4.8 $nproxy"
	"build-asan rec-5.4 $nsys")
for d in build build-asan; do
	for f in "$d"/tests/unit/*.trs; do
		printf '%-12s %-8s %-40s %s\n' "$d" - "${f#"$d"/}" "$(sed -n 's/^:test-result: //p' "$f")"
	done
done
for r in "${runs[@]}"; do
	read -r d rec _ <<<"$r"
	for f in "$d/tests/system/$rec"/*.trs; do
		printf '%-12s %-8s %-40s %s\n' "$d" "$rec" "${f##*/}" "$(sed -n 's/^:test-result: //p' "$f")"
	done
done
# count RESULT: how many tests of every run had RESULT (a regular expression)
count() { cat build/tests/unit/*.trs build-asan/tests/unit/*.trs build/tests/system/rec-*/*.trs \
	build/tests/system/threads-*/*.trs build-asan/tests/system/rec-*/*.trs | grep -c "^:test-result: \($1\)" || true; }
pass=$(count PASS)
skip=$(count SKIP)
fail=$(count 'FAIL\|ERROR\|XPASS')
echo "all: $pass passed, $skip skipped, $fail failed"
# every system test must have run (and passed) in every run: none skipped, none missing
bad=0
for r in "${runs[@]}"; do
	read -r d rec want <<<"$r"
	skipped=$(grep -l '^:test-result: SKIP' "$d/tests/system/$rec"/*.trs 2>/dev/null || true)
	if [[ -n $skipped ]]; then
		echo "all: system tests skipped in $d on Recursor ${rec#rec-}: $(echo "$skipped" | tr '\n' ' ')"
		bad=1
	fi
	ran=$(find "$d/tests/system/$rec" -name 'test_*.sh.trs' | wc -l)
	if ((ran != want)); then
		echo "all: $ran of the $want system tests ran in $d on Recursor ${rec#rec-}"
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
# the state directory the nodes and the Recursor unit's warm-up both write the intel file into
[[ $(stat -c '%U:%G %a' /var/lib/recmesh) == "recmesh:recmesh 775" ]] \
	|| { echo "all: /var/lib/recmesh is $(stat -c '%U:%G %a' /var/lib/recmesh), expected recmesh:recmesh 775"; exit 1; }
tests/system/test_units.sh --installed
for u in recmesh-proxy.service recmesh-mirror.service recmesh-merge.service recmesh-merge.timer; do
	systemd-analyze verify --man=no "/lib/systemd/system/$u"
done
rm -rf "$pkgdir"

step "Debian 13 build: the distribution tarball in a trixie chroot (configure --enable-werror, make, unit tests, fuzz harnesses, Debian package, lintian)"
# a self-contained step: tests/debian13.sh makes its build chroot once per
# machine (a few minutes) and reuses it after; it builds the tarball make
# distcheck left in build/
tests/debian13.sh build/recmesh-*.tar.gz
