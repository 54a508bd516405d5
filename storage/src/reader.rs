//! [`StorageReader`] and [`KvIterator`]: the read side of [`crate::Storage`].
//!
//! A reader is a point-in-time view: everything read through one reader
//! (gets and iterators alike) comes from the same moment. Keys here are user
//! keys: any encoding the implementation uses on disk (raftstore's `z`
//! prefix, a region's bounds) is hidden behind the trait.

use crate::errors::Result;
use crate::iterator::CfIterator;

/// A consistent, read-only view of a [`crate::Storage`].
pub trait StorageReader: Send {
    /// The value of `key` in column family `cf`, or `None`.
    fn get_cf(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// An iterator over column family `cf`. Call `seek` before reading.
    fn iter_cf(&self, cf: &str) -> Result<Box<dyn KvIterator + '_>>;
}

/// A cursor over the pairs of one column family, in key order. Works like
/// RocksDB's iterator: `seek`, then while `valid()` read `key()`/`value()`
/// and call `next()`.
pub trait KvIterator {
    /// Positions at the first key `>= key`.
    fn seek(&mut self, key: &[u8]);
    /// Whether the cursor points at a pair; errors met while iterating show up here.
    fn valid(&self) -> Result<bool>;
    /// The current user key (only when valid).
    fn key(&self) -> &[u8];
    /// The current value (only when valid).
    fn value(&self) -> &[u8];
    /// Moves to the next pair.
    fn next(&mut self);
}

impl KvIterator for CfIterator<'_> {
    fn seek(&mut self, key: &[u8]) {
        CfIterator::seek(self, key)
    }

    fn valid(&self) -> Result<bool> {
        CfIterator::valid(self)
    }

    fn key(&self) -> &[u8] {
        CfIterator::key(self)
    }

    fn value(&self) -> &[u8] {
        CfIterator::value(self)
    }

    fn next(&mut self) {
        CfIterator::next(self)
    }
}
