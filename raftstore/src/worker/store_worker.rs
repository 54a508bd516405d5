//! The **store_worker** thread: messages for the store as a whole.
//!
//! In (store mailbox, [`StoreMsg`]): raft messages for regions this store
//! has no peer of, and peer-destroyed notices; plus a store tick every
//! `store_tick_interval` from a crossbeam `tick` channel.
//! Out: new peers (registered with the router, which hands them to the raft
//! worker), snapshot GC on the `SnapManager`, store heartbeats to the
//! scheduler_task worker.
//!
//! Creating a peer for an unknown region is how a store joins a region: the
//! leader of a region that added a peer on this store starts sending it
//! messages, and the first valid one creates an *uninitialized* peer (no key
//! range, no members) that waits for the leader's snapshot.
//!
//! Lifecycle: started by `RaftStore::start`, stopped when the shutdown
//! channel closes (checked first in the biased `select!`).

use crossbeam_channel::{select_biased, Receiver, Sender};
use log::{debug, info, warn};
use proto::eraftpb::MessageType;
use proto::metapb::Region;
use proto::raft_serverpb::{PeerState, RaftMessage, RegionLocalState};
use storage::{keys, Engines};

use crate::chain::chain;
use crate::config::Config;
use crate::errors::{Error, Result};
use crate::msg::StoreMsg;
use crate::peer::snapshot_state::SnapshotState;
use crate::peer::Peer;
use crate::router::Router;
use crate::snap_manager::SnapManager;
use crate::store_meta::StoreMeta;
use crate::worker::region_task::RegionTask;
use crate::worker::scheduler_task::SchedulerTask;
use proto::schedulerpb::StoreStats;
use std::sync::Arc;

/// The store worker.
pub struct StoreWorker {
    store_id: u64,
    config: Config,
    engines: Engines,
    router: Router,
    store_meta: Arc<StoreMeta>,
    snap_manager: SnapManager,
    region_worker: Sender<RegionTask>,
    scheduler_task: Sender<SchedulerTask>,
    mailbox: Receiver<StoreMsg>,
    shutdown: Receiver<()>,
}

/// Builds a peer with its snapshot machinery wired to the region worker.
pub fn create_peer(
    store_id: u64,
    config: &Config,
    engines: &Engines,
    region_worker: &Sender<RegionTask>,
    region: Region,
    meta: proto::metapb::Peer,
) -> Result<Peer> {
    let snapshot_state = SnapshotState::new(
        Some(region_worker.clone()),
        config.snapshot_generate_retry_limit,
        store_id,
    );
    Peer::new(
        store_id,
        config,
        engines.clone(),
        region,
        meta,
        snapshot_state,
    )
}

impl StoreWorker {
    /// A store worker over `mailbox`.
    #[allow(
        clippy::too_many_arguments,
        reason = "one field each; a builder would hide nothing"
    )]
    pub fn new(
        store_id: u64,
        config: Config,
        engines: Engines,
        router: Router,
        store_meta: Arc<StoreMeta>,
        snap_manager: SnapManager,
        region_worker: Sender<RegionTask>,
        scheduler_task: Sender<SchedulerTask>,
        mailbox: Receiver<StoreMsg>,
        shutdown: Receiver<()>,
    ) -> StoreWorker {
        StoreWorker {
            store_id,
            config,
            engines,
            router,
            store_meta,
            snap_manager,
            region_worker,
            scheduler_task,
            mailbox,
            shutdown,
        }
    }

    /// The worker's loop.
    pub fn run(self) {
        let ticker = crossbeam_channel::tick(self.config.store_tick_interval);
        info!("store {}: store worker started", self.store_id);
        loop {
            select_biased! {
                recv(self.shutdown) -> _ => break,
                recv(self.mailbox) -> message => match message {
                    Ok(StoreMsg::RaftMessage(message)) => {
                        if let Err(error) = self.on_raft_message(*message) {
                            debug!("store {}: dropped a message for an unknown region: {error}", self.store_id);
                        }
                    }
                    Ok(StoreMsg::PeerDestroyed { region_id }) => {
                        self.store_meta.remove(region_id);
                    }
                    Err(_) => break,
                },
                recv(ticker) -> _ => self.on_store_tick(),
            }
        }
        info!("store {}: store worker stopped", self.store_id);
    }

    /// Snapshot GC (delete idle snapshot files no region still needs),
    /// and the store heartbeat to the scheduler.
    fn on_store_tick(&self) {
        let statuses = self.store_meta.all();
        let applying: Vec<u64> = statuses
            .iter()
            .filter(|status| status.applying_snapshot)
            .map(|status| status.region.id)
            .collect();
        self.snap_manager.gc(&applying);
        let mut stats = StoreStats::new();
        stats.store_id = self.store_id;
        stats.region_count = statuses
            .iter()
            .filter(|status| !status.region.peers.is_empty())
            .count() as u32;
        stats.applying_snap_count = applying.len() as u32;
        stats.used_size = statuses.iter().map(|status| status.approximate_size).sum();
        match disk_space(self.engines.kv.path()) {
            Ok((capacity, available)) => {
                stats.capacity = capacity;
                stats.available = available;
            }
            // The scheduler then sees capacity 0 (unknown); heartbeats go on.
            Err(error) => debug!("store {}: cannot read disk space: {error}", self.store_id),
        }
        let _ = self
            .scheduler_task
            .send(SchedulerTask::StoreHeartbeat { stats });
    }

    /// A raft message for a region with no peer here: create the peer if
    /// the message is valid, then deliver it.
    fn on_raft_message(&self, message: RaftMessage) -> Result<()> {
        let region_id = message.region_id;
        let to_peer = message.to_peer().clone();
        if to_peer.store_id != self.store_id {
            return Err(Error::StoreNotMatch {
                request_store_id: to_peer.store_id,
                actual_store_id: self.store_id,
            });
        }
        if message.is_tombstone {
            return Err(Error::InvalidRequest(format!(
                "tombstone message for unknown region {region_id}"
            )));
        }
        // Raced with a registration: deliver normally.
        if self.router.has_region(region_id) {
            return self.router.send_raft_message(message);
        }
        // Only a leader or candidate creates peers: its messages are the
        // ones that can make progress. A response for a region we do not
        // have is stale.
        let msg_type = message.message().msg_type();
        let creates_peer = matches!(
            msg_type,
            MessageType::MsgAppend
                | MessageType::MsgHeartbeat
                | MessageType::MsgSnapshot
                | MessageType::MsgRequestVote
                | MessageType::MsgRequestPreVote
        );
        if !creates_peer {
            return Err(Error::InvalidRequest(format!(
                "{msg_type:?} cannot create a peer for region {region_id}"
            )));
        }
        // A region destroyed here: a message from its old epoch is stale.
        if let Some(state) = self
            .engines
            .kv
            .get_msg::<RegionLocalState>(&keys::region_state_key(region_id))?
        {
            if state.state() != PeerState::Tombstone {
                // The region exists on disk but its peer is not running
                // (it was stopped after a storage failure): do not start a
                // second, empty peer over its state. A restart recovers it.
                return Err(Error::InvalidRequest(format!(
                    "region {region_id} exists on this store but its peer is stopped"
                )));
            }
            if state.state() == PeerState::Tombstone {
                // A message of the destroyed incarnation's time (an older
                // configuration), or for the destroyed peer itself or an
                // even older one (peer ids only grow), is stale. A message
                // for a newer peer of this store is a new incarnation: the
                // region was given back to this store.
                let tombstone = state.region();
                let destroyed_conf_ver = tombstone.region_epoch().conf_ver;
                let destroyed_peer_id = tombstone
                    .peers
                    .iter()
                    .find(|peer| peer.store_id == self.store_id)
                    .map_or(0, |peer| peer.id);
                if message.region_epoch().conf_ver < destroyed_conf_ver
                    || to_peer.id <= destroyed_peer_id
                {
                    warn!(
                        "store {}: stale message for destroyed region {region_id} (conf_ver {} vs tombstone {destroyed_conf_ver}, peer {} vs destroyed {destroyed_peer_id}); dropped",
                        self.store_id,
                        message.region_epoch().conf_ver,
                        to_peer.id
                    );
                    return Err(Error::EpochNotMatch {
                        message: "region was destroyed on this store".to_string(),
                        current_regions: vec![tombstone.clone()],
                    });
                }
            }
        }
        // The message's range must not overlap a region we already have.
        if !message.start_key.is_empty() || !message.end_key.is_empty() {
            for status in self.store_meta.all() {
                let region = &status.region;
                if region.peers.is_empty() {
                    continue;
                }
                let overlaps = (message.end_key.is_empty() || region.start_key < message.end_key)
                    && (region.end_key.is_empty() || message.start_key < region.end_key);
                if overlaps {
                    return Err(Error::InvalidRequest(format!(
                        "region {region_id} overlaps region {} on this store",
                        region.id
                    )));
                }
            }
        }
        let mut region = Region::new();
        region.id = region_id;
        let peer = create_peer(
            self.store_id,
            &self.config,
            &self.engines,
            &self.region_worker,
            region,
            to_peer.clone(),
        )?;
        info!(
            "store {}: created peer {} for region {region_id} (uninitialized)",
            self.store_id, to_peer.id
        );
        chain!(
            "StoreWorker::on_raft_message",
            region_id,
            0,
            "store {}: created uninitialized peer {} for a {msg_type:?} from peer {}",
            self.store_id,
            to_peer.id,
            message.from_peer().id
        );
        self.router.register(peer)?;
        self.router.send_raft_message(message)
    }
}

/// The total and the available bytes of the file system holding `path`
/// (what `df` shows), for the store heartbeat.
fn disk_space(path: &std::path::Path) -> std::io::Result<(u64, u64)> {
    let stats = rustix::fs::statvfs(path)?;
    Ok((
        stats.f_blocks.saturating_mul(stats.f_frsize),
        stats.f_bavail.saturating_mul(stats.f_frsize),
    ))
}
