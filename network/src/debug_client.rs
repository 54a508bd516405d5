//! [`DebugClient`]: calls the `Debug` service of one store (its admin and
//! debug calls; see [`crate::DebugService`]).
//!
//! Runs on the tokio runtime. In: a region id (and a split key). Out: the
//! store's response, with a refusal (`REGION_NOT_FOUND`, `NOT_LEADER` with
//! the believed leader, ...) turned into [`Error::Debug`], or a transport
//! error. It does no routing: `tinykv ctl` picks the store (the region's
//! leader for compaction and splits, any replica for digests and exports).

use std::time::Duration;

use proto::debugpb::{
    CompactLogRequest, CompactLogResponse, ErrorType as DebugErrorType, ExportSnapshotRequest,
    RegionDigestRequest, RegionDigestResponse, SplitRegionRequest, SplitRegionResponse,
};
use proto::metapb::Region;
use proto::raft_serverpb::SnapshotChunk;
use tonic::Streaming;

use crate::errors::{Error, Result};
use crate::grpc_channel::GrpcChannel;

/// A client of one store's `Debug` service (cheap to clone).
#[derive(Clone, Debug)]
pub struct DebugClient {
    channel: GrpcChannel,
    timeout: Duration,
}

/// Turns the error a response carries into [`Error::Debug`].
fn check(error: Option<&proto::debugpb::Error>) -> Result<()> {
    match error {
        Some(error) if error.type_() != DebugErrorType::OK => Err(Error::Debug {
            error_type: error.type_(),
            message: error.message.clone(),
            leader: error.leader.clone().into_option(),
        }),
        _ => Ok(()),
    }
}

impl DebugClient {
    /// A client of the store at `address`, connected at the first call;
    /// each unary call waits at most `timeout`. Must be called on the
    /// runtime.
    pub fn new(address: &str, max_message_size: usize, timeout: Duration) -> Result<DebugClient> {
        Ok(DebugClient {
            channel: GrpcChannel::lazy(address, max_message_size)?,
            timeout,
        })
    }

    /// The store's address.
    pub fn address(&self) -> &str {
        self.channel.address()
    }

    /// This store's replica of `region_id`: applied index, truncated index
    /// and the digest of its data.
    pub async fn region_digest(&self, region_id: u64) -> Result<RegionDigestResponse> {
        let mut request = RegionDigestRequest::new();
        request.region_id = region_id;
        let response: RegionDigestResponse = self
            .channel
            .unary("/debugpb.Debug/RegionDigest", request, self.timeout)
            .await?;
        check(response.error.as_ref())?;
        Ok(response)
    }

    /// Asks the leader on this store to compact the region's log up to its
    /// applied index; returns what it proposed.
    pub async fn compact_log(&self, region_id: u64) -> Result<String> {
        let mut request = CompactLogRequest::new();
        request.region_id = region_id;
        let response: CompactLogResponse = self
            .channel
            .unary("/debugpb.Debug/CompactLog", request, self.timeout)
            .await?;
        check(response.error.as_ref())?;
        Ok(response.message)
    }

    /// Asks the leader on this store to split the region at `split_key`;
    /// returns (left, right).
    pub async fn split_region(&self, region_id: u64, split_key: &[u8]) -> Result<(Region, Region)> {
        let mut request = SplitRegionRequest::new();
        request.region_id = region_id;
        request.split_key = split_key.to_vec();
        let response: SplitRegionResponse = self
            .channel
            .unary("/debugpb.Debug/SplitRegion", request, self.timeout)
            .await?;
        check(response.error.as_ref())?;
        match (response.left.into_option(), response.right.into_option()) {
            (Some(left), Some(right)) => Ok((left, right)),
            _ => Err(Error::InvalidResponse(format!(
                "SplitRegion {region_id}: the answer lacks a region"
            ))),
        }
    }

    /// A fresh snapshot of the region from this store, as snap_runner's
    /// chunks (head, then file bytes). The stream has no deadline of its
    /// own: the caller bounds it.
    pub async fn export_snapshot(&self, region_id: u64) -> Result<Streaming<SnapshotChunk>> {
        let mut request = ExportSnapshotRequest::new();
        request.region_id = region_id;
        self.channel
            .streaming("/debugpb.Debug/ExportSnapshot", tokio_stream::once(request))
            .await
    }
}
