//! The Raft consensus algorithm as a pure state machine: no I/O, no threads.
//!
//! This crate decides *what* must happen in a Raft group: which entries to
//! append, which messages to send, what is committed. It never touches a
//! disk, a socket or a clock. The application (in tinykv-rs: raftstore)
//! persists, sends and applies, and tells raft what happened. That split
//! keeps the algorithm deterministic and easy to test: the lab tests drive
//! nodes message by message over an in-memory network.
//!
//! The design follows etcd's raft (and raft-rs), with TinyKV's `Ready`
//! API. The main types:
//!
//! | type | role |
//! |---|---|
//! | [`RawNode`] | the application's handle: tick, step, propose, ready, advance |
//! | [`Raft`] | the state machine itself (elections, replication, snapshots, ...) |
//! | [`RaftLog`] | the log: [`Storage`] (persisted) + [`Unstable`] (not yet) |
//! | [`Progress`] | the leader's view of each follower |
//! | [`Storage`], [`MemStorage`] | read access to persisted state; an in-memory one |
//! | [`Ready`] | one batch of work for the application |
//!
//! # Creating a node
//!
//! A node needs a [`Config`] and a [`Storage`]. A brand-new group lists its
//! members in `Config::peers`; a restarting node leaves `peers` empty and
//! gets everything (hard state, membership, log) from its storage.
//!
//! ```
//! use raft::{Config, MemStorage, RawNode};
//!
//! let config = Config {
//!     id: 1,
//!     peers: vec![1],
//!     election_tick: 10,
//!     heartbeat_tick: 1,
//!     // Tests and simulations seed the election timer so runs repeat.
//!     random_seed: Some(42),
//!     ..Config::default()
//! };
//! config.validate().unwrap();
//! let storage = MemStorage::new();
//! let node = RawNode::new(&config, storage).unwrap();
//! assert_eq!(node.raft.id, 1);
//! ```
//!
//! # Ticking
//!
//! Raft counts time in ticks. Call [`RawNode::tick`] at a fixed interval
//! (raftstore uses 100 ms): a follower that hears no leader for an
//! election timeout (random in `[election_tick, 2 * election_tick)`)
//! starts an election; a leader sends heartbeats every `heartbeat_tick`.
//!
//! ```
//! # use raft::{Config, MemStorage, RawNode, StateRole};
//! # let config = Config { id: 1, peers: vec![1], random_seed: Some(42), ..Config::default() };
//! # let mut node = RawNode::new(&config, MemStorage::new()).unwrap();
//! // A single-node group elects itself once its election timeout passes.
//! for _ in 0..2 * config.election_tick {
//!     node.tick();
//! }
//! assert_eq!(node.raft.state, StateRole::Leader);
//! ```
//!
//! Messages from other nodes go in with [`RawNode::step`]; an application
//! can also start an election at once with [`RawNode::campaign`].
//!
//! # Proposing
//!
//! Only a leader accepts proposals (a follower forwards them to its
//! leader); with no leader, [`RawNode::propose`] fails with
//! [`Error::ProposalDropped`] and the client should retry later.
//! Membership changes go through [`RawNode::propose_conf_change`].
//!
//! ```
//! # use raft::{Config, MemStorage, RawNode};
//! # let config = Config { id: 1, peers: vec![1], random_seed: Some(42), ..Config::default() };
//! # let mut node = RawNode::new(&config, MemStorage::new()).unwrap();
//! node.campaign().unwrap();
//! node.propose(vec![], b"put k v".to_vec()).unwrap();
//! // The proposal is now the last entry of the leader's log.
//! let last = node.raft.raft_log.last_index();
//! assert_eq!(node.raft.raft_log.term(last).unwrap(), node.raft.term);
//! ```
//!
//! # Processing the Ready state
//!
//! After ticking, stepping or proposing, check [`RawNode::has_ready`]. If
//! true, take a [`Ready`] with [`RawNode::ready`] and handle it in this
//! order. The order matters: a node must never send a message promising
//! something (a vote, an acknowledged entry) that a crash could make it
//! forget (Raft paper, Figure 2: "updated on stable storage before
//! responding to RPCs").
//!
//! 1. **Persist.** Apply `snapshot` to storage if it is not empty, append
//!    `entries`, and save `hard_state` if it is `Some` (term, vote, commit).
//!
//! ```
//! # use raft::{is_empty_snapshot, Config, MemStorage, RawNode};
//! # let config = Config { id: 1, peers: vec![1], random_seed: Some(42), ..Config::default() };
//! # let storage = MemStorage::new();
//! # let mut node = RawNode::new(&config, storage.clone()).unwrap();
//! # node.campaign().unwrap();
//! let ready = node.ready();
//! if !is_empty_snapshot(&ready.snapshot) {
//!     storage.wl().apply_snapshot(ready.snapshot.clone()).unwrap();
//! }
//! storage.wl().append(&ready.entries).unwrap();
//! if let Some(hard_state) = &ready.hard_state {
//!     storage.wl().set_hardstate(hard_state.clone());
//! }
//! # assert_eq!(ready.entries.len(), 1);
//! # node.advance(ready);
//! ```
//!
//! 2. **Send** `messages` to their destinations (`message.to`). Delivery
//!    may fail or reorder; raft copes. Report a failed snapshot with
//!    [`RawNode::report_snapshot`] and an unreachable peer with
//!    [`RawNode::report_unreachable`].
//!
//! ```
//! # use raft::{Config, MemStorage, RawNode};
//! # let config = Config { id: 1, peers: vec![1, 2, 3], random_seed: Some(42), ..Config::default() };
//! # let storage = MemStorage::new();
//! # let mut node = RawNode::new(&config, storage.clone()).unwrap();
//! # node.campaign().unwrap();
//! # let mut ready = node.ready();
//! # if let Some(hs) = &ready.hard_state { storage.wl().set_hardstate(hs.clone()); }
//! // In a 3-node group the candidate asks both others for votes.
//! let messages = std::mem::take(&mut ready.messages);
//! for message in messages {
//!     assert!(message.to == 2 || message.to == 3);
//!     // transport.send(message) in a real application
//! }
//! # node.advance(ready);
//! ```
//!
//! 3. **Apply** `committed_entries` to the state machine in order. An
//!    `EntryConfChange` entry carries a [`ConfChange`](proto::eraftpb::ConfChange):
//!    apply it with [`RawNode::apply_conf_change`] and persist the
//!    returned membership. Serve each of `read_states` once the applied
//!    index reaches its `index`.
//!
//! ```
//! # use proto::eraftpb::{ConfChange, ConfChangeType, EntryType};
//! # use protobuf::Message as _;
//! # use raft::{Config, MemStorage, RawNode};
//! # let config = Config { id: 1, peers: vec![1], random_seed: Some(42), ..Config::default() };
//! # let storage = MemStorage::new();
//! # let mut node = RawNode::new(&config, storage.clone()).unwrap();
//! # node.campaign().unwrap();
//! # let mut cc = ConfChange::new();
//! # cc.set_change_type(ConfChangeType::AddNode);
//! # cc.node_id = 2;
//! # node.propose_conf_change(vec![], cc).unwrap();
//! # let ready = node.ready();
//! # storage.wl().append(&ready.entries).unwrap();
//! for entry in &ready.committed_entries {
//!     match entry.entry_type() {
//!         EntryType::EntryNormal if entry.data.is_empty() => {
//!             // The no-op a new leader appends: nothing to apply.
//!         }
//!         EntryType::EntryNormal => {
//!             // state_machine.apply(&entry.data) in a real application
//!         }
//!         EntryType::EntryConfChange => {
//!             let cc = ConfChange::parse_from_bytes(&entry.data).unwrap();
//!             let conf_state = node.apply_conf_change(&cc).unwrap();
//!             storage.wl().set_conf_state(conf_state);
//!         }
//!     }
//! }
//! # assert_eq!(node.raft.prs().len(), 2);
//! # node.advance(ready);
//! ```
//!
//! 4. **Advance**: hand the Ready back with [`RawNode::advance`], which
//!    marks its entries stable and its committed entries applied. Only
//!    then take the next Ready.
//!
//! ```
//! # use raft::{Config, MemStorage, RawNode};
//! # let config = Config { id: 1, peers: vec![1], random_seed: Some(42), ..Config::default() };
//! # let storage = MemStorage::new();
//! # let mut node = RawNode::new(&config, storage.clone()).unwrap();
//! # node.campaign().unwrap();
//! let ready = node.ready();
//! storage.wl().append(&ready.entries).unwrap();
//! # if let Some(hs) = &ready.hard_state { storage.wl().set_hardstate(hs.clone()); }
//! let last_committed = ready.committed_entries.last().map(|e| e.index);
//! node.advance(ready);
//! assert_eq!(Some(node.raft.raft_log.applied), last_committed);
//! assert!(!node.has_ready());
//! ```
//!
//! # Further reading
//!
//! Section numbers in the code and tests refer to the Raft paper ("In
//! Search of an Understandable Consensus Algorithm", extended version) and,
//! for PreVote, CheckQuorum, leader transfer and ReadIndex, to Diego
//! Ongaro's thesis ("Consensus: Bridging Theory and Practice").

#![deny(missing_docs)]

mod config;
mod errors;
mod inflights;
mod log_unstable;
mod progress;
mod progress_map;
mod raft;
mod raft_log;
mod raw_node;
mod read_only;
mod storage;
mod util;

pub use crate::config::Config;
pub use crate::errors::{Error, Result, StorageError};
pub use crate::inflights::Inflights;
pub use crate::log_unstable::Unstable;
pub use crate::progress::{Progress, ProgressState};
pub use crate::progress_map::ProgressMap;
pub use crate::raft::{Raft, SoftState, StateRole};
pub use crate::raft_log::RaftLog;
pub use crate::raw_node::{RawNode, Ready, SnapshotStatus, Status};
pub use crate::read_only::{ReadIndexStatus, ReadOnly, ReadState};
pub use crate::storage::{MemStorage, MemStorageCore, RaftState, Storage};
pub use crate::util::is_empty_snapshot;

/// The id meaning "no node" (no leader, no vote).
pub const INVALID_ID: u64 = 0;
/// The index meaning "no entry".
pub const INVALID_INDEX: u64 = 0;
