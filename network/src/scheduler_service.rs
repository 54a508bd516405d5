//! [`SchedulerGrpcService`]: the `Scheduler` gRPC service
//! (`proto/proto/schedulerpb.proto`) over the in-process
//! `scheduler::Scheduler`.
//!
//! Runs on the scheduler process's tokio runtime; every scheduler call runs
//! on tokio's blocking pool (it may sync its disk). In: the requests of
//! stores (heartbeats, ids, splits) and of tools and clients (regions,
//! stores, timestamps). Out: the `SchedulerService` answer, with the
//! cluster id in every response header and a failure as a typed error in
//! the header (`ErrorType`), never as a transport error: a client can tell
//! "the scheduler said no" from "the network failed".
//!
//! `RegionHeartbeat` and `Tso` are bidirectional streams, as in TinyKV:
//! the scheduler answers every request of the stream, in order. A
//! heartbeat with no operator step for its region gets an answer without
//! `change_peer` and `transfer_leader`.

use std::sync::Arc;
use std::task::{Context, Poll};

use proto::metapb::{Peer, Region};
use proto::schedulerpb::{
    AddOperatorRequest, AddOperatorResponse, OperatorType, ScanRegionsRequest, ScanRegionsResponse,
};
use proto::schedulerpb::{
    AllocIdRequest, AllocIdResponse, AskSplitRequest, AskSplitResponse, BootstrapRequest,
    BootstrapResponse, ErrorType, GetAllStoresRequest, GetAllStoresResponse, GetRegionByIdRequest,
    GetRegionRequest, GetRegionResponse, GetStoreRequest, GetStoreResponse, IsBootstrappedRequest,
    IsBootstrappedResponse, PutStoreRequest, PutStoreResponse, RegionHeartbeatRequest,
    RegionHeartbeatResponse, ReportSplitRequest, ReportSplitResponse, ResponseHeader,
    StoreHeartbeatRequest, StoreHeartbeatResponse, StoreSummary, TsoRequest, TsoResponse,
};
use scheduler::{OperatorKind, Scheduler, SchedulerService, StoreInfo, LOGICAL_BITS};
use tonic::body::Body;
use tonic::codegen::{http, Service};

use crate::method_handler::{answer_each, blocking, streaming, unary, unimplemented, MethodFuture};

/// The most timestamps one `TsoRequest` may ask for: a bound on how long
/// one request holds the oracle.
pub const MAX_TSO_COUNT: u32 = 1 << 16;

/// The `Scheduler` service (cheap to clone: tonic clones it per connection).
#[derive(Clone)]
pub struct SchedulerGrpcService {
    scheduler: Arc<Scheduler>,
    max_message_size: usize,
}

impl SchedulerGrpcService {
    /// The service of `scheduler`.
    pub fn new(scheduler: Arc<Scheduler>, max_message_size: usize) -> SchedulerGrpcService {
        SchedulerGrpcService {
            scheduler,
            max_message_size,
        }
    }

    /// A unary method: decode, run `handler` on the blocking pool, encode.
    fn handle<Req, Resp>(
        &self,
        request: http::Request<Body>,
        handler: fn(&Scheduler, Req) -> Resp,
    ) -> MethodFuture
    where
        Req: protobuf::Message,
        Resp: protobuf::Message,
    {
        let scheduler = Arc::clone(&self.scheduler);
        unary(request, self.max_message_size, move |request: Req| {
            blocking(move || handler(&scheduler, request))
        })
    }

    /// A bidirectional method answering each request with `handler`.
    fn handle_each<Req, Resp>(
        &self,
        request: http::Request<Body>,
        handler: fn(&Scheduler, Req) -> Resp,
    ) -> MethodFuture
    where
        Req: protobuf::Message,
        Resp: protobuf::Message,
    {
        let scheduler = Arc::clone(&self.scheduler);
        streaming(request, self.max_message_size, move |requests| {
            answer_each(requests, move |request: Req| handler(&scheduler, request))
        })
    }
}

impl Service<http::Request<Body>> for SchedulerGrpcService {
    type Response = http::Response<Body>;
    type Error = std::convert::Infallible;
    type Future = MethodFuture;

    fn poll_ready(&mut self, _context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> MethodFuture {
        match request.uri().path() {
            "/schedulerpb.Scheduler/Tso" => self.handle_each(request, tso),
            "/schedulerpb.Scheduler/Bootstrap" => self.handle(request, bootstrap),
            "/schedulerpb.Scheduler/IsBootstrapped" => self.handle(request, is_bootstrapped),
            "/schedulerpb.Scheduler/AllocID" => self.handle(request, alloc_id),
            "/schedulerpb.Scheduler/GetStore" => self.handle(request, get_store),
            "/schedulerpb.Scheduler/PutStore" => self.handle(request, put_store),
            "/schedulerpb.Scheduler/GetAllStores" => self.handle(request, get_all_stores),
            "/schedulerpb.Scheduler/StoreHeartbeat" => self.handle(request, store_heartbeat),
            "/schedulerpb.Scheduler/RegionHeartbeat" => self.handle_each(request, region_heartbeat),
            "/schedulerpb.Scheduler/GetRegion" => self.handle(request, get_region),
            "/schedulerpb.Scheduler/GetRegionByID" => self.handle(request, get_region_by_id),
            "/schedulerpb.Scheduler/AskSplit" => self.handle(request, ask_split),
            "/schedulerpb.Scheduler/ReportSplit" => self.handle(request, report_split),
            "/schedulerpb.Scheduler/ScanRegions" => self.handle(request, scan_regions),
            "/schedulerpb.Scheduler/AddOperator" => self.handle(request, add_operator),
            path => unimplemented(path),
        }
    }
}

/// The typed kind of a scheduler error, as a client sees it.
pub fn error_type(error: &scheduler::Error) -> ErrorType {
    use scheduler::Error;
    match error {
        Error::NotBootstrapped => ErrorType::NOT_BOOTSTRAPPED,
        Error::AlreadyBootstrapped => ErrorType::ALREADY_BOOTSTRAPPED,
        Error::StoreNotFound(_) => ErrorType::STORE_NOT_FOUND,
        Error::StoreTombstone(_) => ErrorType::STORE_TOMBSTONE,
        Error::StaleRegion { .. } => ErrorType::STALE_REGION,
        Error::InvalidRegion(_) | Error::InvalidStore(_) | Error::InvalidOperator(_) => {
            ErrorType::INVALID_ARGUMENT
        }
        Error::RegionNotFound(_) => ErrorType::REGION_NOT_FOUND,
        Error::OperatorExists(_) => ErrorType::OPERATOR_EXISTS,
        Error::CorruptMeta { .. } | Error::Storage(_) => ErrorType::UNKNOWN,
    }
}

/// A response header: the cluster id, and the error if the call failed.
fn header<T>(scheduler: &Scheduler, outcome: &scheduler::Result<T>) -> ResponseHeader {
    let mut header = ResponseHeader::new();
    header.cluster_id = scheduler.cluster_id();
    if let Err(error) = outcome {
        let detail = header.mut_error();
        detail.set_type(error_type(error));
        detail.message = error.to_string();
    }
    header
}

fn ok_header(scheduler: &Scheduler) -> ResponseHeader {
    header(scheduler, &Ok(()))
}

/// What the scheduler knows of a store, on the wire.
pub fn store_summary(info: &StoreInfo) -> StoreSummary {
    let mut summary = StoreSummary::new();
    summary.store = Some(info.store.clone()).into();
    summary.stats = Some(info.stats.clone()).into();
    summary.last_heartbeat_ms = info.last_heartbeat_ms.unwrap_or(0);
    summary.leader_count = info.leader_count;
    summary.region_count = info.region_count;
    summary.leader_size = info.leader_size;
    summary.region_size = info.region_size;
    summary
}

fn tso(scheduler: &Scheduler, request: TsoRequest) -> TsoResponse {
    let mut response = TsoResponse::new();
    let count = request.count.clamp(1, MAX_TSO_COUNT);
    let mut outcome = Ok(0);
    for _ in 0..count {
        outcome = scheduler.tso();
        if outcome.is_err() {
            break;
        }
    }
    response.header = Some(header(scheduler, &outcome)).into();
    if let Ok(timestamp) = outcome {
        response.count = count;
        let wire = response.timestamp.mut_or_insert_default();
        // Both halves fit an i64: the physical part is a u64 shifted right
        // by LOGICAL_BITS, the logical part is below 2^LOGICAL_BITS.
        wire.physical = (timestamp >> LOGICAL_BITS) as i64;
        wire.logical = (timestamp & ((1 << LOGICAL_BITS) - 1)) as i64;
    }
    response
}

fn bootstrap(scheduler: &Scheduler, request: BootstrapRequest) -> BootstrapResponse {
    let outcome = scheduler.bootstrap(
        request.store.unwrap_or_default(),
        request.region.unwrap_or_default(),
    );
    let mut response = BootstrapResponse::new();
    response.header = Some(header(scheduler, &outcome)).into();
    response
}

fn is_bootstrapped(
    scheduler: &Scheduler,
    _request: IsBootstrappedRequest,
) -> IsBootstrappedResponse {
    let mut response = IsBootstrappedResponse::new();
    response.header = Some(ok_header(scheduler)).into();
    response.bootstrapped = scheduler.is_bootstrapped();
    response
}

fn alloc_id(scheduler: &Scheduler, _request: AllocIdRequest) -> AllocIdResponse {
    let outcome = scheduler.alloc_id();
    let mut response = AllocIdResponse::new();
    response.header = Some(header(scheduler, &outcome)).into();
    response.id = outcome.unwrap_or(0);
    response
}

fn get_store(scheduler: &Scheduler, request: GetStoreRequest) -> GetStoreResponse {
    let outcome = scheduler.get_store(request.store_id);
    let mut response = GetStoreResponse::new();
    response.header = Some(header(scheduler, &outcome)).into();
    if let Ok(info) = outcome {
        response.store = Some(info.store.clone()).into();
        response.stats = Some(info.stats.clone()).into();
        response.summary = Some(store_summary(&info)).into();
    }
    response
}

fn put_store(scheduler: &Scheduler, request: PutStoreRequest) -> PutStoreResponse {
    let outcome = scheduler.put_store(request.store.unwrap_or_default());
    let mut response = PutStoreResponse::new();
    response.header = Some(header(scheduler, &outcome)).into();
    response
}

fn get_all_stores(scheduler: &Scheduler, _request: GetAllStoresRequest) -> GetAllStoresResponse {
    let stores = scheduler.get_all_stores();
    let mut response = GetAllStoresResponse::new();
    response.header = Some(ok_header(scheduler)).into();
    response.stores = stores.iter().map(|info| info.store.clone()).collect();
    response.summaries = stores.iter().map(store_summary).collect();
    response
}

fn store_heartbeat(
    scheduler: &Scheduler,
    request: StoreHeartbeatRequest,
) -> StoreHeartbeatResponse {
    let outcome = scheduler.store_heartbeat(request.stats.unwrap_or_default());
    let mut response = StoreHeartbeatResponse::new();
    response.header = Some(header(scheduler, &outcome)).into();
    response
}

fn region_heartbeat(
    scheduler: &Scheduler,
    request: RegionHeartbeatRequest,
) -> RegionHeartbeatResponse {
    let region_id = request.region().id;
    let epoch = request.region().region_epoch().clone();
    let outcome = scheduler.region_heartbeat(request);
    let header = header(scheduler, &outcome);
    let mut response = match outcome {
        Ok(Some(step)) => step,
        // No operator step: an answer all the same, so the store's
        // request and this answer stay paired on the stream.
        Ok(None) | Err(_) => {
            let mut empty = RegionHeartbeatResponse::new();
            empty.region_id = region_id;
            empty.region_epoch = Some(epoch).into();
            empty
        }
    };
    response.header = Some(header).into();
    response
}

fn region_response(
    scheduler: &Scheduler,
    found: Option<(Region, Option<Peer>)>,
) -> GetRegionResponse {
    let mut response = GetRegionResponse::new();
    response.header = Some(ok_header(scheduler)).into();
    if let Some((region, leader)) = found {
        response.region = Some(region).into();
        response.leader = leader.into();
    }
    response
}

fn get_region(scheduler: &Scheduler, request: GetRegionRequest) -> GetRegionResponse {
    region_response(scheduler, scheduler.get_region(&request.region_key))
}

fn get_region_by_id(scheduler: &Scheduler, request: GetRegionByIdRequest) -> GetRegionResponse {
    region_response(scheduler, scheduler.get_region_by_id(request.region_id))
}

fn ask_split(scheduler: &Scheduler, request: AskSplitRequest) -> AskSplitResponse {
    let outcome = scheduler.ask_split(request.region());
    let mut response = AskSplitResponse::new();
    response.header = Some(header(scheduler, &outcome)).into();
    if let Ok((new_region_id, new_peer_ids)) = outcome {
        response.new_region_id = new_region_id;
        response.new_peer_ids = new_peer_ids;
    }
    response
}

fn report_split(scheduler: &Scheduler, request: ReportSplitRequest) -> ReportSplitResponse {
    let outcome = scheduler.report_split(
        request.left.unwrap_or_default(),
        request.right.unwrap_or_default(),
    );
    let mut response = ReportSplitResponse::new();
    response.header = Some(header(scheduler, &outcome)).into();
    response
}

fn scan_regions(scheduler: &Scheduler, request: ScanRegionsRequest) -> ScanRegionsResponse {
    let limit = usize::try_from(request.limit).unwrap_or(usize::MAX);
    let found = scheduler.scan_regions(&request.start_key, &request.end_key, limit);
    let mut response = ScanRegionsResponse::new();
    response.header = Some(ok_header(scheduler)).into();
    for (region, leader) in found {
        response.regions.push(region);
        response.leaders.push(leader.unwrap_or_default());
    }
    response
}

fn add_operator(scheduler: &Scheduler, request: AddOperatorRequest) -> AddOperatorResponse {
    // An operator type this build does not know decodes as an unknown
    // enum value: refused as an invalid argument, not a guess.
    let kind = match request.type_.enum_value() {
        Ok(OperatorType::ADD_PEER) => Ok(OperatorKind::AddPeer),
        Ok(OperatorType::REMOVE_PEER) => Ok(OperatorKind::RemovePeer),
        Ok(OperatorType::TRANSFER_LEADER) => Ok(OperatorKind::TransferLeader),
        Err(value) => Err(scheduler::Error::InvalidOperator(format!(
            "unknown operator type {value}"
        ))),
    };
    let outcome = kind.and_then(|kind| {
        scheduler.create_manual_operator(request.region_id, kind, request.store_id)
    });
    let mut response = AddOperatorResponse::new();
    response.header = Some(header(scheduler, &outcome)).into();
    response
}
