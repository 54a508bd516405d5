//! [`SchedulerClient`]: what a store asks of the scheduler (the placement
//! driver).
//!
//! raftstore only calls the trait. The test cluster implements it over the
//! in-process scheduler of lab 3C (`tests/src/cluster/scheduler_client.rs`);
//! a gRPC client implements it for stores in their own processes.
//!
//! Called from worker threads that may wait (split_check, scheduler_task),
//! never from the raft worker: an answer can take a network round trip.

use proto::metapb::Region;
use proto::schedulerpb::{RegionHeartbeatRequest, RegionHeartbeatResponse, StoreStats};

use crate::errors::Result;

/// The ids a split needs: the new region's id, and one new peer id for each
/// peer of the region being split (in the same order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitIds {
    /// The id of the region that takes `[split_key, end)`.
    pub new_region_id: u64,
    /// The new region's peer ids, one per peer of the old region.
    pub new_peer_ids: Vec<u64>,
}

/// The store's view of the scheduler.
pub trait SchedulerClient: Send + Sync {
    /// Allocates the ids for splitting `region` (TinyKV's `AskSplit`).
    fn ask_split(&self, region: &Region) -> Result<SplitIds>;

    /// Reports a region this store leads (its range, epoch, peers, leader,
    /// pending peers and approximate size). The answer may carry the next
    /// step of an operator for the region (add or remove a peer, transfer
    /// leadership), which the store executes as an admin command. A
    /// scheduler that does not schedule answers `Ok(None)` (the default).
    fn region_heartbeat(
        &self,
        heartbeat: RegionHeartbeatRequest,
    ) -> Result<Option<RegionHeartbeatResponse>> {
        let _ = heartbeat;
        Ok(None)
    }

    /// Reports a split the region's leader applied: `left` is the split
    /// region as it is now, `right` the new one (TinyKV's `ReportSplit`).
    /// The default ignores it.
    fn report_split(&self, left: &Region, right: &Region) -> Result<()> {
        let _ = (left, right);
        Ok(())
    }

    /// Reports this store's statistics (region count, sizes). The default
    /// ignores them.
    fn store_heartbeat(&self, stats: StoreStats) -> Result<()> {
        let _ = stats;
        Ok(())
    }
}
