//! [`RemoteScheduler`]: the scheduler across the network, for threads that
//! block — raftstore's `SchedulerClient` for a store in its own process,
//! and the blocking calls tools and node startup need.
//!
//! raftstore calls its scheduler client from the split_check and
//! scheduler_task threads, which are plain threads that may wait; so each
//! call here runs the async [`SchedulerGrpcClient`] call on the process's
//! tokio runtime and blocks the calling thread until it ends (at most the
//! client's request timeout). It must never be called from a runtime
//! thread: `Handle::block_on` there would panic, and the raft worker never
//! calls it at all (an answer takes a round trip).

use proto::metapb::{Peer, Region, Store};
use proto::schedulerpb::{
    OperatorType, RegionHeartbeatRequest, RegionHeartbeatResponse, StoreStats,
};
use raftstore::{SchedulerClient, SplitIds};
use scheduler::StoreInfo;
use tokio::runtime::Handle;

use crate::errors::Result;
use crate::scheduler_grpc_client::SchedulerGrpcClient;

/// A blocking client of a remote scheduler (see the module docs).
#[derive(Clone)]
pub struct RemoteScheduler {
    runtime: Handle,
    client: SchedulerGrpcClient,
}

impl RemoteScheduler {
    /// A client of the scheduler at `address` whose calls run on `runtime`.
    pub fn new(runtime: Handle, address: &str, max_message_size: usize) -> Result<RemoteScheduler> {
        // tonic spawns the connection's task: enter the runtime to create it.
        let client = {
            let _entered = runtime.enter();
            SchedulerGrpcClient::new(address, max_message_size)?
        };
        Ok(RemoteScheduler { runtime, client })
    }

    /// The async client underneath, for code on the runtime.
    pub fn client(&self) -> &SchedulerGrpcClient {
        &self.client
    }

    /// Whether the cluster is bootstrapped, and the cluster id.
    pub fn is_bootstrapped(&self) -> Result<(bool, u64)> {
        self.runtime.block_on(self.client.is_bootstrapped())
    }

    /// Bootstraps the cluster with its first store and region.
    pub fn bootstrap(&self, store: Store, region: Region) -> Result<()> {
        self.runtime.block_on(self.client.bootstrap(store, region))
    }

    /// A new unique id.
    pub fn alloc_id(&self) -> Result<u64> {
        self.runtime.block_on(self.client.alloc_id())
    }

    /// Adds or updates a store.
    pub fn put_store(&self, store: Store) -> Result<()> {
        self.runtime.block_on(self.client.put_store(store))
    }

    /// One store with its statistics and region totals.
    pub fn get_store(&self, store_id: u64) -> Result<StoreInfo> {
        self.runtime.block_on(self.client.get_store(store_id))
    }

    /// Every store, in id order.
    pub fn get_all_stores(&self) -> Result<Vec<StoreInfo>> {
        self.runtime.block_on(self.client.get_all_stores())
    }

    /// The region holding `key`, and its leader if known.
    pub fn get_region(&self, key: &[u8]) -> Result<Option<(Region, Option<Peer>)>> {
        self.runtime.block_on(self.client.get_region(key))
    }

    /// The region with this id, and its leader if known.
    pub fn get_region_by_id(&self, region_id: u64) -> Result<Option<(Region, Option<Peer>)>> {
        self.runtime
            .block_on(self.client.get_region_by_id(region_id))
    }

    /// The regions overlapping `[start_key, end_key)`, with their leaders
    /// (see [`SchedulerGrpcClient::scan_regions`]).
    pub fn scan_regions(
        &self,
        start_key: &[u8],
        end_key: &[u8],
        limit: u32,
    ) -> Result<Vec<(Region, Option<Peer>)>> {
        self.runtime
            .block_on(self.client.scan_regions(start_key, end_key, limit))
    }

    /// Asks for an operator (see [`SchedulerGrpcClient::add_operator`]).
    pub fn add_operator(
        &self,
        region_id: u64,
        operator_type: OperatorType,
        store_id: u64,
    ) -> Result<()> {
        self.runtime
            .block_on(self.client.add_operator(region_id, operator_type, store_id))
    }

    /// A timestamp greater than every one handed out before.
    pub fn tso(&self) -> Result<u64> {
        self.runtime.block_on(self.client.tso())
    }
}

fn to_store_error(error: crate::Error) -> raftstore::Error {
    raftstore::Error::Scheduler(error.to_string())
}

impl SchedulerClient for RemoteScheduler {
    fn ask_split(&self, region: &Region) -> raftstore::Result<SplitIds> {
        let (new_region_id, new_peer_ids) = self
            .runtime
            .block_on(self.client.ask_split(region))
            .map_err(to_store_error)?;
        Ok(SplitIds {
            new_region_id,
            new_peer_ids,
        })
    }

    fn region_heartbeat(
        &self,
        heartbeat: RegionHeartbeatRequest,
    ) -> raftstore::Result<Option<RegionHeartbeatResponse>> {
        self.runtime
            .block_on(self.client.region_heartbeat(heartbeat))
            .map_err(to_store_error)
    }

    fn report_split(&self, left: &Region, right: &Region) -> raftstore::Result<()> {
        self.runtime
            .block_on(self.client.report_split(left.clone(), right.clone()))
            .map_err(to_store_error)
    }

    fn store_heartbeat(&self, stats: StoreStats) -> raftstore::Result<()> {
        self.runtime
            .block_on(self.client.store_heartbeat(stats))
            .map_err(to_store_error)
    }
}
