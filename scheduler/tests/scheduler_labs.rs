//! The scheduler's graded tests (lab 3C), one module per subject, sharing
//! the builders of `lab3c/common.rs`. Their paths start with `lab3c::`, so
//! `make grade LAB=3c` counts them with the store-side tests of
//! `tests/labs/lab3c.rs`.
//!
//! Run them alone with `cargo test -p scheduler --test scheduler_labs`.

mod lab3c {
    /// Store, peer and region builders.
    mod common;
    /// Region heartbeat rules, bad input, bootstrap, splits, store heartbeats.
    mod heartbeat;
    /// Operators, the replica checker, balance-leader and balance-region.
    mod operators;
    /// Ids and timestamps across restarts.
    mod restart;
}
