//! The messages that flow between raftstore's threads, and the
//! [`Callback`] that carries a command's result back to its caller.
//!
//! | message | sent by | received by | channel |
//! |---|---|---|---|
//! | [`PeerMsg`] | router (transport, clients, workers) | raft_worker | the raft worker's mailbox |
//! | [`StoreMsg`] | router, ticker | store_worker | the store worker's mailbox |
//! | [`CmdResponse`] | raft_worker (at apply, or on rejection) | the proposer | a one-shot channel inside [`Callback`]: crossbeam for a thread that waits ([`CallbackReceiver`]), tokio's for a task that awaits ([`AsyncCallbackReceiver`]) |
//! | `SplitCheckTask` | raft_worker (split-check tick) | split_check | the split checker's mailbox |

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use proto::raft_cmdpb::{RaftCmdRequest, RaftCmdResponse};
use proto::raft_serverpb::RaftMessage;

use crate::errors::Error;
use crate::peer::Peer;
use crate::region_snapshot::RegionSnapshot;

/// The result of one command: the response, and for a Snap request the
/// consistent view of the region it asked for.
#[derive(Debug)]
pub struct CmdResponse {
    /// The response; on failure its header carries an `errorpb::Error`.
    pub response: RaftCmdResponse,
    /// For a Snap request that succeeded: the region's data as of the
    /// moment the request was applied.
    pub snapshot: Option<RegionSnapshot>,
}

impl CmdResponse {
    /// A response carrying only the region error for `error`.
    pub fn from_error(error: &Error, current_term: u64) -> CmdResponse {
        let mut response = RaftCmdResponse::new();
        response.mut_header().error = Some(error.to_region_error()).into();
        response.mut_header().current_term = current_term;
        CmdResponse {
            response,
            snapshot: None,
        }
    }
}

/// Where a command's result goes: the sending half of a one-shot channel.
/// Every callback is answered exactly once (`done` consumes it); if the
/// caller has given up and dropped the receiver, the answer is discarded.
#[derive(Debug)]
pub struct Callback {
    sender: CallbackSender,
}

/// The two kinds of caller: a thread that blocks until the answer comes
/// (the labs, the in-process cluster) and an async task that must not park
/// a thread per command (the gRPC service: thousands in flight).
#[derive(Debug)]
enum CallbackSender {
    Blocking(Sender<CmdResponse>),
    Async(tokio::sync::oneshot::Sender<CmdResponse>),
}

/// The caller's half of a [`Callback`], for a thread that waits.
#[derive(Debug)]
pub struct CallbackReceiver {
    receiver: Receiver<CmdResponse>,
}

/// The caller's half of a [`Callback`], for an async task: a future of the
/// answer, `None` if the store dropped the callback unanswered (it
/// stopped). It has no timeout of its own: the caller's runtime adds one.
#[derive(Debug)]
pub struct AsyncCallbackReceiver {
    receiver: tokio::sync::oneshot::Receiver<CmdResponse>,
}

impl Callback {
    /// A new callback and the receiver its answer will arrive on.
    pub fn new() -> (Callback, CallbackReceiver) {
        // Capacity 1: the answer never blocks the raft worker.
        let (sender, receiver) = crossbeam_channel::bounded(1);
        let sender = CallbackSender::Blocking(sender);
        (Callback { sender }, CallbackReceiver { receiver })
    }

    /// A new callback whose answer is awaited rather than waited for.
    pub fn new_async() -> (Callback, AsyncCallbackReceiver) {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let sender = CallbackSender::Async(sender);
        (Callback { sender }, AsyncCallbackReceiver { receiver })
    }

    /// Answers the command.
    pub fn done(self, response: CmdResponse) {
        // An error only means the caller stopped waiting (timed out). Neither
        // send blocks the raft worker; the async one wakes the awaiting task.
        match self.sender {
            CallbackSender::Blocking(sender) => {
                let _ = sender.send(response);
            }
            CallbackSender::Async(sender) => {
                let _ = sender.send(response);
            }
        }
    }

    /// Answers the command with an error.
    pub fn fail(self, error: &Error, current_term: u64) {
        self.done(CmdResponse::from_error(error, current_term));
    }
}

impl CallbackReceiver {
    /// Waits up to `timeout` for the answer. `None` means no answer in time
    /// (or the store stopped): the command's outcome is unknown.
    pub fn wait(&self, timeout: Duration) -> Option<CmdResponse> {
        match self.receiver.recv_timeout(timeout) {
            Ok(response) => Some(response),
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => None,
        }
    }
}

impl Future for AsyncCallbackReceiver {
    type Output = Option<CmdResponse>;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<CmdResponse>> {
        Pin::new(&mut self.receiver)
            .poll(context)
            .map(|answer| answer.ok())
    }
}

/// A command proposed to a region, with the callback for its answer.
#[derive(Debug)]
pub struct RaftCommand {
    /// The request (header: region id, peer, epoch).
    pub request: RaftCmdRequest,
    /// Where the answer goes.
    pub callback: Callback,
}

/// A message for one peer, handled on the raft worker thread.
pub enum PeerMsg {
    /// A raft message from another store's peer.
    RaftMessage(Box<RaftMessage>),
    /// A client command to propose.
    RaftCommand(RaftCommand),
    /// A new peer for the raft worker to own, sent by the store worker when
    /// it creates one (and at startup). Always the first message for its region.
    Create(Box<Peer>),
    /// The outcome of sending a snapshot to `to_peer_id`, from snap_runner.
    SnapshotStatus {
        /// The raft id of the peer the snapshot was for.
        to_peer_id: u64,
        /// Whether it arrived.
        status: raft::SnapshotStatus,
    },
    /// The region worker finished generating a snapshot: the leader should
    /// retry the appends that needed it now instead of at the next heartbeat.
    SnapshotGenerated,
    /// The region worker finished (or failed) applying a snapshot.
    SnapshotApplied {
        /// True when the data is in place and the peer may serve again.
        success: bool,
    },
    /// split_check measured the region: its approximate size in bytes.
    ApproximateSize {
        /// Bytes of keys and values in every column family.
        size: u64,
    },
    /// split_check found the region too big: propose a Split at
    /// `split_key` with the scheduler's ids, if the region is still at
    /// `region_epoch` (otherwise the key may no longer be inside it).
    ProposeSplit {
        /// The epoch the split key was found at.
        region_epoch: proto::metapb::RegionEpoch,
        /// The first key of the new region.
        split_key: Vec<u8>,
        /// The new region's id and peer ids.
        ids: crate::scheduler_client::SplitIds,
    },
    /// Compact the log now, up to the applied index, whatever the GC
    /// limits say (the playground's `compact`): a follower that is behind
    /// must then catch up by snapshot.
    CompactLogNow {
        /// Receives a one-line description of what was proposed.
        reply: Sender<std::result::Result<String, String>>,
    },
    /// Generate a snapshot of this region now (dragonboat's RequestSnapshot),
    /// optionally exporting its files to a directory.
    RequestSnapshot {
        /// Where to copy the snapshot files, if anywhere.
        export_dir: Option<std::path::PathBuf>,
        /// Receives a one-line description of what happened.
        reply: Sender<std::result::Result<String, String>>,
    },
}

impl std::fmt::Debug for PeerMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerMsg::RaftMessage(message) => write!(
                f,
                "RaftMessage({:?} from {})",
                message.message.msg_type(),
                message.message.from
            ),
            PeerMsg::RaftCommand(_) => write!(f, "RaftCommand"),
            PeerMsg::Create(_) => write!(f, "Create"),
            PeerMsg::SnapshotStatus { to_peer_id, status } => {
                write!(f, "SnapshotStatus({to_peer_id}, {status:?})")
            }
            PeerMsg::SnapshotGenerated => write!(f, "SnapshotGenerated"),
            PeerMsg::SnapshotApplied { success } => write!(f, "SnapshotApplied({success})"),
            PeerMsg::RequestSnapshot { .. } => write!(f, "RequestSnapshot"),
            PeerMsg::ApproximateSize { size } => write!(f, "ApproximateSize({size})"),
            PeerMsg::CompactLogNow { .. } => write!(f, "CompactLogNow"),
            PeerMsg::ProposeSplit { split_key, .. } => write!(f, "ProposeSplit({split_key:?})"),
        }
    }
}

/// A message for the store as a whole, handled on the store worker thread.
#[derive(Debug)]
pub enum StoreMsg {
    /// A raft message for a region this store has no peer of (yet).
    RaftMessage(Box<RaftMessage>),
    /// A peer was destroyed; forget its region.
    PeerDestroyed {
        /// The region whose peer is gone.
        region_id: u64,
    },
}
