//! The errors of the raft crate.
//!
//! [`Error`] is what every fallible raft call returns; [`StorageError`] is
//! what a [`Storage`](crate::Storage) implementation reports, wrapped as
//! [`Error::Store`]. Both implement `PartialEq` so tests can
//! `assert_eq!(result, Err(Error::ProposalDropped))`.

use thiserror::Error as ThisError;

/// Everything that can go wrong in a raft call.
#[derive(ThisError, Debug)]
pub enum Error {
    /// The storage under the raft log failed; see the wrapped [`StorageError`].
    #[error("storage error: {0}")]
    Store(#[from] StorageError),
    /// A local-only message (MsgHup, MsgBeat, ...) was passed to
    /// [`RawNode::step`](crate::RawNode::step), which only takes messages
    /// from the network.
    #[error("raft: cannot step a local message through RawNode::step")]
    StepLocalMsg,
    /// A response arrived from a peer that is not in the configuration.
    #[error("raft: cannot step a response from a peer that is not in the configuration")]
    StepPeerNotFound,
    /// A proposal was refused: there is no leader, a leader transfer is in
    /// progress, or this node was removed from the group. The caller should
    /// retry later (possibly on another node).
    #[error("raft: proposal dropped")]
    ProposalDropped,
    /// The [`Config`](crate::Config) failed validation; the string says why.
    #[error("invalid raft config: {0}")]
    ConfigInvalid(String),
    /// A membership change could not be applied; the string says why.
    #[error("conf change error: {0}")]
    ConfChangeError(String),
    /// A protocol buffer could not be encoded or decoded.
    #[error("protobuf codec error: {0}")]
    CodecError(#[from] protobuf::Error),
    /// The node being added is already a member.
    #[error("node {id} already exists in the configuration")]
    Exists {
        /// The id of the node.
        id: u64,
    },
    /// The node being removed is not a member.
    #[error("node {id} does not exist in the configuration")]
    NotExists {
        /// The id of the node.
        id: u64,
    },
}

impl PartialEq for Error {
    fn eq(&self, other: &Error) -> bool {
        match (self, other) {
            (Error::Store(a), Error::Store(b)) => a == b,
            (Error::StepLocalMsg, Error::StepLocalMsg)
            | (Error::StepPeerNotFound, Error::StepPeerNotFound)
            | (Error::ProposalDropped, Error::ProposalDropped) => true,
            (Error::ConfigInvalid(a), Error::ConfigInvalid(b))
            | (Error::ConfChangeError(a), Error::ConfChangeError(b)) => a == b,
            // protobuf::Error has no PartialEq; its message is what tests care about.
            (Error::CodecError(a), Error::CodecError(b)) => a.to_string() == b.to_string(),
            (Error::Exists { id: a }, Error::Exists { id: b })
            | (Error::NotExists { id: a }, Error::NotExists { id: b }) => a == b,
            _ => false,
        }
    }
}

/// What a [`Storage`](crate::Storage) implementation can report.
#[derive(ThisError, Debug)]
pub enum StorageError {
    /// The requested index is older than the first index kept: those entries
    /// were compacted into a snapshot.
    #[error("log compacted: the requested index is before the first index kept")]
    Compacted,
    /// The requested index is beyond the last index in the log.
    #[error("log unavailable: the requested index is beyond the last index")]
    Unavailable,
    /// The snapshot being applied or created is older than the one already held.
    #[error("snapshot out of date: it is older than the one already held")]
    SnapshotOutOfDate,
    /// A snapshot is being generated and is not ready yet. Raft does not treat
    /// this as a failure: the leader sends nothing and asks again later.
    #[error("snapshot temporarily unavailable: it is being generated")]
    SnapshotTemporarilyUnavailable,
    /// Any other storage failure (an I/O error, a corrupted record, ...).
    #[error("storage failure: {0}")]
    Other(#[from] Box<dyn std::error::Error + Send + Sync>),
}

impl PartialEq for StorageError {
    fn eq(&self, other: &StorageError) -> bool {
        match (self, other) {
            (StorageError::Compacted, StorageError::Compacted)
            | (StorageError::Unavailable, StorageError::Unavailable)
            | (StorageError::SnapshotOutOfDate, StorageError::SnapshotOutOfDate)
            | (
                StorageError::SnapshotTemporarilyUnavailable,
                StorageError::SnapshotTemporarilyUnavailable,
            ) => true,
            // A boxed error has no PartialEq; two failures are equal when they say the same.
            (StorageError::Other(a), StorageError::Other(b)) => a.to_string() == b.to_string(),
            _ => false,
        }
    }
}

/// The result type of every fallible raft call.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Errors compare by variant and payload, boxed ones by their message.
    #[test]
    fn test_error_equality() {
        assert_eq!(
            Error::Store(StorageError::Compacted),
            Error::Store(StorageError::Compacted)
        );
        assert_ne!(
            Error::Store(StorageError::Compacted),
            Error::Store(StorageError::Unavailable)
        );
        assert_eq!(Error::NotExists { id: 3 }, Error::NotExists { id: 3 });
        assert_ne!(Error::NotExists { id: 3 }, Error::Exists { id: 3 });
        let other = |s: &str| StorageError::Other(s.to_string().into());
        assert_eq!(other("disk full"), other("disk full"));
        assert_ne!(other("disk full"), other("bad checksum"));
    }
}
