//! Crash tests at the failpoints of the snapshot, split and destroy paths.
//! Built only with `cargo test -p tinykv-tests --features failpoints --test
//! failpoints` (`make test` runs it). Failpoints are process-wide, so every
//! test holds a `fail::FailScenario`, which also runs them one at a time.
//! Graded with their labs (`lab2c::` and `lab3b::` paths).

mod lab2c;
mod lab3b;
