//! [`ChecksummedWriter`]: writes one snapshot file and computes its size
//! and CRC32 from the very bytes it writes, so nobody reads the file back
//! to check it.
//!
//! Used by `tinykv ctl snapshot export` as it writes an exported
//! snapshot's SST files from the store's stream (a raft snapshot's
//! receiver builds its SST files from pairs instead, with RocksDB's SST
//! writer). In: the stream's bytes in order. Out: a complete file under its
//! real name, and its `(CRC32, size)` for the caller to compare with the
//! meta the store sent.
//!
//! The file is written as `NAME.tmp` and renamed when complete, so a crash
//! never leaves a half-written file under the real name. The caller syncs
//! the directory once for all the files of a snapshot (`SnapManager::write_meta`
//! does it for the meta, written last), instead of once per file.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::errors::Result;
use crate::snap_manager::{drop_behind, temporary_path, write_behind};

/// How many bytes are written between two steps of write-behind (start
/// the disk write of the newest window, wait for the window before it,
/// drop that one from the page cache): large enough that the disk gets
/// long sequential writes, small enough that a stream's page-cache
/// footprint stays a few MiB whatever the snapshot's size.
const WRITE_BEHIND_BYTES: u64 = 8 << 20;

/// One file being written with its checksum computed on the way.
pub struct ChecksummedWriter {
    file: File,
    temporary: PathBuf,
    path: PathBuf,
    hasher: crc32fast::Hasher,
    written: u64,
    /// Everything before this offset is written to the disk (not yet
    /// durable: `finish` fsyncs) and out of the page cache.
    write_behind_from: u64,
    /// The disk write of everything before this offset was started
    /// (see [`ChecksummedWriter::write`]).
    writeback_started_to: u64,
}

impl ChecksummedWriter {
    /// Creates (or truncates) `path` + `.tmp`.
    pub fn create(path: &Path) -> Result<ChecksummedWriter> {
        let temporary = temporary_path(path);
        let file = File::create(&temporary)?;
        Ok(ChecksummedWriter {
            file,
            temporary,
            path: path.to_path_buf(),
            hasher: crc32fast::Hasher::new(),
            written: 0,
            write_behind_from: 0,
            writeback_started_to: 0,
        })
    }

    /// Appends `bytes` and adds them to the checksum.
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.file.write_all(bytes)?;
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        if self.written - self.writeback_started_to >= WRITE_BEHIND_BYTES {
            // Write-behind, so the disk writes while the next chunks are
            // copied in rather than after them. The newest window goes to
            // the disk now, without waiting; the window before it had a
            // whole window's time to get there, so waiting for it costs
            // little, and then its pages can go: the next chunks reuse
            // them instead of fresh memory (see `snap_manager::drop_behind`).
            // Waiting after every window (an fsync per 8 MiB) left the disk
            // idle while chunks were copied and the copying idle while the
            // disk wrote: the writer of a 256 MiB stream took ~450 ms then,
            // ~140-215 ms now (snapshot bench, `write` row).
            // Durability is still `finish`'s fsync; nobody reads this file
            // soon (ingest moves it into RocksDB). The writer waits here
            // while the stream's queue keeps the sender going.
            write_behind(
                &self.file,
                self.writeback_started_to,
                self.written - self.writeback_started_to,
                false,
            );
            if self.writeback_started_to > self.write_behind_from {
                let length = self.writeback_started_to - self.write_behind_from;
                write_behind(&self.file, self.write_behind_from, length, true);
                drop_behind(&self.file, self.write_behind_from, length);
                self.write_behind_from = self.writeback_started_to;
            }
            self.writeback_started_to = self.written;
        }
        Ok(())
    }

    /// How many bytes were written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Makes the file durable (fsync) and renames it to its real name;
    /// returns its CRC32 and size. The rename itself is durable only once
    /// the caller syncs the directory.
    pub fn finish(self) -> Result<(u32, u64)> {
        self.file.sync_all()?;
        drop(self.file);
        fs::rename(&self.temporary, &self.path)?;
        Ok((self.hasher.finalize(), self.written))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checksum and size a writer reports are those of the file it
    /// leaves under the real name, across several write-behind windows.
    #[test]
    fn checksum_matches_the_file_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rev_1_1_1_default.sst");
        let mut writer = ChecksummedWriter::create(&path).unwrap();
        // Blocks that straddle window boundaries, each with its own byte,
        // over three windows: both the started and the awaited steps run.
        let block_size = (WRITE_BEHIND_BYTES as usize) / 3 + 1;
        let mut expected = Vec::new();
        for block in 0..10u8 {
            let bytes = vec![block; block_size];
            writer.write(&bytes).unwrap();
            expected.extend_from_slice(&bytes);
        }
        assert_eq!(writer.written(), expected.len() as u64);
        let (checksum, size) = writer.finish().unwrap();
        assert_eq!(
            crate::snap_manager::file_checksum(&path).unwrap(),
            (checksum, size)
        );
        assert!(
            std::fs::read(&path).unwrap() == expected,
            "the file holds every block in order"
        );
        assert!(!temporary_path(&path).exists());
    }
}
