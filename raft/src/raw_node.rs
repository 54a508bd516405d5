//! The application's handle on a raft node: [`RawNode`] and the [`Ready`]
//! it produces.
//!
//! The application drives a [`RawNode`] from one thread: it calls
//! [`tick`](RawNode::tick) on a timer, [`step`](RawNode::step) for every
//! message from the network and [`propose`](RawNode::propose) for client
//! commands. Whenever [`has_ready`](RawNode::has_ready) is true it takes a
//! [`Ready`], persists, sends, applies (in that order, see the crate docs),
//! and hands the Ready back to [`advance`](RawNode::advance).

use bytes::Bytes;
use proto::eraftpb::{ConfChange, ConfState, Entry, HardState, Message, MessageType, Snapshot};

use crate::config::Config;
use crate::errors::{Error, Result};
use crate::progress_map::ProgressMap;
use crate::raft::{Raft, SoftState, StateRole};
use crate::read_only::ReadState;
use crate::storage::Storage;
use crate::util::{is_empty_snapshot, is_local_message, is_response_message};

/// The outcome of sending a snapshot, reported by the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotStatus {
    /// The follower received the snapshot.
    Finish,
    /// Sending failed; the leader probes the follower again.
    Failure,
}

/// Everything raft wants the application to do, in one batch. Parts with
/// nothing to do are `None` or empty.
#[derive(Debug, Default, PartialEq)]
pub struct Ready {
    /// The new role / leader, if it changed. Not persisted.
    pub soft_state: Option<SoftState>,
    /// The new term / vote / commit, if it changed. Persist it before sending
    /// `messages`.
    pub hard_state: Option<HardState>,
    /// Entries to append to stable storage before sending `messages`.
    pub entries: Vec<Entry>,
    /// A snapshot from the leader to apply to storage (empty = none).
    pub snapshot: Snapshot,
    /// Committed entries to apply to the state machine, in order.
    pub committed_entries: Vec<Entry>,
    /// Messages to send to peers, after persisting the above.
    pub messages: Vec<Message>,
    /// Confirmed read requests: serve each once `applied >= index`.
    pub read_states: Vec<ReadState>,
    /// What this Ready handed out, recorded when it was made: `advance`
    /// must not depend on what the caller left in the fields above (an
    /// application may move the entries or the snapshot out of the Ready).
    handed_out: HandedOut,
}

/// The positions a [`Ready`] handed out (see `Ready::handed_out`).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct HandedOut {
    /// (index, term) of the last entry to persist.
    last_entry: Option<(u64, u64)>,
    /// The index of the snapshot to apply.
    snapshot_index: Option<u64>,
    /// The index of the last committed entry to apply.
    last_committed: Option<u64>,
}

/// A snapshot of a node's state, for monitoring and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// The node's id.
    pub id: u64,
    /// Term, vote, commit.
    pub hard_state: HardState,
    /// Role and leader.
    pub soft_state: SoftState,
    /// The applied index.
    pub applied: u64,
    /// Each peer's progress, only on a leader.
    pub progress: Option<ProgressMap>,
}

/// A raft node as the application uses it: wraps [`Raft`] and tracks what
/// was already handed out so [`ready`](Self::ready) returns only news.
pub struct RawNode<T: Storage> {
    /// The state machine (public for tests and the simulation).
    pub raft: Raft<T>,
    prev_soft_state: SoftState,
    prev_hard_state: HardState,
    /// The entry buffer of the last Ready, emptied, for the next one (no
    /// new Vec per Ready).
    spare_entries: Vec<Entry>,
}

impl<T: Storage> RawNode<T> {
    /// A node configured by `config` over `store` (see [`Raft::new`]).
    pub fn new(config: &Config, store: T) -> Result<RawNode<T>> {
        let raft = Raft::new(config, store)?;
        let prev_soft_state = raft.soft_state();
        let prev_hard_state = raft.hard_state();
        Ok(RawNode {
            raft,
            prev_soft_state,
            prev_hard_state,
            spare_entries: Vec::new(),
        })
    }

    /// Advances the clock one tick; true if there may be a new Ready.
    pub fn tick(&mut self) -> bool {
        self.raft.tick()
    }

    /// Starts an election now instead of waiting for the timeout.
    pub fn campaign(&mut self) -> Result<()> {
        let mut m = Message::new();
        m.set_msg_type(MessageType::MsgHup);
        self.raft.step(m)
    }

    /// Proposes `data` to be appended to the log. Fails with
    /// [`Error::ProposalDropped`] when there is no leader to take it (or a
    /// leader transfer is in progress). `context` travels with the proposal
    /// message only; entries have no context field.
    pub fn propose(&mut self, context: Vec<u8>, data: Vec<u8>) -> Result<()> {
        let mut e = Entry::new();
        // Vec -> Bytes takes over the allocation: no copy.
        e.data = Bytes::from(data);
        let mut m = Message::new();
        m.set_msg_type(MessageType::MsgPropose);
        m.from = self.raft.id;
        m.context = Bytes::from(context);
        m.entries.push(e);
        self.raft.step(m)
    }

    /// Proposes a membership change. Only one may be pending: a second one
    /// proposed before the first is applied is replaced by an empty entry.
    pub fn propose_conf_change(&mut self, context: Vec<u8>, cc: ConfChange) -> Result<()> {
        let e = Raft::<T>::conf_change_entry(&cc)?;
        let mut m = Message::new();
        m.set_msg_type(MessageType::MsgPropose);
        m.from = self.raft.id;
        m.context = Bytes::from(context);
        m.entries.push(e);
        self.raft.step(m)
    }

    /// Applies a committed conf change to raft's membership and returns the
    /// new membership (to persist with the applied state).
    pub fn apply_conf_change(&mut self, cc: &ConfChange) -> Result<ConfState> {
        self.raft.apply_conf_change(cc)?;
        // The progress map is in id order already.
        let nodes: Vec<u64> = self.raft.prs().keys().copied().collect();
        let mut cs = ConfState::new();
        cs.nodes = nodes;
        Ok(cs)
    }

    // lab 2AC: begin — refuse local messages; hand out only what is new since the last Ready; advance marks it handled (docs/labs/lab2a.md#ready)
    /// Steps a message from the network. Local message types are refused
    /// with [`Error::StepLocalMsg`], responses from non-members with
    /// [`Error::StepPeerNotFound`].
    pub fn step(&mut self, m: Message) -> Result<()> {
        let msg_type = m.msg_type();
        if is_local_message(msg_type) {
            return Err(Error::StepLocalMsg);
        }
        // The cheap test first: only responses need the membership look-up.
        if !is_response_message(msg_type) || self.raft.prs().contains_key(&m.from) {
            return self.raft.step(m);
        }
        Err(Error::StepPeerNotFound)
    }

    /// Whether [`ready`](Self::ready) has anything to hand out.
    pub fn has_ready(&self) -> bool {
        let raft = &self.raft;
        if raft.soft_state() != self.prev_soft_state {
            return true;
        }
        let hs = raft.hard_state();
        if hs != HardState::default() && hs != self.prev_hard_state {
            return true;
        }
        raft.raft_log.pending_snapshot().is_some()
            || !raft.raft_log.unstable_entries().is_empty()
            || raft.raft_log.has_next_entries()
            || !raft.msgs.is_empty()
            || !raft.read_states.is_empty()
    }

    /// Collects what the application must do now. Messages and read states
    /// are moved out; the rest stays until [`advance`](Self::advance).
    pub fn ready(&mut self) -> Ready {
        let raft = &mut self.raft;
        let soft_state = raft.soft_state();
        let hard_state = raft.hard_state();
        let mut entries = std::mem::take(&mut self.spare_entries);
        entries.extend_from_slice(raft.raft_log.unstable_entries());
        let snapshot = raft
            .raft_log
            .pending_snapshot()
            .cloned()
            .unwrap_or_default();
        let committed_entries = raft.raft_log.next_entries().unwrap_or_default();
        let handed_out = HandedOut {
            last_entry: entries.last().map(|entry| (entry.index, entry.term)),
            snapshot_index: (!is_empty_snapshot(&snapshot)).then(|| snapshot.metadata().index),
            last_committed: committed_entries.last().map(|entry| entry.index),
        };
        Ready {
            soft_state: (soft_state != self.prev_soft_state).then_some(soft_state),
            hard_state: (hard_state != HardState::default() && hard_state != self.prev_hard_state)
                .then_some(hard_state),
            entries,
            snapshot,
            committed_entries,
            messages: std::mem::take(&mut raft.msgs),
            read_states: std::mem::take(&mut raft.read_states),
            handed_out,
        }
    }

    /// The application finished with `rd`: its entries and snapshot are
    /// persisted and its committed entries applied. Works from what the
    /// Ready handed out, so the caller may have moved its fields out.
    pub fn advance(&mut self, rd: Ready) {
        let last_committed = rd.handed_out.last_committed;
        self.advance_append(rd);
        if let Some(index) = last_committed {
            self.advance_apply_to(index);
        }
    }

    /// Like [`advance`](Self::advance) for an application that applies
    /// committed entries on its own schedule (raftstore holds them while a
    /// snapshot is being applied): records `rd`'s states, entries and
    /// snapshot as persisted, but not its committed entries as applied.
    /// Report those with [`advance_apply_to`](Self::advance_apply_to).
    pub fn advance_append(&mut self, rd: Ready) {
        if let Some(ss) = rd.soft_state {
            self.prev_soft_state = ss;
        }
        if let Some(hs) = rd.hard_state {
            self.prev_hard_state = hs;
        }
        let raft_log = &mut self.raft.raft_log;
        if let Some(index) = rd.handed_out.snapshot_index {
            raft_log.stable_snap_to(index);
            // The snapshot's state is now the application's state.
            if index > raft_log.applied {
                raft_log.applied_to(index);
            }
        }
        if let Some((index, term)) = rd.handed_out.last_entry {
            raft_log.stable_to(index, term);
        }
        // Keep the Ready's buffers for the next one rather than growing new
        // Vecs from zero: the entries' always, the messages' if the
        // application drained it (moving the Vec out leaves nothing to keep).
        let mut entries = rd.entries;
        entries.clear();
        self.spare_entries = entries;
        if rd.messages.is_empty() && self.raft.msgs.is_empty() {
            self.raft.msgs = rd.messages;
        }
    }

    /// The application applied every committed entry up to `index`.
    pub fn advance_apply_to(&mut self, index: u64) {
        if index > self.raft.raft_log.applied {
            self.raft.raft_log.applied_to(index);
        }
    }
    // lab 2AC: end

    /// Asks the leader to hand leadership to `transferee`.
    pub fn transfer_leader(&mut self, transferee: u64) {
        let mut m = Message::new();
        m.set_msg_type(MessageType::MsgTransferLeader);
        m.from = transferee;
        if let Err(e) = self.raft.step(m) {
            log::warn!(
                "{} leader transfer to {} failed: {}",
                self.raft.id,
                transferee,
                e
            );
        }
    }

    /// Requests a linearizable read. The answer comes back as a
    /// [`ReadState`] with the same `rctx` in a later Ready; a request made
    /// without a known leader is dropped (retry later).
    pub fn read_index(&mut self, rctx: Vec<u8>) {
        let mut e = Entry::new();
        e.data = Bytes::from(rctx);
        let mut m = Message::new();
        m.set_msg_type(MessageType::MsgReadIndex);
        m.entries.push(e);
        if let Err(e) = self.raft.step(m) {
            log::warn!("{} read index failed: {}", self.raft.id, e);
        }
    }

    /// Reports whether sending a snapshot to `id` succeeded.
    pub fn report_snapshot(&mut self, id: u64, status: SnapshotStatus) {
        self.raft.report_snapshot(id, status);
    }

    /// Reports that the last message to `id` could not be delivered.
    pub fn report_unreachable(&mut self, id: u64) {
        self.raft.report_unreachable(id);
    }

    /// The node's current state.
    pub fn status(&self) -> Status {
        let raft = &self.raft;
        Status {
            id: raft.id,
            hard_state: raft.hard_state(),
            soft_state: raft.soft_state(),
            applied: raft.raft_log.applied,
            progress: (raft.state == StateRole::Leader).then(|| raft.prs().clone()),
        }
    }
}
