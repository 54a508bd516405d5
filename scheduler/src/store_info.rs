//! [`StoreInfo`]: what the scheduler knows about one store.
//!
//! Kept by [`crate::ClusterMeta`] (from `put_store` and store heartbeats);
//! returned by `SchedulerService::get_store`. The counts and sizes of the
//! regions it holds are computed from the region heartbeats, not taken from
//! the store's own report, so balancing sees one consistent picture.

use std::time::Instant;

use proto::metapb::{Store, StoreState};
use proto::schedulerpb::StoreStats;

/// One store as the scheduler sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreInfo {
    /// The store's id, address and state.
    pub store: Store,
    /// When its last heartbeat arrived; `None` since the scheduler started
    /// until the first one.
    pub last_heartbeat: Option<Instant>,
    /// The statistics of its last heartbeat (capacity, available, its own
    /// region count, ...).
    pub stats: StoreStats,
    /// How many known regions have their leader on this store.
    pub leader_count: u64,
    /// How many known regions have a peer on this store.
    pub region_count: u64,
    /// The total approximate size of the regions it leads, in bytes.
    pub leader_size: u64,
    /// The total approximate size of the regions it holds a peer of, in bytes.
    pub region_size: u64,
}

impl StoreInfo {
    /// A store that has not sent a heartbeat yet.
    pub fn new(store: Store) -> StoreInfo {
        StoreInfo {
            store,
            last_heartbeat: None,
            stats: StoreStats::default(),
            leader_count: 0,
            region_count: 0,
            leader_size: 0,
            region_size: 0,
        }
    }

    /// The store's id.
    pub fn id(&self) -> u64 {
        self.store.id
    }

    /// True when the store was removed for good.
    pub fn is_tombstone(&self) -> bool {
        self.store.state() == StoreState::Tombstone
    }

    /// The disk capacity the store last reported, in bytes.
    pub fn capacity(&self) -> u64 {
        self.stats.capacity
    }

    /// The free disk space the store last reported, in bytes.
    pub fn available(&self) -> u64 {
        self.stats.available
    }
}
