//! [`Transport`]: how a store sends raft messages and snapshots to other
//! stores.
//!
//! raftstore only calls the trait; who implements it decides what "the
//! network" is. The test cluster's implementation (`tests/src/cluster`)
//! delivers in-process through a simulated network that can drop, delay,
//! reorder and partition; `network::GrpcTransport` sends over gRPC between
//! store processes (one raft stream per peer store, snapshots as a stream
//! of the same chunks).
//!
//! Raft messages are small and go through [`Transport::send`]. Snapshots
//! can be large: snap_runner streams them as [`SnapshotChunk`]s over
//! [`Transport::send_snapshot`], which returns only when the receiving
//! store has taken the whole stream (or failed).

use std::time::Duration;

use proto::raft_serverpb::{RaftMessage, SnapshotChunk};

use crate::errors::Result;

/// Sends messages to other stores. Implementations must be cheap to call
/// from the raft worker: `send` must not block on the network.
pub trait Transport: Send + Sync {
    /// Queues a raft message for the store of `message.to_peer`. An error
    /// means it was not sent; raft copes with lost messages by retrying.
    fn send(&self, message: RaftMessage) -> Result<()>;

    /// Streams one snapshot to `to_store_id`: the first chunk carries the
    /// RaftMessage with the snapshot metadata, the others the file bytes in
    /// order. Returns once the receiver has accepted the whole stream, or an
    /// error (lost, cut, receiver refused, or `timeout` expired).
    fn send_snapshot(
        &self,
        to_store_id: u64,
        chunks: &mut dyn Iterator<Item = Result<SnapshotChunk>>,
        timeout: Duration,
    ) -> Result<()>;
}
