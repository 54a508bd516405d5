//! Crash tests at the failpoints of the snapshot, split and destroy paths.
//! Built only with `cargo test -p tinykv-tests --features failpoints --test
//! failpoints` (`make test` runs it). Failpoints are process-wide, so every
//! test holds a `fail::FailScenario`, which also runs them one at a time.
//! Graded with their labs (`lab2c::`, `lab3b::` and `lab4c::` paths; lab
//! 4C's crash the transactional client, not a store).

mod lab2c;
mod lab3b;
mod lab4c;
mod sync_policy;
