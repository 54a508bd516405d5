//! [`SchedulerNode`]: the scheduler as a process of its own — the
//! in-process `scheduler::Scheduler` on its data directory, served by
//! [`SchedulerGrpcService`], with its schedule tick. `tinykv scheduler`
//! runs one; the network tests run it in-process.
//!
//! `SchedulerNode::start` (on the caller's thread; it blocks) opens the
//! scheduler, binds the address (port 0 picks a free port), and spawns two
//! tasks on the runtime: the gRPC server, and the schedule tick, which
//! every `schedule_interval` runs `Scheduler::schedule` (replica checker,
//! balancing) on the blocking pool. The operators it creates reach the
//! stores as answers to their region heartbeats.
//!
//! `SchedulerNode::stop` (also on drop) stops both; the scheduler's engine
//! closes when the last handle is dropped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use log::{debug, info, warn};
use scheduler::Scheduler;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::codec::DEFAULT_MAX_MESSAGE_SIZE;
use crate::errors::Result;
use crate::grpc_server::GrpcServer;
use crate::scheduler_service::SchedulerGrpcService;

/// What a scheduler node needs to start.
#[derive(Debug, Clone)]
pub struct SchedulerNodeOptions {
    /// Where to serve, `host:port`; port 0 picks a free one.
    pub address: String,
    /// The scheduler's data directory; created when missing.
    pub data_dir: PathBuf,
    /// How often the schedule tick runs. Default 1 s: each tick is a pass
    /// over the regions in memory, and operators wait for heartbeats anyway.
    pub schedule_interval: Duration,
    /// The largest gRPC message, in bytes.
    pub max_message_size: usize,
}

impl SchedulerNodeOptions {
    /// Options with the default tick and message size.
    pub fn new(address: &str, data_dir: PathBuf) -> SchedulerNodeOptions {
        SchedulerNodeOptions {
            address: address.to_string(),
            data_dir,
            schedule_interval: Duration::from_secs(1),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        }
    }
}

/// A running scheduler process (see the module docs).
pub struct SchedulerNode {
    address: SocketAddr,
    scheduler: Arc<Scheduler>,
    server: Option<GrpcServer>,
    ticking: Option<JoinHandle<()>>,
}

impl SchedulerNode {
    /// Starts the scheduler (see the module docs); its tasks run on `runtime`.
    pub fn start(runtime: Handle, options: SchedulerNodeOptions) -> Result<SchedulerNode> {
        std::fs::create_dir_all(&options.data_dir)?;
        let scheduler = Arc::new(Scheduler::open(&options.data_dir)?);
        let listener = runtime.block_on(tokio::net::TcpListener::bind(&options.address))?;
        let address = listener.local_addr()?;
        let service = SchedulerGrpcService::new(Arc::clone(&scheduler), options.max_message_size);
        let server = GrpcServer::spawn(&runtime, "scheduler", listener, service);
        let ticking = runtime.spawn(schedule_tick(
            Arc::clone(&scheduler),
            options.schedule_interval,
        ));
        info!(
            "scheduler: cluster {} serving on {address}",
            scheduler.cluster_id()
        );
        Ok(SchedulerNode {
            address,
            scheduler,
            server: Some(server),
            ticking: Some(ticking),
        })
    }

    /// The address the scheduler serves on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The scheduler itself (for in-process tests and diagnostics).
    pub fn scheduler(&self) -> &Arc<Scheduler> {
        &self.scheduler
    }

    /// Stops the tick and the server (see the module docs).
    pub fn stop(mut self) {
        self.shutdown_and_join();
    }

    fn shutdown_and_join(&mut self) {
        if let Some(ticking) = self.ticking.take() {
            ticking.abort();
        }
        if let Some(mut server) = self.server.take() {
            server.stop();
        }
        info!("scheduler: stopped");
    }
}

impl Drop for SchedulerNode {
    fn drop(&mut self) {
        if self.server.is_some() {
            self.shutdown_and_join();
        }
    }
}

/// The schedule tick: one `schedule` pass per interval, on the blocking
/// pool (it may allocate ids, a synced write). Ends when aborted.
async fn schedule_tick(scheduler: Arc<Scheduler>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    // A slow pass delays the next one rather than causing a burst.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let scheduler = Arc::clone(&scheduler);
        match tokio::task::spawn_blocking(move || scheduler.schedule()).await {
            Ok(Ok(0)) => {}
            Ok(Ok(added)) => debug!("schedule tick: {added} operators added"),
            Ok(Err(error)) => warn!("schedule tick failed: {error}"),
            Err(join_error) => warn!("schedule tick panicked: {join_error}"),
        }
    }
}
