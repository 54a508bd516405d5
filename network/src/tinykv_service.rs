//! [`TinyKvService`]: the `TinyKv` gRPC service of one store
//! (`proto/proto/tinykvpb.proto`).
//!
//! Runs on the store process's tokio runtime; blocking work goes to tokio's
//! blocking pool. RawPut and RawDelete (the write hot path) await raft on
//! the runtime instead: a write in flight holds no thread, where a
//! blocking-pool thread per request cost a thread hop and context switches
//! each, and hundreds of threads under load. In and out, per method:
//!
//! | method | in | handled by | out |
//! |---|---|---|---|
//! | `RawPut`, `RawDelete` | one request | `Server::raw_put_async` / `raw_delete_async`, awaited on the runtime | the handler's response; region errors inside it, for the client to retry |
//! | other `Raw*`, `Kv*` | one request | `server::Server`'s handler on the blocking pool (it waits for raft) | the same |
//! | `Raft` | a long-lived stream of `RaftMessage`s from one peer store | `Router::send_raft_message` for each (never blocks) | `Done` when the sender closes the stream |
//! | `Snapshot` | one snapshot: head chunk, then file bytes | `SnapshotReceiver::receive` on the blocking pool, fed chunk by chunk through a small channel | `Done` once the files are verified and the MsgSnapshot is delivered; an error status otherwise |
//!
//! Bad input never panics and never stops the service: a frame that does
//! not decode ends its own call with `invalid_argument` (the codec), a
//! message for another store is dropped with a warning, a request for an
//! unknown region gets `RegionNotFound` in its `region_error` (the
//! handlers), a snapshot stream that stops early or runs past the transfer
//! timeout is refused and its files deleted (the receiver).

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use log::{debug, info, warn};
use proto::kvrpcpb::{RawDeleteRequest, RawPutRequest};
use proto::raft_serverpb::{Done, RaftMessage, SnapshotChunk};
use raftstore::snap_runner::SnapshotReceiver;
use raftstore::Router;
use server::Server;
use tonic::body::Body;
use tonic::codegen::{http, Service};
use tonic::{Status, Streaming};

use crate::method_handler::{blocking, client_streaming, unary, unimplemented, MethodFuture};

/// How many snapshot chunks may wait between the network and the
/// receiver's file writes: enough to keep both busy, little memory (chunks
/// are 1 MiB).
const SNAPSHOT_CHUNK_QUEUE: usize = 4;

/// The `TinyKv` service of one store (cheap to clone: tonic clones it per
/// connection).
#[derive(Clone)]
pub struct TinyKvService {
    inner: Arc<Inner>,
}

struct Inner {
    store_id: u64,
    server: Server,
    router: Router,
    snapshot_receiver: SnapshotReceiver,
    snapshot_timeout: Duration,
    max_message_size: usize,
}

impl TinyKvService {
    /// The service of store `store_id`: requests go to `server`, raft
    /// messages to `router`, snapshot streams to `snapshot_receiver`, which
    /// must accept a whole stream within `snapshot_timeout`.
    pub fn new(
        store_id: u64,
        server: Server,
        router: Router,
        snapshot_receiver: SnapshotReceiver,
        snapshot_timeout: Duration,
        max_message_size: usize,
    ) -> TinyKvService {
        TinyKvService {
            inner: Arc::new(Inner {
                store_id,
                server,
                router,
                snapshot_receiver,
                snapshot_timeout,
                max_message_size,
            }),
        }
    }

    /// A request-handler method: decode, run `handler` on the blocking
    /// pool, encode its response.
    fn handle<Req, Resp>(
        &self,
        request: http::Request<Body>,
        handler: fn(&Server, &Req) -> Resp,
    ) -> MethodFuture
    where
        Req: protobuf::Message,
        Resp: protobuf::Message,
    {
        let inner = Arc::clone(&self.inner);
        unary(request, self.inner.max_message_size, move |request: Req| {
            blocking(move || handler(&inner.server, &request))
        })
    }
}

impl Service<http::Request<Body>> for TinyKvService {
    type Response = http::Response<Body>;
    type Error = std::convert::Infallible;
    type Future = MethodFuture;

    fn poll_ready(&mut self, _context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> MethodFuture {
        let max = self.inner.max_message_size;
        match request.uri().path() {
            "/tinykvpb.TinyKv/RawGet" => self.handle(request, Server::raw_get),
            "/tinykvpb.TinyKv/RawPut" => {
                let inner = Arc::clone(&self.inner);
                unary(request, max, move |request: RawPutRequest| async move {
                    Ok(inner.server.raw_put_async(request).await)
                })
            }
            "/tinykvpb.TinyKv/RawDelete" => {
                let inner = Arc::clone(&self.inner);
                unary(request, max, move |request: RawDeleteRequest| async move {
                    Ok(inner.server.raw_delete_async(request).await)
                })
            }
            "/tinykvpb.TinyKv/RawScan" => self.handle(request, Server::raw_scan),
            "/tinykvpb.TinyKv/KvGet" => self.handle(request, Server::kv_get),
            "/tinykvpb.TinyKv/KvScan" => self.handle(request, Server::kv_scan),
            "/tinykvpb.TinyKv/KvPrewrite" => self.handle(request, Server::kv_prewrite),
            "/tinykvpb.TinyKv/KvCommit" => self.handle(request, Server::kv_commit),
            "/tinykvpb.TinyKv/KvCheckTxnStatus" => {
                self.handle(request, Server::kv_check_txn_status)
            }
            "/tinykvpb.TinyKv/KvBatchRollback" => self.handle(request, Server::kv_batch_rollback),
            "/tinykvpb.TinyKv/KvResolveLock" => self.handle(request, Server::kv_resolve_lock),
            "/tinykvpb.TinyKv/Raft" => {
                let inner = Arc::clone(&self.inner);
                client_streaming(request, max, move |stream| receive_raft(inner, stream))
            }
            "/tinykvpb.TinyKv/Snapshot" => {
                let inner = Arc::clone(&self.inner);
                client_streaming(request, max, move |stream| receive_snapshot(inner, stream))
            }
            path => unimplemented(path),
        }
    }
}

/// The `Raft` method: every message of the stream goes to the router. The
/// stream lives as long as the sending store's connection.
async fn receive_raft(
    inner: Arc<Inner>,
    mut stream: Streaming<RaftMessage>,
) -> Result<Done, Status> {
    let store_id = inner.store_id;
    loop {
        let message = match stream.message().await {
            Ok(Some(message)) => message,
            Ok(None) => return Ok(Done::new()),
            Err(status) => {
                // A garbage frame, or the sender went away mid-frame: this
                // stream ends; the sender reconnects, raft resends.
                info!("store {store_id}: raft stream ended: {status}");
                return Err(status);
            }
        };
        let to_store = message.to_peer().store_id;
        if to_store != store_id {
            warn!(
                "store {store_id}: [region {}] raft message for store {to_store} dropped: \
                 the sender's address book is stale",
                message.region_id
            );
            continue;
        }
        let region_id = message.region_id;
        // Never blocks (an unbounded crossbeam channel).
        match inner.router.send_raft_message(message) {
            Ok(()) => {}
            // The raftstore stopped. End the stream, so the sender
            // reconnects and finds the store's next incarnation (its
            // connection may outlive this service: hyper runs each
            // connection as a task of its own).
            Err(raftstore::Error::Closed(what)) => {
                info!("store {store_id}: raft stream closed: {what} is closed");
                return Err(Status::unavailable(format!(
                    "store {store_id} is shutting down"
                )));
            }
            Err(error) => {
                debug!("store {store_id}: [region {region_id}] raft message not delivered: {error}")
            }
        }
    }
}

/// The `Snapshot` method: the chunks go, in order, to the store's
/// `SnapshotReceiver`, which runs on the blocking pool (it writes and syncs
/// files). A stream that fails or overruns the deadline is cut short: the
/// receiver sees fewer bytes than the meta promises and refuses it.
async fn receive_snapshot(
    inner: Arc<Inner>,
    mut stream: Streaming<SnapshotChunk>,
) -> Result<Done, Status> {
    let store_id = inner.store_id;
    let deadline = tokio::time::Instant::now() + inner.snapshot_timeout;
    let (chunk_sender, mut chunk_receiver) =
        tokio::sync::mpsc::channel::<SnapshotChunk>(SNAPSHOT_CHUNK_QUEUE);
    let receiver = inner.snapshot_receiver.clone();
    let receiving = tokio::task::spawn_blocking(move || {
        let mut chunks = std::iter::from_fn(|| chunk_receiver.blocking_recv());
        receiver.receive(&mut chunks)
    });
    let mut cut_short: Option<Status> = None;
    loop {
        match tokio::time::timeout_at(deadline, stream.message()).await {
            Ok(Ok(Some(chunk))) => {
                // A send error means the receiver already refused the stream
                // (its verdict comes below).
                if chunk_sender.send(chunk).await.is_err() {
                    break;
                }
            }
            Ok(Ok(None)) => break,
            Ok(Err(status)) => {
                cut_short = Some(status);
                break;
            }
            Err(_elapsed) => {
                cut_short = Some(Status::deadline_exceeded(format!(
                    "snapshot stream not finished within {:?}",
                    inner.snapshot_timeout
                )));
                break;
            }
        }
    }
    // Closing the channel ends the receiver's iterator.
    drop(chunk_sender);
    let received = receiving
        .await
        .map_err(|error| Status::internal(format!("snapshot receiver failed: {error}")))?;
    match (received, cut_short) {
        (Ok(()), None) => Ok(Done::new()),
        // Every byte arrived and verified before the stream broke: the
        // snapshot is whole, and the MsgSnapshot was delivered.
        (Ok(()), Some(status)) => {
            debug!("store {store_id}: snapshot stream broke after its last byte: {status}");
            Ok(Done::new())
        }
        (Err(error), Some(status)) => {
            info!("store {store_id}: snapshot stream cut short ({status}); refused: {error}");
            Err(status)
        }
        (Err(error), None) => {
            info!("store {store_id}: snapshot refused: {error}");
            Err(Status::invalid_argument(format!(
                "snapshot refused: {error}"
            )))
        }
    }
}
