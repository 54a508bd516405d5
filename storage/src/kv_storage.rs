//! The [`Storage`] trait: what the request handlers in `server` need from a
//! key-value store, whichever one it is.
//!
//! Two implementations exist:
//! * [`crate::StandaloneStorage`] (lab 1): one RocksDB instance, writes go
//!   straight to it.
//! * `server::RaftStorage` (lab 2B): every write is proposed to the region's
//!   raft group and acknowledged after it is applied on a quorum; a reader
//!   is a snapshot of the region taken through raft, so it is linearizable.
//!
//! The handlers are written once against this trait, so they run unchanged
//! on a single store and on a replicated cluster.

use proto::kvrpcpb::Context;

use crate::errors::Result;
use crate::reader::StorageReader;

/// One change to apply: the unit of [`Storage::write`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modify {
    /// Set `key` to `value` in column family `cf`.
    Put {
        /// Column family name.
        cf: String,
        /// User key.
        key: Vec<u8>,
        /// New value.
        value: Vec<u8>,
    },
    /// Remove `key` from column family `cf` (no error if absent).
    Delete {
        /// Column family name.
        cf: String,
        /// User key.
        key: Vec<u8>,
    },
}

impl Modify {
    /// The column family the change applies to.
    pub fn cf(&self) -> &str {
        match self {
            Modify::Put { cf, .. } | Modify::Delete { cf, .. } => cf,
        }
    }

    /// The user key the change applies to.
    pub fn key(&self) -> &[u8] {
        match self {
            Modify::Put { key, .. } | Modify::Delete { key, .. } => key,
        }
    }
}

/// A key-value store the request handlers can run on.
pub trait Storage: Send + Sync {
    /// Applies every change in `batch` atomically (all or nothing) and
    /// durably before returning.
    fn write(&self, context: &Context, batch: Vec<Modify>) -> Result<()>;

    /// Returns a consistent point-in-time reader: it sees every write that
    /// completed before the call and none that started after it returned.
    fn reader(&self, context: &Context) -> Result<Box<dyn StorageReader>>;
}
