//! `make bench-cluster`: raw puts of V bytes from N concurrent clients
//! (1, 16, 64 by default), for a fixed time each, against
//!
//! 1. a 3-store tinykv cluster of processes (`LocalCluster`, what `tinykv
//!    cluster up` starts) over gRPC;
//! 2. a 3-member etcd on loopback (Debian's `etcd-server`), over gRPC with
//!    the same client stack (tonic and the network crate's codec);
//! 3. the in-process 3-store `Cluster` of the tests crate (no gRPC): the
//!    network's cost is the gap between 1 and 3.
//!
//! Every write is durable before it is acknowledged on both systems:
//! tinykv's raft worker syncs each raft-log write batch
//! (`RaftWorker::handle_readies`), etcd fsyncs its WAL. Prints one line per
//! measurement as it goes, then a table with the ratio tinykv/etcd per
//! client count. Runs on the main thread plus a tokio runtime for the gRPC
//! clients; every process and directory it starts is removed on the way
//! out, also on Ctrl-C (the clients stop, then the phases clean up).
//!
//! ```text
//! scripts/bench-cluster.sh [--clients 1,16,64] [--value-size 128] [--duration-secs 5]
//! ```

mod errors;
mod etcd_cluster;
mod in_process;
mod load;
mod tinykv_target;

mod etcd_protos {
    include!(concat!(env!("OUT_DIR"), "/etcd_protos/mod.rs"));
}

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use clap::Parser;
use tinykv_tests::local_cluster::{LocalCluster, LocalClusterOptions};

use crate::errors::Result;
use crate::etcd_cluster::EtcdCluster;
use crate::in_process::InProcessTarget;
use crate::load::{drive_async, drive_threads, LoadReport, LoadSpec, INTERRUPTED};
use crate::tinykv_target::TinyKvTarget;

/// Raw-put throughput and latency: tinykv processes, etcd, in-process.
#[derive(Parser, Debug)]
#[command(name = "cluster-bench")]
struct Cli {
    /// Client counts to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    clients: Vec<usize>,
    /// Bytes per value.
    #[arg(long, default_value_t = 128)]
    value_size: usize,
    /// Counted seconds per measurement.
    #[arg(long, default_value_t = 5)]
    duration_secs: u64,
    /// Uncounted warm-up seconds before each measurement.
    #[arg(long, default_value_t = 1)]
    warmup_secs: u64,
    /// The `tinykv` binary. Default: next to this one.
    #[arg(long)]
    tinykv: Option<PathBuf>,
    /// The `etcd` binary. Default: `etcd` on the PATH.
    #[arg(long)]
    etcd: Option<PathBuf>,
    /// Split the in-process cluster into this many regions first, at
    /// client boundaries (client c writes keys `bench-c-...`), so the
    /// clients spread over several busy regions.
    #[arg(long, default_value_t = 1)]
    regions: usize,
    /// Measure only these systems (tinykv, etcd, in-process).
    #[arg(long, value_delimiter = ',', default_value = "tinykv,etcd,in-process")]
    systems: Vec<String>,
}

/// One system's reports, by client count (None: not measured).
type Column = Vec<Option<LoadReport>>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .thread_name("bench-client")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted: stopping the clients, then cleaning up");
            INTERRUPTED.store(true, Ordering::Relaxed);
        }
    });
    let specs: Vec<LoadSpec> = cli
        .clients
        .iter()
        .map(|&clients| LoadSpec {
            clients: clients.max(1),
            value_size: cli.value_size,
            warmup: Duration::from_secs(cli.warmup_secs),
            duration: Duration::from_secs(cli.duration_secs),
        })
        .collect();
    println!(
        "raw puts of {} B, {} s per measurement after {} s of warm-up, fsync on; {} cores; {} build",
        cli.value_size,
        cli.duration_secs,
        cli.warmup_secs,
        std::thread::available_parallelism().map_or(0, |cores| cores.get()),
        if cfg!(debug_assertions) { "debug" } else { "optimized" },
    );
    let wants = |system: &str| cli.systems.iter().any(|wanted| wanted == system);
    let mut failed = false;
    let mut column = |name: &str, result: Result<Column>| match result {
        Ok(column) => column,
        Err(error) => {
            eprintln!("{name}: {error}");
            failed = true;
            vec![None; specs.len()]
        }
    };
    let skipped = || vec![None; specs.len()];
    let tinykv = if wants("tinykv") {
        column("tinykv", measure_tinykv(&cli, &specs, &runtime))
    } else {
        skipped()
    };
    let etcd = match (wants("etcd"), etcd_binary(&cli)) {
        (false, _) => skipped(),
        (true, None) => {
            println!(
                "etcd: skipped — no etcd binary (install Debian's package: apt-get install etcd-server, or pass --etcd PATH)"
            );
            skipped()
        }
        (true, Some(binary)) => column("etcd", measure_etcd(&binary, &specs, &runtime)),
    };
    let in_process = if wants("in-process") {
        column("in-process", Ok(measure_in_process(&specs, cli.regions)))
    } else {
        skipped()
    };
    print_table(&specs, &tinykv, &etcd, &in_process);
    if failed || INTERRUPTED.load(Ordering::Relaxed) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn print_line(system: &str, spec: &LoadSpec, report: &LoadReport) {
    println!(
        "{system:<11} {:>3} clients: {:>8.0} writes/s  p50 {:>7.2} ms  p99 {:>7.2} ms  ({} writes, {} errors)",
        spec.clients,
        report.writes_per_second(),
        report.p50.as_secs_f64() * 1e3,
        report.p99.as_secs_f64() * 1e3,
        report.writes,
        report.errors
    );
}

/// How well the in-process stores batch: synced raft-log writes per second
/// on each store (leader first) and acknowledged writes per leader sync.
/// One sync per client write would mean the raft worker does not batch.
fn print_syncs(syncs: &[u64], report: &LoadReport) {
    let seconds = report.elapsed.as_secs_f64().max(f64::EPSILON);
    let per_second: Vec<String> = syncs
        .iter()
        .map(|syncs| format!("{:.0}", *syncs as f64 / seconds))
        .collect();
    let leader_syncs = syncs.first().copied().unwrap_or(0).max(1);
    // Every write is synced on every store (the leader's append, each
    // follower's): with several regions led from different stores, the
    // average over the stores is the figure to compare.
    let average_syncs = (syncs.iter().sum::<u64>() as f64 / syncs.len().max(1) as f64).max(1.0);
    println!(
        "{:<11}              raft-log syncs/s (leader first): {}; writes per leader sync {:.1}, per store sync {:.1}",
        "",
        per_second.join(", "),
        report.writes as f64 / leader_syncs as f64,
        report.writes as f64 / average_syncs
    );
}

/// The tinykv cluster of processes, stopped again on every way out.
fn measure_tinykv(
    cli: &Cli,
    specs: &[LoadSpec],
    runtime: &tokio::runtime::Runtime,
) -> Result<Column> {
    let binary = match &cli.tinykv {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("tinykv"),
    };
    let dir = tempfile::Builder::new()
        .prefix("tinykv-bench-cluster-")
        .tempdir()?;
    let options = LocalClusterOptions::new(binary, dir.path().to_path_buf());
    let (cluster, report) = LocalCluster::up(&options, runtime.handle())?;
    println!(
        "tinykv: 3 stores up in {:.1?} (leader {}, {} replicas), data in {}",
        report.elapsed,
        report.leader,
        report.replicas,
        dir.path().display()
    );
    /// Stops the cluster when the measurement ends or fails.
    struct Stopper(LocalCluster);
    impl Drop for Stopper {
        fn drop(&mut self) {
            if let Err(error) = self.0.down(Duration::from_secs(5)) {
                eprintln!("stopping the tinykv cluster: {error}");
            }
        }
    }
    let stopper = Stopper(cluster);
    let target = {
        let _entered = runtime.enter();
        TinyKvTarget::new(&stopper.0.store_addresses())?
    };
    let column = measure_async("tinykv", specs, runtime, move |key, value| {
        let target = target.clone();
        async move { target.put(key, value).await }
    });
    drop(stopper);
    Ok(column)
}

/// Every measurement of `specs` with `put` as the clients' call.
fn measure_async<Put, Fut>(
    system: &str,
    specs: &[LoadSpec],
    runtime: &tokio::runtime::Runtime,
    put: Put,
) -> Column
where
    Put: Fn(Vec<u8>, Vec<u8>) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = std::result::Result<(), String>> + Send,
{
    specs
        .iter()
        .map(|spec| {
            let report = runtime.block_on(drive_async(*spec, put.clone()));
            print_line(system, spec, &report);
            Some(report)
        })
        .collect()
}

/// `--etcd`, or `etcd` on the PATH.
fn etcd_binary(cli: &Cli) -> Option<PathBuf> {
    if let Some(path) = &cli.etcd {
        return Some(path.clone());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("etcd"))
        .find(|candidate| candidate.is_file())
}

fn measure_etcd(
    binary: &Path,
    specs: &[LoadSpec],
    runtime: &tokio::runtime::Runtime,
) -> Result<Column> {
    let mut cluster = EtcdCluster::start(binary)?;
    let target = runtime.block_on(cluster.leader_target())?;
    println!("etcd: 3 members up ({})", binary.display());
    Ok(measure_async("etcd", specs, runtime, move |key, value| {
        let target = target.clone();
        async move { target.put(key, value).await }
    }))
}

fn measure_in_process(specs: &[LoadSpec], regions: usize) -> Column {
    let max_clients = specs.iter().map(|spec| spec.clients).max().unwrap_or(1);
    let target = InProcessTarget::start(regions, max_clients);
    println!("in-process: 3 stores up, {regions} region(s) for up to {max_clients} clients");
    specs
        .iter()
        .map(|spec| {
            // Reads the stores' sync counters at the start and the end of
            // the counted window (the load generator's own timing, to a
            // few milliseconds).
            let sampler = {
                let target = target.clone();
                let spec = *spec;
                std::thread::spawn(move || {
                    std::thread::sleep(spec.warmup);
                    let before = target.raft_log_syncs();
                    std::thread::sleep(spec.duration);
                    let after = target.raft_log_syncs();
                    after
                        .iter()
                        .zip(&before)
                        .map(|(after, before)| after.saturating_sub(*before))
                        .collect::<Vec<u64>>()
                })
            };
            let report = {
                let target = target.clone();
                drive_threads(*spec, move |key, value| target.put(key, value))
            };
            print_line("in-process", spec, &report);
            if let Ok(syncs) = sampler.join() {
                print_syncs(&syncs, &report);
            }
            Some(report)
        })
        .collect()
}

fn print_table(specs: &[LoadSpec], tinykv: &Column, etcd: &Column, in_process: &Column) {
    let rate = |report: &Option<LoadReport>| {
        report.map_or("-".to_string(), |report| {
            format!("{:.0}", report.writes_per_second())
        })
    };
    let latency = |report: &Option<LoadReport>| {
        report.map_or("-".to_string(), |report| {
            format!(
                "{:.2}/{:.2}",
                report.p50.as_secs_f64() * 1e3,
                report.p99.as_secs_f64() * 1e3
            )
        })
    };
    println!();
    println!(
        "{:>7} | {:>9} {:>13} | {:>9} {:>13} | {:>12} | {:>10} {:>13}",
        "clients",
        "tinykv/s",
        "p50/p99 ms",
        "etcd/s",
        "p50/p99 ms",
        "tinykv/etcd",
        "in-proc/s",
        "p50/p99 ms"
    );
    for (index, spec) in specs.iter().enumerate() {
        let ratio = match (tinykv[index], etcd[index]) {
            (Some(ours), Some(theirs)) if theirs.writes > 0 => format!(
                "{:.2}x",
                ours.writes_per_second() / theirs.writes_per_second()
            ),
            _ => "-".to_string(),
        };
        println!(
            "{:>7} | {:>9} {:>13} | {:>9} {:>13} | {:>12} | {:>10} {:>13}",
            spec.clients,
            rate(&tinykv[index]),
            latency(&tinykv[index]),
            rate(&etcd[index]),
            latency(&etcd[index]),
            ratio,
            rate(&in_process[index]),
            latency(&in_process[index]),
        );
    }
}
