//! The network layer's error type.

use std::time::Duration;

use proto::schedulerpb::ErrorType;

/// Why a call over the network (or the start of a node) failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The address does not parse as `host:port`, or nothing answered there.
    #[error("cannot connect to {address}: {reason}")]
    Connect {
        /// The address tried.
        address: String,
        /// What failed.
        reason: String,
    },
    /// The call failed on the wire or the peer refused it (unavailable,
    /// invalid argument, cancelled, ...). Boxed: a `Status` is large, and
    /// every `Result` of this crate would carry its size.
    #[error("grpc: {0}")]
    Status(Box<tonic::Status>),
    /// The call got no answer within its deadline; its outcome is unknown.
    #[error("{what}: no answer within {after:?}")]
    Timeout {
        /// The call.
        what: String,
        /// The deadline it had.
        after: Duration,
    },
    /// The scheduler answered with an error in its response header.
    #[error("scheduler refused ({error_type:?}): {message}")]
    Scheduler {
        /// The typed kind (not bootstrapped, region not found, ...).
        error_type: ErrorType,
        /// The scheduler's message.
        message: String,
    },
    /// A store's debug service refused the call (no peer of the region,
    /// not its leader, a bad split key, ...).
    #[error("store refused ({error_type:?}): {message}")]
    Debug {
        /// The typed kind.
        error_type: proto::debugpb::ErrorType,
        /// The store's message.
        message: String,
        /// For `NOT_LEADER`: the leader the store believes in, if any.
        leader: Option<proto::metapb::Peer>,
    },
    /// A long-lived stream ended or broke (the peer restarted, the
    /// connection dropped); the next call opens a new one.
    #[error("stream closed: {0}")]
    StreamClosed(String),
    /// A response lacks a field it must carry (a peer speaking another
    /// version of the protocol).
    #[error("invalid response: {0}")]
    InvalidResponse(String),
    /// The store's engines or raftstore failed while starting or stopping.
    #[error("store: {0}")]
    Store(#[from] raftstore::Error),
    /// The storage engine failed (opening a data directory).
    #[error("storage: {0}")]
    Storage(#[from] storage::Error),
    /// The in-process scheduler failed (opening its directory).
    #[error("scheduler: {0}")]
    LocalScheduler(#[from] scheduler::Error),
    /// A socket or file operation failed (binding the listen address).
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl From<tonic::Status> for Error {
    fn from(status: tonic::Status) -> Error {
        Error::Status(Box::new(status))
    }
}

/// The network layer's result type.
pub type Result<T> = std::result::Result<T, Error>;
