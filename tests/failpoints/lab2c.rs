//! Lab 2C under injected faults: a store "crashes" at each failpoint of the
//! snapshot path (the failpoint makes the step fail, the test then stops
//! the store with its engines closed and starts it again). No acknowledged
//! write may be lost, and every replica must end with identical data.

use std::time::{Duration, Instant};

use raftstore::failpoints::hits;
use tinykv_tests::cluster::{Cluster, FIRST_REGION_ID};
use tinykv_tests::scenarios::{
    assert_all_replicas_have, key, pick_follower, small_log_config, wait_leader_compacted_past,
    wait_until, write_keys,
};

/// Which store a failpoint is armed on.
#[derive(Clone, Copy, Debug)]
enum Side {
    /// The leader (generation and sending happen there).
    Leader,
    /// The lagging follower (receiving and applying happen there).
    Follower,
}

/// Failpoint hits counted so far, by name. The counters are process-wide
/// and never reset (an earlier test may have fired the same name): a test
/// takes this before it arms a failpoint and waits for hits above it.
struct HitBaseline(Vec<(String, u64)>);

impl HitBaseline {
    fn take(names: &[String]) -> HitBaseline {
        HitBaseline(
            names
                .iter()
                .map(|name| (name.clone(), hits(name)))
                .collect(),
        )
    }

    /// Waits until one of the failpoints fired since the baseline; returns it.
    fn wait_any(&self, cluster: &Cluster, timeout: Duration) -> String {
        let mut fired = None;
        wait_until(
            cluster,
            &format!("one of the failpoints {:?} fires", self.0),
            timeout,
            || {
                fired = self
                    .0
                    .iter()
                    .find(|(name, baseline)| hits(name) > *baseline)
                    .map(|(name, _)| name.clone());
                fired.is_some()
            },
        );
        fired.unwrap_or_else(|| cluster.fail("a failpoint fired and vanished"))
    }
}

/// The crash scenario shared by every failpoint: arm it on one side, make
/// the follower need a snapshot, wait for the fault, crash (stop) the store
/// where it fired, disarm, restart, and check nothing acknowledged was lost.
fn crash_at(failpoint: &str, side: Side) {
    let scenario = fail::FailScenario::setup();
    let test_name = format!("lab2c::crash_at_{failpoint}");
    let cluster = Cluster::new(&test_name, 3, small_log_config(10));
    write_keys(&cluster, 0, 0..5);
    // One view of the roles: the follower is not the leader of that view.
    let leader = cluster
        .wait_leader(FIRST_REGION_ID, Duration::from_secs(10))
        .store_id;
    let follower = cluster
        .running_store_ids()
        .into_iter()
        .find(|id| *id != leader)
        .unwrap_or_else(|| cluster.fail("no follower store is running"));
    // Leadership can move while the follower is cut off; whichever store
    // then leads generates and sends the snapshot, so the leader side is
    // armed on every store but the follower.
    let targets: Vec<u64> = match side {
        Side::Leader => cluster
            .store_ids()
            .into_iter()
            .filter(|id| *id != follower)
            .collect(),
        Side::Follower => vec![follower],
    };
    let names: Vec<String> = targets
        .iter()
        .map(|target| format!("{failpoint}_{target}"))
        .collect();
    let baseline = HitBaseline::take(&names);
    for name in &names {
        log::info!("--- arm {name}");
        fail::cfg(name, "return").unwrap_or_else(|error| cluster.fail(&error));
    }
    cluster.isolate(follower);
    write_keys(&cluster, 1, 0..40);
    wait_leader_compacted_past(&cluster, follower, Duration::from_secs(10));
    cluster.heal();
    let fired = baseline.wait_any(&cluster, Duration::from_secs(30));
    let target = targets[names
        .iter()
        .position(|name| *name == fired)
        .expect("wait_any returns one of the armed names")];
    log::info!("--- crash store {target} at {fired}");
    cluster.stop_store(target);
    for name in &names {
        fail::remove(name);
    }
    // Writes go on while the store is down (a quorum is left).
    write_keys(&cluster, 2, 40..45);
    log::info!("--- restart store {target}");
    cluster.start_store(target);
    assert_all_replicas_have(&cluster, 1, 0..40);
    assert_all_replicas_have(&cluster, 2, 40..45);
    assert_eq!(cluster.must_get(&key(39)), Some(b"value-1-39".to_vec()));
    drop(cluster);
    scenario.teardown();
}

/// Generation fails on the leader, which then crashes and restarts: a new generation succeeds.
#[test]
fn crash_before_generate() {
    crash_at("region_task_before_generate", Side::Leader);
}

/// Files are written but the snapshot is never handed over; the leader crashes and restarts.
#[test]
fn crash_after_generate() {
    crash_at("region_task_after_generate", Side::Leader);
}

/// The leader crashes before streaming the snapshot.
#[test]
fn crash_before_send() {
    crash_at("snap_runner_before_send", Side::Leader);
}

/// The follower crashes after receiving and verifying the files, before raft sees the message.
#[test]
fn crash_after_receive() {
    crash_at("snap_runner_after_receive", Side::Follower);
}

/// The follower crashes between its kv write (Applying) and its raft write: restart completes the raft state and re-applies.
#[test]
fn crash_after_persist_applying() {
    crash_at("peer_after_persist_applying", Side::Follower);
}

/// The follower crashes before ingesting: restart re-applies from its rev_ files.
#[test]
fn crash_before_ingest() {
    crash_at("region_task_before_ingest", Side::Follower);
}

/// The follower crashes after ingesting but before the region is marked Normal: restart re-applies.
#[test]
fn crash_after_ingest() {
    crash_at("region_task_after_ingest", Side::Follower);
}

/// Snapshot GC never deletes the files of a region that is still applying them (TiKV #11746).
#[test]
fn gc_keeps_files_of_applying_region() {
    let scenario = fail::FailScenario::setup();
    let mut config = small_log_config(10);
    config.snapshot_gc_idle_timeout = Duration::from_millis(100);
    config.store_tick_interval = Duration::from_millis(50);
    let cluster = Cluster::new("lab2c::gc_keeps_files_of_applying_region", 3, config);
    write_keys(&cluster, 0, 0..5);
    let follower = pick_follower(&cluster);
    let name = format!("region_task_before_ingest_{follower}");
    fail::cfg(&name, "pause").unwrap_or_else(|error| cluster.fail(&error));
    cluster.isolate(follower);
    write_keys(&cluster, 1, 0..40);
    wait_leader_compacted_past(&cluster, follower, Duration::from_secs(10));
    cluster.heal();
    // Wait until the follower is applying (its rev_ files are in place)...
    let deadline = Instant::now() + Duration::from_secs(15);
    let rev_files = || {
        std::fs::read_dir(cluster.store_dir(follower).join("snap"))
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|entry| entry.file_name().to_string_lossy().starts_with("rev_"))
                    .count()
            })
            .unwrap_or(0)
    };
    loop {
        let applying = cluster
            .region_statuses(FIRST_REGION_ID)
            .iter()
            .any(|(id, status)| *id == follower && status.applying_snapshot);
        if applying && rev_files() > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "store {follower} never started applying"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // ...then wait until the files are idle past the GC timeout and the
    // follower's GC has run at least three whole rounds after that: the
    // condition under test is "GC ran on idle files", not "time passed".
    let idle_since = Instant::now();
    let gc_rounds = || {
        cluster
            .with_store(follower, |store| store.snap_manager().gc_rounds())
            .unwrap_or_else(|| cluster.fail(&format!("store {follower} is not running")))
    };
    let mut first_round = None;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(
            rev_files() > 0,
            "snapshot GC deleted the files of an applying region"
        );
        if idle_since.elapsed() > cluster.config().snapshot_gc_idle_timeout {
            let rounds = gc_rounds();
            let first = *first_round.get_or_insert(rounds);
            if rounds >= first + 3 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the follower's snapshot GC did not run three rounds within 20 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    fail::remove(&name);
    assert_all_replicas_have(&cluster, 1, 0..40);
    drop(cluster);
    scenario.teardown();
}

/// Generating a snapshot for one region proceeds while another region's Apply is stuck (TiKV #12587).
#[test]
fn generate_not_blocked_by_slow_apply() {
    use proto::eraftpb::Snapshot;
    use proto::metapb::{Peer, Region};
    use proto::raft_serverpb::{RaftSnapshotData, SnapshotMeta};
    use protobuf::Message as _;
    use raftstore::region_task::{ApplyTask, GenerateTask, RegionTask, RegionWorker};
    use raftstore::snap_manager::SnapManager;
    use raftstore::Router;
    use storage::{keys, Engines, WriteBatch};

    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().expect("temp dir");
    let engines = Engines::open(dir.path().join("engines")).expect("open engines");
    let snap_manager = SnapManager::new(dir.path().join("snap"), Duration::from_secs(60), u64::MAX)
        .expect("snap dir");
    let (raft_sender, _raft_mailbox) = crossbeam_channel::unbounded();
    let (store_sender, _store_mailbox) = crossbeam_channel::unbounded();
    let store_id = 77;
    let router = Router::new(store_id, raft_sender, store_sender);
    let (tasks, mailbox) = crossbeam_channel::unbounded();
    let threads = RegionWorker::new(store_id, engines.clone(), snap_manager, router)
        .start(mailbox)
        .expect("start region worker");

    // Region 2's Apply will hang at the failpoint (an empty snapshot is
    // enough: the failpoint comes after verification) until `release` is
    // dropped, and says when it got there: only a Generate sent while the
    // Apply is stuck tests anything.
    let (reached_sender, reached) = crossbeam_channel::unbounded::<()>();
    let (release, released) = crossbeam_channel::bounded::<()>(0);
    fail::cfg_callback(format!("region_task_before_ingest_{store_id}"), move || {
        let _ = reached_sender.send(());
        // Err once `release` is dropped: the Apply goes on.
        let _ = released.recv();
    })
    .expect("arm failpoint");
    let mut region2 = Region::new();
    region2.id = 2;
    region2.start_key = b"m".to_vec();
    let mut data = RaftSnapshotData::new();
    data.region = Some(region2.clone()).into();
    data.meta = Some(SnapshotMeta::new()).into();
    let mut snapshot = Snapshot::new();
    snapshot.data = data.write_to_bytes().expect("encode").into();
    snapshot.mut_metadata().index = 10;
    snapshot.mut_metadata().term = 6;
    tasks
        .send(RegionTask::Apply(ApplyTask {
            region_id: 2,
            snapshot,
        }))
        .expect("send apply");
    reached
        .recv_timeout(Duration::from_secs(30))
        .expect("the Apply reaches its failpoint");

    // Region 1 (keys before "m") asks for a snapshot meanwhile.
    let mut batch = WriteBatch::new();
    batch.put(&keys::data_key(b"a"), b"1");
    engines.kv.write(batch, true).expect("write");
    let mut region1 = Region::new();
    region1.id = 1;
    region1.end_key = b"m".to_vec();
    let mut peer = Peer::new();
    peer.id = 1;
    peer.store_id = store_id;
    region1.peers.push(peer);
    let (notifier, generated) = crossbeam_channel::bounded(1);
    tasks
        .send(RegionTask::Generate(GenerateTask {
            region: region1,
            kv_snapshot: engines.kv.snapshot(),
            index: 8,
            term: 6,
            conf_state: Default::default(),
            notifier,
            export: None,
        }))
        .expect("send generate");
    let result = generated
        .recv_timeout(Duration::from_secs(30))
        .expect("generation must finish while the other region's apply is paused");
    let snapshot = result.expect("generation succeeds");
    assert_eq!(snapshot.metadata().index, 8);

    drop(release);
    fail::remove(format!("region_task_before_ingest_{store_id}"));
    drop(tasks);
    for thread in threads {
        thread.join().expect("region worker thread exits cleanly");
    }
    scenario.teardown();
}

/// A failed snapshot apply is retried from the same files, and the follower catches up without a restart.
#[test]
fn failed_apply_is_retried() {
    let scenario = fail::FailScenario::setup();
    let cluster = Cluster::new("lab2c::failed_apply_is_retried", 3, small_log_config(10));
    write_keys(&cluster, 0, 0..5);
    let follower = pick_follower(&cluster);
    let name = format!("region_task_before_ingest_{follower}");
    let baseline = HitBaseline::take(std::slice::from_ref(&name));
    // Fail the first apply only.
    fail::cfg(&name, "1*return").unwrap_or_else(|error| cluster.fail(&error));
    cluster.isolate(follower);
    write_keys(&cluster, 1, 0..40);
    wait_leader_compacted_past(&cluster, follower, Duration::from_secs(10));
    cluster.heal();
    baseline.wait_any(&cluster, Duration::from_secs(30));
    assert_all_replicas_have(&cluster, 1, 0..40);
    fail::remove(&name);
    drop(cluster);
    scenario.teardown();
}
