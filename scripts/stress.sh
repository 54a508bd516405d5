#!/usr/bin/env bash
# Runs a lab's graded suite again and again on a loaded machine, the way a
# grading server (or a student's busy laptop) runs it, and reports what
# failed and with which seed.
#
#   scripts/stress.sh LAB RUNS LOAD
#   make stress LAB=2c RUNS=10 LOAD=2      (LAB=all: every lab's suite)
#
# LOAD busy-loop processes keep the cores saturated for the whole stress
# run. The script starts them itself and always stops them (by process id,
# on success, failure or Ctrl-C). Each run prints one line; the summary
# gives the number of runs, the failures per test, the seed of every
# failing test (replay one with TINYKV_SEED=<seed>) and the slowest test.
# The exit code is non-zero when any run failed.
set -uo pipefail

cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
# The same build directory as the Makefile, so RocksDB is not rebuilt.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/tinykv-rs/target}
FEATURES="--features tinykv-tests/failpoints"

lab=${1:-all}
runs=${2:-10}
load=${3:-2}
lab=${lab#lab}
if ! [[ "$runs" =~ ^[0-9]+$ ]] || [ "$runs" -lt 1 ]; then
    echo "stress: RUNS must be a positive number, not '$runs'" >&2
    exit 2
fi
if ! [[ "$load" =~ ^[0-9]+$ ]]; then
    echo "stress: LOAD must be a number of busy loops, not '$load'" >&2
    exit 2
fi
if [ "$lab" = "all" ]; then
    # Every graded test path starts with `labN::`; the substring filter
    # `lab` selects them all.
    filter="lab"
else
    filter="lab${lab}::"
fi

work=$(mktemp -d)
load_pids=()
stop_load() {
    local pid
    for pid in "${load_pids[@]}"; do
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    load_pids=()
}
cleanup() {
    stop_load
    rm -rf "$work"
}
trap cleanup EXIT
trap 'echo; echo "stress: interrupted" >&2; exit 130' INT TERM

# Build once, outside the loaded runs; list every test binary with the
# package directory cargo would run it in.
echo "stress: building the test binaries..."
if ! $CARGO test --workspace $FEATURES --no-run --message-format=json \
    >"$work/build.json" 2>"$work/build.log"; then
    cat "$work/build.log" >&2
    echo "stress: the workspace does not build" >&2
    exit 1
fi
binaries=()
while IFS= read -r line; do
    executable=$(sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' <<<"$line")
    manifest=$(sed -n 's/.*"manifest_path":"\([^"]*\)".*/\1/p' <<<"$line")
    [ -n "$executable" ] && [ -n "$manifest" ] || continue
    binaries+=("$(dirname "$manifest")|$executable")
done < <(grep '"reason":"compiler-artifact"' "$work/build.json" | grep '"test":true')
if [ "${#binaries[@]}" -eq 0 ]; then
    echo "stress: found no test binaries" >&2
    exit 1
fi

# libtest reports each test's duration with --report-time; on a stable
# toolchain that flag needs RUSTC_BOOTSTRAP in the test binary's
# environment (only there: the build above is untouched). If the binary
# refuses it, run without times.
report_time=(-Z unstable-options --report-time)
first="${binaries[0]#*|}"
if ! RUSTC_BOOTSTRAP=1 "$first" --list "${report_time[@]}" >/dev/null 2>&1; then
    report_time=()
fi

for _ in $(seq 1 "$load"); do
    bash -c 'while :; do :; done' &
    load_pids+=("$!")
done
echo "stress: lab ${lab}, ${runs} runs, ${load} busy loops (pids ${load_pids[*]:-none})"

failed_runs=0
for run in $(seq 1 "$runs"); do
    log="$work/run-$run.log"
    : >"$log"
    start=$(date +%s.%N)
    for entry in "${binaries[@]}"; do
        dir="${entry%%|*}"
        executable="${entry#*|}"
        (cd "$dir" && RUSTC_BOOTSTRAP=1 "$executable" "$filter" "${report_time[@]}") >>"$log" 2>&1
    done
    end=$(date +%s.%N)
    seconds=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", e - s }')
    passed=$(grep -c '^test .* \.\.\. ok' "$log")
    failed=$(grep -c '^test .* \.\.\. FAILED' "$log")
    printf 'run %2d/%d: %3d passed, %d failed, %6ss\n' "$run" "$runs" "$passed" "$failed" "$seconds"
    if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
        echo "stress: no test matched '$filter'" >&2
        exit 2
    fi
    if [ "$failed" -gt 0 ]; then
        failed_runs=$((failed_runs + 1))
        grep '^test .* \.\.\. FAILED' "$log" | sed 's/^test \(.*\) \.\.\. FAILED.*/\1/' >>"$work/failures"
        # The seed each failing test printed: its captured output sits
        # between `---- NAME stdout ----` and the next `----` header.
        awk -v run="$run" '
            /^---- .* stdout ----$/ { name = $2; next }
            /^(failures:|successes:)$/ { name = "" }
            name != "" && match($0, /TINYKV_SEED=[0-9]+/) {
                print "  run " run ": " name " " substr($0, RSTART, RLENGTH)
                name = ""
            }' "$log" >>"$work/seeds"
    fi
    # Per-test times: `test NAME ... ok <1.234s>`.
    sed -n 's/^test \(.*\) \.\.\. [A-Za-z]* <\([0-9.]*\)s>$/\2 \1/p' "$log" >>"$work/times"
done
stop_load

echo
echo "stress summary: lab ${lab}, ${runs} runs under ${load} busy loops, ${failed_runs} with failures"
if [ -s "$work/failures" ]; then
    echo "failures per test:"
    sort "$work/failures" | uniq -c | sort -rn | sed 's/^ */  /'
    echo "seeds of the failing runs (replay: TINYKV_SEED=<seed> cargo test ... -- <test>):"
    if [ -s "$work/seeds" ]; then cat "$work/seeds"; else echo "  (the failing tests printed no seed)"; fi
else
    echo "failures per test: none"
fi
if [ -s "$work/times" ]; then
    sort -rn "$work/times" | head -1 | awk '{ printf "slowest test: %s (%.1f s)\n", $2, $1 }'
else
    echo "slowest test: unknown (this toolchain's test harness does not report times)"
fi
[ "$failed_runs" -eq 0 ]
