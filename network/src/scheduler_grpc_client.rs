//! [`SchedulerGrpcClient`]: every call of the `Scheduler` gRPC service, as
//! async methods that return typed errors.
//!
//! Runs on the tokio runtime. In: what stores and tools ask. Out: the
//! scheduler's answer, a [`Error::Scheduler`] when the response header
//! carries an error (the scheduler said no), or a transport error (the
//! network failed; the outcome of a write such as `bootstrap` is then
//! unknown). Threads outside the runtime use [`crate::RemoteScheduler`],
//! which wraps this client.

use std::time::Duration;

use proto::metapb::{Peer, Region, Store};
use proto::schedulerpb::{
    AddOperatorRequest, AddOperatorResponse, OperatorType, ScanRegionsRequest, ScanRegionsResponse,
};
use proto::schedulerpb::{
    AllocIdRequest, AllocIdResponse, AskSplitRequest, AskSplitResponse, BootstrapRequest,
    BootstrapResponse, ErrorType, GetAllStoresRequest, GetAllStoresResponse, GetRegionByIdRequest,
    GetRegionRequest, GetRegionResponse, GetStoreRequest, GetStoreResponse, IsBootstrappedRequest,
    IsBootstrappedResponse, PutStoreRequest, PutStoreResponse, RegionHeartbeatRequest,
    RegionHeartbeatResponse, ReportSplitRequest, ReportSplitResponse, ResponseHeader,
    StoreHeartbeatRequest, StoreHeartbeatResponse, StoreStats, StoreSummary, TsoRequest,
    TsoResponse,
};
use scheduler::{StoreInfo, LOGICAL_BITS};
use std::sync::Arc;

use crate::errors::{Error, Result};
use crate::grpc_channel::GrpcChannel;
use crate::lockstep_stream::LockstepStream;

/// How long one scheduler call may take. The scheduler answers from memory
/// and one synced write; 5 s means it is down or the network is.
pub const SCHEDULER_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A client of one scheduler (cheap to clone: clones share the connection
/// and the two streams).
#[derive(Clone)]
pub struct SchedulerGrpcClient {
    channel: GrpcChannel,
    heartbeats: Arc<LockstepStream<RegionHeartbeatRequest, RegionHeartbeatResponse>>,
    timestamps: Arc<LockstepStream<TsoRequest, TsoResponse>>,
    timeout: Duration,
}

/// Turns an error in a response header into [`Error::Scheduler`].
fn check(header: &ResponseHeader) -> Result<()> {
    match header.error.as_ref() {
        Some(error) if error.type_() != ErrorType::OK => Err(Error::Scheduler {
            error_type: error.type_(),
            message: error.message.clone(),
        }),
        _ => Ok(()),
    }
}

/// A store as the scheduler reported it.
pub fn store_info(summary: &StoreSummary) -> StoreInfo {
    let mut info = StoreInfo::new(summary.store().clone());
    info.stats = summary.stats().clone();
    info.last_heartbeat_ms = Some(summary.last_heartbeat_ms).filter(|ms| *ms > 0);
    info.leader_count = summary.leader_count;
    info.region_count = summary.region_count;
    info.leader_size = summary.leader_size;
    info.region_size = summary.region_size;
    info
}

fn region_and_leader(response: GetRegionResponse) -> Result<Option<(Region, Option<Peer>)>> {
    check(response.header.get_or_default())?;
    Ok(response
        .region
        .into_option()
        .map(|region| (region, response.leader.into_option())))
}

impl SchedulerGrpcClient {
    /// A client of the scheduler at `address`, connected at the first call.
    /// Must be called on the runtime.
    pub fn new(address: &str, max_message_size: usize) -> Result<SchedulerGrpcClient> {
        let channel = GrpcChannel::lazy(address, max_message_size)?;
        Ok(SchedulerGrpcClient {
            heartbeats: Arc::new(LockstepStream::new(
                channel.clone(),
                "/schedulerpb.Scheduler/RegionHeartbeat",
            )),
            timestamps: Arc::new(LockstepStream::new(
                channel.clone(),
                "/schedulerpb.Scheduler/Tso",
            )),
            channel,
            timeout: SCHEDULER_REQUEST_TIMEOUT,
        })
    }

    /// The scheduler's address.
    pub fn address(&self) -> &str {
        self.channel.address()
    }

    /// Bootstraps the cluster with its first store and region.
    pub async fn bootstrap(&self, store: Store, region: Region) -> Result<()> {
        let mut request = BootstrapRequest::new();
        request.store = Some(store).into();
        request.region = Some(region).into();
        let response: BootstrapResponse = self
            .channel
            .unary("/schedulerpb.Scheduler/Bootstrap", request, self.timeout)
            .await?;
        check(response.header.get_or_default())
    }

    /// Whether the cluster is bootstrapped, and the cluster id (from the
    /// response header).
    pub async fn is_bootstrapped(&self) -> Result<(bool, u64)> {
        let response: IsBootstrappedResponse = self
            .channel
            .unary(
                "/schedulerpb.Scheduler/IsBootstrapped",
                IsBootstrappedRequest::new(),
                self.timeout,
            )
            .await?;
        check(response.header.get_or_default())?;
        Ok((response.bootstrapped, response.header().cluster_id))
    }

    /// A new unique id.
    pub async fn alloc_id(&self) -> Result<u64> {
        let response: AllocIdResponse = self
            .channel
            .unary(
                "/schedulerpb.Scheduler/AllocID",
                AllocIdRequest::new(),
                self.timeout,
            )
            .await?;
        check(response.header.get_or_default())?;
        Ok(response.id)
    }

    /// Adds or updates a store.
    pub async fn put_store(&self, store: Store) -> Result<()> {
        let mut request = PutStoreRequest::new();
        request.store = Some(store).into();
        let response: PutStoreResponse = self
            .channel
            .unary("/schedulerpb.Scheduler/PutStore", request, self.timeout)
            .await?;
        check(response.header.get_or_default())
    }

    /// One store with its statistics and region totals.
    pub async fn get_store(&self, store_id: u64) -> Result<StoreInfo> {
        let mut request = GetStoreRequest::new();
        request.store_id = store_id;
        let response: GetStoreResponse = self
            .channel
            .unary("/schedulerpb.Scheduler/GetStore", request, self.timeout)
            .await?;
        check(response.header.get_or_default())?;
        match response.summary.as_ref() {
            Some(summary) => Ok(store_info(summary)),
            None => Err(Error::InvalidResponse(format!(
                "GetStore {store_id}: no store in the answer"
            ))),
        }
    }

    /// Every store, in id order.
    pub async fn get_all_stores(&self) -> Result<Vec<StoreInfo>> {
        let response: GetAllStoresResponse = self
            .channel
            .unary(
                "/schedulerpb.Scheduler/GetAllStores",
                GetAllStoresRequest::new(),
                self.timeout,
            )
            .await?;
        check(response.header.get_or_default())?;
        Ok(response.summaries.iter().map(store_info).collect())
    }

    /// Reports a store's statistics.
    pub async fn store_heartbeat(&self, stats: StoreStats) -> Result<()> {
        let mut request = StoreHeartbeatRequest::new();
        request.stats = Some(stats).into();
        let response: StoreHeartbeatResponse = self
            .channel
            .unary(
                "/schedulerpb.Scheduler/StoreHeartbeat",
                request,
                self.timeout,
            )
            .await?;
        check(response.header.get_or_default())
    }

    /// Reports a region this store leads; the answer is the next step of
    /// the region's operator, if it has one.
    pub async fn region_heartbeat(
        &self,
        request: RegionHeartbeatRequest,
    ) -> Result<Option<RegionHeartbeatResponse>> {
        let response = self.heartbeats.call(request, self.timeout).await?;
        check(response.header.get_or_default())?;
        if response.change_peer.is_none() && response.transfer_leader.is_none() {
            return Ok(None);
        }
        Ok(Some(response))
    }

    /// The region holding `key`, and its leader if known.
    pub async fn get_region(&self, key: &[u8]) -> Result<Option<(Region, Option<Peer>)>> {
        let mut request = GetRegionRequest::new();
        request.region_key = key.to_vec();
        let response: GetRegionResponse = self
            .channel
            .unary("/schedulerpb.Scheduler/GetRegion", request, self.timeout)
            .await?;
        region_and_leader(response)
    }

    /// The region with this id, and its leader if known.
    pub async fn get_region_by_id(&self, region_id: u64) -> Result<Option<(Region, Option<Peer>)>> {
        let mut request = GetRegionByIdRequest::new();
        request.region_id = region_id;
        let response: GetRegionResponse = self
            .channel
            .unary(
                "/schedulerpb.Scheduler/GetRegionByID",
                request,
                self.timeout,
            )
            .await?;
        region_and_leader(response)
    }

    /// The ids a split of `region` needs: the new region's and one peer id
    /// per peer.
    pub async fn ask_split(&self, region: &Region) -> Result<(u64, Vec<u64>)> {
        let mut request = AskSplitRequest::new();
        request.region = Some(region.clone()).into();
        let response: AskSplitResponse = self
            .channel
            .unary("/schedulerpb.Scheduler/AskSplit", request, self.timeout)
            .await?;
        check(response.header.get_or_default())?;
        Ok((response.new_region_id, response.new_peer_ids))
    }

    /// Reports a finished split.
    pub async fn report_split(&self, left: Region, right: Region) -> Result<()> {
        let mut request = ReportSplitRequest::new();
        request.left = Some(left).into();
        request.right = Some(right).into();
        let response: ReportSplitResponse = self
            .channel
            .unary("/schedulerpb.Scheduler/ReportSplit", request, self.timeout)
            .await?;
        check(response.header.get_or_default())
    }

    /// The regions overlapping `[start_key, end_key)` (empty end: to the
    /// end of the key space) with their leaders, in key order, at most
    /// `limit` (0: all).
    pub async fn scan_regions(
        &self,
        start_key: &[u8],
        end_key: &[u8],
        limit: u32,
    ) -> Result<Vec<(Region, Option<Peer>)>> {
        let mut request = ScanRegionsRequest::new();
        request.start_key = start_key.to_vec();
        request.end_key = end_key.to_vec();
        request.limit = limit;
        let response: ScanRegionsResponse = self
            .channel
            .unary("/schedulerpb.Scheduler/ScanRegions", request, self.timeout)
            .await?;
        check(response.header.get_or_default())?;
        if response.leaders.len() != response.regions.len() {
            return Err(Error::InvalidResponse(format!(
                "ScanRegions: {} regions but {} leaders",
                response.regions.len(),
                response.leaders.len()
            )));
        }
        Ok(response
            .regions
            .into_iter()
            .zip(response.leaders)
            .map(|(region, leader)| (region, Some(leader).filter(|leader| leader.id != 0)))
            .collect())
    }

    /// Asks for an operator on `region_id`: add a peer on, remove the peer
    /// from, or move leadership to `store_id`. Returns once the scheduler
    /// accepted it; the region's leader carries it out through its next
    /// heartbeats.
    pub async fn add_operator(
        &self,
        region_id: u64,
        operator_type: OperatorType,
        store_id: u64,
    ) -> Result<()> {
        let mut request = AddOperatorRequest::new();
        request.region_id = region_id;
        request.set_type(operator_type);
        request.store_id = store_id;
        let response: AddOperatorResponse = self
            .channel
            .unary("/schedulerpb.Scheduler/AddOperator", request, self.timeout)
            .await?;
        check(response.header.get_or_default())
    }

    /// A timestamp greater than every one handed out before.
    pub async fn tso(&self) -> Result<u64> {
        let mut request = TsoRequest::new();
        request.count = 1;
        let response = self.timestamps.call(request, self.timeout).await?;
        check(response.header.get_or_default())?;
        let timestamp = response.timestamp.get_or_default();
        match (
            u64::try_from(timestamp.physical),
            u64::try_from(timestamp.logical),
        ) {
            (Ok(physical), Ok(logical)) if logical < (1 << LOGICAL_BITS) => {
                Ok((physical << LOGICAL_BITS) | logical)
            }
            _ => Err(Error::InvalidResponse(format!(
                "Tso: timestamp out of range: {timestamp:?}"
            ))),
        }
    }
}
