//! [`RegionTree`]: every known region, by id and by key range.
//!
//! Owned by [`crate::ClusterMeta`]. Regions are kept by id in a hash map and
//! indexed by start key in a `BTreeMap`, so finding the region of a key, or
//! the regions overlapping a range, is a logarithmic range query rather than
//! a scan. The tree never holds two overlapping regions: inserting a region
//! removes every region it overlaps (the caller has already checked that
//! they are older). It also keeps, per store, the region and leader counts
//! and sizes that [`crate::StoreInfo`] reports, updated on every insert and
//! removal.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use crate::region_info::RegionInfo;

/// Per-store totals over the regions in the tree.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StoreRegionTotals {
    /// Regions with a peer on the store.
    pub region_count: u64,
    /// Regions whose leader is on the store.
    pub leader_count: u64,
    /// Sum of the approximate sizes of the regions with a peer on the store.
    pub region_size: u64,
    /// Sum of the approximate sizes of the regions led from the store.
    pub leader_size: u64,
}

/// The set of known regions. See the module docs.
#[derive(Debug, Default)]
pub struct RegionTree {
    regions: HashMap<u64, RegionInfo>,
    by_start_key: BTreeMap<Vec<u8>, u64>,
    store_totals: HashMap<u64, StoreRegionTotals>,
}

impl RegionTree {
    /// An empty tree.
    pub fn new() -> RegionTree {
        RegionTree::default()
    }

    /// How many regions the tree holds.
    pub fn len(&self) -> usize {
        self.regions.len()
    }

    /// True when the tree holds no region.
    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }

    /// The region with this id.
    pub fn get(&self, region_id: u64) -> Option<&RegionInfo> {
        self.regions.get(&region_id)
    }

    /// The region whose range contains `key`.
    pub fn get_by_key(&self, key: &[u8]) -> Option<&RegionInfo> {
        // The only candidate is the region with the greatest start key <= key.
        let (_, region_id) = self
            .by_start_key
            .range::<[u8], _>((Bound::Unbounded, Bound::Included(key)))
            .next_back()?;
        self.regions
            .get(region_id)
            .filter(|info| info.contains_key(key))
    }

    /// The ids of the regions overlapping `[start_key, end_key)` (empty end:
    /// unbounded), in key order.
    pub fn overlapping(&self, start_key: &[u8], end_key: &[u8]) -> Vec<u64> {
        let mut ids = Vec::new();
        // A region starting before start_key overlaps if it reaches past it.
        if let Some(info) = self.get_by_key(start_key) {
            ids.push(info.id());
        }
        let upper = if end_key.is_empty() {
            Bound::Unbounded
        } else {
            Bound::Excluded(end_key)
        };
        let starting_inside = self
            .by_start_key
            .range::<[u8], _>((Bound::Excluded(start_key), upper))
            .map(|(_, region_id)| *region_id);
        ids.extend(starting_inside);
        ids
    }

    /// Inserts `info`, replacing the region with the same id and removing
    /// every region it overlaps. Returns the removed regions (the old entry
    /// of the same id included).
    pub fn insert(&mut self, info: RegionInfo) -> Vec<RegionInfo> {
        let mut removed = Vec::new();
        removed.extend(self.remove(info.id()));
        for region_id in self.overlapping(&info.region.start_key, &info.region.end_key) {
            removed.extend(self.remove(region_id));
        }
        self.add_totals(&info);
        self.by_start_key
            .insert(info.region.start_key.clone(), info.id());
        self.regions.insert(info.id(), info);
        removed
    }

    /// Removes the region with this id, if present.
    pub fn remove(&mut self, region_id: u64) -> Option<RegionInfo> {
        let info = self.regions.remove(&region_id)?;
        // Only drop the index entry if it still points at this region.
        if self.by_start_key.get(&info.region.start_key) == Some(&region_id) {
            self.by_start_key.remove(&info.region.start_key);
        }
        self.subtract_totals(&info);
        Some(info)
    }

    /// The counts and sizes of the regions on `store_id`.
    pub fn store_totals(&self, store_id: u64) -> StoreRegionTotals {
        self.store_totals
            .get(&store_id)
            .copied()
            .unwrap_or_default()
    }

    /// Every region, in no particular order.
    pub fn regions(&self) -> impl Iterator<Item = &RegionInfo> {
        self.regions.values()
    }

    fn add_totals(&mut self, info: &RegionInfo) {
        for peer in &info.region.peers {
            let totals = self.store_totals.entry(peer.store_id).or_default();
            totals.region_count += 1;
            totals.region_size += info.approximate_size;
        }
        if let Some(leader) = &info.leader {
            let totals = self.store_totals.entry(leader.store_id).or_default();
            totals.leader_count += 1;
            totals.leader_size += info.approximate_size;
        }
    }

    fn subtract_totals(&mut self, info: &RegionInfo) {
        // Saturating: the totals were added by add_totals for this very
        // region, so they cannot go below zero; saturating keeps a bug here
        // from becoming a panic.
        for peer in &info.region.peers {
            let totals = self.store_totals.entry(peer.store_id).or_default();
            totals.region_count = totals.region_count.saturating_sub(1);
            totals.region_size = totals.region_size.saturating_sub(info.approximate_size);
        }
        if let Some(leader) = &info.leader {
            let totals = self.store_totals.entry(leader.store_id).or_default();
            totals.leader_count = totals.leader_count.saturating_sub(1);
            totals.leader_size = totals.leader_size.saturating_sub(info.approximate_size);
        }
    }
}

#[cfg(test)]
mod tests {
    use proto::metapb::{Peer, Region};

    use super::*;

    fn region(id: u64, start: &[u8], end: &[u8], store_id: u64) -> RegionInfo {
        let mut region = Region::new();
        region.id = id;
        region.start_key = start.to_vec();
        region.end_key = end.to_vec();
        let mut peer = Peer::new();
        peer.id = id * 10;
        peer.store_id = store_id;
        region.peers.push(peer);
        RegionInfo::new(region)
    }

    /// Key lookup finds the region whose range holds the key, and none in a gap.
    #[test]
    fn get_by_key_respects_ranges() {
        let mut tree = RegionTree::new();
        tree.insert(region(1, b"", b"b", 1));
        tree.insert(region(2, b"c", b"e", 1));
        tree.insert(region(3, b"e", b"", 1));
        assert_eq!(tree.get_by_key(b"a").map(RegionInfo::id), Some(1));
        assert_eq!(tree.get_by_key(b"b").map(RegionInfo::id), None);
        assert_eq!(tree.get_by_key(b"d").map(RegionInfo::id), Some(2));
        assert_eq!(tree.get_by_key(b"e").map(RegionInfo::id), Some(3));
        assert_eq!(tree.get_by_key(b"zzz").map(RegionInfo::id), Some(3));
    }

    /// Inserting a wide region removes every region it overlaps and fixes the totals.
    #[test]
    fn insert_removes_overlaps_and_updates_totals() {
        let mut tree = RegionTree::new();
        tree.insert(region(1, b"", b"b", 1));
        tree.insert(region(2, b"b", b"d", 1));
        tree.insert(region(3, b"d", b"", 2));
        assert_eq!(tree.overlapping(b"a", b"c"), vec![1, 2]);
        assert_eq!(tree.overlapping(b"c", b""), vec![2, 3]);
        let removed = tree.insert(region(4, b"a", b"e", 2));
        let mut removed_ids: Vec<u64> = removed.iter().map(RegionInfo::id).collect();
        removed_ids.sort_unstable();
        assert_eq!(removed_ids, vec![1, 2, 3]);
        assert_eq!(tree.len(), 1);
        assert_eq!(tree.store_totals(1).region_count, 0);
        assert_eq!(tree.store_totals(2).region_count, 1);
    }
}
