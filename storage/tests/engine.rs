//! Tests of the engine layer: batches, column families, iterators,
//! snapshots, SST files and corrupt values.

use proto::raft_serverpb::RaftApplyState;
use storage::{
    keys, Engine, Engines, Error, IterOptions, SstWriter, WriteBatch, CF_DEFAULT, CF_LOCK, CF_WRITE,
};

fn temp_engine() -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().expect("create temp dir");
    let engine = Engine::open_kv(dir.path().join("kv")).expect("open kv engine");
    (dir, engine)
}

/// A batch spanning all three column families is applied and each CF keeps its own value.
#[test]
fn write_batch_spans_column_families() {
    let (_dir, engine) = temp_engine();
    let mut batch = WriteBatch::new();
    batch.put_cf(CF_DEFAULT, b"k", b"default");
    batch.put_cf(CF_LOCK, b"k", b"lock");
    batch.put_cf(CF_WRITE, b"k", b"write");
    assert_eq!(batch.count(), 3);
    engine.write(batch, true).unwrap();
    assert_eq!(
        engine.get_value_cf(CF_DEFAULT, b"k").unwrap(),
        Some(b"default".to_vec())
    );
    assert_eq!(
        engine.get_value_cf(CF_LOCK, b"k").unwrap(),
        Some(b"lock".to_vec())
    );
    assert_eq!(
        engine.get_value_cf(CF_WRITE, b"k").unwrap(),
        Some(b"write".to_vec())
    );
}

/// The write counters count written batches and, apart, synced ones; a failed write counts in neither, and clones share the counts.
#[test]
fn write_statistics_count_batches_and_syncs() {
    let (_dir, engine) = temp_engine();
    let clone = engine.clone();
    for sync in [true, false, false] {
        let mut batch = WriteBatch::new();
        batch.put(b"k", b"v");
        engine.write(batch, sync).unwrap();
    }
    let mut refused = WriteBatch::new();
    refused.put_cf("no-such-cf", b"k", b"v");
    assert!(engine.write(refused, true).is_err());
    let statistics = clone.write_statistics();
    assert_eq!(statistics.batches, 3);
    assert_eq!(statistics.synced_batches, 1);
}

/// A batch naming an unknown column family is rejected whole: nothing in it is written.
#[test]
fn batch_with_unknown_cf_writes_nothing() {
    let (_dir, engine) = temp_engine();
    let mut batch = WriteBatch::new();
    batch.put_cf(CF_DEFAULT, b"a", b"1");
    batch.put_cf("nope", b"b", b"2");
    let error = engine.write(batch, true).unwrap_err();
    assert!(
        matches!(error, Error::UnknownColumnFamily(ref cf) if cf == "nope"),
        "{error}"
    );
    assert_eq!(engine.get_value(b"a").unwrap(), None);
}

/// Protobuf messages round-trip through put_msg / get_msg.
#[test]
fn messages_round_trip() {
    let (_dir, engine) = temp_engine();
    let mut state = RaftApplyState::new();
    state.applied_index = 42;
    state.mut_truncated_state().index = 5;
    let mut batch = WriteBatch::new();
    batch.put_msg(&keys::apply_state_key(1), &state).unwrap();
    engine.write(batch, false).unwrap();
    let read: RaftApplyState = engine.get_msg(&keys::apply_state_key(1)).unwrap().unwrap();
    assert_eq!(read, state);
}

/// A value that is not a valid protobuf comes back as Error::Corrupt naming the key, not a panic.
#[test]
fn corrupt_message_is_a_typed_error() {
    let (_dir, engine) = temp_engine();
    let mut batch = WriteBatch::new();
    batch.put(b"bad", &[0xff, 0xff, 0xff]);
    engine.write(batch, true).unwrap();
    let error = engine.get_msg::<RaftApplyState>(b"bad").unwrap_err();
    assert!(
        matches!(error, Error::Corrupt { ref key, .. } if key == b"bad"),
        "{error}"
    );
}

/// A bounded iterator sees exactly the keys in [lower, upper).
#[test]
fn iterator_respects_bounds() {
    let (_dir, engine) = temp_engine();
    let mut batch = WriteBatch::new();
    for key in [b"a", b"b", b"c", b"d"] {
        batch.put(key, key);
    }
    engine.write(batch, true).unwrap();
    let mut seen = Vec::new();
    let mut iterator = engine
        .iterator_cf(CF_DEFAULT, IterOptions::range(b"b", b"d"))
        .unwrap();
    iterator.seek(b"a");
    while iterator.valid().unwrap() {
        seen.push(iterator.key().to_vec());
        iterator.next();
    }
    assert_eq!(seen, vec![b"b".to_vec(), b"c".to_vec()]);
}

/// A snapshot does not see writes made after it was taken, even from another thread.
#[test]
fn snapshot_is_point_in_time() {
    let (_dir, engine) = temp_engine();
    let mut batch = WriteBatch::new();
    batch.put(b"k", b"old");
    engine.write(batch, true).unwrap();
    let snapshot = engine.snapshot();
    let mut batch = WriteBatch::new();
    batch.put(b"k", b"new");
    batch.put(b"k2", b"new");
    engine.write(batch, true).unwrap();
    let reader = std::thread::spawn(move || {
        let mut keys = Vec::new();
        snapshot
            .scan_cf(CF_DEFAULT, b"", b"", |key, _| {
                keys.push(key.to_vec());
                Ok(true)
            })
            .unwrap();
        (snapshot.get_value(b"k").unwrap(), keys)
    });
    let (value, keys) = reader.join().unwrap();
    assert_eq!(value, Some(b"old".to_vec()));
    assert_eq!(keys, vec![b"k".to_vec()]);
    assert_eq!(engine.get_value(b"k").unwrap(), Some(b"new".to_vec()));
}

/// delete_range_cf removes exactly [start, end).
#[test]
fn delete_range_removes_only_the_range() {
    let (_dir, engine) = temp_engine();
    let mut batch = WriteBatch::new();
    for key in [b"a", b"b", b"c"] {
        batch.put_cf(CF_WRITE, key, key);
    }
    engine.write(batch, true).unwrap();
    engine.delete_range_cf(CF_WRITE, b"b", b"c").unwrap();
    assert!(engine.get_value_cf(CF_WRITE, b"a").unwrap().is_some());
    assert!(engine.get_value_cf(CF_WRITE, b"b").unwrap().is_none());
    assert!(engine.get_value_cf(CF_WRITE, b"c").unwrap().is_some());
}

/// An SST file built by SstWriter is ingested and its keys become visible; an empty writer makes no file.
#[test]
fn sst_files_are_ingested() {
    let (dir, engine) = temp_engine();
    let path = dir.path().join("default.sst");
    let mut writer = SstWriter::create(&path).unwrap();
    writer.put(b"x1", b"1").unwrap();
    writer.put(b"x2", b"2").unwrap();
    assert!(writer.finish().unwrap());
    engine
        .ingest_cf(CF_DEFAULT, std::slice::from_ref(&path))
        .unwrap();
    assert_eq!(engine.get_value(b"x2").unwrap(), Some(b"2".to_vec()));

    let empty = dir.path().join("empty.sst");
    let writer = SstWriter::create(&empty).unwrap();
    assert!(!writer.finish().unwrap());
    assert!(!empty.exists());
}

/// The CRC32 and size SstWriter computes while writing (several MiB, so
/// it hashes behind the writer many times) are those of the finished file.
#[test]
fn sst_writer_checksum_matches_the_finished_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.sst");
    let mut writer = SstWriter::create(&path).unwrap();
    for i in 0..700u32 {
        let value: Vec<u8> = (0..10_000u32).map(|j| (i * 31 + j) as u8).collect();
        writer
            .put(format!("key-{i:05}").as_bytes(), &value)
            .unwrap();
    }
    let (checksum, size) = writer.finish_with_checksum().unwrap().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 6 << 20, "the pairs span several catch-ups");
    assert_eq!(size, bytes.len() as u64);
    assert_eq!(checksum, crc32fast::hash(&bytes));

    let empty = dir.path().join("empty.sst");
    let writer = SstWriter::create(&empty).unwrap();
    assert_eq!(writer.finish_with_checksum().unwrap(), None);
}

/// Keys added out of order are an error from the SST writer, not a panic.
#[test]
fn sst_writer_rejects_unsorted_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = SstWriter::create(dir.path().join("f.sst")).unwrap();
    writer.put(b"b", b"1").unwrap();
    assert!(writer.put(b"a", b"1").is_err());
}

/// Engines::open creates both databases, and data survives closing and reopening.
#[test]
fn engines_reopen_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    {
        let engines = Engines::open(dir.path()).unwrap();
        let mut batch = WriteBatch::new();
        batch.put(b"raft", b"1");
        engines.raft.write(batch, true).unwrap();
        let mut batch = WriteBatch::new();
        batch.put_cf(CF_LOCK, b"kv", b"2");
        engines.kv.write(batch, true).unwrap();
    }
    let engines = Engines::open(dir.path()).unwrap();
    assert_eq!(
        engines.raft.get_value(b"raft").unwrap(),
        Some(b"1".to_vec())
    );
    assert_eq!(
        engines.kv.get_value_cf(CF_LOCK, b"kv").unwrap(),
        Some(b"2".to_vec())
    );
    // The raft engine has only the default column family.
    assert!(matches!(
        engines.raft.get_value_cf(CF_LOCK, b"kv"),
        Err(Error::UnknownColumnFamily(_))
    ));
}

/// A writer made without a checksum finishes with the file's size, and refuses to make up a CRC32.
#[test]
fn sst_writer_without_checksum_reports_the_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.sst");
    let mut writer = SstWriter::create_without_checksum(&path).unwrap();
    writer.put(b"a", b"1").unwrap();
    let size = writer.finish_with_size().unwrap().unwrap();
    assert_eq!(size, std::fs::metadata(&path).unwrap().len());
    let other = dir.path().join("other.sst");
    let mut writer = SstWriter::create_without_checksum(&other).unwrap();
    writer.put(b"a", b"1").unwrap();
    assert!(writer.finish_with_checksum().is_err());
    let empty = dir.path().join("empty.sst");
    let writer = SstWriter::create_without_checksum(&empty).unwrap();
    assert_eq!(writer.finish_with_size().unwrap(), None);
    assert!(!empty.exists());
}
