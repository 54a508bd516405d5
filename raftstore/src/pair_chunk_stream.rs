//! [`PairChunkStream`]: the chunks of a raft snapshot, built on the fly
//! from the leader's pinned engine snapshot.
//!
//! Runs on the `snap_runner` thread (`SnapSender::send`), as the iterator
//! the transport pulls chunks from. First the head chunk carrying the
//! MsgSnapshot, then each column family of the meta, in the meta's order,
//! as its pairs in the `KEY_VALUE_PAIRS` format (`snapshot_pairs`), in
//! chunks of about `chunk_size` bytes: a chunk holds whole pairs (at least
//! `chunk_size` bytes of them unless the column family ends, at most twice
//! that), and only a pair too large for that is cut into `chunk_size`
//! pieces. A chunk never holds the end of one column family and the start
//! of the next. Nothing is read from or
//! written to a file: the follower builds its SST files from the pairs.
//!
//! The region is scanned a chunk at a time, each scan starting just after
//! the last key sent, so no iterator has to live across chunks (it would
//! borrow the engine snapshot this stream owns).

use proto::raft_serverpb::{RaftMessage, SnapshotCfFile, SnapshotChunk};
use storage::EngineSnapshot;

use crate::errors::{Error, Result};
use crate::snapshot_metrics::{SnapshotMetrics, SnapshotPhase};
use crate::snapshot_pairs::encode_pair;

/// The first chunk of a snapshot stream: the MsgSnapshot, no data.
pub fn head_chunk(message: RaftMessage) -> SnapshotChunk {
    let mut chunk = SnapshotChunk::new();
    chunk.message = Some(message).into();
    chunk
}

/// The column family being streamed.
struct CfCursor {
    /// Its name, size and CRC32 as the meta gives them.
    file: SnapshotCfFile,
    /// The next scan starts here (a data key).
    next_key: Vec<u8>,
    /// Whether its last pair was encoded.
    scanned: bool,
    /// Bytes encoded so far, to compare with the meta at the end.
    encoded: u64,
}

/// The chunks of one raft snapshot (see the module docs).
pub struct PairChunkStream {
    head: Option<RaftMessage>,
    kv_snapshot: EngineSnapshot,
    /// Column families still to stream after the current one.
    files: std::vec::IntoIter<SnapshotCfFile>,
    current: Option<CfCursor>,
    /// The region's data range, `[start, end)`.
    start: Vec<u8>,
    end: Vec<u8>,
    /// Encoded bytes of the current column family, sent up to `sent`.
    pending: Vec<u8>,
    sent: usize,
    chunk_size: usize,
    /// Where the scanning time goes (`SnapshotPhase::Read`).
    metrics: SnapshotMetrics,
}

impl PairChunkStream {
    /// The chunks of the snapshot in `message` (a MsgSnapshot): the column
    /// families `files` (its meta's, in order) of the region `[start, end)`
    /// (data keys) in `kv_snapshot`.
    pub fn new(
        message: RaftMessage,
        kv_snapshot: EngineSnapshot,
        files: Vec<SnapshotCfFile>,
        (start, end): (Vec<u8>, Vec<u8>),
        chunk_size: usize,
        metrics: SnapshotMetrics,
    ) -> PairChunkStream {
        PairChunkStream {
            head: Some(message),
            kv_snapshot,
            files: files.into_iter(),
            current: None,
            start,
            end,
            pending: Vec::new(),
            sent: 0,
            chunk_size: chunk_size.max(1),
            metrics,
        }
    }

    fn next_chunk(&mut self) -> Option<Result<SnapshotChunk>> {
        if let Some(message) = self.head.take() {
            return Some(Ok(head_chunk(message)));
        }
        loop {
            let Some(cursor) = &mut self.current else {
                let file = self.files.next()?;
                self.current = Some(CfCursor {
                    file,
                    next_key: self.start.clone(),
                    scanned: false,
                    encoded: 0,
                });
                continue;
            };
            let available = self.pending.len() - self.sent;
            if available >= self.chunk_size || (cursor.scanned && available > 0) {
                let mut chunk = SnapshotChunk::new();
                chunk.data = self.take_chunk(available);
                return Some(Ok(chunk));
            }
            if cursor.scanned {
                if cursor.encoded != cursor.file.size {
                    // The engine snapshot is pinned, so this would be a bug
                    // here, not a change in the data; the receiver would
                    // refuse the stream anyway.
                    return Some(Err(Error::Snapshot(format!(
                        "column family {}: {} bytes of pairs but the meta says {}",
                        cursor.file.cf, cursor.encoded, cursor.file.size
                    ))));
                }
                self.current = None;
                continue;
            }
            let _reading = self.metrics.time(SnapshotPhase::Read);
            if let Err(error) = self.scan_more() {
                return Some(Err(error));
            }
        }
    }

    /// The next chunk out of the `available` bytes of `pending`.
    fn take_chunk(&mut self, available: usize) -> Vec<u8> {
        if self.sent == 0 && available <= 2 * self.chunk_size {
            // The usual case: `pending` holds whole pairs (a scan stops
            // after the pair that fills the chunk), so the chunk takes the
            // buffer itself, uncopied, and ends on a pair boundary: the
            // receiver then decodes the pairs in place, without copying
            // them either.
            return std::mem::take(&mut self.pending);
        }
        // A pair much larger than a chunk: copy chunks out of it, rather
        // than moving its whole rest down after every chunk.
        let length = available.min(self.chunk_size);
        let chunk = self.pending[self.sent..self.sent + length].to_vec();
        self.sent += length;
        if self.sent == self.pending.len() {
            self.pending.clear();
            self.sent = 0;
        }
        chunk
    }

    /// Encodes pairs of the current column family until a chunk is full
    /// or the column family ends.
    fn scan_more(&mut self) -> Result<()> {
        // What is left is less than a chunk: move it to the front.
        self.pending.drain(..self.sent);
        self.sent = 0;
        let Some(cursor) = &mut self.current else {
            return Ok(());
        };
        let pending = &mut self.pending;
        let chunk_size = self.chunk_size;
        let mut last_key: Option<Vec<u8>> = None;
        self.kv_snapshot.scan_cf(
            &cursor.file.cf,
            &cursor.next_key,
            &self.end,
            |key, value| {
                encode_pair(pending, key, value);
                cursor.encoded += crate::snapshot_pairs::encoded_len(key, value);
                if pending.len() >= chunk_size {
                    last_key = Some(key.to_vec());
                    return Ok(false);
                }
                Ok(true)
            },
        )?;
        match last_key {
            // The smallest key after `key`: the next scan starts there.
            Some(mut key) => {
                key.push(0);
                cursor.next_key = key;
            }
            None => cursor.scanned = true,
        }
        Ok(())
    }
}

impl Iterator for PairChunkStream {
    type Item = Result<SnapshotChunk>;

    fn next(&mut self) -> Option<Result<SnapshotChunk>> {
        self.next_chunk()
    }
}
