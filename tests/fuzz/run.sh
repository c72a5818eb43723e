#!/usr/bin/env bash
# run.sh: runs every libFuzzer harness of tests/fuzz/ (built by build.sh):
# first its regression inputs (tests/fuzz/regressions/HARNESS/, every crash
# ever found, each must now pass), then a fixed number of fuzzing runs from
# its seed corpus (tests/fuzz/corpus/HARNESS/), then the intel-file reader
# of contrib/recmesh.lua under LuaJIT (lua_intel.lua). Prints for each the
# executions and libFuzzer's coverage (cov: edges, ft: features) and exits
# non-zero on any crash, leak, timeout or sanitizer report. New crash inputs
# are written to BUILD_DIR/crashes/HARNESS/; the corpus libFuzzer grows
# stays in BUILD_DIR/corpus/HARNESS/ (the tree is never written).
#
#   tests/fuzz/run.sh [-b BUILD_DIR] [-r RUNS | -t SECONDS] [HARNESS...]
#
# Defaults: BUILD_DIR build-fuzz in the source tree, RUNS per harness as
# below (about 10 s each, under 2 minutes for all), every harness.
set -uo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$src/build-fuzz
runs=
seconds=
while getopts "b:r:t:" o; do
	case $o in
	b) build=$OPTARG ;;
	r) runs=$OPTARG ;;
	t) seconds=$OPTARG ;;
	*) echo "usage: run.sh [-b BUILD_DIR] [-r RUNS | -t SECONDS] [HARNESS...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
harnesses=("$@")
if [[ ${#harnesses[@]} -eq 0 ]]; then
	for f in "$src"/tests/fuzz/fuzz_*.c; do harnesses+=("$(basename "$f" .c)"); done
	harnesses+=(lua_intel)
fi

# per harness: default runs and libFuzzer options
default_runs() {
	# about 10 s each on one core of this 2-core machine (measured exec/s in comments)
	case $1 in
	fuzz_dnsmsg) echo 1000000 ;;   # ~130k/s
	fuzz_event) echo 120000 ;;     # ~11k/s
	fuzz_hotlist) echo 150000 ;;   # ~13k/s
	fuzz_linefmt) echo 300000 ;;   # ~30k/s
	fuzz_nstable) echo 400000 ;;   # ~37k/s
	fuzz_options) echo 30000 ;;    # ~3k/s (a file write per run)
	fuzz_pbstream) echo 2000000 ;; # ~200k/s
	fuzz_tcpframe) echo 200000 ;;  # ~19k/s (socket pair)
	lua_intel) echo 100000 ;;      # mutations of the corpus files, ~30k/s
	*) echo 200000 ;;
	esac
}
options() {
	case $1 in
	fuzz_dnsmsg) echo "-max_len=1500" ;;
	fuzz_event | fuzz_pbstream) echo "-max_len=4096" ;;
	fuzz_options) echo "-max_len=4096 -close_fd_mask=2" ;; # its error messages go to stderr
	fuzz_tcpframe) echo "-max_len=8192" ;;
	*) echo "-max_len=8192" ;;
	esac
}

mkdir -p "$build/logs"
failed=0
passed=0
printf '%-16s %-8s %10s %8s %8s %10s  %s\n' harness result execs cov ft regress log
for h in "${harnesses[@]}"; do
	log=$build/logs/$h.log
	: >"$log"
	n=${runs:-$(default_runs "$h")}
	if [[ $h == lua_intel ]]; then
		if ! command -v luajit >/dev/null; then
			echo "run.sh: luajit not found (apt-get install luajit)" >&2
			result=FAIL
		elif luajit "$src/tests/fuzz/lua_intel.lua" "$src/contrib/recmesh.lua" "$src/tests/fuzz/corpus/lua_intel" \
			"$n" "${seconds:-0}" >"$log" 2>&1; then
			result=ok
		else
			result=FAIL
		fi
		execs=$(sed -n 's/^lua_intel: \([0-9]*\) files read.*/\1/p' "$log" | tail -n 1)
		printf '%-16s %-8s %10s %8s %8s %10s  %s\n' "$h" "$result" "${execs:-?}" - - - "$log"
		if [[ $result == ok ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); tail -n 20 "$log"; fi
		continue
	fi
	bin=$build/$h
	if [[ ! -x $bin ]]; then
		echo "run.sh: $bin missing: run tests/fuzz/build.sh first" >&2
		failed=$((failed + 1))
		continue
	fi
	# shellcheck disable=SC2207
	opts=($(options "$h") -timeout=10 -rss_limit_mb=2048)
	result=ok
	# every input that ever crashed must pass now
	regs=()
	if [[ -d $src/tests/fuzz/regressions/$h ]]; then
		for f in "$src/tests/fuzz/regressions/$h"/*; do [[ -f $f ]] && regs+=("$f"); done
	fi
	if [[ ${#regs[@]} -gt 0 ]] && ! "$bin" "${opts[@]}" "${regs[@]}" >>"$log" 2>&1; then
		result=FAIL
	fi
	mkdir -p "$build/corpus/$h" "$build/crashes/$h"
	# a fixed number of runs goes with a fixed seed (FUZZ_SEED, default 1): the same
	# mutations every time, so a run of tests/all.sh is repeatable; a timed run
	# (-s) explores with a new seed each time
	if [[ -n $seconds ]]; then limit=(-max_total_time="$seconds"); else limit=(-runs="$n" -seed="${FUZZ_SEED:-1}"); fi
	if [[ $result == ok ]] && ! "$bin" "${opts[@]}" "${limit[@]}" -print_final_stats=1 \
		-artifact_prefix="$build/crashes/$h/" "$build/corpus/$h" "$src/tests/fuzz/corpus/$h" >>"$log" 2>&1; then
		result=FAIL
	fi
	if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|SUMMARY: ' "$log"; then
		result=FAIL
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
	c=${cov#cov: }
	c=${c%% *}
	ft=${cov##* }
	printf '%-16s %-8s %10s %8s %8s %10s  %s\n' "$h" "$result" "${execs:-?}" "${c:-?}" "${ft:-?}" "${#regs[@]}" "$log"
	if [[ $result == ok ]]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		grep -E -A 12 'ERROR:|runtime error:|check failed' "$log" | grep -v ' in fuzzer::' | head -n 24
		ls "$build/crashes/$h" 2>/dev/null | sed "s|^|  crash input: $build/crashes/$h/|"
	fi
done
echo "fuzz: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
