//! The Raft consensus algorithm as a pure state machine: no I/O, no threads.
//!
//! Filled in by the raft labs (2A, 2C, 3A); for now the crate only compiles.
