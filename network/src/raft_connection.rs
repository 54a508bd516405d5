//! [`RaftConnection`]: the task that carries one store's raft messages to
//! one peer store over a `Raft` client stream.
//!
//! Started by [`crate::GrpcTransport`] the first time a message goes to
//! that store; runs on the tokio runtime until the transport is dropped.
//! In: messages from a bounded queue that the transport fills from the raft
//! worker (never blocking it). Out: the messages, in order, on one
//! long-lived gRPC stream; tonic's encoder packs every message waiting in
//! the stream into one HTTP/2 write (up to 32 KiB), which is the batching.
//!
//! Its loop: look the peer's address up in the scheduler, connect, open
//! the stream, forward messages until the stream breaks; then mark the
//! store unreachable (the transport drops new messages to it and raft
//! reports it unreachable), drop what is queued, wait a backoff that
//! doubles from 100 ms to 3 s, and start again. Raft resends what was lost.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use log::{debug, info};
use proto::raft_serverpb::{Done, RaftMessage};
use tokio::sync::mpsc::{self, error::TryRecvError};
use tokio_stream::wrappers::ReceiverStream;

use crate::errors::{Error, Result};
use crate::grpc_channel::GrpcChannel;
use crate::scheduler_grpc_client::SchedulerGrpcClient;

/// The first wait after a failed connection.
const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3);
/// Messages that may wait in the gRPC stream itself (the transport's queue
/// is in front of it).
const STREAM_QUEUE: usize = 1024;

/// Why one connection ended.
enum Ended {
    /// The transport was dropped: the task ends.
    TransportGone,
    /// The peer could not be reached or the stream broke: try again.
    Failed(Error),
}

/// The connection task from one store to one peer store (see the module docs).
pub struct RaftConnection {
    /// The sending store (for logs).
    pub store_id: u64,
    /// The peer store.
    pub to_store_id: u64,
    /// Where the peer's address comes from.
    pub scheduler: SchedulerGrpcClient,
    /// What the transport queued for the peer.
    pub queue: mpsc::Receiver<RaftMessage>,
    /// False while the peer cannot be reached: the transport then drops
    /// messages instead of queueing them.
    pub reachable: Arc<AtomicBool>,
    /// The largest message in bytes.
    pub max_message_size: usize,
}

impl RaftConnection {
    /// The task's loop (see the module docs).
    pub async fn run(mut self) {
        let (store_id, to_store_id) = (self.store_id, self.to_store_id);
        let mut backoff = INITIAL_BACKOFF;
        loop {
            let error = match self.connect_and_forward(&mut backoff).await {
                Ended::TransportGone => return,
                Ended::Failed(error) => error,
            };
            self.reachable.store(false, Ordering::Release);
            let mut dropped = 0;
            loop {
                match self.queue.try_recv() {
                    Ok(_) => dropped += 1,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
            debug!(
                "store {store_id}: connection to store {to_store_id} failed: {error}; \
                 {dropped} queued messages dropped; retrying in {backoff:?}"
            );
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn connect(&self) -> Result<GrpcChannel> {
        let store = self.scheduler.get_store(self.to_store_id).await?;
        let address = store.store.address;
        if address.is_empty() {
            return Err(Error::InvalidResponse(format!(
                "store {} has no address",
                self.to_store_id
            )));
        }
        GrpcChannel::connect(&address, self.max_message_size).await
    }

    /// One connection: connect, then forward queued messages to the stream
    /// until it breaks or the transport is dropped.
    async fn connect_and_forward(&mut self, backoff: &mut Duration) -> Ended {
        let (store_id, to_store_id) = (self.store_id, self.to_store_id);
        let channel = match self.connect().await {
            Ok(channel) => channel,
            Err(error) => return Ended::Failed(error),
        };
        info!(
            "store {store_id}: connected to store {to_store_id} at {}",
            channel.address()
        );
        self.reachable.store(true, Ordering::Release);
        *backoff = INITIAL_BACKOFF;
        let (stream_sender, stream_receiver) = mpsc::channel(STREAM_QUEUE);
        let call = channel.client_streaming::<RaftMessage, Done, _>(
            "/tinykvpb.TinyKv/Raft",
            ReceiverStream::new(stream_receiver),
        );
        tokio::pin!(call);
        loop {
            tokio::select! {
                // The peer ended the call: it restarted, refused a frame, or
                // the connection broke.
                outcome = &mut call => {
                    return Ended::Failed(match outcome {
                        Ok(_) => Error::StreamClosed("the peer closed the raft stream".to_string()),
                        Err(error) => error,
                    });
                }
                message = self.queue.recv() => {
                    let Some(message) = message else {
                        // Transport dropped: close our side so the peer
                        // sees a clean end, then stop.
                        drop(stream_sender);
                        let _ = tokio::time::timeout(Duration::from_secs(1), call).await;
                        return Ended::TransportGone;
                    };
                    // Never waits: a stream too slow to take its queue's
                    // worth of messages loses the newest, as a congested
                    // network would.
                    if let Err(error) = stream_sender.try_send(message) {
                        debug!(
                            "store {store_id}: stream to store {to_store_id} is full; \
                             a message is dropped ({error})"
                        );
                    }
                }
            }
        }
    }
}
