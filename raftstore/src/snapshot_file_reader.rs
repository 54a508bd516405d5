//! [`SnapshotFileReader`]: one sequential pass over an exported snapshot
//! file, in chunks, the way `ChunkStream` reads it (on the debug service's
//! export thread; raft snapshots are streamed from the engine instead).
//!
//! Why not a plain `read`: the SST writer that made the file asked the
//! kernel to drop its pages as it wrote, so every chunk comes from the
//! disk into page-cache pages taken for the occasion, and on a virtual
//! machine whose host backs guest memory lazily a page touched for the
//! first time costs more than the disk read (measured on the project's
//! test machine, 256 MiB just written: 535-678 ms through the page cache
//! with the pages dropped behind, 263-323 ms with direct I/O into one
//! reused buffer). So the reader uses direct I/O (`O_DIRECT`): the disk
//! reads into one aligned buffer that stays for the whole file, and the
//! chunk is copied out of it. Where direct I/O is refused (a file system
//! without it, a chunk size that is not a multiple of the alignment), it
//! falls back to buffered reads that drop their pages behind them.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::snap_manager::drop_behind;

/// Direct I/O wants the buffer, the offset and the length aligned to the
/// device's logical block size; 4 KiB covers every common device.
const ALIGNMENT: usize = 4096;

/// A snapshot file read once, front to back (see the module docs).
pub struct SnapshotFileReader {
    path: PathBuf,
    file: File,
    /// Whether `file` was opened for direct I/O.
    direct: bool,
    /// The offset of the next chunk.
    offset: u64,
    /// Direct reads land in an aligned window of this buffer, reused for
    /// every chunk (allocated on the first direct read).
    buffer: Vec<u8>,
}

impl SnapshotFileReader {
    /// Opens `path` for one sequential pass, with direct I/O if the file
    /// system allows it.
    pub fn open(path: &Path) -> io::Result<SnapshotFileReader> {
        let (file, direct) = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)
        {
            Ok(file) => (file, true),
            Err(_) => (File::open(path)?, false),
        };
        Ok(SnapshotFileReader {
            path: path.to_path_buf(),
            file,
            direct,
            offset: 0,
            buffer: Vec::new(),
        })
    }

    /// The next `length` bytes of the file; an error if it ends first.
    pub fn read_chunk(&mut self, length: usize) -> io::Result<Vec<u8>> {
        if self.direct {
            if self.offset.is_multiple_of(ALIGNMENT as u64) {
                match self.read_direct(length) {
                    Ok(data) => return Ok(data),
                    // Refused (alignment, or no direct I/O after all):
                    // go on buffered, from the same offset.
                    Err(error) if error.raw_os_error() == Some(libc::EINVAL) => {}
                    Err(error) => return Err(error),
                }
            }
            self.file = File::open(&self.path)?;
            self.direct = false;
        }
        self.read_buffered(length)
    }

    fn read_direct(&mut self, length: usize) -> io::Result<Vec<u8>> {
        let aligned_length = length.div_ceil(ALIGNMENT) * ALIGNMENT;
        if self.buffer.len() < aligned_length + ALIGNMENT {
            self.buffer = vec![0; aligned_length + ALIGNMENT];
        }
        let start = self.buffer.as_ptr().align_offset(ALIGNMENT);
        let window = &mut self.buffer[start..start + aligned_length];
        let mut filled = 0;
        // Direct reads come back whole, except at the end of the file.
        while filled < length {
            let read = self
                .file
                .read_at(&mut window[filled..], self.offset + filled as u64)?;
            if read == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "{} ends {} bytes early",
                        self.path.display(),
                        length - filled
                    ),
                ));
            }
            filled += read;
        }
        self.offset += length as u64;
        Ok(window[..length].to_vec())
    }

    fn read_buffered(&mut self, length: usize) -> io::Result<Vec<u8>> {
        let mut data = vec![0u8; length];
        self.file.read_exact_at(&mut data, self.offset)?;
        // Read once: its pages would only fill the cache.
        drop_behind(&self.file, self.offset, length as u64);
        self.offset += length as u64;
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `length` bytes that differ from chunk to chunk.
    fn pattern(length: usize) -> Vec<u8> {
        (0..length).map(|i| (i * 31 % 251) as u8).collect()
    }

    /// Reading a file in `chunk` pieces gives its bytes back, for
    /// `length` total bytes (direct, buffered fallback, or both).
    fn round_trip(length: usize, chunk: usize) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("file.sst");
        let bytes = pattern(length);
        std::fs::write(&path, &bytes).expect("write the file");
        let mut reader = SnapshotFileReader::open(&path).expect("open the file");
        let mut read = Vec::new();
        while read.len() < length {
            let take = chunk.min(length - read.len());
            read.extend(reader.read_chunk(take).expect("read a chunk"));
        }
        assert!(read == bytes, "{length} bytes in chunks of {chunk}");
    }

    /// Aligned chunks with a short last one come back byte for byte.
    #[test]
    fn aligned_chunks_read_the_whole_file() {
        round_trip(3 * 65536 + 1000, 65536);
    }

    /// Chunks that are not a multiple of the alignment fall back to buffered reads and still read the whole file.
    #[test]
    fn unaligned_chunks_fall_back_and_read_the_whole_file() {
        round_trip(10_000, 777);
    }

    /// Asking for more bytes than the file holds is an error, not a short chunk.
    #[test]
    fn reading_past_the_end_is_an_error() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("short.sst");
        std::fs::write(&path, pattern(5000)).expect("write the file");
        let mut reader = SnapshotFileReader::open(&path).expect("open the file");
        assert!(reader.read_chunk(8192).is_err());
    }
}
