//! Lab 4C: KvScan, KvCheckTxnStatus, KvBatchRollback, KvResolveLock, and
//! the latches (`server/src/txn/`).
//!
//! Like lab4b: records laid out on a fresh `StandaloneStorage`, requests
//! sent to the `Server`, responses and records checked. The scenarios are
//! TinyKV's commands4c_test.go, plus locks in scans, TTLs measured in
//! physical time, rollbacks next to other transactions' locks, and
//! concurrent prewrites that only the latches keep apart.

use std::sync::{Arc, Barrier};
use std::thread;

use proto::kvrpcpb::Action;
use storage::mvcc::{compose_ts, Write, WriteKind};

use crate::txn_support::{assert_no_error, expect_error, put, TxnFixture};

/// The same commands on the replicated store, under faults (`lab4c::cluster::*`).
mod cluster;

/// The start timestamp of the transaction under test.
const START: u64 = 100;
/// A commit timestamp after it.
const COMMIT: u64 = 120;

/// TinyKV's `builderForScan`: eleven keys committed before 100, four after
/// it, four started before 100 and committed after, and key [150] put,
/// deleted and put again.
fn scan_fixture() -> TxnFixture {
    let fixture = TxnFixture::new();
    let before: [(&[u8], u8); 11] = [
        (&[1], 50),
        (&[1, 23], 55),
        (&[3], 51),
        (&[3, 45], 56),
        (&[3, 46], 57),
        (&[3, 47], 58),
        (&[3, 48], 59),
        (&[4], 52),
        (&[120], 53),
        (&[199], 54),
        (&[150], 42),
    ];
    for (key, value) in before {
        fixture.committed_put(key, 80, 99, &[value]);
    }
    for (key, value) in [
        (&[4, 45][..], 58),
        (&[4, 46], 57),
        (&[4, 47], 58),
        (&[4, 48], 59),
    ] {
        fixture.committed_put(key, 110, 116, &[value]);
    }
    for (key, value) in [
        (&[5, 45][..], 60),
        (&[5, 46], 61),
        (&[5, 47], 62),
        (&[5, 48], 63),
    ] {
        fixture.committed_put(key, 97, 101, &[value]);
    }
    fixture.write_record(&[150], 101, WriteKind::Delete, 97);
    fixture.committed_put(&[150], 110, 116, &[64]);
    fixture
}

/// The keys of a scan's entries.
fn keys(pairs: &[proto::kvrpcpb::KvPair]) -> Vec<Vec<u8>> {
    pairs.iter().map(|pair| pair.key.clone()).collect()
}

// --- KvScan ---

/// A scan starting after the last key returns nothing.
#[test]
fn scan_empty() {
    let fixture = scan_fixture();
    let response = fixture.kv_scan(&[200], 10_000, 100);
    assert_no_error(&response.region_error, &response.error);
    assert!(response.pairs.is_empty());
}

/// A scan with limit 0 returns nothing.
#[test]
fn scan_limit_zero() {
    let fixture = scan_fixture();
    let response = fixture.kv_scan(&[3], 0, 100);
    assert_no_error(&response.region_error, &response.error);
    assert!(response.pairs.is_empty());
}

/// A scan from the start sees exactly the pairs committed at or before its version, in key order.
#[test]
fn scan_all() {
    let fixture = scan_fixture();
    let response = fixture.kv_scan(&[0], 10_000, 100);
    assert_no_error(&response.region_error, &response.error);
    assert_eq!(response.pairs.len(), 11);
    assert_eq!(response.pairs[0].key, [1]);
    assert_eq!(response.pairs[0].value, [50]);
    assert_eq!(response.pairs[10].key, [199]);
    assert_eq!(response.pairs[10].value, [54]);
    assert!(response.pairs.iter().all(|pair| pair.error.is_none()));
}

/// A scan stops after `limit` pairs.
#[test]
fn scan_limit() {
    let fixture = scan_fixture();
    let response = fixture.kv_scan(&[2], 6, 100);
    assert_no_error(&response.region_error, &response.error);
    assert_eq!(response.pairs.len(), 6);
    assert_eq!(response.pairs[0].key, [3]);
    assert_eq!(response.pairs[0].value, [51]);
    assert_eq!(response.pairs[5].key, [4]);
    assert_eq!(response.pairs[5].value, [52]);
}

/// A key deleted then put again shows, hides and shows again as the scan's version moves.
#[test]
fn scan_deleted() {
    let fixture = scan_fixture();
    let at_100 = fixture.kv_scan(&[100], 10_000, 100);
    assert_eq!(keys(&at_100.pairs), [vec![120], vec![150], vec![199]]);
    assert_eq!(at_100.pairs[1].value, [42]);
    let at_105 = fixture.kv_scan(&[100], 10_000, 105);
    assert_eq!(keys(&at_105.pairs), [vec![120], vec![199]]);
    let at_120 = fixture.kv_scan(&[100], 10_000, 120);
    assert_eq!(keys(&at_120.pairs), [vec![120], vec![150], vec![199]]);
    assert_eq!(at_120.pairs[1].value, [64]);
}

/// A lock started at or before the scan's version makes its key's entry a locked KeyError; a later lock does not.
#[test]
fn scan_locked() {
    let fixture = scan_fixture();
    fixture.lock(&[3], &[3], 95, 10, WriteKind::Put);
    fixture.lock(&[3, 46], &[3], 105, 10, WriteKind::Put);
    let response = fixture.kv_scan(&[2], 3, 100);
    assert_no_error(&response.region_error, &response.error);
    assert_eq!(keys(&response.pairs), [vec![3], vec![3, 45], vec![3, 46]]);
    let locked = expect_error(&response.pairs[0].error)
        .locked
        .as_ref()
        .expect("a locked error");
    assert_eq!(locked.key, [3]);
    assert_eq!(locked.lock_version, 95);
    assert!(response.pairs[0].value.is_empty());
    assert_eq!(response.pairs[1].value, [56]);
    assert!(response.pairs[2].error.is_none());
    assert_eq!(response.pairs[2].value, [57]);
}

/// A key that is only locked (no committed version yet) still appears, as a locked entry, in key order.
#[test]
fn scan_reports_lock_on_key_without_value() {
    let fixture = scan_fixture();
    fixture.lock(&[2], &[2], 90, 10, WriteKind::Put);
    fixture.lock(&[250], &[2], 90, 10, WriteKind::Delete);
    let response = fixture.kv_scan(&[1, 23], 3, 100);
    assert_eq!(keys(&response.pairs), [vec![1, 23], vec![2], vec![3]]);
    assert!(response.pairs[1].error.is_some());
    let tail = fixture.kv_scan(&[199], 10, 100);
    assert_eq!(keys(&tail.pairs), [vec![199], vec![250]]);
    assert!(tail.pairs[1].error.is_some());
}

// --- KvCheckTxnStatus ---

/// The physical millisecond of the transaction under test's lock.
const LOCK_MS: u64 = 5 << 22;

/// A lock whose TTL passed by current_ts is rolled back: lock and value gone, a Rollback record at lock_ts.
#[test]
fn check_txn_status_ttl_expired() {
    let fixture = TxnFixture::new();
    let lock_ts = compose_ts(LOCK_MS, 7);
    fixture.value(&[3], lock_ts, &[42]);
    fixture.lock(&[3], &[3], lock_ts, 8, WriteKind::Put);
    let response = fixture.kv_check_txn_status(&[3], lock_ts, compose_ts(LOCK_MS + 8, 0));
    assert_no_error(&response.region_error, &response.error);
    assert_eq!(response.action(), Action::TTLExpireRollback);
    assert_eq!(fixture.lens(), [0, 0, 1]);
    assert_eq!(
        fixture.write_at(&[3], lock_ts),
        Some(Write::new(WriteKind::Rollback, lock_ts))
    );
}

/// A lock within its TTL is left alone and its TTL reported.
#[test]
fn check_txn_status_ttl_not_expired() {
    let fixture = TxnFixture::new();
    let lock_ts = compose_ts(LOCK_MS, 7);
    fixture.value(&[3], lock_ts, &[42]);
    fixture.lock(&[3], &[3], lock_ts, 1000, WriteKind::Put);
    let before = fixture.dump();
    let response = fixture.kv_check_txn_status(&[3], lock_ts, compose_ts(LOCK_MS + 999, 0));
    assert_no_error(&response.region_error, &response.error);
    assert_eq!(response.action(), Action::NoAction);
    assert_eq!(response.lock_ttl, 1000);
    assert_eq!(fixture.dump(), before);
}

/// The TTL counts milliseconds of the physical part: a later timestamp in the same millisecond expires nothing.
#[test]
fn check_txn_status_ttl_is_physical_time() {
    let fixture = TxnFixture::new();
    let lock_ts = compose_ts(LOCK_MS, 0);
    fixture.lock(&[3], &[3], lock_ts, 1, WriteKind::Put);
    // Far later as a number, the same millisecond on the clock.
    let same_ms = compose_ts(LOCK_MS, (1 << 18) - 1);
    let response = fixture.kv_check_txn_status(&[3], lock_ts, same_ms);
    assert_eq!(response.action(), Action::NoAction);
    assert_eq!(response.lock_ttl, 1);
    let next_ms = fixture.kv_check_txn_status(&[3], lock_ts, compose_ts(LOCK_MS + 1, 0));
    assert_eq!(next_ms.action(), Action::TTLExpireRollback);
}

/// A transaction already rolled back at its primary is reported as such (no commit_version), nothing changes.
#[test]
fn check_txn_status_rolled_back() {
    let fixture = TxnFixture::new();
    let lock_ts = compose_ts(LOCK_MS, 7);
    fixture.value(&[3], lock_ts, &[42]);
    fixture.rolled_back(&[3], lock_ts);
    // Another transaction's lock on the primary since then.
    fixture.lock(&[3], &[3], compose_ts(LOCK_MS + 5, 0), 8, WriteKind::Put);
    let before = fixture.dump();
    let response = fixture.kv_check_txn_status(&[3], lock_ts, compose_ts(LOCK_MS + 100, 0));
    assert_no_error(&response.region_error, &response.error);
    assert_eq!(response.action(), Action::NoAction);
    assert_eq!(response.commit_version, 0);
    assert_eq!(fixture.dump(), before);
}

/// A committed transaction reports its commit_ts and changes nothing.
#[test]
fn check_txn_status_committed() {
    let fixture = TxnFixture::new();
    let lock_ts = compose_ts(LOCK_MS, 7);
    let commit_ts = compose_ts(LOCK_MS + 2, 0);
    fixture.committed_put(&[3], lock_ts, commit_ts, &[42]);
    let before = fixture.dump();
    let response = fixture.kv_check_txn_status(&[3], lock_ts, compose_ts(LOCK_MS + 100, 0));
    assert_no_error(&response.region_error, &response.error);
    assert_eq!(response.action(), Action::NoAction);
    assert_eq!(response.commit_version, commit_ts);
    assert_eq!(fixture.dump(), before);
}

/// No lock and no write record: a Rollback record is written (LockNotExistRollback) so a late prewrite fails.
#[test]
fn check_txn_status_no_lock_no_write() {
    let fixture = TxnFixture::new();
    let lock_ts = compose_ts(LOCK_MS, 7);
    let response = fixture.kv_check_txn_status(&[3], lock_ts, compose_ts(LOCK_MS + 1, 0));
    assert_no_error(&response.region_error, &response.error);
    assert_eq!(response.action(), Action::LockNotExistRollback);
    assert_eq!(fixture.lens(), [0, 0, 1]);
    assert_eq!(
        fixture.write_at(&[3], lock_ts),
        Some(Write::new(WriteKind::Rollback, lock_ts))
    );
    let late = fixture.kv_prewrite(vec![put(&[3], &[1])], &[3], lock_ts, 10);
    assert!(late.errors[0].conflict.is_some(), "{:?}", late.errors);
}

// --- KvBatchRollback ---

/// A rollback of no keys succeeds and writes nothing.
#[test]
fn empty_rollback() {
    let fixture = TxnFixture::new();
    let response = fixture.kv_batch_rollback(&[], START);
    assert_no_error(&response.region_error, &response.error);
    assert_eq!(fixture.lens(), [0, 0, 0]);
}

/// Rolling back a prewritten key removes its lock and value and writes a Rollback record at start_ts.
#[test]
fn rollback() {
    let fixture = TxnFixture::new();
    fixture.prewritten_put(&[3], &[3], START, &[42]);
    let response = fixture.kv_batch_rollback(&[&[3]], START);
    assert_no_error(&response.region_error, &response.error);
    assert_eq!(fixture.lens(), [0, 0, 1]);
    assert_eq!(
        fixture.write_at(&[3], START),
        Some(Write::new(WriteKind::Rollback, START))
    );
}

/// A key named twice is rolled back once.
#[test]
fn rollback_duplicate_keys() {
    let fixture = TxnFixture::new();
    fixture.prewritten_put(&[3], &[3], START, &[42]);
    fixture.prewritten_put(&[15], &[3], START, &[0]);
    let response = fixture.kv_batch_rollback(&[&[3], &[15], &[3]], START);
    assert_no_error(&response.region_error, &response.error);
    assert_eq!(fixture.lens(), [0, 0, 2]);
    assert!(fixture.write_at(&[15], START).is_some());
}

/// Rolling back a key that was never prewritten still writes the Rollback record.
#[test]
fn rollback_missing_prewrite() {
    let fixture = TxnFixture::new();
    let response = fixture.kv_batch_rollback(&[&[3]], START);
    assert_no_error(&response.region_error, &response.error);
    assert_eq!(fixture.lens(), [0, 0, 1]);
    assert_eq!(
        fixture.write_at(&[3], START),
        Some(Write::new(WriteKind::Rollback, START))
    );
}

/// Rolling back a committed transaction is refused (abort); nothing changes.
#[test]
fn rollback_committed() {
    let fixture = TxnFixture::new();
    fixture.committed_put(&[3], START, COMMIT, &[42]);
    let before = fixture.dump();
    let response = fixture.kv_batch_rollback(&[&[3]], START);
    assert!(response.region_error.is_none());
    assert!(!expect_error(&response.error).abort.is_empty());
    assert_eq!(fixture.dump(), before);
}

/// Rolling back an already rolled-back transaction succeeds and changes nothing.
#[test]
fn rollback_duplicate() {
    let fixture = TxnFixture::new();
    fixture.rolled_back(&[3], START);
    let before = fixture.dump();
    let response = fixture.kv_batch_rollback(&[&[3]], START);
    assert_no_error(&response.region_error, &response.error);
    assert_eq!(fixture.dump(), before);
}

/// Rolling back next to another transaction's lock leaves that lock and value, and writes our Rollback record.
#[test]
fn rollback_other_txn() {
    let fixture = TxnFixture::new();
    fixture.prewritten_put(&[3], &[3], 80, &[42]);
    let response = fixture.kv_batch_rollback(&[&[3]], START);
    assert_no_error(&response.region_error, &response.error);
    assert_eq!(fixture.lens(), [1, 1, 1]);
    assert_eq!(fixture.lock_on(&[3]).map(|lock| lock.start_ts), Some(80));
    assert_eq!(fixture.value_at(&[3], 80), Some(vec![42]));
    assert_eq!(
        fixture.write_at(&[3], START),
        Some(Write::new(WriteKind::Rollback, START))
    );
}

/// After a rollback, the transaction's late commit is refused and its late prewrite conflicts.
#[test]
fn rollback_stops_late_commit_and_prewrite() {
    let fixture = TxnFixture::new();
    fixture.prewritten_put(&[3], &[3], START, &[42]);
    let rollback = fixture.kv_batch_rollback(&[&[3]], START);
    assert_no_error(&rollback.region_error, &rollback.error);
    let commit = fixture.kv_commit(&[&[3]], START, COMMIT);
    assert!(!expect_error(&commit.error).abort.is_empty());
    let prewrite = fixture.kv_prewrite(vec![put(&[3], &[42])], &[3], START, 10);
    assert!(
        prewrite.errors[0].conflict.is_some(),
        "{:?}",
        prewrite.errors
    );
    assert_eq!(fixture.lens(), [0, 0, 1]);
}

// --- KvResolveLock ---

/// TinyKV's resolve layout: keys [3] and [7] locked by txn 100, key [200] by txn 110.
fn resolve_fixture() -> TxnFixture {
    let fixture = TxnFixture::new();
    fixture.prewritten_put(&[3], &[3], 100, &[42]);
    fixture.prewritten_put(&[7], &[3], 100, &[43]);
    fixture.prewritten_put(&[200], &[200], 110, &[44]);
    fixture
}

/// Resolving with a commit_ts commits every lock of the transaction, and only those.
#[test]
fn resolve_commit() {
    let fixture = resolve_fixture();
    let response = fixture.kv_resolve_lock(100, COMMIT);
    assert_no_error(&response.region_error, &response.error);
    assert_eq!(fixture.lens(), [3, 1, 2]);
    for key in [&[3][..], &[7]] {
        assert_eq!(
            fixture.write_at(key, COMMIT),
            Some(Write::new(WriteKind::Put, 100))
        );
        assert_eq!(fixture.lock_on(key), None);
    }
    assert_eq!(fixture.lock_on(&[200]).map(|lock| lock.start_ts), Some(110));
    assert_eq!(fixture.kv_get(&[7], COMMIT).value, [43]);
}

/// Resolving with commit_ts 0 rolls back every lock of the transaction, and only those.
#[test]
fn resolve_rollback() {
    let fixture = resolve_fixture();
    let response = fixture.kv_resolve_lock(100, 0);
    assert_no_error(&response.region_error, &response.error);
    assert_eq!(fixture.lens(), [1, 1, 2]);
    for key in [&[3][..], &[7]] {
        assert_eq!(
            fixture.write_at(key, 100),
            Some(Write::new(WriteKind::Rollback, 100))
        );
    }
    assert_eq!(fixture.value_at(&[200], 110), Some(vec![44]));
}

/// TinyKV's written layout: txn 100 already committed or rolled back, key [200] locked by txn 110.
fn resolve_written_fixture() -> TxnFixture {
    let fixture = TxnFixture::new();
    fixture.value(&[3], 100, &[42]);
    fixture.write_record(&[201], 120, WriteKind::Put, 100);
    fixture.value(&[7], 100, &[43]);
    fixture.write_record(&[201], 100, WriteKind::Rollback, 100);
    fixture.prewritten_put(&[200], &[200], 110, &[44]);
    fixture
}

/// Resolving (commit) a transaction with no locks left changes nothing.
#[test]
fn resolve_commit_written() {
    let fixture = resolve_written_fixture();
    let before = fixture.dump();
    let response = fixture.kv_resolve_lock(100, COMMIT);
    assert_no_error(&response.region_error, &response.error);
    assert_eq!(fixture.dump(), before);
}

/// Resolving (rollback) a transaction with no locks left changes nothing.
#[test]
fn resolve_rollback_written() {
    let fixture = resolve_written_fixture();
    let before = fixture.dump();
    let response = fixture.kv_resolve_lock(100, 0);
    assert_no_error(&response.region_error, &response.error);
    assert_eq!(fixture.dump(), before);
}

/// An empty resolve request on an empty store succeeds and writes nothing.
#[test]
fn empty_resolve() {
    let fixture = TxnFixture::new();
    let response = fixture.kv_resolve_lock(0, 0);
    assert_no_error(&response.region_error, &response.error);
    assert_eq!(fixture.lens(), [0, 0, 0]);
}

/// Resolving touches only the given transaction's locks, also when another txn locks keys in between.
#[test]
fn resolve_only_the_given_txn() {
    let fixture = TxnFixture::new();
    for (index, key) in [[1u8], [2], [3], [4], [5], [6]].iter().enumerate() {
        let start_ts = if index % 2 == 0 { 100 } else { 101 };
        fixture.prewritten_put(key, &[1], start_ts, &[index as u8]);
    }
    let response = fixture.kv_resolve_lock(101, 0);
    assert_no_error(&response.region_error, &response.error);
    for (index, key) in [[1u8], [2], [3], [4], [5], [6]].iter().enumerate() {
        let lock = fixture.lock_on(key).map(|lock| lock.start_ts);
        if index % 2 == 0 {
            assert_eq!(lock, Some(100), "key {key:?}");
        } else {
            assert_eq!(lock, None, "key {key:?}");
            assert!(fixture.write_at(key, 101).is_some(), "key {key:?}");
        }
    }
}

/// A resolve whose commit_ts is not after the start_ts is a KeyError; nothing changes.
#[test]
fn resolve_commit_ts_not_after_start_ts() {
    let fixture = resolve_fixture();
    let before = fixture.dump();
    let response = fixture.kv_resolve_lock(100, 90);
    assert!(!expect_error(&response.error).abort.is_empty());
    assert_eq!(fixture.dump(), before);
}

// --- latches ---

/// Concurrent prewrites of one key by different transactions: the latches let exactly one win each round.
#[test]
fn latches_serialise_concurrent_prewrites() {
    const THREADS: u64 = 8;
    let fixture = Arc::new(TxnFixture::new());
    for round in 0..20u8 {
        let key = vec![b'k', round];
        let barrier = Arc::new(Barrier::new(THREADS as usize));
        let threads: Vec<_> = (0..THREADS)
            .map(|thread_index| {
                let (fixture, barrier, key) = (fixture.clone(), barrier.clone(), key.clone());
                thread::spawn(move || {
                    let start_ts = 1000 * (u64::from(round) + 1) + thread_index;
                    barrier.wait();
                    let response = fixture.kv_prewrite(
                        vec![put(&key, &[thread_index as u8])],
                        &key,
                        start_ts,
                        10,
                    );
                    assert!(response.region_error.is_none());
                    (start_ts, response.errors)
                })
            })
            .collect();
        let outcomes: Vec<_> = threads
            .into_iter()
            .map(|thread| thread.join().expect("a prewrite thread panicked"))
            .collect();
        let winners: Vec<u64> = outcomes
            .iter()
            .filter(|(_, errors)| errors.is_empty())
            .map(|(start_ts, _)| *start_ts)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {outcomes:?}");
        for (_, errors) in outcomes.iter().filter(|(_, errors)| !errors.is_empty()) {
            let lock_info = errors[0]
                .locked
                .as_ref()
                .expect("losers see the winner's lock");
            assert_eq!(lock_info.lock_version, winners[0]);
        }
        assert_eq!(
            fixture.lock_on(&key).map(|lock| lock.start_ts),
            Some(winners[0])
        );
    }
}
