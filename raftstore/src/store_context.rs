//! [`StoreContext`]: what every peer handler on the raft worker needs from
//! its store: ids, config, engines, and the senders of the other workers.

use std::sync::Arc;

use crossbeam_channel::Sender;
use storage::Engines;

use crate::config::Config;
use crate::router::Router;
use crate::snap_manager::SnapManager;
use crate::store_meta::StoreMeta;
use crate::transport::Transport;
use crate::worker::raftlog_gc::RaftLogGcTask;
use crate::worker::region_task::RegionTask;
use crate::worker::scheduler_task::SchedulerTask;
use crate::worker::snap_runner::SnapTask;
use crate::worker::split_check::SplitCheckTask;

/// Shared, read-only context of one store's raft worker.
pub struct StoreContext {
    /// This store's id.
    pub store_id: u64,
    /// The store's settings.
    pub config: Config,
    /// The store's engines.
    pub engines: Engines,
    /// Sends raft messages to other stores.
    pub transport: Arc<dyn Transport>,
    /// This store's router (for workers that report back to peers).
    pub router: Router,
    /// The region worker's mailbox (snapshot gen / apply / destroy).
    pub region_worker: Sender<RegionTask>,
    /// The raft-log GC worker's mailbox.
    pub raftlog_gc: Sender<RaftLogGcTask>,
    /// The snapshot sender/receiver worker's mailbox.
    pub snap_runner: Sender<SnapTask>,
    /// Published region status.
    pub store_meta: Arc<StoreMeta>,
    /// The snapshot directory and registry.
    pub snap_manager: SnapManager,
    /// The split checker's mailbox.
    pub split_check: Sender<SplitCheckTask>,
    /// The scheduler_task worker's mailbox (heartbeats).
    pub scheduler_task: Sender<SchedulerTask>,
}
