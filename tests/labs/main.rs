//! The graded lab suites. Each module is one lab; `make grade` counts the
//! tests under `labN::` for lab N. Run one lab by hand with
//! `cargo test -p tinykv-tests --test labs -- lab1::`.

mod docs;
mod lab1;
mod lab2b;
mod lab2c;
mod lab3b;
mod lab3c;
mod lab4a;
mod lab4b;
mod lab4c;
mod playground;
mod sync_policy;
/// The fixture lab4b and lab4c share (not a lab).
mod txn_support;
