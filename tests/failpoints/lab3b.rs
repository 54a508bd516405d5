//! Lab 3B under injected faults: a store "crashes" between the steps of a
//! split or a destroy (the failpoint makes the step fail, the test stops
//! the store with its engines closed and starts it again), and a peer is
//! removed or its region split while a snapshot is on its way. No
//! acknowledged write may be lost, no two regions may overlap on a store,
//! and every replica must end with identical data.

use std::time::Duration;

use proto::raft_serverpb::PeerState;
use raftstore::failpoints::hits;
use raftstore::Config;
use tinykv_tests::chain_log::Capture;
use tinykv_tests::cluster::{Cluster, FIRST_REGION_ID};
use tinykv_tests::scenarios::{key, value, wait_leader_compacted_past, wait_until, write_keys};

/// How long the cluster may take to reach a state a test waits for.
const WAIT: Duration = Duration::from_secs(20);

/// Waits until failpoint `name` fired more often than `before`.
fn wait_hit(cluster: &Cluster, name: &str, before: u64) {
    wait_until(cluster, &format!("failpoint {name} fires"), WAIT, || {
        hits(name) > before
    });
}

/// No two initialized regions overlap on `store_id`.
fn assert_no_overlap(cluster: &Cluster, store_id: u64) {
    let mut regions: Vec<_> = cluster
        .with_store(store_id, |store| store.store_meta().all())
        .unwrap_or_default()
        .into_iter()
        .map(|status| status.region)
        .filter(|region| !region.peers.is_empty())
        .collect();
    regions.sort_by(|a, b| a.start_key.cmp(&b.start_key));
    for pair in regions.windows(2) {
        assert!(
            !pair[0].end_key.is_empty() && pair[0].end_key <= pair[1].start_key,
            "store {store_id}: regions overlap: {regions:?}"
        );
    }
}

/// A store crashes after a split is on disk but before its new peer
/// exists; on restart the new peer is created from disk, the regions tile
/// the key space and no write is lost.
#[test]
fn crash_after_split_applied_before_peer_created() {
    let scenario = fail::FailScenario::setup();
    let cluster = Cluster::new(
        "lab3b::crash_after_split_applied_before_peer_created",
        3,
        Config::for_tests(),
    );
    write_keys(&cluster, 0, 0..20);
    let leader = cluster.wait_leader(FIRST_REGION_ID, WAIT).store_id;
    let victim = cluster
        .running_store_ids()
        .into_iter()
        .find(|id| *id != leader)
        .unwrap_or_else(|| cluster.fail("no follower"));
    let name = format!("peer_after_split_applied_{victim}");
    let before = hits(&name);
    fail::cfg(&name, "return").unwrap_or_else(|error| cluster.fail(&error));
    let (left, right) = cluster.must_split(&key(10));
    wait_hit(&cluster, &name, before);
    log::info!("--- crash store {victim} after the split was applied");
    cluster.stop_store(victim);
    fail::remove(&name);
    write_keys(&cluster, 1, 0..20);
    cluster.start_store(victim);
    for i in 0..20 {
        cluster.must_store_have(victim, &key(i), Some(&value(1, i)), WAIT);
    }
    wait_until(&cluster, "the victim has both regions", WAIT, || {
        [left.id, right.id].iter().all(|region_id| {
            cluster
                .region_statuses(*region_id)
                .iter()
                .any(|(id, _)| *id == victim)
        })
    });
    assert_no_overlap(&cluster, victim);
    cluster.must_replicas_converge(left.id, WAIT);
    cluster.must_replicas_converge(right.id, WAIT);
    drop(cluster);
    scenario.teardown();
}

/// A store crashes after its removed peer is tombstoned but before the
/// data range is destroyed; on restart the destroy is finished.
#[test]
fn crash_after_tombstone_before_destroy() {
    let scenario = fail::FailScenario::setup();
    let cluster = Cluster::new(
        "lab3b::crash_after_tombstone_before_destroy",
        3,
        Config::for_tests(),
    );
    write_keys(&cluster, 0, 0..10);
    cluster.must_transfer_leader(FIRST_REGION_ID, 1);
    let name = "peer_after_tombstone_3";
    let before = hits(name);
    fail::cfg(name, "return").unwrap_or_else(|error| cluster.fail(&error));
    cluster.must_remove_peer(FIRST_REGION_ID, 3);
    wait_hit(&cluster, name, before);
    log::info!("--- crash store 3 after the tombstone was written");
    cluster.stop_store(3);
    fail::remove(name);
    cluster.start_store(3);
    for i in 0..10 {
        cluster.must_store_have(3, &key(i), None, WAIT);
    }
    let state = cluster
        .region_state(3, FIRST_REGION_ID)
        .expect("a region state");
    assert_eq!(state.state(), PeerState::Tombstone);
    write_keys(&cluster, 1, 0..10);
    cluster.must_replicas_converge(FIRST_REGION_ID, WAIT);
    drop(cluster);
    scenario.teardown();
}

/// A peer removed while it applies a snapshot is destroyed only after the
/// region worker finished the apply, and ends with no data of the region.
#[test]
fn remove_peer_while_applying_snapshot() {
    let scenario = fail::FailScenario::setup();
    let mut config = Config::for_tests();
    config.raft_log_gc_count_limit = 10;
    config.raft_log_gc_tick_interval = Duration::from_millis(20);
    let cluster = Cluster::new("lab3b::remove_peer_while_applying_snapshot", 3, config);
    write_keys(&cluster, 0, 0..5);
    cluster.must_transfer_leader(FIRST_REGION_ID, 1);
    let name = "region_task_before_ingest_3";
    fail::cfg(name, "pause").unwrap_or_else(|error| cluster.fail(&error));
    cluster.isolate(3);
    write_keys(&cluster, 1, 0..40);
    wait_leader_compacted_past(&cluster, 3, WAIT);
    cluster.heal();
    wait_until(&cluster, "store 3 applies a snapshot", WAIT, || {
        cluster
            .region_statuses(FIRST_REGION_ID)
            .iter()
            .any(|(id, status)| *id == 3 && status.applying_snapshot)
    });
    cluster.must_remove_peer(FIRST_REGION_ID, 3);
    // Still applying: the destroy must wait.
    let state = cluster
        .region_state(3, FIRST_REGION_ID)
        .expect("a region state");
    assert_ne!(
        state.state(),
        PeerState::Tombstone,
        "destroyed while applying"
    );
    fail::remove(name);
    wait_until(&cluster, "store 3 destroys its peer", WAIT, || {
        cluster
            .region_state(3, FIRST_REGION_ID)
            .is_some_and(|state| state.state() == PeerState::Tombstone)
    });
    for i in 0..40 {
        cluster.must_store_have(3, &key(i), None, WAIT);
    }
    write_keys(&cluster, 2, 0..5);
    cluster.must_replicas_converge(FIRST_REGION_ID, WAIT);
    drop(cluster);
    scenario.teardown();
}

/// A snapshot generated before a split is discarded by the leader, not
/// shipped, and the lagging follower ends with both halves intact.
#[test]
fn split_while_leader_generates_snapshot() {
    let scenario = fail::FailScenario::setup();
    let capture = Capture::start();
    let mut config = Config::for_tests();
    config.raft_log_gc_count_limit = 10;
    config.raft_log_gc_tick_interval = Duration::from_millis(20);
    let cluster = Cluster::new("lab3b::split_while_leader_generates_snapshot", 3, config);
    write_keys(&cluster, 0, 0..5);
    cluster.must_transfer_leader(FIRST_REGION_ID, 1);
    let name = "region_task_before_generate_1";
    fail::cfg(name, "pause").unwrap_or_else(|error| cluster.fail(&error));
    cluster.isolate(3);
    write_keys(&cluster, 1, 0..40);
    wait_leader_compacted_past(&cluster, 3, WAIT);
    cluster.heal();
    // The leader has asked for a snapshot at the old epoch; split now.
    capture
        .wait_for_line(WAIT, |line| {
            line.contains("asked region worker to generate") && line.contains("store 1:")
        })
        .unwrap_or_else(|| cluster.fail("the leader never asked for a snapshot"));
    let (left, right) = cluster.must_split(&key(20));
    fail::remove(name);
    capture
        .wait_for_line(WAIT, |line| {
            line.contains("generated snapshot discarded: version")
        })
        .unwrap_or_else(|| {
            cluster.fail(&format!(
                "the pre-split snapshot was not discarded:\n{}",
                capture.lines().join("\n")
            ))
        });
    for i in 0..40 {
        cluster.must_store_have(3, &key(i), Some(&value(1, i)), WAIT);
    }
    assert_no_overlap(&cluster, 3);
    cluster.must_replicas_converge(left.id, WAIT);
    cluster.must_replicas_converge(right.id, WAIT);
    drop(cluster);
    drop(capture);
    scenario.teardown();
}
