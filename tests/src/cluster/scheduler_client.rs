//! [`ClusterSchedulerClient`]: what the test cluster's stores see as their
//! scheduler until the real one (lab 3C) drives them: ids for splits from
//! the cluster's [`IdAllocator`], counters of the heartbeats the stores
//! send, and operator steps a test queues for a region, handed to that
//! region's leader in the answer to its next heartbeat.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use proto::metapb::Region;
use proto::schedulerpb::{RegionHeartbeatRequest, RegionHeartbeatResponse, StoreStats};
use raftstore::{SchedulerClient, SplitIds};

use super::IdAllocator;

/// The stores' scheduler in the test cluster (see the module docs).
#[derive(Debug)]
pub struct ClusterSchedulerClient {
    ids: Arc<IdAllocator>,
    region_heartbeats: AtomicU64,
    store_heartbeats: AtomicU64,
    /// One queued operator step per region, answered to the next heartbeat.
    queued_steps: Mutex<HashMap<u64, RegionHeartbeatResponse>>,
}

impl ClusterSchedulerClient {
    /// A client handing out ids from `ids`.
    pub fn new(ids: Arc<IdAllocator>) -> ClusterSchedulerClient {
        ClusterSchedulerClient {
            ids,
            region_heartbeats: AtomicU64::new(0),
            store_heartbeats: AtomicU64::new(0),
            queued_steps: Mutex::new(HashMap::new()),
        }
    }

    /// How many region heartbeats the stores sent so far.
    pub fn region_heartbeats(&self) -> u64 {
        self.region_heartbeats.load(Ordering::SeqCst)
    }

    /// How many store heartbeats the stores sent so far.
    pub fn store_heartbeats(&self) -> u64 {
        self.store_heartbeats.load(Ordering::SeqCst)
    }

    /// Answers the next heartbeat of `region_id` with `step` (replacing a
    /// step still queued for it).
    pub fn queue_step(&self, region_id: u64, step: RegionHeartbeatResponse) {
        self.queued_steps
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(region_id, step);
    }

    /// Whether a step is still waiting for its region's heartbeat.
    pub fn has_queued_step(&self, region_id: u64) -> bool {
        self.queued_steps
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains_key(&region_id)
    }
}

impl SchedulerClient for ClusterSchedulerClient {
    fn ask_split(&self, region: &Region) -> raftstore::Result<SplitIds> {
        self.ids.ask_split(region)
    }

    fn region_heartbeat(
        &self,
        heartbeat: RegionHeartbeatRequest,
    ) -> raftstore::Result<Option<RegionHeartbeatResponse>> {
        self.region_heartbeats.fetch_add(1, Ordering::SeqCst);
        Ok(self
            .queued_steps
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&heartbeat.region().id))
    }

    fn store_heartbeat(&self, _stats: StoreStats) -> raftstore::Result<()> {
        self.store_heartbeats.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}
