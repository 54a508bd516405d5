//! [`StandaloneStorage`] (lab 1): a [`Storage`] on one RocksDB instance, no
//! replication.
//!
//! Writes go straight to the kv engine in one synced write batch; readers
//! are RocksDB snapshots. Keys are stored as given (no `z` prefix: nothing
//! else lives in this database).

use std::path::Path;

use proto::kvrpcpb::Context;

use crate::engine::{Engine, ALL_CFS};
use crate::errors::{Error, Result};
use crate::iterator::IterOptions;
use crate::kv_storage::{Modify, Storage};
use crate::reader::{KvIterator, StorageReader};
use crate::snapshot::EngineSnapshot;
use crate::write_batch::WriteBatch;

/// A single-node key-value store over one RocksDB instance.
#[derive(Clone, Debug)]
pub struct StandaloneStorage {
    engine: Engine,
}

impl StandaloneStorage {
    /// Opens (creating if needed) a store whose database lives in `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<StandaloneStorage> {
        Ok(StandaloneStorage {
            engine: Engine::open_kv(dir)?,
        })
    }

    /// The underlying engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// Rejects a column family name before RocksDB sees it, so the client gets
/// a clear error naming the valid ones.
fn check_cf(cf: &str) -> Result<()> {
    if ALL_CFS.contains(&cf) {
        Ok(())
    } else {
        Err(Error::UnknownColumnFamily(cf.to_string()))
    }
}

impl Storage for StandaloneStorage {
    // lab 1: begin — one synced WriteBatch for the whole batch; a reader over an engine snapshot (docs/labs/lab1.md#standalone-storage)
    fn write(&self, _context: &Context, batch: Vec<Modify>) -> Result<()> {
        let mut write_batch = WriteBatch::new();
        for modify in &batch {
            check_cf(modify.cf())?;
            match modify {
                Modify::Put { cf, key, value } => write_batch.put_cf(cf, key, value),
                Modify::Delete { cf, key } => write_batch.delete_cf(cf, key),
            }
        }
        // Synced: the caller acknowledges the write to a client next.
        self.engine.write(write_batch, true)
    }

    fn reader(&self, _context: &Context) -> Result<Box<dyn StorageReader>> {
        Ok(Box::new(StandaloneReader {
            snapshot: self.engine.snapshot(),
        }))
    }
    // lab 1: end
}

/// A reader over a RocksDB snapshot of the standalone store.
struct StandaloneReader {
    snapshot: EngineSnapshot,
}

impl StorageReader for StandaloneReader {
    // lab 1: begin — check the column family, then read the snapshot (docs/labs/lab1.md#standalone-storage)
    fn get_cf(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        check_cf(cf)?;
        self.snapshot.get_value_cf(cf, key)
    }

    fn iter_cf(&self, cf: &str) -> Result<Box<dyn KvIterator + '_>> {
        check_cf(cf)?;
        Ok(Box::new(
            self.snapshot.iterator_cf(cf, IterOptions::unbounded())?,
        ))
    }
    // lab 1: end
}
