//! # tinykv-tests: the graded lab suites and their harness
//!
//! * `labs/` (the `labs` test target): one module per lab, so a test's path
//!   names its lab (`lab1::raw_get_after_put`). `make grade` runs them and
//!   scores each lab; `make grade LAB=1` runs one.
//! * [`linearizability`]: a checker for client histories (Wing & Gong
//!   search with memoization), used by the cluster workloads.
//! * `src/bin/playground.rs`: what `make run` starts.
//!
//! The local multi-store cluster harness joins this crate in lab 2B.

// (the linearizability checker joins here)
