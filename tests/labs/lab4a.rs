//! Lab 4A: the MVCC layer (`storage/src/mvcc/`).
//!
//! Students write `MvccTxn`'s reads and writes and the `Scanner`. Each
//! test lays out lock, write and default records on a fresh
//! `StandaloneStorage` (straight through `Storage::write`, as TinyKV's
//! tests poke a MemStorage), then checks what the MVCC layer reads or
//! stages. The scenarios follow TinyKV's project 4A tests, plus the
//! scanner, prefix keys and malformed records on disk.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use storage::mvcc::{
    self, encode_key, encode_user_key, key_after_all_versions, Lock, MvccTxn, Scanner, Write,
    WriteKind,
};
use storage::{
    KvIterator, Modify, StandaloneStorage, Storage, StorageReader, CF_DEFAULT, CF_LOCK, CF_WRITE,
};

/// The key most tests use (TinyKV's `[16, 240]`).
const KEY: &[u8] = &[16, 240];

/// A standalone store in its own temp dir, removed when dropped.
struct Fixture {
    storage: StandaloneStorage,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::Builder::new()
            .prefix("tinykv-lab4a-")
            .tempdir()
            .expect("create a temp dir");
        let storage = StandaloneStorage::open(dir.path()).expect("open the standalone store");
        Fixture { storage, _dir: dir }
    }

    fn write(&self, batch: Vec<Modify>) {
        self.storage
            .write(&Default::default(), batch)
            .expect("write through Storage");
    }

    fn set(&self, cf: &str, key: Vec<u8>, value: Vec<u8>) {
        self.write(vec![Modify::Put {
            cf: cf.to_string(),
            key,
            value,
        }]);
    }

    /// A committed Put: the value at start_ts, the write record at commit_ts.
    fn committed_put(&self, key: &[u8], start_ts: u64, commit_ts: u64, value: &[u8]) {
        self.set(CF_DEFAULT, encode_key(key, start_ts), value.to_vec());
        self.set_write(key, commit_ts, Write::new(WriteKind::Put, start_ts));
    }

    fn committed_delete(&self, key: &[u8], start_ts: u64, commit_ts: u64) {
        self.set_write(key, commit_ts, Write::new(WriteKind::Delete, start_ts));
    }

    /// A rollback record of the transaction `start_ts` (at commit_ts = start_ts).
    fn rolled_back(&self, key: &[u8], start_ts: u64) {
        self.set_write(key, start_ts, Write::new(WriteKind::Rollback, start_ts));
    }

    fn set_write(&self, key: &[u8], commit_ts: u64, write: Write) {
        self.set(CF_WRITE, encode_key(key, commit_ts), write.to_bytes());
    }

    fn set_lock(&self, key: &[u8], lock: &Lock) {
        self.set(CF_LOCK, encode_user_key(key), lock.to_bytes());
    }

    fn reader(&self) -> Box<dyn StorageReader> {
        self.storage
            .reader(&Default::default())
            .expect("take a reader")
    }

    /// TinyKV's `singleEntry`: one Put by txn 40, committed at 42.
    fn single_entry() -> Fixture {
        let fixture = Fixture::new();
        fixture.committed_put(KEY, 40, 42, &[1, 2, 3]);
        fixture
    }

    /// TinyKV's `twoEntries`: Puts by txn 40 (commit 42) and txn 50 (commit 52).
    fn two_entries() -> Fixture {
        let fixture = Fixture::single_entry();
        fixture.committed_put(KEY, 50, 52, &[255, 0, 255]);
        fixture
    }

    /// TinyKV's `deleted`: a Put by txn 40 (commit 42), a Delete by txn 50 (commit 52).
    fn deleted() -> Fixture {
        let fixture = Fixture::single_entry();
        fixture.committed_delete(KEY, 50, 52);
        fixture
    }

    fn get_value(&self, key: &[u8], ts: u64) -> Option<Vec<u8>> {
        let reader = self.reader();
        MvccTxn::new(&*reader, ts)
            .get_value(key)
            .expect("get_value")
    }

    fn scan(&self, start: &[u8], end: &[u8], ts: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
        let reader = self.reader();
        Scanner::new(&*reader, start, ts)
            .expect("start a scan")
            .with_end_key(end)
            .collect::<storage::Result<Vec<_>>>()
            .expect("scan")
    }
}

fn put(cf: &str, key: Vec<u8>, value: Vec<u8>) -> Modify {
    Modify::Put {
        cf: cf.to_string(),
        key,
        value,
    }
}

fn delete(cf: &str, key: Vec<u8>) -> Modify {
    Modify::Delete {
        cf: cf.to_string(),
        key,
    }
}

fn pair(key: &[u8], value: &[u8]) -> (Vec<u8>, Vec<u8>) {
    (key.to_vec(), value.to_vec())
}

fn sample_lock() -> Lock {
    Lock::new(vec![16], 100, 100_000, WriteKind::Rollback)
}

// --- staging writes ---

/// put_lock stages exactly one Put of the encoded lock under encode_user_key(key) in the lock CF.
#[test]
fn put_lock_stages_lock_under_encoded_key() {
    let fixture = Fixture::new();
    let reader = fixture.reader();
    let mut txn = MvccTxn::new(&*reader, 42);
    txn.put_lock(&[1], &sample_lock());
    assert_eq!(
        txn.modifies(),
        [put(
            CF_LOCK,
            encode_user_key(&[1]),
            sample_lock().to_bytes()
        )]
    );
}

/// put_write stages the write record at encode_key(key, commit_ts) in the write CF.
#[test]
fn put_write_stages_record_at_commit_ts() {
    let fixture = Fixture::new();
    let reader = fixture.reader();
    let mut txn = MvccTxn::new(&*reader, 0);
    let write = Write::new(WriteKind::Delete, 100);
    txn.put_write(KEY, 0, &write);
    assert_eq!(
        txn.modifies(),
        [put(CF_WRITE, encode_key(KEY, 0), write.to_bytes())]
    );
}

/// put_value stages the value at encode_key(key, start_ts) in the default CF.
#[test]
fn put_value_stages_value_at_start_ts() {
    let fixture = Fixture::new();
    let reader = fixture.reader();
    let mut txn = MvccTxn::new(&*reader, 453_325_345);
    txn.put_value(&[32], &[1, 1, 2, 3, 5, 8, 13]);
    assert_eq!(
        txn.into_modifies(),
        vec![put(
            CF_DEFAULT,
            encode_key(&[32], 453_325_345),
            vec![1, 1, 2, 3, 5, 8, 13]
        )]
    );
}

/// delete_lock stages one Delete of encode_user_key(key) in the lock CF.
#[test]
fn delete_lock_stages_delete_of_encoded_key() {
    let fixture = Fixture::new();
    let reader = fixture.reader();
    let mut txn = MvccTxn::new(&*reader, 42);
    txn.delete_lock(&[1]);
    assert_eq!(txn.modifies(), [delete(CF_LOCK, encode_user_key(&[1]))]);
}

/// delete_value stages one Delete of encode_key(key, start_ts) in the default CF.
#[test]
fn delete_value_stages_delete_at_start_ts() {
    let fixture = Fixture::new();
    let reader = fixture.reader();
    let mut txn = MvccTxn::new(&*reader, 63_454_245);
    txn.delete_value(&[17, 255, 0]);
    assert_eq!(
        txn.modifies(),
        [delete(CF_DEFAULT, encode_key(&[17, 255, 0], 63_454_245))]
    );
}

/// Staged writes are not visible to the transaction's own reads, only after Storage::write.
#[test]
fn staged_writes_land_with_storage_write() {
    let fixture = Fixture::new();
    let reader = fixture.reader();
    let mut txn = MvccTxn::new(&*reader, 10);
    txn.put_value(KEY, b"v");
    txn.put_write(KEY, 11, &Write::new(WriteKind::Put, 10));
    txn.put_lock(KEY, &Lock::new(KEY.to_vec(), 10, 5, WriteKind::Put));
    assert_eq!(txn.get_value(KEY).expect("get_value"), None);
    assert_eq!(txn.get_lock(KEY).expect("get_lock"), None);
    fixture.write(txn.into_modifies());
    assert_eq!(fixture.get_value(KEY, 11), Some(b"v".to_vec()));
    let reader = fixture.reader();
    let lock = MvccTxn::new(&*reader, 12).get_lock(KEY).expect("get_lock");
    assert_eq!(lock.map(|lock| lock.start_ts), Some(10));
}

// --- locks ---

/// get_lock returns the lock stored on a key, field for field.
#[test]
fn get_lock_reads_back_stored_lock() {
    let fixture = Fixture::new();
    fixture.set_lock(&[1], &sample_lock());
    let reader = fixture.reader();
    let txn = MvccTxn::new(&*reader, 42);
    assert_eq!(txn.get_lock(&[1]).expect("get_lock"), Some(sample_lock()));
    assert_eq!(txn.get_lock(&[2]).expect("get_lock"), None);
}

/// A key's lock and all its versions lie in [encode_user_key(key), key_after_all_versions(key)),
/// so a region boundary (an encoded key) never separates them, even for keys longer than 8 bytes.
#[test]
fn lock_and_versions_share_the_encoded_range() {
    let keys: [&[u8]; 4] = [b"", b"a", b"abcdefgh", b"abcdefgh\xff\xff\x00long key"];
    for key in keys {
        let low = encode_user_key(key);
        let high = key_after_all_versions(key);
        let fixture = Fixture::new();
        let reader = fixture.reader();
        let mut txn = MvccTxn::new(&*reader, 7);
        txn.put_lock(key, &sample_lock());
        txn.put_value(key, b"v");
        txn.put_write(key, 0, &Write::new(WriteKind::Put, 7));
        txn.put_write(key, u64::MAX, &Write::new(WriteKind::Put, 7));
        for modify in txn.modifies() {
            assert!(
                low.as_slice() <= modify.key() && modify.key() < high.as_slice(),
                "{modify:?} of {key:?} lies outside its encoded range"
            );
        }
    }
}

/// Lock::info names the primary, the lock's start_ts and ttl, and the blocked key.
#[test]
fn lock_info_describes_the_lock() {
    let info = sample_lock().info(&[1]);
    assert_eq!(info.primary_lock, vec![16]);
    assert_eq!(info.lock_version, 100);
    assert_eq!(info.lock_ttl, 100_000);
    assert_eq!(info.key, vec![1]);
}

// --- values visible at a timestamp ---

/// A value committed before the txn's start_ts is visible.
#[test]
fn get_value_simple() {
    let fixture = Fixture::single_entry();
    assert_eq!(fixture.get_value(KEY, 43), Some(vec![1, 2, 3]));
}

/// A key that was never written has no value.
#[test]
fn get_value_missing() {
    let fixture = Fixture::single_entry();
    assert_eq!(fixture.get_value(&[16, 241], 43), None);
}

/// A value committed after the txn's start_ts is invisible, even though its txn started earlier.
#[test]
fn get_value_too_early() {
    let fixture = Fixture::single_entry();
    assert_eq!(fixture.get_value(KEY, 41), None);
}

/// A write whose commit_ts equals the reader's ts is visible.
#[test]
fn get_value_at_exact_commit_ts() {
    let fixture = Fixture::single_entry();
    assert_eq!(fixture.get_value(KEY, 42), Some(vec![1, 2, 3]));
}

/// Of two committed versions, the newer one wins once its commit_ts has passed.
#[test]
fn get_value_overwritten() {
    let fixture = Fixture::two_entries();
    assert_eq!(fixture.get_value(KEY, 52), Some(vec![255, 0, 255]));
}

/// A txn that started before the newer version committed still sees the older one.
#[test]
fn get_value_not_overwritten() {
    let fixture = Fixture::two_entries();
    assert_eq!(fixture.get_value(KEY, 50), Some(vec![1, 2, 3]));
}

/// A committed Delete hides every older value.
#[test]
fn get_value_deleted() {
    let fixture = Fixture::deleted();
    assert_eq!(fixture.get_value(KEY, 500), None);
}

/// A Delete committed after the reader's ts does not hide the older value.
#[test]
fn get_value_not_deleted() {
    let fixture = Fixture::deleted();
    assert_eq!(fixture.get_value(KEY, 45), Some(vec![1, 2, 3]));
}

/// Rollback records are skipped: the reader looks further back to the committed value.
#[test]
fn get_value_skips_rollback_records() {
    let fixture = Fixture::single_entry();
    fixture.rolled_back(KEY, 45);
    fixture.rolled_back(KEY, 47);
    assert_eq!(fixture.get_value(KEY, 50), Some(vec![1, 2, 3]));
    let only_rollbacks = Fixture::new();
    only_rollbacks.rolled_back(KEY, 45);
    assert_eq!(only_rollbacks.get_value(KEY, 50), None);
}

/// A lock does not change what get_value returns: locks are the commands' business.
#[test]
fn get_value_ignores_locks() {
    let fixture = Fixture::single_entry();
    fixture.set_lock(KEY, &Lock::new(KEY.to_vec(), 44, 10, WriteKind::Delete));
    assert_eq!(fixture.get_value(KEY, 50), Some(vec![1, 2, 3]));
}

// --- write records ---

/// current_write finds the write of the txn's own start_ts, and nothing for another start_ts.
#[test]
fn current_write_finds_own_write() {
    let fixture = Fixture::two_entries();
    let reader = fixture.reader();
    assert_eq!(
        MvccTxn::new(&*reader, 50)
            .current_write(KEY)
            .expect("current_write"),
        Some((Write::new(WriteKind::Put, 50), 52))
    );
    assert_eq!(
        MvccTxn::new(&*reader, 40)
            .current_write(KEY)
            .expect("current_write"),
        Some((Write::new(WriteKind::Put, 40), 42))
    );
    assert_eq!(
        MvccTxn::new(&*reader, 41)
            .current_write(KEY)
            .expect("current_write"),
        None
    );
}

/// current_write finds a rollback record, which sits at commit_ts = start_ts.
#[test]
fn current_write_finds_rollback_record() {
    let fixture = Fixture::two_entries();
    fixture.rolled_back(KEY, 45);
    let reader = fixture.reader();
    assert_eq!(
        MvccTxn::new(&*reader, 45)
            .current_write(KEY)
            .expect("current_write"),
        Some((Write::new(WriteKind::Rollback, 45), 45))
    );
}

/// most_recent_write returns the newest record of the key, whatever the txn's ts.
#[test]
fn most_recent_write() {
    let empty = Fixture::new();
    let reader = empty.reader();
    assert_eq!(
        MvccTxn::new(&*reader, 50)
            .most_recent_write(KEY)
            .expect("most_recent_write"),
        None
    );

    let fixture = Fixture::two_entries();
    let reader = fixture.reader();
    for ts in [1, 50, 5000] {
        assert_eq!(
            MvccTxn::new(&*reader, ts)
                .most_recent_write(KEY)
                .expect("most_recent_write"),
            Some((Write::new(WriteKind::Put, 50), 52)),
            "txn at {ts}"
        );
    }
    assert_eq!(
        MvccTxn::new(&*reader, 50)
            .most_recent_write(&[16])
            .expect("most_recent_write"),
        None,
        "no write of another key"
    );

    let deleted = Fixture::deleted();
    let reader = deleted.reader();
    assert_eq!(
        MvccTxn::new(&*reader, 50)
            .most_recent_write(KEY)
            .expect("most_recent_write"),
        Some((Write::new(WriteKind::Delete, 50), 52))
    );
}

/// A key that is a prefix of another keeps its own versions: no read crosses between them.
#[test]
fn prefix_keys_do_not_mix_versions() {
    let fixture = Fixture::new();
    fixture.committed_put(b"a", 10, 11, b"short");
    fixture.committed_put(b"a\x00", 20, 21, b"long");
    fixture.committed_put(b"abcdefgh", 30, 31, b"eight");
    fixture.committed_put(b"abcdefgh\x00", 40, 41, b"nine");
    assert_eq!(fixture.get_value(b"a", 100), Some(b"short".to_vec()));
    assert_eq!(fixture.get_value(b"a\x00", 100), Some(b"long".to_vec()));
    assert_eq!(fixture.get_value(b"a\x00", 15), None);
    assert_eq!(fixture.get_value(b"abcdefgh", 100), Some(b"eight".to_vec()));
    assert_eq!(fixture.get_value(b"abcdefgh", 35), Some(b"eight".to_vec()));
    let reader = fixture.reader();
    assert_eq!(
        MvccTxn::new(&*reader, 0)
            .most_recent_write(b"a")
            .expect("most_recent_write"),
        Some((Write::new(WriteKind::Put, 10), 11))
    );
    assert_eq!(
        MvccTxn::new(&*reader, 40)
            .current_write(b"abcdefgh")
            .expect("current_write"),
        None
    );
}

// --- the scanner ---

/// Three keys with several versions each: the scanner yields each key once, its newest value at ts.
#[test]
fn scanner_yields_newest_visible_version_once() {
    let fixture = Fixture::new();
    fixture.committed_put(b"a", 1, 2, b"a1");
    fixture.committed_put(b"a", 3, 4, b"a3");
    fixture.committed_put(b"b", 1, 2, b"b1");
    fixture.committed_put(b"c", 5, 6, b"c5");
    fixture.committed_put(b"c", 7, 8, b"c7");
    assert_eq!(
        fixture.scan(b"", b"", 10),
        vec![pair(b"a", b"a3"), pair(b"b", b"b1"), pair(b"c", b"c7")]
    );
    assert_eq!(
        fixture.scan(b"", b"", 5),
        vec![pair(b"a", b"a3"), pair(b"b", b"b1")]
    );
    assert_eq!(
        fixture.scan(b"", b"", 3),
        vec![pair(b"a", b"a1"), pair(b"b", b"b1")]
    );
    assert_eq!(fixture.scan(b"", b"", 1), vec![]);
}

/// Deleted keys are skipped, but a scan before the delete still sees them.
#[test]
fn scanner_skips_deleted_keys() {
    let fixture = Fixture::new();
    fixture.committed_put(b"a", 1, 2, b"a1");
    fixture.committed_put(b"b", 1, 2, b"b1");
    fixture.committed_delete(b"b", 3, 4);
    fixture.committed_put(b"c", 1, 2, b"c1");
    assert_eq!(
        fixture.scan(b"", b"", 10),
        vec![pair(b"a", b"a1"), pair(b"c", b"c1")]
    );
    assert_eq!(
        fixture.scan(b"", b"", 3),
        vec![pair(b"a", b"a1"), pair(b"b", b"b1"), pair(b"c", b"c1")]
    );
}

/// Rollback records are stepped over to the committed version below them.
#[test]
fn scanner_skips_rollback_records() {
    let fixture = Fixture::new();
    fixture.committed_put(b"a", 1, 2, b"a1");
    fixture.rolled_back(b"a", 5);
    fixture.rolled_back(b"a", 6);
    fixture.rolled_back(b"b", 5);
    fixture.committed_put(b"c", 1, 2, b"c1");
    assert_eq!(
        fixture.scan(b"", b"", 10),
        vec![pair(b"a", b"a1"), pair(b"c", b"c1")]
    );
}

/// The scanner ignores locks: a locked key shows its last committed value, a key only locked does not show.
#[test]
fn scanner_leaves_locks_to_the_caller() {
    let fixture = Fixture::new();
    fixture.committed_put(b"a", 1, 2, b"a1");
    fixture.set_lock(b"a", &Lock::new(b"a".to_vec(), 5, 10, WriteKind::Put));
    fixture.set(CF_DEFAULT, encode_key(b"a", 5), b"a5-uncommitted".to_vec());
    fixture.set_lock(b"b", &Lock::new(b"a".to_vec(), 5, 10, WriteKind::Put));
    fixture.set(CF_DEFAULT, encode_key(b"b", 5), b"b5-uncommitted".to_vec());
    assert_eq!(fixture.scan(b"", b"", 10), vec![pair(b"a", b"a1")]);
}

/// The start key is inclusive and the end key exclusive; an empty end key means no bound.
#[test]
fn scanner_respects_bounds() {
    let fixture = Fixture::new();
    for key in [&b"a"[..], b"b", b"c", b"d"] {
        fixture.committed_put(key, 1, 2, key);
    }
    assert_eq!(
        fixture.scan(b"b", b"d", 10),
        vec![pair(b"b", b"b"), pair(b"c", b"c")]
    );
    assert_eq!(
        fixture.scan(b"bb", b"", 10),
        vec![pair(b"c", b"c"), pair(b"d", b"d")]
    );
    assert_eq!(fixture.scan(b"e", b"", 10), vec![]);
    assert_eq!(fixture.scan(b"b", b"b", 10), vec![]);
}

/// A start key whose newest versions are too new still yields its visible older version.
#[test]
fn scanner_start_key_with_newer_versions() {
    let fixture = Fixture::new();
    fixture.committed_put(b"b", 1, 2, b"old");
    fixture.committed_put(b"b", 8, 9, b"new");
    assert_eq!(fixture.scan(b"b", b"", 5), vec![pair(b"b", b"old")]);
}

/// Keys that are prefixes of each other come out in user-key order, each with its own value.
#[test]
fn scanner_orders_prefix_keys() {
    let fixture = Fixture::new();
    let keys: [&[u8]; 6] = [b"", b"\x00", b"a", b"a\x00", b"abcdefgh", b"abcdefgh\x00"];
    // Written in reverse order, each with a newer and an older version.
    for (index, key) in keys.iter().enumerate().rev() {
        let ts = 10 * index as u64 + 1;
        fixture.committed_put(key, ts, ts + 1, b"old");
        fixture.committed_put(key, ts + 2, ts + 3, key);
    }
    let expected: Vec<_> = keys.iter().map(|key| pair(key, key)).collect();
    assert_eq!(fixture.scan(b"", b"", 1000), expected);
}

/// A limit is `take(n)`: the scan stops after n pairs, mid-way through the keys.
#[test]
fn scanner_limit_with_take() {
    let fixture = Fixture::new();
    for key in [&b"a"[..], b"b", b"c", b"d"] {
        fixture.committed_put(key, 1, 2, key);
    }
    let reader = fixture.reader();
    let first_two: Vec<_> = Scanner::new(&*reader, b"", 10)
        .expect("start a scan")
        .take(2)
        .collect::<storage::Result<_>>()
        .expect("scan");
    assert_eq!(first_two, vec![pair(b"a", b"a"), pair(b"b", b"b")]);
}

/// A reader that counts how often its write-CF iterators move, to check that
/// reads seek over old versions instead of stepping through them.
struct CountingReader {
    inner: Box<dyn StorageReader>,
    steps: Arc<AtomicUsize>,
}

struct CountingIterator<'a> {
    inner: Box<dyn KvIterator + 'a>,
    steps: Arc<AtomicUsize>,
}

impl StorageReader for CountingReader {
    fn get_cf(&self, cf: &str, key: &[u8]) -> storage::Result<Option<Vec<u8>>> {
        self.inner.get_cf(cf, key)
    }

    fn iter_cf(&self, cf: &str) -> storage::Result<Box<dyn KvIterator + '_>> {
        Ok(Box::new(CountingIterator {
            inner: self.inner.iter_cf(cf)?,
            steps: self.steps.clone(),
        }))
    }
}

impl KvIterator for CountingIterator<'_> {
    fn seek(&mut self, key: &[u8]) {
        self.steps.fetch_add(1, Ordering::Relaxed);
        self.inner.seek(key)
    }
    fn valid(&self) -> storage::Result<bool> {
        self.inner.valid()
    }
    fn key(&self) -> &[u8] {
        self.inner.key()
    }
    fn value(&self) -> &[u8] {
        self.inner.value()
    }
    fn next(&mut self) {
        self.steps.fetch_add(1, Ordering::Relaxed);
        self.inner.next()
    }
}

/// Scanning and reading keys with 200 versions each costs a few seeks per key, not one step per version.
#[test]
fn reads_seek_over_old_versions() {
    let fixture = Fixture::new();
    let mut batch = Vec::new();
    for key in [&b"a"[..], b"b", b"c"] {
        for version in 0..200u64 {
            let start_ts = 10 * version + 1;
            batch.push(put(
                CF_DEFAULT,
                encode_key(key, start_ts),
                version.to_string().into_bytes(),
            ));
            batch.push(put(
                CF_WRITE,
                encode_key(key, start_ts + 1),
                Write::new(WriteKind::Put, start_ts).to_bytes(),
            ));
        }
    }
    fixture.write(batch);
    let steps = Arc::new(AtomicUsize::new(0));
    let reader = CountingReader {
        inner: fixture.reader(),
        steps: steps.clone(),
    };

    // In the middle of the history: versions newer and older than ts.
    let pairs: Vec<_> = Scanner::new(&reader, b"", 1000)
        .expect("start a scan")
        .collect::<storage::Result<_>>()
        .expect("scan");
    assert_eq!(
        pairs,
        vec![pair(b"a", b"99"), pair(b"b", b"99"), pair(b"c", b"99")]
    );
    assert!(
        steps.load(Ordering::Relaxed) <= 10,
        "the scan moved its cursor {} times over 600 versions",
        steps.load(Ordering::Relaxed)
    );

    steps.store(0, Ordering::Relaxed);
    let txn = MvccTxn::new(&reader, 1000);
    assert_eq!(
        txn.get_value(b"b").expect("get_value"),
        Some(b"99".to_vec())
    );
    assert_eq!(steps.load(Ordering::Relaxed), 1, "get_value needs one seek");
}

// --- bad data on disk ---

/// A malformed lock record is a typed MalformedLock error, not a panic.
#[test]
fn malformed_lock_on_disk_is_typed_error() {
    let fixture = Fixture::new();
    fixture.set(CF_LOCK, encode_user_key(KEY), vec![1, 2, 3]);
    fixture.set(CF_LOCK, encode_user_key(b"k"), vec![0x42; 17]);
    let reader = fixture.reader();
    let txn = MvccTxn::new(&*reader, 10);
    assert!(matches!(
        txn.get_lock(KEY),
        Err(storage::Error::Mvcc(mvcc::Error::MalformedLock {
            defect: mvcc::Defect::Truncated(_),
            ..
        }))
    ));
    assert!(matches!(
        txn.get_lock(b"k"),
        Err(storage::Error::Mvcc(mvcc::Error::MalformedLock {
            defect: mvcc::Defect::UnknownKind(0x42),
            ..
        }))
    ));
}

/// A malformed write record is a typed MalformedWrite error from every reader of it.
#[test]
fn malformed_write_on_disk_is_typed_error() {
    let fixture = Fixture::new();
    fixture.set(CF_WRITE, encode_key(KEY, 5), vec![1, 0, 0]);
    let reader = fixture.reader();
    let txn = MvccTxn::new(&*reader, 10);
    let is_malformed_write = |result: &storage::Result<_>| {
        matches!(
            result,
            Err(storage::Error::Mvcc(mvcc::Error::MalformedWrite { .. }))
        )
    };
    assert!(is_malformed_write(&txn.get_value(KEY).map(|_| ())));
    assert!(is_malformed_write(&txn.most_recent_write(KEY).map(|_| ())));
    // current_write looks at records committed at or after its start_ts.
    let at_start = MvccTxn::new(&*reader, 5);
    assert!(is_malformed_write(&at_start.current_write(KEY).map(|_| ())));
    let mut scan = Scanner::new(&*reader, b"", 10).expect("start a scan");
    assert!(is_malformed_write(
        &scan.next().expect("an error").map(|_| ())
    ));
    assert!(scan.next().is_none(), "an error ends the scan");
}

/// A write CF key that is not an MVCC key is a typed MalformedKey error.
#[test]
fn malformed_key_on_disk_is_typed_error() {
    let fixture = Fixture::new();
    let record = Write::new(WriteKind::Put, 1).to_bytes();
    // A version of KEY with a byte too many, where get_value's seek lands.
    let mut too_long = encode_key(KEY, 5);
    too_long.push(0);
    fixture.set(CF_WRITE, too_long, record.clone());
    let reader = fixture.reader();
    assert!(matches!(
        MvccTxn::new(&*reader, 10).get_value(KEY),
        Err(storage::Error::Mvcc(mvcc::Error::MalformedKey {
            defect: mvcc::Defect::TrailingBytes(1),
            ..
        }))
    ));

    // A raw key where an MVCC key belongs: 9 bytes, the last no marker.
    let fixture = Fixture::new();
    fixture.set(CF_WRITE, vec![16, 240, 0, 0, 0, 0, 0, 0, 0x01], record);
    let reader = fixture.reader();
    let mut scan = Scanner::new(&*reader, b"", 10).expect("start a scan");
    assert!(matches!(
        scan.next(),
        Some(Err(storage::Error::Mvcc(mvcc::Error::MalformedKey {
            defect: mvcc::Defect::BadMarker(0x01),
            ..
        })))
    ));
}

/// A Put record whose value is missing from the default CF is a MissingValue error.
#[test]
fn put_without_value_is_missing_value_error() {
    let fixture = Fixture::new();
    fixture.set_write(KEY, 12, Write::new(WriteKind::Put, 11));
    let reader = fixture.reader();
    assert!(matches!(
        MvccTxn::new(&*reader, 20).get_value(KEY),
        Err(storage::Error::Mvcc(mvcc::Error::MissingValue {
            start_ts: 11,
            ..
        }))
    ));
}
