//! [`SstWriter`]: builds one SST file from sorted key-value pairs.
//!
//! Raft snapshots are applied as SST files, one per column family: the
//! receiver builds them from the pairs the leader streams, and
//! [`crate::Engine::ingest_cf`] moves them into the kv engine in one step
//! (an export writes them from an [`crate::EngineSnapshot`] the same way). Ingesting a finished file is much cheaper than replaying
//! the same pairs as writes, and it is atomic. Pairs are streamed to the
//! file as they are added, so a large region never sits in memory.
//!
//! A writer made by [`SstWriter::create`] also computes the file's CRC32
//! as the file grows ([`SstWriter::finish_with_checksum`]): RocksDB's SST
//! writer drops the
//! file's pages from the page cache as it goes (its C API cannot turn that
//! off), so hashing the finished file means reading it all back from the
//! disk; hashing each MiB right after RocksDB wrote it reads it from the
//! page cache instead.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use rocksdb::{Options, SstFileWriter};

use crate::errors::{Error, Result};

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

/// How many bytes of pairs are added between two catch-ups of the
/// checksum: RocksDB hands its buffer to the kernel about every MiB and
/// drops pages from the cache once written back, so hashing every MiB or
/// so finds them still cached.
const CHECKSUM_EVERY_BYTES: u64 = 1 << 20;

/// Writes an SST file. Keys must be added in strictly increasing order.
pub struct SstWriter {
    path: PathBuf,
    pairs_written: u64,
    inner: OwnedSstWriter,
    /// None for a writer made by [`SstWriter::create_without_checksum`].
    checksum: Option<ChecksumBehind>,
}

/// A second handle on the file being written, hashing what RocksDB has
/// written so far. Correct whenever it runs (an SST file is only ever
/// appended to, and it reads up to the current end); fast when it runs
/// soon after the bytes were written.
struct ChecksumBehind {
    reader: File,
    hasher: crc32fast::Hasher,
    hashed: u64,
    added_since: u64,
    buffer: Vec<u8>,
}

impl ChecksumBehind {
    /// Hashes everything written since the last call, up to the file's end.
    fn catch_up(&mut self) -> Result<()> {
        loop {
            let read = self.reader.read(&mut self.buffer)?;
            if read == 0 {
                break;
            }
            self.hasher.update(&self.buffer[..read]);
            self.hashed += read as u64;
        }
        self.added_since = 0;
        Ok(())
    }
}

impl SstWriter {
    /// Creates the file at `path` and prepares to write pairs into it,
    /// computing the file's CRC32 as it grows
    /// ([`SstWriter::finish_with_checksum`]).
    pub fn create(path: impl AsRef<Path>) -> Result<SstWriter> {
        let mut writer = SstWriter::create_without_checksum(path)?;
        writer.checksum = Some(ChecksumBehind {
            reader: File::open(&writer.path)?,
            hasher: crc32fast::Hasher::new(),
            hashed: 0,
            added_since: 0,
            buffer: vec![0; 1 << 20],
        });
        Ok(writer)
    }

    /// Like [`SstWriter::create`], without the CRC32: hashing the file as
    /// it grows reads it back, and when the disk writes fast enough the
    /// kernel has already let the pages go, so the reading comes from the
    /// disk (for a 256 MiB snapshot it made the receiver's writing take
    /// ~300 ms instead of ~190). For callers that check the content some
    /// other way (the snapshot receiver checks the pairs it writes).
    pub fn create_without_checksum(path: impl AsRef<Path>) -> Result<SstWriter> {
        let path = path.as_ref().to_path_buf();
        let inner = OwnedSstWriter::try_new(Options::default(), |options| {
            let writer = SstFileWriter::create(options);
            writer.open(&path).map(|()| writer)
        })?;
        Ok(SstWriter {
            path,
            pairs_written: 0,
            inner,
            checksum: None,
        })
    }

    /// Adds a pair. Keys must arrive in strictly increasing order; RocksDB
    /// reports an out-of-order key as an error.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.inner
            .with_dependent_mut(|_, writer| writer.put(key, value))?;
        self.pairs_written += 1;
        if let Some(checksum) = &mut self.checksum {
            checksum.added_since += (key.len() + value.len()) as u64;
            if checksum.added_since >= CHECKSUM_EVERY_BYTES {
                checksum.catch_up()?;
            }
        }
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
    pub fn finish(self) -> Result<bool> {
        Ok(self.finish_with_size()?.is_some())
    }

    /// Like [`SstWriter::finish`], and returns the finished file's size
    /// (`None` for an empty writer: no file).
    pub fn finish_with_size(mut self) -> Result<Option<u64>> {
        if !self.finish_file()? {
            return Ok(None);
        }
        Ok(Some(std::fs::metadata(&self.path)?.len()))
    }

    /// Like [`SstWriter::finish`], and returns the finished file's CRC32
    /// and size (`None` for an empty writer: no file), computed as the
    /// file was written. A writer made without a checksum
    /// ([`SstWriter::create_without_checksum`]) has none to give: an error.
    pub fn finish_with_checksum(mut self) -> Result<Option<(u32, u64)>> {
        if self.checksum.is_none() {
            return Err(Error::InvalidRequest(format!(
                "{}: SST writer created without a checksum",
                self.path.display()
            )));
        }
        if !self.finish_file()? {
            return Ok(None);
        }
        let Some(mut checksum) = self.checksum.take() else {
            return Ok(None);
        };
        // The table's last blocks and footer, written by finish.
        checksum.catch_up()?;
        Ok(Some((checksum.hasher.finalize(), checksum.hashed)))
    }

    /// Finishes the table (true), or removes the file of an empty writer
    /// (false).
    fn finish_file(&mut self) -> Result<bool> {
        if self.pairs_written == 0 {
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
