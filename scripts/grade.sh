#!/usr/bin/env bash
# The grader: runs every lab's graded suite and prints a score table.
#
#   scripts/grade.sh          every lab
#   scripts/grade.sh 2b       one lab (also accepted: lab2b)
#
# A lab's suite is every test whose path starts with `labN::` in any crate
# of the workspace (raft/tests/raft_labs/labN.rs, tests/labs/labN.rs).
# The table also goes to target/grade.json for course staff. The exit code
# is non-zero when any test of a graded lab fails (or does not build).
set -uo pipefail

cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
# The same build directory as the Makefile, so RocksDB is not rebuilt.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/tinykv-rs/target}
# The failpoint crash tests (tests/failpoints) are graded with their labs
# (lab2c::, lab3b::, lab4c:: paths); they need the failpoints feature.
FEATURES="--features tinykv-tests/failpoints"

# lab name, points, what it covers. Labs without tests yet stay listed.
LABS=(
    "lab1   10 standalone KV and the raw API"
    "lab2aa  5 raft: leader election"
    "lab2ab 10 raft: log replication"
    "lab2ac  5 raft: RawNode and the Ready cycle"
    "lab2b  20 raftstore: fault-tolerant KV on raft"
    "lab2c  15 log compaction and snapshots"
    "lab3a   5 raft: membership change and leader transfer"
    "lab3b  15 raftstore: membership change and region split"
    "lab3c   5 scheduler: heartbeats and balancing"
    "lab4a   3 transactions: MVCC layer"
    "lab4b   4 transactions: Percolator prewrite/commit"
    "lab4c   3 transactions: rollback and lock resolution"
)

only=""
if [ $# -gt 0 ] && [ -n "$1" ]; then
    only="$1"
    [[ "$only" == lab* ]] || only="lab$only"
fi

known=0
for entry in "${LABS[@]}"; do
    read -r name _ <<<"$entry"
    [ "$name" = "$only" ] && known=1
done
if [ -n "$only" ] && [ "$known" -eq 0 ]; then
    echo "grade: unknown lab '$only'; labs are: $(for e in "${LABS[@]}"; do read -r n _ <<<"$e"; printf '%s ' "${n#lab}"; done)" >&2
    exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "grade: building the test binaries..."
if ! $CARGO test --workspace $FEATURES --no-run -q >"$work/build.log" 2>&1; then
    cat "$work/build.log" >&2
    echo "grade: the workspace does not build; every lab scores 0" >&2
    build_failed=1
else
    build_failed=0
    # One listing of every test in the workspace: "path: test" lines.
    $CARGO test --workspace $FEATURES -q -- --list --format terse >"$work/list.txt" 2>/dev/null
fi

json_rows=()
total_points=0
max_total=0
failed=0
printf '\n%-8s %-48s %9s %8s %8s  %s\n' "lab" "what" "passed" "points" "time" "status"
printf '%s\n' "-----------------------------------------------------------------------------------------------"
for entry in "${LABS[@]}"; do
    read -r name points description <<<"$entry"
    if [ -n "$only" ] && [ "$name" != "$only" ]; then
        continue
    fi
    max_total=$((max_total + points))
    total=0
    [ "$build_failed" -eq 0 ] && total=$(grep -c "^${name}::.*: test$" "$work/list.txt")
    passed=0
    seconds=0
    if [ "$build_failed" -eq 1 ]; then
        status="build failed"
        failed=1
    elif [ "$total" -eq 0 ]; then
        status="no tests yet"
    else
        start=$(date +%s.%N)
        $CARGO test --workspace $FEATURES --no-fail-fast -q -- "${name}::" --format pretty >"$work/$name.log" 2>&1
        end=$(date +%s.%N)
        seconds=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", e - s }')
        passed=$(grep -c "^test ${name}::.* \.\.\. ok$" "$work/$name.log")
        if [ "$passed" -eq "$total" ]; then
            status="ok"
        else
            status="FAILED"
            failed=1
            grep "^test ${name}::.* \.\.\. FAILED$" "$work/$name.log" | sed 's/^/    /' >"$work/$name.failures"
        fi
    fi
    earned=$(awk -v p="$points" -v n="$passed" -v t="$total" 'BEGIN { if (t == 0) print 0; else printf "%.1f", p * n / t }')
    total_points=$(awk -v a="$total_points" -v b="$earned" 'BEGIN { printf "%.1f", a + b }')
    printf '%-8s %-48s %4s/%-4s %4s/%-3s %7ss  %s\n' "$name" "$description" "$passed" "$total" "$earned" "$points" "$seconds" "$status"
    [ -f "$work/$name.failures" ] && cat "$work/$name.failures"
    json_rows+=("{\"lab\":\"$name\",\"description\":\"$description\",\"passed\":$passed,\"total\":$total,\"points\":$earned,\"max_points\":$points,\"seconds\":$seconds,\"status\":\"$status\"}")
done
printf '%s\n' "-----------------------------------------------------------------------------------------------"
printf '%-8s %-48s %9s %4s/%-3s\n' "total" "" "" "$total_points" "$max_total"

mkdir -p target
{
    printf '{"labs":['
    (IFS=,; printf '%s' "${json_rows[*]}")
    printf '],"points":%s,"max_points":%s,"passed":%s}\n' "$total_points" "$max_total" "$([ $failed -eq 0 ] && echo true || echo false)"
} >target/grade.json
echo "grade: wrote target/grade.json"
exit $failed
