//! The raft log as raft sees it: persisted entries in [`Storage`] followed
//! by not-yet-persisted ones in [`Unstable`], plus the commit and apply
//! indexes.
//!
//! ```text
//!   snapshot / compacted | stable (storage)     | unstable (memory)
//!   ....... first_index-1 | first_index ... | offset ... last_index
//!                    applied <= committed <= last_index
//! ```
//!
//! [`Raft`](crate::Raft) owns one [`RaftLog`]; the application reads it
//! only through [`Ready`](crate::Ready).

use std::cmp;

use log::{debug, error};
use proto::eraftpb::{Entry, Snapshot};

use crate::errors::{Error, Result, StorageError};
use crate::log_unstable::Unstable;
use crate::storage::Storage;
use crate::util::count_within_size;

/// A raft log over storage `T`.
#[derive(Debug)]
pub struct RaftLog<T: Storage> {
    /// The persisted part of the log.
    pub store: T,
    /// Entries (and a snapshot) accepted but not persisted yet.
    pub unstable: Unstable,
    /// The highest index known to be stored on a quorum (Raft paper §5.3).
    pub committed: u64,
    /// The highest index the application has applied; `applied <= committed`.
    pub applied: u64,
}

impl<T: Storage> RaftLog<T> {
    /// A log over `store`, with everything in the store taken as committed
    /// and applied up to the store's compaction point.
    ///
    /// # Panics
    ///
    /// If the store cannot report its first and last index. Use
    /// [`try_new`](Self::try_new) to get that failure as an error; a
    /// [`MemStorage`](crate::MemStorage) never fails here.
    pub fn new(store: T) -> RaftLog<T> {
        match RaftLog::try_new(store) {
            Ok(log) => log,
            Err(e) => panic!("storage must report its first and last index: {e}"),
        }
    }

    /// Like [`new`](Self::new), but returns the storage's error instead of panicking.
    pub fn try_new(store: T) -> Result<RaftLog<T>> {
        let first_index = store.first_index()?;
        let last_index = store.last_index()?;
        Ok(RaftLog {
            store,
            unstable: Unstable::new(last_index + 1),
            committed: first_index - 1,
            applied: first_index - 1,
        })
    }

    /// The first index of the log still available (a pending snapshot or the
    /// storage's compaction point decides it).
    pub fn first_index(&self) -> u64 {
        match self.unstable.maybe_first_index() {
            Some(index) => index,
            None => self
                .store
                .first_index()
                .expect("Storage::first_index is answered from memory (see the Storage docs)"),
        }
    }

    /// The index of the last entry, persisted or not.
    pub fn last_index(&self) -> u64 {
        // Known without the storage (this runs several times per message):
        // the log is the storage's entries up to `unstable.offset - 1` (the
        // application persists what Ready hands out before `advance` drops
        // it from the buffer), then the buffer's entries.
        let last_index = self.unstable.offset + self.unstable.entries.len() as u64 - 1;
        debug_assert!(
            !self.unstable.entries.is_empty()
                || self.unstable.snapshot.is_some()
                || self.store.last_index().is_ok_and(|stored| stored == last_index),
            "the storage's last index is the unstable offset - 1 ({last_index}) when nothing is unstable"
        );
        last_index
    }

    /// The term of the entry at `idx`. Fails with Compacted before
    /// `first_index() - 1` and with Unavailable after `last_index()`.
    pub fn term(&self, idx: u64) -> Result<u64> {
        // The buffer first: it answers the hot cases (entries just
        // appended, a pending snapshot) without touching the storage.
        if let Some(term) = self.unstable.maybe_term(idx) {
            return Ok(term);
        }
        if idx > self.last_index() {
            return Err(Error::Store(StorageError::Unavailable));
        }
        if self.unstable.snapshot.is_some() {
            // Everything before a pending snapshot is replaced by it.
            return Err(Error::Store(StorageError::Compacted));
        }
        // The storage's part: it reports Compacted itself (see
        // Storage::term), so its bounds need not be asked for first.
        self.store.term(idx)
    }

    /// The term of the last entry (0 for an empty log).
    pub fn last_term(&self) -> u64 {
        match self.term(self.last_index()) {
            Ok(term) => term,
            Err(e) => {
                // The last entry is always in memory or at the storage's
                // boundary; reaching this means the storage is broken.
                error!("cannot read the term of the last index: {}", e);
                0
            }
        }
    }

    /// Whether the entry at `idx` has term `term` (the Log Matching check,
    /// Raft paper §5.3). False when the entry is not in the log.
    pub fn match_term(&self, idx: u64, term: u64) -> bool {
        self.term(idx).map(|t| t == term).unwrap_or(false)
    }

    // lab 2AB: begin — match at (idx, term), then truncate the first conflict and append the rest; never below commit (docs/labs/lab2a.md#replication)
    /// Handles the entries of a MsgAppend whose previous entry is
    /// `(idx, term)`: if our log matches there, appends what is new, drops
    /// a conflicting suffix, moves the commit index up to `committed` (but
    /// not past the new entries) and returns the index of the last new
    /// entry. Returns `None` when the logs do not match at `idx` (the
    /// leader must back off, Raft paper §5.3).
    pub fn maybe_append(
        &mut self,
        idx: u64,
        term: u64,
        committed: u64,
        ents: &[Entry],
    ) -> Option<u64> {
        if !self.match_term(idx, term) {
            return None;
        }
        let last_new_index = idx + ents.len() as u64;
        let conflict_index = self.find_conflict(ents);
        if conflict_index != 0 {
            if conflict_index <= self.committed {
                error!(
                    "entry {} conflicts with committed entry (committed {}); ignoring the append",
                    conflict_index, self.committed
                );
                return None;
            }
            let start = (conflict_index - (idx + 1)) as usize;
            self.append(&ents[start..]);
        }
        self.commit_to(cmp::min(committed, last_new_index));
        Some(last_new_index)
    }

    /// The index of the first entry of `ents` that is not in our log with
    /// the same term (0 if all are). Entries past our last index count as
    /// conflicting: they are new.
    fn find_conflict(&self, ents: &[Entry]) -> u64 {
        for e in ents {
            if !self.match_term(e.index, e.term) {
                if e.index <= self.last_index() {
                    debug!(
                        "found conflict at index {} (existing term {:?}, conflicting term {})",
                        e.index,
                        self.term(e.index).ok(),
                        e.term
                    );
                }
                return e.index;
            }
        }
        0
    }
    // lab 2AB: end

    // lab 2AB: begin [stub: self.last_index()] — into the unstable part, never over committed entries (docs/labs/lab2a.md#raft-log)
    /// Appends entries to the unstable part (dropping any entries at or
    /// after `ents[0].index`) and returns the new last index. Refuses to
    /// overwrite committed entries.
    pub fn append(&mut self, ents: &[Entry]) -> u64 {
        let Some(first) = ents.first() else {
            return self.last_index();
        };
        if first.index <= self.committed {
            error!(
                "refusing to append at index {}: it would overwrite committed entries (committed {})",
                first.index, self.committed
            );
            return self.last_index();
        }
        self.unstable.truncate_and_append(ents);
        self.last_index()
    }
    // lab 2AB: end

    /// Commits up to `max_index` if the entry there has term `term`; true if
    /// the commit index moved. The leader passes its own term: it only
    /// commits by counting replicas of current-term entries (Raft paper §5.4.2).
    pub fn maybe_commit(&mut self, max_index: u64, term: u64) -> bool {
        if max_index > self.committed && self.term(max_index).is_ok_and(|t| t == term) {
            self.commit_to(max_index);
            return true;
        }
        false
    }

    /// Moves the commit index up to `to_commit` (never down). An index past
    /// the last entry is refused with an error log.
    pub fn commit_to(&mut self, to_commit: u64) {
        if self.committed >= to_commit {
            return;
        }
        if self.last_index() < to_commit {
            error!(
                "commit index {} is out of range [last index {}]; ignored",
                to_commit,
                self.last_index()
            );
            return;
        }
        self.committed = to_commit;
    }

    /// The application applied everything up to `idx`.
    pub fn applied_to(&mut self, idx: u64) {
        if idx == 0 {
            return;
        }
        if self.committed < idx || idx < self.applied {
            error!(
                "applied index {} is out of range [previously applied {}, committed {}]; ignored",
                idx, self.applied, self.committed
            );
            return;
        }
        self.applied = idx;
    }

    /// The application persisted the entries up to `idx` with term `term`.
    pub fn stable_to(&mut self, idx: u64, term: u64) {
        self.unstable.stable_to(idx, term);
    }

    /// The application applied the snapshot at `idx` to its storage.
    pub fn stable_snap_to(&mut self, idx: u64) {
        self.unstable.stable_snap_to(idx);
    }

    /// The entries from `idx` to the end, cut to `max_size` bytes.
    pub fn entries(&self, idx: u64, max_size: Option<u64>) -> Result<Vec<Entry>> {
        let last = self.last_index();
        if idx > last {
            return Ok(Vec::new());
        }
        self.slice(idx, last + 1, max_size)
    }

    /// Every entry still available (for tests and debugging).
    pub fn all_entries(&self) -> Vec<Entry> {
        match self.entries(self.first_index(), None) {
            Ok(ents) => ents,
            Err(e) => {
                error!("cannot read all entries: {}", e);
                Vec::new()
            }
        }
    }

    // lab 2AB: begin [stub: Ok(Vec::new())] — stable entries from the storage, then the unstable ones; Compacted below first_index (docs/labs/lab2a.md#raft-log)
    /// The entries in `[low, high)`, cut to `max_size` bytes (at least one
    /// entry), from storage and then the unstable buffer.
    pub fn slice(&self, low: u64, high: u64, max_size: Option<u64>) -> Result<Vec<Entry>> {
        if low > high {
            error!("invalid slice [{}, {})", low, high);
            return Err(Error::Store(StorageError::Unavailable));
        }
        let offset = self.unstable.offset;
        // Only a slice reaching into the storage's part can be compacted
        // (asking the storage for its first index is not free).
        if low < offset && low < self.first_index() {
            return Err(Error::Store(StorageError::Compacted));
        }
        if high > self.last_index() + 1 {
            return Err(Error::Store(StorageError::Unavailable));
        }
        if low == high {
            return Ok(Vec::new());
        }
        let mut ents = Vec::new();
        if low < offset {
            let stored_high = cmp::min(high, offset);
            let stored = self.store.entries(low, stored_high, max_size)?;
            // The storage stopped early because of the size limit: done.
            if (stored.len() as u64) < stored_high - low {
                return Ok(stored);
            }
            ents = stored;
        }
        if high > offset {
            let unstable = self.unstable.slice(cmp::max(low, offset), high);
            // Cut to the size limit before cloning, so nothing cut is cloned.
            let count = count_within_size(&ents, unstable, max_size);
            // Exactly what is added: at most one allocation, no regrowth.
            ents.reserve_exact(count);
            ents.extend_from_slice(&unstable[..count]);
        }
        Ok(ents)
    }
    // lab 2AB: end

    /// The entries not yet persisted.
    pub fn unstable_entries(&self) -> &[Entry] {
        &self.unstable.entries
    }

    /// The committed entries the application has not applied yet, if any.
    pub fn next_entries(&self) -> Option<Vec<Entry>> {
        // Nothing committed beyond applied: answered without the storage.
        if self.committed <= self.applied {
            return None;
        }
        let offset = cmp::max(self.applied + 1, self.first_index());
        if self.committed < offset {
            return None;
        }
        match self.slice(offset, self.committed + 1, None) {
            Ok(ents) => Some(ents),
            Err(e) => {
                error!(
                    "cannot read committed entries [{}, {}]: {}",
                    offset, self.committed, e
                );
                None
            }
        }
    }

    /// Whether there are committed entries to apply.
    pub fn has_next_entries(&self) -> bool {
        // Nothing committed beyond applied: answered without the storage.
        if self.committed <= self.applied {
            return false;
        }
        let offset = cmp::max(self.applied + 1, self.first_index());
        self.committed + 1 > offset
    }

    /// The snapshot to send to a follower that needs compacted entries:
    /// the pending one if it is recent enough, else the storage's.
    pub fn snapshot(&self, request_index: u64) -> Result<Snapshot> {
        if let Some(snapshot) = &self.unstable.snapshot {
            if snapshot.metadata().index >= request_index {
                return Ok(snapshot.clone());
            }
        }
        self.store.snapshot(request_index)
    }

    /// Replaces the log with `snapshot` (the application applies it when it
    /// comes out of Ready). Everything up to it is committed.
    pub fn restore(&mut self, snapshot: Snapshot) {
        debug!(
            "log [committed {}, applied {}, unstable offset {}] restores snapshot [index {}, term {}]",
            self.committed,
            self.applied,
            self.unstable.offset,
            snapshot.metadata().index,
            snapshot.metadata().term
        );
        self.committed = snapshot.metadata().index;
        self.unstable.restore(snapshot);
    }

    /// Whether a log ending at `(last_index, term)` is at least as
    /// up-to-date as ours (Raft paper §5.4.1): a later last term wins, and
    /// with equal terms the longer log wins.
    pub fn is_up_to_date(&self, last_index: u64, term: u64) -> bool {
        let our_last_term = self.last_term();
        term > our_last_term || (term == our_last_term && last_index >= self.last_index())
    }

    /// The snapshot received from the leader and not yet applied, if any.
    pub fn pending_snapshot(&self) -> Option<&Snapshot> {
        self.unstable.snapshot.as_ref()
    }
}

// staff-only: begin — unit tests of lab 2AB's RaftLog code: the skeleton stubs what they test
#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemStorage;

    fn entry(index: u64, term: u64) -> Entry {
        let mut e = Entry::new();
        e.index = index;
        e.term = term;
        e
    }

    fn entries(pairs: &[(u64, u64)]) -> Vec<Entry> {
        pairs.iter().map(|&(i, t)| entry(i, t)).collect()
    }

    fn snapshot(index: u64, term: u64) -> Snapshot {
        let mut s = Snapshot::new();
        s.mut_metadata().index = index;
        s.mut_metadata().term = term;
        s
    }

    /// A follower appends only after its log matches the leader's previous
    /// entry, and truncates a conflicting suffix (Raft paper §5.3).
    #[test]
    fn test_maybe_append() {
        let previous = entries(&[(1, 1), (2, 2), (3, 3)]);
        // (prev index, prev term, leader commit, entries, want result, want committed)
        type Case = (u64, u64, u64, Vec<Entry>, Option<u64>, u64);
        let cases: Vec<Case> = vec![
            // Mismatched previous entry: reject.
            (3, 2, 3, entries(&[(4, 4)]), None, 1),
            (4, 3, 3, entries(&[(5, 4)]), None, 1),
            // Matching, nothing new.
            (3, 3, 3, vec![], Some(3), 3),
            (3, 3, 4, vec![], Some(3), 3),
            (3, 3, 2, vec![], Some(3), 2),
            // Matching with new entries; commit limited to the last new one.
            (3, 3, 4, entries(&[(4, 4)]), Some(4), 4),
            (3, 3, 5, entries(&[(4, 4)]), Some(4), 4),
            (3, 3, 3, entries(&[(4, 4), (5, 4)]), Some(5), 3),
            // Conflict after the committed index: truncate and replace.
            (2, 2, 3, entries(&[(3, 4)]), Some(3), 3),
            (1, 1, 3, entries(&[(2, 4), (3, 4)]), Some(3), 3),
        ];
        for (i, (idx, term, commit, ents, want, want_commit)) in cases.into_iter().enumerate() {
            let mut log = RaftLog::new(MemStorage::new());
            log.append(&previous);
            log.committed = 1;
            assert_eq!(log.maybe_append(idx, term, commit, &ents), want, "case {i}");
            assert_eq!(log.committed, want_commit, "case {i}");
            if want.is_some() && !ents.is_empty() {
                let got = log
                    .slice(ents[0].index, log.last_index() + 1, None)
                    .unwrap();
                assert_eq!(got, ents, "case {i}");
            }
        }
    }

    /// An entry that conflicts with a committed one is never overwritten.
    #[test]
    fn test_maybe_append_refuses_committed_conflict() {
        let mut log = RaftLog::new(MemStorage::new());
        log.append(&entries(&[(1, 1), (2, 2), (3, 3)]));
        log.committed = 2;
        assert_eq!(log.maybe_append(1, 1, 3, &entries(&[(2, 5)])), None);
        assert_eq!(log.term(2).unwrap(), 2);
    }

    /// The commit index only moves for an entry of the given term.
    #[test]
    fn test_maybe_commit() {
        let mut log = RaftLog::new(MemStorage::new());
        log.append(&entries(&[(1, 1), (2, 2)]));
        assert!(!log.maybe_commit(2, 1));
        assert!(log.maybe_commit(2, 2));
        assert_eq!(log.committed, 2);
        assert!(!log.maybe_commit(1, 1), "never moves back");
        log.commit_to(5);
        assert_eq!(log.committed, 2, "beyond the last index is refused");
    }

    /// Terms are known from the compaction point to the last index.
    #[test]
    fn test_term_bounds() {
        let storage = MemStorage::new();
        storage.wl().apply_snapshot(snapshot(3, 3)).unwrap();
        let mut log = RaftLog::new(storage);
        log.append(&entries(&[(4, 4), (5, 5)]));
        assert_eq!(log.term(2), Err(Error::Store(StorageError::Compacted)));
        assert_eq!(log.term(3), Ok(3));
        assert_eq!(log.term(5), Ok(5));
        assert_eq!(log.term(6), Err(Error::Store(StorageError::Unavailable)));
        assert_eq!(log.last_term(), 5);
    }

    /// Slices join storage and unstable entries and respect the size limit.
    #[test]
    fn test_slice() {
        let storage = MemStorage::new();
        storage.wl().apply_snapshot(snapshot(3, 3)).unwrap();
        storage.wl().append(&entries(&[(4, 4), (5, 5)])).unwrap();
        let mut log = RaftLog::new(storage);
        log.append(&entries(&[(6, 6), (7, 7)]));
        assert_eq!(
            log.slice(3, 5, None),
            Err(Error::Store(StorageError::Compacted))
        );
        assert_eq!(
            log.slice(4, 9, None),
            Err(Error::Store(StorageError::Unavailable))
        );
        assert_eq!(
            log.slice(4, 8, None).unwrap(),
            entries(&[(4, 4), (5, 5), (6, 6), (7, 7)])
        );
        assert_eq!(log.slice(5, 7, None).unwrap(), entries(&[(5, 5), (6, 6)]));
        assert_eq!(log.slice(4, 8, Some(0)).unwrap(), entries(&[(4, 4)]));
        assert_eq!(log.slice(6, 6, None).unwrap(), vec![]);
    }

    /// Committed-but-unapplied entries come out of next_entries.
    #[test]
    fn test_next_entries() {
        let storage = MemStorage::new();
        storage.wl().apply_snapshot(snapshot(3, 1)).unwrap();
        let mut log = RaftLog::new(storage);
        log.append(&entries(&[(4, 1), (5, 1), (6, 1)]));
        log.commit_to(5);
        assert!(log.has_next_entries());
        assert_eq!(log.next_entries().unwrap(), entries(&[(4, 1), (5, 1)]));
        log.applied_to(4);
        assert_eq!(log.next_entries().unwrap(), entries(&[(5, 1)]));
        log.applied_to(5);
        assert!(!log.has_next_entries());
        assert_eq!(log.next_entries(), None);
    }

    /// Restoring a snapshot moves the log past it and commits it.
    #[test]
    fn test_restore() {
        let mut log = RaftLog::new(MemStorage::new());
        log.append(&entries(&[(1, 1)]));
        log.restore(snapshot(10, 3));
        assert_eq!(log.committed, 10);
        assert_eq!(log.first_index(), 11);
        assert_eq!(log.last_index(), 10);
        assert_eq!(log.last_term(), 3);
        assert_eq!(log.pending_snapshot().unwrap().metadata().index, 10);
        assert_eq!(log.unstable.offset, 11);
        log.stable_snap_to(10);
        assert!(log.pending_snapshot().is_none());
    }

    /// A later last term, or an equal term with a longer log, is more
    /// up-to-date (Raft paper §5.4.1).
    #[test]
    fn test_is_up_to_date() {
        let mut log = RaftLog::new(MemStorage::new());
        log.append(&entries(&[(1, 1), (2, 2), (3, 3)]));
        assert!(log.is_up_to_date(2, 4));
        assert!(log.is_up_to_date(3, 3));
        assert!(log.is_up_to_date(4, 3));
        assert!(!log.is_up_to_date(2, 3));
        assert!(!log.is_up_to_date(5, 2));
    }

    /// Appending refuses to overwrite committed entries.
    #[test]
    fn test_append_keeps_committed() {
        let mut log = RaftLog::new(MemStorage::new());
        log.append(&entries(&[(1, 1), (2, 1)]));
        log.committed = 2;
        assert_eq!(log.append(&entries(&[(2, 2)])), 2);
        assert_eq!(log.term(2).unwrap(), 1);
        assert_eq!(log.append(&entries(&[(3, 2)])), 3);
    }
}
// staff-only: end
