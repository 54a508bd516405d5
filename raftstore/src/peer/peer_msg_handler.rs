//! [`PeerMsgHandler`]: what a peer does with each message in its mailbox.
//!
//! Runs on the raft worker thread, which calls `PeerMsgHandler::handle` for
//! every message it drains and `RaftWorker::handle_readies` afterwards.
//!
//! | message | handler | effect |
//! |---|---|---|
//! | raft message | `on_raft_message` | validate, then `RawNode::step` |
//! | client command | `propose_raft_command` | check leader/epoch/keys, then `RawNode::propose` |
//! | base tick | `on_tick` | `RawNode::tick`; every few ticks, log GC |
//! | snapshot sent / failed | `on_snapshot_status` | `RawNode::report_snapshot` |
//! | snapshot generated | `on_snapshot_generated` | retry appends at once |
//! | snapshot applied | `on_snapshot_applied` | leave the Applying state |

use log::{debug, info, warn};
use proto::eraftpb::MessageType;
use proto::raft_cmdpb::{AdminCmdType, AdminRequest, CmdType, RaftCmdRequest};
use proto::raft_serverpb::RaftMessage;
use protobuf::Message as _;

use crate::chain::chain;
use crate::errors::{Error, Result};
use crate::msg::{Callback, PeerMsg, RaftCommand};
use crate::peer::{Peer, Proposal};
use crate::store_context::StoreContext;

/// Handles messages for one peer (a short-lived borrow of the peer and the store context).
pub struct PeerMsgHandler<'a> {
    pub(crate) peer: &'a mut Peer,
    pub(crate) ctx: &'a StoreContext,
}

impl<'a> PeerMsgHandler<'a> {
    /// A handler for `peer`.
    pub fn new(peer: &'a mut Peer, ctx: &'a StoreContext) -> PeerMsgHandler<'a> {
        PeerMsgHandler { peer, ctx }
    }

    /// Dispatches one message.
    pub fn handle(&mut self, message: PeerMsg) {
        if self.peer.stopped {
            if let PeerMsg::RaftCommand(command) = message {
                command
                    .callback
                    .fail(&Error::RegionNotFound(self.peer.region_id()), 0);
            }
            return;
        }
        match message {
            PeerMsg::RaftMessage(raft_message) => {
                if let Err(error) = self.on_raft_message(*raft_message) {
                    debug!("{} dropped a raft message: {error}", self.peer.tag());
                }
            }
            PeerMsg::RaftCommand(command) => self.propose_raft_command(command),
            PeerMsg::Create(_) => {
                warn!("{} got a second Create; ignored", self.peer.tag());
            }
            PeerMsg::SnapshotStatus { to_peer_id, status } => {
                self.on_snapshot_status(to_peer_id, status)
            }
            PeerMsg::SnapshotGenerated => self.on_snapshot_generated(),
            PeerMsg::SnapshotApplied { success } => self.on_snapshot_applied(success),
            PeerMsg::RequestSnapshot { export_dir, reply } => {
                self.on_request_snapshot(export_dir, reply)
            }
            PeerMsg::ApproximateSize { size } => self.peer.approximate_size = Some(size),
            PeerMsg::CompactLogNow { reply } => {
                let _ = reply.send(self.compact_log_now());
            }
            PeerMsg::ProposeSplit {
                region_epoch,
                split_key,
                ids,
            } => self.on_propose_split(region_epoch, split_key, ids),
        }
    }

    /// Validates a raft message from another store and steps it into raft.
    fn on_raft_message(&mut self, message: RaftMessage) -> Result<()> {
        let store_id = self.ctx.store_id;
        let to_peer = message.to_peer();
        if to_peer.store_id != store_id {
            return Err(Error::StoreNotMatch {
                request_store_id: to_peer.store_id,
                actual_store_id: store_id,
            });
        }
        if to_peer.id > self.peer.meta.id
            && !message.is_tombstone
            && message.region_epoch().conf_ver > self.peer.region().region_epoch().conf_ver
        {
            // lab 3B: begin — a newer peer of this store means ours was removed without learning it (docs/labs/lab3b.md#destroy)
            // The region was given back to this store with a new peer id
            // (ids only grow) while our peer, removed before it could learn
            // it (an uninitialized peer never hears of its removal), still
            // holds the region id. The re-add happened after our removal, so
            // a genuine message carries a newer conf_ver than our view (a
            // malformed one with a made-up peer id does not, and is only
            // dropped). Destroy ours; the leader's next message then creates
            // the new peer through the store worker.
            let epoch = message.region_epoch().clone();
            self.peer.destroy(
                self.ctx,
                Some(&epoch),
                &format!("store's newer peer {} replaces it", to_peer.id),
            )?;
            return Err(Error::InvalidRequest(format!(
                "message for peer {}: this store's stale peer {} was destroyed",
                to_peer.id, self.peer.meta.id
            )));
            // lab 3B: end
        }
        if to_peer.id != self.peer.meta.id {
            return Err(Error::InvalidRequest(format!(
                "message for peer {} but this store's peer is {}",
                to_peer.id, self.peer.meta.id
            )));
        }
        if message.is_tombstone {
            return self.peer.on_tombstone_message(self.ctx, &message);
        }
        if !message.message.is_some() {
            return Err(Error::InvalidRequest(
                "raft message without a payload".to_string(),
            ));
        }
        // A message from a peer whose view of the region's membership is
        // older than ours, and who is no longer a member, is from a removed
        // peer: drop it so it cannot disturb the group.
        let from = message.from_peer();
        let from_epoch = message.region_epoch();
        let current = self.peer.region().region_epoch();
        let is_member = self
            .peer
            .region()
            .peers
            .iter()
            .any(|peer| peer.id == from.id);
        if from_epoch.conf_ver < current.conf_ver
            && !is_member
            && self.peer.storage().is_initialized()
        {
            // It may never learn it was removed (the leader stopped sending
            // to it once the removal applied): tell it.
            self.peer.send_tombstone(self.ctx, &message);
            return Err(Error::EpochNotMatch {
                message: format!("stale message from removed peer {}", from.id),
                current_regions: vec![self.peer.region().clone()],
            });
        }
        self.peer.peer_cache.insert(from.id, from.clone());
        let raft_message = message
            .message
            .into_option()
            .expect("checked is_some above");
        if raft_message.msg_type() == MessageType::MsgSnapshot {
            let mut wrapped = RaftMessage::new();
            wrapped.region_id = self.peer.region_id();
            wrapped.message = Some(raft_message.clone()).into();
            if let Err(error) = self.peer.check_incoming_snapshot(self.ctx, &wrapped) {
                warn!(
                    "{} ignores snapshot at {}: {error}",
                    self.peer.tag(),
                    raft_message.snapshot().metadata().index
                );
                return Err(error);
            }
            chain!(
                "PeerMsgHandler::on_raft_message",
                self.peer.region_id(),
                raft_message.snapshot().metadata().index,
                "store {store_id}: MsgSnapshot stepped into raft"
            );
        }
        self.peer.raft_group.step(raft_message)?;
        Ok(())
    }

    // lab 2B: begin [stub: command.callback.fail(&Error::InvalidRequest("lab 2B: propose_raft_command is a stub".to_string()), 0)] — check, then propose and remember (index, term, callback) (docs/labs/lab2b.md#proposing)
    /// Checks a client command and proposes it to raft; on any failure the
    /// callback is answered right away with the region error.
    pub fn propose_raft_command(&mut self, command: RaftCommand) {
        let RaftCommand { request, callback } = command;
        if let Err(error) = self.pre_propose_check(&request) {
            callback.fail(&error, self.peer.term());
            return;
        }
        if request.admin_request.is_some() {
            match request.admin_request().cmd_type() {
                AdminCmdType::TransferLeader => {
                    return self.propose_transfer_leader(&request, callback)
                }
                AdminCmdType::ChangePeer => return self.propose_conf_change(request, callback),
                AdminCmdType::Split => {
                    if let Err(error) = self.check_split(&request) {
                        callback.fail(&error, self.peer.term());
                        return;
                    }
                }
                AdminCmdType::CompactLog => {}
                AdminCmdType::InvalidAdmin => {
                    let error = Error::InvalidRequest("invalid admin command type".to_string());
                    callback.fail(&error, self.peer.term());
                    return;
                }
            }
        }
        let data = match request.write_to_bytes() {
            Ok(data) => data,
            Err(error) => {
                callback.fail(&Error::Codec(error), self.peer.term());
                return;
            }
        };
        let index =
            self.propose_and_track(callback, |raft_group| raft_group.propose(Vec::new(), data));
        if let Some(index) = index {
            if request.admin_request.is_some()
                && request.admin_request().cmd_type() == AdminCmdType::Split
            {
                chain!(
                    "PeerMsgHandler::propose_raft_command",
                    self.peer.region_id(),
                    index,
                    "store {}: proposed Split at {:?} (new region {})",
                    self.ctx.store_id,
                    String::from_utf8_lossy(&request.admin_request().split().split_key),
                    request.admin_request().split().new_region_id
                );
            }
        }
    }
    // lab 2B: end

    // lab 2B: begin — a proposal raft drops is NotLeader; the pre-propose checks run in TinyKV's order (docs/labs/lab2b.md#proposing)
    /// Proposes one entry with `propose` and, if raft appended it, queues
    /// `callback` to be answered when the entry at that index (and term)
    /// is applied. Returns the index, or None when the callback was
    /// answered with an error already.
    pub(crate) fn propose_and_track(
        &mut self,
        callback: Callback,
        propose: impl FnOnce(&mut raft::RawNode<crate::PeerStorage>) -> raft::Result<()>,
    ) -> Option<u64> {
        let index = self.peer.raft_group.raft.raft_log.last_index() + 1;
        let term = self.peer.term();
        if let Err(error) = propose(&mut self.peer.raft_group) {
            // Dropped by raft: a leadership transfer is in progress, or we
            // just stepped down. Either way the client should retry.
            debug!("{} proposal dropped by raft: {error}", self.peer.tag());
            let error = Error::NotLeader {
                region_id: self.peer.region_id(),
                leader: self.peer.leader(),
            };
            callback.fail(&error, term);
            return None;
        }
        if self.peer.raft_group.raft.raft_log.last_index() < index {
            callback.fail(&Error::StaleCommand, term);
            return None;
        }
        self.peer.proposals.push_back(Proposal {
            index,
            term,
            callback,
        });
        Some(index)
    }

    /// The checks TinyKV's `preProposeRaftCommand` makes, in its order.
    fn pre_propose_check(&self, request: &RaftCmdRequest) -> Result<()> {
        let header = request.header();
        let region = self.peer.region();
        // 1. Sent to the right store?
        if header.peer.is_some() && header.peer().store_id != self.ctx.store_id {
            return Err(Error::StoreNotMatch {
                request_store_id: header.peer().store_id,
                actual_store_id: self.ctx.store_id,
            });
        }
        // 2. Are we the leader? (Reads and writes both go through the log.)
        if !self.peer.is_leader() {
            return Err(Error::NotLeader {
                region_id: region.id,
                leader: self.peer.leader(),
            });
        }
        // 3. Addressed to this peer?
        if header.peer.is_some() && header.peer().id != self.peer.meta.id {
            return Err(Error::InvalidRequest(format!(
                "request for peer {} but the leader here is peer {}",
                header.peer().id,
                self.peer.meta.id
            )));
        }
        // 4. From a term that is not over?
        if header.term != 0 && header.term + 1 < self.peer.term() {
            return Err(Error::StaleCommand);
        }
        // 5. Against the current region epoch?
        if header.region_epoch.is_some() {
            let requested = header.region_epoch();
            let current = region.region_epoch();
            let is_admin = request.admin_request.is_some();
            let stale = if is_admin {
                requested.conf_ver != current.conf_ver || requested.version != current.version
            } else {
                requested.version != current.version
            };
            if stale {
                return Err(Error::EpochNotMatch {
                    message: format!(
                        "request epoch (conf_ver {}, version {}) does not match region {} (conf_ver {}, version {})",
                        requested.conf_ver, requested.version, region.id, current.conf_ver, current.version
                    ),
                    current_regions: vec![region.clone()],
                });
            }
        }
        // 6. Keys inside the region?
        for single in &request.requests {
            let key = match single.cmd_type() {
                CmdType::Get => &single.get().key,
                CmdType::Put => &single.put().key,
                CmdType::Delete => &single.delete().key,
                CmdType::Snap => continue,
                CmdType::Invalid => {
                    return Err(Error::InvalidRequest("invalid command type".to_string()))
                }
            };
            let in_region = key.as_slice() >= region.start_key.as_slice()
                && (region.end_key.is_empty() || key.as_slice() < region.end_key.as_slice());
            if !in_region {
                return Err(Error::KeyNotInRegion {
                    key: key.clone(),
                    region_id: region.id,
                    start_key: region.start_key.clone(),
                    end_key: region.end_key.clone(),
                });
            }
        }
        Ok(())
    }
    // lab 2B: end

    /// One base tick: tick raft, and every `raft_log_gc_tick_interval`
    /// consider compacting the log.
    pub fn on_tick(&mut self) {
        self.peer.raft_group.tick();
        self.peer.ticks_since_log_gc += 1;
        let base = self.ctx.config.raft_base_tick_interval.as_millis().max(1);
        let gc_ticks = (self.ctx.config.raft_log_gc_tick_interval.as_millis() / base).max(1) as u64;
        if self.peer.ticks_since_log_gc >= gc_ticks {
            self.peer.ticks_since_log_gc = 0;
            self.on_raft_log_gc_tick();
        }
        self.peer.ticks_since_split_check += 1;
        let split_ticks =
            (self.ctx.config.split_region_check_tick_interval.as_millis() / base).max(1) as u64;
        if self.peer.ticks_since_split_check >= split_ticks {
            self.peer.ticks_since_split_check = 0;
            self.on_split_region_check_tick();
        }
        self.peer.ticks_since_heartbeat += 1;
        let heartbeat_ticks = (self
            .ctx
            .config
            .scheduler_heartbeat_tick_interval
            .as_millis()
            / base)
            .max(1) as u64;
        if self.peer.ticks_since_heartbeat >= heartbeat_ticks {
            self.peer.ticks_since_heartbeat = 0;
            self.peer.heartbeat_scheduler(self.ctx);
        }
    }

    // lab 2C: begin [stub: ] — the leader proposes CompactLog once raft_log_gc_count_limit applied entries pile up (docs/labs/lab2c.md#log-gc)
    /// The leader's log GC check (TinyKV's `onRaftGCLogTick`): propose a
    /// CompactLog when the log holds `raft_log_gc_count_limit` applied
    /// entries. Prefer compacting only what every follower already has;
    /// once the log is over the limit, compact anyway and let laggards
    /// catch up by snapshot.
    ///
    /// Runs on the GC tick, and also after every Ready that applied
    /// entries (`RaftWorker::run`), so the log stays within about twice the
    /// limit however fast entries arrive compared with the tick.
    pub fn on_raft_log_gc_tick(&mut self) {
        if !self.peer.is_leader() {
            return;
        }
        let applied = self.peer.storage().applied_index();
        let first_index = self.peer.storage().truncated_index() + 1;
        let limit = self.ctx.config.raft_log_gc_count_limit;
        if applied < first_index || applied - first_index < limit {
            return;
        }
        let slowest_match = self
            .peer
            .raft_group
            .raft
            .prs()
            .iter()
            .filter(|(id, _)| **id != self.peer.meta.id)
            .map(|(_, progress)| progress.matched)
            .min()
            .unwrap_or(applied);
        // Everyone has it: compact up to the slowest follower. Otherwise the
        // log is over the limit with a laggard: compact to `applied` anyway.
        let mut compact_index = if slowest_match > first_index {
            slowest_match.min(applied)
        } else {
            applied
        };
        if applied - compact_index > limit {
            compact_index = applied;
        }
        // Keep the last entry so term lookups at the boundary stay cheap.
        let compact_index = compact_index.saturating_sub(1);
        if compact_index < first_index || compact_index <= self.peer.last_proposed_compact_index {
            return;
        }
        let compact_term = match self.peer.raft_group.raft.raft_log.term(compact_index) {
            Ok(term) => term,
            Err(error) => {
                debug!(
                    "{} cannot compact at {compact_index}: {error}",
                    self.peer.tag()
                );
                return;
            }
        };
        chain!(
            "PeerMsgHandler::on_raft_log_gc_tick",
            self.peer.region_id(),
            compact_index,
            "store {}: proposing CompactLog (applied {applied}, first {first_index})",
            self.ctx.store_id
        );
        self.propose_compact_log(compact_index, compact_term);
    }

    /// Proposes a CompactLog up to `compact_index` (whose term is
    /// `compact_term`); nobody waits for its answer.
    fn propose_compact_log(&mut self, compact_index: u64, compact_term: u64) {
        let mut request = RaftCmdRequest::new();
        request.mut_header().region_id = self.peer.region_id();
        request.mut_header().peer = Some(self.peer.meta.clone()).into();
        let mut admin = AdminRequest::new();
        admin.set_cmd_type(AdminCmdType::CompactLog);
        admin.mut_compact_log().compact_index = compact_index;
        admin.mut_compact_log().compact_term = compact_term;
        request.admin_request = Some(admin).into();
        let (callback, _receiver) = Callback::new();
        self.peer.last_proposed_compact_index = compact_index;
        self.propose_raft_command(RaftCommand { request, callback });
    }
    // lab 2C: end

    /// Proposes a CompactLog up to the applied index (keeping the last
    /// entry), whatever the GC limits say. Leader only.
    fn compact_log_now(&mut self) -> std::result::Result<String, String> {
        if !self.peer.is_leader() {
            return Err(format!("{} is not the leader", self.peer.tag()));
        }
        let applied = self.peer.storage().applied_index();
        let first_index = self.peer.storage().truncated_index() + 1;
        let compact_index = applied.saturating_sub(1);
        if compact_index < first_index {
            return Ok(format!(
                "region {}: nothing to compact (log starts at {first_index}, applied {applied})",
                self.peer.region_id()
            ));
        }
        let compact_term = self
            .peer
            .raft_group
            .raft
            .raft_log
            .term(compact_index)
            .map_err(|error| error.to_string())?;
        self.propose_compact_log(compact_index, compact_term);
        Ok(format!(
            "region {}: compacting the log up to index {compact_index}",
            self.peer.region_id()
        ))
    }

    fn on_snapshot_status(&mut self, to_peer_id: u64, status: raft::SnapshotStatus) {
        info!(
            "{} snapshot to peer {to_peer_id}: {status:?}",
            self.peer.tag()
        );
        self.peer.raft_group.report_snapshot(to_peer_id, status);
    }

    /// The region worker finished a snapshot: retry the appends that were
    /// waiting for it instead of waiting for the next heartbeat response.
    fn on_snapshot_generated(&mut self) {
        if !self.peer.is_leader() {
            return;
        }
        let first_index = self.peer.storage().truncated_index() + 1;
        let waiting: Vec<u64> = self
            .peer
            .raft_group
            .raft
            .prs()
            .iter()
            .filter(|(id, progress)| **id != self.peer.meta.id && progress.next_idx < first_index)
            .map(|(id, _)| *id)
            .collect();
        for id in waiting {
            if let Err(error) = self.peer.raft_group.raft.send_append(id) {
                debug!("{} retry append to {id} failed: {error}", self.peer.tag());
            }
        }
    }

    fn on_snapshot_applied(&mut self, success: bool) {
        self.peer.finish_snapshot_apply(self.ctx, success);
    }

    fn on_request_snapshot(
        &mut self,
        export_dir: Option<std::path::PathBuf>,
        reply: crossbeam_channel::Sender<std::result::Result<String, String>>,
    ) {
        self.peer.request_snapshot(self.ctx, export_dir, reply);
    }
}
