//! The storage layer's error type.
//!
//! Every function of this crate that can fail returns [`Result`]. The
//! variants separate what a caller reacts to differently: a RocksDB failure
//! (retry or give up), a bad column family name (the caller's bug or a bad
//! request: report it), a corrupt value on disk (a protobuf, or an MVCC
//! record of the transaction layer), and region errors that
//! `RaftStorage` (in `server`) passes up to the client.

use proto::errorpb;

/// Errors from the storage layer and from [`crate::Storage`] implementations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// RocksDB itself failed (I/O error, corruption detected by RocksDB, ...).
    #[error("rocksdb: {0}")]
    RocksDb(#[from] rocksdb::Error),

    /// The column family does not exist. Valid names are in [`crate::ALL_CFS`].
    #[error("unknown column family {0:?} (expected one of default, lock, write)")]
    UnknownColumnFamily(String),

    /// A stored protobuf value could not be decoded: the data on disk is
    /// corrupt or was written by an incompatible version.
    #[error("corrupt value for key {key:?}: {source}")]
    Corrupt {
        /// The key whose value failed to decode.
        key: Vec<u8>,
        /// The decoder's error.
        source: protobuf::Error,
    },

    /// A protobuf message could not be encoded (practically: too large).
    #[error("encode: {0}")]
    Encode(protobuf::Error),

    /// A file-system operation outside RocksDB failed (directories, SST files).
    #[error("io: {0}")]
    Io(#[from] std::io::Error),

    /// The request cannot be served by this peer or region (NotLeader,
    /// EpochNotMatch, KeyNotInRegion, ...). Raised by `RaftStorage`; the
    /// server puts it in the response's `region_error`.
    #[error("region error: {}", .0.message)]
    Region(Box<errorpb::Error>),

    /// The request did not finish in time; its outcome is unknown (a write
    /// may or may not have been applied).
    #[error("timed out: {0}")]
    Timeout(String),

    /// The request was malformed (for example an empty key).
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    /// The store is shutting down or the component is closed.
    #[error("closed: {0}")]
    Closed(String),

    /// An MVCC key or record read from the lock, write or default column
    /// family is malformed, or the write and default column families
    /// disagree (see [`crate::mvcc::Error`]).
    #[error(transparent)]
    Mvcc(#[from] crate::mvcc::Error),
}

/// The storage layer's result type.
pub type Result<T> = std::result::Result<T, Error>;
