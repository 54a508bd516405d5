//! [`ProgressMap`]: the leader's [`Progress`] of every member, by peer id.
//!
//! A raft group has a handful of members (3 or 5, rarely more) and the
//! leader looks a peer up several times per message, so the map is a
//! vector of `(id, progress)` pairs kept sorted by id: a linear scan over a
//! few contiguous pairs beats hashing the id, and iteration comes out in id
//! order (every loop over peers sends in the same order on every run)
//! without sorting or allocating. The method names follow `HashMap`'s, so
//! code and tests read the same as with one.

use std::ops::Index;

use crate::progress::Progress;

/// The progress of every member, sorted by peer id. See the module docs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProgressMap {
    entries: Vec<(u64, Progress)>,
}

impl ProgressMap {
    /// No members.
    pub fn new() -> ProgressMap {
        ProgressMap::default()
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `id` is a member.
    pub fn contains_key(&self, id: &u64) -> bool {
        self.position(*id).is_some()
    }

    /// The progress of `id`, if a member.
    pub fn get(&self, id: &u64) -> Option<&Progress> {
        let position = self.position(*id)?;
        Some(&self.entries[position].1)
    }

    /// The progress of `id`, if a member, to change it.
    pub fn get_mut(&mut self, id: &u64) -> Option<&mut Progress> {
        let position = self.position(*id)?;
        Some(&mut self.entries[position].1)
    }

    /// Sets the progress of `id` (adding it as a member if needed) and
    /// returns the progress it replaced, if any.
    pub fn insert(&mut self, id: u64, progress: Progress) -> Option<Progress> {
        match self
            .entries
            .binary_search_by_key(&id, |(member, _)| *member)
        {
            Ok(position) => Some(std::mem::replace(&mut self.entries[position].1, progress)),
            Err(position) => {
                self.entries.insert(position, (id, progress));
                None
            }
        }
    }

    /// Removes `id` and returns its progress, if it was a member.
    pub fn remove(&mut self, id: &u64) -> Option<Progress> {
        let position = self.position(*id)?;
        Some(self.entries.remove(position).1)
    }

    /// Removes every member.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// The member ids, in increasing order.
    pub fn keys(&self) -> impl Iterator<Item = &u64> + '_ {
        self.entries.iter().map(|(id, _)| id)
    }

    /// Every member's progress, in id order.
    pub fn values(&self) -> impl Iterator<Item = &Progress> + '_ {
        self.entries.iter().map(|(_, progress)| progress)
    }

    /// `(id, progress)` of every member, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (&u64, &Progress)> + '_ {
        self.entries.iter().map(|(id, progress)| (id, progress))
    }

    /// `(id, progress)` of every member, in id order, to change the progress.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&u64, &mut Progress)> + '_ {
        self.entries
            .iter_mut()
            .map(|(id, progress)| (&*id, progress))
    }

    /// The id of the member at `position` (`0..len()`, in id order): loops
    /// that send to every peer walk positions, so they need neither a copy
    /// of the ids nor a borrow of the map while sending.
    pub(crate) fn id_at(&self, position: usize) -> u64 {
        self.entries[position].0
    }

    fn position(&self, id: u64) -> Option<usize> {
        // A linear scan: faster than a binary search over a handful of members.
        self.entries.iter().position(|(member, _)| *member == id)
    }
}

impl Index<&u64> for ProgressMap {
    type Output = Progress;

    /// The progress of `id`. Panics if `id` is not a member, like `HashMap`'s
    /// index; raft itself uses [`get`](ProgressMap::get).
    fn index(&self, id: &u64) -> &Progress {
        match self.get(id) {
            Some(progress) => progress,
            None => panic!("peer {id} is not a member"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(matched: u64) -> Progress {
        let mut progress = Progress::new(matched + 1, 16);
        progress.matched = matched;
        progress
    }

    /// Members stay in id order whatever the insertion order, and a second
    /// insert of an id replaces its progress.
    #[test]
    fn test_progress_map_keeps_id_order() {
        let mut map = ProgressMap::new();
        for id in [5, 1, 3] {
            assert!(map.insert(id, progress(id)).is_none());
        }
        assert_eq!(map.keys().copied().collect::<Vec<_>>(), vec![1, 3, 5]);
        assert_eq!(map.insert(3, progress(30)).map(|old| old.matched), Some(3));
        assert_eq!(map[&3].matched, 30);
        assert_eq!(map.remove(&1).map(|old| old.matched), Some(1));
        assert!(!map.contains_key(&1));
        assert_eq!(map.id_at(0), 3);
        assert_eq!(map.len(), 2);
    }
}
