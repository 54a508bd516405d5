# tinykv-rs: the two commands a newcomer needs are `make run` and `make test`.
#
# Every target shares one cargo profile and one target directory, so
# RocksDB's C++ is compiled once per machine. The target directory lives
# outside the checkout by default (a cache that survives a fresh clone);
# set CARGO_TARGET_DIR to put it elsewhere.

SHELL := /bin/bash
CARGO ?= cargo
export CARGO_TARGET_DIR ?= $(HOME)/.cache/tinykv-rs/target
LAB ?=
RUNS ?= 10
LOAD ?= 2

OUT ?=
FROM ?=

.PHONY: all setup run test fmt-check clippy unit-tests grade stress bench bench-raft bench-cluster cluster cluster-down doc clean skeleton check-skeletons lint-skeletons

all: test

## setup: install what the build needs and a fresh Debian machine may lack
## (libclang), and make the shared build cache this checkout's (see
## scripts/claim-target.sh: another checkout's builds must not pass as ours).
setup:
	@bash scripts/setup.sh
	@bash scripts/claim-target.sh

## run: start the playground (see README.md).
run: setup
	$(CARGO) run -q -p tinykv-tests --bin playground -- $(ARGS)

## cluster: a scheduler and 3 stores as background processes on free
## loopback ports (data and logs in $TMPDIR/tinykv-cluster), once the first
## region serves; prints the addresses and commands to try. Stop it with
## `make cluster-down` (or `tinykv cluster down`); see docs/cluster.md.
cluster: setup
	$(CARGO) build -q -p tinykv-tests --bin tinykv
	$(CARGO_TARGET_DIR)/debug/tinykv cluster up --stores 3 $(ARGS)

## cluster-down: stop the cluster of `make cluster` (ARGS=--clean also
## removes its data).
cluster-down:
	$(CARGO_TARGET_DIR)/debug/tinykv cluster down $(ARGS)

## test: everything CI checks: formatting, clippy with -D warnings, all tests.
test: setup fmt-check clippy unit-tests

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p tinykv-tests --features failpoints --all-targets -- -D warnings

# All tests, then the crash tests at the snapshot path's failpoints (a
# separate build of raftstore with the `failpoints` feature on).
unit-tests:
	$(CARGO) test --workspace
	$(CARGO) test -p tinykv-tests --features failpoints --test failpoints

## grade: run the graded lab suites and print a score table (LAB=1 for one lab).
grade: setup
	@bash scripts/grade.sh $(LAB)

## skeleton: a student tree in OUT with LAB's code stubbed and earlier labs
## solved (LAB=2c, LAB=2b,2c, LAB=all for the course's starting point; or
## FROM=2c for 2C and every later lab). See docs/labs/README.md.
skeleton: setup
	@test -n "$(OUT)" || { echo "make skeleton: give OUT=DIR (and LAB=... or FROM=...)" >&2; exit 2; }
	$(CARGO) xtask skeleton $(if $(FROM),--from $(FROM),$(if $(filter all,$(LAB)),--all,--labs $(LAB))) --out $(OUT)

## check-skeletons: for every lab (or LAB=2b), its skeleton builds, fails its
## suite and passes every earlier lab's; prints a table. Long: about an hour.
check-skeletons: setup
	@bash scripts/check-skeletons.sh $(LAB)

## lint-skeletons: every lab's skeleton (and the all-labs one) passes
## rustfmt and clippy -D warnings on every target; what CI runs after
## `make test`. Minutes, not hours: it type-checks, it does not build or run.
lint-skeletons: setup
	@CHECK_ONLY=1 bash scripts/check-skeletons.sh

## stress: a lab's suite RUNS times with LOAD busy loops keeping the cores
## busy (LAB=2c RUNS=10 LOAD=2; LAB=all for every lab): per-run lines, then
## failures per test, the failing seeds and the slowest test.
stress: setup
	@bash scripts/stress.sh "$(if $(LAB),$(LAB),all)" "$(RUNS)" "$(LOAD)"

## bench: this raft next to raft-rs (bench-raft), then the criterion benchmarks.
bench: setup bench-raft
	$(CARGO) bench --workspace

## bench-raft: this raft and raft-rs 0.7 side by side on the same in-memory
## workload, interleaved, with ratios (its own workspace: raft-rs stays out
## of `make test`). ARGS="--rounds 9 --window-ms 500" for a longer run.
bench-raft: setup
	cd benches/raft_compare && $(CARGO) run --release -q -- $(ARGS)

## bench-cluster: raw puts (1, 16, 64 clients, 128 B, fsync on) against a
## 3-store tinykv cluster of processes, a 3-member etcd (installed with apt
## when missing; skipped if it cannot be) and the in-process cluster, with
## the ratios. ARGS="--duration-secs 10 --value-size 1024". Not a test.
bench-cluster: setup
	@bash scripts/bench-cluster.sh $(ARGS)

## doc: the API docs, with warnings as errors.
doc: setup
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps

clean:
	$(CARGO) clean
