//! Lab 4C under client crashes: the transactional client "dies" (a
//! failpoint makes it stop where it is) between prewrite and the primary's
//! commit, between the primary's and the secondaries' commits, or in the
//! middle of resolving another transaction's lock. A later reader must
//! resolve every lock left behind (roll back what never committed, commit
//! what did), no committed write may be lost, and the bank total holds
//! with such crashes sprinkled through the whole workload.

use std::time::Duration;

use raftstore::Config;
use tinykv_tests::cluster::Cluster;
use tinykv_tests::txn::{run_bank_workload, BankOptions, TxnClient, TxnError};

/// Locks of a crashed transaction outlive this many ms of timestamp time.
const SHORT_TTL_MS: u64 = 300;

/// Two keys in two regions, committed as "old" by a healthy client.
fn setup(test_name: &str) -> Cluster {
    let cluster = Cluster::new(test_name, 3, Config::for_tests());
    let scheduler = cluster.scheduler().clone();
    let client = TxnClient::new(&cluster, scheduler.as_ref());
    let mut txn = client.begin().expect("begin");
    txn.put(b"apple", b"old");
    txn.put(b"zebra", b"old");
    txn.commit().expect("commit the setup");
    cluster.must_split(&storage::mvcc::encode_user_key(b"m"));
    cluster
}

/// Writes "new" to both keys with a client that crashes at `crash_point`;
/// returns what its commit reported.
fn crashing_write(cluster: &Cluster, crash_point: &str) -> Result<u64, TxnError> {
    fail::cfg(crash_point, "return").expect("configure the failpoint");
    let scheduler = cluster.scheduler().clone();
    let client = TxnClient::new(cluster, scheduler.as_ref()).with_lock_ttl_ms(SHORT_TTL_MS);
    let mut txn = client.begin().expect("begin");
    txn.put(b"apple", b"new");
    txn.put(b"zebra", b"new");
    let result = txn.commit();
    fail::remove(crash_point);
    result
}

/// What a fresh reader sees for both keys (resolving any lock it meets).
fn read_both(cluster: &Cluster) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let scheduler = cluster.scheduler().clone();
    let client = TxnClient::new(cluster, scheduler.as_ref()).with_timeout(Duration::from_secs(20));
    let txn = client.begin().expect("begin");
    (
        txn.get(b"apple").expect("read apple"),
        txn.get(b"zebra").expect("read zebra"),
    )
}

/// A client that dies after prewriting, before committing the primary: a reader rolls its locks back and sees the old values.
#[test]
fn crash_between_prewrite_and_commit_rolls_back() {
    let _scenario = fail::FailScenario::setup();
    let cluster = setup("lab4c::crash_between_prewrite_and_commit_rolls_back");
    let result = crashing_write(&cluster, "txn_after_prewrite");
    assert!(matches!(result, Err(TxnError::Unknown(_))), "{result:?}");
    assert_eq!(
        read_both(&cluster),
        (Some(b"old".to_vec()), Some(b"old".to_vec()))
    );
    // The rollback is final: a second reader sees the same.
    assert_eq!(
        read_both(&cluster),
        (Some(b"old".to_vec()), Some(b"old".to_vec()))
    );
}

/// A client that dies after committing the primary: the transaction is committed, and a reader commits the secondary too.
#[test]
fn crash_between_primary_and_secondary_commits() {
    let _scenario = fail::FailScenario::setup();
    let cluster = setup("lab4c::crash_between_primary_and_secondary_commits");
    let result = crashing_write(&cluster, "txn_after_primary_commit");
    assert!(matches!(result, Err(TxnError::Unknown(_))), "{result:?}");
    assert_eq!(
        read_both(&cluster),
        (Some(b"new".to_vec()), Some(b"new".to_vec()))
    );
}

/// A reader that dies while resolving a crashed transaction's lock leaves it for the next reader, who finishes the job.
#[test]
fn crash_during_resolve() {
    let _scenario = fail::FailScenario::setup();
    let cluster = setup("lab4c::crash_during_resolve");
    let result = crashing_write(&cluster, "txn_after_primary_commit");
    assert!(matches!(result, Err(TxnError::Unknown(_))), "{result:?}");
    // The first reader crashes inside every resolve it attempts.
    fail::cfg("txn_during_resolve", "return").expect("configure the failpoint");
    let scheduler = cluster.scheduler().clone();
    let crashing_reader = TxnClient::new(&cluster, scheduler.as_ref());
    let txn = crashing_reader.begin().expect("begin");
    assert!(txn.get(b"zebra").is_err(), "the reader crashed mid-resolve");
    fail::remove("txn_during_resolve");
    assert_eq!(
        read_both(&cluster),
        (Some(b"new".to_vec()), Some(b"new".to_vec()))
    );
}

/// The bank total holds while one client transaction in ten crashes after its prewrite or after its primary commit.
#[test]
fn bank_with_client_crashes() {
    let _scenario = fail::FailScenario::setup();
    fail::cfg("txn_after_prewrite", "5%return").expect("configure the failpoint");
    fail::cfg("txn_after_primary_commit", "5%return").expect("configure the failpoint");
    run_bank_workload("lab4c::bank_with_client_crashes", BankOptions::default());
}
