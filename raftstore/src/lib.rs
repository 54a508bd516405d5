//! # raftstore: many raft groups over one store's engines
//!
//! A store holds one **peer** for each region it replicates. raftstore
//! drives each peer's raft node (the `raft` crate) over the store's
//! RocksDB engines (the `storage` crate), with named worker threads joined
//! by crossbeam channels; the folders show the design: `worker/` holds one
//! file per worker thread, `peer/` one file per part of a peer's life. Start here: [`RaftStore`] (`raft_store.rs`) says
//! which threads exist and how they are started and stopped.
//!
//! | file | thread | role |
//! |---|---|---|
//! | `raft_store.rs` | caller | start/stop a store; load its regions |
//! | `router.rs` | any | region id → raft worker mailbox; unknown region → store worker |
//! | `worker/raft_worker.rs` | `raft_worker` | drain peer messages in batches, handle Readies |
//! | `peer/peer_msg_handler.rs` | `raft_worker` | one message: step, propose, tick, snapshot results |
//! | `peer/mod.rs` | `raft_worker` | a peer and its Ready cycle: persist, send, apply, advance |
//! | `peer/apply.rs` | `raft_worker` | apply committed entries to the kv engine, answer callbacks |
//! | `peer/peer_storage.rs` | `raft_worker` | `raft::Storage` on the raft engine |
//! | `peer/snapshot_state.rs` | `raft_worker` | the SnapState machine behind `PeerStorage::snapshot` |
//! | `peer/peer_snapshot.rs` | `raft_worker` | follower side: check, persist Applying, finish |
//! | `peer/admin_propose.rs` | `raft_worker` | leader side of TransferLeader, ChangePeer, Split (lab 3B) |
//! | `peer/admin_apply.rs` | `raft_worker` | apply ChangePeer and Split; create a split's new peer (lab 3B) |
//! | `peer/peer_destroy.rs` | `raft_worker` | destroy a removed peer; tombstone messages (lab 3B) |
//! | `worker/split_check.rs` | `split_check` | measure a region, find its split key, ask for ids |
//! | `worker/scheduler_task.rs` | `scheduler_task` | region and store heartbeats; execute operator steps |
//! | `scheduler_client.rs` | — | the `SchedulerClient` trait (ids for splits, heartbeats) |
//! | `worker/store_worker.rs` | `store_worker` | create peers for new regions; snapshot GC |
//! | `worker/region_task.rs` | `region_task` (routes), `region_task_apply`, `region_task_gen` | generate / apply / destroy snapshots |
//! | `worker/raftlog_gc.rs` | `raftlog_gc` | delete compacted log entries |
//! | `worker/snap_runner.rs` | `snap_runner` (+ transport's thread, `snap_receive`) | stream snapshots in chunks; receive them |
//! | `snapshot_pairs.rs` | generation, sender, receiver | the key-value pair format a raft snapshot streams in |
//! | `pair_chunk_stream.rs` | `snap_runner` (sender) | a raft snapshot's chunks, built from the pinned engine snapshot |
//! | `snapshot_file_reader.rs` | debug service (export) | an exported snapshot file read once, in chunks, with direct I/O |
//! | `checksummed_writer.rs` | `tinykv ctl` (export) | a snapshot file written with its CRC32 computed on the way |
//! | `snap_manager.rs` | shared | the snapshot directory, registry and GC |
//! | `snapshot_metrics.rs` | shared | time spent in each phase of the snapshot pipeline |
//! | `transport.rs` | — | the `Transport` trait (how messages reach other stores) |
//! | `bootstrap.rs` | caller | store ident and first region |
//! | `region_snapshot.rs` | any | a region's data at one moment, as a `StorageReader` |
//! | `failpoints.rs` | — | the failpoints of the snapshot, split and destroy paths (tests only) |
//! | `msg.rs`, `store_context.rs`, `store_meta.rs`, `config.rs`, `errors.rs`, `chain.rs` | — | shared types |
//!
//! The call chains (a Put from client to callback; a snapshot from
//! generation to ingest; a conf change and a split) are walked hop by hop
//! in `docs/write-path.md`, `docs/snapshot.md` and
//! `docs/conf-change-and-split.md`.

#![deny(missing_docs)]

pub mod bootstrap;
pub mod chain;
pub mod checksummed_writer;
mod config;
mod errors;
pub mod failpoints;
mod msg;
mod pair_chunk_stream;
mod peer;
mod raft_store;
mod region_snapshot;
mod router;
mod scheduler_client;
pub mod snap_manager;
mod snapshot_file_reader;
pub mod snapshot_metrics;
pub mod snapshot_pairs;
#[cfg(test)]
mod snapshot_test_support;
mod store_context;
mod store_meta;
mod transport;
pub mod worker;

pub use config::Config;
pub use errors::{Error, Result};
pub use msg::{
    AsyncCallbackReceiver, Callback, CallbackReceiver, CmdResponse, PeerMsg, RaftCommand, StoreMsg,
};
pub use peer::peer_storage::{PeerStorage, RAFT_INIT_LOG_INDEX, RAFT_INIT_LOG_TERM};
pub use peer::snapshot_state::{SnapState, SnapshotState};
pub use peer::{Peer, StagedReady};
pub use raft_store::RaftStore;
pub use region_snapshot::RegionSnapshot;
pub use router::{RegionMessage, Router};
pub use scheduler_client::{SchedulerClient, SplitIds};
pub use store_meta::{RegionStatus, StoreMeta};
pub use transport::Transport;
// The workers' task types are public (tests drive the region worker
// directly); keep their short paths.
pub use worker::{raftlog_gc, region_task, scheduler_task, snap_runner, split_check};
