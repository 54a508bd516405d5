//! # server: request handlers
//!
//! The code that turns client requests (`kvrpcpb`) into reads and writes on
//! a [`storage::Storage`]. The handlers do not know which storage they run
//! on: in lab 1 it is `storage::StandaloneStorage`; from lab 2B on it is
//! [`RaftStorage`], which replicates every write through raft. The gRPC
//! service of a store process (`network::TinyKvService`) calls these
//! handlers, on tokio's blocking pool, except the writes' async twins
//! (`raw_put_async`, `raw_delete_async`), which it awaits.
//!
//! | type | file | what it does |
//! |---|---|---|
//! | [`Server`] | `server.rs` | owns the storage; the entry point for every handler |
//! | raw API | `raw_api.rs` | `raw_get`, `raw_put`, `raw_delete`, `raw_scan` |
//! | transactional API | `txn/` | the Percolator commands `kv_get`, `kv_prewrite`, `kv_commit` (lab 4B), `kv_scan`, `kv_check_txn_status`, `kv_batch_rollback`, `kv_resolve_lock` (lab 4C), and their latches |
//! | [`RaftStorage`] | `raft_storage.rs` | `Storage` on a raft-replicated store (lab 2B) |
//!
//! Handlers never return `Err` and never panic: every failure goes into the
//! response, as `region_error` (the client should retry elsewhere or
//! refresh its region info) or `error` (a message for the user; a
//! `KeyError` in the transactional API).
//! Handlers run on the caller's thread.

#![deny(missing_docs)]

mod raft_storage;
mod raw_api;
mod server;
mod txn;

pub use raft_storage::RaftStorage;
pub use raw_api::MAX_SCAN_LIMIT;
pub use server::Server;
