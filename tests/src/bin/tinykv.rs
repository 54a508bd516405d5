//! `tinykv`: the processes of a multi-process cluster — the scheduler and
//! the stores — as subcommands of one binary.
//!
//! ```text
//! tinykv scheduler --addr 127.0.0.1:2379  --data-dir /tmp/tinykv/scheduler
//! tinykv server    --addr 127.0.0.1:20160 --data-dir /tmp/tinykv/store-1 --scheduler 127.0.0.1:2379
//! tinykv ctl --scheduler 127.0.0.1:2379 regions      (see ctl.rs)
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

// In a directory of its own: a file directly in src/bin/ would be a binary.
#[path = "tinykv/ctl.rs"]
mod ctl;

use clap::{Args, Parser, Subcommand};
use log::{error, info};
use network::{SchedulerNode, SchedulerNodeOptions, StoreNode, StoreNodeOptions};

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
    /// Talk to a running cluster: reads and writes, regions and stores,
    /// operators, splits, compaction, snapshot export (see `tinykv ctl
    /// --help`).
    Ctl(ctl::CtlArgs),
}

#[derive(Args, Debug)]
struct SchedulerArgs {
    /// Address to serve on (host:port).
    #[arg(long, default_value = "127.0.0.1:2379")]
    addr: String,
    /// Directory of the scheduler's metadata (created if missing).
    #[arg(long)]
    data_dir: PathBuf,
    /// How often the schedule tick (replica checker, balancing) runs, in ms.
    #[arg(long, default_value_t = 1000)]
    schedule_interval_ms: u64,
}

#[derive(Args, Debug)]
struct ServerArgs {
    /// Address to serve on (host:port); the store registers it with the
    /// scheduler, so it must be reachable by the other stores.
    #[arg(long, default_value = "127.0.0.1:20160")]
    addr: String,
    /// Directory of the store's engines and snapshots (created if missing).
    #[arg(long)]
    data_dir: PathBuf,
    /// The scheduler's address (host:port).
    #[arg(long, default_value = "127.0.0.1:2379")]
    scheduler: String,
    /// Use the test cluster's raft timers (`raftstore::Config::for_tests`:
    /// 10 ms ticks, elections after 100-200 ms, heartbeats to the scheduler
    /// every 100 ms) instead of the defaults (100 ms ticks, 10 s
    /// heartbeats): for tests and demos on one machine, where fast
    /// failover matters more than idle CPU.
    #[arg(long)]
    test_timers: bool,
}

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
        Command::Scheduler(_) | Command::Server(_) => "info",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_level))
        .init();
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
    let started = match cli.command {
        Command::Scheduler(args) => {
            let mut options = SchedulerNodeOptions::new(&args.addr, args.data_dir);
            options.schedule_interval = Duration::from_millis(args.schedule_interval_ms.max(1));
            SchedulerNode::start(runtime.handle().clone(), options).map(Node::Scheduler)
        }
        // A client, not a node: runs its command and exits.
        Command::Ctl(args) => return ctl::run(args),
        Command::Server(args) => {
            let mut options = StoreNodeOptions::new(&args.addr, args.data_dir, &args.scheduler);
            if args.test_timers {
                options.config = raftstore::Config::for_tests();
            }
            StoreNode::start(runtime.handle().clone(), options).map(Node::Store)
        }
    };
    let node = match started {
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
