//! Lab 4B: KvGet, KvPrewrite and KvCommit (`server/src/txn/`).
//!
//! Each test lays records out on a fresh `StandaloneStorage` (lock, write
//! and default CFs, straight through `Storage::write`), sends requests to
//! the `Server` exactly as a client would, and checks the responses and
//! every record afterwards. The scenarios are TinyKV's commands4b_test.go,
//! with two rules of tinykv-rs that differ from TinyKV (a prewrite without
//! mutations and a commit without a lock are errors, not successes) and
//! the bad input of the issue (commit_ts before start_ts, unknown ops,
//! malformed records).

use proto::kvrpcpb::Op;
use protobuf::EnumOrUnknown;
use storage::mvcc::{encode_user_key, Lock, Write, WriteKind, TS_MAX};
use storage::CF_LOCK;

use crate::txn_support::{assert_no_error, del, expect_error, mutation, put, TxnFixture};

/// The start timestamp of the transaction under test.
const START: u64 = 100;
/// Its commit timestamp.
const COMMIT: u64 = 110;
/// The primary key most tests use.
const PRIMARY: &[u8] = &[1];

/// TinyKV's single committed value: key [99] = [42] by txn 50, committed at 54.
fn one_value() -> TxnFixture {
    let fixture = TxnFixture::new();
    fixture.committed_put(&[99], 50, 54, &[42]);
    fixture
}

/// Checks what KvGet of `key` answers at each version: the one-byte value, or not_found.
fn assert_reads(fixture: &TxnFixture, key: &[u8], expected: &[(u64, Option<u8>)]) {
    for &(version, value) in expected {
        let response = fixture.kv_get(key, version);
        assert_no_error(&response.region_error, &response.error);
        match value {
            Some(value) => assert_eq!(response.value, [value], "at {version}"),
            None => assert!(response.not_found, "at {version}"),
        }
    }
}

// --- KvGet ---

/// A committed value is visible at the largest timestamp.
#[test]
fn get_value() {
    let fixture = one_value();
    let response = fixture.kv_get(&[99], TS_MAX);
    assert_no_error(&response.region_error, &response.error);
    assert_eq!(response.value, [42]);
    assert!(!response.not_found);
}

/// Repeated gets at one timestamp give the same value (reads change nothing).
#[test]
fn get_value_ts() {
    let fixture = one_value();
    for _ in 0..3 {
        let response = fixture.kv_get(&[99], 100);
        assert_no_error(&response.region_error, &response.error);
        assert_eq!(response.value, [42]);
    }
    assert_eq!(fixture.lens(), [1, 0, 1]);
}

/// A get on an empty store is not_found, not an error.
#[test]
fn get_empty() {
    let fixture = TxnFixture::new();
    let response = fixture.kv_get(&[100], TS_MAX);
    assert_no_error(&response.region_error, &response.error);
    assert!(response.not_found);
}

/// A key between two written keys is not_found.
#[test]
fn get_none() {
    let fixture = one_value();
    fixture.committed_put(&[101], 50, 54, &[42]);
    let response = fixture.kv_get(&[100], TS_MAX);
    assert_no_error(&response.region_error, &response.error);
    assert!(response.not_found);
}

/// With several versions, a get sees the newest one committed at or before its version.
#[test]
fn get_versions() {
    let fixture = one_value();
    fixture.committed_put(&[99], 60, 66, &[43]);
    fixture.committed_put(&[99], 120, 122, &[44]);
    assert_reads(
        &fixture,
        &[99],
        &[
            (40, None),
            (56, Some(42)),
            (60, Some(42)),
            (65, Some(42)),
            (66, Some(43)),
            (100, Some(43)),
            (122, Some(44)),
        ],
    );
}

/// A delete hides the key from its commit_ts until a later put.
#[test]
fn get_deleted() {
    let fixture = one_value();
    fixture.write_record(&[99], 66, WriteKind::Delete, 60);
    fixture.committed_put(&[99], 120, 122, &[44]);
    assert_reads(
        &fixture,
        &[99],
        &[
            (54, Some(42)),
            (65, Some(42)),
            (66, None),
            (67, None),
            (121, None),
            (122, Some(44)),
        ],
    );
}

/// A lock that started after the read does not block it; one at or before it is a locked KeyError.
#[test]
fn get_locked() {
    let fixture = one_value();
    fixture.lock(&[99], &[99], 200, 0, WriteKind::Put);
    let before = fixture.kv_get(&[99], 55);
    assert_no_error(&before.region_error, &before.error);
    assert_eq!(before.value, [42]);

    for version in [200, 300] {
        let response = fixture.kv_get(&[99], version);
        assert!(response.region_error.is_none());
        let lock_info = expect_error(&response.error)
            .locked
            .as_ref()
            .expect("a locked error");
        assert_eq!(lock_info.key, [99]);
        assert_eq!(lock_info.primary_lock, [99]);
        assert_eq!(lock_info.lock_version, 200);
        assert!(response.value.is_empty());
    }
}

/// A malformed lock record on disk is a KeyError in the response, not a panic.
#[test]
fn get_with_malformed_lock_is_key_error() {
    let fixture = one_value();
    fixture.raw(CF_LOCK, encode_user_key(&[99]), vec![1, 2, 3]);
    let response = fixture.kv_get(&[99], 100);
    assert!(response.region_error.is_none());
    let error = expect_error(&response.error);
    assert!(error.abort.contains("malformed lock"), "{error:?}");
}

// --- KvPrewrite ---

/// A prewrite without mutations is refused with a KeyError and writes nothing.
#[test]
fn empty_prewrite() {
    let fixture = TxnFixture::new();
    let response = fixture.kv_prewrite(vec![], PRIMARY, START, 0);
    assert!(response.region_error.is_none());
    assert_eq!(response.errors.len(), 1);
    assert!(!response.errors[0].abort.is_empty());
    assert_eq!(fixture.lens(), [0, 0, 0]);
}

/// A prewrite of one Put stores the value at start_ts and a lock naming primary, start_ts, ttl and kind.
#[test]
fn single_prewrite() {
    let fixture = TxnFixture::new();
    let response = fixture.kv_prewrite(vec![put(&[3], &[42])], PRIMARY, START, 1000);
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    assert!(response.region_error.is_none());
    assert_eq!(fixture.lens(), [1, 1, 0]);
    assert_eq!(fixture.value_at(&[3], START), Some(vec![42]));
    assert_eq!(
        fixture.lock_on(&[3]),
        Some(Lock::new(PRIMARY.to_vec(), START, 1000, WriteKind::Put))
    );
}

/// A second transaction prewriting a locked key gets a locked KeyError; the first keeps its lock.
#[test]
fn prewrite_locked() {
    let fixture = TxnFixture::new();
    let first = fixture.kv_prewrite(vec![put(&[3], &[42])], PRIMARY, START, 0);
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    let second = fixture.kv_prewrite(vec![put(&[3], &[53])], PRIMARY, START + 1, 0);
    assert!(second.region_error.is_none());
    assert_eq!(second.errors.len(), 1);
    let lock_info = second.errors[0].locked.as_ref().expect("a locked error");
    assert_eq!(lock_info.lock_version, START);
    assert_eq!(lock_info.key, [3]);
    assert_eq!(fixture.lens(), [1, 1, 0]);
    assert_eq!(fixture.value_at(&[3], START), Some(vec![42]));
    assert_eq!(fixture.lock_on(&[3]).map(|lock| lock.start_ts), Some(START));
}

/// A write committed after the prewrite's start_ts is a write conflict; nothing is written.
#[test]
fn prewrite_written() {
    let fixture = TxnFixture::new();
    fixture.committed_put(&[3], 80, 101, &[5]);
    let before = fixture.dump();
    let response = fixture.kv_prewrite(vec![put(&[3], &[42])], PRIMARY, START, 0);
    assert!(response.region_error.is_none());
    assert_eq!(response.errors.len(), 1);
    let conflict = response.errors[0]
        .conflict
        .as_ref()
        .expect("a write conflict");
    assert_eq!(conflict.start_ts, START);
    assert_eq!(conflict.conflict_ts, 101);
    assert_eq!(conflict.key, [3]);
    assert_eq!(conflict.primary, PRIMARY);
    assert_eq!(fixture.dump(), before);
}

/// A write committed before the prewrite's start_ts is no conflict.
#[test]
fn prewrite_written_no_conflict() {
    let fixture = TxnFixture::new();
    fixture.committed_put(&[3], 80, 90, &[5]);
    let response = fixture.kv_prewrite(vec![put(&[3], &[42])], PRIMARY, START, 0);
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    assert!(response.region_error.is_none());
    assert_eq!(fixture.lens(), [2, 1, 1]);
    assert_eq!(fixture.value_at(&[3], 80), Some(vec![5]));
    assert_eq!(fixture.value_at(&[3], START), Some(vec![42]));
    assert_eq!(fixture.lock_on(&[3]).map(|lock| lock.start_ts), Some(START));
}

/// Two transactions prewriting different keys both succeed.
#[test]
fn multiple_prewrites() {
    let fixture = TxnFixture::new();
    let first = fixture.kv_prewrite(vec![put(&[3], &[42])], PRIMARY, START, 0);
    let second = fixture.kv_prewrite(vec![put(&[4], &[53])], PRIMARY, START + 1, 0);
    assert!(first.errors.is_empty() && second.errors.is_empty());
    assert_eq!(fixture.lens(), [2, 2, 0]);
    assert_eq!(fixture.value_at(&[3], START), Some(vec![42]));
    assert_eq!(fixture.value_at(&[4], START + 1), Some(vec![53]));
    assert_eq!(
        fixture.lock_on(&[4]).map(|lock| lock.start_ts),
        Some(START + 1)
    );
}

/// Two mutations of one key in one prewrite: the later wins.
#[test]
fn prewrite_overwrite() {
    let fixture = TxnFixture::new();
    let response = fixture.kv_prewrite(vec![put(&[3], &[42]), put(&[3], &[45])], PRIMARY, START, 0);
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    assert_eq!(fixture.lens(), [1, 1, 0]);
    assert_eq!(fixture.value_at(&[3], START), Some(vec![45]));
}

/// A prewrite of many mutations (a key put, deleted and put again) leaves one lock and value per key.
#[test]
fn prewrite_multiple() {
    let fixture = TxnFixture::new();
    let response = fixture.kv_prewrite(
        vec![
            put(&[3], &[42]),
            put(&[4], &[43]),
            put(&[5], &[44]),
            del(&[4]),
            put(&[4], &[1, 3, 5]),
            put(&[255], &[45]),
        ],
        PRIMARY,
        START,
        0,
    );
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    assert_eq!(fixture.lens(), [4, 4, 0]);
    assert_eq!(fixture.value_at(&[4], START), Some(vec![1, 3, 5]));
}

/// A Del mutation locks the key with kind Delete and stores no value.
#[test]
fn prewrite_delete() {
    let fixture = TxnFixture::new();
    fixture.committed_put(&[3], 80, 90, &[5]);
    let response = fixture.kv_prewrite(vec![del(&[3])], PRIMARY, START, 0);
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    assert_eq!(fixture.lens(), [1, 1, 1]);
    assert_eq!(
        fixture.lock_on(&[3]).map(|lock| lock.kind),
        Some(WriteKind::Delete)
    );
    assert_eq!(fixture.value_at(&[3], START), None);
}

/// The same prewrite sent twice (a retry) succeeds both times and leaves one lock.
#[test]
fn prewrite_retry_is_idempotent() {
    let fixture = TxnFixture::new();
    let mutations = vec![put(&[3], &[42]), put(&[4], &[43])];
    let first = fixture.kv_prewrite(mutations.clone(), PRIMARY, START, 10);
    let after_first = fixture.dump();
    let second = fixture.kv_prewrite(mutations, PRIMARY, START, 10);
    assert!(first.errors.is_empty() && second.errors.is_empty());
    assert_eq!(fixture.dump(), after_first);
}

/// A prewrite arriving after its transaction was rolled back on the key conflicts with the rollback record.
#[test]
fn prewrite_after_rollback_conflicts() {
    let fixture = TxnFixture::new();
    fixture.rolled_back(&[3], START);
    let response = fixture.kv_prewrite(vec![put(&[3], &[42])], PRIMARY, START, 0);
    assert_eq!(response.errors.len(), 1);
    assert!(
        response.errors[0].conflict.is_some(),
        "{:?}",
        response.errors
    );
    assert_eq!(fixture.lens(), [0, 0, 1]);
}

/// A prewrite reports every key in the way (locked, conflicting) and writes nothing, not even its free keys.
#[test]
fn prewrite_reports_every_blocked_key_and_writes_nothing() {
    let fixture = TxnFixture::new();
    fixture.prewritten_put(&[3], &[3], 90, &[1]);
    fixture.committed_put(&[4], 80, 105, &[2]);
    let before = fixture.dump();
    let response = fixture.kv_prewrite(
        vec![put(&[3], &[42]), put(&[4], &[43]), put(&[5], &[44])],
        PRIMARY,
        START,
        0,
    );
    assert_eq!(response.errors.len(), 2, "{:?}", response.errors);
    assert!(response.errors.iter().any(|error| error.locked.is_some()));
    assert!(response.errors.iter().any(|error| error.conflict.is_some()));
    assert_eq!(fixture.dump(), before);
}

/// A mutation with an op number the protocol does not define is a KeyError; nothing is written.
#[test]
fn prewrite_unknown_op() {
    let fixture = TxnFixture::new();
    let mut bad = put(&[4], &[43]);
    bad.op = EnumOrUnknown::from_i32(42);
    let response = fixture.kv_prewrite(vec![put(&[3], &[42]), bad], PRIMARY, START, 0);
    assert!(response.region_error.is_none());
    assert_eq!(response.errors.len(), 1);
    assert!(
        response.errors[0].abort.contains("unknown operation"),
        "{:?}",
        response.errors
    );
    assert_eq!(fixture.lens(), [0, 0, 0]);
}

/// Lock and Rollback ops cannot be prewritten (no write kind in tinykv-rs): a KeyError, nothing written.
#[test]
fn prewrite_lock_and_rollback_ops_are_refused() {
    let fixture = TxnFixture::new();
    for op in [Op::Lock, Op::Rollback] {
        let response = fixture.kv_prewrite(vec![mutation(op, &[3], &[])], PRIMARY, START, 0);
        assert_eq!(response.errors.len(), 1, "{op:?}");
        assert!(!response.errors[0].abort.is_empty(), "{op:?}");
    }
    assert_eq!(fixture.lens(), [0, 0, 0]);
}

// --- KvCommit ---

/// A commit of no keys succeeds and writes nothing.
#[test]
fn empty_commit() {
    let fixture = TxnFixture::new();
    let response = fixture.kv_commit(&[], START, COMMIT);
    assert_no_error(&response.region_error, &response.error);
    assert_eq!(fixture.lens(), [0, 0, 0]);
}

/// Committing one key: a Put record at commit_ts pointing at start_ts replaces the lock; the value stays.
#[test]
fn single_commit() {
    let fixture = TxnFixture::new();
    fixture.prewritten_put(&[3], &[3], START, &[42]);
    let response = fixture.kv_commit(&[&[3]], START, COMMIT);
    assert_no_error(&response.region_error, &response.error);
    assert_eq!(fixture.lens(), [1, 0, 1]);
    assert_eq!(
        fixture.write_at(&[3], COMMIT),
        Some(Write::new(WriteKind::Put, START))
    );
    assert_eq!(fixture.value_at(&[3], START), Some(vec![42]));
}

/// Committing over an older committed version keeps both versions.
#[test]
fn commit_overwrite() {
    let fixture = TxnFixture::new();
    fixture.committed_put(&[3], 80, 84, &[15]);
    fixture.prewritten_put(&[3], &[3], START, &[42]);
    let response = fixture.kv_commit(&[&[3]], START, COMMIT);
    assert_no_error(&response.region_error, &response.error);
    assert_eq!(fixture.lens(), [2, 0, 2]);
    assert_eq!(
        fixture.write_at(&[3], COMMIT),
        Some(Write::new(WriteKind::Put, START))
    );
    assert_eq!(fixture.kv_get(&[3], 100).value, [15]);
    assert_eq!(fixture.kv_get(&[3], COMMIT).value, [42]);
}

/// Committing several keys commits exactly those; other committed data and other txns' locks stay.
#[test]
fn commit_multiple_keys() {
    let fixture = TxnFixture::new();
    fixture.prewritten_put(&[3], &[3], START, &[42]);
    fixture.prewritten_put(&[12, 4, 0], &[3], START, &[1, 1, 0, 0, 1, 5]);
    fixture.prewritten_put(&[15], &[3], START, &[0]);
    fixture.committed_put(&[4], 80, 84, &[15]);
    fixture.committed_put(&[3, 0], 80, 84, &[150]);
    fixture.prewritten_put(&[2], &[2], 99, &[0, 0, 0, 8]);
    fixture.prewritten_put(&[43, 6], &[2], 99, &[1, 1, 0, 0, 1, 5]);
    let response = fixture.kv_commit(&[&[3], &[12, 4, 0], &[15]], START, COMMIT);
    assert_no_error(&response.region_error, &response.error);
    assert_eq!(fixture.lens(), [7, 2, 5]);
    for key in [&[3][..], &[12, 4, 0], &[15]] {
        assert_eq!(
            fixture.write_at(key, COMMIT),
            Some(Write::new(WriteKind::Put, START))
        );
        assert_eq!(fixture.lock_on(key), None);
    }
    assert_eq!(fixture.lock_on(&[2]).map(|lock| lock.start_ts), Some(99));
    assert_eq!(
        fixture.lock_on(&[43, 6]).map(|lock| lock.start_ts),
        Some(99)
    );
}

/// A key named twice in one commit is committed once.
#[test]
fn recommit_key() {
    let fixture = TxnFixture::new();
    fixture.prewritten_put(&[3], &[3], START, &[42]);
    let response = fixture.kv_commit(&[&[3], &[3]], START, COMMIT);
    assert_no_error(&response.region_error, &response.error);
    assert_eq!(fixture.lens(), [1, 0, 1]);
}

/// Committing a rolled-back transaction is a KeyError (abort); nothing changes.
#[test]
fn commit_conflict_rollback() {
    let fixture = TxnFixture::new();
    fixture.rolled_back(&[3], START);
    let before = fixture.dump();
    let response = fixture.kv_commit(&[&[3]], START, COMMIT);
    assert!(response.region_error.is_none());
    assert!(!expect_error(&response.error).abort.is_empty());
    assert_eq!(fixture.dump(), before);
}

/// A key locked by another transaction is a retryable KeyError; its lock and value stay.
#[test]
fn commit_conflict_race() {
    let fixture = TxnFixture::new();
    fixture.prewritten_put(&[3], &[3], 90, &[110]);
    let before = fixture.dump();
    let response = fixture.kv_commit(&[&[3]], START, COMMIT);
    assert!(response.region_error.is_none());
    assert!(!expect_error(&response.error).retryable.is_empty());
    assert_eq!(fixture.dump(), before);
}

/// A commit received twice succeeds twice; the second changes nothing.
#[test]
fn commit_conflict_repeat() {
    let fixture = TxnFixture::new();
    fixture.value(&[3], START, &[42]);
    fixture.write_record(&[3], COMMIT, WriteKind::Put, START);
    let before = fixture.dump();
    let response = fixture.kv_commit(&[&[3]], START, COMMIT);
    assert_no_error(&response.region_error, &response.error);
    assert_eq!(fixture.dump(), before);
}

/// A commit of a key that was never prewritten is a KeyError (lock not found), not a silent success.
#[test]
fn commit_missing_prewrite() {
    let fixture = TxnFixture::new();
    fixture.committed_put(&[4], 80, 84, &[15]);
    fixture.committed_put(&[3, 0], 80, 84, &[150]);
    let before = fixture.dump();
    let response = fixture.kv_commit(&[&[3]], START, COMMIT);
    assert!(response.region_error.is_none());
    assert!(expect_error(&response.error)
        .abort
        .contains("lock not found"));
    assert_eq!(fixture.dump(), before);
}

/// A commit_ts before (or at) the start_ts is a KeyError; the lock stays.
#[test]
fn commit_ts_not_after_start_ts() {
    let fixture = TxnFixture::new();
    fixture.prewritten_put(&[3], &[3], START, &[42]);
    let before = fixture.dump();
    for commit_ts in [START - 1, START] {
        let response = fixture.kv_commit(&[&[3]], START, commit_ts);
        assert!(response.region_error.is_none());
        assert!(!expect_error(&response.error).abort.is_empty());
    }
    assert_eq!(fixture.dump(), before);
}

/// One key of the commit in the way (another txn's lock) means no key is committed.
#[test]
fn commit_is_all_or_nothing() {
    let fixture = TxnFixture::new();
    fixture.prewritten_put(&[3], &[3], START, &[42]);
    fixture.prewritten_put(&[4], &[4], 90, &[43]);
    let before = fixture.dump();
    let response = fixture.kv_commit(&[&[3], &[4]], START, COMMIT);
    assert!(response.error.is_some());
    assert_eq!(fixture.dump(), before);
}

/// Prewrite then commit through the API: readers before commit_ts see the old state, after it the new one.
#[test]
fn prewrite_commit_get_round_trip() {
    let fixture = TxnFixture::new();
    fixture.committed_put(&[4], 50, 60, &[9]);
    let prewrite = fixture.kv_prewrite(vec![put(&[3], &[42]), del(&[4])], &[3], START, 100);
    assert!(prewrite.errors.is_empty(), "{:?}", prewrite.errors);
    let blocked = fixture.kv_get(&[3], COMMIT);
    assert!(expect_error(&blocked.error).locked.is_some());
    let commit = fixture.kv_commit(&[&[3], &[4]], START, COMMIT);
    assert_no_error(&commit.region_error, &commit.error);
    assert!(fixture.kv_get(&[3], COMMIT - 1).not_found);
    assert_eq!(fixture.kv_get(&[4], COMMIT - 1).value, [9]);
    assert_eq!(fixture.kv_get(&[3], COMMIT).value, [42]);
    assert!(fixture.kv_get(&[4], COMMIT).not_found);
    assert_eq!(fixture.lens(), [2, 0, 3]);
}
