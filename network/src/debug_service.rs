//! [`DebugService`]: a store's `Debug` gRPC service
//! (`proto/proto/debugpb.proto`), the admin and debug calls of `tinykv
//! ctl` and of the end-to-end tests.
//!
//! Runs on the store process's tokio runtime, served on the store's port
//! next to `TinyKv` (see [`crate::StoreServices`]); whatever blocks (an
//! engine scan, waiting for raft or the region worker) runs on tokio's
//! blocking pool. In and out, per method:
//!
//! | method | in | handled by | out |
//! |---|---|---|---|
//! | `RegionDigest` | region id | one kv engine snapshot: `RegionLocalState`, `RaftApplyState`, every CF's pairs in the region's range | applied and truncated index, a hash of the data, key count |
//! | `CompactLog` | region id | `Router::compact_log_now` (the leader proposes CompactLog up to its applied index) | what was proposed |
//! | `SplitRegion` | region id, split key | `AskSplit` to the scheduler for ids, then a Split admin command through the `Router`, answered at apply | the two regions |
//! | `ExportSnapshot` | region id | `Router::request_snapshot` has the region worker write a fresh snapshot as SST files and a meta (`SST_FILES`) into a staging directory; `ChunkStream` reads them back | the snapshot's chunks: head (MsgSnapshot whose meta describes the SST files), then the files' bytes |
//!
//! Bad input never panics and never stops the service: an unknown region,
//! a follower asked for a leader's job, a split key outside the region get
//! a typed `debugpb::Error` in the response (for `ExportSnapshot`, which
//! streams, a `not_found` / `failed_precondition` status), and the store
//! keeps serving.

use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use log::{info, warn};
use proto::debugpb::{
    CompactLogRequest, CompactLogResponse, Error as DebugError, ErrorType as DebugErrorType,
    ExportSnapshotRequest, RegionDigestRequest, RegionDigestResponse, SplitRegionRequest,
    SplitRegionResponse,
};
use proto::eraftpb::MessageType;
use proto::metapb::{Peer, Region};
use proto::raft_cmdpb::{AdminCmdType, AdminRequest, RaftCmdRequest};
use proto::raft_serverpb::{
    PeerState, RaftApplyState, RaftMessage, RaftSnapshotData, RegionLocalState, SnapshotChunk,
};
use protobuf::Message as _;
use raftstore::snap_manager::{SnapKey, SnapKind, SnapManager};
use raftstore::snap_runner::ChunkStream;
use raftstore::{Callback, RaftCommand, Router, StoreMeta};
use storage::{keys, Engine, ALL_CFS};
use tonic::body::Body;
use tonic::codegen::{http, BoxStream, Service};
use tonic::Status;

use crate::method_handler::{blocking, server_streaming, unary, unimplemented, MethodFuture};
use crate::scheduler_grpc_client::SchedulerGrpcClient;

/// The method paths of this service start with this.
pub const DEBUG_SERVICE_PREFIX: &str = "/debugpb.Debug/";

/// How many chunks of an exported snapshot may wait for the client.
const EXPORT_CHUNK_QUEUE: usize = 4;

/// The `Debug` service of one store (cheap to clone: tonic clones it per
/// connection).
#[derive(Clone)]
pub struct DebugService {
    inner: Arc<Inner>,
}

/// What the service needs of its store.
pub struct DebugServiceParts {
    /// The store's id (for logs and the `from_peer` of exported snapshots).
    pub store_id: u64,
    /// Reaches the store's peers.
    pub router: Router,
    /// The published status of the store's peers (leader, applied index).
    pub store_meta: Arc<StoreMeta>,
    /// The store's kv engine (digests read one snapshot of it).
    pub kv: Engine,
    /// The scheduler (ids for a split).
    pub scheduler: SchedulerGrpcClient,
    /// How long a proposed command may take to apply.
    pub command_timeout: Duration,
    /// How long generating a snapshot may take.
    pub snapshot_timeout: Duration,
    /// Where exported snapshots are staged while they stream, one
    /// directory each, removed after the stream (and wiped at start).
    pub export_root: PathBuf,
    /// The size of a snapshot chunk (snap_runner's).
    pub chunk_size: usize,
    /// The largest gRPC message, in bytes.
    pub max_message_size: usize,
}

struct Inner {
    parts: DebugServiceParts,
    /// Names staging directories uniquely within this process.
    next_export: AtomicU64,
}

impl DebugService {
    /// The service over `parts`. Staging directories left by an earlier
    /// run (a crash mid-export) are removed now.
    pub fn new(parts: DebugServiceParts) -> DebugService {
        match std::fs::remove_dir_all(&parts.export_root) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => warn!(
                "store {}: cannot clear {}: {error}",
                parts.store_id,
                parts.export_root.display()
            ),
        }
        DebugService {
            inner: Arc::new(Inner {
                parts,
                next_export: AtomicU64::new(0),
            }),
        }
    }

    /// A unary method whose handler blocks: decode, run `handler` on the
    /// blocking pool, encode.
    fn handle<Req, Resp>(
        &self,
        request: http::Request<Body>,
        handler: fn(&DebugServiceParts, Req) -> Resp,
    ) -> MethodFuture
    where
        Req: protobuf::Message,
        Resp: protobuf::Message,
    {
        let inner = Arc::clone(&self.inner);
        unary(
            request,
            self.inner.parts.max_message_size,
            move |request: Req| blocking(move || handler(&inner.parts, request)),
        )
    }
}

impl Service<http::Request<Body>> for DebugService {
    type Response = http::Response<Body>;
    type Error = std::convert::Infallible;
    type Future = MethodFuture;

    fn poll_ready(&mut self, _context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> MethodFuture {
        let max = self.inner.parts.max_message_size;
        match request.uri().path() {
            "/debugpb.Debug/RegionDigest" => self.handle(request, region_digest),
            "/debugpb.Debug/CompactLog" => self.handle(request, compact_log),
            "/debugpb.Debug/SplitRegion" => {
                let inner = Arc::clone(&self.inner);
                unary(
                    request,
                    max,
                    move |request: SplitRegionRequest| async move {
                        Ok(split_region(&inner.parts, request).await)
                    },
                )
            }
            "/debugpb.Debug/ExportSnapshot" => {
                let inner = Arc::clone(&self.inner);
                server_streaming(request, max, move |request: ExportSnapshotRequest| {
                    export_snapshot(inner, request)
                })
            }
            path => unimplemented(path),
        }
    }
}

fn debug_error(error_type: DebugErrorType, message: String) -> DebugError {
    let mut error = DebugError::new();
    error.set_type(error_type);
    error.message = message;
    error
}

fn region_not_found(store_id: u64, region_id: u64) -> DebugError {
    debug_error(
        DebugErrorType::REGION_NOT_FOUND,
        format!("store {store_id} has no peer of region {region_id}"),
    )
}

/// The peer this store's peer of `region_id` believes leads it, if any.
fn believed_leader(parts: &DebugServiceParts, region_id: u64) -> Option<Peer> {
    let status = parts.store_meta.get(region_id)?;
    status
        .region
        .peers
        .iter()
        .find(|peer| peer.id == status.leader_id)
        .cloned()
}

fn not_leader(parts: &DebugServiceParts, region_id: u64) -> DebugError {
    let mut error = debug_error(
        DebugErrorType::NOT_LEADER,
        format!(
            "store {}'s peer of region {region_id} is not its leader",
            parts.store_id
        ),
    );
    error.leader = believed_leader(parts, region_id).into();
    error
}

/// The `RegionDigest` method (see the module docs).
fn region_digest(parts: &DebugServiceParts, request: RegionDigestRequest) -> RegionDigestResponse {
    let mut response = RegionDigestResponse::new();
    match digest_of(parts, request.region_id, &mut response) {
        Ok(()) => {}
        Err(error) => response.error = Some(error).into(),
    }
    response
}

fn digest_of(
    parts: &DebugServiceParts,
    region_id: u64,
    response: &mut RegionDigestResponse,
) -> Result<(), DebugError> {
    let store_id = parts.store_id;
    let engine_failed =
        |error: storage::Error| debug_error(DebugErrorType::UNKNOWN, format!("engine: {error}"));
    // One snapshot: the apply state and the data it describes come from the
    // same instant (they are written in one batch at apply).
    let snapshot = parts.kv.snapshot();
    let local: Option<RegionLocalState> = snapshot
        .get_msg(&keys::region_state_key(region_id))
        .map_err(engine_failed)?;
    let local = match local {
        Some(local) if local.state() == PeerState::Normal => local,
        Some(local) if local.state() == PeerState::Applying => {
            return Err(debug_error(
                DebugErrorType::BUSY,
                format!("store {store_id}: region {region_id} is applying a snapshot"),
            ))
        }
        _ => return Err(region_not_found(store_id, region_id)),
    };
    let apply: RaftApplyState = snapshot
        .get_msg(&keys::apply_state_key(region_id))
        .map_err(engine_failed)?
        .ok_or_else(|| {
            debug_error(
                DebugErrorType::UNKNOWN,
                format!("store {store_id}: region {region_id} has no apply state"),
            )
        })?;
    let region = local.region();
    let start = keys::data_key(&region.start_key);
    let end = keys::data_end_key(&region.end_key);
    // SipHash with fixed keys: deterministic for one build, which is what
    // comparing the replicas of one cluster needs.
    let mut hasher = std::hash::DefaultHasher::new();
    let mut key_count = 0u64;
    for cf in ALL_CFS {
        hasher.write(cf.as_bytes());
        hasher.write_u8(0);
        snapshot
            .scan_cf(cf, &start, &end, |key, value| {
                hasher.write_u64(key.len() as u64);
                hasher.write(key);
                hasher.write_u64(value.len() as u64);
                hasher.write(value);
                key_count += 1;
                Ok(true)
            })
            .map_err(engine_failed)?;
    }
    response.region = Some(region.clone()).into();
    response.applied_index = apply.applied_index;
    response.truncated_index = apply.truncated_state().index;
    response.digest = hasher.finish();
    response.key_count = key_count;
    response.is_leader = parts
        .store_meta
        .get(region_id)
        .is_some_and(|status| status.is_leader);
    Ok(())
}

/// The `CompactLog` method (see the module docs).
fn compact_log(parts: &DebugServiceParts, request: CompactLogRequest) -> CompactLogResponse {
    let region_id = request.region_id;
    let mut response = CompactLogResponse::new();
    let error = match parts.store_meta.get(region_id) {
        None => Some(region_not_found(parts.store_id, region_id)),
        Some(status) if !status.is_leader => Some(not_leader(parts, region_id)),
        Some(_) => match parts
            .router
            .compact_log_now(region_id, parts.command_timeout)
        {
            Ok(message) => {
                info!("store {}: [region {region_id}] {message}", parts.store_id);
                response.message = message;
                None
            }
            Err(message) => Some(debug_error(DebugErrorType::UNKNOWN, message)),
        },
    };
    response.error = error.into();
    response
}

/// Whether `key` may start the right half of `region`: strictly inside it.
fn splits(region: &Region, key: &[u8]) -> bool {
    !key.is_empty()
        && key > region.start_key.as_slice()
        && (region.end_key.is_empty() || key < region.end_key.as_slice())
}

/// The `SplitRegion` method (see the module docs).
async fn split_region(
    parts: &DebugServiceParts,
    request: SplitRegionRequest,
) -> SplitRegionResponse {
    let mut response = SplitRegionResponse::new();
    match split(parts, request).await {
        Ok((left, right)) => {
            response.left = Some(left).into();
            response.right = Some(right).into();
        }
        Err(error) => response.error = Some(error).into(),
    }
    response
}

async fn split(
    parts: &DebugServiceParts,
    request: SplitRegionRequest,
) -> Result<(Region, Region), DebugError> {
    let store_id = parts.store_id;
    let region_id = request.region_id;
    let status = parts
        .store_meta
        .get(region_id)
        .ok_or_else(|| region_not_found(store_id, region_id))?;
    if !status.is_leader {
        return Err(not_leader(parts, region_id));
    }
    let region = status.region;
    if !splits(&region, &request.split_key) {
        return Err(debug_error(
            DebugErrorType::INVALID_ARGUMENT,
            format!(
                "split key {:?} is not strictly inside region {region_id} [{:?}, {:?})",
                String::from_utf8_lossy(&request.split_key),
                String::from_utf8_lossy(&region.start_key),
                String::from_utf8_lossy(&region.end_key)
            ),
        ));
    }
    let (new_region_id, new_peer_ids) = parts
        .scheduler
        .ask_split(&region)
        .await
        .map_err(|error| debug_error(DebugErrorType::UNKNOWN, format!("ask_split: {error}")))?;
    let mut command = RaftCmdRequest::new();
    command.mut_header().region_id = region_id;
    let mut peer = Peer::new();
    peer.id = status.peer_id;
    peer.store_id = store_id;
    command.mut_header().peer = Some(peer).into();
    command.mut_header().region_epoch = Some(region.region_epoch().clone()).into();
    let mut admin = AdminRequest::new();
    admin.set_cmd_type(AdminCmdType::Split);
    let split = admin.mut_split();
    split.split_key = request.split_key.clone();
    split.new_region_id = new_region_id;
    split.new_peer_ids = new_peer_ids;
    command.admin_request = Some(admin).into();
    let (callback, receiver) = Callback::new();
    parts
        .router
        .send_command(RaftCommand {
            request: command,
            callback,
        })
        .map_err(|error| debug_error(DebugErrorType::UNKNOWN, error.to_string()))?;
    let timeout = parts.command_timeout;
    let answer = blocking(move || receiver.wait(timeout))
        .await
        .map_err(|status| debug_error(DebugErrorType::UNKNOWN, status.message().to_string()))?
        .ok_or_else(|| {
            debug_error(
                DebugErrorType::TIMEOUT,
                format!("region {region_id}: the split got no answer within {timeout:?}"),
            )
        })?;
    let header = answer.response.header();
    if let Some(error) = header.error.as_ref() {
        let error_type = if error.not_leader.is_some() {
            DebugErrorType::NOT_LEADER
        } else if error.region_not_found.is_some() {
            DebugErrorType::REGION_NOT_FOUND
        } else if error.key_not_in_region.is_some() {
            DebugErrorType::INVALID_ARGUMENT
        } else {
            DebugErrorType::UNKNOWN
        };
        let mut refused = debug_error(error_type, error.message.clone());
        if let Some(not_leader) = error.not_leader.as_ref() {
            refused.leader = not_leader.leader.clone();
        }
        return Err(refused);
    }
    let regions = &answer.response.admin_response().split().regions;
    match regions.as_slice() {
        [left, right] => {
            info!(
                "store {store_id}: [region {region_id}] split at {:?} into regions {} and {}",
                String::from_utf8_lossy(&request.split_key),
                left.id,
                right.id
            );
            Ok((left.clone(), right.clone()))
        }
        other => Err(debug_error(
            DebugErrorType::UNKNOWN,
            format!("the split answered with {} regions, not 2", other.len()),
        )),
    }
}

/// A staging directory, removed when the export is over (streamed,
/// failed, or the client went away).
struct StagingDir(PathBuf);

impl Drop for StagingDir {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_dir_all(&self.0) {
            if error.kind() != std::io::ErrorKind::NotFound {
                warn!("cannot remove {}: {error}", self.0.display());
            }
        }
    }
}

/// The key of the one snapshot exported to `dir` (`gen_{region}_{term}_{index}.meta`).
fn exported_key(dir: &Path) -> Result<SnapKey, Status> {
    let entries = std::fs::read_dir(dir)
        .map_err(|error| Status::internal(format!("{}: {error}", dir.display())))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name
            .strip_prefix("gen_")
            .and_then(|rest| rest.strip_suffix(".meta"))
        else {
            continue;
        };
        let numbers: Vec<u64> = stem
            .split('_')
            .filter_map(|part| part.parse().ok())
            .collect();
        if let [region_id, term, index] = numbers[..] {
            return Ok(SnapKey {
                region_id,
                term,
                index,
            });
        }
    }
    Err(Status::internal(format!(
        "no snapshot meta file in {}",
        dir.display()
    )))
}

/// The `ExportSnapshot` method (see the module docs): generate, stage,
/// then stream the staged files from the blocking pool.
async fn export_snapshot(
    inner: Arc<Inner>,
    request: ExportSnapshotRequest,
) -> Result<BoxStream<SnapshotChunk>, Status> {
    let parts = &inner.parts;
    let store_id = parts.store_id;
    let region_id = request.region_id;
    let status = parts.store_meta.get(region_id).ok_or_else(|| {
        Status::not_found(format!(
            "store {store_id} has no peer of region {region_id}"
        ))
    })?;
    let number = inner.next_export.fetch_add(1, Ordering::Relaxed);
    let staging = StagingDir(
        parts
            .export_root
            .join(format!("region-{region_id}-{number}")),
    );
    let router = parts.router.clone();
    let timeout = parts.snapshot_timeout;
    let export_dir = staging.0.clone();
    let exported = blocking(move || router.request_snapshot(region_id, Some(export_dir), timeout))
        .await?
        .map_err(Status::failed_precondition)?;
    info!("store {store_id}: [region {region_id}] {exported}");
    let key = exported_key(&staging.0)?;
    let staged = SnapManager::new(&staging.0, Duration::MAX, u64::MAX)
        .map_err(|error| Status::internal(error.to_string()))?;
    let meta = staged
        .read_meta(SnapKind::Generated, key)
        .map_err(|error| Status::internal(error.to_string()))?;
    let mut data = RaftSnapshotData::new();
    // The region as the peer knows it now; its range is the snapshot's
    // unless a split applied between the generation and this line.
    data.region = Some(status.region.clone()).into();
    data.file_size = meta.cf_files.iter().map(|file| file.size).sum();
    data.meta = Some(meta).into();
    let mut head = RaftMessage::new();
    head.region_id = region_id;
    let mut from_peer = Peer::new();
    from_peer.id = status.peer_id;
    from_peer.store_id = store_id;
    head.from_peer = Some(from_peer).into();
    head.region_epoch = Some(status.region.region_epoch().clone()).into();
    let message = head.message.mut_or_insert_default();
    message.set_msg_type(MessageType::MsgSnapshot);
    message.from = status.peer_id;
    let snapshot = message.snapshot.mut_or_insert_default();
    snapshot.data = data
        .write_to_bytes()
        .map_err(|error| Status::internal(error.to_string()))?
        .into();
    snapshot.mut_metadata().index = key.index;
    snapshot.mut_metadata().term = key.term;
    let chunks = ChunkStream::new(&staged, head, key, parts.chunk_size)
        .map_err(|error| Status::internal(error.to_string()))?;
    let (sender, receiver) = tokio::sync::mpsc::channel(EXPORT_CHUNK_QUEUE);
    tokio::task::spawn_blocking(move || {
        // The staging directory lives as long as its files are read.
        let _staging = staging;
        for chunk in chunks {
            let failed = chunk.is_err();
            let item = chunk.map_err(|error| Status::internal(error.to_string()));
            // A send error: the client went away; stop reading.
            if sender.blocking_send(item).is_err() || failed {
                return;
            }
        }
    });
    Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(
        receiver,
    )))
}
