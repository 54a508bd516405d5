//! [`SchedulerService`]: what the rest of the cluster asks of the scheduler.
//!
//! The trait mirrors the `schedulerpb` requests, without their headers.
//! [`crate::Scheduler`] implements it in-process; the `network` crate
//! serves every method over gRPC (`SchedulerGrpcService`, the
//! `schedulerpb.Scheduler` service) and calls them remotely
//! (`SchedulerGrpcClient`, with typed errors, since a remote call can fail
//! where this trait cannot). Methods may block on a synced disk write.

use proto::metapb::{Peer, Region, Store};
use proto::schedulerpb::{RegionHeartbeatRequest, RegionHeartbeatResponse, StoreStats};

use crate::errors::Result;
use crate::store_info::StoreInfo;

/// The placement driver's API. See the module docs.
pub trait SchedulerService: Send + Sync {
    /// Bootstraps the cluster with its first store and region (the region
    /// must have a peer on that store). Fails with `AlreadyBootstrapped` the
    /// second time.
    fn bootstrap(&self, store: Store, region: Region) -> Result<()>;

    /// True once `bootstrap` succeeded (on this directory, ever).
    fn is_bootstrapped(&self) -> bool;

    /// A new unique id for a store, region or peer. Allowed before
    /// bootstrap: a store needs ids to build the bootstrap request.
    fn alloc_id(&self) -> Result<u64>;

    /// Adds or updates a store. Requires a bootstrapped cluster.
    fn put_store(&self, store: Store) -> Result<()>;

    /// The store with this id, with region totals from region heartbeats.
    fn get_store(&self, store_id: u64) -> Result<StoreInfo>;

    /// Every store the cluster knows (tombstones included), in id order,
    /// with region totals.
    fn get_all_stores(&self) -> Vec<StoreInfo>;

    /// Records a store's periodic statistics.
    fn store_heartbeat(&self, stats: StoreStats) -> Result<()>;

    /// Processes a region leader's heartbeat (see [`crate::ClusterMeta`]
    /// for the rules). Returns the next step of the region's operator, if
    /// it has one in flight: the leader should carry it out, and a later
    /// heartbeat shows whether it did. A rejected heartbeat gets its error
    /// and no step.
    fn region_heartbeat(
        &self,
        request: RegionHeartbeatRequest,
    ) -> Result<Option<RegionHeartbeatResponse>>;

    /// The region whose range contains `key`, and its leader if known.
    fn get_region(&self, key: &[u8]) -> Option<(Region, Option<Peer>)>;

    /// The region with this id, and its leader if known.
    fn get_region_by_id(&self, region_id: u64) -> Option<(Region, Option<Peer>)>;

    /// Allocates the ids a split of `region` needs: the new region's id and
    /// one peer id per peer of `region`, in its order. Fails if the region
    /// is unknown or its epoch is older than the known one.
    fn ask_split(&self, region: &Region) -> Result<(u64, Vec<u64>)>;

    /// Checks and logs a finished split. The regions themselves are updated
    /// by the two regions' next heartbeats, which carry their leaders.
    fn report_split(&self, left: Region, right: Region) -> Result<()>;

    /// A timestamp greater than every one handed out before.
    fn tso(&self) -> Result<u64>;
}
