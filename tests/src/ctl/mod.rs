//! `tinykv ctl`: look at and steer a running cluster of processes over
//! gRPC — raw and transactional reads and writes, the scheduler's view of
//! regions and stores, operators, splits, log compaction, snapshot export
//! and replica digests. The binary's `ctl` subcommand
//! (`tests/src/bin/tinykv/ctl.rs`) parses the command line and calls one
//! [`CtlClient`] method per command; the end-to-end tests call the same
//! methods or the binary.
//!
//! | file | what it owns |
//! |---|---|
//! | `ctl_client.rs` | [`CtlClient`]: runtime, scheduler, the retry loop of routed commands, [`Output`] |
//! | `region_router.rs` | [`RegionRouter`]: which store to ask (scheduler first, then region errors), store clients |
//! | `raw_commands.rs` | `get`, `put`, `delete`, `scan` |
//! | `txn_commands.rs` | `txn get`, `txn put` (the lab 4 [`TxnClient`](crate::txn::TxnClient) over gRPC) |
//! | `remote_txn_stores.rs` | [`RemoteTxnStores`]: the transactional client's stores over gRPC; the scheduler's TSO as its oracle |
//! | `cluster_commands.rs` | `regions`, `stores`, `region KEY` |
//! | `admin_commands.rs` | `transfer-leader`, `add-peer`, `remove-peer` (scheduler operators), `split`, `compact`, `digest` (the stores' `Debug` service) |
//! | `snapshot_export.rs` | `snapshot export REGION DIR` |
//! | `ctl_error.rs` | [`CtlError`] |
//!
//! Each command's hops are in its file's docs and in `docs/ctl.md`. Runs
//! on the caller's thread; the network calls run on the client's own
//! tokio runtime.

mod admin_commands;
mod cluster_commands;
mod ctl_client;
mod ctl_error;
mod raw_commands;
mod region_router;
mod remote_txn_stores;
mod snapshot_export;
mod txn_commands;

pub use admin_commands::ReplicaDigest;
pub use cluster_commands::{peer_json, region_json, region_line};
pub use ctl_client::{text, CtlClient, Outcome, Output, COMMAND_DEADLINE};
pub use ctl_error::CtlError;
pub use region_router::{RegionRouter, Route, StoreClients, STORE_CALL_TIMEOUT};
pub use remote_txn_stores::RemoteTxnStores;
