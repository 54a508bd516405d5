//! The part of the raft log that is not persisted yet.
//!
//! [`Unstable`] holds entries (and possibly an incoming snapshot) that raft
//! accepted but the application has not written to storage. The application
//! gets them from [`Ready`](crate::Ready), persists them, and
//! [`RawNode::advance`](crate::RawNode::advance) then drops them from here
//! (`stable_to`, `stable_snap_to`). [`RaftLog`](crate::RaftLog) reads
//! through this buffer first and falls back to storage.

use log::error;
use proto::eraftpb::{Entry, Snapshot};

/// Entries and a snapshot waiting to be persisted.
///
/// `entries[i]` has index `offset + i`. A pending snapshot, when present,
/// sits just before the entries: its index is `offset - 1`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Unstable {
    /// A snapshot received from the leader and not yet applied by the application.
    pub snapshot: Option<Snapshot>,
    /// Entries not yet persisted, in index order.
    pub entries: Vec<Entry>,
    /// The index of `entries[0]` (or where it will be).
    pub offset: u64,
    /// `(index, term)` of the last entry `stable_to` handed over to the
    /// storage, i.e. of `offset - 1` until the buffer is truncated below
    /// it: a leader asks for that term in every MsgAppend it sends after a
    /// Ready, and this answers without the storage.
    stable_tail: Option<(u64, u64)>,
}

impl Unstable {
    /// An empty buffer whose first entry will have index `offset`.
    pub fn new(offset: u64) -> Unstable {
        Unstable {
            snapshot: None,
            entries: Vec::new(),
            offset,
            stable_tail: None,
        }
    }

    /// The first index of the log if a pending snapshot decides it.
    pub fn maybe_first_index(&self) -> Option<u64> {
        self.snapshot.as_ref().map(|s| s.metadata().index + 1)
    }

    /// The last index of the log if the buffer decides it.
    pub fn maybe_last_index(&self) -> Option<u64> {
        match self.entries.len() {
            0 => self.snapshot.as_ref().map(|s| s.metadata().index),
            n => Some(self.offset + n as u64 - 1),
        }
    }

    /// The term of the entry at `idx` if the buffer knows it.
    pub fn maybe_term(&self, idx: u64) -> Option<u64> {
        if idx < self.offset {
            if let Some(snapshot) = &self.snapshot {
                let metadata = snapshot.metadata();
                return (metadata.index == idx).then_some(metadata.term);
            }
            // Only ever `offset - 1`: truncating the buffer moves the offset
            // below the tail, and the buffer's entries answer from there.
            return self
                .stable_tail
                .and_then(|(index, term)| (index == idx).then_some(term));
        }
        let last = self.maybe_last_index()?;
        if idx > last {
            return None;
        }
        self.entries
            .get((idx - self.offset) as usize)
            .map(|e| e.term)
    }

    /// The application persisted the entries up to `idx` (whose term is
    /// `term`): drop them. Ignored when the entry at `idx` was replaced
    /// meanwhile (a different term) or is not in the buffer.
    pub fn stable_to(&mut self, idx: u64, term: u64) {
        let Some(t) = self.maybe_term(idx) else {
            return;
        };
        if t == term && idx >= self.offset {
            let count = (idx + 1 - self.offset) as usize;
            self.entries.drain(..count);
            self.offset = idx + 1;
            self.stable_tail = Some((idx, term));
        }
    }

    /// The application applied the snapshot at `idx`: drop it.
    pub fn stable_snap_to(&mut self, idx: u64) {
        if self
            .snapshot
            .as_ref()
            .is_some_and(|s| s.metadata().index == idx)
        {
            self.snapshot = None;
        }
    }

    /// Replaces everything with `snapshot`: the log now starts after it.
    pub fn restore(&mut self, snapshot: Snapshot) {
        self.entries.clear();
        self.offset = snapshot.metadata().index + 1;
        self.snapshot = Some(snapshot);
        self.stable_tail = None;
    }

    /// Appends `ents`, first dropping any buffered entries at or after
    /// `ents[0].index` (they conflict with the leader's log).
    pub fn truncate_and_append(&mut self, ents: &[Entry]) {
        let Some(after) = ents.first().map(|e| e.index) else {
            return;
        };
        if after == self.offset + self.entries.len() as u64 {
            self.entries.extend_from_slice(ents);
        } else if after <= self.offset {
            // The new entries replace the whole buffer, and some persisted
            // entries too: the storage overwrites them when these are persisted.
            self.offset = after;
            self.entries.clear();
            self.entries.extend_from_slice(ents);
        } else {
            self.entries.truncate((after - self.offset) as usize);
            self.entries.extend_from_slice(ents);
        }
    }

    /// The buffered entries in `[low, high)`; empty if the range is not
    /// inside the buffer.
    pub fn slice(&self, low: u64, high: u64) -> &[Entry] {
        let upper = self.offset + self.entries.len() as u64;
        if low > high || low < self.offset || high > upper {
            error!(
                "unstable slice [{}, {}) out of bounds [{}, {})",
                low, high, self.offset, upper
            );
            return &[];
        }
        &self.entries[(low - self.offset) as usize..(high - self.offset) as usize]
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

    fn snapshot(index: u64, term: u64) -> Snapshot {
        let mut s = Snapshot::new();
        s.mut_metadata().index = index;
        s.mut_metadata().term = term;
        s
    }

    /// First/last index and terms come from the snapshot and the entries.
    #[test]
    fn test_unstable_bounds_and_terms() {
        let mut u = Unstable::new(5);
        assert_eq!(u.maybe_first_index(), None);
        assert_eq!(u.maybe_last_index(), None);
        u.entries = vec![entry(5, 1)];
        assert_eq!(u.maybe_last_index(), Some(5));
        assert_eq!(u.maybe_term(5), Some(1));
        assert_eq!(u.maybe_term(4), None);
        u.snapshot = Some(snapshot(4, 1));
        assert_eq!(u.maybe_first_index(), Some(5));
        assert_eq!(u.maybe_term(4), Some(1));
        assert_eq!(u.maybe_term(6), None);
    }

    /// The entry last handed to the storage keeps its term here, until a
    /// truncation below it or a snapshot makes it stale.
    #[test]
    fn test_unstable_remembers_the_stable_tail() {
        let mut u = Unstable::new(5);
        u.entries = vec![entry(5, 1), entry(6, 2)];
        assert_eq!(u.maybe_term(4), None, "not known before anything is stable");
        u.stable_to(6, 2);
        assert_eq!(u.maybe_term(6), Some(2));
        assert_eq!(u.maybe_term(5), None, "only the last stable entry");
        // A conflicting append below the tail: the buffer answers there.
        u.truncate_and_append(&[entry(6, 3)]);
        assert_eq!(u.maybe_term(6), Some(3));
        u.stable_to(6, 3);
        assert_eq!(u.maybe_term(6), Some(3));
        u.restore(snapshot(9, 4));
        assert_eq!(u.maybe_term(6), None);
        assert_eq!(u.maybe_term(9), Some(4));
    }

    /// Stabilizing drops entries only when index and term still match.
    #[test]
    fn test_unstable_stable_to() {
        let mut u = Unstable::new(5);
        u.entries = vec![entry(5, 1), entry(6, 1)];
        u.stable_to(5, 2);
        assert_eq!(u.entries.len(), 2, "term mismatch is ignored");
        u.stable_to(5, 1);
        assert_eq!((u.offset, u.entries.len()), (6, 1));
        u.stable_to(4, 1);
        assert_eq!((u.offset, u.entries.len()), (6, 1));
    }

    /// Appending replaces conflicting suffixes, even below the offset.
    #[test]
    fn test_unstable_truncate_and_append() {
        let mut u = Unstable::new(5);
        u.entries = vec![entry(5, 1)];
        u.truncate_and_append(&[entry(6, 1), entry(7, 1)]);
        assert_eq!(u.entries, vec![entry(5, 1), entry(6, 1), entry(7, 1)]);
        u.truncate_and_append(&[entry(6, 2)]);
        assert_eq!(u.entries, vec![entry(5, 1), entry(6, 2)]);
        u.truncate_and_append(&[entry(4, 2)]);
        assert_eq!((u.offset, u.entries.clone()), (4, vec![entry(4, 2)]));
    }

    /// Restoring a snapshot empties the buffer and moves the offset.
    #[test]
    fn test_unstable_restore() {
        let mut u = Unstable::new(5);
        u.entries = vec![entry(5, 1)];
        u.restore(snapshot(6, 2));
        assert_eq!(u.offset, 7);
        assert!(u.entries.is_empty());
        u.stable_snap_to(6);
        assert!(u.snapshot.is_none());
    }
}
