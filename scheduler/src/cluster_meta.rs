//! [`ClusterMeta`]: the in-memory picture of the cluster: bootstrap state,
//! stores and regions, and the rules that decide which reports change it.
//!
//! Owned by [`crate::Scheduler`] behind one mutex. Every change is split in
//! two steps: a `check_*` method validates the input against the current
//! state and says what would change, without changing anything; the
//! scheduler persists that change, and only then applies it here. So a
//! rejected report, or a failed disk write, leaves the picture untouched.
//!
//! Region heartbeats follow TinyKV's `processRegionHeartbeat`:
//!
//! | reported epoch, compared with the same id and every overlapping region | outcome |
//! |---|---|
//! | older in version or conf_ver than any of them | `Error::StaleRegion`, nothing changes |
//! | equal to the same id's | only leader, pending peers and size are updated |
//! | otherwise (newer, or a region not known yet) | the region replaces the same id's entry and every region it overlaps |

use std::collections::HashMap;

use proto::metapb::{Cluster, Store};
use proto::schedulerpb::StoreStats;

use crate::errors::{Error, Result};
use crate::region_info::{validate_region, RegionInfo};
use crate::region_tree::RegionTree;
use crate::store_info::StoreInfo;

/// What an accepted region heartbeat changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegionChange {
    /// Same epoch as known: only leader, pending peers and size change
    /// (nothing to persist).
    StatsOnly,
    /// A new region, or a new epoch: the region is persisted and replaces
    /// these regions (the old entry of the same id included, if any).
    Replace {
        /// Ids of the regions the new one removes, other than its own id.
        removed: Vec<u64>,
    },
}

/// The cluster as the scheduler sees it. See the module docs.
#[derive(Debug, Default)]
pub struct ClusterMeta {
    bootstrap: Option<Cluster>,
    stores: HashMap<u64, StoreInfo>,
    regions: RegionTree,
}

impl ClusterMeta {
    /// An empty, not bootstrapped cluster.
    pub fn new() -> ClusterMeta {
        ClusterMeta::default()
    }

    /// The bootstrap record, once bootstrapped.
    pub fn bootstrap_record(&self) -> Option<&Cluster> {
        self.bootstrap.as_ref()
    }

    /// True once the cluster has its first store and region.
    pub fn is_bootstrapped(&self) -> bool {
        self.bootstrap.is_some()
    }

    /// Fails with `NotBootstrapped` until the cluster is bootstrapped.
    pub fn ensure_bootstrapped(&self) -> Result<()> {
        if self.is_bootstrapped() {
            Ok(())
        } else {
            Err(Error::NotBootstrapped)
        }
    }

    /// Records the bootstrap (after it was persisted or loaded).
    pub fn set_bootstrapped(&mut self, cluster: Cluster) {
        self.bootstrap = Some(cluster);
    }

    /// Checks that `store` may be put: a non-zero id, not a tombstone
    /// already, an address no other live store uses.
    pub fn check_put_store(&self, store: &Store) -> Result<()> {
        if store.id == 0 {
            return Err(Error::InvalidStore("store id is 0".to_string()));
        }
        if let Some(known) = self.stores.get(&store.id) {
            if known.is_tombstone() {
                return Err(Error::StoreTombstone(store.id));
            }
        }
        let address_taken = self.stores.values().any(|other| {
            other.id() != store.id
                && !other.is_tombstone()
                && !store.address.is_empty()
                && other.store.address == store.address
        });
        if address_taken {
            return Err(Error::InvalidStore(format!(
                "store {}: address {:?} is used by another store",
                store.id, store.address
            )));
        }
        Ok(())
    }

    /// Adds or replaces a store (after `check_put_store` and persisting),
    /// keeping its heartbeat statistics.
    pub fn put_store(&mut self, store: Store) {
        match self.stores.get_mut(&store.id) {
            Some(known) => known.store = store,
            None => {
                self.stores.insert(store.id, StoreInfo::new(store));
            }
        }
    }

    /// Records a store heartbeat's statistics, received at `now_ms` of the
    /// scheduler's clock.
    pub fn store_heartbeat(&mut self, stats: StoreStats, now_ms: u64) -> Result<()> {
        let store = self
            .stores
            .get_mut(&stats.store_id)
            .ok_or(Error::StoreNotFound(stats.store_id))?;
        if store.is_tombstone() {
            return Err(Error::StoreTombstone(stats.store_id));
        }
        store.last_heartbeat_ms = Some(now_ms);
        store.stats = stats;
        Ok(())
    }

    /// The store with this id, with its region and leader totals.
    pub fn store(&self, store_id: u64) -> Option<StoreInfo> {
        let mut info = self.stores.get(&store_id)?.clone();
        let totals = self.regions.store_totals(store_id);
        info.region_count = totals.region_count;
        info.leader_count = totals.leader_count;
        info.region_size = totals.region_size;
        info.leader_size = totals.leader_size;
        Some(info)
    }

    /// Every store (tombstones included), with region and leader totals,
    /// in store id order so that scheduling is deterministic.
    pub fn stores(&self) -> Vec<StoreInfo> {
        let mut ids: Vec<u64> = self.stores.keys().copied().collect();
        ids.sort_unstable();
        ids.into_iter()
            .filter_map(|store_id| self.store(store_id))
            .collect()
    }

    /// Checks a store that a region's leader reports from: known, not a tombstone.
    fn check_live_store(&self, store_id: u64) -> Result<()> {
        match self.stores.get(&store_id) {
            None => Err(Error::StoreNotFound(store_id)),
            Some(store) if store.is_tombstone() => Err(Error::StoreTombstone(store_id)),
            Some(_) => Ok(()),
        }
    }

    // lab 3C: begin — refuse a heartbeat older than its region or any region it overlaps; a newer one replaces them (docs/labs/lab3c.md#region-heartbeat)
    /// Decides what a region heartbeat changes (see the module docs), or
    /// why it is rejected. Changes nothing.
    pub fn check_region_heartbeat(&self, reported: &RegionInfo) -> Result<RegionChange> {
        validate_region(&reported.region)?;
        let leader = reported.leader.as_ref().ok_or_else(|| {
            Error::InvalidRegion(format!(
                "region {}: heartbeat without a leader",
                reported.id()
            ))
        })?;
        if !reported.region.peers.contains(leader) {
            return Err(Error::InvalidRegion(format!(
                "region {}: leader {leader:?} is not one of its peers",
                reported.id()
            )));
        }
        self.check_live_store(leader.store_id)?;

        let same_id = self.regions.get(reported.id());
        if let Some(known) = same_id {
            if reported.is_older_than(known) {
                return Err(reported.stale_error(known));
            }
        }
        let overlapping = self
            .regions
            .overlapping(&reported.region.start_key, &reported.region.end_key);
        for region_id in &overlapping {
            if let Some(known) = self.regions.get(*region_id) {
                if reported.is_older_than(known) {
                    return Err(reported.stale_error(known));
                }
            }
        }
        if let Some(known) = same_id {
            if reported.same_epoch(known) {
                if known.region != reported.region {
                    // Same epoch, different shape: the reporter is wrong
                    // (only splits and conf changes change a region, and
                    // both bump the epoch). Keep the known shape.
                    log::warn!(
                        "region {}: heartbeat changes the region without an epoch change; \
                         keeping {:?}, ignoring {:?}",
                        reported.id(),
                        known.region,
                        reported.region
                    );
                }
                return Ok(RegionChange::StatsOnly);
            }
        }
        let removed = overlapping
            .into_iter()
            .filter(|region_id| *region_id != reported.id())
            .collect();
        Ok(RegionChange::Replace { removed })
    }
    // lab 3C: end

    /// Applies a change that `check_region_heartbeat` returned (and the
    /// scheduler persisted).
    pub fn apply_region_change(&mut self, reported: RegionInfo, change: &RegionChange) {
        match change {
            RegionChange::StatsOnly => {
                let mut updated = match self.regions.get(reported.id()) {
                    Some(known) => known.clone(),
                    None => reported.clone(),
                };
                updated.leader = reported.leader;
                updated.pending_peers = reported.pending_peers;
                updated.approximate_size = reported.approximate_size;
                self.regions.insert(updated);
            }
            RegionChange::Replace { removed } => {
                let region_id = reported.id();
                self.regions.insert(reported);
                if !removed.is_empty() {
                    log::debug!("region {region_id} overlaps and removes regions {removed:?}");
                }
            }
        }
    }

    /// Adds a region without checks: bootstrap and loading at open.
    pub fn insert_region(&mut self, info: RegionInfo) {
        self.regions.insert(info);
    }

    /// The region with this id.
    pub fn region_by_id(&self, region_id: u64) -> Option<&RegionInfo> {
        self.regions.get(region_id)
    }

    /// The region whose range contains `key`.
    pub fn region_by_key(&self, key: &[u8]) -> Option<&RegionInfo> {
        self.regions.get_by_key(key)
    }

    /// Every known region, in region id order so that scheduling is
    /// deterministic.
    pub fn regions(&self) -> Vec<&RegionInfo> {
        let mut regions: Vec<&RegionInfo> = self.regions.regions().collect();
        regions.sort_unstable_by_key(|info| info.id());
        regions
    }

    /// How many regions are known.
    pub fn region_count(&self) -> usize {
        self.regions.len()
    }
}
