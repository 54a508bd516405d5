//! Test support for the snapshot pipeline's unit tests (snap_runner's
//! receiver, the region worker's apply): a leader engine holding a small
//! region, the stream a leader would send for it, and a receiver to take
//! it. Compiled for tests only.

use std::time::Duration;

use proto::eraftpb::MessageType;
use proto::raft_serverpb::{
    RaftMessage, RaftSnapshotData, SnapshotCfFile, SnapshotChunk, SnapshotFormat, SnapshotMeta,
};
use protobuf::Message as _;
use storage::{keys, Engine, WriteBatch, CF_DEFAULT, CF_WRITE};

use crate::errors::Result;
use crate::pair_chunk_stream::PairChunkStream;
use crate::router::Router;
use crate::snap_manager::{SnapKey, SnapManager};
use crate::snapshot_metrics::SnapshotMetrics;
use crate::snapshot_pairs::hash_pair;
use crate::worker::snap_runner::{snap_key, SnapshotReceiver};

pub(crate) const STORE_ID: u64 = 5;

/// A receiver on a fresh directory, and the store worker's mailbox
/// (where a MsgSnapshot for a region without a peer here goes).
pub(crate) fn receiver(
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

/// The pairs of the test region: sizes from empty to 3 MiB, so pairs
/// both fill several chunks and share one.
pub(crate) fn region_pairs() -> Vec<(String, Vec<u8>)> {
    let mut pairs: Vec<(String, Vec<u8>)> = (0..40u32)
        .map(|i| {
            let size = (i as usize * 7919) % 5000;
            (format!("key-{i:04}"), vec![(i % 251) as u8; size])
        })
        .collect();
    pairs.push(("key-big".to_string(), vec![7u8; 3 << 20]));
    pairs
}

/// An engine holding `region_pairs` in the default column family and a
/// few in the write column family, plus a key outside the region.
pub(crate) fn leader_engine(dir: &tempfile::TempDir) -> Engine {
    let engine = Engine::open_kv(dir.path().join("leader")).unwrap();
    let mut batch = WriteBatch::new();
    for (key, value) in region_pairs() {
        batch.put_cf(CF_DEFAULT, &keys::data_key(key.as_bytes()), &value);
    }
    for i in 0..3u8 {
        batch.put_cf(CF_WRITE, &keys::data_key(&[b'a', i]), &[i; 10]);
    }
    // Past the region's end key ("l"): never streamed.
    batch.put_cf(CF_DEFAULT, &keys::data_key(b"outside"), b"x");
    engine.write(batch, false).unwrap();
    engine
}

/// The meta the leader's generation would write for `engine`'s region.
pub(crate) fn pairs_meta(engine: &Engine, range: &(Vec<u8>, Vec<u8>)) -> SnapshotMeta {
    let mut meta = SnapshotMeta::new();
    meta.set_format(SnapshotFormat::KEY_VALUE_PAIRS);
    for cf in storage::ALL_CFS {
        let mut hasher = crc32fast::Hasher::new();
        let mut size = 0;
        engine
            .scan_cf(cf, &range.0, &range.1, |key, value| {
                size += hash_pair(&mut hasher, key, value);
                Ok(true)
            })
            .unwrap();
        if size > 0 {
            let mut file = SnapshotCfFile::new();
            file.cf = cf.to_string();
            file.size = size;
            file.checksum = hasher.finalize();
            meta.cf_files.push(file);
        }
    }
    meta
}

/// The chunks a leader streams for region 1 (keys up to "l") of
/// `engine`, in chunks of `chunk_size`, with `tamper` applied to the
/// data chunks before they go.
pub(crate) fn stream(
    engine: &Engine,
    chunk_size: usize,
    tamper: impl FnOnce(&mut Vec<Vec<u8>>),
) -> (SnapKey, Vec<SnapshotChunk>) {
    let mut data = RaftSnapshotData::new();
    let region = data.region.mut_or_insert_default();
    region.id = 1;
    region.end_key = b"l".to_vec();
    let range = (
        keys::data_key(&region.start_key),
        keys::data_end_key(&region.end_key),
    );
    let meta = pairs_meta(engine, &range);
    data.file_size = meta.cf_files.iter().map(|file| file.size).sum();
    data.meta = Some(meta.clone()).into();
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
    let mut chunks: Vec<SnapshotChunk> = PairChunkStream::new(
        message,
        engine.snapshot(),
        meta.cf_files.clone(),
        range,
        chunk_size,
        SnapshotMetrics::default(),
    )
    .collect::<Result<_>>()
    .unwrap();
    let mut pieces: Vec<Vec<u8>> = chunks.drain(1..).map(|chunk| chunk.data).collect();
    tamper(&mut pieces);
    for piece in pieces {
        let mut chunk = SnapshotChunk::new();
        chunk.data = piece;
        chunks.push(chunk);
    }
    (key, chunks)
}
