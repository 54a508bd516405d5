//! Snapshot throughput: generate + send + apply of a 256 MiB region, next
//! to the raw sequential write speed of the same disk, measured in the same
//! run, and where the snapshot's time goes.
//!
//! ```text
//! cargo bench -p tinykv-tests --bench snapshot_throughput
//! TINYKV_BENCH_REGION_MIB=64 cargo bench -p tinykv-tests --bench snapshot_throughput   # smaller region
//! ```
//!
//! One iteration: a 3-store cluster with a small log GC limit and no
//! region split; store 3 is cut off by the network, the region is loaded
//! with 1 MiB values (256 MiB in all), the leader compacts its log; then
//! (timed) the network heals and store 3 catches up by snapshot: the region
//! worker pins the region and hashes its pairs, snap_runner streams the
//! pairs from the pinned engine snapshot through the simulated network, the
//! follower builds, checks and ingests the SST files. Store 3 is cut
//! off rather than stopped so that the timed part is the pipeline, not
//! reopening the store's RocksDB instances.
//! The baseline writes the same number of bytes to a file in 1 MiB blocks
//! and fsyncs it. The ratio printed at the end is snapshot MB/s divided by
//! raw MB/s: how close the whole pipeline gets to the disk.
//!
//! The phase table after it comes from the stores' `SnapshotMetrics`
//! (timers the workers keep per phase), averaged over the iterations:
//! the wait before generation starts, generate, stream (with the
//! receiver's writing and checking inside it: the test cluster receives on
//! the sender's thread), ingest (the follower's whole apply), and what is
//! left: the raft worker's hand-offs between them and this bench's polling.
//! Inside the stream, `read` (the sender scanning and encoding pairs) and
//! `write` (the receiver's writer thread building and syncing SST files)
//! run side by side: the larger of the two is what the stream waits for.

use std::io::Write;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use raftstore::snapshot_metrics::{PhaseReport, SnapshotPhase};
use tinykv_tests::cluster::{Cluster, FIRST_REGION_ID};
use tinykv_tests::scenarios::small_log_config;

fn region_mib() -> usize {
    std::env::var("TINYKV_BENCH_REGION_MIB")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(256)
}

/// Where one catch-up's time went.
#[derive(Debug, Default, Clone, Copy)]
struct Breakdown {
    /// From healing the network to the first generation starting.
    wait: Duration,
    /// Per phase (`SnapshotPhase::ALL` order), summed over the stores.
    phases: [Duration; SnapshotPhase::ALL.len()],
    /// The whole catch-up.
    total: Duration,
}

impl Breakdown {
    fn phase(&self, phase: SnapshotPhase) -> Duration {
        self.phases[SnapshotPhase::ALL
            .iter()
            .position(|candidate| *candidate == phase)
            .expect("every phase is in ALL")]
    }

    fn add(&mut self, other: &Breakdown) {
        self.wait += other.wait;
        self.total += other.total;
        for (sum, phase) in self.phases.iter_mut().zip(other.phases) {
            *sum += phase;
        }
    }

    /// Prints the average of `runs` catch-ups as a table.
    fn print_average(&self, runs: u32) {
        let runs = runs.max(1);
        let milliseconds = |duration: Duration| duration.as_secs_f64() * 1000.0 / runs as f64;
        let generate = self.phase(SnapshotPhase::Generate);
        let stream = self.phase(SnapshotPhase::Send);
        let ingest = self.phase(SnapshotPhase::Ingest);
        let rest = self
            .total
            .saturating_sub(self.wait + generate + stream + ingest);
        println!("where a catch-up's time goes (average of {runs}):");
        let rows = [
            ("wait", self.wait, "network healed -> generation starts"),
            (
                "generate",
                generate,
                "leader: pin the region, hash its pairs",
            ),
            ("stream", stream, "leader -> follower, receiver included"),
            (
                "  read",
                self.phase(SnapshotPhase::Read),
                "of stream: the sender scanning and encoding pairs",
            ),
            (
                "  receive",
                self.phase(SnapshotPhase::Receive),
                "of stream: building + checking rev_ SST files",
            ),
            (
                "    write",
                self.phase(SnapshotPhase::Write),
                "of receive, overlapping read: SST writer + sync",
            ),
            (
                "  verify",
                self.phase(SnapshotPhase::Verify),
                "re-reading files for their CRC32 (after a restart)",
            ),
            ("ingest", ingest, "follower: verify, clear, ingest, Normal"),
            (
                "hand-offs",
                rest,
                "raft worker hops between phases, bench polling",
            ),
            ("total", self.total, ""),
        ];
        for (name, duration, meaning) in rows {
            println!(
                "  {name:<10} {:>8.1} ms  {:>5.1}%  {meaning}",
                milliseconds(duration),
                100.0 * duration.as_secs_f64() / self.total.as_secs_f64().max(1e-9)
            );
        }
    }
}

/// Loads the region with store 3 down, then times store 3's catch-up.
fn snapshot_catch_up(mib: usize, seed: u64) -> Breakdown {
    let mut config = small_log_config(16);
    config.snapshot_transfer_timeout = Duration::from_secs(300);
    config.command_timeout = Duration::from_secs(30);
    // One region of the whole size: with the default split size the
    // region would be cut in pieces while loading, and several smaller
    // snapshots would race each other instead of one going through.
    config.region_max_size = u64::MAX;
    config.region_split_size = u64::MAX;
    let cluster = Cluster::with_seed(seed, 3, config, None);
    cluster.must_put(b"warm-up", b"1");
    cluster.isolate(3);
    let value = vec![0x5a_u8; 1 << 20];
    for i in 0..mib {
        cluster.must_put(format!("bench-{i:06}").as_bytes(), &value);
    }
    let leader_applied = |cluster: &Cluster| {
        cluster
            .region_statuses(FIRST_REGION_ID)
            .into_iter()
            .find(|(_, status)| status.is_leader)
            .map(|(_, status)| status.applied_index)
            .unwrap_or(0)
    };
    let target = leader_applied(&cluster);
    let start = Instant::now();
    cluster.heal();
    let deadline = start + Duration::from_secs(600);
    loop {
        let caught_up =
            cluster
                .region_statuses(FIRST_REGION_ID)
                .into_iter()
                .any(|(store, status)| {
                    store == 3 && status.applied_index >= target && !status.applying_snapshot
                });
        if caught_up {
            break;
        }
        assert!(Instant::now() < deadline, "store 3 never caught up");
        std::thread::sleep(Duration::from_millis(5));
    }
    let total = start.elapsed();
    let delivered = cluster
        .network()
        .stats()
        .snapshots_delivered
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        delivered >= 1,
        "store 3 caught up without a snapshot: raise the region size"
    );
    let mut breakdown = Breakdown {
        total,
        ..Breakdown::default()
    };
    let mut first_generation: Option<Instant> = None;
    for store in cluster.running_store_ids() {
        let reports: Vec<PhaseReport> = cluster
            .with_store(store, |raft_store| {
                let metrics = raft_store.snap_manager().metrics();
                SnapshotPhase::ALL
                    .map(|phase| metrics.report(phase))
                    .to_vec()
            })
            .unwrap_or_default();
        for (sum, report) in breakdown.phases.iter_mut().zip(&reports) {
            *sum += report.total;
        }
        if let Some(started) = reports.first().and_then(|report| report.first_start) {
            first_generation = Some(first_generation.map_or(started, |first| first.min(started)));
        }
    }
    breakdown.wait = first_generation
        .map(|started| started.saturating_duration_since(start))
        .unwrap_or_default();
    breakdown
}

/// Writes `mib` MiB sequentially in 1 MiB blocks and fsyncs.
fn raw_sequential_write(mib: usize) -> Duration {
    let dir = tempfile::tempdir().expect("temp dir");
    let block = vec![0xa5_u8; 1 << 20];
    let start = Instant::now();
    let mut file = std::fs::File::create(dir.path().join("raw")).expect("create file");
    for _ in 0..mib {
        file.write_all(&block).expect("write");
    }
    file.sync_all().expect("fsync");
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let mib = region_mib();
    let bytes = (mib as u64) << 20;
    let mut group = c.benchmark_group("snapshot");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Bytes(bytes));
    let mut raw_total = Duration::ZERO;
    let mut raw_runs = 0u32;
    group.bench_function(format!("raw_sequential_write_{mib}MiB"), |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                total += raw_sequential_write(mib);
            }
            raw_total += total;
            raw_runs += iterations as u32;
            total
        })
    });
    let mut snapshot_breakdown = Breakdown::default();
    let mut snapshot_runs = 0u32;
    let mut seed = 1;
    group.bench_function(format!("generate_send_apply_{mib}MiB"), |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                seed += 1;
                let breakdown = snapshot_catch_up(mib, seed);
                total += breakdown.total;
                snapshot_breakdown.add(&breakdown);
                snapshot_runs += 1;
            }
            total
        })
    });
    group.finish();
    let megabytes = bytes as f64 / 1e6;
    let raw_speed = megabytes / (raw_total.as_secs_f64() / raw_runs.max(1) as f64);
    let snapshot_speed =
        megabytes / (snapshot_breakdown.total.as_secs_f64() / snapshot_runs.max(1) as f64);
    println!(
        "snapshot generate+send+apply: {snapshot_speed:.1} MB/s; raw sequential write: {raw_speed:.1} MB/s; ratio {:.2}",
        snapshot_speed / raw_speed
    );
    snapshot_breakdown.print_average(snapshot_runs);
}

criterion_group!(benches, bench);
criterion_main!(benches);
