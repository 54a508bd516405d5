//! Where raft reads its stable state from: the [`Storage`] trait, and
//! [`MemStorage`], an in-memory implementation for tests and examples.
//!
//! Raft never writes to storage itself. It reads the persisted log, hard
//! state and snapshot through [`Storage`]; the application persists what
//! [`Ready`](crate::Ready) hands it (entries, hard state, snapshot) and only
//! then calls [`RawNode::advance`](crate::RawNode::advance). raftstore
//! implements [`Storage`] on RocksDB; everything else uses [`MemStorage`].

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use log::debug;
use proto::eraftpb::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};

use crate::errors::{Error, Result, StorageError};
use crate::util::count_within_size;

/// The persisted state raft restarts from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RaftState {
    /// The term, vote and commit index last persisted.
    pub hard_state: HardState,
    /// The membership last persisted (from the last snapshot or applied conf change).
    pub conf_state: ConfState,
}

impl RaftState {
    /// A raft state from its two parts.
    pub fn new(hard_state: HardState, conf_state: ConfState) -> RaftState {
        RaftState {
            hard_state,
            conf_state,
        }
    }

    /// Whether anything has been persisted yet (a brand-new node has nothing).
    pub fn initialized(&self) -> bool {
        self.conf_state != ConfState::default()
    }
}

/// Read access to the stable part of a raft log.
///
/// The log holds entries `[first_index(), last_index()]`; everything before
/// was compacted into a snapshot whose index is `first_index() - 1` and whose
/// term [`Storage::term`] still answers. `first_index` and `last_index` are
/// expected to be answered from memory; raft treats an error from them as
/// fatal for the node. All other errors are returned to the caller.
pub trait Storage {
    /// The hard state and membership to start from.
    fn initial_state(&self) -> Result<RaftState>;

    /// The entries in `[low, high)`, cut to a total size of `max_size` bytes
    /// but always at least one entry. Fails with
    /// [`StorageError::Compacted`] when `low` was compacted and
    /// [`StorageError::Unavailable`] when `high` is beyond the last index + 1.
    fn entries(&self, low: u64, high: u64, max_size: Option<u64>) -> Result<Vec<Entry>>;

    /// The term of the entry at `idx`, for any `idx` in
    /// `[first_index() - 1, last_index()]`. Fails with
    /// [`StorageError::Compacted`] below that range and with
    /// [`StorageError::Unavailable`] above it ([`RaftLog`](crate::RaftLog)
    /// relies on it rather than asking for both bounds first).
    fn term(&self, idx: u64) -> Result<u64>;

    /// The index of the first entry still in the log (older ones are in the snapshot).
    fn first_index(&self) -> Result<u64>;

    /// The index of the last entry in the log.
    fn last_index(&self) -> Result<u64>;

    /// The most recent snapshot, covering at least `request_index` (0 = any).
    /// When the snapshot is still being generated this returns
    /// [`StorageError::SnapshotTemporarilyUnavailable`] and raft asks again later.
    fn snapshot(&self, request_index: u64) -> Result<Snapshot>;
}

/// The data behind a [`MemStorage`]; reach it through
/// [`MemStorage::wl`] and [`MemStorage::rl`].
#[derive(Debug, Default)]
pub struct MemStorageCore {
    raft_state: RaftState,
    /// Entries after the last compaction point: `entries[0].index ==
    /// snapshot_metadata.index + 1` when not empty.
    entries: Vec<Entry>,
    /// Index, term and membership of the last compaction point.
    snapshot_metadata: SnapshotMetadata,
    /// The last snapshot created or applied, handed out by `snapshot()`.
    snapshot: Snapshot,
    /// How many more `snapshot()` calls fail with SnapshotTemporarilyUnavailable.
    snapshot_unavailable_remaining: usize,
    /// How many times `snapshot()` was called, failed calls included.
    snapshot_calls: usize,
}

impl MemStorageCore {
    fn first_index(&self) -> u64 {
        self.snapshot_metadata.index + 1
    }

    fn last_index(&self) -> u64 {
        self.snapshot_metadata.index + self.entries.len() as u64
    }

    /// The hard state last set.
    pub fn hard_state(&self) -> &HardState {
        &self.raft_state.hard_state
    }

    /// Replaces the hard state (the application does this with the Ready's hard state).
    pub fn set_hardstate(&mut self, hs: HardState) {
        self.raft_state.hard_state = hs;
    }

    /// Replaces the membership (the application does this after applying a conf change).
    pub fn set_conf_state(&mut self, cs: ConfState) {
        self.raft_state.conf_state = cs;
    }

    /// Sets the commit index of the hard state; the entry must be in the log.
    pub fn commit_to(&mut self, index: u64) -> Result<()> {
        if index > self.last_index() {
            return Err(Error::Store(StorageError::Unavailable));
        }
        if index < self.snapshot_metadata.index {
            return Err(Error::Store(StorageError::Compacted));
        }
        self.raft_state.hard_state.commit = index;
        Ok(())
    }

    /// Replaces the whole log with `snapshot`: the entries are dropped, the
    /// hard state's commit (and term, if older) move up to the snapshot, and
    /// the membership becomes the snapshot's.
    pub fn apply_snapshot(&mut self, snapshot: Snapshot) -> Result<()> {
        let metadata = snapshot.metadata().clone();
        if metadata.index < self.snapshot_metadata.index {
            return Err(Error::Store(StorageError::SnapshotOutOfDate));
        }
        self.entries.clear();
        let hs = &mut self.raft_state.hard_state;
        hs.commit = metadata.index;
        hs.term = hs.term.max(metadata.term);
        self.raft_state.conf_state = metadata.conf_state().clone();
        self.snapshot_metadata = metadata;
        self.snapshot = snapshot;
        Ok(())
    }

    /// Records a snapshot at `idx` (which must be in the log) with the given
    /// membership (default: the current one) and application data, and keeps
    /// it for `snapshot()`. Does not compact the log; call
    /// [`compact`](Self::compact) for that.
    pub fn create_snapshot(
        &mut self,
        idx: u64,
        cs: Option<ConfState>,
        data: impl Into<bytes::Bytes>,
    ) -> Result<&Snapshot> {
        if idx <= self.snapshot.metadata().index {
            return Err(Error::Store(StorageError::SnapshotOutOfDate));
        }
        if idx > self.last_index() {
            return Err(Error::Store(StorageError::Unavailable));
        }
        let term = self.term(idx)?;
        let mut snapshot = Snapshot::new();
        snapshot.data = data.into();
        let metadata = snapshot.mut_metadata();
        metadata.index = idx;
        metadata.term = term;
        metadata.set_conf_state(cs.unwrap_or_else(|| self.raft_state.conf_state.clone()));
        self.snapshot = snapshot;
        Ok(&self.snapshot)
    }

    /// Discards every entry before `compact_index`: afterwards
    /// `first_index() == compact_index`, and the term of `compact_index - 1`
    /// is still known. Compacting to an index at or before the first index is
    /// a no-op; beyond the last index + 1 it fails with Unavailable.
    pub fn compact(&mut self, compact_index: u64) -> Result<()> {
        if compact_index <= self.first_index() {
            return Ok(());
        }
        if compact_index > self.last_index() + 1 {
            return Err(Error::Store(StorageError::Unavailable));
        }
        let new_snapshot_index = compact_index - 1;
        let new_snapshot_term = self.term(new_snapshot_index)?;
        let drain_to = (compact_index - self.first_index()) as usize;
        self.entries.drain(..drain_to);
        self.snapshot_metadata.index = new_snapshot_index;
        self.snapshot_metadata.term = new_snapshot_term;
        self.snapshot_metadata
            .set_conf_state(self.raft_state.conf_state.clone());
        Ok(())
    }

    /// Appends entries to the log. Entries overlapping the log replace it
    /// from the first overlapping index on (a new leader overwrote them);
    /// entries before the first index are ignored (already compacted). A gap
    /// after the last index fails with Unavailable.
    pub fn append(&mut self, ents: &[Entry]) -> Result<()> {
        let Some(first_new) = ents.first().map(|e| e.index) else {
            return Ok(());
        };
        if first_new > self.last_index() + 1 {
            return Err(Error::Store(StorageError::Unavailable));
        }
        let first_kept = self.first_index();
        if ents.last().map(|e| e.index).unwrap_or(0) < first_kept {
            return Ok(());
        }
        let skip = first_kept.saturating_sub(first_new) as usize;
        let ents = &ents[skip..];
        let keep = (ents[0].index - first_kept) as usize;
        self.entries.truncate(keep);
        self.entries.extend_from_slice(ents);
        Ok(())
    }

    /// Makes the next `times` calls to `snapshot()` fail with
    /// [`StorageError::SnapshotTemporarilyUnavailable`], as a storage that is
    /// still generating its snapshot would.
    pub fn trigger_snap_unavailable(&mut self, times: usize) {
        self.snapshot_unavailable_remaining = times;
    }

    /// How many times `snapshot()` was called (tests count the leader's retries).
    pub fn snapshot_calls(&self) -> usize {
        self.snapshot_calls
    }

    fn term(&self, idx: u64) -> Result<u64> {
        if idx == self.snapshot_metadata.index {
            return Ok(self.snapshot_metadata.term);
        }
        if idx < self.first_index() {
            return Err(Error::Store(StorageError::Compacted));
        }
        if idx > self.last_index() {
            return Err(Error::Store(StorageError::Unavailable));
        }
        Ok(self.entries[(idx - self.first_index()) as usize].term)
    }

    /// The snapshot handed to the leader: the kept one if it still covers
    /// the compacted part of the log, otherwise a fresh one at the commit
    /// index (with empty data: a MemStorage has no state machine).
    fn current_snapshot(&self) -> Result<Snapshot> {
        let kept = self.snapshot.metadata().index;
        if kept > 0 && kept >= self.snapshot_metadata.index {
            return Ok(self.snapshot.clone());
        }
        let index = self
            .raft_state
            .hard_state
            .commit
            .clamp(self.snapshot_metadata.index, self.last_index());
        let mut snapshot = Snapshot::new();
        let metadata = snapshot.mut_metadata();
        metadata.index = index;
        metadata.term = self.term(index)?;
        metadata.set_conf_state(self.raft_state.conf_state.clone());
        Ok(snapshot)
    }
}

/// An in-memory [`Storage`] for tests, examples and the simulation. Cloning
/// it shares the same log, so a test can keep a handle while raft owns another.
#[derive(Debug, Clone, Default)]
pub struct MemStorage {
    core: Arc<RwLock<MemStorageCore>>,
}

impl MemStorage {
    /// An empty storage: no entries, no membership (give peers in the Config).
    pub fn new() -> MemStorage {
        MemStorage::default()
    }

    /// An empty storage whose membership is `cs`, as a bootstrapped node would have.
    pub fn new_with_conf_state(cs: ConfState) -> MemStorage {
        let storage = MemStorage::new();
        storage.wl().set_conf_state(cs);
        storage
    }

    /// Locks the storage for writing.
    pub fn wl(&self) -> RwLockWriteGuard<'_, MemStorageCore> {
        // A poisoned lock means a test thread panicked while holding it; the
        // data is still consistent for the single-threaded raft.
        self.core.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Locks the storage for reading.
    pub fn rl(&self) -> RwLockReadGuard<'_, MemStorageCore> {
        self.core.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl Storage for MemStorage {
    fn initial_state(&self) -> Result<RaftState> {
        Ok(self.rl().raft_state.clone())
    }

    fn entries(&self, low: u64, high: u64, max_size: Option<u64>) -> Result<Vec<Entry>> {
        let core = self.rl();
        if low < core.first_index() {
            return Err(Error::Store(StorageError::Compacted));
        }
        if high > core.last_index() + 1 || low > high {
            return Err(Error::Store(StorageError::Unavailable));
        }
        let offset = core.first_index();
        let wanted = &core.entries[(low - offset) as usize..(high - offset) as usize];
        // Cut to the size limit before cloning, so nothing cut is cloned.
        let count = count_within_size(&[], wanted, max_size);
        Ok(wanted[..count].to_vec())
    }

    fn term(&self, idx: u64) -> Result<u64> {
        self.rl().term(idx)
    }

    fn first_index(&self) -> Result<u64> {
        Ok(self.rl().first_index())
    }

    fn last_index(&self) -> Result<u64> {
        Ok(self.rl().last_index())
    }

    fn snapshot(&self, request_index: u64) -> Result<Snapshot> {
        let mut core = self.wl();
        core.snapshot_calls += 1;
        if core.snapshot_unavailable_remaining > 0 {
            core.snapshot_unavailable_remaining -= 1;
            debug!(
                "mem storage: snapshot temporarily unavailable ({} more times)",
                core.snapshot_unavailable_remaining
            );
            return Err(Error::Store(StorageError::SnapshotTemporarilyUnavailable));
        }
        let _ = request_index;
        core.current_snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, term: u64) -> Entry {
        let mut e = Entry::new();
        e.index = index;
        e.term = term;
        e
    }

    fn storage_with(ents: &[(u64, u64)]) -> MemStorage {
        // Start with a compaction point at the first entry, as etcd's tests do.
        let storage = MemStorage::new();
        let (index, term) = ents[0];
        let mut snapshot = Snapshot::new();
        snapshot.mut_metadata().index = index;
        snapshot.mut_metadata().term = term;
        storage.wl().apply_snapshot(snapshot).unwrap();
        let rest: Vec<Entry> = ents[1..].iter().map(|&(i, t)| entry(i, t)).collect();
        storage.wl().append(&rest).unwrap();
        storage
    }

    /// Terms are answered from the compaction point to the last index.
    #[test]
    fn test_storage_term() {
        let s = storage_with(&[(3, 3), (4, 4), (5, 5)]);
        assert_eq!(s.term(2), Err(Error::Store(StorageError::Compacted)));
        assert_eq!(s.term(3), Ok(3));
        assert_eq!(s.term(5), Ok(5));
        assert_eq!(s.term(6), Err(Error::Store(StorageError::Unavailable)));
    }

    /// Entries are bounded by the log and cut by size.
    #[test]
    fn test_storage_entries() {
        let s = storage_with(&[(3, 3), (4, 4), (5, 5), (6, 6)]);
        assert_eq!(
            s.entries(3, 5, None),
            Err(Error::Store(StorageError::Compacted))
        );
        assert_eq!(
            s.entries(4, 8, None),
            Err(Error::Store(StorageError::Unavailable))
        );
        assert_eq!(s.entries(4, 5, None).unwrap(), vec![entry(4, 4)]);
        assert_eq!(s.entries(4, 7, None).unwrap().len(), 3);
        assert_eq!(s.entries(4, 7, Some(0)).unwrap().len(), 1);
    }

    /// Compaction moves the first index and keeps the boundary term.
    #[test]
    fn test_storage_compact() {
        let s = storage_with(&[(3, 3), (4, 4), (5, 5)]);
        s.wl().compact(2).unwrap();
        assert_eq!(s.first_index(), Ok(4));
        s.wl().compact(5).unwrap();
        assert_eq!(s.first_index(), Ok(5));
        assert_eq!(s.term(4), Ok(4));
        assert_eq!(s.last_index(), Ok(5));
        assert_eq!(
            s.wl().compact(7),
            Err(Error::Store(StorageError::Unavailable))
        );
    }

    /// Appending truncates conflicting suffixes and skips compacted entries.
    #[test]
    fn test_storage_append() {
        let s = storage_with(&[(3, 3), (4, 4), (5, 5)]);
        s.wl().append(&[entry(4, 6), entry(5, 6)]).unwrap();
        assert_eq!(s.term(4), Ok(6));
        s.wl()
            .append(&[
                entry(2, 3),
                entry(3, 3),
                entry(4, 6),
                entry(5, 7),
                entry(6, 7),
            ])
            .unwrap();
        assert_eq!(s.term(5), Ok(7));
        assert_eq!(s.last_index(), Ok(6));
        assert_eq!(
            s.wl().append(&[entry(8, 7)]),
            Err(Error::Store(StorageError::Unavailable))
        );
    }

    /// Snapshots are created at an index, and the unavailable switch counts down.
    #[test]
    fn test_storage_create_snapshot_and_unavailable() {
        let s = storage_with(&[(3, 3), (4, 4), (5, 5)]);
        let mut cs = ConfState::new();
        cs.nodes = vec![1, 2, 3];
        let snap = s
            .wl()
            .create_snapshot(4, Some(cs.clone()), b"data".to_vec())
            .unwrap()
            .clone();
        assert_eq!(snap.metadata().index, 4);
        assert_eq!(snap.metadata().term, 4);
        assert_eq!(snap.metadata().conf_state(), &cs);
        s.wl().trigger_snap_unavailable(2);
        for _ in 0..2 {
            assert_eq!(
                s.snapshot(0),
                Err(Error::Store(StorageError::SnapshotTemporarilyUnavailable))
            );
        }
        assert_eq!(s.snapshot(0).unwrap(), snap);
        assert_eq!(s.rl().snapshot_calls(), 3);
    }

    /// Applying a snapshot replaces the log and an older one is refused.
    #[test]
    fn test_storage_apply_snapshot() {
        let s = MemStorage::new();
        let mut snap = Snapshot::new();
        snap.mut_metadata().index = 4;
        snap.mut_metadata().term = 4;
        snap.mut_metadata().mut_conf_state().nodes = vec![1, 2];
        s.wl().apply_snapshot(snap.clone()).unwrap();
        assert_eq!(s.first_index(), Ok(5));
        assert_eq!(s.last_index(), Ok(4));
        assert_eq!(s.initial_state().unwrap().conf_state.nodes, vec![1, 2]);
        assert_eq!(s.rl().hard_state().commit, 4);
        snap.mut_metadata().index = 3;
        assert_eq!(
            s.wl().apply_snapshot(snap),
            Err(Error::Store(StorageError::SnapshotOutOfDate))
        );
    }
}
