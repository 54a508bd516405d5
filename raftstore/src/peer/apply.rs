//! Applying committed entries to the kv engine (runs on the raft worker, as
//! in TinyKV; a separate apply thread would add a second pipeline stage and
//! more state to hand over, which this course does not need).
//!
//! For each committed entry, in log order:
//! 1. decode the `RaftCmdRequest` (a leader's empty no-op entry only
//!    advances the applied index);
//! 2. check the region epoch again: the region may have changed between
//!    proposal and apply;
//! 3. stage Puts and Deletes in one kv write batch (user keys get the `z`
//!    prefix); Gets and Snaps read after the staged writes are flushed, so
//!    they see every earlier entry;
//! 4. advance the applied index.
//!
//! The batch is written with the apply state in it, so data and "how far we
//! got" can never disagree, even after a crash. The write need not be
//! synced: if it is lost in a crash, the entries are still in the (synced)
//! raft log and are applied again on restart. Only after the write are the
//! proposals' callbacks answered.

use log::{debug, warn};
use proto::eraftpb::{Entry, EntryType};
use proto::raft_cmdpb::{
    AdminCmdType, AdminResponse, CmdType, RaftCmdRequest, RaftCmdResponse, Request, Response,
};
use protobuf::Message as _;
use storage::{keys, WriteBatch, ALL_CFS, CF_DEFAULT};

use crate::chain::chain;
use crate::errors::{Error, Result};
use crate::failpoints::failpoint;
use crate::msg::CmdResponse;
use crate::peer::admin_apply::AdminEffects;
use crate::peer::Peer;
use crate::region_snapshot::RegionSnapshot;
use crate::store_context::StoreContext;
use crate::worker::raftlog_gc::RaftLogGcTask;
use crate::worker::scheduler_task::SchedulerTask;

/// A result waiting for the batch to be written before it is answered.
struct PendingAnswer {
    index: u64,
    term: u64,
    /// None: the entry carried no command (a no-op or a skipped entry).
    response: Option<CmdResponse>,
}

fn resolve_cf(cf: &str) -> Result<&str> {
    if cf.is_empty() {
        Ok(CF_DEFAULT)
    } else if ALL_CFS.contains(&cf) {
        Ok(cf)
    } else {
        Err(Error::InvalidRequest(format!(
            "unknown column family {cf:?}"
        )))
    }
}

/// The checks `apply_request` would fail on, made for every request of a
/// command up front, so a command is applied entirely or not at all.
fn validate_requests(requests: &[Request]) -> Result<()> {
    for request in requests {
        match request.cmd_type() {
            CmdType::Put => resolve_cf(&request.put().cf).map(|_| ())?,
            CmdType::Delete => resolve_cf(&request.delete().cf).map(|_| ())?,
            CmdType::Get => resolve_cf(&request.get().cf).map(|_| ())?,
            CmdType::Snap => {}
            CmdType::Invalid => {
                return Err(Error::InvalidRequest("invalid command type".to_string()))
            }
        }
    }
    Ok(())
}

impl Peer {
    /// Applies `entries` (committed, in order) and answers their proposals.
    pub fn apply_committed_entries(
        &mut self,
        ctx: &StoreContext,
        entries: Vec<Entry>,
    ) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut kv_batch = WriteBatch::new();
        let mut answers = Vec::new();
        let mut compact_to = None;
        let mut effects = AdminEffects::default();
        for entry in entries {
            if effects.removed_self {
                // This peer left the region: what follows is not its business.
                break;
            }
            if entry.index <= self.storage().applied_index() {
                // Already applied (replayed after a snapshot): skip.
                continue;
            }
            let response = match entry.entry_type() {
                EntryType::EntryNormal if entry.data.is_empty() => None,
                EntryType::EntryNormal => match RaftCmdRequest::parse_from_bytes(&entry.data) {
                    Ok(request) => Some(self.apply_command(
                        ctx,
                        &request,
                        &entry,
                        &mut kv_batch,
                        &mut compact_to,
                        &mut effects,
                    )),
                    Err(error) => {
                        warn!(
                            "{} entry {} is not a command ({error}); skipped",
                            self.tag(),
                            entry.index
                        );
                        None
                    }
                },
                EntryType::EntryConfChange => {
                    self.apply_conf_change_entry(ctx, &entry, &mut kv_batch, &mut effects)
                }
            };
            self.storage_mut().apply_state_mut().applied_index = entry.index;
            // None (no command of ours at this index, e.g. a new leader's
            // no-op) still goes through: any proposal waiting at or before
            // this index was overwritten and is answered now, not at the
            // next command.
            answers.push(PendingAnswer {
                index: entry.index,
                term: entry.term,
                response,
            });
        }
        self.storage().write_apply_state(&mut kv_batch)?;
        ctx.engines.kv.write(kv_batch, false)?;
        let applied_index = self.storage().applied_index();
        self.raft_group.advance_apply_to(applied_index);
        if let Some((index, term)) = compact_to {
            self.finish_compact_log(ctx, index, term)?;
        }
        // Only now that the split is on disk may its new regions serve.
        if !effects.split_regions.is_empty() {
            failpoint!("peer_after_split_applied", ctx.store_id);
        }
        for region in std::mem::take(&mut effects.split_regions) {
            if self.is_leader() {
                // The scheduler checks and logs the split (TiKV's
                // ReportBatchSplit); the halves' heartbeats update its map.
                let _ = ctx.scheduler_task.send(SchedulerTask::ReportSplit {
                    left: self.region().clone(),
                    right: region.clone(),
                });
            }
            self.create_split_peer(ctx, region);
        }
        for answer in answers {
            self.answer_proposal(answer);
        }
        if effects.region_changed {
            // The scheduler learns the new shape now, not at the next tick.
            self.heartbeat_scheduler(ctx);
        }
        if effects.removed_self {
            self.destroy(ctx, None, "removed from the region by a conf change")?;
        }
        Ok(())
    }

    /// Applies one command; returns its response (errors included).
    fn apply_command(
        &mut self,
        ctx: &StoreContext,
        request: &RaftCmdRequest,
        entry: &Entry,
        kv_batch: &mut WriteBatch,
        compact_to: &mut Option<(u64, u64)>,
        effects: &mut AdminEffects,
    ) -> CmdResponse {
        let term = self.term();
        if let Err(error) = self.check_epoch_at_apply(request) {
            return CmdResponse::from_error(&error, term);
        }
        if request.admin_request.is_some() {
            let admin = request.admin_request();
            let mut response = RaftCmdResponse::new();
            let mut admin_response = AdminResponse::new();
            admin_response.set_cmd_type(admin.cmd_type());
            match admin.cmd_type() {
                // lab 2C: begin [stub: ] — move the truncated state in this batch; raftlog_gc deletes the entries later (docs/labs/lab2c.md#log-gc)
                AdminCmdType::CompactLog => {
                    let compact = admin.compact_log();
                    // Never compact past what is applied (this entry included).
                    let index = compact.compact_index.min(entry.index);
                    if index > self.storage().truncated_index() {
                        *compact_to = Some((index, compact.compact_term));
                        self.storage_mut().compact_to(index, compact.compact_term);
                        chain!(
                            "Peer::apply_command",
                            self.region_id(),
                            index,
                            "store {}: applied CompactLog; truncated state moves to {index}",
                            ctx.store_id
                        );
                    }
                    admin_response.mut_compact_log();
                }
                // lab 2C: end
                AdminCmdType::Split => {
                    return match self.apply_split(ctx, request, entry.index, kv_batch, effects) {
                        Ok(response) => response,
                        Err(error) => CmdResponse::from_error(&error, term),
                    };
                }
                other => {
                    // ChangePeer travels as a conf-change entry and
                    // TransferLeader is never replicated: either one in a
                    // normal entry was not proposed by this code.
                    let error = Error::InvalidRequest(format!(
                        "admin command {other:?} cannot be applied from a normal entry"
                    ));
                    return CmdResponse::from_error(&error, term);
                }
            }
            response.admin_response = Some(admin_response).into();
            response.mut_header().current_term = term;
            return CmdResponse {
                response,
                snapshot: None,
            };
        }
        // Refuse the whole command before staging any of it: a command
        // answered with an error must have changed nothing.
        if let Err(error) = validate_requests(&request.requests) {
            return CmdResponse::from_error(&error, term);
        }
        let mut response = RaftCmdResponse::new();
        response.mut_header().current_term = term;
        let mut snapshot = None;
        for single in &request.requests {
            match self.apply_request(ctx, single, kv_batch) {
                Ok((single_response, region_snapshot)) => {
                    response.responses.push(single_response);
                    if region_snapshot.is_some() {
                        snapshot = region_snapshot;
                    }
                }
                Err(error) => return CmdResponse::from_error(&error, term),
            }
        }
        CmdResponse { response, snapshot }
    }

    // lab 2B: begin — stage Puts and Deletes in the kv batch (data_key); Gets and Snaps read after flushing it (docs/labs/lab2b.md#applying)
    fn apply_request(
        &mut self,
        ctx: &StoreContext,
        request: &Request,
        kv_batch: &mut WriteBatch,
    ) -> Result<(Response, Option<RegionSnapshot>)> {
        let mut response = Response::new();
        response.set_cmd_type(request.cmd_type());
        match request.cmd_type() {
            CmdType::Put => {
                let put = request.put();
                kv_batch.put_cf(resolve_cf(&put.cf)?, &keys::data_key(&put.key), &put.value);
                self.size_diff_hint += (put.key.len() + put.value.len()) as u64;
                response.mut_put();
                Ok((response, None))
            }
            CmdType::Delete => {
                let delete = request.delete();
                kv_batch.delete_cf(resolve_cf(&delete.cf)?, &keys::data_key(&delete.key));
                self.size_diff_hint += delete.key.len() as u64;
                response.mut_delete();
                Ok((response, None))
            }
            CmdType::Get => {
                let get = request.get();
                let cf = resolve_cf(&get.cf)?;
                self.flush(ctx, kv_batch)?;
                if let Some(value) = ctx.engines.kv.get_value_cf(cf, &keys::data_key(&get.key))? {
                    response.mut_get().value = value;
                }
                Ok((response, None))
            }
            CmdType::Snap => {
                self.flush(ctx, kv_batch)?;
                response.mut_snap().region = Some(self.region().clone()).into();
                let snapshot =
                    RegionSnapshot::new(ctx.engines.kv.snapshot(), self.region().clone());
                Ok((response, Some(snapshot)))
            }
            CmdType::Invalid => Err(Error::InvalidRequest("invalid command type".to_string())),
        }
    }

    /// Writes the staged batch (with the apply state so far) so a read sees it.
    fn flush(&mut self, ctx: &StoreContext, kv_batch: &mut WriteBatch) -> Result<()> {
        if kv_batch.is_empty() {
            return Ok(());
        }
        self.storage().write_apply_state(kv_batch)?;
        ctx.engines.kv.write(std::mem::take(kv_batch), false)?;
        Ok(())
    }
    // lab 2B: end

    /// The region may have changed since the command was proposed (a split
    /// or conf change applied first): refuse commands made against an older
    /// region version.
    fn check_epoch_at_apply(&self, request: &RaftCmdRequest) -> Result<()> {
        if !request.header().region_epoch.is_some() {
            return Ok(());
        }
        let requested = request.header().region_epoch();
        let current = self.region().region_epoch();
        let is_admin = request.admin_request.is_some();
        if !is_admin && requested.version != current.version {
            return Err(Error::EpochNotMatch {
                message: format!(
                    "region {} version changed from {} to {} before the command applied",
                    self.region_id(),
                    requested.version,
                    current.version
                ),
                current_regions: vec![self.region().clone()],
            });
        }
        Ok(())
    }

    // lab 2B: begin — same index and term: done; an older proposal whose entry was overwritten: StaleCommand (docs/labs/lab2b.md#applying)
    /// Hands the applied result to the proposal waiting for `answer.index`,
    /// and fails proposals whose entries were overwritten.
    fn answer_proposal(&mut self, answer: PendingAnswer) {
        while let Some(front) = self.proposals.front() {
            if front.index > answer.index {
                // Proposed later: this entry belongs to someone else.
                return;
            }
            let proposal = self
                .proposals
                .pop_front()
                .expect("front() just returned Some");
            if proposal.index == answer.index && proposal.term == answer.term {
                if let Some(response) = answer.response {
                    debug!("{} applied proposal at {}", self.tag(), answer.index);
                    proposal.callback.done(response);
                    return;
                }
            }
            // Its index was taken by another term's entry (or passed): the
            // command was overwritten and will never be applied.
            proposal.callback.fail(&Error::StaleCommand, self.term());
        }
    }
    // lab 2B: end

    /// After a CompactLog applied (the truncated state already moved, which
    /// is all the raft library needs to see): ask raftlog_gc to delete the
    /// compacted entries from disk.
    fn finish_compact_log(&mut self, ctx: &StoreContext, index: u64, _term: u64) -> Result<()> {
        let task = RaftLogGcTask {
            region_id: self.region_id(),
            end_index: index + 1,
            tag: self.tag().to_string(),
        };
        if ctx.raftlog_gc.send(task).is_err() {
            warn!(
                "{} raftlog_gc worker is gone; entries up to {index} stay on disk",
                self.tag()
            );
        }
        Ok(())
    }
}
