//! Lab 2C: log compaction and asynchronous snapshots in the store.
//!
//! The raft-side lab 2C tests live in raft/tests/raft_labs/lab2c.rs; the
//! chain-order tests in tests/chain/lab2c.rs; the crash-at-failpoint tests
//! in tests/failpoints/lab2c.rs (`--features failpoints`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tinykv_tests::cluster::{Cluster, Filter, FIRST_REGION_ID};
use tinykv_tests::scenarios::{
    assert_all_replicas_have, key, make_follower_need_snapshot, pick_follower, small_log_config,
    value, wait_leader_compacted_past, wait_leader_compacted_past_index, wait_until, write_keys,
};

/// How long the cluster may take to reach a state a test waits for.
const WAIT: Duration = Duration::from_secs(10);

/// Waits until the network `counter` is above `baseline`. The network
/// counts a snapshot stream after the receiver returns, which is after it
/// forwarded the MsgSnapshot: the data can be visible before the count.
fn wait_counter_above(cluster: &Cluster, what: &str, counter: &AtomicU64, baseline: u64) {
    wait_until(cluster, what, WAIT, || {
        counter.load(Ordering::Relaxed) > baseline
    });
}

/// One snapshot: an isolated follower catches up by snapshot and survives a restart.
#[test]
fn one_snapshot() {
    let cluster = Cluster::new("lab2c::one_snapshot", 3, small_log_config(10));
    write_keys(&cluster, 0, 0..3);
    let follower = pick_follower(&cluster);
    log::info!("--- store {follower} falls behind the compacted log");
    make_follower_need_snapshot(&cluster, follower, 1, 0..60);
    assert_all_replicas_have(&cluster, 1, 0..60);
    wait_counter_above(
        &cluster,
        "a snapshot stream is delivered",
        &cluster.network().stats().snapshots_delivered,
        0,
    );
    log::info!("--- restart the follower: it restarts from the snapshot's state");
    cluster.restart_store(follower);
    write_keys(&cluster, 2, 60..65);
    assert_all_replicas_have(&cluster, 1, 0..60);
    assert_all_replicas_have(&cluster, 2, 60..65);
}

/// A snapshot whose file was corrupted on the wire is rejected (checksum), and a fresh one is sent.
#[test]
fn corrupted_snapshot_is_rejected_and_resent() {
    let cluster = Cluster::new(
        "lab2c::corrupted_snapshot_is_rejected_and_resent",
        3,
        small_log_config(10),
    );
    write_keys(&cluster, 0, 0..3);
    let follower = pick_follower(&cluster);
    cluster.isolate(follower);
    write_keys(&cluster, 1, 0..40);
    wait_leader_compacted_past(&cluster, follower, WAIT);
    log::info!("--- heal, but corrupt the next snapshot stream");
    // The corruption is armed before the isolation ends, so no stream can
    // reach the follower clean in between; streams the isolation drops
    // never reach the corrupting filter.
    let network = cluster.network();
    network.add_filter(Filter::CorruptSnapshots { count: 1 });
    network.remove_filters(|filter| matches!(filter, Filter::Isolate(_)));
    let stats = network.stats();
    let delivered_at_heal = stats.snapshots_delivered.load(Ordering::Relaxed);
    assert_all_replicas_have(&cluster, 1, 0..40);
    wait_counter_above(
        &cluster,
        "the receiver refuses the corrupted stream",
        &stats.corrupted_snapshots_refused,
        0,
    );
    wait_counter_above(
        &cluster,
        "a stream is accepted after the heal",
        &stats.snapshots_delivered,
        delivered_at_heal,
    );
}

/// The log stays bounded: applied − truncated ≤ 2 × the GC limit on every store, throughout a write burst.
#[test]
fn log_stays_bounded() {
    let limit = 20;
    let cluster = Cluster::new("lab2c::log_stays_bounded", 3, small_log_config(limit));
    for round in 0..10 {
        write_keys(&cluster, round, 0..30);
        for (store, status) in cluster.region_statuses(FIRST_REGION_ID) {
            let kept = status
                .applied_index
                .saturating_sub(status.first_index.saturating_sub(1));
            assert!(
                kept <= 2 * limit,
                "store {store} keeps {kept} applied entries (limit {limit}) [seed {}]",
                cluster.seed
            );
        }
    }
    assert_all_replicas_have(&cluster, 9, 0..30);
}

/// Snapshot GC removes idle snapshot files once nobody needs them.
#[test]
fn snapshot_gc_removes_idle_files() {
    let mut config = small_log_config(10);
    config.snapshot_gc_idle_timeout = Duration::from_millis(200);
    config.store_tick_interval = Duration::from_millis(50);
    let cluster = Cluster::new("lab2c::snapshot_gc_removes_idle_files", 3, config);
    write_keys(&cluster, 0, 0..3);
    let follower = pick_follower(&cluster);
    make_follower_need_snapshot(&cluster, follower, 1, 0..40);
    assert_all_replicas_have(&cluster, 1, 0..40);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let leftovers: Vec<String> = cluster
            .store_ids()
            .into_iter()
            .flat_map(|store| {
                std::fs::read_dir(cluster.store_dir(store).join("snap"))
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|entry| entry.file_name().to_string_lossy().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        if leftovers.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "idle snapshot files were never collected: {leftovers:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A store that was down for a whole log GC cycle catches up by snapshot when it restarts.
#[test]
fn restarted_store_catches_up_by_snapshot() {
    let cluster = Cluster::new(
        "lab2c::restarted_store_catches_up_by_snapshot",
        3,
        small_log_config(10),
    );
    write_keys(&cluster, 0, 0..3);
    let follower = pick_follower(&cluster);
    log::info!("--- stop store {follower}");
    let follower_last = cluster
        .stop_store_with_status(follower, FIRST_REGION_ID)
        .unwrap_or_else(|| cluster.fail(&format!("store {follower} published no status")))
        .last_index;
    write_keys(&cluster, 1, 0..50);
    wait_leader_compacted_past_index(&cluster, follower_last, WAIT);
    let delivered_before = cluster
        .network()
        .stats()
        .snapshots_delivered
        .load(Ordering::Relaxed);
    log::info!("--- start store {follower}");
    cluster.start_store(follower);
    assert_all_replicas_have(&cluster, 1, 0..50);
    wait_counter_above(
        &cluster,
        "the restarted store receives a snapshot",
        &cluster.network().stats().snapshots_delivered,
        delivered_before,
    );
}

/// A user-requested snapshot is generated and exported; a second request with nothing new applied is ignored.
#[test]
fn user_requested_snapshot_exports_files() {
    let cluster = Cluster::new(
        "lab2c::user_requested_snapshot_exports_files",
        3,
        small_log_config(1000),
    );
    write_keys(&cluster, 0, 0..20);
    let leader = cluster
        .wait_leader(FIRST_REGION_ID, Duration::from_secs(10))
        .store_id;
    let export = tempfile::tempdir().expect("temp dir");
    let timeout = Duration::from_secs(20);
    let outcome = cluster
        .with_store(leader, |store| {
            store.request_snapshot(FIRST_REGION_ID, Some(export.path().to_path_buf()), timeout)
        })
        .expect("leader is running");
    let message = outcome.unwrap_or_else(|error| cluster.fail(&error));
    assert!(message.contains("exported"), "{message}");
    let files: Vec<String> = std::fs::read_dir(export.path())
        .expect("export dir")
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().to_string())
        .collect();
    assert!(
        files.iter().any(|name| name.ends_with("_default.sst")),
        "{files:?}"
    );
    assert!(
        files.iter().any(|name| name.ends_with(".meta")),
        "{files:?}"
    );
    // Nothing is written between the two requests, but an election can
    // apply an empty entry in between: then the second request rightly makes
    // a newer snapshot, and the check is repeated against that one.
    let mut last_index = snapshot_index(&cluster, &message);
    let deadline = Instant::now() + WAIT;
    loop {
        let again = cluster
            .with_store(leader, |store| {
                store.request_snapshot(FIRST_REGION_ID, None, timeout)
            })
            .expect("leader is running");
        match again {
            Err(error) => {
                assert!(error.contains("nothing applied"), "{error}");
                assert_eq!(
                    snapshot_index(&cluster, &error),
                    last_index,
                    "ignored against another snapshot than the last one: {error}"
                );
                break;
            }
            Ok(message) => {
                let index = snapshot_index(&cluster, &message);
                assert!(
                    index > last_index && Instant::now() < deadline,
                    "a second request with nothing applied since index {last_index} made {message:?} [seed {}]",
                    cluster.seed
                );
                log::info!("--- an entry was applied meanwhile ({message}); again");
                last_index = index;
            }
        }
    }
    let _ = (key(0), value(0, 0));
}

/// The index in a snapshot request's answer (`... at index N ...`).
fn snapshot_index(cluster: &Cluster, answer: &str) -> u64 {
    answer
        .split("at index ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| cluster.fail(&format!("no index in the answer {answer:?}")))
}

/// A forged MsgSnapshot for `region` (no files) from store 1's peer to `to_store`'s peer.
fn forged_snapshot(to_store: u64, index: u64, conf_ver: u64) -> Vec<u8> {
    use proto::eraftpb::MessageType;
    use proto::metapb::{Peer, Region};
    use proto::raft_serverpb::{RaftMessage, RaftSnapshotData};
    use protobuf::Message as _;
    let peer = |id: u64| {
        let mut peer = Peer::new();
        peer.id = id;
        peer.store_id = id;
        peer
    };
    let mut region = Region::new();
    region.id = FIRST_REGION_ID;
    region.mut_region_epoch().conf_ver = conf_ver;
    region.mut_region_epoch().version = 1;
    region.peers = vec![peer(1), peer(2), peer(3)];
    let mut data = RaftSnapshotData::new();
    data.region = Some(region.clone()).into();
    let mut message = RaftMessage::new();
    message.region_id = FIRST_REGION_ID;
    message.from_peer = Some(peer(1)).into();
    message.to_peer = Some(peer(to_store)).into();
    message.region_epoch = Some(region.region_epoch().clone()).into();
    let raft_message = message.mut_message();
    raft_message.set_msg_type(MessageType::MsgSnapshot);
    raft_message.from = 1;
    raft_message.to = to_store;
    raft_message.term = 100;
    let snapshot = raft_message.mut_snapshot();
    snapshot.data = data.write_to_bytes().expect("encode snapshot data").into();
    snapshot.mut_metadata().index = index;
    snapshot.mut_metadata().term = 100;
    message.write_to_bytes().expect("encode raft message")
}

/// Snapshots at or below the applied index, with a stale epoch, or without their files are ignored, never applied and never a panic.
#[test]
fn stale_or_bogus_snapshots_are_ignored() {
    let cluster = Cluster::new(
        "lab2c::stale_or_bogus_snapshots_are_ignored",
        3,
        small_log_config(1000),
    );
    write_keys(&cluster, 0, 0..10);
    let follower = pick_follower(&cluster);
    let hash_before = cluster.must_replicas_converge(FIRST_REGION_ID, Duration::from_secs(10));
    log::info!("--- a snapshot below the applied index");
    let _ = cluster
        .network()
        .deliver_bytes(follower, &forged_snapshot(follower, 3, 1));
    log::info!("--- a snapshot with a stale epoch");
    let _ = cluster
        .network()
        .deliver_bytes(follower, &forged_snapshot(follower, 10_000, 0));
    log::info!("--- a snapshot whose files never arrived");
    let _ = cluster
        .network()
        .deliver_bytes(follower, &forged_snapshot(follower, 10_000, 1));
    write_keys(&cluster, 1, 0..10);
    assert_all_replicas_have(&cluster, 1, 0..10);
    let statuses = cluster.region_statuses(FIRST_REGION_ID);
    let (_, status) = statuses
        .iter()
        .find(|(id, _)| *id == follower)
        .expect("follower status");
    assert!(
        !status.applying_snapshot,
        "a bogus snapshot is being applied"
    );
    assert!(
        status.applied_index < 10_000,
        "the bogus snapshot's index was adopted"
    );
    assert_ne!(
        hash_before,
        cluster.must_replicas_converge(FIRST_REGION_ID, Duration::from_secs(10))
    );
}

/// The generic workload with a small raft log, so snapshots happen all the time.
fn snapshot_workload(test_name: &str, options: tinykv_tests::workload::WorkloadOptions) {
    let report = tinykv_tests::workload::run_generic_workload(
        test_name,
        tinykv_tests::workload::WorkloadOptions {
            max_raft_log: Some(20),
            ..options
        },
    );
    log::info!("--- {test_name}: {} operations checked", report.operations);
}

/// Snapshot recover: one client, every store crashes and restarts each round, log limit 20.
#[test]
fn snapshot_recover() {
    snapshot_workload(
        "lab2c::snapshot_recover",
        tinykv_tests::workload::WorkloadOptions {
            crash: true,
            ..Default::default()
        },
    );
}

/// Snapshot recover with many clients: five clients, crashes every round, log limit 20.
#[test]
fn snapshot_recover_many_clients() {
    snapshot_workload(
        "lab2c::snapshot_recover_many_clients",
        tinykv_tests::workload::WorkloadOptions {
            clients: 5,
            crash: true,
            ..Default::default()
        },
    );
}

/// Snapshot unreliable: five clients on a lossy, reordering network, log limit 20.
#[test]
fn snapshot_unreliable() {
    snapshot_workload(
        "lab2c::snapshot_unreliable",
        tinykv_tests::workload::WorkloadOptions {
            clients: 5,
            unreliable: true,
            ..Default::default()
        },
    );
}

/// Snapshot unreliable recover: lossy network and crashes every round, log limit 20.
#[test]
fn snapshot_unreliable_recover() {
    snapshot_workload(
        "lab2c::snapshot_unreliable_recover",
        tinykv_tests::workload::WorkloadOptions {
            clients: 5,
            unreliable: true,
            crash: true,
            ..Default::default()
        },
    );
}

/// Snapshot unreliable recover concurrent partition: lossy network, partitions and crashes, log limit 20.
#[test]
fn snapshot_unreliable_recover_concurrent_partition() {
    snapshot_workload(
        "lab2c::snapshot_unreliable_recover_concurrent_partition",
        tinykv_tests::workload::WorkloadOptions {
            clients: 5,
            unreliable: true,
            crash: true,
            partitions: true,
            round_duration: Duration::from_millis(1500),
            ..Default::default()
        },
    );
}
