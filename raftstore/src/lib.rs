//! # raftstore: many raft groups over one store's engines
//!
//! This crate will drive the `raft` crate over the RocksDB engines of
//! `storage`. It is filled in by lab 2B (the store) and lab 2C (log
//! compaction and snapshots). What will live here, one file each:
//!
//! * `router`: region id to peer mailbox, plus the store mailbox.
//! * `raft_worker`: the thread that steps peers, handles their Ready
//!   (persist, send, apply) and answers proposal callbacks.
//! * `store_worker`: store ticks and store messages; creates peers.
//! * `peer_storage`: `raft::Storage` on the raft DB.
//! * `region_task`, `raftlog_gc`, `snap_runner`: the snapshot and log
//!   compaction workers.
//!
//! Until then the crate only compiles, so the workspace shows its shape.
