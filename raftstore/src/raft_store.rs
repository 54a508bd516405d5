//! [`RaftStore`]: one running store: its engines, its worker threads, and
//! the handles others use to reach it.
//!
//! `RaftStore::start` (on the caller's thread):
//! 1. checks the store ident written by `bootstrap_store`;
//! 2. creates the mailboxes and the [`Router`];
//! 3. loads every region from its `RegionLocalState` and creates its peer
//!    (a region left `Applying` by a crash gets its snapshot re-applied);
//! 4. starts the threads, each named after its job and the store id:
//!
//! | thread | file | mailbox |
//! |---|---|---|
//! | `raft_worker-N` | raft_worker.rs | `RegionMessage` (peer messages) + base tick |
//! | `store_worker-N` | store_worker.rs | `StoreMsg` + store tick |
//! | `region_task-N` (routes), `region_task_apply-N`, `region_task_gen-N` | region_task.rs | `RegionTask` |
//! | `raftlog_gc-N` | raftlog_gc.rs | `RaftLogGcTask` |
//! | `snap_runner-N` | snap_runner.rs | `SnapTask` |
//! | `split_check-N` | split_check.rs | `SplitCheckTask` |
//! | `scheduler_task-N` | scheduler_task.rs | `SchedulerTask` |
//!
//! `RaftStore::stop` closes the shutdown channel; the raft and store
//! workers leave their loops and drop their senders, which closes the other
//! workers' mailboxes in turn; then every thread is joined and the engines
//! close when the last handle is dropped.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;
use log::{error, info, warn};
use proto::eraftpb::Snapshot;
use proto::raft_serverpb::{PeerState, RaftLocalState, RaftSnapshotData, RegionLocalState};
use protobuf::Message as _;
use storage::{keys, Engines, WriteBatch};

use crate::bootstrap::load_store_ident;
use crate::config::Config;
use crate::errors::{Error, Result};
use crate::msg::{Callback, CallbackReceiver, RaftCommand};
use crate::peer::snapshot_state::SnapState;
use crate::peer::Peer;
use crate::router::Router;
use crate::scheduler_client::SchedulerClient;
use crate::snap_manager::{SnapKey, SnapKind, SnapManager};
use crate::store_context::StoreContext;
use crate::store_meta::StoreMeta;
use crate::transport::Transport;
use crate::worker::raft_worker::RaftWorker;
use crate::worker::region_task::{ApplyTask, DestroyTask, RegionTask, RegionWorker};
use crate::worker::scheduler_task::SchedulerRunner;
use crate::worker::snap_runner::{SnapSender, SnapshotReceiver};
use crate::worker::split_check::SplitChecker;
use crate::worker::store_worker::{create_peer, StoreWorker};

/// A running store.
pub struct RaftStore {
    store_id: u64,
    router: Router,
    store_meta: Arc<StoreMeta>,
    snap_manager: SnapManager,
    receiver: SnapshotReceiver,
    engines: Engines,
    /// Dropping it tells the raft and store workers to stop.
    shutdown: Option<Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

fn spawn(name: String, body: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(body)
        .map_err(|error| Error::Closed(format!("cannot start thread {name}: {error}")))
}

impl RaftStore {
    /// Starts store `store_id` on `engines` (see the module docs).
    pub fn start(
        store_id: u64,
        engines: Engines,
        config: Config,
        transport: Arc<dyn Transport>,
        scheduler: Arc<dyn SchedulerClient>,
        snap_dir: PathBuf,
    ) -> Result<RaftStore> {
        config.validate().map_err(Error::InvalidRequest)?;
        match load_store_ident(&engines)? {
            Some(ident) if ident.store_id == store_id => {}
            Some(ident) => {
                return Err(Error::StoreNotMatch {
                    request_store_id: store_id,
                    actual_store_id: ident.store_id,
                })
            }
            None => {
                return Err(Error::InvalidRequest(format!(
                    "store {store_id} is not bootstrapped"
                )))
            }
        }
        let (raft_sender, raft_mailbox) = crossbeam_channel::unbounded();
        let (store_sender, store_mailbox) = crossbeam_channel::unbounded();
        let (region_sender, region_mailbox) = crossbeam_channel::unbounded();
        let (gc_sender, gc_mailbox) = crossbeam_channel::unbounded();
        let (snap_sender, snap_mailbox) = crossbeam_channel::unbounded();
        let (split_check_sender, split_check_mailbox) = crossbeam_channel::unbounded();
        let (scheduler_task_sender, scheduler_task_mailbox) = crossbeam_channel::unbounded();
        let (shutdown_sender, shutdown) = crossbeam_channel::bounded::<()>(0);
        let router = Router::new(store_id, raft_sender, store_sender);
        let snap_manager = SnapManager::new(
            snap_dir,
            config.snapshot_gc_idle_timeout,
            config.snapshot_max_total_size,
        )?;
        let store_meta = Arc::new(StoreMeta::default());

        let (peers, reapply) =
            load_peers(store_id, &config, &engines, &region_sender, &snap_manager)?;

        let mut threads = Vec::new();
        threads.extend(
            RegionWorker::new(
                store_id,
                engines.clone(),
                snap_manager.clone(),
                router.clone(),
            )
            .start(region_mailbox)
            .map_err(|error| Error::Closed(format!("cannot start the region worker: {error}")))?,
        );
        threads.push(
            crate::worker::raftlog_gc::start(store_id, engines.clone(), gc_mailbox)
                .map_err(|error| Error::Closed(format!("cannot start raftlog_gc: {error}")))?,
        );
        threads.push(
            SnapSender::new(
                store_id,
                snap_manager.clone(),
                Arc::clone(&transport),
                router.clone(),
                config.snapshot_chunk_size,
                config.snapshot_transfer_timeout,
            )
            .start(snap_mailbox)
            .map_err(|error| Error::Closed(format!("cannot start snap_runner: {error}")))?,
        );
        threads.push(
            SplitChecker::new(
                store_id,
                engines.clone(),
                router.clone(),
                Arc::clone(&scheduler),
                config.region_max_size,
                config.region_split_size,
            )
            .start(split_check_mailbox)
            .map_err(|error| Error::Closed(format!("cannot start split_check: {error}")))?,
        );
        threads.push(
            SchedulerRunner::new(store_id, router.clone(), scheduler)
                .start(scheduler_task_mailbox)
                .map_err(|error| Error::Closed(format!("cannot start scheduler_task: {error}")))?,
        );
        let store_worker = StoreWorker::new(
            store_id,
            config.clone(),
            engines.clone(),
            router.clone(),
            Arc::clone(&store_meta),
            snap_manager.clone(),
            region_sender.clone(),
            scheduler_task_sender.clone(),
            store_mailbox,
            shutdown.clone(),
        );
        threads.push(spawn(format!("store_worker-{store_id}"), move || {
            store_worker.run()
        })?);
        let context = StoreContext {
            store_id,
            config,
            engines: engines.clone(),
            transport,
            router: router.clone(),
            region_worker: region_sender.clone(),
            raftlog_gc: gc_sender,
            snap_runner: snap_sender,
            store_meta: Arc::clone(&store_meta),
            snap_manager: snap_manager.clone(),
            split_check: split_check_sender,
            scheduler_task: scheduler_task_sender,
        };
        let raft_worker = RaftWorker::new(context, raft_mailbox, shutdown);
        threads.push(spawn(format!("raft_worker-{store_id}"), move || {
            raft_worker.run()
        })?);

        let region_count = peers.len();
        for peer in peers {
            router.register(peer)?;
        }
        for task in reapply {
            info!(
                "store {store_id}: [region {}] re-applying the snapshot interrupted by a restart",
                task.region_id
            );
            if region_sender.send(RegionTask::Apply(task)).is_err() {
                warn!("store {store_id}: region worker is gone");
            }
        }
        drop(region_sender);
        info!("store {store_id}: started with {region_count} regions");
        Ok(RaftStore {
            store_id,
            receiver: SnapshotReceiver::new(store_id, snap_manager.clone(), router.clone()),
            router,
            store_meta,
            snap_manager,
            engines,
            shutdown: Some(shutdown_sender),
            threads,
        })
    }

    /// This store's id.
    pub fn store_id(&self) -> u64 {
        self.store_id
    }

    /// The router: send commands and raft messages to this store.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// The published status of this store's regions.
    pub fn store_meta(&self) -> &Arc<StoreMeta> {
        &self.store_meta
    }

    /// The snapshot directory manager.
    pub fn snap_manager(&self) -> &SnapManager {
        &self.snap_manager
    }

    /// The receiving end of snapshot streams (the transport delivers here).
    pub fn snapshot_receiver(&self) -> &SnapshotReceiver {
        &self.receiver
    }

    /// The store's engines.
    pub fn engines(&self) -> &Engines {
        &self.engines
    }

    /// Proposes `request` to its region; the answer arrives on the receiver.
    pub fn send_command(
        &self,
        request: proto::raft_cmdpb::RaftCmdRequest,
    ) -> Result<CallbackReceiver> {
        let (callback, receiver) = Callback::new();
        self.router
            .send_command(RaftCommand { request, callback })?;
        Ok(receiver)
    }

    /// Generates a snapshot of `region_id` now (optionally exporting it to
    /// `export_dir`) and waits up to `timeout` for the outcome (see
    /// [`Router::request_snapshot`]).
    pub fn request_snapshot(
        &self,
        region_id: u64,
        export_dir: Option<PathBuf>,
        timeout: Duration,
    ) -> std::result::Result<String, String> {
        self.router.request_snapshot(region_id, export_dir, timeout)
    }

    /// Compacts `region_id`'s log up to its applied index now (this store
    /// must lead the region) and waits up to `timeout` for the proposal
    /// (see [`Router::compact_log_now`]).
    pub fn compact_log_now(
        &self,
        region_id: u64,
        timeout: Duration,
    ) -> std::result::Result<String, String> {
        self.router.compact_log_now(region_id, timeout)
    }

    /// Stops every thread and waits for them (see the module docs).
    pub fn stop(mut self) {
        self.shutdown_and_join();
    }

    fn shutdown_and_join(&mut self) {
        drop(self.shutdown.take());
        for thread in self.threads.drain(..) {
            let name = thread.thread().name().unwrap_or("worker").to_string();
            if thread.join().is_err() {
                error!("store {}: thread {name} panicked", self.store_id);
            }
        }
        info!("store {}: stopped", self.store_id);
    }
}

impl Drop for RaftStore {
    fn drop(&mut self) {
        if self.shutdown.is_some() {
            self.shutdown_and_join();
        }
    }
}

/// Loads every region's peer from the kv engine. Regions left `Applying`
/// by a crash are repaired (see `peer_snapshot.rs`) and returned with the
/// task that re-applies their snapshot.
fn load_peers(
    store_id: u64,
    config: &Config,
    engines: &Engines,
    region_worker: &Sender<RegionTask>,
    snap_manager: &SnapManager,
) -> Result<(Vec<Peer>, Vec<ApplyTask>)> {
    let mut states = Vec::new();
    let start = keys::region_meta_min_key();
    let end = keys::region_meta_max_key();
    let mut corrupt = Vec::new();
    engines
        .kv
        .scan_cf(storage::CF_DEFAULT, &start, &end, |key, value| {
            match RegionLocalState::parse_from_bytes(value) {
                Ok(state) => states.push(state),
                Err(error) => corrupt.push(format!("{key:?}: {error}")),
            }
            Ok(true)
        })?;
    for message in corrupt {
        error!("store {store_id}: skipping a corrupt region state {message}");
    }
    let mut peers = Vec::new();
    let mut reapply = Vec::new();
    let mut tombstones = Vec::new();
    for state in &states {
        let region = state.region().clone();
        if state.state() == PeerState::Tombstone {
            tombstones.push(region);
            continue;
        }
        let Some(meta) = region
            .peers
            .iter()
            .find(|peer| peer.store_id == store_id)
            .cloned()
        else {
            warn!(
                "store {store_id}: region {} has no peer on this store; skipped",
                region.id
            );
            continue;
        };
        let mut apply_task = None;
        if state.state() == PeerState::Applying {
            apply_task = Some(recover_applying(store_id, engines, snap_manager, &region)?);
        }
        let mut peer = create_peer(store_id, config, engines, region_worker, region, meta)?;
        if let Some(task) = apply_task {
            peer.storage().snapshot_state.borrow_mut().state = SnapState::Applying;
            peer.applying_snapshot = Some(task.snapshot.clone());
            peer.apply_attempts = 1;
            reapply.push(task);
        }
        peers.push(peer);
    }
    finish_destroys(store_id, engines, region_worker, &states, &tombstones)?;
    Ok((peers, reapply))
}

/// Completes the destroy of Tombstone regions that a crash may have
/// interrupted (see `peer_destroy.rs`): their leftover raft state goes, and
/// their data range is destroyed again unless a live region of this store
/// now owns part of it (that region's data is authoritative; a snapshot
/// cleared its range before ingesting). Deleting an empty range is cheap.
fn finish_destroys(
    store_id: u64,
    engines: &Engines,
    region_worker: &Sender<RegionTask>,
    states: &[RegionLocalState],
    tombstones: &[proto::metapb::Region],
) -> Result<()> {
    let overlaps = |a: &proto::metapb::Region, b: &proto::metapb::Region| {
        (a.end_key.is_empty() || b.start_key < a.end_key)
            && (b.end_key.is_empty() || a.start_key < b.end_key)
    };
    for region in tombstones {
        if engines
            .raft
            .get_msg::<RaftLocalState>(&keys::raft_state_key(region.id))?
            .is_some()
        {
            info!(
                "store {store_id}: [region {}] deleting the raft state of a destroyed peer",
                region.id
            );
            let mut batch = WriteBatch::new();
            batch.delete_range_cf(
                storage::CF_DEFAULT,
                &keys::region_raft_prefix(region.id),
                &keys::region_raft_prefix_end(region.id),
            );
            engines.raft.write(batch, true)?;
        }
        if region.peers.is_empty() {
            // Never initialized: it had no data.
            continue;
        }
        let owned_by_live_region = states.iter().any(|state| {
            state.state() != PeerState::Tombstone
                && !state.region().peers.is_empty()
                && overlaps(state.region(), region)
        });
        if owned_by_live_region {
            continue;
        }
        let task = DestroyTask {
            region: region.clone(),
            delete_data: true,
        };
        if region_worker.send(RegionTask::Destroy(task)).is_err() {
            warn!("store {store_id}: region worker is gone");
        }
    }
    Ok(())
}

/// A region found `Applying` at startup: make the raft engine agree with
/// the snapshot raft state, and rebuild the apply task from the `rev_` files.
fn recover_applying(
    store_id: u64,
    engines: &Engines,
    snap_manager: &SnapManager,
    region: &proto::metapb::Region,
) -> Result<ApplyTask> {
    let region_id = region.id;
    let snapshot_raft_state = engines
        .kv
        .get_msg::<RaftLocalState>(&keys::snapshot_raft_state_key(region_id))?
        .ok_or_else(|| {
            Error::Snapshot(format!(
                "region {region_id} is Applying but has no snapshot raft state"
            ))
        })?;
    let raft_state = engines
        .raft
        .get_msg::<RaftLocalState>(&keys::raft_state_key(region_id))?
        .unwrap_or_default();
    if raft_state.last_index < snapshot_raft_state.last_index {
        // Crashed between the kv and raft writes of persist_snapshot.
        info!("store {store_id}: [region {region_id}] completing the raft state of an interrupted snapshot");
        let mut batch = WriteBatch::new();
        batch.delete_range_cf(
            storage::CF_DEFAULT,
            &keys::raft_log_key(region_id, 0),
            &keys::raft_log_key(region_id, snapshot_raft_state.last_index + 1),
        );
        batch.put_msg(&keys::raft_state_key(region_id), &snapshot_raft_state)?;
        engines.raft.write(batch, true)?;
    }
    let key = SnapKey {
        region_id,
        term: snapshot_raft_state.last_term,
        index: snapshot_raft_state.last_index,
    };
    let meta = snap_manager.read_meta(SnapKind::Received, key)?;
    let mut data = RaftSnapshotData::new();
    data.region = Some(region.clone()).into();
    data.meta = Some(meta).into();
    let mut snapshot = Snapshot::new();
    snapshot.data = data.write_to_bytes()?.into();
    snapshot.mut_metadata().index = key.index;
    snapshot.mut_metadata().term = key.term;
    Ok(ApplyTask {
        region_id,
        snapshot,
    })
}
