//! [`PeerStorage`]: the `raft::Storage` of one peer, on the store's engines.
//!
//! Runs on the raft worker thread (it lives inside the peer's `RawNode`).
//! It owns the peer's persistent raft state and reads/writes it through
//! `storage::keys`:
//!
//! | state | engine | key | written when |
//! |---|---|---|---|
//! | log entries | raft | `raft_log_key(region, index)` | a Ready carries new entries |
//! | `RaftLocalState` (hard state, last index/term) | raft | `raft_state_key(region)` | same batch as the entries; synced unless only the commit index moved |
//! | `RaftApplyState` (applied index, truncated state) | kv | `apply_state_key(region)` | same batch as the applied data |
//! | `RegionLocalState` (region, Normal/Applying/Tombstone) | kv | `region_state_key(region)` | bootstrap, snapshot, conf change, split |
//!
//! The log the raft library sees is `(truncated.index, last_index]`:
//! entries up to the truncated index were compacted away (log GC) or
//! replaced by a snapshot.
//!
//! Snapshots: [`PeerStorage::snapshot`] never builds one on this thread. It
//! asks the region worker to generate one and answers "temporarily
//! unavailable" until the worker is done (see docs/snapshot.md).

use std::cell::RefCell;

use log::{debug, warn};
use proto::eraftpb::{ConfState, Entry, HardState, Snapshot};
use proto::metapb::Region;
use proto::raft_serverpb::{RaftApplyState, RaftLocalState, RegionLocalState};
use protobuf::Message as _;
use raft::{RaftState, StorageError};
use storage::{keys, Engines, WriteBatch};

use crate::errors::{Error, Result};
use crate::peer::snapshot_state::SnapshotState;

/// The first log index and term of a freshly bootstrapped region. Starting
/// above zero lets a peer created later (with an empty log, index 0) be
/// told apart from one that has the bootstrap state, so a new peer always
/// catches up through a snapshot.
pub const RAFT_INIT_LOG_INDEX: u64 = 5;
/// See [`RAFT_INIT_LOG_INDEX`].
pub const RAFT_INIT_LOG_TERM: u64 = 5;

/// A peer's raft storage over the engines.
pub struct PeerStorage {
    engines: Engines,
    region: Region,
    raft_state: RaftLocalState,
    apply_state: RaftApplyState,
    /// The snapshot machinery (generation requests, applying state). A
    /// RefCell because `raft::Storage::snapshot` takes `&self` and the state
    /// machine must move (Relax -> Generating) inside it. Only the raft
    /// worker thread touches it.
    pub(crate) snapshot_state: RefCell<SnapshotState>,
    tag: String,
}

/// Builds the conf state (voter ids) of a region.
pub fn conf_state_from_region(region: &Region) -> ConfState {
    let mut conf_state = ConfState::new();
    conf_state.nodes = region.peers.iter().map(|peer| peer.id).collect();
    conf_state
}

/// The raft state of a region born from a split (see `PeerStorage::new`):
/// the log ends at the truncated index, which is committed; the term and
/// vote of `promised` (an uninitialized peer's hard state) are kept when
/// its term is not behind the log's.
fn initial_raft_state(
    apply_state: &RaftApplyState,
    promised: Option<RaftLocalState>,
) -> RaftLocalState {
    let truncated = apply_state.truncated_state();
    let mut state = RaftLocalState::new();
    state.last_index = truncated.index;
    state.last_term = truncated.term;
    let hard_state = state.mut_hard_state();
    hard_state.term = truncated.term;
    hard_state.commit = truncated.index;
    if let Some(promised) = promised {
        let promised = promised.hard_state();
        if promised.term >= truncated.term {
            hard_state.term = promised.term;
            hard_state.vote = promised.vote;
        }
    }
    state
}

fn storage_error(error: impl std::fmt::Display) -> raft::Error {
    raft::Error::Store(StorageError::Other(error.to_string().into()))
}

impl PeerStorage {
    /// Loads (or initializes, for a new uninitialized peer) the state of
    /// `region`'s peer from the engines.
    pub fn new(
        engines: Engines,
        region: Region,
        snapshot_state: SnapshotState,
        tag: String,
    ) -> Result<PeerStorage> {
        let region_id = region.id;
        let raft_state = engines
            .raft
            .get_msg::<RaftLocalState>(&keys::raft_state_key(region_id))?;
        let apply_state = match engines
            .kv
            .get_msg::<RaftApplyState>(&keys::apply_state_key(region_id))?
        {
            Some(state) => state,
            None => RaftApplyState::new(),
        };
        // A region born from a split has its whole initial state in the kv
        // engine (written with the split, in one batch): its log starts
        // empty right after the truncated index, which is also what it has
        // applied.
        let born_from_split = !region.peers.is_empty()
            && apply_state.applied_index == apply_state.truncated_state().index
            && apply_state.applied_index > 0;
        let mut raft_state = match raft_state {
            // No raft state yet: derive it from the kv engine.
            None if born_from_split => initial_raft_state(&apply_state, None),
            // A raft state without a single entry, left by an uninitialized
            // peer of the new region: the new region's leader reached this
            // store before the split applied here, and the peer it created
            // persisted a term and vote, then the store restarted (which
            // drops uninitialized peers) and applied the split again. The
            // log is what the split says; the term and vote are a promise
            // this peer made and are kept.
            Some(state) if born_from_split && state.last_index == 0 => {
                initial_raft_state(&apply_state, Some(state))
            }
            Some(state) => state,
            None => RaftLocalState::new(),
        };
        // The hard state is persisted before anything is applied, so the
        // log must reach at least the applied index. Anything else means the
        // two engines were not written in the documented order.
        if raft_state.last_index < apply_state.applied_index {
            return Err(Error::Storage(storage::Error::InvalidRequest(format!(
                "{tag} raft last index {} is behind applied index {}: engines are inconsistent",
                raft_state.last_index, apply_state.applied_index
            ))));
        }
        // Entries up to the truncated index are committed (they were
        // compacted or came in a snapshot); a hard state saved before the
        // snapshot finished may say less.
        let truncated_index = apply_state.truncated_state().index;
        if raft_state.hard_state().commit < truncated_index {
            raft_state.mut_hard_state().commit = truncated_index;
        }
        // Likewise up to the applied index: a hard state whose only change
        // was its commit index is written without sync
        // (`RaftWorker::handle_readies`), so after a power failure it can be
        // behind what was applied; applied entries were committed.
        if raft_state.hard_state().commit < apply_state.applied_index {
            raft_state.mut_hard_state().commit = apply_state.applied_index;
        }
        debug!(
            "{tag} peer storage loaded: last index {}, applied {}, truncated {}",
            raft_state.last_index,
            apply_state.applied_index,
            apply_state.truncated_state().index
        );
        Ok(PeerStorage {
            engines,
            region,
            raft_state,
            apply_state,
            snapshot_state: RefCell::new(snapshot_state),
            tag,
        })
    }

    /// The region as this peer knows it.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// Replaces the region (after a snapshot, conf change or split).
    pub fn set_region(&mut self, region: Region) {
        self.region = region;
    }

    /// Whether the peer has its region's metadata (an uninitialized peer,
    /// created for a message before any snapshot arrived, has no peers).
    pub fn is_initialized(&self) -> bool {
        !self.region.peers.is_empty()
    }

    /// The engines.
    pub fn engines(&self) -> &Engines {
        &self.engines
    }

    /// The persisted raft state.
    pub fn raft_state(&self) -> &RaftLocalState {
        &self.raft_state
    }

    /// The apply state (applied index, truncated state).
    pub fn apply_state(&self) -> &RaftApplyState {
        &self.apply_state
    }

    /// Mutable apply state: the applier advances it as it applies.
    pub fn apply_state_mut(&mut self) -> &mut RaftApplyState {
        &mut self.apply_state
    }

    /// The highest applied log index.
    pub fn applied_index(&self) -> u64 {
        self.apply_state.applied_index
    }

    /// The truncated (compacted) index: the log starts right after it.
    pub fn truncated_index(&self) -> u64 {
        self.apply_state.truncated_state().index
    }

    /// The term of the truncated index.
    pub fn truncated_term(&self) -> u64 {
        self.apply_state.truncated_state().term
    }

    /// A short "[region 1] peer 2" tag for log lines.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    fn check_range(&self, low: u64, high: u64) -> raft::Result<()> {
        if low > high {
            return Err(storage_error(format!(
                "{} bad range [{low}, {high})",
                self.tag
            )));
        }
        if low <= self.truncated_index() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > self.raft_state.last_index + 1 {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        Ok(())
    }

    // lab 2B: begin — stage the entries and the new last index; delete an old leader's entries beyond it (docs/labs/lab2b.md#peer-storage)
    /// Stages `entries` (the Ready's unstable entries) and the new last
    /// index in `raft_batch`. Entries after the new last index, left over
    /// from an old leader's log, are deleted in the same batch.
    pub fn append(&mut self, entries: &[Entry], raft_batch: &mut WriteBatch) -> Result<()> {
        let Some(last) = entries.last() else {
            return Ok(());
        };
        let region_id = self.region.id;
        for entry in entries {
            raft_batch.put_msg(&keys::raft_log_key(region_id, entry.index), entry)?;
        }
        let previous_last = self.raft_state.last_index;
        for stale_index in last.index + 1..=previous_last {
            raft_batch.delete(&keys::raft_log_key(region_id, stale_index));
        }
        self.raft_state.last_index = last.index;
        self.raft_state.last_term = last.term;
        Ok(())
    }
    // lab 2B: end

    /// Stages a new hard state in the raft state.
    pub fn set_hard_state(&mut self, hard_state: HardState) {
        self.raft_state.hard_state = Some(hard_state).into();
    }

    /// Stages the raft state itself in `raft_batch`.
    pub fn write_raft_state(&self, raft_batch: &mut WriteBatch) -> Result<()> {
        raft_batch.put_msg(&keys::raft_state_key(self.region.id), &self.raft_state)?;
        Ok(())
    }

    /// Stages the apply state in `kv_batch` (always together with the data it describes).
    pub fn write_apply_state(&self, kv_batch: &mut WriteBatch) -> Result<()> {
        kv_batch.put_msg(&keys::apply_state_key(self.region.id), &self.apply_state)?;
        Ok(())
    }

    /// Replaces the raft and apply state after a snapshot was accepted:
    /// the log now starts after `snapshot_index`.
    pub fn reset_to_snapshot(&mut self, snapshot_index: u64, snapshot_term: u64) {
        self.raft_state.last_index = snapshot_index;
        self.raft_state.last_term = snapshot_term;
        // Everything in the snapshot is committed by definition.
        let hard_state = self.raft_state.mut_hard_state();
        hard_state.commit = hard_state.commit.max(snapshot_index);
        hard_state.term = hard_state.term.max(snapshot_term);
        self.apply_state.applied_index = snapshot_index;
        let truncated = self.apply_state.mut_truncated_state();
        truncated.index = snapshot_index;
        truncated.term = snapshot_term;
    }

    /// Records that entries up to `index` (of `term`) were compacted away.
    pub fn compact_to(&mut self, index: u64, term: u64) {
        let truncated = self.apply_state.mut_truncated_state();
        truncated.index = index;
        truncated.term = term;
    }

    /// Persists the region state (with `state`) in `kv_batch`.
    pub fn write_region_state(
        &self,
        kv_batch: &mut WriteBatch,
        state: proto::raft_serverpb::PeerState,
    ) -> Result<()> {
        let mut region_state = RegionLocalState::new();
        region_state.set_state(state);
        region_state.region = Some(self.region.clone()).into();
        kv_batch.put_msg(&keys::region_state_key(self.region.id), &region_state)?;
        Ok(())
    }

    fn read_entry(&self, index: u64) -> raft::Result<Entry> {
        let key = keys::raft_log_key(self.region.id, index);
        match self.engines.raft.get_msg::<Entry>(&key) {
            Ok(Some(entry)) => Ok(entry),
            Ok(None) => {
                warn!(
                    "{} log entry {index} missing from the raft engine",
                    self.tag
                );
                Err(raft::Error::Store(StorageError::Unavailable))
            }
            Err(error) => Err(storage_error(error)),
        }
    }
}

impl raft::Storage for PeerStorage {
    fn initial_state(&self) -> raft::Result<RaftState> {
        let hard_state = self.raft_state.hard_state.clone().unwrap_or_default();
        let conf_state = if self.is_initialized() {
            conf_state_from_region(&self.region)
        } else {
            ConfState::new()
        };
        Ok(RaftState {
            hard_state,
            conf_state,
        })
    }

    fn entries(&self, low: u64, high: u64, max_size: Option<u64>) -> raft::Result<Vec<Entry>> {
        self.check_range(low, high)?;
        let mut entries = Vec::with_capacity((high - low) as usize);
        if low == high {
            return Ok(entries);
        }
        let region_id = self.region.id;
        let start = keys::raft_log_key(region_id, low);
        let end = keys::raft_log_key(region_id, high);
        let mut total_size = 0u64;
        let mut expected_index = low;
        let mut stopped_by_size = false;
        let mut decode_error = None;
        let scanned = self
            .engines
            .raft
            .scan_cf(storage::CF_DEFAULT, &start, &end, |key, value| {
                let entry = match Entry::parse_from_bytes(value) {
                    Ok(entry) => entry,
                    Err(error) => {
                        decode_error = Some(format!("corrupt log entry at key {key:?}: {error}"));
                        return Ok(false);
                    }
                };
                // A hole in the log (a missing index) means entries were lost.
                if entry.index != expected_index {
                    return Ok(false);
                }
                expected_index += 1;
                total_size += entry.compute_size();
                // Always return at least one entry, even if it alone is over the limit.
                if max_size.is_some_and(|limit| total_size > limit) && !entries.is_empty() {
                    stopped_by_size = true;
                    return Ok(false);
                }
                entries.push(entry);
                Ok(true)
            });
        if let Err(error) = scanned {
            return Err(storage_error(error));
        }
        if let Some(error) = decode_error {
            return Err(storage_error(error));
        }
        if entries.len() as u64 != high - low && !stopped_by_size {
            warn!(
                "{} log entries [{low}, {high}) are incomplete in the raft engine",
                self.tag
            );
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        Ok(entries)
    }

    fn term(&self, index: u64) -> raft::Result<u64> {
        if index == self.truncated_index() {
            return Ok(self.truncated_term());
        }
        self.check_range(index, index + 1)?;
        if index == self.raft_state.last_index {
            return Ok(self.raft_state.last_term);
        }
        Ok(self.read_entry(index)?.term)
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.truncated_index() + 1)
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.raft_state.last_index)
    }

    // lab 2C: begin [stub: Err(raft::Error::Store(StorageError::SnapshotTemporarilyUnavailable))] — never block: schedule generation, answer temporarily unavailable until done (docs/labs/lab2c.md#generation)
    fn snapshot(&self, request_index: u64) -> raft::Result<Snapshot> {
        let mut state = self.snapshot_state.borrow_mut();
        state.request_snapshot(self, request_index)
    }
    // lab 2C: end
}

impl std::fmt::Debug for PeerStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerStorage")
            .field("tag", &self.tag)
            .field("last_index", &self.raft_state.last_index)
            .field("applied_index", &self.apply_state.applied_index)
            .finish_non_exhaustive()
    }
}
