//! The follower side of a snapshot inside the raft worker: checking an
//! incoming MsgSnapshot, persisting an accepted snapshot as `Applying`,
//! handing it to the region worker, and coming back to `Normal`. Also the
//! user-requested snapshot (`Peer::request_snapshot`).
//!
//! Crash safety of `Peer::persist_snapshot` (two engines, no shared batch):
//!
//! 1. kv engine, one synced batch: region state `Applying` with the new
//!    region, the apply state (applied = truncated = snapshot index), and the
//!    *snapshot raft state* (the raft state that goes with the snapshot).
//! 2. raft engine, one synced batch: the raft state (last index = snapshot
//!    index) and the deletion of the old log.
//!
//! * Crash before 1: nothing changed; the leader sends the snapshot again.
//! * Crash between 1 and 2: on restart the region is `Applying`; startup
//!   (`RaftStore::start`) sees a raft state older than the snapshot raft
//!   state, rewrites it from the latter, and re-applies from the `rev_`
//!   files (GC never deletes those of an Applying region).
//! * Crash after 2, before the region worker marks `Normal`: the same
//!   re-apply on restart; ingesting the same files twice is harmless
//!   because the range is cleared first.

use log::{error, info, warn};
use proto::eraftpb::Snapshot;
use proto::raft_serverpb::{PeerState, RaftMessage, RaftSnapshotData};
use protobuf::Message as _;
use storage::{keys, WriteBatch};

use crate::chain::chain;

/// How many times a snapshot apply is attempted before the peer gives up.
const MAX_APPLY_ATTEMPTS: u32 = 3;
use crate::errors::{Error, Result};
use crate::failpoints::failpoint;
use crate::peer::snapshot_state::SnapState;
use crate::peer::Peer;
use crate::snap_manager::{SnapKey, SnapKind};
use crate::store_context::StoreContext;
use crate::worker::region_task::{ApplyTask, ExportRequest, GenerateTask, RegionTask};

impl Peer {
    /// Checks an incoming MsgSnapshot before raft sees it. Refused: a
    /// snapshot for another region, one that does not decode, one at or
    /// below the applied index (etcd panics there; we drop it), one with a
    /// stale region epoch, one whose range overlaps another region of this
    /// store (TiKV #866), or one whose files are not here.
    pub fn check_incoming_snapshot(&self, ctx: &StoreContext, message: &RaftMessage) -> Result<()> {
        let snapshot = message.message().snapshot();
        let index = snapshot.metadata().index;
        let data = RaftSnapshotData::parse_from_bytes(&snapshot.data)?;
        let region = data.region();
        if region.id != self.region_id() {
            return Err(Error::InvalidRequest(format!(
                "snapshot of region {} sent to region {}",
                region.id,
                self.region_id()
            )));
        }
        if index <= self.storage().applied_index() {
            return Err(Error::InvalidRequest(format!(
                "snapshot at {index} is not newer than applied index {}",
                self.storage().applied_index()
            )));
        }
        let current = self.region().region_epoch();
        let incoming = region.region_epoch();
        if incoming.conf_ver < current.conf_ver || incoming.version < current.version {
            return Err(Error::EpochNotMatch {
                message: format!(
                    "snapshot epoch ({}, {}) is stale",
                    incoming.conf_ver, incoming.version
                ),
                current_regions: vec![self.region().clone()],
            });
        }
        if let Some(other) = ctx.store_meta.overlapping_region(region) {
            return Err(Error::InvalidRequest(format!(
                "snapshot range overlaps region {other} (applied or pending) on this store"
            )));
        }
        let key = SnapKey {
            region_id: region.id,
            term: snapshot.metadata().term,
            index,
        };
        if !ctx.snap_manager.meta_path(SnapKind::Received, key).exists() {
            return Err(Error::Snapshot(format!(
                "files of snapshot {key} are missing"
            )));
        }
        // From now on a second snapshot overlapping this range is refused,
        // even one in the same batch, before this one is persisted.
        ctx.store_meta.add_pending_snapshot(region.clone());
        Ok(())
    }

    // lab 2C: begin [stub: Err(Error::Snapshot("lab 2C: persist_snapshot is a stub".to_string()))] — kv engine first (Applying), then the raft engine, then the region worker (docs/labs/lab2c.md#applying)
    /// Persists a snapshot handed over by raft in a Ready and schedules its
    /// application (see the module docs for the order and why it is safe).
    pub fn persist_snapshot(&mut self, ctx: &StoreContext, snapshot: &Snapshot) -> Result<()> {
        let region_id = self.region_id();
        let metadata = snapshot.metadata();
        let (index, term) = (metadata.index, metadata.term);
        let data = RaftSnapshotData::parse_from_bytes(&snapshot.data)?;
        let region = data.region().clone();
        let old_last_index = self.storage().raft_state().last_index;

        self.storage_mut().set_region(region.clone());
        self.storage_mut().reset_to_snapshot(index, term);
        for peer in &region.peers {
            self.peer_cache.insert(peer.id, peer.clone());
        }

        // 1. kv engine: Applying + apply state + snapshot raft state.
        let mut kv_batch = WriteBatch::new();
        self.storage()
            .write_region_state(&mut kv_batch, PeerState::Applying)?;
        self.storage().write_apply_state(&mut kv_batch)?;
        kv_batch.put_msg(
            &keys::snapshot_raft_state_key(region_id),
            self.storage().raft_state(),
        )?;
        ctx.engines.kv.write(kv_batch, true)?;
        failpoint!("peer_after_persist_applying", ctx.store_id);

        // 2. raft engine: new raft state, old log gone.
        let mut raft_batch = WriteBatch::new();
        raft_batch.delete_range_cf(
            storage::CF_DEFAULT,
            &keys::raft_log_key(region_id, 0),
            &keys::raft_log_key(region_id, old_last_index.max(index) + 1),
        );
        self.storage().write_raft_state(&mut raft_batch)?;
        ctx.engines.raft.write(raft_batch, true)?;

        chain!(
            "Peer::persist_snapshot",
            region_id,
            index,
            "store {}: persisted Applying; Apply task scheduled",
            ctx.store_id
        );
        self.schedule_apply(ctx, snapshot.clone());
        Ok(())
    }
    // lab 2C: end

    /// Enters the Applying state and hands the snapshot to the region worker.
    pub fn schedule_apply(&mut self, ctx: &StoreContext, snapshot: Snapshot) {
        self.storage().snapshot_state.borrow_mut().state = SnapState::Applying;
        self.applying_snapshot = Some(snapshot.clone());
        self.apply_attempts = 1;
        let task = ApplyTask {
            region_id: self.region_id(),
            snapshot,
        };
        if ctx.region_worker.send(RegionTask::Apply(task)).is_err() {
            warn!(
                "{} region worker is gone; snapshot stays unapplied",
                self.tag()
            );
        }
        self.publish_status(ctx);
    }

    /// The region worker's report: back to serving, or stuck waiting for
    /// another snapshot.
    pub fn finish_snapshot_apply(&mut self, ctx: &StoreContext, success: bool) {
        let region_id = self.region_id();
        let applied = self.storage().applied_index();
        if !success && self.apply_attempts < MAX_APPLY_ATTEMPTS {
            if let Some(snapshot) = self.applying_snapshot.clone() {
                // A failed ingest may be transient (a full disk that was
                // cleaned up, an I/O error): try again from the same files.
                self.apply_attempts += 1;
                warn!(
                    "{} snapshot apply failed; retrying (attempt {} of {MAX_APPLY_ATTEMPTS})",
                    self.tag(),
                    self.apply_attempts
                );
                let task = ApplyTask {
                    region_id,
                    snapshot,
                };
                if ctx.region_worker.send(RegionTask::Apply(task)).is_ok() {
                    return;
                }
            }
        }
        if success {
            self.applying_snapshot = None;
        }
        let new_state = if success {
            SnapState::Relax
        } else {
            SnapState::ApplyAborted
        };
        self.storage().snapshot_state.borrow_mut().state = new_state;
        ctx.store_meta.remove_pending_snapshot(region_id);
        if self.pending_destroy {
            // Removed while the region worker was writing the range; now
            // that it is done, finish the destroy (Tombstone wins).
            self.storage().snapshot_state.borrow_mut().state = SnapState::Relax;
            if let Err(error) = self.destroy(ctx, None, "removed while applying a snapshot") {
                error!(
                    "{} destroy after snapshot apply failed: {error}",
                    self.tag()
                );
            }
            return;
        }
        if success {
            info!(
                "{} snapshot applied; serving from index {applied}",
                self.tag()
            );
            chain!(
                "Peer::finish_snapshot_apply",
                region_id,
                applied,
                "store {}: peer leaves Applying",
                ctx.store_id
            );
        } else {
            // The region's data is incomplete. The peer stays out of
            // service (no Ready, no reads: ApplyAborted counts as applying)
            // and keeps its rev_ files; a restart re-applies them.
            error!(
                "{} snapshot apply failed {} times; the peer stays out of service until the store restarts",
                self.tag(),
                self.apply_attempts
            );
        }
        self.publish_status(ctx);
    }

    /// A user-requested snapshot (dragonboat's RequestSnapshot): generate
    /// one now on the region worker, optionally exporting its files; the
    /// region worker answers on `reply`. Without an export directory it is
    /// ignored (answered at once) when nothing was applied since the last
    /// requested one; an export always gets its files (regenerating at the
    /// same index is safe: files in use are reused, see the region worker).
    pub fn request_snapshot(
        &mut self,
        ctx: &StoreContext,
        export_dir: Option<std::path::PathBuf>,
        reply: crossbeam_channel::Sender<std::result::Result<String, String>>,
    ) {
        let applied = self.storage().applied_index();
        if applied == self.last_requested_snapshot_index && export_dir.is_none() {
            let _ = reply.send(Err(format!(
                "region {}: nothing applied since the snapshot at index {applied}; request ignored",
                self.region_id()
            )));
            return;
        }
        if self.storage().snapshot_state.borrow().is_applying() {
            let _ = reply.send(Err(format!(
                "region {}: a snapshot is being applied; try again later",
                self.region_id()
            )));
            return;
        }
        let storage = self.storage();
        let term = match raft::Storage::term(storage, applied) {
            Ok(term) => term,
            Err(error) => {
                let _ = reply.send(Err(format!("region {}: {error}", self.region_id())));
                return;
            }
        };
        // Nobody waits on the notifier: the region worker answers `reply`.
        let (notifier, _) = crossbeam_channel::bounded(1);
        let task = GenerateTask {
            region: storage.region().clone(),
            kv_snapshot: ctx.engines.kv.snapshot(),
            index: applied,
            term,
            conf_state: crate::peer::peer_storage::conf_state_from_region(storage.region()),
            notifier,
            export: Some(ExportRequest {
                dir: export_dir,
                reply,
            }),
        };
        chain!(
            "Peer::request_snapshot",
            self.region_id(),
            applied,
            "store {}: user-requested snapshot scheduled",
            ctx.store_id
        );
        self.last_requested_snapshot_index = applied;
        if let Err(error) = ctx.region_worker.send(RegionTask::Generate(task)) {
            if let RegionTask::Generate(task) = error.into_inner() {
                if let Some(export) = task.export {
                    let _ = export.reply.send(Err("region worker is gone".to_string()));
                }
            }
        }
    }
}
