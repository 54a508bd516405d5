//! [`Peer`]: one replica of one region on this store: its raft node, its
//! pending proposals, and the Ready handling that persists, sends and
//! applies. The folder holds the rest of a peer's life, one concern per
//! file, all on the raft worker thread: `peer_msg_handler.rs` (each
//! message), `peer_storage.rs` and `snapshot_state.rs` (raft's storage),
//! `apply.rs`, `peer_snapshot.rs`, and lab 3B's `admin_propose.rs`,
//! `admin_apply.rs`, `peer_destroy.rs`.
//!
//! Runs on the raft worker thread only (the raft worker owns every peer).
//! In: raft messages and proposals, through `PeerMsgHandler`. Out: raft
//! messages through the `Transport`, snapshots through snap_runner, command
//! results through each proposal's `Callback`.
//!
//! The Ready cycle, in the order `raft`'s lib.rs demands:
//!
//! 1. **Persist** (`Peer::handle_raft_ready`): new entries and the hard
//!    state are staged in a raft-engine write batch; the raft worker writes
//!    the batches of every peer of its iteration as one *synced* write
//!    (`RaftWorker::handle_readies`). A received snapshot is persisted as
//!    `Applying` and handed to the region worker.
//! 2. **Send** (`Peer::post_raft_ready`, as 3 and 4): only now, because a vote or an append acknowledgement
//!    promises that what it acknowledges is on disk.
//! 3. **Apply** (`Peer::apply_committed_entries`, in `apply.rs`): committed
//!    entries are applied to the kv engine, with the apply state in the same
//!    write batch; then the proposals' callbacks are answered.
//! 4. **Advance**: tell raft the Ready was handled.

pub(crate) mod admin_apply;
pub(crate) mod admin_propose;
mod apply;
mod peer_destroy;
pub(crate) mod peer_msg_handler;
mod peer_snapshot;
pub mod peer_storage;
pub mod snapshot_state;

use std::collections::{HashMap, VecDeque};

use log::{debug, info, warn};
use proto::eraftpb::{Message, MessageType};
use proto::metapb;
use proto::raft_serverpb::RaftMessage;
use raft::{RawNode, StateRole};
use storage::{Engines, WriteBatch};

use crate::chain::chain;
use crate::config::Config;
use crate::errors::{Error, Result};
use crate::msg::Callback;
use crate::peer::peer_storage::PeerStorage;
use crate::peer::snapshot_state::SnapshotState;
use crate::store_context::StoreContext;
use crate::store_meta::RegionStatus;
use crate::worker::scheduler_task::SchedulerTask;
use crate::worker::snap_runner::SnapTask;

/// A Ready whose writes are staged but not yet on disk: what
/// `Peer::handle_raft_ready` hands the raft worker, which writes the
/// batches of every peer of its iteration as one raft-engine write (one
/// disk wait for all of them) and then gives each back to
/// `Peer::post_raft_ready`.
pub struct StagedReady {
    /// The Ready, its messages and committed entries still in it.
    pub ready: raft::Ready,
    /// Its entries and hard state, for the raft engine.
    pub raft_batch: WriteBatch,
    /// Whether the write must be synced before the messages go: it holds
    /// entries, or a new term or vote.
    pub must_sync: bool,
}

/// A command waiting for its log entry to be applied.
#[derive(Debug)]
pub struct Proposal {
    /// The log index the command was proposed at.
    pub index: u64,
    /// The term it was proposed in. If the entry applied at `index` has
    /// another term, the command was overwritten and never applied.
    pub term: u64,
    /// Where the result goes.
    pub callback: Callback,
}

/// One replica of a region.
pub struct Peer {
    /// This peer (id and store).
    pub meta: metapb::Peer,
    /// The raft node; its storage is the peer's `PeerStorage`.
    pub raft_group: RawNode<PeerStorage>,
    /// Every peer of the region we have heard of, by raft id: where to send.
    pub peer_cache: HashMap<u64, metapb::Peer>,
    /// Commands proposed and not yet applied, in log order.
    pub proposals: VecDeque<Proposal>,
    /// Set when the peer is destroyed; a stopped peer handles nothing.
    pub stopped: bool,
    /// Base ticks since the last raft-log GC check.
    pub ticks_since_log_gc: u64,
    /// The highest compact index this peer proposed as leader (so a
    /// CompactLog in flight is not proposed again).
    pub last_proposed_compact_index: u64,
    /// The snapshot being applied (kept to retry a failed apply).
    pub applying_snapshot: Option<proto::eraftpb::Snapshot>,
    /// How many times the current snapshot apply was attempted.
    pub apply_attempts: u32,
    /// The applied index of the last snapshot taken by request (a request
    /// with nothing applied since is ignored).
    pub last_requested_snapshot_index: u64,
    /// The peer was removed while applying a snapshot: destroy it as soon
    /// as the region worker reports back (never while it writes the range).
    pub pending_destroy: bool,
    /// Bytes written to the region (keys and values applied) since the
    /// last split check: a region that does not grow is not rescanned.
    pub size_diff_hint: u64,
    /// The region's size as split_check last measured it.
    pub approximate_size: Option<u64>,
    /// Base ticks since the last split check.
    pub ticks_since_split_check: u64,
    /// Base ticks since the last region heartbeat.
    pub ticks_since_heartbeat: u64,
    tag: String,
}

impl Peer {
    /// Creates the peer `meta` of `region`, loading its state from `engines`.
    pub fn new(
        store_id: u64,
        config: &Config,
        engines: Engines,
        region: metapb::Region,
        meta: metapb::Peer,
        snapshot_state: SnapshotState,
    ) -> Result<Peer> {
        let tag = format!("[region {}] peer {} (store {store_id})", region.id, meta.id);
        let storage = PeerStorage::new(engines, region, snapshot_state, tag.clone())?;
        let raft_config = raft::Config {
            id: meta.id,
            peers: Vec::new(),
            election_tick: config.raft_election_timeout_ticks,
            heartbeat_tick: config.raft_heartbeat_ticks,
            applied: storage.applied_index(),
            max_size_per_msg: config.raft_max_size_per_msg,
            max_inflight_msgs: config.raft_max_inflight_msgs,
            // A leader cut off from its quorum steps down (so clients stop
            // waiting on it), and a node rejoining after a partition cannot
            // depose a healthy leader.
            check_quorum: true,
            pre_vote: true,
            // Mixed with the peer id so peers of one store draw different timeouts.
            random_seed: config
                .raft_random_seed
                .map(|seed| seed ^ meta.id.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            // Off, as before it existed: whether the write path should merge
            // appends is for that path's own measurements to decide.
            batch_append: false,
        };
        let peer_cache = storage
            .region()
            .peers
            .iter()
            .map(|peer| (peer.id, peer.clone()))
            .collect();
        let raft_group = RawNode::new(&raft_config, storage)?;
        Ok(Peer {
            meta,
            raft_group,
            peer_cache,
            proposals: VecDeque::new(),
            stopped: false,
            ticks_since_log_gc: 0,
            last_proposed_compact_index: 0,
            last_requested_snapshot_index: 0,
            applying_snapshot: None,
            apply_attempts: 0,
            pending_destroy: false,
            size_diff_hint: 0,
            approximate_size: None,
            ticks_since_split_check: 0,
            ticks_since_heartbeat: 0,
            tag,
        })
    }

    /// The region id.
    pub fn region_id(&self) -> u64 {
        self.storage().region().id
    }

    /// The region as this peer knows it.
    pub fn region(&self) -> &metapb::Region {
        self.storage().region()
    }

    /// The peer's storage.
    pub fn storage(&self) -> &PeerStorage {
        &self.raft_group.raft.raft_log.store
    }

    /// The peer's storage, mutably.
    pub fn storage_mut(&mut self) -> &mut PeerStorage {
        &mut self.raft_group.raft.raft_log.store
    }

    /// "[region 1] peer 2 (store 2)", for log lines.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// Whether this peer is the region's leader.
    pub fn is_leader(&self) -> bool {
        self.raft_group.raft.state == StateRole::Leader
    }

    /// The current raft term.
    pub fn term(&self) -> u64 {
        self.raft_group.raft.term
    }

    /// The leader this peer believes in, if it knows its store.
    pub fn leader(&self) -> Option<metapb::Peer> {
        self.peer_cache
            .get(&self.raft_group.raft.leader_id)
            .cloned()
    }

    /// Publishes the peer's status for the store (and the test cluster's
    /// `RegionDirectory`).
    pub fn publish_status(&self, ctx: &StoreContext) {
        if self.stopped {
            // A destroyed peer has left StoreMeta for good.
            return;
        }
        let raft = &self.raft_group.raft;
        ctx.store_meta.update(RegionStatus {
            region: self.region().clone(),
            peer_id: self.meta.id,
            leader_id: raft.leader_id,
            term: raft.term,
            is_leader: self.is_leader(),
            applied_index: self.storage().applied_index(),
            first_index: self.storage().truncated_index() + 1,
            last_index: raft.raft_log.last_index(),
            applying_snapshot: self.storage().snapshot_state.borrow().is_applying(),
            approximate_size: self.approximate_size.unwrap_or(0),
        });
    }

    /// A leader reports its region to the scheduler (on its heartbeat tick,
    /// and right after a conf change or split, so the scheduler learns the
    /// new shape at once). Pending peers are those whose log is behind the
    /// leader's first index: they can only catch up by snapshot.
    pub fn heartbeat_scheduler(&self, ctx: &StoreContext) {
        if !self.is_leader() || self.stopped {
            return;
        }
        let first_index = self.storage().truncated_index() + 1;
        let progress = self.raft_group.raft.prs();
        let pending_peers = self
            .region()
            .peers
            .iter()
            .filter(|peer| {
                peer.id != self.meta.id
                    && progress
                        .get(&peer.id)
                        .is_some_and(|progress| progress.matched < first_index)
            })
            .cloned()
            .collect();
        let task = SchedulerTask::RegionHeartbeat {
            region: self.region().clone(),
            leader: self.meta.clone(),
            pending_peers,
            approximate_size: self.approximate_size.unwrap_or(0),
        };
        let _ = ctx.scheduler_task.send(task);
    }

    // lab 2B: begin [stub: Ok(None)] — persist: stage the entries and the hard state in a raft batch, to be synced unless only the commit moved (docs/labs/lab2b.md#ready-cycle)
    /// Takes the peer's Ready, if it has one, and stages what it must
    /// persist: its entries and hard state go into a raft-engine batch
    /// that the raft worker writes, together with the other peers' of this
    /// iteration, before anything of the Ready is sent
    /// (`RaftWorker::handle_readies`). A received snapshot is persisted
    /// here already. The rest is `Peer::post_raft_ready`.
    pub fn handle_raft_ready(&mut self, ctx: &StoreContext) -> Result<Option<StagedReady>> {
        if self.stopped {
            return Ok(None);
        }
        // While a snapshot is being applied the region's data is incomplete:
        // apply nothing and send nothing until the region worker is done.
        if self.storage().snapshot_state.borrow().is_applying() {
            return Ok(None);
        }
        if !self.raft_group.has_ready() {
            return Ok(None);
        }
        let ready = self.raft_group.ready();

        // The new hard state is staged first, so a snapshot persisted below
        // carries it (its commit index covers the snapshot; an older one
        // would be out of range after a restart).
        let hard_state_changed = ready.hard_state.is_some();
        // A new term or vote is a promise to other peers (Raft paper §5.1,
        // §5.2: persist currentTerm and votedFor before answering) and must
        // be synced; a hard state that only moved its commit index need
        // not be: entries up to it are already durable on a majority, and
        // a restart that finds it behind recovers it (PeerStorage::new).
        let promise_changed = ready.hard_state.as_ref().is_some_and(|hard_state| {
            let saved = self.storage().raft_state().hard_state();
            hard_state.term != saved.term || hard_state.vote != saved.vote
        });
        if let Some(hard_state) = &ready.hard_state {
            self.storage_mut().set_hard_state(hard_state.clone());
        }
        if !is_empty_snapshot(&ready.snapshot) {
            self.persist_snapshot(ctx, &ready.snapshot)?;
        }
        let mut raft_batch = WriteBatch::new();
        let entries_changed = !ready.entries.is_empty();
        self.storage_mut().append(&ready.entries, &mut raft_batch)?;
        if entries_changed || hard_state_changed {
            self.storage().write_raft_state(&mut raft_batch)?;
        }
        Ok(Some(StagedReady {
            ready,
            raft_batch,
            // Synced when the messages sent next acknowledge these entries
            // or this term and vote; a commit-only change is written
            // without waiting for the disk (one sync less per client write
            // on every replica, as etcd's MustSync).
            must_sync: entries_changed || promise_changed,
        }))
    }
    // lab 2B: end

    // lab 2B: begin [stub: Ok(())] — once the staged batch is written: send, then apply, then advance (docs/labs/lab2b.md#ready-cycle)
    /// Finishes a Ready staged by `Peer::handle_raft_ready`, once the raft
    /// worker wrote its batch: send, apply, advance.
    pub fn post_raft_ready(&mut self, ctx: &StoreContext, staged: StagedReady) -> Result<()> {
        let mut ready = staged.ready;

        // Send, now that what the messages promise is on disk.
        let messages = std::mem::take(&mut ready.messages);
        self.send_messages(ctx, messages);

        // Apply (skipped while a snapshot just handed to the region worker
        // is being applied: those entries come after it).
        let committed = std::mem::take(&mut ready.committed_entries);
        if !self.storage().snapshot_state.borrow().is_applying() {
            self.apply_committed_entries(ctx, committed)?;
        } else if !committed.is_empty() {
            debug!(
                "{} holds {} committed entries until the snapshot is applied",
                self.tag,
                committed.len()
            );
        }

        // Advance.
        let became_leader = ready
            .soft_state
            .as_ref()
            .is_some_and(|soft_state| soft_state.raft_state == StateRole::Leader);
        if became_leader {
            info!("{} became leader at term {}", self.tag, self.term());
        }
        // Persisted, but applied only as far as apply_committed_entries
        // said: while a snapshot is being applied the committed entries are
        // held, and the next Ready must hand them out again.
        self.raft_group.advance_append(ready);
        self.publish_status(ctx);
        if became_leader {
            // Tell the scheduler at once, not at the next heartbeat tick:
            // it routes clients and sends operator steps to the leader.
            self.heartbeat_scheduler(ctx);
        }
        Ok(())
    }
    // lab 2B: end

    /// Wraps raft messages with routing information and sends them.
    /// Snapshots go to snap_runner, which streams the files.
    pub fn send_messages(&mut self, ctx: &StoreContext, messages: Vec<Message>) {
        for message in messages {
            let to = message.to;
            let Some(to_peer) = self.peer_cache.get(&to).cloned() else {
                warn!(
                    "{} has no address for peer {to}; dropping {:?}",
                    self.tag,
                    message.msg_type()
                );
                continue;
            };
            let mut raft_message = RaftMessage::new();
            raft_message.region_id = self.region_id();
            raft_message.from_peer = Some(self.meta.clone()).into();
            raft_message.to_peer = Some(to_peer).into();
            raft_message.region_epoch = Some(self.region().region_epoch().clone()).into();
            raft_message.start_key = self.region().start_key.clone();
            raft_message.end_key = self.region().end_key.clone();
            let is_snapshot = message.msg_type() == MessageType::MsgSnapshot;
            let snapshot_index = message.snapshot().metadata().index;
            raft_message.message = Some(message).into();
            if is_snapshot {
                chain!(
                    "Peer::send_messages",
                    self.region_id(),
                    snapshot_index,
                    "store {}: MsgSnapshot for peer {to} handed to snap_runner",
                    ctx.store_id
                );
                if ctx
                    .snap_runner
                    .send(SnapTask::Send {
                        message: raft_message,
                    })
                    .is_err()
                {
                    self.raft_group
                        .report_snapshot(to, raft::SnapshotStatus::Failure);
                }
                continue;
            }
            if let Err(error) = ctx.transport.send(raft_message) {
                debug!("{} failed to send to peer {to}: {error}", self.tag);
                self.raft_group.report_unreachable(to);
            }
        }
    }

    /// Answers every pending proposal with `error` (the peer is going away
    /// or lost the entries).
    pub fn fail_all_proposals(&mut self, error: &Error) {
        let term = self.term();
        for proposal in self.proposals.drain(..) {
            proposal.callback.fail(error, term);
        }
    }
}

/// Whether a Ready's snapshot is the empty default (no snapshot to apply).
pub fn is_empty_snapshot(snapshot: &proto::eraftpb::Snapshot) -> bool {
    snapshot.metadata().index == 0
}
