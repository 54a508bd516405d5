//! [`Engine`]: one RocksDB instance, behind a small API that the rest of
//! tinykv-rs uses instead of RocksDB's.
//!
//! An `Engine` is a cheap-to-clone handle (an `Arc` inside); every thread
//! that needs the database holds a clone. RocksDB is internally
//! synchronized, so no lock is needed around it.
//!
//! Each store has two engines (see [`crate::Engines`]): the **kv** engine with
//! the column families `default`, `lock` and `write` (user data and region
//! metadata), and the **raft** engine (raft log and raft state, `default`
//! only). Keeping the raft log apart lets it be written and synced on its own
//! schedule, and deleted in bulk by log GC without touching user data.
//!
//! Reads come in two flavours: directly on the engine (the latest data), or
//! through an [`EngineSnapshot`] (a consistent point-in-time view that later
//! writes do not change; used for reads that span keys and for generating
//! raft snapshots).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, Options, DB};

use crate::errors::{Error, Result};
use crate::iterator::{CfIterator, IterOptions};
use crate::snapshot::EngineSnapshot;
use crate::write_batch::WriteBatch;

/// The column family for user values (and, in the kv engine, region metadata).
pub const CF_DEFAULT: &str = "default";
/// The column family for transaction locks (Percolator lab).
pub const CF_LOCK: &str = "lock";
/// The column family for transaction commit records (Percolator lab).
pub const CF_WRITE: &str = "write";
/// Every column family of the kv engine, in a fixed order (snapshots write
/// one file per entry of this list).
pub const ALL_CFS: [&str; 3] = [CF_DEFAULT, CF_LOCK, CF_WRITE];

/// A handle to one RocksDB instance. Clone it freely: clones share the database.
#[derive(Clone)]
pub struct Engine {
    db: Arc<DB>,
    path: PathBuf,
    counters: Arc<WriteCounters>,
}

/// Counts of the batches written through one engine (every clone shares
/// them). Benchmarks read them to check how well writes are batched: the
/// raft worker is meant to cover many client writes with one synced write.
#[derive(Debug, Default)]
struct WriteCounters {
    batches: AtomicU64,
    synced_batches: AtomicU64,
}

/// A reading of an engine's write counters (see [`Engine::write_statistics`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WriteStatistics {
    /// Write batches written since the engine was opened.
    pub batches: u64,
    /// Of those, the ones written with `sync` (each waited for the disk).
    pub synced_batches: u64,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("path", &self.path).finish()
    }
}

impl Engine {
    /// Opens (creating if missing) a database at `path` with the given column
    /// families. `default` is always present.
    pub fn open(path: impl AsRef<Path>, column_families: &[&str]) -> Result<Engine> {
        let path = path.as_ref().to_path_buf();
        std::fs::create_dir_all(&path)?;
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        // Small write buffers: a course cluster runs several stores in one
        // process, and each engine's memtables are memory we pay per store.
        options.set_write_buffer_size(8 << 20);
        options.set_max_background_jobs(2);
        let descriptors: Vec<ColumnFamilyDescriptor> = column_families
            .iter()
            .map(|name| ColumnFamilyDescriptor::new(*name, Options::default()))
            .collect();
        let db = DB::open_cf_descriptors(&options, &path, descriptors)?;
        Ok(Engine {
            db: Arc::new(db),
            path,
            counters: Arc::default(),
        })
    }

    /// Opens the kv engine: column families default, lock and write.
    pub fn open_kv(path: impl AsRef<Path>) -> Result<Engine> {
        Engine::open(path, &ALL_CFS)
    }

    /// Opens the raft engine: only the default column family.
    pub fn open_raft(path: impl AsRef<Path>) -> Result<Engine> {
        Engine::open(path, &[CF_DEFAULT])
    }

    /// Where the database lives on disk.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn cf_handle(&self, cf: &str) -> Result<&ColumnFamily> {
        self.db
            .cf_handle(cf)
            .ok_or_else(|| Error::UnknownColumnFamily(cf.to_string()))
    }

    /// Reads the latest value of `key` in `cf`.
    pub fn get_value_cf(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let handle = self.cf_handle(cf)?;
        Ok(self.db.get_cf(handle, key)?)
    }

    /// Reads the latest value of `key` in the default column family.
    pub fn get_value(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_value_cf(CF_DEFAULT, key)
    }

    /// Reads and decodes a protobuf message stored at `key` (default CF).
    /// A value that fails to decode is reported as [`Error::Corrupt`].
    pub fn get_msg<M: protobuf::Message>(&self, key: &[u8]) -> Result<Option<M>> {
        self.get_msg_cf(CF_DEFAULT, key)
    }

    /// Reads and decodes a protobuf message stored at `key` in `cf`.
    pub fn get_msg_cf<M: protobuf::Message>(&self, cf: &str, key: &[u8]) -> Result<Option<M>> {
        match self.get_value_cf(cf, key)? {
            None => Ok(None),
            Some(bytes) => decode_msg(key, &bytes).map(Some),
        }
    }

    /// Writes a batch atomically. With `sync`, the call returns only after
    /// the write-ahead log is on disk: use it whenever something that depends
    /// on the write (a raft message, a client acknowledgement) happens next.
    pub fn write(&self, batch: WriteBatch, sync: bool) -> Result<()> {
        let mut options = rocksdb::WriteOptions::default();
        options.set_sync(sync);
        let inner = batch.into_inner(self)?;
        self.db.write_opt(inner, &options)?;
        // Relaxed: statistics only, nothing is ordered by them.
        self.counters.batches.fetch_add(1, Ordering::Relaxed);
        if sync {
            self.counters.synced_batches.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// How many batches (and synced batches) this engine has written.
    pub fn write_statistics(&self) -> WriteStatistics {
        WriteStatistics {
            batches: self.counters.batches.load(Ordering::Relaxed),
            synced_batches: self.counters.synced_batches.load(Ordering::Relaxed),
        }
    }

    /// Takes a consistent point-in-time view of the whole database.
    pub fn snapshot(&self) -> EngineSnapshot {
        EngineSnapshot::new(Arc::clone(&self.db))
    }

    /// Iterates over `cf` within the bounds of `options`, on the latest data.
    pub fn iterator_cf(&self, cf: &str, options: IterOptions) -> Result<CfIterator<'_>> {
        let handle = self.cf_handle(cf)?;
        let raw = self
            .db
            .raw_iterator_cf_opt(handle, options.into_read_options());
        Ok(CfIterator::new(raw))
    }

    /// Calls `visit(key, value)` for every pair of `cf` in `[start, end)`
    /// (an empty `end` means no upper bound), in key order, until `visit`
    /// returns `false`.
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

    /// Makes every write so far durable: flushes and syncs the write-ahead
    /// log. (Writes made with `sync = false` are otherwise only in the OS
    /// page cache.) Log GC calls this on the kv engine before it deletes raft
    /// log entries, so applied data never depends on deleted entries.
    pub fn sync_wal(&self) -> Result<()> {
        self.db.flush_wal(true)?;
        Ok(())
    }

    /// Deletes every key of `cf` in `[start, end)` at once (a range
    /// tombstone). Used to clear a region's old data before a snapshot is
    /// ingested, and to destroy a removed region.
    pub fn delete_range_cf(&self, cf: &str, start: &[u8], end: &[u8]) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.delete_range_cf(cf, start, end);
        self.write(batch, true)
    }

    /// Moves externally built SST files (see [`crate::SstWriter`]) into
    /// `cf`. The files are moved, not copied, when they are on the same file
    /// system. Every key in them becomes visible atomically.
    pub fn ingest_cf(&self, cf: &str, files: &[PathBuf]) -> Result<()> {
        if files.is_empty() {
            return Ok(());
        }
        let handle = self.cf_handle(cf)?;
        let mut options = rocksdb::IngestExternalFileOptions::default();
        // Move (hard link) instead of copy: snapshots can be large. The
        // snapshot files are deleted by their owner afterwards either way.
        options.set_move_files(true);
        self.db
            .ingest_external_file_cf_opts(handle, &options, files.to_vec())?;
        Ok(())
    }

    /// RocksDB's estimate of the live data size of `cf`, in bytes.
    pub fn approximate_size_cf(&self, cf: &str) -> Result<u64> {
        let handle = self.cf_handle(cf)?;
        Ok(self
            .db
            .property_int_value_cf(handle, "rocksdb.estimate-live-data-size")?
            .unwrap_or(0))
    }
}

/// Decodes a protobuf value read from `key`, mapping failures to [`Error::Corrupt`].
pub(crate) fn decode_msg<M: protobuf::Message>(key: &[u8], bytes: &[u8]) -> Result<M> {
    M::parse_from_bytes(bytes).map_err(|source| Error::Corrupt {
        key: key.to_vec(),
        source,
    })
}
