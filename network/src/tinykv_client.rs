//! [`TinyKvClient`]: calls the `TinyKv` service of one store.
//!
//! Runs on the tokio runtime. In: requests as built by the caller (with or
//! without a region in their context: a store routes a context without one
//! by key). Out: the store's response, region errors inside it for the
//! caller to act on (try the leader the `NotLeader` names, refresh the
//! region), or a transport error. It does no routing or retrying itself:
//! that is the job of the client above it (tools, tests, the later
//! transactional client).

use std::time::Duration;

use proto::kvrpcpb::{
    RawDeleteRequest, RawDeleteResponse, RawGetRequest, RawGetResponse, RawPutRequest,
    RawPutResponse, RawScanRequest, RawScanResponse,
};

use crate::errors::Result;
use crate::grpc_channel::GrpcChannel;

/// How long one request may take: a raft command waits for a quorum and
/// its apply (the store gives up after its own command timeout, 10 s).
pub const STORE_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// A client of one store's `TinyKv` service (cheap to clone).
#[derive(Clone, Debug)]
pub struct TinyKvClient {
    channel: GrpcChannel,
    timeout: Duration,
}

impl TinyKvClient {
    /// A client of the store at `address`, connected at the first call.
    /// Must be called on the runtime.
    pub fn new(address: &str, max_message_size: usize) -> Result<TinyKvClient> {
        Ok(TinyKvClient {
            channel: GrpcChannel::lazy(address, max_message_size)?,
            timeout: STORE_REQUEST_TIMEOUT,
        })
    }

    /// The same client with another per-request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> TinyKvClient {
        self.timeout = timeout;
        self
    }

    /// The store's address.
    pub fn address(&self) -> &str {
        self.channel.address()
    }

    /// Calls any unary method of the service by its path, e.g.
    /// `"/tinykvpb.TinyKv/KvPrewrite"` (the transactional commands).
    pub async fn call<Req, Resp>(&self, path: &'static str, request: Req) -> Result<Resp>
    where
        Req: protobuf::Message,
        Resp: protobuf::Message,
    {
        self.channel.unary(path, request, self.timeout).await
    }

    /// RawGet.
    pub async fn raw_get(&self, request: RawGetRequest) -> Result<RawGetResponse> {
        self.call("/tinykvpb.TinyKv/RawGet", request).await
    }

    /// RawPut.
    pub async fn raw_put(&self, request: RawPutRequest) -> Result<RawPutResponse> {
        self.call("/tinykvpb.TinyKv/RawPut", request).await
    }

    /// RawDelete.
    pub async fn raw_delete(&self, request: RawDeleteRequest) -> Result<RawDeleteResponse> {
        self.call("/tinykvpb.TinyKv/RawDelete", request).await
    }

    /// RawScan.
    pub async fn raw_scan(&self, request: RawScanRequest) -> Result<RawScanResponse> {
        self.call("/tinykvpb.TinyKv/RawScan", request).await
    }
}
