//! The **snap_runner** worker: streams snapshots to other stores in
//! chunks, and receives the streams other stores send here.
//!
//! Sending (the `snap_runner` thread). In: [`SnapTask::Send`] from the raft
//! worker, for every MsgSnapshot in a leader's Ready. It takes the kept
//! engine snapshot (`SnapManager::generated`) and streams
//! [`SnapshotChunk`]s through `Transport::send_snapshot`: first a head chunk
//! carrying the RaftMessage (snapshot metadata, region, and the size and
//! CRC32 of each column family's pairs), then the pairs themselves, built
//! from the engine snapshot chunk by chunk (`PairChunkStream`). Out: the
//! outcome, always, as `PeerMsg::SnapshotStatus` (Finish or Failure) to the
//! leader peer, which reports it to raft; a send that exceeds
//! `snapshot_transfer_timeout` fails instead of hanging (TiKV #16435).
//!
//! Receiving ([`SnapshotReceiver::receive`], on whichever thread the
//! transport delivers on). It queues the chunks to a `snap_receive` writer
//! thread of its own, so the next chunk arrives while this one is written;
//! the writer decodes the pairs into the `rev_` SST files (`.tmp` first),
//! checking each column family's bytes against the leader's size and
//! CRC32 and every key against the region's range, makes the files
//! durable, writes their meta, and only then hands the RaftMessage (now
//! carrying that meta) to the router. A bad stream's files are deleted and
//! the stream refused, so the leader hears Failure and tries again later.
//!
//! Lifecycle: the sending thread is started by `RaftStore::start` and ends
//! when every `SnapTask` sender is dropped.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Receiver;
use log::{info, warn};
use proto::eraftpb::MessageType;
use proto::raft_serverpb::{
    RaftMessage, RaftSnapshotData, SnapshotCfFile, SnapshotChunk, SnapshotFormat, SnapshotMeta,
};
use protobuf::Message as _;
use storage::{keys, SstWriter};

use crate::chain::chain;
use crate::errors::{Error, Result};
use crate::failpoints::failpoint;
use crate::msg::PeerMsg;
use crate::pair_chunk_stream::{head_chunk, PairChunkStream};
use crate::router::Router;
use crate::snap_manager::{check_file, temporary_path, SnapKey, SnapKind, SnapManager, SnapUse};
use crate::snapshot_file_reader::SnapshotFileReader;
use crate::snapshot_metrics::{SnapshotMetrics, SnapshotPhase};
use crate::snapshot_pairs::PairDecoder;
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

pub(crate) fn snap_key(message: &RaftMessage) -> SnapKey {
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
            let generated = self.snap_manager.generated(key).ok_or_else(|| {
                Error::Snapshot(format!("snapshot {key} is no longer kept on this store"))
            })?;
            let data = RaftSnapshotData::parse_from_bytes(&message.message().snapshot().data)?;
            let region = data.region();
            let range = (
                keys::data_key(&region.start_key),
                keys::data_end_key(&region.end_key),
            );
            let mut chunks = PairChunkStream::new(
                message,
                generated.kv_snapshot,
                data.meta().cf_files.clone(),
                range,
                self.chunk_size,
                self.snap_manager.metrics().clone(),
            );
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

/// The chunks of an exported snapshot, read lazily from its `gen_` files:
/// the head chunk carrying `message` (a MsgSnapshot whose meta describes
/// SST files), then each file of its meta in `chunk_size` pieces. The
/// store's debug service streams an export to `tinykv ctl` with it
/// (`ExportSnapshot`); raft snapshots travel as pairs instead
/// (`PairChunkStream`).
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
            return Some(Ok(head_chunk(message)));
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
        let mut data = RaftSnapshotData::parse_from_bytes(&message.message().snapshot().data)?;
        if data.meta().format() != SnapshotFormat::KEY_VALUE_PAIRS {
            return Err(Error::Snapshot(format!(
                "snapshot {key}: a raft snapshot streams key-value pairs, not {:?}",
                data.meta().format()
            )));
        }
        chain!(
            "SnapshotReceiver::receive",
            key.region_id,
            key.index,
            "store {store_id}: receiving {} bytes of pairs",
            data.file_size
        );
        self.snap_manager
            .register(SnapKind::Received, key, SnapUse::Receiving);
        let result = self.write_files(key, &data, chunks);
        self.snap_manager
            .release(SnapKind::Received, key, SnapUse::Receiving);
        let files = match result {
            Ok(files) => files,
            Err(error) => {
                warn!("store {store_id}: snapshot {key} rejected: {error}; its files are deleted");
                self.snap_manager.delete(SnapKind::Received, key);
                return Err(error);
            }
        };
        failpoint!("snap_runner_after_receive", store_id);
        chain!(
            "SnapshotReceiver::receive",
            key.region_id,
            key.index,
            "store {store_id}: SST files written and verified; MsgSnapshot to router"
        );
        // From here on the snapshot is the SST files written here: the
        // region worker ingests what this meta describes, exactly as after
        // a restart (which reads the same meta back from disk).
        data.file_size = files.cf_files.iter().map(|file| file.size).sum();
        data.meta = Some(files).into();
        let mut message = message;
        message.mut_message().mut_snapshot().data = data.write_to_bytes()?.into();
        self.router.send_raft_message(message)
    }

    /// Builds the snapshot's SST files from the stream's pairs, checking
    /// each column family's bytes against the leader's meta on the way,
    /// and returns the meta of the files written. The disk writes run on a
    /// writer thread fed through a short queue, so while it writes chunk k
    /// this thread already takes chunk k+1 from the stream (off the
    /// network, or built from the leader's engine snapshot when the
    /// transport receives on the sender's thread): the two overlap.
    fn write_files(
        &self,
        key: SnapKey,
        data: &RaftSnapshotData,
        chunks: &mut dyn Iterator<Item = SnapshotChunk>,
    ) -> Result<SnapshotMeta> {
        let _receiving = self.snap_manager.metrics().time(SnapshotPhase::Receive);
        let region = data.region();
        let range = (
            keys::data_key(&region.start_key),
            keys::data_end_key(&region.end_key),
        );
        let (queue, queued) = crossbeam_channel::bounded::<Vec<u8>>(CHUNKS_IN_FLIGHT);
        let files = std::thread::scope(|scope| {
            let writer = std::thread::Builder::new()
                .name(format!("snap_receive-{}", self.store_id))
                .spawn_scoped(scope, || {
                    self.write_chunks(key, data.meta(), &range, queued)
                })?;
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
        // Every file is durable and its pairs matched the leader's meta;
        // the meta of the files, written last and durably (with the
        // directory, so every rename above is durable too), is what says
        // the snapshot is complete.
        self.snap_manager
            .write_meta(SnapKind::Received, key, &files)?;
        self.snap_manager.mark_verified(key);
        Ok(files)
    }

    /// The writer thread of [`SnapshotReceiver::write_files`]: the queued
    /// chunk bytes, column family by column family in the meta's order,
    /// decoded into pairs and written to that column family's SST file.
    /// Each column family's bytes are compared with the meta's size and
    /// CRC32 when it ends, and every key must lie in the region's data
    /// range (`start`, `end`): a stream is not trusted to stay inside it.
    fn write_chunks(
        &self,
        key: SnapKey,
        meta: &SnapshotMeta,
        (start, end): &(Vec<u8>, Vec<u8>),
        queued: Receiver<Vec<u8>>,
    ) -> Result<SnapshotMeta> {
        let metrics = self.snap_manager.metrics();
        let mut files = SnapshotMeta::new();
        files.set_format(SnapshotFormat::SST_FILES);
        files.pair_checksums = true;
        // A chunk may hold the end of one column family and never spans
        // two (the sender cuts per column family), so bytes are attributed
        // column family by column family.
        let mut pending: Vec<u8> = Vec::new();
        let mut offset = 0;
        for stream_meta in &meta.cf_files {
            let path = self
                .snap_manager
                .sst_path(SnapKind::Received, key, &stream_meta.cf);
            let temporary = temporary_path(&path);
            // No CRC32 of the file (see `SnapshotMeta.pair_checksums`): its
            // pairs are checked against the leader's CRC32 as they go in.
            let mut writer = SstWriter::create_without_checksum(&temporary)?;
            let mut decoder = PairDecoder::new(stream_meta.size);
            while decoder.fed() < stream_meta.size {
                if offset == pending.len() {
                    match queued.recv() {
                        Ok(data) => (pending, offset) = (data, 0),
                        Err(_) => {
                            return Err(Error::Snapshot(format!(
                                "stream ended after {} of {} bytes of {}",
                                decoder.fed(),
                                stream_meta.size,
                                stream_meta.cf
                            )))
                        }
                    }
                }
                let take =
                    (pending.len() - offset).min((stream_meta.size - decoder.fed()) as usize);
                let _writing = metrics.time(SnapshotPhase::Write);
                decoder.feed(&pending[offset..offset + take], |data_key, value| {
                    if data_key < start.as_slice()
                        || (!end.is_empty() && data_key >= end.as_slice())
                    {
                        return Err(Error::Snapshot(format!(
                            "{}: a key outside the region's range",
                            stream_meta.cf
                        )));
                    }
                    // RocksDB refuses a key that is not above the last one.
                    writer.put(data_key, value)?;
                    Ok(())
                })?;
                offset += take;
            }
            let (checksum, size) = decoder.finish()?;
            check_file(&path, stream_meta, checksum, size)?;
            let _writing = metrics.time(SnapshotPhase::Write);
            // RocksDB's SST writer syncs the file as it finishes it; the
            // rename is made durable by the meta's directory sync.
            let Some(size) = writer.finish_with_size()? else {
                continue;
            };
            std::fs::rename(&temporary, &path)?;
            let mut file = SnapshotCfFile::new();
            file.cf = stream_meta.cf.clone();
            file.size = size;
            file.checksum = checksum;
            files.cf_files.push(file);
        }
        if offset < pending.len() || queued.recv().is_ok() {
            return Err(Error::Snapshot(
                "stream carries more bytes than its column families".to_string(),
            ));
        }
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot_test_support::{leader_engine, receiver, region_pairs, stream};
    use storage::Engine;

    /// Receives `chunks` and checks that they are refused with an error
    /// containing `expected`, leaving no file and delivering nothing.
    fn assert_refused(chunks: Vec<SnapshotChunk>, key: SnapKey, expected: &str) {
        let dir = tempfile::tempdir().unwrap();
        let (receiver, store_mailbox) = receiver(&dir);
        let error = receiver
            .receive(&mut chunks.into_iter())
            .expect_err("the stream is refused")
            .to_string();
        assert!(error.contains(expected), "{error}");
        let manager = &receiver.snap_manager;
        assert!(manager.list().is_empty(), "a refused stream leaves no file");
        assert!(!manager.is_verified(key));
        assert!(store_mailbox.try_recv().is_err(), "nothing is delivered");
    }

    /// Rewrites the `RaftSnapshotData` in a stream's head chunk.
    fn edit_head(chunks: &mut [SnapshotChunk], edit: impl FnOnce(&mut RaftSnapshotData)) {
        let message = chunks[0].message.as_mut().unwrap();
        let snapshot = message.mut_message().mut_snapshot();
        let mut data = RaftSnapshotData::parse_from_bytes(&snapshot.data).unwrap();
        edit(&mut data);
        snapshot.data = data.write_to_bytes().unwrap().into();
    }

    /// A region streamed from a pinned engine snapshot becomes SST files holding exactly its pairs, described by a durable meta; the MsgSnapshot goes on carrying that meta.
    #[test]
    fn streamed_pairs_become_sst_files_holding_the_region() {
        let dir = tempfile::tempdir().unwrap();
        let engine = leader_engine(&dir);
        let (key, chunks) = stream(&engine, 1 << 20, |_| {});
        let (receiver, store_mailbox) = receiver(&dir);
        receiver.receive(&mut chunks.into_iter()).unwrap();
        // No peer of region 1 here: the router hands it to the store worker.
        let Ok(crate::StoreMsg::RaftMessage(message)) = store_mailbox.try_recv() else {
            panic!("the MsgSnapshot was not delivered");
        };
        let data = RaftSnapshotData::parse_from_bytes(&message.message().snapshot().data).unwrap();
        let manager = &receiver.snap_manager;
        let on_disk = manager.read_meta(SnapKind::Received, key).unwrap();
        assert_eq!(data.meta(), &on_disk, "the message carries the files' meta");
        assert_eq!(on_disk.format(), SnapshotFormat::SST_FILES);
        assert_eq!(on_disk.cf_files.len(), 2, "default and write");
        manager.verify(SnapKind::Received, key, &on_disk).unwrap();
        assert!(manager.is_verified(key));
        // Ingested into an empty engine, the files give back the region.
        let mut expected = Vec::new();
        for cf in storage::ALL_CFS {
            engine
                .scan_cf(
                    cf,
                    &keys::data_key(b""),
                    &keys::data_key(b"l"),
                    |key, value| {
                        expected.push((cf.to_string(), key.to_vec(), value.to_vec()));
                        Ok(true)
                    },
                )
                .unwrap();
        }
        assert!(expected.len() > region_pairs().len());
        assert_eq!(ingested(manager, key, dir.path()), expected);
        let metrics = manager.metrics();
        assert_eq!(metrics.report(SnapshotPhase::Receive).count, 1);
        assert!(metrics.report(SnapshotPhase::Write).count >= 5);
    }

    /// Every pair in `manager`'s received snapshot `key`, per column
    /// family, as an empty engine holds them after ingesting its files.
    fn ingested(
        manager: &SnapManager,
        key: SnapKey,
        dir: &std::path::Path,
    ) -> Vec<(String, Vec<u8>, Vec<u8>)> {
        let follower = Engine::open_kv(dir.join("follower")).unwrap();
        let meta = manager.read_meta(SnapKind::Received, key).unwrap();
        for file in &meta.cf_files {
            let path = manager.sst_path(SnapKind::Received, key, &file.cf);
            follower.ingest_cf(&file.cf, &[path]).unwrap();
        }
        let mut pairs = Vec::new();
        for cf in storage::ALL_CFS {
            follower
                .scan_cf(
                    cf,
                    &keys::data_key(b""),
                    keys::DATA_MAX_KEY,
                    |key, value| {
                        pairs.push((cf.to_string(), key.to_vec(), value.to_vec()));
                        Ok(true)
                    },
                )
                .unwrap();
        }
        pairs
    }

    /// However the stream is cut (chunks smaller than a pair, or holding many pairs), chunks stay within twice their size and the receiver's files hold the same pairs.
    #[test]
    fn any_chunk_size_gives_the_same_pairs() {
        let dir = tempfile::tempdir().unwrap();
        let engine = leader_engine(&dir);
        let mut received = Vec::new();
        for chunk_size in [4096, 1 << 20, 8 << 20] {
            let (key, chunks) = stream(&engine, chunk_size, |_| {});
            assert!(chunks[1..]
                .iter()
                .all(|chunk| chunk.data.len() <= 2 * chunk_size));
            let receiving = tempfile::tempdir().unwrap();
            let (receiver, _store_mailbox) = receiver(&receiving);
            receiver.receive(&mut chunks.into_iter()).unwrap();
            received.push(ingested(&receiver.snap_manager, key, receiving.path()));
        }
        assert!(received[0].len() > region_pairs().len());
        assert_eq!(received[0], received[1]);
        assert_eq!(received[1], received[2]);
    }

    /// A stream cut short is refused as truncated, its files deleted.
    #[test]
    fn truncated_stream_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (key, chunks) = stream(&leader_engine(&dir), 1 << 20, |pieces| {
            pieces.pop();
        });
        assert_refused(chunks, key, "stream ended after");
    }

    /// A stream with bytes beyond its column families is refused, its files deleted.
    #[test]
    fn oversized_stream_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (key, chunks) = stream(&leader_engine(&dir), 1 << 20, |pieces| {
            pieces.push(vec![0u8; 10]);
        });
        assert_refused(chunks, key, "more bytes than its column families");
    }

    /// A stream with one flipped byte in a value is refused by its CRC32, its files deleted.
    #[test]
    fn corrupted_stream_is_refused_by_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let (key, chunks) = stream(&leader_engine(&dir), 1 << 20, |pieces| {
            // Inside the 3 MiB value, which fills whole chunks.
            let last = pieces.len() - 3;
            pieces[last][77] ^= 0xff;
        });
        assert_refused(chunks, key, "checksum");
    }

    /// A stream whose pairs stray outside the region's range is refused before any of it is ingested.
    #[test]
    fn a_key_outside_the_region_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (key, mut chunks) = stream(&leader_engine(&dir), 1 << 20, |_| {});
        // The same stream, told the region ends before its keys.
        edit_head(&mut chunks, |data| {
            data.mut_region().end_key = b"key-0001".to_vec();
        });
        assert_refused(chunks, key, "outside the region");
    }

    /// A stream whose meta describes SST files (an export's) is not taken for a raft snapshot.
    #[test]
    fn a_stream_of_sst_files_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (key, mut chunks) = stream(&leader_engine(&dir), 1 << 20, |_| {});
        edit_head(&mut chunks, |data| {
            data.mut_meta().set_format(SnapshotFormat::SST_FILES);
        });
        assert_refused(chunks, key, "not SST_FILES");
    }
}
