//! [`RegionDirectory`]: answers "which region holds this key" and "who
//! leads it" for the test cluster's clients and helpers.
//!
//! The stores' scheduler is the real one (lab 3C, `scheduler::Scheduler`,
//! see `scheduler_client.rs`); this directory is deliberately unrealistic
//! and only routes the tests' own requests. It does not wait for
//! heartbeats: it reads the region status every running store publishes
//! (`raftstore::StoreMeta`) at the moment it is asked, so it is never
//! behind the stores. Routing through the scheduler instead would make
//! every lab 2 and 3B test wait for heartbeats and fail with "no region"
//! whenever it asked before the first one (as TinyKV's mock scheduler
//! does), which tests nothing those labs teach. Lab 3C's tests ask the
//! real scheduler.

use std::collections::HashMap;
use std::sync::Arc;

use proto::metapb::{Peer, Region};
use raftstore::{RegionStatus, StoreMeta};

/// Reads region metadata straight from the running stores.
#[derive(Default)]
pub struct RegionDirectory {
    stores: HashMap<u64, Arc<StoreMeta>>,
}

impl RegionDirectory {
    /// Starts watching a running store.
    pub fn add_store(&mut self, store_id: u64, meta: Arc<StoreMeta>) {
        self.stores.insert(store_id, meta);
    }

    /// Stops watching a store (it was stopped).
    pub fn remove_store(&mut self, store_id: u64) {
        self.stores.remove(&store_id);
    }

    fn statuses(&self) -> Vec<(u64, RegionStatus)> {
        let mut all = Vec::new();
        for (store_id, meta) in &self.stores {
            for status in meta.all() {
                all.push((*store_id, status));
            }
        }
        all
    }

    /// The newest known version of the region holding `key` (the one with
    /// the highest epoch among the running stores' views).
    pub fn region_for_key(&self, key: &[u8]) -> Option<Region> {
        self.stores
            .values()
            .filter_map(|meta| meta.region_for_key(key))
            .map(|status| status.region)
            .max_by_key(|region| {
                (
                    region.region_epoch().version,
                    region.region_epoch().conf_ver,
                )
            })
    }

    /// The newest known version of region `region_id`.
    pub fn region(&self, region_id: u64) -> Option<Region> {
        self.statuses()
            .into_iter()
            .filter(|(_, status)| status.region.id == region_id && !status.region.peers.is_empty())
            .map(|(_, status)| status.region)
            .max_by_key(|region| {
                (
                    region.region_epoch().version,
                    region.region_epoch().conf_ver,
                )
            })
    }

    /// The newest known version of every initialized region, sorted by
    /// start key.
    pub fn regions(&self) -> Vec<Region> {
        let mut newest: HashMap<u64, Region> = HashMap::new();
        for (_, status) in self.statuses() {
            let region = status.region;
            if region.peers.is_empty() {
                continue;
            }
            let epoch = |region: &Region| {
                (
                    region.region_epoch().version,
                    region.region_epoch().conf_ver,
                )
            };
            match newest.get(&region.id) {
                Some(known) if epoch(known) >= epoch(&region) => {}
                _ => {
                    newest.insert(region.id, region);
                }
            }
        }
        let mut regions: Vec<Region> = newest.into_values().collect();
        regions.sort_by(|a, b| a.start_key.cmp(&b.start_key));
        regions
    }

    /// The peer that claims leadership of `region_id` with the highest term
    /// (an old leader in a minority partition may still think it leads).
    pub fn leader_of(&self, region_id: u64) -> Option<Peer> {
        self.statuses()
            .into_iter()
            .filter(|(_, status)| status.region.id == region_id && status.is_leader)
            .max_by_key(|(_, status)| status.term)
            .map(|(store_id, status)| {
                let mut peer = Peer::new();
                peer.id = status.peer_id;
                peer.store_id = store_id;
                peer
            })
    }

    /// Every store's view of `region_id`.
    pub fn region_statuses(&self, region_id: u64) -> Vec<(u64, RegionStatus)> {
        let mut statuses: Vec<_> = self
            .statuses()
            .into_iter()
            .filter(|(_, status)| status.region.id == region_id)
            .collect();
        statuses.sort_by_key(|(store_id, _)| *store_id);
        statuses
    }
}
