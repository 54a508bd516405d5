//! [`StoreInfo`]: what the scheduler knows about one store.
//!
//! Kept by [`crate::ClusterMeta`] (from `put_store` and store heartbeats);
//! returned by `SchedulerService::get_store`. The counts and sizes of the
//! regions it holds are computed from the region heartbeats, not taken from
//! the store's own report, so balancing sees one consistent picture.

use proto::metapb::{Store, StoreState};
use proto::schedulerpb::StoreStats;

/// One store as the scheduler sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreInfo {
    /// The store's id, address and state.
    pub store: Store,
    /// When its last heartbeat arrived, in ms of the scheduler's clock
    /// (so tests can age a store by hand); `None` since the scheduler
    /// started until the first one.
    pub last_heartbeat_ms: Option<u64>,
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
            last_heartbeat_ms: None,
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

    /// True when the store is `Up` and its last heartbeat is less than
    /// `max_down_ms` old at `now_ms`: TinyKV's "suitable" store, the only
    /// kind balancing moves data from or to. A store never heard from since
    /// the scheduler started is not alive: nothing says it can take data.
    pub fn is_up_and_alive(&self, now_ms: u64, max_down_ms: u64) -> bool {
        self.store.state() == StoreState::Up && !self.is_down(now_ms, max_down_ms)
    }

    /// True when the store has not sent a heartbeat for `max_down_ms` (or
    /// never since the scheduler started): its peers are presumed lost.
    pub fn is_down(&self, now_ms: u64, max_down_ms: u64) -> bool {
        match self.last_heartbeat_ms {
            Some(heard_ms) => now_ms.saturating_sub(heard_ms) >= max_down_ms,
            None => true,
        }
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
