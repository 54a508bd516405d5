//! [`ClusterSchedulerClient`]: the test cluster's stores talk to the real
//! scheduler (`scheduler::Scheduler`, lab 3C) in-process through this
//! adapter.
//!
//! It implements raftstore's `SchedulerClient` by calling the scheduler's
//! `SchedulerService` directly (the gRPC client of a multi-process cluster
//! implements the same trait over the network), and counts the heartbeats
//! so tests can wait for them. Called on each store's split_check and
//! scheduler_task threads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use proto::metapb::Region;
use proto::schedulerpb::{RegionHeartbeatRequest, RegionHeartbeatResponse, StoreStats};
use raftstore::{SchedulerClient, SplitIds};
use scheduler::{Scheduler, SchedulerService};

/// The stores' scheduler in the test cluster (see the module docs).
#[derive(Debug)]
pub struct ClusterSchedulerClient {
    scheduler: Arc<Scheduler>,
    region_heartbeats: AtomicU64,
    store_heartbeats: AtomicU64,
}

impl ClusterSchedulerClient {
    /// A client of `scheduler`.
    pub fn new(scheduler: Arc<Scheduler>) -> ClusterSchedulerClient {
        ClusterSchedulerClient {
            scheduler,
            region_heartbeats: AtomicU64::new(0),
            store_heartbeats: AtomicU64::new(0),
        }
    }

    /// The scheduler behind this client.
    pub fn scheduler(&self) -> &Arc<Scheduler> {
        &self.scheduler
    }

    /// How many region heartbeats the stores sent so far.
    pub fn region_heartbeats(&self) -> u64 {
        self.region_heartbeats.load(Ordering::SeqCst)
    }

    /// How many store heartbeats the stores sent so far.
    pub fn store_heartbeats(&self) -> u64 {
        self.store_heartbeats.load(Ordering::SeqCst)
    }
}

fn to_store_error(error: scheduler::Error) -> raftstore::Error {
    raftstore::Error::Scheduler(error.to_string())
}

impl SchedulerClient for ClusterSchedulerClient {
    fn ask_split(&self, region: &Region) -> raftstore::Result<SplitIds> {
        let (new_region_id, new_peer_ids) =
            self.scheduler.ask_split(region).map_err(to_store_error)?;
        Ok(SplitIds {
            new_region_id,
            new_peer_ids,
        })
    }

    fn region_heartbeat(
        &self,
        heartbeat: RegionHeartbeatRequest,
    ) -> raftstore::Result<Option<RegionHeartbeatResponse>> {
        self.region_heartbeats.fetch_add(1, Ordering::SeqCst);
        self.scheduler
            .region_heartbeat(heartbeat)
            .map_err(to_store_error)
    }

    fn report_split(&self, left: &Region, right: &Region) -> raftstore::Result<()> {
        self.scheduler
            .report_split(left.clone(), right.clone())
            .map_err(to_store_error)
    }

    fn store_heartbeat(&self, stats: StoreStats) -> raftstore::Result<()> {
        self.store_heartbeats.fetch_add(1, Ordering::SeqCst);
        self.scheduler
            .store_heartbeat(stats)
            .map_err(to_store_error)
    }
}
