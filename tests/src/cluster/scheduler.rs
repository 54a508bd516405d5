//! [`MockScheduler`]: answers "which region holds this key" and "who leads
//! it" for the test cluster's clients.
//!
//! It does not wait for heartbeats: it reads the region status every
//! running store publishes (`raftstore::StoreMeta`) at the moment it is
//! asked. TinyKV's mock scheduler learns leaders from region heartbeats, so
//! its tests fail with "find no region" whenever they ask before the first
//! heartbeat; this one is never behind the stores.

use std::collections::HashMap;
use std::sync::Arc;

use proto::metapb::{Peer, Region};
use raftstore::{RegionStatus, StoreMeta};

/// Reads region metadata straight from the running stores.
#[derive(Default)]
pub struct MockScheduler {
    stores: HashMap<u64, Arc<StoreMeta>>,
}

impl MockScheduler {
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
