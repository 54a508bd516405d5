//! The transactional client (labs 4B/4C) and the transaction workloads
//! that check the cluster's transactions end to end.
//!
//! | file | what it owns |
//! |---|---|
//! | `timestamp_oracle.rs` | [`TimestampOracle`]: where start and commit timestamps come from (the scheduler's TSO, or a local oracle) |
//! | `txn_stores.rs` | [`TxnStores`] and [`TxnCommands`]: where the client sends a key's commands (the in-process cluster, or stores over gRPC for `tinykv ctl`) |
//! | `client.rs` | [`TxnClient`] and [`Transaction`]: Percolator two-phase commit over any [`TxnStores`], with routing, retries and lock resolution |
//! | `client_tests.rs` | the client's lock resolution against a scripted store |
//! | `driver.rs` | the rounds both workloads run: clients, nemesis, heal, crash, progress |
//! | `bank.rs` | the bank-transfer workload: no snapshot read may ever see a different total |
//! | `list_append.rs` | the list-append workload whose history goes to `txn_checker` |
//!
//! Everything runs on the calling (test) threads; in the tests the client
//! talks to the stores in-process through `Cluster::server`, and `tinykv
//! ctl` gives it the same commands over gRPC.

mod bank;
mod client;
#[cfg(test)]
mod client_tests;
mod driver;
mod list_append;
mod timestamp_oracle;
mod txn_stores;

pub use bank::{run_bank_workload, BankOptions, BankReport};
pub use client::{Transaction, TxnClient, TxnError, DEFAULT_LOCK_TTL_MS};
pub use driver::TxnWorkloadOptions;
pub use list_append::{run_list_append_workload, ListAppendOptions, ListAppendReport};
pub use timestamp_oracle::{LocalOracle, TimestampOracle};
pub use txn_stores::{TxnCommands, TxnStores};
