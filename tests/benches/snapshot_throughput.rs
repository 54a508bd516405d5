//! Snapshot throughput: generate + send + apply of a 256 MiB region, next
//! to the raw sequential write speed of the same disk, measured in the same
//! run.
//!
//! ```text
//! cargo bench -p tinykv-tests --bench snapshot_throughput
//! TINYKV_BENCH_REGION_MIB=64 cargo bench -p tinykv-tests --bench snapshot_throughput   # smaller region
//! ```
//!
//! One iteration: a 3-store cluster with a small log GC limit; store 3 is
//! stopped, the region is loaded with 1 MiB values (256 MiB in all), the
//! leader compacts its log; then (timed) store 3 starts and catches up by
//! snapshot: the region worker generates the SST files, snap_runner streams
//! them through the simulated network, the follower checks and ingests them.
//! The baseline writes the same number of bytes to a file in 1 MiB blocks
//! and fsyncs it. The ratio printed at the end is snapshot MB/s divided by
//! raw MB/s: how close the whole pipeline gets to the disk.

use std::io::Write;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tinykv_tests::cluster::{Cluster, FIRST_REGION_ID};
use tinykv_tests::scenarios::small_log_config;

fn region_mib() -> usize {
    std::env::var("TINYKV_BENCH_REGION_MIB")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(256)
}

/// Loads the region with store 3 down, then times store 3's catch-up.
fn snapshot_catch_up(mib: usize, seed: u64) -> Duration {
    let mut config = small_log_config(16);
    config.snapshot_transfer_timeout = Duration::from_secs(300);
    config.command_timeout = Duration::from_secs(30);
    let cluster = Cluster::with_seed(seed, 3, config, None);
    cluster.must_put(b"warm-up", b"1");
    cluster.stop_store(3);
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
    cluster.start_store(3);
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
    let elapsed = start.elapsed();
    let delivered = cluster
        .network()
        .stats()
        .snapshots_delivered
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        delivered >= 1,
        "store 3 caught up without a snapshot: raise the region size"
    );
    elapsed
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
    let mut snapshot_total = Duration::ZERO;
    let mut snapshot_runs = 0u32;
    let mut seed = 1;
    group.bench_function(format!("generate_send_apply_{mib}MiB"), |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                seed += 1;
                total += snapshot_catch_up(mib, seed);
            }
            snapshot_total += total;
            snapshot_runs += iterations as u32;
            total
        })
    });
    group.finish();
    let megabytes = bytes as f64 / 1e6;
    let raw_speed = megabytes / (raw_total.as_secs_f64() / raw_runs.max(1) as f64);
    let snapshot_speed = megabytes / (snapshot_total.as_secs_f64() / snapshot_runs.max(1) as f64);
    println!(
        "snapshot generate+send+apply: {snapshot_speed:.1} MB/s; raw sequential write: {raw_speed:.1} MB/s; ratio {:.2}",
        snapshot_speed / raw_speed
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
