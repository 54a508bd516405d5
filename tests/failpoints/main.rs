//! Crash tests at the failpoints of the snapshot path. Built only with
//! `cargo test -p tinykv-tests --features failpoints --test failpoints`
//! (`make test` runs it). Failpoints are process-wide, so every test holds
//! a `fail::FailScenario`, which also runs them one at a time. Graded with
//! lab 2C (`lab2c::` paths).

mod lab2c;
