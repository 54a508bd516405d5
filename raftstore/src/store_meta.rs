//! [`StoreMeta`]: what this store knows about its regions, readable from
//! any thread.
//!
//! The raft worker publishes each peer's region, role and term here after
//! handling its Ready; the store worker reads it to check key-range
//! overlaps before it creates a peer; the test cluster's `RegionDirectory`
//! reads it to route test requests without waiting for heartbeats
//! (TinyKV's tests fail with "find no region" exactly because they wait).

use std::collections::HashMap;
use std::sync::Mutex;

use proto::metapb::Region;

/// One peer's published status.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegionStatus {
    /// The region as the peer knows it.
    pub region: Region,
    /// The peer's raft id.
    pub peer_id: u64,
    /// The leader the peer believes in (0 = unknown).
    pub leader_id: u64,
    /// The peer's current term.
    pub term: u64,
    /// Whether the peer is the leader.
    pub is_leader: bool,
    /// The peer's applied index.
    pub applied_index: u64,
    /// The first index still in the peer's raft log.
    pub first_index: u64,
    /// The index of the last entry in the peer's raft log: tests compare a
    /// follower's with the leader's first index to know that the follower
    /// can only catch up by snapshot.
    pub last_index: u64,
    /// Whether a snapshot is being applied.
    pub applying_snapshot: bool,
    /// The region's size as split_check last measured it (0: not yet).
    pub approximate_size: u64,
}

/// The regions of one store.
#[derive(Debug, Default)]
pub struct StoreMeta {
    regions: Mutex<HashMap<u64, RegionStatus>>,
    /// Ranges of snapshots accepted but not yet applied, by region id: a
    /// second snapshot overlapping one of them is refused even before the
    /// first one's region is published (TiKV #866).
    pending_snapshots: Mutex<HashMap<u64, Region>>,
}

impl StoreMeta {
    /// Records `status` for its region.
    pub fn update(&self, status: RegionStatus) {
        let mut regions = self
            .regions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        regions.insert(status.region.id, status);
    }

    /// Replaces the region of an already published status (a conf change
    /// or split applied; the rest is published after the Ready).
    pub fn update_region(&self, region: &Region) {
        let mut regions = self
            .regions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(status) = regions.get_mut(&region.id) {
            status.region = region.clone();
        }
    }

    /// Forgets a region (its peer was destroyed).
    pub fn remove(&self, region_id: u64) {
        let mut regions = self
            .regions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        regions.remove(&region_id);
    }

    /// The status of one region's peer.
    pub fn get(&self, region_id: u64) -> Option<RegionStatus> {
        let regions = self
            .regions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        regions.get(&region_id).cloned()
    }

    /// Records that a snapshot of `region` was accepted and will be applied.
    pub fn add_pending_snapshot(&self, region: Region) {
        let mut pending = self
            .pending_snapshots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        pending.insert(region.id, region);
    }

    /// Forgets the pending snapshot of `region_id` (applied or abandoned).
    pub fn remove_pending_snapshot(&self, region_id: u64) {
        let mut pending = self
            .pending_snapshots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        pending.remove(&region_id);
    }

    /// The region (published, or with a pending snapshot) other than
    /// `region.id` whose range overlaps `region`'s, if any.
    pub fn overlapping_region(&self, region: &Region) -> Option<u64> {
        let overlaps = |other: &Region| {
            other.id != region.id
                && !other.peers.is_empty()
                && (region.end_key.is_empty() || other.start_key < region.end_key)
                && (other.end_key.is_empty() || region.start_key < other.end_key)
        };
        let regions = self
            .regions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(status) = regions.values().find(|status| overlaps(&status.region)) {
            return Some(status.region.id);
        }
        drop(regions);
        let pending = self
            .pending_snapshots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        pending
            .values()
            .find(|other| overlaps(other))
            .map(|other| other.id)
    }

    /// Every region's status, sorted by region id.
    pub fn all(&self) -> Vec<RegionStatus> {
        let regions = self
            .regions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut all: Vec<RegionStatus> = regions.values().cloned().collect();
        all.sort_by_key(|status| status.region.id);
        all
    }

    /// The initialized region whose range contains `key`, if any.
    pub fn region_for_key(&self, key: &[u8]) -> Option<RegionStatus> {
        let regions = self
            .regions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        regions
            .values()
            .find(|status| {
                let region = &status.region;
                !region.peers.is_empty()
                    && key >= region.start_key.as_slice()
                    && (region.end_key.is_empty() || key < region.end_key.as_slice())
            })
            .cloned()
    }
}
