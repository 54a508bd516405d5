//! [`Router`]: delivers messages to the right mailbox.
//!
//! Every message for a region goes to the raft worker's mailbox tagged with
//! the region id; the raft worker owns the peers and looks the peer up.
//! The router remembers which regions have a peer on this store: a raft
//! message for a region it does not know goes to the **store worker**
//! instead, which decides whether to create a peer for it (a new replica
//! being added, or a follower that missed the region's creation).
//!
//! Anyone may hold a clone: the transport (messages from other stores),
//! clients (commands), snap_runner and the region worker (results).
//!
//! Lock order: the router's lock is taken alone; while it is held only a
//! channel send happens (never a lock of another component), so it cannot
//! deadlock.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use crossbeam_channel::Sender;

use proto::raft_serverpb::RaftMessage;

use crate::errors::{Error, Result};
use crate::msg::{PeerMsg, RaftCommand, StoreMsg};
use crate::peer::Peer;

/// A message in the raft worker's mailbox: which region it is for, and what.
#[derive(Debug)]
pub struct RegionMessage {
    /// The region whose peer should handle the message.
    pub region_id: u64,
    /// The message.
    pub message: PeerMsg,
}

/// Routes messages to peers (through the raft worker) and to the store worker.
#[derive(Clone)]
pub struct Router {
    inner: Arc<RouterInner>,
}

struct RouterInner {
    store_id: u64,
    /// Regions with a live peer on this store.
    regions: RwLock<HashSet<u64>>,
    raft_worker: Sender<RegionMessage>,
    store_worker: Sender<StoreMsg>,
}

impl Router {
    /// A router feeding the given mailboxes.
    pub fn new(
        store_id: u64,
        raft_worker: Sender<RegionMessage>,
        store_worker: Sender<StoreMsg>,
    ) -> Router {
        Router {
            inner: Arc::new(RouterInner {
                store_id,
                regions: RwLock::new(HashSet::new()),
                raft_worker,
                store_worker,
            }),
        }
    }

    /// The store this router belongs to.
    pub fn store_id(&self) -> u64 {
        self.inner.store_id
    }

    /// Hands a new peer to the raft worker and starts routing its region
    /// there. The `Create` message is sent while the write lock is held, so
    /// it is in the mailbox before any message routed to the region after
    /// registration: the raft worker always sees the peer first.
    pub fn register(&self, peer: Peer) -> Result<()> {
        let region_id = peer.region_id();
        let mut regions = self
            .inner
            .regions
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.inner
            .raft_worker
            .send(RegionMessage {
                region_id,
                message: PeerMsg::Create(Box::new(peer)),
            })
            .map_err(|_| Error::Closed("raft worker".to_string()))?;
        regions.insert(region_id);
        Ok(())
    }

    /// Stops routing to a region (its peer was destroyed).
    pub fn unregister(&self, region_id: u64) {
        self.inner
            .regions
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&region_id);
    }

    /// Whether this store has a peer of `region_id`.
    pub fn has_region(&self, region_id: u64) -> bool {
        self.inner
            .regions
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains(&region_id)
    }

    /// Sends `message` to the peer of `region_id`; fails with
    /// `RegionNotFound` if there is none.
    pub fn send(&self, region_id: u64, message: PeerMsg) -> Result<()> {
        let regions = self
            .inner
            .regions
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !regions.contains(&region_id) {
            return Err(Error::RegionNotFound(region_id));
        }
        self.inner
            .raft_worker
            .send(RegionMessage { region_id, message })
            .map_err(|_| Error::Closed("raft worker".to_string()))
    }

    /// Delivers a raft message from another store: to the region's peer if
    /// this store has one, otherwise to the store worker (which may create
    /// the peer). Decided under the read lock, so a peer registered
    /// concurrently either gets the message or the store worker does.
    pub fn send_raft_message(&self, message: RaftMessage) -> Result<()> {
        let region_id = message.region_id;
        let regions = self
            .inner
            .regions
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if regions.contains(&region_id) {
            self.inner
                .raft_worker
                .send(RegionMessage {
                    region_id,
                    message: PeerMsg::RaftMessage(Box::new(message)),
                })
                .map_err(|_| Error::Closed("raft worker".to_string()))
        } else {
            drop(regions);
            self.send_store(StoreMsg::RaftMessage(Box::new(message)))
        }
    }

    /// Delivers a command to its region's peer. If the region is unknown the
    /// callback is answered with `RegionNotFound` right away.
    pub fn send_command(&self, command: RaftCommand) -> Result<()> {
        let region_id = command.request.header().region_id;
        if !self.has_region(region_id) {
            command.callback.fail(&Error::RegionNotFound(region_id), 0);
            return Ok(());
        }
        self.send(region_id, PeerMsg::RaftCommand(command))
    }

    /// Generates a snapshot of `region_id` now (optionally exporting its
    /// files to `export_dir`) and waits up to `timeout` for the region
    /// worker's one-line outcome. Blocks the calling thread: for tools
    /// (the playground, the store's debug service), never the raft worker.
    pub fn request_snapshot(
        &self,
        region_id: u64,
        export_dir: Option<std::path::PathBuf>,
        timeout: std::time::Duration,
    ) -> std::result::Result<String, String> {
        let (reply, outcome) = crossbeam_channel::bounded(1);
        self.send(region_id, PeerMsg::RequestSnapshot { export_dir, reply })
            .map_err(|error| error.to_string())?;
        outcome
            .recv_timeout(timeout)
            .map_err(|_| format!("region {region_id}: no answer within {timeout:?}"))?
    }

    /// Compacts `region_id`'s log up to its applied index now (this store
    /// must lead the region) and waits up to `timeout` for the proposal's
    /// one-line description. Blocks the calling thread, as
    /// [`Router::request_snapshot`].
    pub fn compact_log_now(
        &self,
        region_id: u64,
        timeout: std::time::Duration,
    ) -> std::result::Result<String, String> {
        let (reply, outcome) = crossbeam_channel::bounded(1);
        self.send(region_id, PeerMsg::CompactLogNow { reply })
            .map_err(|error| error.to_string())?;
        outcome
            .recv_timeout(timeout)
            .map_err(|_| format!("region {region_id}: no answer within {timeout:?}"))?
    }

    /// Sends a message to the store worker.
    pub fn send_store(&self, message: StoreMsg) -> Result<()> {
        self.inner
            .store_worker
            .send(message)
            .map_err(|_| Error::Closed("store worker".to_string()))
    }
}
