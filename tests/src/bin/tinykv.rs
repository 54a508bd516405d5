//! `tinykv`: the processes of a multi-process cluster — the scheduler and
//! the stores — as subcommands of one binary.
//!
//! ```text
//! tinykv scheduler --addr 127.0.0.1:2379  --data-dir /tmp/tinykv/scheduler
//! tinykv server    --addr 127.0.0.1:20160 --data-dir /tmp/tinykv/store-1 --scheduler 127.0.0.1:2379
//! tinykv server    --config store-1.toml   # the same flags from a TOML file (see config.rs)
//! tinykv cluster up --stores 3     # both, as background processes (see cluster.rs)
//! tinykv ctl --scheduler 127.0.0.1:2379 regions   # talk to a running cluster (see ctl.rs)
//! tinykv --help, tinykv server --help
//! ```
//!
//! One binary with subcommands, as cargo and git do for a family of tools:
//! the processes share almost all their code (the `network` crate, the
//! engines), so one build links it once, one `--help` lists the family,
//! and a cluster script needs one path. (TinyKV's separate `tinykv-server`
//! and `tinyscheduler-server` come from Go's one-binary-per-`main`
//! packages; clap's derive API makes each subcommand a struct here.)
//!
//! Each subcommand starts its node (`network::SchedulerNode` or
//! `network::StoreNode`) on a tokio runtime, waits for SIGINT or SIGTERM,
//! and stops it cleanly: a store stops serving, then stops its raftstore,
//! whose engines close. Logs go to stderr through env_logger: `RUST_LOG`
//! (default `info`) sets the level, e.g. `RUST_LOG=debug` or
//! `RUST_LOG=network=debug,info`.
//!
//! It lives in the tests crate so that the end-to-end test (`tests/e2e`)
//! can run the very binary that was built for it (`CARGO_BIN_EXE_tinykv`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

// The subcommands' modules sit in `tinykv/`, as a module file's children
// do; a binary's root would look for them beside itself, where cargo would
// take each for a binary of its own.
#[path = "tinykv/cluster.rs"]
mod cluster;
#[path = "tinykv/config.rs"]
mod config;
#[path = "tinykv/ctl.rs"]
mod ctl;

use clap::{Args, Parser, Subcommand};
use config::{ConfigError, SchedulerFile, ServerFile};
use log::{error, info};
use network::{SchedulerNode, SchedulerNodeOptions, StoreNode, StoreNodeOptions};
use tokio::runtime::Handle;

/// The tinykv-rs cluster processes.
#[derive(Parser, Debug)]
#[command(name = "tinykv", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the scheduler (placement driver): ids, timestamps, region
    /// routing, replica placement.
    Scheduler(SchedulerArgs),
    /// Run a store: the TinyKv gRPC service over a raftstore. A fresh data
    /// directory joins the cluster through the scheduler (bootstrapping it
    /// if it is new); an existing one restarts its store.
    Server(ServerArgs),
    /// A local cluster of background processes: `up`, `down`, `kill`,
    /// `start`, `status` (see docs/cluster.md).
    Cluster(cluster::ClusterArgs),
    /// Talk to a running cluster: reads and writes, regions and stores,
    /// operators, splits, compaction, snapshot export (see `tinykv ctl
    /// --help`).
    Ctl(ctl::CtlArgs),
}

#[derive(Args, Debug)]
struct SchedulerArgs {
    /// A TOML file with any of these flags as keys (`data-dir = "..."`);
    /// flags given here win over it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to serve on (host:port). Default 127.0.0.1:2379.
    #[arg(long)]
    addr: Option<String>,
    /// Directory of the scheduler's metadata (created if missing). Required.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// How often the schedule tick (replica checker, balancing) runs, in
    /// ms. Default 1000.
    #[arg(long)]
    schedule_interval_ms: Option<u64>,
}

impl SchedulerArgs {
    /// The node's options: flags, then the config file, then defaults.
    fn resolve(self) -> Result<SchedulerNodeOptions, ConfigError> {
        let file: SchedulerFile = config::load(self.config.as_deref())?;
        let addr = self
            .addr
            .or(file.addr)
            .unwrap_or_else(|| DEFAULT_SCHEDULER.to_string());
        let data_dir = self
            .data_dir
            .or(file.data_dir)
            .ok_or(ConfigError::Missing("data-dir"))?;
        let mut options = SchedulerNodeOptions::new(&addr, data_dir);
        let interval = self
            .schedule_interval_ms
            .or(file.schedule_interval_ms)
            .unwrap_or(1000);
        options.schedule_interval = Duration::from_millis(interval.max(1));
        Ok(options)
    }
}

#[derive(Args, Debug)]
struct ServerArgs {
    /// A TOML file with any of these flags as keys (`data-dir = "..."`,
    /// `test-timers = true`); flags given here win over it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to serve on (host:port); the store registers it with the
    /// scheduler, so it must be reachable by the other stores. Default
    /// 127.0.0.1:20160.
    #[arg(long)]
    addr: Option<String>,
    /// Directory of the store's engines and snapshots (created if
    /// missing). Required.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The scheduler's address (host:port). Default 127.0.0.1:2379.
    #[arg(long)]
    scheduler: Option<String>,
    /// Use the test cluster's raft timers (`raftstore::Config::for_tests`:
    /// 10 ms ticks, elections after 100-200 ms, heartbeats to the scheduler
    /// every 100 ms) instead of the defaults (100 ms ticks, 10 s
    /// heartbeats): for tests and demos on one machine, where fast
    /// failover matters more than idle CPU.
    #[arg(long)]
    test_timers: bool,
}

impl ServerArgs {
    /// The node's options: flags, then the config file, then defaults.
    fn resolve(self) -> Result<StoreNodeOptions, ConfigError> {
        let file: ServerFile = config::load(self.config.as_deref())?;
        let addr = self
            .addr
            .or(file.addr)
            .unwrap_or_else(|| DEFAULT_SERVER.to_string());
        let data_dir = self
            .data_dir
            .or(file.data_dir)
            .ok_or(ConfigError::Missing("data-dir"))?;
        let scheduler = self
            .scheduler
            .or(file.scheduler)
            .unwrap_or_else(|| DEFAULT_SCHEDULER.to_string());
        let mut options = StoreNodeOptions::new(&addr, data_dir, &scheduler);
        if self.test_timers || file.test_timers.unwrap_or(false) {
            options.config = raftstore::Config::for_tests();
        }
        Ok(options)
    }
}

/// Where the scheduler serves unless told otherwise (etcd's client port,
/// as TinyKV's scheduler uses).
const DEFAULT_SCHEDULER: &str = "127.0.0.1:2379";

/// Where a store serves unless told otherwise (TiKV's port).
const DEFAULT_SERVER: &str = "127.0.0.1:20160";

/// A started node of either kind (one per process: boxing the larger one
/// would save nothing).
#[allow(
    clippy::large_enum_variant,
    reason = "one value per process, never moved in a loop"
)]
enum Node {
    Scheduler(SchedulerNode),
    Store(StoreNode),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A node logs what it does; ctl's output is its answer, so only
    // warnings go to stderr unless RUST_LOG asks for more.
    let default_level = match cli.command {
        Command::Ctl(_) => "warn",
        Command::Scheduler(_) | Command::Server(_) | Command::Cluster(_) => "info",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_level))
        .init();
    match cli.command {
        Command::Scheduler(args) => match args.resolve() {
            Ok(options) => {
                run_node(move |runtime| SchedulerNode::start(runtime, options).map(Node::Scheduler))
            }
            Err(error) => configuration_error(error),
        },
        Command::Server(args) => match args.resolve() {
            Ok(options) => {
                run_node(move |runtime| StoreNode::start(runtime, options).map(Node::Store))
            }
            Err(error) => configuration_error(error),
        },
        Command::Cluster(args) => cluster::run(args),
        // A client, not a node: runs its command and exits.
        Command::Ctl(args) => ctl::run(args),
    }
}

fn configuration_error(error: ConfigError) -> ExitCode {
    error!("{error}");
    ExitCode::FAILURE
}

/// Starts a node on a tokio runtime of its own, runs it until SIGINT or
/// SIGTERM, then stops it.
fn run_node(start: impl FnOnce(Handle) -> network::Result<Node>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .thread_name("grpc")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            error!("cannot start the tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let node = match start(runtime.handle().clone()) {
        Ok(node) => node,
        Err(error) => {
            error!("cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    let signal = runtime.block_on(wait_for_signal());
    info!("{signal}: stopping");
    // Stopped while the runtime still runs: a stopping store's threads may
    // be waiting on it (a scheduler call, a snapshot stream).
    match node {
        Node::Scheduler(node) => node.stop(),
        Node::Store(node) => node.stop(),
    }
    runtime.shutdown_timeout(Duration::from_secs(1));
    ExitCode::SUCCESS
}

/// Waits for SIGINT (Ctrl-C) or SIGTERM (`kill`, a service manager) and
/// says which came.
async fn wait_for_signal() -> &'static str {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(terminate) => terminate,
            Err(error) => {
                error!("cannot listen for SIGTERM ({error}); only Ctrl-C stops this process");
                let _ = tokio::signal::ctrl_c().await;
                return "SIGINT";
            }
        };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_args(arguments: &[&str]) -> ServerArgs {
        let cli = Cli::try_parse_from(["tinykv", "server"].iter().chain(arguments))
            .expect("the arguments parse");
        match cli.command {
            Command::Server(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    /// A flag wins over the config file, the file over the default, and a
    /// missing data directory is an error, not a panic.
    #[test]
    fn flags_override_the_config_file() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("store.toml");
        std::fs::write(
            &path,
            "addr = \"127.0.0.1:7000\"\ndata-dir = \"/from-file\"\ntest-timers = true\n",
        )
        .expect("writing the config file");
        let config = path.to_string_lossy().into_owned();
        let options = server_args(&["--config", &config, "--addr", "127.0.0.1:7001"])
            .resolve()
            .expect("a complete configuration");
        assert_eq!(options.address, "127.0.0.1:7001");
        assert_eq!(options.data_dir, PathBuf::from("/from-file"));
        assert_eq!(options.scheduler_address, DEFAULT_SCHEDULER);
        assert_eq!(
            options.config.raft_base_tick_interval,
            Duration::from_millis(10)
        );
        assert!(matches!(
            server_args(&[]).resolve(),
            Err(ConfigError::Missing("data-dir"))
        ));
    }
}
