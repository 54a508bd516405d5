//! [`GrpcTransport`]: raftstore's `Transport` over gRPC, for stores in
//! separate processes.
//!
//! Raft messages: one [`RaftConnection`] task per peer store, started on
//! the first message to it, fed through a bounded queue. `send` is called
//! by the raft worker and never blocks: it queues the message, or drops it
//! (with a debug line, and an error so raft marks the peer unreachable)
//! when the peer is unreachable or its queue is full. Raft resends.
//!
//! Snapshots: `send_snapshot` is called by the snap_runner thread, which
//! may block. It streams snap_runner's chunks, unchanged, on a `Snapshot`
//! call of its own and returns once the receiver has accepted them (its
//! `Done`), or fails: peer unreachable, chunk unreadable, receiver refused,
//! or the transfer timeout passed.
//!
//! The peers' addresses come from the scheduler (`GetStore`), looked up at
//! each connection, so a store that restarts on another port is found.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use log::debug;
use proto::raft_serverpb::{Done, RaftMessage, SnapshotChunk};
use raftstore::{Error, Result, Transport};
use tokio::runtime::Handle;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio_stream::wrappers::ReceiverStream;

use crate::grpc_channel::GrpcChannel;
use crate::raft_connection::RaftConnection;
use crate::scheduler_grpc_client::SchedulerGrpcClient;

/// How many raft messages may wait for one peer store's connection.
pub const RAFT_QUEUE_SIZE: usize = 4096;

/// How many snapshot chunks may be in flight to the network (1 MiB each).
const SNAPSHOT_CHUNK_QUEUE: usize = 4;

/// Aborts its task when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One peer store's queue, and whether it is reachable.
struct Peer {
    queue: mpsc::Sender<RaftMessage>,
    reachable: Arc<AtomicBool>,
}

/// The gRPC transport of one store (see the module docs).
pub struct GrpcTransport {
    store_id: u64,
    runtime: Handle,
    scheduler: SchedulerGrpcClient,
    max_message_size: usize,
    peers: Mutex<HashMap<u64, Peer>>,
}

impl GrpcTransport {
    /// The transport of store `store_id`; its tasks run on `runtime`, and
    /// it finds peer stores through `scheduler`.
    pub fn new(
        store_id: u64,
        runtime: Handle,
        scheduler: SchedulerGrpcClient,
        max_message_size: usize,
    ) -> GrpcTransport {
        GrpcTransport {
            store_id,
            runtime,
            scheduler,
            max_message_size,
            peers: Mutex::new(HashMap::new()),
        }
    }

    fn start_connection(&self, to_store_id: u64) -> Peer {
        let (queue, receiver) = mpsc::channel(RAFT_QUEUE_SIZE);
        // Optimistic until the first attempt fails: the first messages
        // wait for the connection instead of being dropped.
        let reachable = Arc::new(AtomicBool::new(true));
        let connection = RaftConnection {
            store_id: self.store_id,
            to_store_id,
            scheduler: self.scheduler.clone(),
            queue: receiver,
            reachable: Arc::clone(&reachable),
            max_message_size: self.max_message_size,
        };
        self.runtime.spawn(connection.run());
        Peer { queue, reachable }
    }

    async fn stream_snapshot(
        &self,
        to_store_id: u64,
        chunks: &mut dyn Iterator<Item = Result<SnapshotChunk>>,
    ) -> Result<()> {
        let transport_error = |error: crate::Error| Error::Transport(error.to_string());
        let store = self
            .scheduler
            .get_store(to_store_id)
            .await
            .map_err(transport_error)?;
        let channel = GrpcChannel::connect(&store.store.address, self.max_message_size)
            .await
            .map_err(transport_error)?;
        let (chunk_sender, chunk_receiver) = mpsc::channel(SNAPSHOT_CHUNK_QUEUE);
        // Aborted when this future is dropped (the transfer timeout) or
        // returns early: the receiver then sees the stream reset, never a
        // stream that ends as if it were complete.
        let mut call = AbortOnDrop(tokio::spawn(async move {
            channel
                .client_streaming::<SnapshotChunk, Done, _>(
                    "/tinykvpb.TinyKv/Snapshot",
                    ReceiverStream::new(chunk_receiver),
                )
                .await
        }));
        for chunk in chunks {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(error) => return Err(error),
            };
            if chunk_sender.send(chunk).await.is_err() {
                // The call ended early: the receiver refused; its answer
                // says why.
                break;
            }
        }
        drop(chunk_sender);
        match (&mut call.0).await {
            Ok(Ok(_done)) => Ok(()),
            Ok(Err(error)) => Err(transport_error(error)),
            Err(join_error) => Err(Error::Transport(format!(
                "snapshot call to store {to_store_id} failed: {join_error}"
            ))),
        }
    }
}

impl Transport for GrpcTransport {
    fn send(&self, message: RaftMessage) -> Result<()> {
        let store_id = self.store_id;
        let to_store_id = message.to_peer().store_id;
        let region_id = message.region_id;
        let mut peers = self.peers.lock().unwrap_or_else(|poisoned| {
            // The map is changed by single inserts and removes: a panic
            // elsewhere cannot have left it half-changed.
            poisoned.into_inner()
        });
        let peer = peers
            .entry(to_store_id)
            .or_insert_with(|| self.start_connection(to_store_id));
        if !peer.reachable.load(Ordering::Acquire) {
            debug!("store {store_id}: [region {region_id}] store {to_store_id} is unreachable; message dropped");
            return Err(Error::Transport(format!(
                "store {to_store_id} is unreachable"
            )));
        }
        match peer.queue.try_send(message) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                debug!("store {store_id}: [region {region_id}] queue to store {to_store_id} is full; message dropped");
                Err(Error::Transport(format!(
                    "queue to store {to_store_id} is full"
                )))
            }
            Err(TrySendError::Closed(_)) => {
                // The connection task is gone (the runtime is shutting
                // down); a later send starts a new one.
                peers.remove(&to_store_id);
                Err(Error::Transport(format!(
                    "connection to store {to_store_id} is closed"
                )))
            }
        }
    }

    fn send_snapshot(
        &self,
        to_store_id: u64,
        chunks: &mut dyn Iterator<Item = Result<SnapshotChunk>>,
        timeout: Duration,
    ) -> Result<()> {
        // snap_runner is a plain thread: block it on the runtime, bounded
        // by the transfer timeout (TiKV #16435: never hang).
        self.runtime.block_on(async {
            tokio::time::timeout(timeout, self.stream_snapshot(to_store_id, chunks))
                .await
                .map_err(|_| {
                    Error::Transport(format!(
                        "snapshot stream to store {to_store_id} not accepted within {timeout:?}"
                    ))
                })?
        })
    }
}
