//! [`CfIterator`]: a bounded iterator over one column family, and
//! [`IterOptions`], its bounds.
//!
//! The iterator works like RocksDB's (and TinyKV's `DBIterator`): `seek` to a
//! key, then while `valid()` read `key()` / `value()` and call `next()`.
//! Bounds are enforced by RocksDB itself (`iterate_lower_bound` /
//! `iterate_upper_bound`), so a region's iterator can never wander into the
//! next region's keys, and RocksDB skips reading the SST blocks outside.

use rocksdb::{DBRawIteratorWithThreadMode, ReadOptions, DB};

use crate::errors::Result;

/// The key range an iterator may visit: `[lower, upper)`; `None` = unbounded.
#[derive(Debug, Clone, Default)]
pub struct IterOptions {
    /// Inclusive lower bound.
    pub lower_bound: Option<Vec<u8>>,
    /// Exclusive upper bound.
    pub upper_bound: Option<Vec<u8>>,
}

impl IterOptions {
    /// No bounds: the whole column family.
    pub fn unbounded() -> IterOptions {
        IterOptions::default()
    }

    /// `[start, end)`, where an empty `end` means no upper bound.
    pub fn range(start: &[u8], end: &[u8]) -> IterOptions {
        IterOptions {
            lower_bound: Some(start.to_vec()),
            upper_bound: if end.is_empty() {
                None
            } else {
                Some(end.to_vec())
            },
        }
    }

    pub(crate) fn into_read_options(self) -> ReadOptions {
        let mut options = ReadOptions::default();
        if let Some(lower) = self.lower_bound {
            options.set_iterate_lower_bound(lower);
        }
        if let Some(upper) = self.upper_bound {
            options.set_iterate_upper_bound(upper);
        }
        options
    }
}

/// An iterator over one column family, borrowed from an
/// [`crate::Engine`] or an [`crate::EngineSnapshot`].
pub struct CfIterator<'a> {
    raw: DBRawIteratorWithThreadMode<'a, DB>,
}

impl<'a> CfIterator<'a> {
    pub(crate) fn new(raw: DBRawIteratorWithThreadMode<'a, DB>) -> CfIterator<'a> {
        CfIterator { raw }
    }

    /// Positions at the first key `>= key` (clamped to the lower bound).
    pub fn seek(&mut self, key: &[u8]) {
        self.raw.seek(key);
    }

    /// Positions at the first key within the bounds.
    pub fn seek_to_first(&mut self) {
        self.raw.seek_to_first();
    }

    /// Whether the iterator points at a pair. An I/O or corruption error met
    /// while iterating is returned here rather than ending the iteration
    /// silently.
    pub fn valid(&self) -> Result<bool> {
        if self.raw.valid() {
            return Ok(true);
        }
        self.raw.status()?;
        Ok(false)
    }

    /// The current key. Only call when `valid()` returned `Ok(true)`.
    pub fn key(&self) -> &[u8] {
        self.raw.key().unwrap_or_default()
    }

    /// The current value. Only call when `valid()` returned `Ok(true)`.
    pub fn value(&self) -> &[u8] {
        self.raw.value().unwrap_or_default()
    }

    /// Moves to the next pair.
    pub fn next(&mut self) {
        self.raw.next();
    }

    /// Seeks to `start` and calls `visit(key, value)` for every pair from
    /// there on (within the bounds) until `visit` returns `false`.
    pub fn visit_from(
        &mut self,
        start: &[u8],
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<bool>,
    ) -> Result<()> {
        self.seek(start);
        while self.valid()? {
            if !visit(self.key(), self.value())? {
                break;
            }
            self.next();
        }
        Ok(())
    }
}
