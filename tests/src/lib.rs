//! # tinykv-tests: the graded lab suites and their harness
//!
//! * `labs/` (the `labs` test target): one module per lab, so a test's path
//!   names its lab (`lab1::raw_get_after_put`). `make grade` runs them and
//!   scores each lab; `make grade LAB=1` runs one.
//! * [`linearizability`]: a checker for client histories (Wing & Gong
//!   search with memoization), used by the cluster workloads.
//! * [`txn_checker`]: a transaction-anomaly checker for list-append
//!   histories (Elle's G0, G1a, G1b, G1c and G-single), for the
//!   transactional workloads.
//! * [`playground`] and `src/bin/playground.rs`: what `make run` starts.
//!
//! * [`ctl`]: `tinykv ctl`, the client of a running cluster of processes
//!   (raw and transactional commands, regions, operators, splits,
//!   compaction, snapshot export, replica digests).
//! * [`cluster`]: the local multi-store test cluster (stores, simulated
//!   network with filters, the real scheduler in-process, the tests'
//!   region directory, client helpers).
//! * [`local_cluster`]: a scheduler and N stores as real processes of the
//!   `tinykv` binary (`tinykv cluster up|down|kill|start|status`, `make
//!   cluster`, the cluster benchmark).

pub mod chain_log;
pub mod cluster;
pub mod ctl;
pub mod linearizability;
pub mod local_cluster;
pub mod playground;
pub mod scenarios;

pub mod txn;
pub mod txn_checker;
pub mod workload;
