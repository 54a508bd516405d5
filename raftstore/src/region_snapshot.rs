//! [`RegionSnapshot`]: a consistent read-only view of one region's data,
//! in user keys.
//!
//! It is what a Snap command returns: the raft worker takes it when it
//! applies the command, so it contains every write applied before the
//! command and none after: a linearizable read (reads go through the raft
//! log, see docs/write-path.md). It implements `storage::StorageReader`,
//! so the request handlers read a region exactly like a standalone store.
//!
//! On disk user keys carry the `z` prefix (see `storage::keys`); this type
//! adds it on the way in, strips it on the way out, and never lets an
//! iterator leave the region's `[start_key, end_key)`.

use proto::metapb::Region;
use storage::{keys, CfIterator, EngineSnapshot, IterOptions, KvIterator, StorageReader, ALL_CFS};

use crate::errors::Error;

/// A point-in-time view of one region's data.
#[derive(Clone, Debug)]
pub struct RegionSnapshot {
    snapshot: EngineSnapshot,
    region: Region,
}

impl RegionSnapshot {
    /// Wraps an engine snapshot taken while `region` was the region's state.
    pub fn new(snapshot: EngineSnapshot, region: Region) -> RegionSnapshot {
        RegionSnapshot { snapshot, region }
    }

    /// The region as of the snapshot.
    pub fn region(&self) -> &Region {
        &self.region
    }

    fn check_key(&self, key: &[u8]) -> storage::Result<()> {
        let region = &self.region;
        let in_range = key >= region.start_key.as_slice()
            && (region.end_key.is_empty() || key < region.end_key.as_slice());
        if in_range {
            return Ok(());
        }
        let error = Error::KeyNotInRegion {
            key: key.to_vec(),
            region_id: region.id,
            start_key: region.start_key.clone(),
            end_key: region.end_key.clone(),
        };
        Err(storage::Error::Region(Box::new(error.to_region_error())))
    }
}

fn check_cf(cf: &str) -> storage::Result<()> {
    if ALL_CFS.contains(&cf) {
        Ok(())
    } else {
        Err(storage::Error::UnknownColumnFamily(cf.to_string()))
    }
}

impl StorageReader for RegionSnapshot {
    fn get_cf(&self, cf: &str, key: &[u8]) -> storage::Result<Option<Vec<u8>>> {
        check_cf(cf)?;
        self.check_key(key)?;
        self.snapshot.get_value_cf(cf, &keys::data_key(key))
    }

    fn iter_cf(&self, cf: &str) -> storage::Result<Box<dyn KvIterator + '_>> {
        check_cf(cf)?;
        let lower = keys::data_key(&self.region.start_key);
        let upper = keys::data_end_key(&self.region.end_key);
        let inner = self.snapshot.iterator_cf(
            cf,
            IterOptions {
                lower_bound: Some(lower),
                upper_bound: Some(upper),
            },
        )?;
        Ok(Box::new(RegionIterator { inner }))
    }
}

/// An iterator over one region in user keys.
struct RegionIterator<'a> {
    inner: CfIterator<'a>,
}

impl KvIterator for RegionIterator<'_> {
    fn seek(&mut self, key: &[u8]) {
        // The lower bound clamps seeks before the region to its start.
        self.inner.seek(&keys::data_key(key));
    }

    fn valid(&self) -> storage::Result<bool> {
        self.inner.valid()
    }

    fn key(&self) -> &[u8] {
        // Every key within the bounds is a data key, so the prefix is there.
        keys::origin_key(self.inner.key()).unwrap_or_default()
    }

    fn value(&self) -> &[u8] {
        self.inner.value()
    }

    fn next(&mut self) {
        self.inner.next()
    }
}
