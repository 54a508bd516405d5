//! End-to-end: the real `tinykv` binary as child processes — one scheduler
//! and three stores on free loopback ports — and a client talking gRPC to
//! them.
//!
//! Every child process and the data directory belong to a `Processes`
//! guard (`cluster_processes.rs`): when the test ends, also by a panic, its
//! `Drop` kills and reaps every child and removes the directory, and on a
//! failure prints the tail of each process's log (`<data>/<name>.log`).
//! `ctl.rs` runs every `tinykv ctl` command against one such cluster.
//!
//! `cluster_commands.rs` drives the same binary through its `tinykv
//! cluster` commands instead.
//!
//! Run alone: `cargo test -p tinykv-tests --test e2e`.

// needs labs 1, 2AA, 2AB, 2AC, 2B, 2C, 3A, 3B, 3C: begin — these tests run a multi-process cluster: every store lab is on their path
mod cluster_commands;
mod cluster_processes;
mod ctl;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster_processes::Cluster;
use network::AnyStoreClient;
use tinykv_tests::ctl::CtlClient;
use tinykv_tests::linearizability::{check_history, History, KvInput, KvOutput};

/// One scheduler and three stores as processes: raw puts, gets and a scan
/// through gRPC, then every process is killed and the directory removed.
#[test]
fn three_stores_serve_raw_requests_over_grpc() {
    let mut cluster = Cluster::start(&[], &[]);
    cluster.wait_until_serving();
    let deadline = Instant::now() + Duration::from_secs(10);
    for index in 0..20 {
        let key = format!("key-{index:02}");
        cluster.put(key.as_bytes(), key.as_bytes(), deadline);
    }
    for index in 0..20 {
        let key = format!("key-{index:02}");
        assert_eq!(
            cluster.get(key.as_bytes(), deadline),
            Some(key.clone().into_bytes()),
            "{key}"
        );
    }
    assert_eq!(cluster.get(b"missing", deadline), None);
    let scanned = cluster
        .runtime
        .block_on(cluster.client.raw_scan(b"key-", b"key-~", 100, deadline))
        .unwrap_or_else(|error| panic!("scan: {error}"));
    assert_eq!(scanned.len(), 20, "{scanned:?}");
    cluster.processes.check_alive();
}

/// The leader's store is killed with SIGKILL once the region has three
/// replicas: the two others elect a leader and keep serving every write
/// acknowledged before; the killed store restarts on its data directory
/// and rejoins; nothing acknowledged is lost.
#[test]
fn leader_killed_with_sigkill_and_restarted() {
    let mut cluster = Cluster::start(&["--schedule-interval-ms", "100"], &["--test-timers"]);
    cluster.wait_until_serving();
    let leader_name = cluster.wait_for_three_replicas();
    let deadline = Instant::now() + Duration::from_secs(15);
    for index in 0..20 {
        let key = format!("before-{index:02}");
        cluster.put(key.as_bytes(), b"v", deadline);
    }
    eprintln!("--- kill -9 {leader_name} (the leader)");
    cluster.processes.kill(&leader_name);

    let deadline = Instant::now() + Duration::from_secs(15);
    for index in 0..10 {
        let key = format!("during-{index:02}");
        cluster.put(key.as_bytes(), b"v", deadline);
    }
    eprintln!("--- restart {leader_name}");
    cluster.processes.restart(&leader_name);
    for index in 0..10 {
        let key = format!("after-{index:02}");
        cluster.put(key.as_bytes(), b"v", deadline);
    }
    for prefix in ["before", "during", "after"] {
        let count = if prefix == "before" { 20 } else { 10 };
        for index in 0..count {
            let key = format!("{prefix}-{index:02}");
            assert_eq!(
                cluster.get(key.as_bytes(), deadline),
                Some(b"v".to_vec()),
                "{key}"
            );
        }
    }
    cluster.processes.check_alive();
}

/// What one client thread of [`linearizable_history_across_sigkills`] does.
fn run_client(
    client_id: u64,
    client: AnyStoreClient,
    runtime: tokio::runtime::Handle,
    history: History,
    stop: Arc<AtomicBool>,
) -> usize {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(client_id);
    let mut operations = 0;
    let mut sequence = 0u64;
    while !stop.load(Ordering::Relaxed) {
        // Writes go to this client's own keys with a value never written
        // before, so a put applied twice (sent again to another store after
        // a timeout) cannot be told apart from once; reads go to anyone's.
        let deadline = Instant::now() + Duration::from_secs(5);
        if rng.gen_bool(0.5) {
            sequence += 1;
            let key = format!("c{client_id}-{}", rng.gen_range(0..3)).into_bytes();
            let value = format!("c{client_id}-{sequence}").into_bytes();
            let pending = history.call(
                client_id,
                KvInput::Put {
                    key: key.clone(),
                    value: value.clone(),
                },
            );
            match runtime.block_on(client.raw_put(&key, &value, deadline)) {
                Ok(()) => pending.finish(KvOutput::Done),
                // It may have been applied: an unknown outcome.
                Err(_) => pending.finish(KvOutput::Unknown),
            }
        } else {
            let key = format!("c{}-{}", rng.gen_range(0..3), rng.gen_range(0..3)).into_bytes();
            let pending = history.call(client_id, KvInput::Get { key: key.clone() });
            match runtime.block_on(client.raw_get(&key, deadline)) {
                Ok(value) => pending.finish(KvOutput::Value(value)),
                Err(_) => pending.finish(KvOutput::Unknown),
            }
        }
        operations += 1;
    }
    operations
}

/// Three clients read and write over gRPC while the leader's store is
/// killed with SIGKILL and restarted, then a follower's: the history the
/// clients saw is linearizable (Wing & Gong checker, the one the lab
/// workloads use), every replica ends with the same data, and writes are
/// served again at the end.
#[test]
fn linearizable_history_across_sigkills() {
    let mut cluster = Cluster::start(&["--schedule-interval-ms", "100"], &["--test-timers"]);
    cluster.wait_until_serving();
    let leader_name = cluster.wait_for_three_replicas();

    let history = History::new();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..3)
        .map(|client_id| {
            let client = cluster.client.clone();
            let runtime = cluster.runtime.handle().clone();
            let history = history.clone();
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || run_client(client_id, client, runtime, history, stop))
        })
        .collect();

    std::thread::sleep(Duration::from_millis(500));
    eprintln!("--- kill -9 {leader_name} (the leader)");
    cluster.processes.kill(&leader_name);
    std::thread::sleep(Duration::from_millis(1500));
    eprintln!("--- restart {leader_name}");
    cluster.processes.restart(&leader_name);
    std::thread::sleep(Duration::from_millis(1000));
    let follower_name = (1..=3)
        .map(|index| format!("store-{index}"))
        .find(|name| *name != leader_name)
        .expect("three stores");
    eprintln!("--- kill -9 {follower_name}");
    cluster.processes.kill(&follower_name);
    std::thread::sleep(Duration::from_millis(1000));
    eprintln!("--- restart {follower_name}");
    cluster.processes.restart(&follower_name);
    std::thread::sleep(Duration::from_millis(1000));
    stop.store(true, Ordering::Relaxed);
    let operations: usize = clients
        .into_iter()
        .map(|client| client.join().expect("a client thread panicked"))
        .sum();
    eprintln!("--- {operations} client operations recorded");

    let verdict = check_history(&history, Duration::from_secs(10));
    assert!(verdict.is_ok(), "{verdict}");
    assert_replicas_agree(&mut cluster);
    let deadline = Instant::now() + Duration::from_secs(10);
    cluster.put(b"last", b"1", deadline);
    assert_eq!(cluster.get(b"last", deadline), Some(b"1".to_vec()));
    cluster.processes.check_alive();
}

/// Waits until every replica of every region reports the same applied
/// index (through the stores' `RegionDigest`), then asserts that their
/// data digests are equal: replicas that applied the same entries must
/// hold the same data.
fn assert_replicas_agree(cluster: &mut Cluster) {
    let ctl = CtlClient::new(&cluster.scheduler_address).expect("a loopback address parses");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let regions = ctl
            .scheduler()
            .scan_regions(b"", b"", 0)
            .unwrap_or_else(|error| panic!("listing the regions: {error}"));
        let mut behind = Vec::new();
        for (region, _) in &regions {
            let digests = ctl
                .region_digests(region.id)
                .unwrap_or_else(|error| panic!("digests of region {}: {error}", region.id));
            let settled = digests.len() == region.peers.len()
                && digests
                    .windows(2)
                    .all(|pair| pair[0].applied_index == pair[1].applied_index);
            if !settled {
                behind.push(format!("region {}: {digests:?}", region.id));
                continue;
            }
            assert!(
                digests
                    .windows(2)
                    .all(|pair| pair[0].digest == pair[1].digest),
                "region {}: replicas at one applied index hold different data: {digests:?}",
                region.id
            );
        }
        if behind.is_empty() {
            eprintln!("--- the replicas of {} regions agree", regions.len());
            return;
        }
        cluster.processes.check_alive();
        assert!(
            Instant::now() < deadline,
            "replicas never reached one applied index: {behind:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
// needs labs: end
