//! [`SstWriter`]: builds one SST file from sorted key-value pairs.
//!
//! Raft snapshots are shipped as SST files, one per column family: the
//! region worker writes them from an [`crate::EngineSnapshot`], the receiver
//! checks them and [`crate::Engine::ingest_cf`] moves them into the kv engine
//! in one step. Ingesting a finished file is much cheaper than replaying
//! the same pairs as writes, and it is atomic. Pairs are streamed to the
//! file as they are added, so a large region never sits in memory.

use std::path::{Path, PathBuf};

use rocksdb::{Options, SstFileWriter};

use crate::errors::Result;

type RocksSstWriter<'a> = SstFileWriter<'a>;

// RocksDB's SstFileWriter borrows the Options it was created with; this
// pair owns both so the writer can be stored and passed around.
self_cell::self_cell!(
    struct OwnedSstWriter {
        owner: Options,
        #[not_covariant]
        dependent: RocksSstWriter,
    }
);

/// Writes an SST file. Keys must be added in strictly increasing order.
pub struct SstWriter {
    path: PathBuf,
    pairs_written: u64,
    inner: OwnedSstWriter,
}

impl SstWriter {
    /// Creates the file at `path` and prepares to write pairs into it.
    pub fn create(path: impl AsRef<Path>) -> Result<SstWriter> {
        let path = path.as_ref().to_path_buf();
        let inner = OwnedSstWriter::try_new(Options::default(), |options| {
            let writer = SstFileWriter::create(options);
            writer.open(&path).map(|()| writer)
        })?;
        Ok(SstWriter {
            path,
            pairs_written: 0,
            inner,
        })
    }

    /// Adds a pair. Keys must arrive in strictly increasing order; RocksDB
    /// reports an out-of-order key as an error.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.inner
            .with_dependent_mut(|_, writer| writer.put(key, value))?;
        self.pairs_written += 1;
        Ok(())
    }

    /// How many pairs were added.
    pub fn count(&self) -> u64 {
        self.pairs_written
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Completes the file. RocksDB cannot finish an SST without a single
    /// pair: for an empty writer this removes the file and returns
    /// `Ok(false)`; callers record "no file" for that column family.
    pub fn finish(mut self) -> Result<bool> {
        if self.pairs_written == 0 {
            drop(self.inner);
            match std::fs::remove_file(&self.path) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(error.into()),
            }
            return Ok(false);
        }
        self.inner.with_dependent_mut(|_, writer| writer.finish())?;
        Ok(true)
    }
}
