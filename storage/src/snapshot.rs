//! [`EngineSnapshot`]: a consistent, point-in-time, read-only view of an
//! [`crate::Engine`] that can be sent to another thread.
//!
//! RocksDB keeps every version a snapshot can see until the snapshot is
//! dropped, so reads through it ignore all later writes. tinykv-rs uses this
//! for multi-key reads (a scan sees one moment, not a mix) and for raft
//! snapshot generation (the region worker reads the region at exactly the
//! applied index, while the raft worker keeps applying).
//!
//! RocksDB's snapshot type borrows the database. An `EngineSnapshot` must
//! outlive the borrow (it travels in a callback to a client thread), so it
//! owns an `Arc` of the database *and* the snapshot that borrows from it; the
//! `self_cell` crate builds that self-referential pair safely.

use std::sync::Arc;

use rocksdb::DB;

use crate::engine::{decode_msg, CF_DEFAULT};
use crate::errors::{Error, Result};
use crate::iterator::{CfIterator, IterOptions};

type RocksSnapshot<'a> = rocksdb::SnapshotWithThreadMode<'a, DB>;

self_cell::self_cell!(
    struct OwnedSnapshot {
        owner: Arc<DB>,
        #[covariant]
        dependent: RocksSnapshot,
    }
);

/// A point-in-time view of an engine. Cheap to clone (an `Arc`); sendable
/// across threads.
#[derive(Clone)]
pub struct EngineSnapshot {
    inner: Arc<OwnedSnapshot>,
}

impl std::fmt::Debug for EngineSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineSnapshot").finish_non_exhaustive()
    }
}

impl EngineSnapshot {
    pub(crate) fn new(db: Arc<DB>) -> EngineSnapshot {
        EngineSnapshot {
            inner: Arc::new(OwnedSnapshot::new(db, |db| db.snapshot())),
        }
    }

    fn cf_handle(&self, cf: &str) -> Result<&rocksdb::ColumnFamily> {
        self.inner
            .borrow_owner()
            .cf_handle(cf)
            .ok_or_else(|| Error::UnknownColumnFamily(cf.to_string()))
    }

    /// Reads `key` in `cf` as of the snapshot.
    pub fn get_value_cf(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let handle = self.cf_handle(cf)?;
        Ok(self.inner.borrow_dependent().get_cf(handle, key)?)
    }

    /// Reads `key` in the default column family as of the snapshot.
    pub fn get_value(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_value_cf(CF_DEFAULT, key)
    }

    /// Reads and decodes a protobuf message at `key` (default CF).
    pub fn get_msg<M: protobuf::Message>(&self, key: &[u8]) -> Result<Option<M>> {
        match self.get_value(key)? {
            None => Ok(None),
            Some(bytes) => decode_msg(key, &bytes).map(Some),
        }
    }

    /// Iterates over `cf` within `options`' bounds, as of the snapshot.
    pub fn iterator_cf(&self, cf: &str, options: IterOptions) -> Result<CfIterator<'_>> {
        let handle = self.cf_handle(cf)?;
        let raw = self
            .inner
            .borrow_dependent()
            .raw_iterator_cf_opt(handle, options.into_read_options());
        Ok(CfIterator::new(raw))
    }

    /// Calls `visit(key, value)` for every pair of `cf` in `[start, end)`
    /// (empty `end` = unbounded) until it returns `false`.
    pub fn scan_cf(
        &self,
        cf: &str,
        start: &[u8],
        end: &[u8],
        visit: impl FnMut(&[u8], &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let mut iterator = self.iterator_cf(cf, IterOptions::range(start, end))?;
        iterator.visit_from(start, visit)
    }
}
