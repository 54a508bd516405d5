//! The **snap_runner** worker: streams snapshots to other stores in
//! chunks, and receives the streams other stores send here.
//!
//! Sending (the `snap_runner` thread). In: [`SnapTask::Send`] from the raft
//! worker, for every MsgSnapshot in a leader's Ready. It streams
//! [`SnapshotChunk`]s through `Transport::send_snapshot`: first a head chunk
//! carrying the RaftMessage (snapshot metadata and region), then each SST
//! file in `snapshot_chunk_size` pieces, in the order of the meta. Out: the
//! outcome, always, as `PeerMsg::SnapshotStatus` (Finish or Failure) to the
//! leader peer, which reports it to raft; a send that exceeds
//! `snapshot_transfer_timeout` fails instead of hanging (TiKV #16435).
//!
//! Receiving ([`SnapshotReceiver::receive`], on whichever thread the
//! transport delivers on). It queues the chunks to a `snap_receive` writer
//! thread of its own, so the next chunk arrives while this one is written;
//! the writer writes the `rev_` files (`.tmp` first), computing each file's
//! size and CRC32 from the bytes it writes, checks them against the meta,
//! makes the files durable, and only then is the RaftMessage handed to the
//! router. A bad file is deleted and the stream refused, so the leader
//! hears Failure and sends a fresh snapshot later.
//!
//! Lifecycle: the sending thread is started by `RaftStore::start` and ends
//! when every `SnapTask` sender is dropped.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Receiver;
use log::{info, warn};
use proto::eraftpb::MessageType;
use proto::raft_serverpb::{RaftMessage, RaftSnapshotData, SnapshotChunk, SnapshotMeta};
use protobuf::Message as _;

use crate::chain::chain;
use crate::checksummed_writer::ChecksummedWriter;
use crate::errors::{Error, Result};
use crate::failpoints::failpoint;
use crate::msg::PeerMsg;
use crate::router::Router;
use crate::snap_manager::{check_file, SnapKey, SnapKind, SnapManager, SnapUse};
use crate::snapshot_file_reader::SnapshotFileReader;
use crate::snapshot_metrics::{SnapshotMetrics, SnapshotPhase};
use crate::transport::Transport;

/// How many received chunks may wait for the writer thread: enough to
/// keep it busy while the next chunk comes, little memory (1 MiB chunks).
const CHUNKS_IN_FLIGHT: usize = 4;

/// A task for the snap_runner thread.
#[derive(Debug)]
pub enum SnapTask {
    /// Stream the snapshot in `message` (a MsgSnapshot) to its target store.
    Send {
        /// The wrapped MsgSnapshot.
        message: RaftMessage,
    },
}

fn snap_key(message: &RaftMessage) -> SnapKey {
    let metadata = message.message().snapshot().metadata();
    SnapKey {
        region_id: message.region_id,
        term: metadata.term,
        index: metadata.index,
    }
}

/// The sending side of snap_runner.
pub struct SnapSender {
    store_id: u64,
    snap_manager: SnapManager,
    transport: Arc<dyn Transport>,
    router: Router,
    chunk_size: usize,
    timeout: Duration,
}

impl SnapSender {
    /// A sender for one store.
    pub fn new(
        store_id: u64,
        snap_manager: SnapManager,
        transport: Arc<dyn Transport>,
        router: Router,
        chunk_size: usize,
        timeout: Duration,
    ) -> SnapSender {
        SnapSender {
            store_id,
            snap_manager,
            transport,
            router,
            chunk_size: chunk_size.max(1),
            timeout,
        }
    }

    /// Starts the snap_runner thread over `mailbox`.
    pub fn start(self, mailbox: Receiver<SnapTask>) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name(format!("snap_runner-{}", self.store_id))
            .spawn(move || {
                for task in mailbox {
                    match task {
                        SnapTask::Send { message } => self.send(message),
                    }
                }
            })
    }

    /// Streams one snapshot and reports the outcome to the leader peer.
    fn send(&self, message: RaftMessage) {
        let store_id = self.store_id;
        let region_id = message.region_id;
        let to_peer = message.to_peer().clone();
        let key = snap_key(&message);
        self.snap_manager
            .register(SnapKind::Generated, key, SnapUse::Sending);
        chain!(
            "SnapSender::send",
            region_id,
            key.index,
            "store {store_id}: streaming to store {}",
            to_peer.store_id
        );
        let sending = self.snap_manager.metrics().time(SnapshotPhase::Send);
        let result = (|| -> Result<()> {
            failpoint!("snap_runner_before_send", store_id);
            let mut chunks = ChunkStream::new(&self.snap_manager, message, key, self.chunk_size)?;
            self.transport
                .send_snapshot(to_peer.store_id, &mut chunks, self.timeout)
        })();
        drop(sending);
        self.snap_manager
            .release(SnapKind::Generated, key, SnapUse::Sending);
        let status = match result {
            Ok(()) => {
                chain!(
                    "SnapSender::send",
                    region_id,
                    key.index,
                    "store {store_id}: stream accepted; report Finish"
                );
                raft::SnapshotStatus::Finish
            }
            Err(error) => {
                warn!("store {store_id}: [region {region_id}] sending snapshot {key} to store {} failed: {error}", to_peer.store_id);
                raft::SnapshotStatus::Failure
            }
        };
        let report = PeerMsg::SnapshotStatus {
            to_peer_id: to_peer.id,
            status,
        };
        if self.router.send(region_id, report).is_err() {
            info!("store {store_id}: [region {region_id}] snapshot outcome not delivered: peer is gone");
        }
    }
}

/// The chunks of one snapshot, read lazily from its `gen_` files: the head
/// chunk carrying `message` (the MsgSnapshot), then each file of its meta in
/// `chunk_size` pieces. The wire format of a snapshot, used by snap_runner
/// and by the store's debug service (`ExportSnapshot` streams an exported
/// snapshot to `tinykv ctl` the same way).
pub struct ChunkStream {
    head: Option<RaftMessage>,
    files: Vec<(std::path::PathBuf, u64)>,
    /// The file being read and how many of its bytes are left.
    current: Option<(SnapshotFileReader, u64)>,
    chunk_size: usize,
    /// Where the reading time goes (`SnapshotPhase::Read`).
    metrics: SnapshotMetrics,
}

impl ChunkStream {
    /// The chunks of the snapshot `key` described by `message`, whose files
    /// are `snap_manager`'s `gen_` files of that key.
    pub fn new(
        snap_manager: &SnapManager,
        message: RaftMessage,
        key: SnapKey,
        chunk_size: usize,
    ) -> Result<ChunkStream> {
        let data = RaftSnapshotData::parse_from_bytes(&message.message().snapshot().data)?;
        let files = data
            .meta()
            .cf_files
            .iter()
            .map(|file| {
                (
                    snap_manager.sst_path(SnapKind::Generated, key, &file.cf),
                    file.size,
                )
            })
            .collect();
        Ok(ChunkStream {
            head: Some(message),
            files,
            current: None,
            chunk_size,
            metrics: snap_manager.metrics().clone(),
        })
    }

    fn next_chunk(&mut self) -> Option<Result<SnapshotChunk>> {
        if let Some(message) = self.head.take() {
            let mut chunk = SnapshotChunk::new();
            chunk.message = Some(message).into();
            return Some(Ok(chunk));
        }
        loop {
            if let Some((reader, remaining)) = &mut self.current {
                if *remaining > 0 {
                    let length = (*remaining).min(self.chunk_size as u64) as usize;
                    let _reading = self.metrics.time(SnapshotPhase::Read);
                    let data = match reader.read_chunk(length) {
                        Ok(data) => data,
                        Err(error) => {
                            return Some(Err(Error::Snapshot(format!(
                                "reading snapshot file: {error}"
                            ))))
                        }
                    };
                    *remaining -= length as u64;
                    let mut chunk = SnapshotChunk::new();
                    chunk.data = data;
                    return Some(Ok(chunk));
                }
                self.current = None;
            }
            if self.files.is_empty() {
                return None;
            }
            let (path, size) = self.files.remove(0);
            match SnapshotFileReader::open(&path) {
                Ok(reader) => self.current = Some((reader, size)),
                Err(error) => {
                    return Some(Err(Error::Snapshot(format!("{}: {error}", path.display()))))
                }
            }
        }
    }
}

impl Iterator for ChunkStream {
    type Item = Result<SnapshotChunk>;

    fn next(&mut self) -> Option<Result<SnapshotChunk>> {
        self.next_chunk()
    }
}

/// The receiving side of snap_runner: turns a chunk stream into verified
/// `rev_` files, then delivers the MsgSnapshot.
#[derive(Clone)]
pub struct SnapshotReceiver {
    store_id: u64,
    snap_manager: SnapManager,
    router: Router,
}

impl SnapshotReceiver {
    /// A receiver for one store.
    pub fn new(store_id: u64, snap_manager: SnapManager, router: Router) -> SnapshotReceiver {
        SnapshotReceiver {
            store_id,
            snap_manager,
            router,
        }
    }

    /// Receives one stream (see the module docs). An error means the stream
    /// was refused; the sender reports Failure to its raft.
    pub fn receive(&self, chunks: &mut dyn Iterator<Item = SnapshotChunk>) -> Result<()> {
        let store_id = self.store_id;
        let head = chunks
            .next()
            .ok_or_else(|| Error::Snapshot("empty snapshot stream".to_string()))?;
        let message = head
            .message
            .into_option()
            .ok_or_else(|| Error::Snapshot("first chunk carries no message".to_string()))?;
        if message.message().msg_type() != MessageType::MsgSnapshot {
            return Err(Error::Snapshot(
                "snapshot stream without a MsgSnapshot".to_string(),
            ));
        }
        if message.to_peer().store_id != store_id {
            return Err(Error::StoreNotMatch {
                request_store_id: message.to_peer().store_id,
                actual_store_id: store_id,
            });
        }
        let key = snap_key(&message);
        let data = RaftSnapshotData::parse_from_bytes(&message.message().snapshot().data)?;
        chain!(
            "SnapshotReceiver::receive",
            key.region_id,
            key.index,
            "store {store_id}: receiving {} bytes",
            data.file_size
        );
        self.snap_manager
            .register(SnapKind::Received, key, SnapUse::Receiving);
        let result = self.write_files(key, &data, chunks);
        self.snap_manager
            .release(SnapKind::Received, key, SnapUse::Receiving);
        if let Err(error) = result {
            warn!("store {store_id}: snapshot {key} rejected: {error}; its files are deleted");
            self.snap_manager.delete(SnapKind::Received, key);
            return Err(error);
        }
        failpoint!("snap_runner_after_receive", store_id);
        chain!(
            "SnapshotReceiver::receive",
            key.region_id,
            key.index,
            "store {store_id}: files verified; MsgSnapshot to router"
        );
        self.router.send_raft_message(message)
    }

    /// Writes the stream's files, checksummed as they are written. The
    /// disk writes run on a writer thread fed through a short queue, so
    /// while it writes chunk k this thread already takes chunk k+1 from the
    /// stream (off the network, or read from the sender's file when the
    /// transport receives on the sender's thread): the two overlap.
    fn write_files(
        &self,
        key: SnapKey,
        data: &RaftSnapshotData,
        chunks: &mut dyn Iterator<Item = SnapshotChunk>,
    ) -> Result<()> {
        let _receiving = self.snap_manager.metrics().time(SnapshotPhase::Receive);
        let meta = data.meta();
        let (queue, queued) = crossbeam_channel::bounded::<Vec<u8>>(CHUNKS_IN_FLIGHT);
        std::thread::scope(|scope| {
            let writer = std::thread::Builder::new()
                .name(format!("snap_receive-{}", self.store_id))
                .spawn_scoped(scope, || self.write_chunks(key, meta, queued))?;
            for chunk in chunks {
                if queue.send(chunk.data).is_err() {
                    // The writer stopped on an error: it tells which.
                    break;
                }
            }
            // The end of the stream, as the writer sees it.
            drop(queue);
            writer.join().unwrap_or_else(|_| {
                Err(Error::Snapshot(format!(
                    "snapshot {key}: the writer thread panicked"
                )))
            })
        })?;
        // Every file is durable and matches the meta; the meta, written
        // last and durably (with the directory, so every rename above is
        // durable too), is what says the snapshot is complete.
        self.snap_manager
            .write_meta(SnapKind::Received, key, meta)?;
        self.snap_manager.mark_verified(key);
        Ok(())
    }

    /// The writer thread of [`SnapshotReceiver::write_files`]: the queued
    /// chunk bytes, file by file in the meta's order, each compared with
    /// the meta's size and CRC32 as it is completed.
    fn write_chunks(
        &self,
        key: SnapKey,
        meta: &SnapshotMeta,
        queued: Receiver<Vec<u8>>,
    ) -> Result<()> {
        // A chunk may hold the end of one file and never spans two (the
        // sender splits per file), so bytes are attributed file by file.
        let mut pending: Vec<u8> = Vec::new();
        let mut offset = 0;
        for file_meta in &meta.cf_files {
            let path = self
                .snap_manager
                .sst_path(SnapKind::Received, key, &file_meta.cf);
            let mut file = ChecksummedWriter::create(&path)?;
            while file.written() < file_meta.size {
                if offset == pending.len() {
                    match queued.recv() {
                        Ok(data) => (pending, offset) = (data, 0),
                        Err(_) => {
                            return Err(Error::Snapshot(format!(
                                "stream ended after {} of {} bytes of {}",
                                file.written(),
                                file_meta.size,
                                file_meta.cf
                            )))
                        }
                    }
                }
                let take = (pending.len() - offset).min((file_meta.size - file.written()) as usize);
                let _writing = self.snap_manager.metrics().time(SnapshotPhase::Write);
                file.write(&pending[offset..offset + take])?;
                offset += take;
            }
            let (checksum, size) = {
                let _writing = self.snap_manager.metrics().time(SnapshotPhase::Write);
                file.finish()?
            };
            check_file(&path, file_meta, checksum, size)?;
        }
        if offset < pending.len() || queued.recv().is_ok() {
            return Err(Error::Snapshot(
                "stream carries more bytes than its files".to_string(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::raft_serverpb::SnapshotCfFile;

    const STORE_ID: u64 = 5;

    /// A receiver on a fresh directory, and the store worker's mailbox
    /// (where a MsgSnapshot for a region without a peer here goes).
    fn receiver(
        dir: &tempfile::TempDir,
    ) -> (
        SnapshotReceiver,
        crossbeam_channel::Receiver<crate::StoreMsg>,
    ) {
        let manager =
            SnapManager::new(dir.path().join("snap"), Duration::from_secs(60), u64::MAX).unwrap();
        let (raft_sender, _raft_mailbox) = crossbeam_channel::unbounded();
        let (store_sender, store_mailbox) = crossbeam_channel::unbounded();
        let router = Router::new(STORE_ID, raft_sender, store_sender);
        (
            SnapshotReceiver::new(STORE_ID, manager, router),
            store_mailbox,
        )
    }

    /// A stream carrying `file` (one default-CF file, meta made from `file`
    /// itself) cut into chunks of `chunk_size`, with `tamper` applied to the
    /// chunks before they go.
    fn stream(
        file: &[u8],
        chunk_size: usize,
        tamper: impl FnOnce(&mut Vec<Vec<u8>>),
    ) -> (SnapKey, Vec<SnapshotChunk>) {
        let mut cf_file = SnapshotCfFile::new();
        cf_file.cf = storage::CF_DEFAULT.to_string();
        cf_file.size = file.len() as u64;
        cf_file.checksum = crc32fast::hash(file);
        let mut data = RaftSnapshotData::new();
        data.file_size = file.len() as u64;
        data.meta.mut_or_insert_default().cf_files.push(cf_file);
        let mut message = RaftMessage::new();
        message.region_id = 1;
        message.mut_to_peer().store_id = STORE_ID;
        let raft_message = message.mut_message();
        raft_message.set_msg_type(MessageType::MsgSnapshot);
        let snapshot = raft_message.mut_snapshot();
        snapshot.data = data.write_to_bytes().unwrap().into();
        snapshot.mut_metadata().index = 10;
        snapshot.mut_metadata().term = 2;
        let key = snap_key(&message);
        let mut pieces: Vec<Vec<u8>> = file.chunks(chunk_size).map(<[u8]>::to_vec).collect();
        tamper(&mut pieces);
        let mut head = SnapshotChunk::new();
        head.message = Some(message).into();
        let mut chunks = vec![head];
        for piece in pieces {
            let mut chunk = SnapshotChunk::new();
            chunk.data = piece;
            chunks.push(chunk);
        }
        (key, chunks)
    }

    fn file_bytes() -> Vec<u8> {
        (0..(3 << 20) + 12_345)
            .map(|i| (i * 31 % 251) as u8)
            .collect()
    }

    /// Receives `chunks`; on refusal checks that no file of the snapshot is left.
    fn receive(chunks: Vec<SnapshotChunk>, key: SnapKey) -> (Result<()>, bool) {
        let dir = tempfile::tempdir().unwrap();
        let (receiver, store_mailbox) = receiver(&dir);
        let result = receiver.receive(&mut chunks.into_iter());
        let manager = &receiver.snap_manager;
        if result.is_err() {
            assert!(manager.list().is_empty(), "a refused stream leaves no file");
            assert!(!manager.is_verified(key));
        }
        (result, store_mailbox.try_recv().is_ok())
    }

    /// A whole stream becomes the file and meta on disk, checked on the way, its writing timed chunk by chunk; the MsgSnapshot goes on.
    #[test]
    fn whole_stream_is_written_verified_and_delivered() {
        let bytes = file_bytes();
        let (key, chunks) = stream(&bytes, 1 << 20, |_| {});
        let dir = tempfile::tempdir().unwrap();
        let (receiver, store_mailbox) = receiver(&dir);
        receiver.receive(&mut chunks.into_iter()).unwrap();
        // No peer of region 1 here: the router hands it to the store worker.
        assert!(store_mailbox.try_recv().is_ok());
        let manager = &receiver.snap_manager;
        let path = manager.sst_path(SnapKind::Received, key, storage::CF_DEFAULT);
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        assert!(manager.meta_path(SnapKind::Received, key).exists());
        assert!(manager.is_verified(key));
        let meta = manager.read_meta(SnapKind::Received, key).unwrap();
        manager.verify(SnapKind::Received, key, &meta).unwrap();
        let metrics = manager.metrics();
        assert_eq!(metrics.report(SnapshotPhase::Receive).count, 1);
        // Four chunks (3 MiB and a bit, in 1 MiB chunks), then the fsync.
        assert_eq!(metrics.report(SnapshotPhase::Write).count, 5);
    }

    /// A stream cut short is refused as truncated, its files deleted.
    #[test]
    fn truncated_stream_is_refused() {
        let (key, chunks) = stream(&file_bytes(), 1 << 20, |pieces| {
            pieces.pop();
        });
        let (result, delivered) = receive(chunks, key);
        let error = result.unwrap_err().to_string();
        assert!(error.contains("stream ended after"), "{error}");
        assert!(!delivered);
    }

    /// A stream with bytes beyond its files is refused, its files deleted.
    #[test]
    fn oversized_stream_is_refused() {
        let (key, chunks) = stream(&file_bytes(), 1 << 20, |pieces| {
            pieces.push(vec![0u8; 10]);
        });
        let (result, delivered) = receive(chunks, key);
        let error = result.unwrap_err().to_string();
        assert!(error.contains("more bytes than its files"), "{error}");
        assert!(!delivered);
    }

    /// A stream with one flipped byte is refused by its CRC32, its files deleted.
    #[test]
    fn corrupted_stream_is_refused_by_checksum() {
        let (key, chunks) = stream(&file_bytes(), 1 << 20, |pieces| {
            pieces[1][77] ^= 0xff;
        });
        let (result, delivered) = receive(chunks, key);
        let error = result.unwrap_err().to_string();
        assert!(error.contains("checksum"), "{error}");
        assert!(!delivered);
    }
}
