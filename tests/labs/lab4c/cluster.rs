//! Transactions on the replicated store (graded with lab 4C): the
//! Percolator commands run unchanged on `RaftStorage`, each command's writes
//! through raft as one command, under splits, leader changes, partitions,
//! an unreliable network and crashes of every store. Two checks:
//! * the **bank**: no audit (a snapshot read of every account) ever sees a
//!   total other than the opening one;
//! * the **list-append** history: the transaction-anomaly checker finds no
//!   G0, G1a, G1b, G1c or G-single (all forbidden under snapshot isolation).
//!
//! Seeded: the seed is printed, and `TINYKV_SEED=<seed>` replays a run.

use std::time::Duration;

use raftstore::Config;
use tinykv_tests::cluster::{Cluster, FIRST_REGION_ID};
use tinykv_tests::txn::{
    run_bank_workload, run_list_append_workload, BankOptions, ListAppendOptions, TxnClient,
    TxnWorkloadOptions,
};

fn faults(unreliable: bool, partitions: bool, crash: bool, split: bool) -> TxnWorkloadOptions {
    TxnWorkloadOptions {
        unreliable,
        partitions,
        crash,
        split,
        ..TxnWorkloadOptions::default()
    }
}

/// A transaction over keys in two regions commits atomically: a reader sees both writes or neither.
#[test]
fn transaction_across_regions() {
    let cluster = Cluster::new(
        "lab4c::cluster::transaction_across_regions",
        3,
        Config::for_tests(),
    );
    let scheduler = cluster.scheduler().clone();
    let client = TxnClient::new(&cluster, scheduler.as_ref());
    let mut setup = client.begin().expect("begin");
    setup.put(b"apple", b"1");
    setup.put(b"zebra", b"1");
    setup.commit().expect("commit the setup");
    // Split between the two keys (in the encoded key space).
    cluster.must_split(&storage::mvcc::encode_user_key(b"m"));
    assert_ne!(
        cluster
            .region_for_key(&storage::mvcc::encode_user_key(b"apple"))
            .map(|region| region.id),
        cluster
            .region_for_key(&storage::mvcc::encode_user_key(b"zebra"))
            .map(|region| region.id),
        "the keys are in two regions"
    );
    let mut txn = client.begin().expect("begin");
    txn.put(b"apple", b"2");
    txn.put(b"zebra", b"2");
    txn.commit().expect("commit across regions");
    let reader = client.begin().expect("begin");
    assert_eq!(reader.get(b"apple").expect("get"), Some(b"2".to_vec()));
    assert_eq!(reader.get(b"zebra").expect("get"), Some(b"2".to_vec()));
    assert!(cluster.region(FIRST_REGION_ID).is_some());
}

/// A snapshot read does not see a write committed after its start timestamp (snapshot isolation).
#[test]
fn reads_are_repeatable_at_start_ts() {
    let cluster = Cluster::new(
        "lab4c::cluster::reads_are_repeatable_at_start_ts",
        3,
        Config::for_tests(),
    );
    let scheduler = cluster.scheduler().clone();
    let client = TxnClient::new(&cluster, scheduler.as_ref());
    let mut first = client.begin().expect("begin");
    first.put(b"k", b"old");
    first.commit().expect("commit");
    let reader = client.begin().expect("begin");
    assert_eq!(reader.get(b"k").expect("get"), Some(b"old".to_vec()));
    let mut writer = client.begin().expect("begin");
    writer.put(b"k", b"new");
    writer.commit().expect("commit");
    assert_eq!(reader.get(b"k").expect("get again"), Some(b"old".to_vec()));
    let later = client.begin().expect("begin");
    assert_eq!(later.get(b"k").expect("get"), Some(b"new".to_vec()));
}

/// Two transactions writing the same key concurrently: the later prewrite meets a write conflict (first committer wins).
#[test]
fn concurrent_writers_conflict() {
    let cluster = Cluster::new(
        "lab4c::cluster::concurrent_writers_conflict",
        3,
        Config::for_tests(),
    );
    let scheduler = cluster.scheduler().clone();
    let client = TxnClient::new(&cluster, scheduler.as_ref());
    let mut early = client.begin().expect("begin");
    let mut late = client.begin().expect("begin");
    early.put(b"k", b"early");
    late.put(b"k", b"late");
    late.commit()
        .expect("the later-started transaction commits first");
    let result = early.commit();
    assert!(
        matches!(result, Err(tinykv_tests::txn::TxnError::Conflict(_))),
        "{result:?}"
    );
    let reader = client.begin().expect("begin");
    assert_eq!(reader.get(b"k").expect("get"), Some(b"late".to_vec()));
}

/// The bank total holds on a healthy 5-store cluster.
#[test]
fn bank_healthy() {
    run_bank_workload("lab4c::cluster::bank_healthy", BankOptions::default());
}

/// The bank total holds under an unreliable network, partitions and splits.
#[test]
fn bank_unreliable_partitions_splits() {
    let options = BankOptions {
        workload: faults(true, true, false, true),
        ..BankOptions::default()
    };
    run_bank_workload("lab4c::cluster::bank_unreliable_partitions_splits", options);
}

/// The bank total holds when every store crashes under running transactions, with splits.
#[test]
fn bank_crash_splits() {
    let options = BankOptions {
        workload: faults(false, false, true, true),
        ..BankOptions::default()
    };
    run_bank_workload("lab4c::cluster::bank_crash_splits", options);
}

/// A list-append history on a healthy cluster has no anomaly.
#[test]
fn list_append_healthy() {
    run_list_append_workload(
        "lab4c::cluster::list_append_healthy",
        ListAppendOptions::default(),
    );
}

/// A list-append history under an unreliable network, partitions and splits has no anomaly.
#[test]
fn list_append_unreliable_partitions_splits() {
    let options = ListAppendOptions {
        workload: faults(true, true, false, true),
        ..ListAppendOptions::default()
    };
    run_list_append_workload(
        "lab4c::cluster::list_append_unreliable_partitions_splits",
        options,
    );
}

/// A list-append history with every store crashing under running transactions, with splits, has no anomaly.
#[test]
fn list_append_crash_splits() {
    let options = ListAppendOptions {
        workload: TxnWorkloadOptions {
            round_duration: Duration::from_secs(1),
            ..faults(false, false, true, true)
        },
        ..ListAppendOptions::default()
    };
    run_list_append_workload("lab4c::cluster::list_append_crash_splits", options);
}

/// A prewrite for a key outside the region its context names gets a region error and writes nothing; so does a context with a stale epoch.
#[test]
fn keys_outside_the_region_refused() {
    use proto::kvrpcpb::{Context, KvPrewriteRequest, Mutation, Op};
    let cluster = Cluster::new(
        "lab4c::cluster::keys_outside_the_region_refused",
        3,
        Config::for_tests(),
    );
    let encoded = storage::mvcc::encode_user_key;
    cluster.must_split(&encoded(b"m"));
    let left = cluster
        .region_for_key(&encoded(b"apple"))
        .expect("the left region");
    let leader = cluster.wait_leader(left.id, Duration::from_secs(20));
    let server = cluster
        .server(leader.store_id)
        .expect("the leader's server");
    let scheduler = cluster.scheduler().clone();
    let client = TxnClient::new(&cluster, scheduler.as_ref());
    let start_ts = client.begin().expect("begin").start_ts();
    let prewrite = |key: &[u8], epoch_version_delta: i64| {
        let mut context = Context::new();
        context.region_id = left.id;
        context.peer = Some(leader.clone()).into();
        let mut epoch = left.region_epoch().clone();
        epoch.version = epoch.version.saturating_add_signed(epoch_version_delta);
        context.region_epoch = Some(epoch).into();
        let mut mutation = Mutation::new();
        mutation.set_op(Op::Put);
        mutation.key = key.to_vec();
        mutation.value = b"v".to_vec();
        let mut request = KvPrewriteRequest::new();
        request.context = Some(context).into();
        request.mutations = vec![mutation];
        request.primary_lock = key.to_vec();
        request.start_version = start_ts;
        request.lock_ttl = 3000;
        server.kv_prewrite(&request)
    };
    let outside = prewrite(b"zebra", 0);
    assert!(outside.region_error.is_some(), "{outside:?}");
    let stale = prewrite(b"apple", -1);
    assert!(stale.region_error.is_some(), "{stale:?}");
    // Nothing was locked: a reader sees no value and no lock, at once.
    let reader = TxnClient::new(&cluster, scheduler.as_ref()).with_timeout(Duration::from_secs(2));
    let txn = reader.begin().expect("begin");
    assert_eq!(txn.get(b"zebra").expect("zebra is not locked"), None);
    assert_eq!(txn.get(b"apple").expect("apple is not locked"), None);
}
