//! `tinykv cluster up|down|kill|start|status`: a local multi-process
//! cluster from the command line, for demos and fault drills.
//!
//! The work is `tinykv_tests::local_cluster::LocalCluster`; this module
//! parses the subcommand, runs it on the main thread (gRPC readiness checks
//! on a small tokio runtime of its own), and prints what happened and how
//! to go on. Every failure is printed and ends the command with a non-zero
//! exit code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use network::{RemoteScheduler, DEFAULT_MAX_MESSAGE_SIZE};
use tinykv_tests::local_cluster::{
    LocalCluster, LocalClusterError, LocalClusterOptions, StopOutcome, STARTUP_DEADLINE, STOP_GRACE,
};

/// `println!` that ignores a closed stdout (`tinykv cluster up | head`)
/// instead of panicking: the cluster is up whether or not anyone reads.
macro_rules! say {
    ($($argument:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($argument)*);
    }};
}

/// `tinykv cluster ...`.
#[derive(Args, Debug)]
pub struct ClusterArgs {
    /// The cluster's directory: data, logs and the state file
    /// (`cluster.toml`). Default: `$TMPDIR/tinykv-cluster`.
    #[arg(long, global = true, default_value_os_t = default_dir())]
    dir: PathBuf,
    #[command(subcommand)]
    action: ClusterAction,
}

#[derive(Subcommand, Debug)]
enum ClusterAction {
    /// Start a scheduler and N stores as background processes, wait until
    /// the first region has a leader and serves a write, and print how to
    /// reach them. On a directory with a stopped cluster, restart it.
    Up {
        /// How many stores.
        #[arg(long, default_value_t = 3)]
        stores: usize,
        /// The scheduler's port; store N gets BASE_PORT + N. Default: free
        /// ports chosen now.
        #[arg(long)]
        base_port: Option<u16>,
        /// Give the stores the default raft timers (100 ms ticks, 10 s
        /// heartbeats to the scheduler) instead of the fast test timers.
        #[arg(long)]
        default_timers: bool,
        /// How long to wait until the cluster serves, in seconds.
        #[arg(long, default_value_t = STARTUP_DEADLINE.as_secs())]
        timeout_secs: u64,
    },
    /// Stop every process: SIGTERM, then SIGKILL after the grace period.
    Down {
        /// Seconds between SIGTERM and SIGKILL.
        #[arg(long, default_value_t = STOP_GRACE.as_secs())]
        grace_secs: u64,
        /// Also remove the directory (data, logs, state).
        #[arg(long)]
        clean: bool,
    },
    /// `kill -9` one store (`2` or `store-2`; or `scheduler`).
    Kill {
        /// The process, as `cluster status` names it.
        store: String,
    },
    /// Restart a stopped store on its address and data directory, and
    /// wait until it serves.
    Start {
        /// The process, as `cluster status` names it.
        store: String,
        /// How long to wait until it serves, in seconds.
        #[arg(long, default_value_t = 30)]
        timeout_secs: u64,
    },
    /// List the processes, alive or dead, and the first region's leader.
    Status,
}

/// `$TMPDIR/tinykv-cluster`: outside the checkout, one per machine user.
fn default_dir() -> PathBuf {
    std::env::temp_dir().join("tinykv-cluster")
}

/// Runs `tinykv cluster ...`.
pub fn run(args: ClusterArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("cluster-client")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let handle = runtime.handle().clone();
    let dir = args.dir;
    let result = match args.action {
        ClusterAction::Up {
            stores,
            base_port,
            default_timers,
            timeout_secs,
        } => up(
            &dir,
            stores,
            base_port,
            !default_timers,
            timeout_secs,
            &handle,
        ),
        ClusterAction::Down { grace_secs, clean } => down(&dir, grace_secs, clean),
        ClusterAction::Kill { store } => LocalCluster::open(&dir)
            .and_then(|mut cluster| cluster.kill(&store))
            .map(|record| say!("killed {} (kill -9 of pid {})", record.name, record.pid)),
        ClusterAction::Start {
            store,
            timeout_secs,
        } => LocalCluster::open(&dir).and_then(|mut cluster| {
            let deadline = Instant::now() + Duration::from_secs(timeout_secs);
            cluster.start(&store, &handle, deadline)?;
            let record = cluster.state().process(&store)?;
            say!(
                "started {} on {} (pid {}), serving",
                record.name,
                record.address,
                record.pid
            );
            Ok(())
        }),
        ClusterAction::Status => status(&dir, &handle),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tinykv cluster: {error}");
            if let LocalClusterError::ExitedEarly { log, .. } = &error {
                print_log_tail(log);
            }
            ExitCode::FAILURE
        }
    }
}

fn up(
    dir: &Path,
    stores: usize,
    base_port: Option<u16>,
    fast_timers: bool,
    timeout_secs: u64,
    runtime: &tokio::runtime::Handle,
) -> Result<(), LocalClusterError> {
    let binary = std::env::current_exe().map_err(|source| LocalClusterError::Io {
        what: "finding this binary's path".to_string(),
        source,
    })?;
    let mut options = LocalClusterOptions::new(binary.clone(), dir.to_path_buf());
    options.stores = stores;
    options.base_port = base_port;
    options.fast_timers = fast_timers;
    options.startup_deadline = Duration::from_secs(timeout_secs);
    let (mut cluster, report) = LocalCluster::up(&options, runtime)?;
    let dir_text = dir.display();
    say!(
        "cluster up in {dir_text}: first region led by {} with {} replicas, a write served after {:.1?}",
        report.leader, report.replicas, report.elapsed
    );
    print_processes(&mut cluster);
    let tinykv = binary.display();
    let scheduler = &cluster.state().scheduler_address;
    say!();
    say!("Try:");
    say!("  {tinykv} ctl --scheduler {scheduler} put k v");
    say!("  {tinykv} ctl --scheduler {scheduler} get k");
    say!("  {tinykv} ctl --scheduler {scheduler} regions");
    say!("  {tinykv} cluster status --dir {dir_text}");
    say!("  {tinykv} cluster kill 2 --dir {dir_text}     # kill -9 store-2");
    say!("  {tinykv} cluster start 2 --dir {dir_text}    # restart it on its data");
    say!(
        "  {tinykv} cluster down --dir {dir_text}       # stop all (--clean also removes the data)"
    );
    Ok(())
}

fn down(dir: &Path, grace_secs: u64, clean: bool) -> Result<(), LocalClusterError> {
    let mut cluster = LocalCluster::open(dir)?;
    for (name, outcome) in cluster.down(Duration::from_secs(grace_secs))? {
        let how = match outcome {
            StopOutcome::AlreadyStopped => "was not running",
            StopOutcome::Stopped => "stopped",
            StopOutcome::Killed => "killed after the grace period",
        };
        say!("{name}: {how}");
    }
    if clean {
        std::fs::remove_dir_all(dir).map_err(|source| LocalClusterError::Io {
            what: format!("removing {}", dir.display()),
            source,
        })?;
        say!("removed {}", dir.display());
    }
    Ok(())
}

fn status(dir: &Path, runtime: &tokio::runtime::Handle) -> Result<(), LocalClusterError> {
    let mut cluster = LocalCluster::open(dir)?;
    print_processes(&mut cluster);
    // The region line is a bonus: a stopped scheduler only loses it.
    let scheduler = RemoteScheduler::new(
        runtime.clone(),
        &cluster.state().scheduler_address,
        DEFAULT_MAX_MESSAGE_SIZE,
    )?;
    match scheduler.get_region(b"") {
        Ok(Some((region, leader))) => {
            let leader = leader
                .and_then(|peer| scheduler.get_store(peer.store_id).ok())
                .map(|info| info.store.address)
                .and_then(|address| {
                    cluster
                        .state()
                        .stores()
                        .find(|record| record.address == address)
                        .map(|record| record.name.clone())
                })
                .unwrap_or_else(|| "unknown".to_string());
            say!(
                "first region {}: {} replicas, leader {leader}",
                region.id,
                region.peers.len()
            );
        }
        Ok(None) => say!("the cluster is not bootstrapped"),
        Err(error) => say!("the scheduler does not answer ({error})"),
    }
    Ok(())
}

fn print_processes(cluster: &mut LocalCluster) {
    say!(
        "{:<10} {:<6} {:<8} {:<21} log",
        "process",
        "state",
        "pid",
        "address"
    );
    for status in cluster.status() {
        let record = &status.record;
        say!(
            "{:<10} {:<6} {:<8} {:<21} {}",
            record.name,
            if status.alive { "alive" } else { "dead" },
            record.pid,
            record.address,
            cluster.log_path(&record.name).display()
        );
    }
}

fn print_log_tail(path: &Path) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    let lines: Vec<&str> = text.lines().collect();
    eprintln!("--- last lines of {}:", path.display());
    for line in &lines[lines.len().saturating_sub(20)..] {
        eprintln!("{line}");
    }
}
