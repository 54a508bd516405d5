//! The raft lab test suites, one module per lab part, sharing the
//! in-memory network of `raft_labs/harness.rs`.
//!
//! This file is the crate root of the test target, so module files are
//! looked up next to it; each `#[path]` points into `raft_labs/`.
//! Run one part with e.g. `cargo test -p raft --test raft_labs lab2aa`.

#[path = "raft_labs/harness.rs"]
mod harness;

#[path = "raft_labs/check_quorum.rs"]
mod check_quorum;
#[path = "raft_labs/lab2aa.rs"]
mod lab2aa;
#[path = "raft_labs/lab2ab.rs"]
mod lab2ab;
#[path = "raft_labs/lab2ac.rs"]
mod lab2ac;
#[path = "raft_labs/lab2c.rs"]
mod lab2c;
#[path = "raft_labs/lab3a.rs"]
mod lab3a;
#[path = "raft_labs/prevote.rs"]
mod prevote;
#[path = "raft_labs/read_index.rs"]
mod read_index;
#[path = "raft_labs/simulation.rs"]
mod simulation;
