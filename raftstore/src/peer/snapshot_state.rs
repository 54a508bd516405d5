//! [`SnapshotState`]: the per-peer snapshot state machine behind
//! `PeerStorage::snapshot` (TinyKV's `SnapState`).
//!
//! ```text
//!            raft asks for a snapshot            region worker answers
//!   Relax ─────────────────────────────▶ Generating ───────────────▶ Relax (snapshot returned to raft)
//!     ▲   send Gen task, answer                │ keep answering
//!     │   "temporarily unavailable"            │ "temporarily unavailable"
//!     │                                        ▼ while the channel is empty
//!     │
//!     │  follower: a snapshot arrives in a Ready
//!   Relax ──────────────────────────────▶ Applying ──(worker reports success)──▶ Relax
//!                                            └──(worker reports failure)──▶ ApplyAborted
//! ```
//!
//! Runs on the raft worker thread, inside `raft::Storage::snapshot`, which
//! must not block: the expensive part (reading the region, writing SST
//! files) happens on the region worker, and the leader keeps asking on
//! every append attempt and heartbeat response until the answer is ready.

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use log::{error, info, warn};
use proto::eraftpb::Snapshot;
use proto::raft_serverpb::RaftSnapshotData;
use protobuf::Message as _;
use raft::StorageError;

use crate::chain::chain;
use crate::peer::peer_storage::{conf_state_from_region, PeerStorage};
use crate::worker::region_task::{GenerateTask, RegionTask};

/// What the region worker answers to a generation request.
pub type GenerateResult = std::result::Result<Snapshot, String>;

/// Where the peer's snapshot stands.
#[derive(Debug)]
pub enum SnapState {
    /// Nothing in progress.
    Relax,
    /// The region worker is generating a snapshot; its answer arrives on `receiver`.
    Generating {
        /// The one-shot channel the region worker answers on.
        receiver: Receiver<GenerateResult>,
        /// The applied index the snapshot is being taken at.
        index: u64,
    },
    /// The region worker is applying a received snapshot; the peer must
    /// neither apply entries nor serve reads.
    Applying,
    /// Applying failed; the peer waits for the leader to send another snapshot.
    ApplyAborted,
}

/// The snapshot state machine of one peer and its link to the region worker.
#[derive(Debug)]
pub struct SnapshotState {
    /// The current state.
    pub state: SnapState,
    region_worker: Option<Sender<RegionTask>>,
    /// Real generation failures since the last success.
    failures: usize,
    retry_limit: usize,
    store_id: u64,
}

impl SnapshotState {
    /// A state machine that schedules generation on `region_worker` (None:
    /// this peer cannot generate snapshots, e.g. in unit tests).
    pub fn new(
        region_worker: Option<Sender<RegionTask>>,
        retry_limit: usize,
        store_id: u64,
    ) -> SnapshotState {
        SnapshotState {
            state: SnapState::Relax,
            region_worker,
            failures: 0,
            retry_limit,
            store_id,
        }
    }

    /// Whether a received snapshot is being applied.
    /// (`ApplyAborted` counts: the region's data is incomplete either way,
    /// so the peer must neither apply entries nor serve reads, and GC must
    /// keep the snapshot's files.)
    pub fn is_applying(&self) -> bool {
        matches!(self.state, SnapState::Applying | SnapState::ApplyAborted)
    }

    /// The body of `PeerStorage::snapshot` (see the module docs).
    pub fn request_snapshot(
        &mut self,
        storage: &PeerStorage,
        request_index: u64,
    ) -> raft::Result<Snapshot> {
        let tag = storage.tag().to_string();
        if let SnapState::Generating { receiver, index } = &self.state {
            let index = *index;
            match receiver.try_recv() {
                Err(TryRecvError::Empty) => {
                    return Err(raft::Error::Store(
                        StorageError::SnapshotTemporarilyUnavailable,
                    ));
                }
                Err(TryRecvError::Disconnected) => {
                    // The worker dropped the task (shutting down or it
                    // skipped it): not a real failure, start over.
                    warn!("{tag} snapshot generation at {index} was abandoned; asking again");
                    self.state = SnapState::Relax;
                }
                Ok(Err(reason)) => {
                    self.state = SnapState::Relax;
                    self.failures += 1;
                    warn!(
                        "{tag} snapshot generation at {index} failed ({} of {}): {reason}",
                        self.failures, self.retry_limit
                    );
                    if self.failures >= self.retry_limit {
                        // Never panic here (TiKV #17226 crashed at exactly
                        // this point). Report an error to raft, which gives
                        // up on this attempt; the next append retries with a
                        // fresh budget.
                        error!("{tag} snapshot generation failed {} times in a row; giving up this round", self.failures);
                        self.failures = 0;
                        return Err(raft::Error::Store(StorageError::Unavailable));
                    }
                }
                Ok(Ok(snapshot)) => {
                    self.state = SnapState::Relax;
                    match validate(storage, &snapshot, request_index) {
                        Ok(()) => {
                            self.failures = 0;
                            chain!(
                                "PeerStorage::snapshot",
                                storage.region().id,
                                snapshot.metadata().index,
                                "store {}: generated snapshot handed to raft",
                                self.store_id
                            );
                            return Ok(snapshot);
                        }
                        Err(reason) => {
                            info!("{tag} generated snapshot is no longer usable ({reason}); generating a new one");
                            chain!(
                                "PeerStorage::snapshot",
                                storage.region().id,
                                snapshot.metadata().index,
                                "store {}: generated snapshot discarded: {reason}",
                                self.store_id
                            );
                        }
                    }
                }
            }
        }
        if matches!(self.state, SnapState::Applying | SnapState::ApplyAborted) {
            return Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        self.schedule_generation(storage)
    }

    fn schedule_generation(&mut self, storage: &PeerStorage) -> raft::Result<Snapshot> {
        let Some(region_worker) = &self.region_worker else {
            return Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            ));
        };
        let index = storage.applied_index();
        let term = raft::Storage::term(storage, index)?;
        let (sender, receiver) = crossbeam_channel::bounded(1);
        let task = GenerateTask {
            region: storage.region().clone(),
            // Taken here, on the raft worker, which is also the thread that
            // applies: the engine snapshot holds exactly the data up to
            // `index`, even though the region worker reads it later.
            kv_snapshot: storage.engines().kv.snapshot(),
            index,
            term,
            conf_state: conf_state_from_region(storage.region()),
            notifier: sender,
            export: None,
        };
        // Logged before the send: the region worker may start (and log)
        // before this thread gets to run again.
        chain!(
            "PeerStorage::snapshot",
            storage.region().id,
            index,
            "store {}: asked region worker to generate; temporarily unavailable",
            self.store_id
        );
        if region_worker.send(RegionTask::Generate(task)).is_err() {
            return Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        self.state = SnapState::Generating { receiver, index };
        Err(raft::Error::Store(
            StorageError::SnapshotTemporarilyUnavailable,
        ))
    }
}

/// Checks that a generated snapshot can still serve the request.
fn validate(storage: &PeerStorage, snapshot: &Snapshot, request_index: u64) -> Result<(), String> {
    let index = snapshot.metadata().index;
    if index < storage.truncated_index() {
        return Err(format!(
            "index {index} is older than the truncated index {}",
            storage.truncated_index()
        ));
    }
    if index < request_index {
        return Err(format!(
            "index {index} is older than the requested {request_index}"
        ));
    }
    let data = RaftSnapshotData::parse_from_bytes(&snapshot.data)
        .map_err(|error| format!("bad snapshot data: {error}"))?;
    // A snapshot made before a membership change or a split describes a
    // region that no longer exists in that shape (other members, a wider
    // range): generate a new one rather than ship the old (TiKV's
    // validate_snap does the same).
    let snapshot_epoch = data.region().region_epoch();
    let current_epoch = storage.region().region_epoch();
    if snapshot_epoch.conf_ver < current_epoch.conf_ver {
        return Err(format!(
            "conf_ver {} is stale (now {})",
            snapshot_epoch.conf_ver, current_epoch.conf_ver
        ));
    }
    if snapshot_epoch.version < current_epoch.version {
        return Err(format!(
            "version {} is stale (now {}): the region was split",
            snapshot_epoch.version, current_epoch.version
        ));
    }
    Ok(())
}
