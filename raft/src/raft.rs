//! The Raft state machine of one node: elections, log replication,
//! snapshots, membership changes, leader transfer and read index.
//!
//! [`Raft`] does no I/O. The application (through
//! [`RawNode`](crate::RawNode)) feeds it messages with [`Raft::step`] and
//! time with [`Raft::tick`]; raft answers by queueing messages in
//! [`Raft::msgs`] and changing its log, which the application collects via
//! [`Ready`](crate::Ready). Section numbers in comments refer to the Raft
//! paper ("In Search of an Understandable Consensus Algorithm", extended
//! version) and to Diego Ongaro's thesis for PreVote, CheckQuorum, leader
//! transfer and ReadIndex.
//!
//! `step` first checks the message's term against ours (§5.1: a higher
//! term makes us a follower, a lower one is stale), handles the messages
//! every role treats alike (MsgHup, vote requests), then dispatches by role
//! to `step_leader`, `step_candidate` or `step_follower`.

use std::collections::HashMap;

use bytes::Bytes;
use log::{debug, error, info, warn};
use proto::eraftpb::{
    ConfChange, ConfChangeType, Entry, EntryType, HardState, Message, MessageType, Snapshot,
};
use protobuf::Message as _;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::Config;
use crate::errors::{Error, Result, StorageError};
use crate::progress::{Progress, ProgressState};
use crate::progress_map::ProgressMap;
use crate::raft_log::RaftLog;
use crate::raw_node::SnapshotStatus;
use crate::read_only::{ReadOnly, ReadState};
use crate::storage::Storage;
use crate::util::is_empty_snapshot;
use crate::{INVALID_ID, INVALID_INDEX};

/// The context of a MsgRequestVote sent because of a leader transfer: voters
/// honour it even while they believe a leader is alive (leader lease).
const CAMPAIGN_TRANSFER: &[u8] = b"CampaignTransfer";

/// At most this many bytes of an encoded Entry are not its data: the field
/// tags and the varints of its type, term and index (1 + 1 + 10 + 1 + 10 +
/// 1 + 5 for the data's length, rounded up).
const ENTRY_ENCODING_OVERHEAD: u64 = 32;

/// The role of a node (Raft paper §5.1, plus the PreVote role of thesis §9.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StateRole {
    /// Follows a leader (or waits for one).
    #[default]
    Follower,
    /// Asks for votes in a new term.
    Candidate,
    /// Asks whether it could win an election, without changing its term.
    PreCandidate,
    /// Handles proposals and replicates the log.
    Leader,
}

/// The volatile state the application may want to observe (not persisted).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SoftState {
    /// The leader this node knows of ([`INVALID_ID`] if none).
    pub leader_id: u64,
    /// This node's role.
    pub raft_state: StateRole,
}

/// The outcome of counting votes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VoteResult {
    /// A quorum granted the vote.
    Won,
    /// A quorum rejected it.
    Lost,
    /// Neither yet.
    Pending,
}

/// Why a node starts campaigning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CampaignType {
    /// The PreVote round (thesis §9.6).
    PreElection,
    /// A normal election (§5.2).
    Election,
    /// An election the leader asked for with MsgTimeoutNow (thesis §3.10).
    Transfer,
}

/// The size of the last MsgAppend made for a peer, so that batching (see
/// [`Config::batch_append`]) need not re-add the sizes of the entries it
/// already holds on every merge, which would make a batch quadratic.
#[derive(Debug, Clone, Copy)]
struct QueuedAppend {
    /// The peer the message goes to.
    to: u64,
    /// The index of its last entry: tells whether the message queued for
    /// `to` is still this one.
    last_index: u64,
    /// An upper bound of its entries' encoded size (see `entries_size_bound`).
    bytes: u64,
}

/// An upper bound of the encoded size of `entries`, cheap to compute.
fn entries_size_bound(entries: &[Entry]) -> u64 {
    entries
        .iter()
        .map(|e| e.data.len() as u64 + ENTRY_ENCODING_OVERHEAD)
        .sum()
}

/// A message of type `msg_type` to `to`; `send` fills in the sender and term.
fn new_message(to: u64, msg_type: MessageType) -> Message {
    let mut m = Message::new();
    m.to = to;
    m.set_msg_type(msg_type);
    m
}

/// One node's Raft state machine over storage `T`.
pub struct Raft<T: Storage> {
    /// This node's id.
    pub id: u64,
    /// The current term (§5.1).
    pub term: u64,
    /// Who this node voted for in the current term ([`INVALID_ID`] if nobody).
    pub vote: u64,
    /// This node's role.
    pub state: StateRole,
    /// The leader this node follows ([`INVALID_ID`] if unknown).
    pub leader_id: u64,
    /// The log.
    pub raft_log: RaftLog<T>,
    /// Messages to send; the application takes them from Ready.
    pub msgs: Vec<Message>,
    /// Confirmed read requests; the application takes them from Ready.
    pub read_states: Vec<ReadState>,
    /// Ticks since the last election timeout reset (follower and candidate:
    /// since hearing from a leader or granting a vote; leader: since the
    /// last CheckQuorum round).
    pub election_elapsed: usize,
    /// Ticks since the leader last sent heartbeats.
    pub heartbeat_elapsed: usize,
    /// The peer leadership is being handed to, during a leader transfer.
    pub lead_transferee: Option<u64>,
    /// The index of the latest conf change proposed by this leader; another
    /// may only be proposed once the application applied past it.
    pub pending_conf_index: u64,
    /// See [`Config::check_quorum`].
    pub check_quorum: bool,
    /// See [`Config::pre_vote`].
    pub pre_vote: bool,
    /// See [`Config::max_inflight_msgs`].
    pub max_inflight: usize,
    /// See [`Config::max_size_per_msg`].
    pub max_msg_size: u64,
    /// See [`Config::batch_append`].
    pub batch_append: bool,
    /// With batch_append: the last MsgAppend made for each peer.
    queued_appends: Vec<QueuedAppend>,

    /// Sorted by id, not hashed: see [`ProgressMap`].
    prs: ProgressMap,
    /// Votes received in the current (pre-)election: peer -> granted.
    votes: HashMap<u64, bool>,
    read_only: ReadOnly,
    /// Read requests that arrived before this leader committed an entry of
    /// its term; served once it has (thesis §6.4).
    pending_read_index_messages: Vec<Message>,
    election_timeout: usize,
    heartbeat_timeout: usize,
    randomized_election_timeout: usize,
    rng: StdRng,
}

impl<T: Storage> Raft<T> {
    /// A follower at the term, vote and commit index persisted in `store`.
    /// The membership comes from the storage's conf state, or from
    /// `c.peers` when the storage has none (a brand-new group).
    pub fn new(c: &Config, store: T) -> Result<Raft<T>> {
        c.validate()?;
        let raft_state = store.initial_state()?;
        let raft_log = RaftLog::try_new(store)?;
        // What the storage persisted wins: a restarted node must not go back
        // to the membership it was bootstrapped with.
        let peers = if raft_state.conf_state.nodes.is_empty() {
            c.peers.clone()
        } else {
            if !c.peers.is_empty() && c.peers != raft_state.conf_state.nodes {
                warn!(
                    "{} ignores config peers {:?}: storage has membership {:?}",
                    c.id, c.peers, raft_state.conf_state.nodes
                );
            }
            raft_state.conf_state.nodes.clone()
        };
        let rng = match c.random_seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        let mut raft = Raft {
            id: c.id,
            term: 0,
            vote: INVALID_ID,
            state: StateRole::Follower,
            leader_id: INVALID_ID,
            raft_log,
            msgs: Vec::new(),
            read_states: Vec::new(),
            election_elapsed: 0,
            heartbeat_elapsed: 0,
            lead_transferee: None,
            pending_conf_index: 0,
            check_quorum: c.check_quorum,
            pre_vote: c.pre_vote,
            max_inflight: c.max_inflight_msgs,
            max_msg_size: c.max_size_per_msg,
            batch_append: c.batch_append,
            queued_appends: Vec::new(),
            prs: ProgressMap::new(),
            votes: HashMap::new(),
            read_only: ReadOnly::new(),
            pending_read_index_messages: Vec::new(),
            election_timeout: c.election_tick,
            heartbeat_timeout: c.heartbeat_tick,
            randomized_election_timeout: c.election_tick,
            rng,
        };
        let next_idx = raft.raft_log.last_index() + 1;
        for id in peers {
            raft.prs
                .insert(id, Progress::new(next_idx, raft.max_inflight));
        }
        if raft_state.hard_state != HardState::default() {
            raft.load_state(&raft_state.hard_state)?;
        }
        if c.applied > 0 {
            raft.raft_log.applied_to(c.applied);
        }
        let term = raft.term;
        raft.become_follower(term, INVALID_ID);
        info!(
            "{} [term: {}] newraft [peers: {:?}, commit: {}, applied: {}, last index: {}, last term: {}]",
            raft.id,
            raft.term,
            raft.sorted_peer_ids(),
            raft.raft_log.committed,
            raft.raft_log.applied,
            raft.raft_log.last_index(),
            raft.raft_log.last_term()
        );
        Ok(raft)
    }

    fn load_state(&mut self, hs: &HardState) -> Result<()> {
        if hs.commit < self.raft_log.committed || hs.commit > self.raft_log.last_index() {
            let message = format!(
                "{} hard state commit {} is out of range [{}, {}]",
                self.id,
                hs.commit,
                self.raft_log.committed,
                self.raft_log.last_index()
            );
            return Err(Error::Store(StorageError::Other(message.into())));
        }
        self.raft_log.committed = hs.commit;
        self.term = hs.term;
        self.vote = hs.vote;
        Ok(())
    }

    // ----- accessors --------------------------------------------------------

    /// The progress of every member, as the leader tracks it.
    pub fn prs(&self) -> &ProgressMap {
        &self.prs
    }

    /// Mutable access to the progress of every member (tests use it to set
    /// up scenarios).
    pub fn mut_prs(&mut self) -> &mut ProgressMap {
        &mut self.prs
    }

    /// The member ids in increasing order, so that every loop over peers
    /// sends messages in the same order on every run.
    fn sorted_peer_ids(&self) -> Vec<u64> {
        // The map is kept in id order: no sort needed.
        self.prs.keys().copied().collect()
    }

    /// The role and known leader.
    pub fn soft_state(&self) -> SoftState {
        SoftState {
            leader_id: self.leader_id,
            raft_state: self.state,
        }
    }

    /// The state that must be persisted before sending messages.
    pub fn hard_state(&self) -> HardState {
        let mut hs = HardState::new();
        hs.term = self.term;
        hs.vote = self.vote;
        hs.commit = self.raft_log.committed;
        hs
    }

    /// The configured election timeout in ticks.
    pub fn election_timeout(&self) -> usize {
        self.election_timeout
    }

    /// The configured heartbeat interval in ticks.
    pub fn heartbeat_timeout(&self) -> usize {
        self.heartbeat_timeout
    }

    /// The current randomized election timeout, in
    /// `[election_timeout, 2 * election_timeout)`.
    pub fn randomized_election_timeout(&self) -> usize {
        self.randomized_election_timeout
    }

    /// Overrides the randomized election timeout (tests use it to control
    /// who times out first).
    pub fn set_randomized_election_timeout(&mut self, t: usize) {
        self.randomized_election_timeout = t;
    }

    /// Draws a new randomized election timeout from the seeded generator
    /// (§5.2: randomization makes split votes rare).
    pub fn reset_randomized_election_timeout(&mut self) {
        let previous = self.randomized_election_timeout;
        self.randomized_election_timeout = self
            .rng
            .gen_range(self.election_timeout..2 * self.election_timeout);
        debug!(
            "{} reset election timeout {} -> {} at {}",
            self.id, previous, self.randomized_election_timeout, self.election_elapsed
        );
    }

    fn past_election_timeout(&self) -> bool {
        self.election_elapsed >= self.randomized_election_timeout
    }

    /// Whether this node may become leader: it is a member of the group.
    pub fn promotable(&self) -> bool {
        self.prs.contains_key(&self.id)
    }

    /// How many members make a majority.
    pub fn quorum(&self) -> usize {
        self.prs.len() / 2 + 1
    }

    /// Takes the messages queued for sending.
    pub fn read_messages(&mut self) -> Vec<Message> {
        std::mem::take(&mut self.msgs)
    }

    // ----- sending ----------------------------------------------------------

    /// Queues `m` for sending, stamping our id (unless it is forwarded on
    /// behalf of someone else, like a transferee's MsgTransferLeader) and,
    /// except for votes (whose term the caller sets) and forwarded proposals
    /// and reads (which carry no term), our term.
    fn send(&mut self, m: Message) {
        // Pushed first and stamped where it lies: moving a 144-byte Message
        // costs a copy, so it is moved once, into the queue.
        self.msgs.push(m);
        let m = self
            .msgs
            .last_mut()
            .expect("the queue holds the message just pushed");
        if m.from == INVALID_ID {
            m.from = self.id;
        }
        match m.msg_type() {
            MessageType::MsgRequestVote
            | MessageType::MsgRequestPreVote
            | MessageType::MsgRequestVoteResponse
            | MessageType::MsgRequestPreVoteResponse => {
                if m.term == 0 {
                    error!(
                        "{} [term: {}] vote message {:?} sent without a term",
                        self.id,
                        self.term,
                        m.msg_type()
                    );
                }
            }
            MessageType::MsgPropose | MessageType::MsgReadIndex => {}
            _ => m.term = self.term,
        }
    }

    /// Sends a MsgAppend with the entries `to` is missing, or a snapshot if
    /// they were compacted. Returns `Ok(false)` when nothing was sent: the
    /// peer is paused, or the storage's snapshot is temporarily unavailable
    /// (the progress is then left as it was and the next heartbeat response
    /// or append attempt tries again). Other storage errors are returned.
    pub fn send_append(&mut self, to: u64) -> Result<bool> {
        self.maybe_send_append(to, true)
    }

    fn maybe_send_append(&mut self, to: u64, send_if_empty: bool) -> Result<bool> {
        let Some(pr) = self.prs.get(&to) else {
            return Ok(false);
        };
        if pr.is_paused() {
            return Ok(false);
        }
        let next_idx = pr.next_idx;
        if next_idx > self.raft_log.last_index() {
            if !send_if_empty {
                // Nothing new and no empty message wanted: skip the term and
                // entry look-ups (every acknowledgement asks this).
                return Ok(false);
            }
            if pr.state == ProgressState::Replicate
                && self.fold_commit_into_queued_append(to, next_idx)
            {
                return Ok(true);
            }
        }
        if self.batch_append {
            if let Some(sent) = self.extend_queued_append(to, next_idx, send_if_empty)? {
                return Ok(sent);
            }
        }
        let prev_index = next_idx - 1;
        let prev_term = self.raft_log.term(prev_index);
        let entries = self.raft_log.entries(next_idx, Some(self.max_msg_size));
        match (prev_term, entries) {
            (Ok(prev_term), Ok(entries)) => {
                if !send_if_empty && entries.is_empty() {
                    return Ok(false);
                }
                let mut m = new_message(to, MessageType::MsgAppend);
                m.index = prev_index;
                m.log_term = prev_term;
                m.commit = self.raft_log.committed;
                if let Some(last) = entries.last().map(|e| e.index) {
                    let pr = self
                        .prs
                        .get_mut(&to)
                        .expect("the progress exists: checked at the top of this function");
                    match pr.state {
                        ProgressState::Replicate => {
                            pr.optimistic_update(last);
                            pr.ins.add(last);
                        }
                        ProgressState::Probe => pr.pause(),
                        ProgressState::Snapshot => {
                            error!("{} sending entries to {} in Snapshot state", self.id, to);
                        }
                    }
                }
                if self.batch_append {
                    if let Some(last) = entries.last().map(|e| e.index) {
                        self.record_queued_append(to, last, entries_size_bound(&entries));
                    }
                }
                m.entries = entries;
                self.send(m);
                Ok(true)
            }
            (Err(Error::Store(StorageError::Compacted)), _)
            | (_, Err(Error::Store(StorageError::Compacted))) => self.send_snapshot(to),
            (Err(e), _) | (_, Err(e)) => {
                error!(
                    "{} [term: {}] cannot read entries from {} for {}: {}",
                    self.id, self.term, next_idx, to, e
                );
                Err(e)
            }
        }
    }

    /// A commit-only MsgAppend for `to` (it has every entry, only the commit
    /// index is news) rides on the last message still queued for `to` when
    /// that is a MsgAppend of this term ending at `next_idx - 1`: its commit
    /// is raised instead of queuing another message. The follower commits
    /// `min(commit, last index of the message)`, which is what the separate
    /// message would have told it, so it learns the same, one message
    /// sooner. Why: a leader acknowledged many times before its next Ready
    /// (a batch of proposals) otherwise queues one commit-only message per
    /// acknowledgement per follower, half of all its messages. Returns
    /// whether the commit index was folded in.
    fn fold_commit_into_queued_append(&mut self, to: u64, next_idx: u64) -> bool {
        // Only the last message queued for `to`: a later message to the
        // same peer would otherwise overtake the news.
        let Some(queued) = self.msgs.iter_mut().rev().find(|m| m.to == to) else {
            return false;
        };
        if queued.msg_type() != MessageType::MsgAppend
            || queued.term != self.term
            || queued.index + queued.entries.len() as u64 + 1 != next_idx
        {
            return false;
        }
        queued.commit = queued.commit.max(self.raft_log.committed);
        true
    }

    /// With [`Config::batch_append`]: puts what `to` needs from `next_idx`
    /// on into the MsgAppend already queued for it, if there is one and the
    /// new entries continue it (in Replicate state, same term). Returns
    /// `None` when a message of its own is needed, else what
    /// `maybe_send_append` returns: the queued message now carries the new
    /// entries (as many as fit in `max_msg_size`) and the commit index.
    fn extend_queued_append(
        &mut self,
        to: u64,
        next_idx: u64,
        send_if_empty: bool,
    ) -> Result<Option<bool>> {
        let Some(pr) = self.prs.get(&to) else {
            return Ok(None);
        };
        if pr.state != ProgressState::Replicate {
            return Ok(None);
        }
        // The last message queued for `to`: only that one may be extended,
        // or the peer would see entries out of order.
        let Some(position) = self.msgs.iter().rposition(|m| m.to == to) else {
            return Ok(None);
        };
        let queued = &self.msgs[position];
        let queued_last = queued.index + queued.entries.len() as u64;
        if queued.msg_type() != MessageType::MsgAppend
            || queued.term != self.term
            || queued_last + 1 != next_idx
        {
            return Ok(None);
        }
        // Recorded when the message was made or last extended, so a batch of
        // n proposals costs n, not n² (summing again is the fallback).
        let queued_size =
            match self.queued_appends.iter().find(|queued_append| {
                queued_append.to == to && queued_append.last_index == queued_last
            }) {
                Some(queued_append) => queued_append.bytes,
                None => entries_size_bound(&queued.entries),
            };
        let room = self.max_msg_size.saturating_sub(queued_size);
        let entries = self.raft_log.entries(next_idx, Some(room))?;
        // The size limit keeps at least one entry: one that does not fit
        // goes in a message of its own.
        let fits = entries.first().is_none_or(|e| e.compute_size() <= room);
        if !fits {
            return Ok(None);
        }
        let committed = self.raft_log.committed;
        let queued = &mut self.msgs[position];
        queued.commit = committed;
        let Some(last) = entries.last().map(|e| e.index) else {
            // Only the commit index was news: it rides on the queued message.
            return Ok(Some(send_if_empty));
        };
        let bytes = queued_size + entries_size_bound(&entries);
        queued.entries.extend(entries);
        self.record_queued_append(to, last, bytes);
        // The inflight window already counts this message; its
        // acknowledgement (of `last`) frees it.
        if let Some(pr) = self.prs.get_mut(&to) {
            pr.optimistic_update(last);
        }
        Ok(Some(true))
    }

    fn record_queued_append(&mut self, to: u64, last_index: u64, bytes: u64) {
        let record = QueuedAppend {
            to,
            last_index,
            bytes,
        };
        match self
            .queued_appends
            .iter_mut()
            .find(|queued_append| queued_append.to == to)
        {
            Some(queued_append) => *queued_append = record,
            None => self.queued_appends.push(record),
        }
    }

    // lab 2C: begin — ask the storage for a snapshot; temporarily unavailable sends nothing; the progress enters Snapshot (docs/labs/lab2c.md#raft-side)
    /// The entries `to` needs were compacted: send the storage's snapshot.
    fn send_snapshot(&mut self, to: u64) -> Result<bool> {
        let snapshot = match self.raft_log.snapshot(INVALID_INDEX) {
            Ok(snapshot) => snapshot,
            Err(Error::Store(StorageError::SnapshotTemporarilyUnavailable)) => {
                debug!(
                    "{} [term: {}] failed to send snapshot to {}: temporarily unavailable",
                    self.id, self.term, to
                );
                return Ok(false);
            }
            Err(e) => {
                error!(
                    "{} [term: {}] cannot get a snapshot for {}: {}",
                    self.id, self.term, to, e
                );
                return Err(e);
            }
        };
        if is_empty_snapshot(&snapshot) {
            let message = format!("storage returned an empty snapshot for peer {to}");
            error!("{} [term: {}] {}", self.id, self.term, message);
            return Err(Error::Store(StorageError::Other(message.into())));
        }
        let (index, term) = (snapshot.metadata().index, snapshot.metadata().term);
        let first_index = self.raft_log.first_index();
        let pr = self
            .prs
            .get_mut(&to)
            .expect("the progress exists: maybe_send_append checked it");
        debug!(
            "{} [first index: {}, commit: {}] sent snapshot [index: {}, term: {}] to {} [{:?}]",
            self.id, first_index, self.raft_log.committed, index, term, to, pr
        );
        pr.become_snapshot(index);
        let mut m = new_message(to, MessageType::MsgSnapshot);
        m.set_snapshot(snapshot);
        self.send(m);
        Ok(true)
    }
    // lab 2C: end

    /// Sends a heartbeat carrying the commit index `to` can safely use.
    pub fn send_heartbeat(&mut self, to: u64) {
        self.send_heartbeat_with_context(to, Bytes::new());
    }

    fn send_heartbeat_with_context(&mut self, to: u64, context: Bytes) {
        // Never tell a follower to commit past what it is known to hold:
        // its log beyond `matched` may still differ from ours.
        let Some(pr) = self.prs.get(&to) else {
            return;
        };
        let commit = std::cmp::min(pr.matched, self.raft_log.committed);
        let mut m = new_message(to, MessageType::MsgHeartbeat);
        m.commit = commit;
        m.context = context;
        self.send(m);
    }

    /// Sends MsgAppend to every peer; returns the first error, after trying all.
    fn bcast_append(&mut self) -> Result<()> {
        let mut result = Ok(());
        // Positions in the id-ordered map rather than a copy of the ids: no
        // allocation per broadcast (sending never adds or removes members).
        for position in 0..self.prs.len() {
            let id = self.prs.id_at(position);
            if id == self.id {
                continue;
            }
            if let Err(e) = self.send_append(id) {
                if result.is_ok() {
                    result = Err(e);
                }
            }
        }
        result
    }

    /// Like bcast_append, for callers with nobody to hand an error to.
    fn bcast_append_logging_errors(&mut self) {
        if let Err(e) = self.bcast_append() {
            warn!(
                "{} [term: {}] replication failed, retrying on the next heartbeat response: {}",
                self.id, self.term, e
            );
        }
    }

    fn bcast_heartbeat(&mut self) {
        let context = self
            .read_only
            .last_pending_request_ctx()
            .unwrap_or_default();
        self.bcast_heartbeat_with_context(context);
    }

    fn bcast_heartbeat_with_context(&mut self, context: Bytes) {
        // As in bcast_append: positions, no copy of the ids.
        for position in 0..self.prs.len() {
            let id = self.prs.id_at(position);
            if id != self.id {
                // A Bytes clone: a reference-count bump, not a copy.
                self.send_heartbeat_with_context(id, context.clone());
            }
        }
    }

    fn send_timeout_now(&mut self, to: u64) {
        let m = new_message(to, MessageType::MsgTimeoutNow);
        self.send(m);
    }

    // ----- role transitions -------------------------------------------------

    /// Starts a new term (or stays in the current one) with no leader and
    /// fresh election timers; a leader's progress is reset.
    fn reset(&mut self, term: u64) {
        if self.term != term {
            self.term = term;
            self.vote = INVALID_ID;
        }
        self.leader_id = INVALID_ID;
        self.election_elapsed = 0;
        self.heartbeat_elapsed = 0;
        self.reset_randomized_election_timeout();
        self.abort_leader_transfer();
        self.votes.clear();
        let last_index = self.raft_log.last_index();
        for (&id, pr) in self.prs.iter_mut() {
            *pr = Progress::new(last_index + 1, self.max_inflight);
            if id == self.id {
                pr.matched = last_index;
            }
        }
        self.pending_conf_index = 0;
        self.read_only = ReadOnly::new();
        self.pending_read_index_messages.clear();
    }

    /// Becomes a follower of `leader_id` (or of nobody) in `term`.
    pub fn become_follower(&mut self, term: u64, leader_id: u64) {
        self.reset(term);
        self.leader_id = leader_id;
        self.state = StateRole::Follower;
        info!("{} became follower at term {}", self.id, self.term);
    }

    // lab 2AA: begin — candidate: next term, vote for self; leader: reset progress, append an empty entry (docs/labs/lab2a.md#election)
    /// Becomes a candidate: a new term, voting for itself (§5.2). A leader
    /// cannot become a candidate; the call is ignored with a warning.
    pub fn become_candidate(&mut self) {
        if self.state == StateRole::Leader {
            warn!(
                "{} [term: {}] invalid transition leader -> candidate",
                self.id, self.term
            );
            return;
        }
        let term = self.term + 1;
        self.reset(term);
        self.vote = self.id;
        self.state = StateRole::Candidate;
        info!("{} became candidate at term {}", self.id, self.term);
    }

    /// Becomes a pre-candidate: asks for pre-votes without changing term or
    /// vote (thesis §9.6). Ignored with a warning on a leader.
    pub fn become_pre_candidate(&mut self) {
        if self.state == StateRole::Leader {
            warn!(
                "{} [term: {}] invalid transition leader -> pre-candidate",
                self.id, self.term
            );
            return;
        }
        // Unlike reset(), keep the term, the vote and the election timer.
        self.state = StateRole::PreCandidate;
        self.votes.clear();
        self.leader_id = INVALID_ID;
        info!("{} became pre-candidate at term {}", self.id, self.term);
    }

    /// Becomes leader and appends an empty entry of its term, so that
    /// entries of earlier terms get committed through it (§5.4.2, §8).
    /// Ignored with a warning on a follower (it must win an election first).
    pub fn become_leader(&mut self) {
        if self.state == StateRole::Follower {
            warn!(
                "{} [term: {}] invalid transition follower -> leader",
                self.id, self.term
            );
            return;
        }
        let term = self.term;
        self.reset(term);
        self.leader_id = self.id;
        self.state = StateRole::Leader;
        // Conservatively treat every entry not yet applied as possibly a
        // conf change: no new one until they are applied.
        self.pending_conf_index = self.raft_log.last_index();
        if let Some(pr) = self.prs.get_mut(&self.id) {
            pr.become_replicate();
            pr.recent_active = true;
        }
        self.append_entry(&mut [Entry::new()]);
        info!("{} became leader at term {}", self.id, self.term);
    }
    // lab 2AA: end

    // ----- ticking ----------------------------------------------------------

    /// Advances the logical clock by one tick. A follower or candidate may
    /// start an election; a leader may send heartbeats or check its quorum.
    /// Returns true when something happened that the application should
    /// look at (a new Ready).
    pub fn tick(&mut self) -> bool {
        match self.state {
            StateRole::Leader => self.tick_heartbeat(),
            _ => self.tick_election(),
        }
    }

    // lab 2AA: begin — count ticks; past the randomized timeout, step a local MsgHup (docs/labs/lab2a.md#election)
    fn tick_election(&mut self) -> bool {
        self.election_elapsed += 1;
        if !self.promotable() || !self.past_election_timeout() {
            return false;
        }
        self.election_elapsed = 0;
        let m = new_message(INVALID_ID, MessageType::MsgHup);
        self.step_logging_errors(m);
        true
    }
    // lab 2AA: end

    fn tick_heartbeat(&mut self) -> bool {
        self.heartbeat_elapsed += 1;
        self.election_elapsed += 1;
        let mut has_ready = false;
        if self.election_elapsed >= self.election_timeout {
            self.election_elapsed = 0;
            if self.check_quorum {
                let m = new_message(INVALID_ID, MessageType::MsgCheckQuorum);
                self.step_logging_errors(m);
                has_ready = true;
            }
            // A transfer that did not finish within an election timeout is abandoned.
            if self.state == StateRole::Leader && self.lead_transferee.is_some() {
                self.abort_leader_transfer();
            }
        }
        if self.state != StateRole::Leader {
            return has_ready;
        }
        if self.heartbeat_elapsed >= self.heartbeat_timeout {
            self.heartbeat_elapsed = 0;
            let m = new_message(INVALID_ID, MessageType::MsgBeat);
            self.step_logging_errors(m);
            has_ready = true;
        }
        has_ready
    }

    /// Steps a message produced by raft itself, where nobody can take an error.
    fn step_logging_errors(&mut self, m: Message) {
        let msg_type = m.msg_type();
        if let Err(e) = self.step(m) {
            warn!(
                "{} [term: {}] error while stepping local {:?}: {}",
                self.id, self.term, msg_type, e
            );
        }
    }

    // ----- stepping ---------------------------------------------------------

    /// Handles one message, local or from a peer.
    pub fn step(&mut self, mut m: Message) -> Result<()> {
        // lab 2AA: begin — a higher term makes us a follower; a lower one is ignored or answered (docs/labs/lab2a.md#terms)
        // §5.1: terms act as a logical clock.
        if m.term == 0 {
            // Local message, or a forwarded proposal / read request.
        } else if m.term > self.term {
            if matches!(
                m.msg_type(),
                MessageType::MsgRequestVote | MessageType::MsgRequestPreVote
            ) {
                let force = m.context == CAMPAIGN_TRANSFER;
                let in_lease = self.check_quorum
                    && self.leader_id != INVALID_ID
                    && self.election_elapsed < self.election_timeout;
                if !force && in_lease {
                    // Leader lease (thesis §4.2.3): we heard from a leader
                    // within the election timeout, so this candidate cannot
                    // have a quorum; ignore it without changing term.
                    info!(
                        "{} [log term: {}, index: {}, vote: {}] ignored {:?} from {} [log term: {}, index: {}] at term {}: lease is not expired (remaining ticks: {})",
                        self.id,
                        self.raft_log.last_term(),
                        self.raft_log.last_index(),
                        self.vote,
                        m.msg_type(),
                        m.from,
                        m.log_term,
                        m.index,
                        self.term,
                        self.election_timeout - self.election_elapsed
                    );
                    return Ok(());
                }
            }
            match m.msg_type() {
                // A pre-vote request never changes our term: the pre-candidate
                // has not actually started that term.
                MessageType::MsgRequestPreVote => {}
                // A granted pre-vote carries the future term of the
                // pre-candidate; the term changes only when it wins.
                MessageType::MsgRequestPreVoteResponse if !m.reject => {}
                _ => {
                    info!(
                        "{} [term: {}] received a {:?} message with higher term from {} [term: {}]",
                        self.id,
                        self.term,
                        m.msg_type(),
                        m.from,
                        m.term
                    );
                    let leader = match m.msg_type() {
                        MessageType::MsgAppend
                        | MessageType::MsgHeartbeat
                        | MessageType::MsgSnapshot => m.from,
                        _ => INVALID_ID,
                    };
                    self.become_follower(m.term, leader);
                }
            }
        } else if m.term < self.term {
            if matches!(
                m.msg_type(),
                MessageType::MsgHeartbeat | MessageType::MsgAppend
            ) {
                // A stale leader (e.g. one that was partitioned) would never
                // learn about the new term if we just dropped its messages
                // while it cannot win elections (PreVote), is ignored
                // (lease), or while our own vote requests reach nobody (our
                // membership is stale). Tell it our term so it steps down
                // (§5.1: a stale request is answered with the current term).
                let m = new_message(m.from, MessageType::MsgAppendResponse);
                self.send(m);
            } else if m.msg_type() == MessageType::MsgRequestPreVote {
                // Reject with our term so the pre-candidate learns it is behind.
                info!(
                    "{} [term: {}] rejected pre-vote from {} at lower term {}",
                    self.id, self.term, m.from, m.term
                );
                let mut resp = new_message(m.from, MessageType::MsgRequestPreVoteResponse);
                resp.term = self.term;
                resp.reject = true;
                self.send(resp);
            } else {
                debug!(
                    "{} [term: {}] ignored a {:?} message with lower term from {} [term: {}]",
                    self.id,
                    self.term,
                    m.msg_type(),
                    m.from,
                    m.term
                );
            }
            return Ok(());
        }
        // lab 2AA: end

        match m.msg_type() {
            MessageType::MsgHup => {
                self.hup(false);
                Ok(())
            }
            MessageType::MsgRequestVote | MessageType::MsgRequestPreVote => {
                self.handle_vote_request(&m);
                Ok(())
            }
            _ => match self.state {
                // By reference: a Message is 144 bytes, and every copy of
                // one costs (see `send`).
                StateRole::Leader => self.step_leader(&mut m),
                StateRole::Candidate | StateRole::PreCandidate => self.step_candidate(&mut m),
                StateRole::Follower => self.step_follower(&mut m),
            },
        }
    }

    // lab 2AA: begin — one vote per term, only for a log at least as up to date as ours (docs/labs/lab2a.md#votes)
    /// Grants or rejects a (pre-)vote (§5.2, §5.4.1; thesis §9.6).
    fn handle_vote_request(&mut self, m: &Message) {
        let is_pre_vote = m.msg_type() == MessageType::MsgRequestPreVote;
        // We can vote for m.from if we already did in this term, or if we
        // have not voted and know no leader, or for a pre-vote of a future term.
        let can_vote = self.vote == m.from
            || (self.vote == INVALID_ID && self.leader_id == INVALID_ID)
            || (is_pre_vote && m.term > self.term);
        let response_type = if is_pre_vote {
            MessageType::MsgRequestPreVoteResponse
        } else {
            MessageType::MsgRequestVoteResponse
        };
        let mut resp = new_message(m.from, response_type);
        if can_vote && self.raft_log.is_up_to_date(m.index, m.log_term) {
            info!(
                "{} [log term: {}, index: {}, vote: {}] cast {:?} for {} [log term: {}, index: {}] at term {}",
                self.id,
                self.raft_log.last_term(),
                self.raft_log.last_index(),
                self.vote,
                m.msg_type(),
                m.from,
                m.log_term,
                m.index,
                self.term
            );
            // Answer with the request's term: for a pre-vote it is the
            // pre-candidate's future term, which it checks against its own.
            resp.term = m.term;
            self.send(resp);
            if !is_pre_vote {
                self.election_elapsed = 0;
                self.vote = m.from;
            }
        } else {
            info!(
                "{} [log term: {}, index: {}, vote: {}] rejected {:?} from {} [log term: {}, index: {}] at term {}",
                self.id,
                self.raft_log.last_term(),
                self.raft_log.last_index(),
                self.vote,
                m.msg_type(),
                m.from,
                m.log_term,
                m.index,
                self.term
            );
            resp.term = self.term;
            resp.reject = true;
            self.send(resp);
        }
    }
    // lab 2AA: end

    // lab 2AA: begin — campaign: become (pre-)candidate, vote for self, ask every peer; count votes (docs/labs/lab2a.md#election)
    /// Starts an election (or a pre-vote) unless this node is the leader,
    /// not a member, or has unapplied conf changes (whose effect on the
    /// membership it does not know yet).
    fn hup(&mut self, transfer_leader: bool) {
        if self.state == StateRole::Leader {
            debug!("{} ignoring MsgHup because already leader", self.id);
            return;
        }
        if !self.promotable() {
            warn!("{} is unpromotable and can not campaign", self.id);
            return;
        }
        // Entries before first_index were compacted into a snapshot, which
        // carries the membership already: only look at what is still in the log.
        let low = std::cmp::max(self.raft_log.applied + 1, self.raft_log.first_index());
        let high = self.raft_log.committed + 1;
        if high > low {
            match self.raft_log.slice(low, high, None) {
                Ok(ents) => {
                    let pending = ents
                        .iter()
                        .filter(|e| e.entry_type() == EntryType::EntryConfChange)
                        .count();
                    if pending > 0 {
                        warn!(
                            "{} cannot campaign at term {} since there are still {} pending configuration changes to apply",
                            self.id, self.term, pending
                        );
                        return;
                    }
                }
                Err(e) => {
                    error!(
                        "{} cannot campaign: failed to read unapplied entries: {}",
                        self.id, e
                    );
                    return;
                }
            }
        }
        info!(
            "{} is starting a new election at term {}",
            self.id, self.term
        );
        if transfer_leader {
            self.campaign(CampaignType::Transfer);
        } else if self.pre_vote {
            self.campaign(CampaignType::PreElection);
        } else {
            self.campaign(CampaignType::Election);
        }
    }

    fn campaign(&mut self, campaign_type: CampaignType) {
        let (vote_msg, term) = if campaign_type == CampaignType::PreElection {
            self.become_pre_candidate();
            // Pre-votes ask about the next term without entering it.
            (MessageType::MsgRequestPreVote, self.term + 1)
        } else {
            self.become_candidate();
            (MessageType::MsgRequestVote, self.term)
        };
        let self_id = self.id;
        if self.poll(self_id, true) == VoteResult::Won {
            // A single-node group wins at once.
            if campaign_type == CampaignType::PreElection {
                self.campaign(CampaignType::Election);
            } else {
                self.become_leader();
            }
            return;
        }
        let last_index = self.raft_log.last_index();
        let last_term = self.raft_log.last_term();
        for id in self.sorted_peer_ids() {
            if id == self_id {
                continue;
            }
            info!(
                "{} [log term: {}, index: {}] sent {:?} request to {} at term {}",
                self_id, last_term, last_index, vote_msg, id, self.term
            );
            let mut m = new_message(id, vote_msg);
            m.term = term;
            m.index = last_index;
            m.log_term = last_term;
            if campaign_type == CampaignType::Transfer {
                m.context = Bytes::from_static(CAMPAIGN_TRANSFER);
            }
            self.send(m);
        }
    }

    /// Records a vote from `id` and counts the result.
    fn poll(&mut self, id: u64, granted: bool) -> VoteResult {
        if granted {
            debug!(
                "{} received vote from {} at term {}",
                self.id, id, self.term
            );
        } else {
            debug!(
                "{} received rejection from {} at term {}",
                self.id, id, self.term
            );
        }
        self.votes.entry(id).or_insert(granted);
        let granted_count = self.votes.values().filter(|&&g| g).count();
        let rejected_count = self.votes.len() - granted_count;
        let quorum = self.quorum();
        if granted_count >= quorum {
            VoteResult::Won
        } else if self.prs.len() - rejected_count < quorum {
            VoteResult::Lost
        } else {
            VoteResult::Pending
        }
    }
    // lab 2AA: end

    fn step_leader(&mut self, m: &mut Message) -> Result<()> {
        // Decoded once: the accessor converts the enum on every call.
        let msg_type = m.msg_type();
        match msg_type {
            MessageType::MsgBeat => {
                self.bcast_heartbeat();
                return Ok(());
            }
            MessageType::MsgCheckQuorum => {
                if !self.check_quorum_active() {
                    warn!(
                        "{} stepped down to follower since quorum is not active",
                        self.id
                    );
                    let term = self.term;
                    self.become_follower(term, INVALID_ID);
                }
                return Ok(());
            }
            MessageType::MsgPropose => return self.handle_propose(m),
            MessageType::MsgReadIndex => {
                self.handle_leader_read_index(std::mem::take(m));
                return Ok(());
            }
            _ => {}
        }

        // Everything else comes from a peer and needs its progress.
        let Some(pr) = self.prs.get_mut(&m.from) else {
            debug!("{} no progress available for {}", self.id, m.from);
            return Ok(());
        };
        match msg_type {
            MessageType::MsgAppendResponse => {
                pr.recent_active = true;
                self.handle_append_response(m)
            }
            MessageType::MsgHeartbeatResponse => {
                pr.recent_active = true;
                self.handle_heartbeat_response(m)
            }
            MessageType::MsgSnapStatus => {
                if pr.state != ProgressState::Snapshot {
                    return Ok(());
                }
                if m.reject {
                    pr.snapshot_failure();
                    pr.become_probe();
                    debug!(
                        "{} snapshot failed, resumed sending replication messages to {} [{:?}]",
                        self.id, m.from, pr
                    );
                } else {
                    pr.become_probe();
                    debug!(
                        "{} snapshot succeeded, resumed sending replication messages to {} [{:?}]",
                        self.id, m.from, pr
                    );
                }
                // After success, wait for the follower's MsgAppendResponse
                // before the next MsgAppend; after failure, wait for the next
                // heartbeat response before retrying.
                pr.pause();
                Ok(())
            }
            MessageType::MsgUnreachable => {
                // Messages to an unreachable peer were probably lost: stop
                // streaming optimistically and probe instead.
                if pr.state == ProgressState::Replicate {
                    pr.become_probe();
                }
                debug!(
                    "{} failed to send message to {} because it is unreachable [{:?}]",
                    self.id, m.from, pr
                );
                Ok(())
            }
            MessageType::MsgTransferLeader => {
                self.handle_transfer_leader(m);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn handle_propose(&mut self, m: &mut Message) -> Result<()> {
        if m.entries.is_empty() {
            warn!("{} dropped an empty proposal", self.id);
            return Err(Error::ProposalDropped);
        }
        if !self.prs.contains_key(&self.id) {
            // This leader was removed from the group; it must not add entries.
            debug!(
                "{} [term: {}] dropped proposal: removed from the group",
                self.id, self.term
            );
            return Err(Error::ProposalDropped);
        }
        // lab 3A: begin [stub: ] — refuse proposals during a transfer; one conf change at a time, never the last voter (docs/labs/lab3a.md#membership-change)
        if let Some(transferee) = self.lead_transferee {
            debug!(
                "{} [term {}] transfer leadership to {} is in progress; dropping proposal",
                self.id, self.term, transferee
            );
            return Err(Error::ProposalDropped);
        }
        let last_index = self.raft_log.last_index();
        for (i, e) in m.entries.iter_mut().enumerate() {
            if e.entry_type() != EntryType::EntryConfChange {
                continue;
            }
            if self.pending_conf_index > self.raft_log.applied {
                // One membership change at a time (§6): keep the slot in the
                // log but make it a no-op.
                info!(
                    "{} propose conf change ignored since pending unapplied configuration [index {}, applied {}]",
                    self.id, self.pending_conf_index, self.raft_log.applied
                );
                *e = Entry::new();
            } else if self.removes_last_voter(e) {
                // A group without members can never elect a leader again,
                // so nothing could ever undo this change: refuse it.
                info!(
                    "{} [term {}] propose conf change ignored: it would remove the last voter",
                    self.id, self.term
                );
                *e = Entry::new();
            } else {
                self.pending_conf_index = last_index + i as u64 + 1;
            }
        }
        // lab 3A: end
        // lab 2AB: begin — append the proposal to our log, then send it to every follower (docs/labs/lab2a.md#replication)
        self.append_entry(&mut m.entries);
        // The proposal is in our log: a replication failure to some peer is
        // not the proposer's failure, it is retried on the next heartbeat.
        self.bcast_append_logging_errors();
        // lab 2AB: end
        Ok(())
    }

    /// Appends entries of the current term to the leader's log and counts
    /// the leader's own copy towards commitment.
    fn append_entry(&mut self, es: &mut [Entry]) {
        let last_index = self.raft_log.last_index();
        for (i, e) in es.iter_mut().enumerate() {
            e.term = self.term;
            e.index = last_index + 1 + i as u64;
        }
        let last_index = self.raft_log.append(es);
        if let Some(pr) = self.prs.get_mut(&self.id) {
            pr.maybe_update(last_index);
        }
        // A single-node group commits at once.
        self.maybe_commit();
    }

    // lab 2AB: begin [stub: false] — the highest index a quorum holds, only if its entry is of our term (docs/labs/lab2a.md#commit)
    /// Moves the commit index to the highest index stored on a quorum, if
    /// that entry is of the current term (§5.3, §5.4.2). True if it moved.
    fn maybe_commit(&mut self) -> bool {
        if self.prs.is_empty() {
            return false;
        }
        // The highest index a quorum holds: the largest `matched` that at
        // least quorum() members reached. Counted in place (quadratic in a
        // handful of members), not by sorting a fresh Vec: this runs on
        // every acknowledgement.
        let quorum = self.quorum();
        let quorum_index = self
            .prs
            .values()
            .map(|pr| pr.matched)
            .filter(|&index| self.prs.values().filter(|pr| pr.matched >= index).count() >= quorum)
            .max()
            .unwrap_or(0);
        let committed = self.raft_log.maybe_commit(quorum_index, self.term);
        if committed {
            self.release_pending_read_index_messages();
        }
        committed
    }
    // lab 2AB: end

    // lab 2AB: begin [stub: Ok(())] — a rejection backs next_idx off and retries; a success moves match, then commit (docs/labs/lab2a.md#replication)
    fn handle_append_response(&mut self, m: &Message) -> Result<()> {
        let pr = self
            .prs
            .get_mut(&m.from)
            .expect("the progress exists: step_leader checked it");
        if m.reject {
            debug!(
                "{} received MsgAppendResponse (rejected hint: {}) from {} for index {}",
                self.id, m.reject_hint, m.from, m.index
            );
            if pr.maybe_decr_to(m.index, m.reject_hint) {
                debug!("{} decreased progress of {} to [{:?}]", self.id, m.from, pr);
                if pr.state == ProgressState::Replicate {
                    pr.become_probe();
                }
                self.send_append(m.from)?;
            }
            return Ok(());
        }
        let old_paused = pr.is_paused();
        if !pr.maybe_update(m.index) {
            return Ok(());
        }
        match pr.state {
            ProgressState::Probe => pr.become_replicate(),
            ProgressState::Snapshot if pr.maybe_snapshot_abort() => {
                debug!(
                    "{} snapshot aborted, resumed sending replication messages to {} [{:?}]",
                    self.id, m.from, pr
                );
                pr.become_probe();
            }
            ProgressState::Snapshot => {}
            ProgressState::Replicate => pr.ins.free_to(m.index),
        }
        let matched = pr.matched;
        if self.maybe_commit() {
            // Tell everyone about the new commit index.
            self.bcast_append()?;
        } else if old_paused {
            // The peer was paused and may now take more entries.
            self.send_append(m.from)?;
        }
        // The acknowledgement may have opened the inflight window: keep
        // sending while there are entries and room.
        while self.maybe_send_append(m.from, false)? {}
        if Some(m.from) == self.lead_transferee && matched == self.raft_log.last_index() {
            info!(
                "{} sent MsgTimeoutNow to {} after received MsgAppendResponse",
                self.id, m.from
            );
            self.send_timeout_now(m.from);
        }
        Ok(())
    }
    // lab 2AB: end

    fn handle_heartbeat_response(&mut self, m: &Message) -> Result<()> {
        let pr = self
            .prs
            .get_mut(&m.from)
            .expect("the progress exists: step_leader checked it");
        pr.resume();
        if pr.state == ProgressState::Replicate && pr.ins.full() {
            pr.ins.free_first_one();
        }
        let needs_entries = pr.matched < self.raft_log.last_index();
        // The follower is alive: retry replication (this is also where a
        // snapshot that was temporarily unavailable is asked for again).
        let result = if needs_entries {
            self.send_append(m.from).map(|_| ())
        } else {
            Ok(())
        };
        if !m.context.is_empty() {
            self.handle_read_index_ack(m);
        }
        result
    }

    // lab 3A: begin — record the transferee; MsgTimeoutNow if its log is up to date, else catch it up first (docs/labs/lab3a.md#leader-transfer)
    fn handle_transfer_leader(&mut self, m: &Message) {
        let transferee = m.from;
        if let Some(last) = self.lead_transferee {
            if last == transferee {
                info!(
                    "{} [term {}] transfer leadership to {} is in progress, ignores request to same node",
                    self.id, self.term, transferee
                );
                return;
            }
            self.abort_leader_transfer();
            info!(
                "{} [term {}] abort previous transferring leadership to {}",
                self.id, self.term, last
            );
        }
        if transferee == self.id {
            debug!(
                "{} is already leader, ignored transferring leadership to self",
                self.id
            );
            return;
        }
        let Some(matched) = self.prs.get(&transferee).map(|pr| pr.matched) else {
            debug!(
                "{} ignored transferring leadership to non-member {}",
                self.id, transferee
            );
            return;
        };
        info!(
            "{} [term {}] starts to transfer leadership to {}",
            self.id, self.term, transferee
        );
        // The transfer must finish within one election timeout (thesis §3.10).
        self.election_elapsed = 0;
        self.lead_transferee = Some(transferee);
        if matched == self.raft_log.last_index() {
            info!(
                "{} sends MsgTimeoutNow to {} immediately as {} already has up-to-date log",
                self.id, transferee, transferee
            );
            self.send_timeout_now(transferee);
        } else if let Err(e) = self.send_append(transferee) {
            warn!(
                "{} cannot catch up transferee {}: {}",
                self.id, transferee, e
            );
        }
    }
    // lab 3A: end

    fn abort_leader_transfer(&mut self) {
        self.lead_transferee = None;
    }

    /// Counts the peers heard from since the last check (the leader itself
    /// included) and clears the marks for the next round. True if a quorum.
    fn check_quorum_active(&mut self) -> bool {
        let self_id = self.id;
        let mut active = 0;
        for (&id, pr) in self.prs.iter_mut() {
            if id == self_id {
                active += 1;
                continue;
            }
            if pr.recent_active {
                active += 1;
            }
            pr.recent_active = false;
        }
        active >= self.quorum()
    }

    fn committed_entry_in_current_term(&self) -> bool {
        self.raft_log
            .term(self.raft_log.committed)
            .is_ok_and(|t| t == self.term)
    }

    fn handle_leader_read_index(&mut self, m: Message) {
        if m.entries.len() != 1 {
            warn!(
                "{} ignored a read index request without exactly one context entry",
                self.id
            );
            return;
        }
        if self.prs.len() == 1 && self.prs.contains_key(&self.id) {
            // Alone in the group: our commit index is the read index.
            let index = self.raft_log.committed;
            self.respond_to_read_index(m, index);
            return;
        }
        if !self.committed_entry_in_current_term() {
            // Until the no-op of this term commits, our commit index may be
            // behind the true one (thesis §6.4): hold the request.
            self.pending_read_index_messages.push(m);
            return;
        }
        self.send_read_index_heartbeats(m);
    }

    fn send_read_index_heartbeats(&mut self, m: Message) {
        let ctx = m.entries[0].data.clone();
        let committed = self.raft_log.committed;
        self.read_only.add_request(committed, m);
        let self_id = self.id;
        self.read_only.recv_ack(self_id, &ctx);
        self.bcast_heartbeat_with_context(ctx);
    }

    fn release_pending_read_index_messages(&mut self) {
        if self.pending_read_index_messages.is_empty() || !self.committed_entry_in_current_term() {
            return;
        }
        let pending = std::mem::take(&mut self.pending_read_index_messages);
        for m in pending {
            self.send_read_index_heartbeats(m);
        }
    }

    fn handle_read_index_ack(&mut self, m: &Message) {
        let Some(acks) = self.read_only.recv_ack(m.from, &m.context) else {
            return;
        };
        let acks = acks.clone();
        if !self.is_read_quorum(&acks) {
            return;
        }
        for status in self.read_only.advance(&m.context) {
            self.respond_to_read_index(status.req, status.index);
        }
    }

    /// Hands a confirmed read index to whoever asked: ourselves (a ReadState)
    /// or the follower that forwarded the request (MsgReadIndexResp).
    fn respond_to_read_index(&mut self, req: Message, index: u64) {
        if req.from == INVALID_ID || req.from == self.id {
            let request_ctx = req
                .entries
                .first()
                .map(|e| e.data.clone())
                .unwrap_or_default();
            self.read_states.push(ReadState { index, request_ctx });
            return;
        }
        let mut resp = new_message(req.from, MessageType::MsgReadIndexResp);
        resp.index = index;
        resp.entries = req.entries;
        self.send(resp);
    }

    fn step_candidate(&mut self, m: &mut Message) -> Result<()> {
        match m.msg_type() {
            MessageType::MsgPropose => {
                info!(
                    "{} no leader at term {}; dropping proposal",
                    self.id, self.term
                );
                Err(Error::ProposalDropped)
            }
            // A message from a leader of our term: someone else won (§5.2).
            MessageType::MsgAppend => {
                self.become_follower(m.term, m.from);
                self.handle_append_entries(m);
                Ok(())
            }
            MessageType::MsgHeartbeat => {
                self.become_follower(m.term, m.from);
                self.handle_heartbeat(m);
                Ok(())
            }
            MessageType::MsgSnapshot => {
                self.become_follower(m.term, m.from);
                self.handle_snapshot(std::mem::take(m));
                Ok(())
            }
            // lab 2AA: begin — a majority of votes wins (a pre-vote win starts the real election), a majority of rejections loses (docs/labs/lab2a.md#votes)
            MessageType::MsgRequestPreVoteResponse | MessageType::MsgRequestVoteResponse => {
                // Only count answers to the round we are in.
                let expected = if self.state == StateRole::PreCandidate {
                    MessageType::MsgRequestPreVoteResponse
                } else {
                    MessageType::MsgRequestVoteResponse
                };
                if m.msg_type() != expected {
                    return Ok(());
                }
                match self.poll(m.from, !m.reject) {
                    VoteResult::Won => {
                        if self.state == StateRole::PreCandidate {
                            self.campaign(CampaignType::Election);
                        } else {
                            self.become_leader();
                            self.bcast_append_logging_errors();
                        }
                    }
                    VoteResult::Lost => {
                        // A pre-candidate never changed its term; a candidate
                        // stays in its term (a rejection of a higher term
                        // already made it a follower in step()).
                        let term = self.term;
                        self.become_follower(term, INVALID_ID);
                    }
                    VoteResult::Pending => {}
                }
                Ok(())
            }
            // lab 2AA: end
            MessageType::MsgTimeoutNow => {
                debug!(
                    "{} [term {}] ignored MsgTimeoutNow from {} as a candidate",
                    self.id, self.term, m.from
                );
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn step_follower(&mut self, m: &mut Message) -> Result<()> {
        match m.msg_type() {
            MessageType::MsgPropose => {
                if self.leader_id == INVALID_ID {
                    info!(
                        "{} no leader at term {}; dropping proposal",
                        self.id, self.term
                    );
                    return Err(Error::ProposalDropped);
                }
                m.to = self.leader_id;
                self.send(std::mem::take(m));
            }
            MessageType::MsgAppend => {
                self.election_elapsed = 0;
                self.leader_id = m.from;
                self.handle_append_entries(m);
            }
            MessageType::MsgHeartbeat => {
                self.election_elapsed = 0;
                self.leader_id = m.from;
                self.handle_heartbeat(m);
            }
            MessageType::MsgSnapshot => {
                self.election_elapsed = 0;
                self.leader_id = m.from;
                self.handle_snapshot(std::mem::take(m));
            }
            MessageType::MsgTransferLeader => {
                if self.leader_id == INVALID_ID {
                    info!(
                        "{} no leader at term {}; dropping leader transfer msg",
                        self.id, self.term
                    );
                    return Ok(());
                }
                m.to = self.leader_id;
                self.send(std::mem::take(m));
            }
            // lab 3A: begin [stub: ] — a member asked by its leader campaigns at once, without pre-vote (docs/labs/lab3a.md#leader-transfer)
            MessageType::MsgTimeoutNow => {
                if self.promotable() {
                    info!(
                        "{} [term {}] received MsgTimeoutNow from {} and starts an election to get leadership",
                        self.id, self.term, m.from
                    );
                    // Leadership transfer never uses pre-vote: the leader
                    // itself asked for this election.
                    self.hup(true);
                } else {
                    info!(
                        "{} received MsgTimeoutNow from {} but is not promotable",
                        self.id, m.from
                    );
                }
            }
            // lab 3A: end
            MessageType::MsgReadIndex => {
                if self.leader_id == INVALID_ID {
                    info!(
                        "{} no leader at term {}; dropping read index msg",
                        self.id, self.term
                    );
                    return Ok(());
                }
                m.to = self.leader_id;
                self.send(std::mem::take(m));
            }
            MessageType::MsgReadIndexResp => {
                if m.entries.len() != 1 {
                    error!(
                        "{} invalid format of MsgReadIndexResp from {}, entries count: {}",
                        self.id,
                        m.from,
                        m.entries.len()
                    );
                    return Ok(());
                }
                let request_ctx = m.entries.swap_remove(0).data;
                self.read_states.push(ReadState {
                    index: m.index,
                    request_ctx,
                });
            }
            _ => {}
        }
        Ok(())
    }

    // ----- follower handlers ------------------------------------------------

    // lab 2AB: begin [stub: ] — append if our log matches at (index, log_term), else reject with a hint (docs/labs/lab2a.md#replication)
    /// Appends the entries of a MsgAppend if our log matches the leader's
    /// at the previous entry, else rejects with our last index as a hint
    /// (§5.3).
    pub fn handle_append_entries(&mut self, m: &Message) {
        let mut resp = new_message(m.from, MessageType::MsgAppendResponse);
        if m.index < self.raft_log.committed {
            // Everything up to our commit index already matches: tell the
            // leader where we are.
            resp.index = self.raft_log.committed;
            self.send(resp);
            return;
        }
        match self
            .raft_log
            .maybe_append(m.index, m.log_term, m.commit, &m.entries)
        {
            Some(last_new_index) => {
                resp.index = last_new_index;
                self.send(resp);
            }
            None => {
                debug!(
                    "{} [log term: {:?}, index: {}] rejected MsgAppend [log term: {}, index: {}] from {}",
                    self.id,
                    self.raft_log.term(m.index).ok(),
                    m.index,
                    m.log_term,
                    m.index,
                    m.from
                );
                resp.index = m.index;
                resp.reject = true;
                resp.reject_hint = self.raft_log.last_index();
                self.send(resp);
            }
        }
    }
    // lab 2AB: end

    /// Takes the leader's commit index from a heartbeat and answers it
    /// (echoing the read-index context, if any).
    pub fn handle_heartbeat(&mut self, m: &Message) {
        self.raft_log.commit_to(m.commit);
        let mut resp = new_message(m.from, MessageType::MsgHeartbeatResponse);
        resp.context = m.context.clone();
        self.send(resp);
    }

    // lab 2C: begin — restore unless stale or already in our log; the log and membership become the snapshot's (docs/labs/lab2c.md#raft-side)
    /// Restores from the leader's snapshot (§7) and reports the resulting
    /// last index; a stale snapshot is ignored and answered with our commit
    /// index.
    pub fn handle_snapshot(&mut self, mut m: Message) {
        let snapshot = m.take_snapshot();
        let (index, term) = (snapshot.metadata().index, snapshot.metadata().term);
        let mut resp = new_message(m.from, MessageType::MsgAppendResponse);
        if self.restore(snapshot) {
            info!(
                "{} [commit: {}] restored snapshot [index: {}, term: {}]",
                self.id, self.raft_log.committed, index, term
            );
            resp.index = self.raft_log.last_index();
        } else {
            info!(
                "{} [commit: {}] ignored snapshot [index: {}, term: {}]",
                self.id, self.raft_log.committed, index, term
            );
            resp.index = self.raft_log.committed;
        }
        self.send(resp);
    }

    /// Replaces the log and membership with `snap`. Returns false (and only
    /// possibly moves the commit index) when the snapshot is stale or our
    /// log already contains its last entry.
    pub fn restore(&mut self, snap: Snapshot) -> bool {
        let metadata = snap.metadata();
        if metadata.index <= self.raft_log.committed {
            return false;
        }
        if self.state != StateRole::Follower {
            // Only a follower restores; anything else means a bug in the
            // caller. Step down so a fresh leader can sort it out.
            warn!(
                "{} attempted to restore snapshot as {:?}; stepping down",
                self.id, self.state
            );
            let term = self.term + 1;
            self.become_follower(term, INVALID_ID);
            return false;
        }
        if !metadata.conf_state().nodes.contains(&self.id) {
            warn!(
                "{} attempted to restore snapshot {} but it is not in the conf state {:?}; ignored",
                self.id,
                metadata.index,
                metadata.conf_state().nodes
            );
            return false;
        }
        if self.raft_log.match_term(metadata.index, metadata.term) {
            info!(
                "{} [commit: {}, last index: {}, last term: {}] fast-forwarded commit to snapshot [index: {}, term: {}]",
                self.id,
                self.raft_log.committed,
                self.raft_log.last_index(),
                self.raft_log.last_term(),
                metadata.index,
                metadata.term
            );
            self.raft_log.commit_to(metadata.index);
            return false;
        }
        let nodes = metadata.conf_state().nodes.clone();
        self.raft_log.restore(snap);
        let last_index = self.raft_log.last_index();
        self.prs.clear();
        for id in nodes {
            let mut pr = Progress::new(last_index + 1, self.max_inflight);
            if id == self.id {
                pr.matched = last_index;
            }
            self.prs.insert(id, pr);
        }
        true
    }
    // lab 2C: end

    // ----- membership -------------------------------------------------------

    // lab 3A: begin — add: a fresh progress after our last index; remove: smaller quorum, commit and release reads again (docs/labs/lab3a.md#membership-change)
    /// Adds `id` to the group (an applied AddNode conf change). Adding an
    /// existing member does nothing.
    pub fn add_node(&mut self, id: u64) {
        if self.prs.contains_key(&id) {
            return;
        }
        let mut pr = Progress::new(self.raft_log.last_index() + 1, self.max_inflight);
        // A new member has had no chance to talk to us yet; do not let
        // CheckQuorum count it as inactive right away.
        pr.recent_active = true;
        self.prs.insert(id, pr);
        info!("{} [term: {}] added node {}", self.id, self.term, id);
    }

    /// Whether conf-change entry `e` would remove the group's only member.
    fn removes_last_voter(&self, e: &Entry) -> bool {
        let Ok(cc) = ConfChange::parse_from_bytes(&e.data) else {
            return false;
        };
        cc.change_type() == ConfChangeType::RemoveNode
            && self.prs.len() == 1
            && self.prs.contains_key(&cc.node_id)
    }

    /// Removes `id` from the group (an applied RemoveNode conf change). The
    /// smaller quorum may commit entries at once; a removed leader steps
    /// down. Removing the last member is refused with
    /// [`Error::ConfChangeError`]: an empty group could never elect a
    /// leader again (the leader refuses to propose such a change, so only a
    /// log written elsewhere can carry one).
    pub fn remove_node(&mut self, id: u64) -> Result<()> {
        if self.prs.len() == 1 && self.prs.contains_key(&id) {
            return Err(Error::ConfChangeError(format!(
                "removing node {id} would leave the group without voters"
            )));
        }
        if self.prs.remove(&id).is_none() {
            return Err(Error::NotExists { id });
        }
        info!("{} [term: {}] removed node {}", self.id, self.term, id);
        if self.prs.is_empty() {
            return Ok(());
        }
        if self.state != StateRole::Leader {
            return Ok(());
        }
        if id == self.id {
            // A leader outside the group must not keep leading it; the
            // remaining members elect a new leader after their timeout.
            let term = self.term;
            self.become_follower(term, INVALID_ID);
            return Ok(());
        }
        if self.lead_transferee == Some(id) {
            self.abort_leader_transfer();
        }
        // Fewer members, smaller quorum: entries may now be committed.
        if self.maybe_commit() {
            self.bcast_append_logging_errors();
        }
        // ...and reads waiting for acknowledgements may now have their
        // quorum (with one member left, the leader's own ack is enough):
        // without this check they would wait for acks that never come.
        self.release_confirmed_reads();
        Ok(())
    }
    // lab 3A: end

    /// Whether `acks` (peers that acknowledged a read's heartbeat) are a
    /// quorum of the current members. Acks of removed peers do not count.
    fn is_read_quorum(&self, acks: &std::collections::HashSet<u64>) -> bool {
        acks.iter().filter(|id| self.prs.contains_key(id)).count() >= self.quorum()
    }

    /// Answers every pending read up to the latest one whose acks are a
    /// quorum of the current membership.
    fn release_confirmed_reads(&mut self) {
        let Some(ctx) = self
            .read_only
            .latest_request_ctx_matching(|acks| self.is_read_quorum(acks))
        else {
            return;
        };
        for status in self.read_only.advance(&ctx) {
            self.respond_to_read_index(status.req, status.index);
        }
    }

    /// Applies a committed conf change to the membership.
    pub(crate) fn apply_conf_change(&mut self, cc: &ConfChange) -> Result<()> {
        if cc.node_id == INVALID_ID {
            return Ok(());
        }
        match cc.change_type() {
            ConfChangeType::AddNode => {
                self.add_node(cc.node_id);
                Ok(())
            }
            ConfChangeType::RemoveNode => self.remove_node(cc.node_id),
        }
    }

    // ----- application reports ----------------------------------------------

    /// The application finished (or failed) sending a snapshot to `to`.
    pub fn report_snapshot(&mut self, to: u64, status: SnapshotStatus) {
        let mut m = new_message(INVALID_ID, MessageType::MsgSnapStatus);
        m.from = to;
        m.reject = status == SnapshotStatus::Failure;
        self.step_logging_errors(m);
    }

    /// The application could not deliver a message to `to`.
    pub fn report_unreachable(&mut self, to: u64) {
        let mut m = new_message(INVALID_ID, MessageType::MsgUnreachable);
        m.from = to;
        self.step_logging_errors(m);
    }

    /// Encodes a conf change as a proposal entry.
    pub(crate) fn conf_change_entry(cc: &ConfChange) -> Result<Entry> {
        let mut e = Entry::new();
        e.set_entry_type(EntryType::EntryConfChange);
        e.data = Bytes::from(cc.write_to_bytes()?);
        Ok(e)
    }
}

impl<T: Storage> std::fmt::Debug for Raft<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Raft")
            .field("id", &self.id)
            .field("term", &self.term)
            .field("vote", &self.vote)
            .field("state", &self.state)
            .field("leader_id", &self.leader_id)
            .field("committed", &self.raft_log.committed)
            .field("applied", &self.raft_log.applied)
            .field("last_index", &self.raft_log.last_index())
            .finish()
    }
}

// staff-only: begin — unit tests of append batching; they propose through lab 2AB's stubbed code
#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemStorage;

    /// A leader of {1, 2, 3} replicating to 2 and 3, with batching as given.
    fn leader(batch_append: bool, max_size_per_msg: u64) -> Raft<MemStorage> {
        let config = Config {
            id: 1,
            peers: vec![1, 2, 3],
            random_seed: Some(1),
            batch_append,
            max_size_per_msg,
            ..Config::default()
        };
        let mut raft = Raft::new(&config, MemStorage::new()).expect("a valid config");
        raft.become_candidate();
        raft.become_leader();
        // The followers hold the leader's no-op and stream from there.
        let last_index = raft.raft_log.last_index();
        for peer in [2, 3] {
            let pr = raft.mut_prs().get_mut(&peer).expect("a member");
            pr.matched = last_index;
            pr.become_replicate();
        }
        raft.read_messages();
        raft
    }

    fn propose(raft: &mut Raft<MemStorage>, data: &[u8]) {
        let mut entry = Entry::new();
        entry.data = Bytes::copy_from_slice(data);
        let mut m = new_message(1, MessageType::MsgPropose);
        m.from = 1;
        m.entries.push(entry);
        raft.step(m).expect("the leader takes proposals");
    }

    /// The entry counts of the MsgAppends queued for peer 2, in order.
    fn appends_to_2(raft: &mut Raft<MemStorage>) -> Vec<usize> {
        raft.read_messages()
            .into_iter()
            .filter(|m| m.to == 2 && m.msg_type() == MessageType::MsgAppend)
            .map(|m| m.entries.len())
            .collect()
    }

    /// With batch_append, proposals made before the messages are taken
    /// extend the MsgAppend already queued for a peer; without, each
    /// proposal gets its own.
    #[test]
    fn test_batch_append_extends_the_queued_message() {
        let mut batched = leader(true, 1 << 20);
        let mut unbatched = leader(false, 1 << 20);
        for raft in [&mut batched, &mut unbatched] {
            for data in [b"a", b"b", b"c"] {
                propose(raft, data);
            }
        }
        assert_eq!(appends_to_2(&mut batched), vec![3]);
        assert_eq!(appends_to_2(&mut unbatched), vec![1, 1, 1]);
        // Once the messages are taken, the next proposal starts a new message.
        propose(&mut batched, b"d");
        assert_eq!(appends_to_2(&mut batched), vec![1]);
    }

    /// Batching never makes a MsgAppend larger than max_size_per_msg.
    #[test]
    fn test_batch_append_respects_the_size_limit() {
        let payload = [7u8; 100];
        // Room for two entries (with their encoding overhead), not three.
        let mut raft = leader(true, 2 * (100 + ENTRY_ENCODING_OVERHEAD));
        for _ in 0..3 {
            propose(&mut raft, &payload);
        }
        assert_eq!(appends_to_2(&mut raft), vec![2, 1]);
    }

    /// Steps peer 2's acknowledgement of everything up to `index`.
    fn acknowledge_from_2(raft: &mut Raft<MemStorage>, index: u64) {
        let mut m = new_message(1, MessageType::MsgAppendResponse);
        m.from = 2;
        m.term = raft.term;
        m.index = index;
        raft.step(m).expect("the leader takes acknowledgements");
    }

    /// (entry count, commit) of every MsgAppend queued for `peer`, in order.
    fn appends_with_commit(messages: &[Message], peer: u64) -> Vec<(usize, u64)> {
        messages
            .iter()
            .filter(|m| m.to == peer && m.msg_type() == MessageType::MsgAppend)
            .map(|m| (m.entries.len(), m.commit))
            .collect()
    }

    /// A new commit index rides on the MsgAppend still queued for a
    /// follower instead of a commit-only message per acknowledgement; the
    /// follower learns the same commit index from it.
    #[test]
    fn test_commit_index_rides_on_the_queued_append() {
        let mut raft = leader(false, 1 << 20);
        let first = raft.raft_log.last_index() + 1;
        for data in [b"a", b"b", b"c"] {
            propose(&mut raft, data);
        }
        // (The proposals commit the leader's no-op: the helper gave the
        // followers a `matched` of it.)
        let committed_before = raft.raft_log.committed;
        // Three acknowledgements, each committing one more entry, before
        // the leader's messages are taken.
        for index in first..first + 3 {
            acknowledge_from_2(&mut raft, index);
        }
        assert_eq!(raft.raft_log.committed, first + 2);
        let messages = raft.read_messages();
        // No commit-only messages: the last append to each follower now
        // carries the commit index of all three.
        for peer in [2, 3] {
            assert_eq!(
                appends_with_commit(&messages, peer),
                vec![(1, committed_before), (1, committed_before), (1, first + 2)],
                "peer {peer}"
            );
        }
    }

    /// With nothing queued for a follower (the messages were taken), a new
    /// commit index goes in a commit-only MsgAppend of its own.
    #[test]
    fn test_commit_index_goes_alone_when_nothing_is_queued() {
        let mut raft = leader(false, 1 << 20);
        let first = raft.raft_log.last_index() + 1;
        propose(&mut raft, b"a");
        raft.read_messages();
        acknowledge_from_2(&mut raft, first);
        let messages = raft.read_messages();
        assert_eq!(appends_with_commit(&messages, 2), vec![(0, first)]);
        assert_eq!(appends_with_commit(&messages, 3), vec![(0, first)]);
    }

    /// A commit index never rides on an append queued before a later
    /// message to the same follower (here a heartbeat): it would arrive
    /// ahead of that message's news; it gets a message of its own.
    #[test]
    fn test_commit_index_does_not_ride_past_a_later_message() {
        let mut raft = leader(false, 1 << 20);
        let first = raft.raft_log.last_index() + 1;
        propose(&mut raft, b"a");
        let committed_before = raft.raft_log.committed;
        raft.bcast_heartbeat();
        acknowledge_from_2(&mut raft, first);
        let messages = raft.read_messages();
        assert_eq!(
            appends_with_commit(&messages, 3),
            vec![(1, committed_before), (0, first)]
        );
    }
}
// staff-only: end
