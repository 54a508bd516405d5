//! The **raft_worker** thread: owns every peer of the store, drains their
//! mailbox in batches, and handles their Ready.
//!
//! In: [`RegionMessage`]s on the raft worker mailbox (raft messages from the
//! transport, client commands, `Create` for new peers, snapshot results from
//! the region worker and snap_runner), and a tick every
//! `raft_base_tick_interval` from a crossbeam `tick` channel.
//! Out: raft messages through the `Transport`, tasks to the region worker,
//! raftlog_gc and snap_runner, answers on command callbacks.
//!
//! One loop iteration:
//! 1. wait for the first message (or tick, or shutdown);
//! 2. take up to `raft_worker_batch_size` more without waiting, and let
//!    each peer's `PeerMsgHandler` handle its messages (steps and proposals
//!    only change in-memory state);
//! 3. `RaftWorker::handle_readies`: every touched peer stages its Ready's
//!    raft-log writes (`Peer::handle_raft_ready`); all of them go to the
//!    raft engine as one write, synced if any of them must be (a Ready
//!    that only moves the commit index need not), so one disk wait covers
//!    every proposal of every region in the batch; then each peer sends
//!    its messages, applies its committed entries and advances
//!    (`Peer::post_raft_ready`).
//!
//! Lifecycle: started by `RaftStore::start`; it stops when the shutdown
//! channel is closed (the `RaftStore` drops its sender), which the biased
//! `select!` checks first so a busy mailbox cannot delay shutdown.

use std::collections::{BTreeSet, HashMap};

use crossbeam_channel::{select_biased, Receiver};
use log::{error, info, warn};
use storage::WriteBatch;

use crate::msg::PeerMsg;
use crate::peer::peer_msg_handler::PeerMsgHandler;
use crate::peer::Peer;
use crate::router::RegionMessage;
use crate::store_context::StoreContext;

/// Stops a peer whose Ready could not be handled: the engines are broken
/// for it, so it stops rather than go on with state that disagrees with
/// the disk; its clients hear RegionNotFound; the store keeps running.
fn stop_peer(peer: &mut Peer, region_id: u64, why: &str) {
    error!("{} stopped: {why}", peer.tag());
    peer.stopped = true;
    peer.fail_all_proposals(&crate::errors::Error::RegionNotFound(region_id));
}

/// The raft worker: the peers and the mailbox they are fed from.
pub struct RaftWorker {
    context: StoreContext,
    mailbox: Receiver<RegionMessage>,
    shutdown: Receiver<()>,
    peers: HashMap<u64, Peer>,
}

impl RaftWorker {
    /// A worker over `mailbox`; it runs until `shutdown` is closed.
    pub fn new(
        context: StoreContext,
        mailbox: Receiver<RegionMessage>,
        shutdown: Receiver<()>,
    ) -> RaftWorker {
        RaftWorker {
            context,
            mailbox,
            shutdown,
            peers: HashMap::new(),
        }
    }

    /// The worker's loop (see the module docs).
    pub fn run(mut self) {
        let ticker = crossbeam_channel::tick(self.context.config.raft_base_tick_interval);
        let batch_size = self.context.config.raft_worker_batch_size.max(1);
        info!("store {}: raft worker started", self.context.store_id);
        loop {
            // Regions touched in this iteration; a BTreeSet so Ready
            // handling happens in a stable order (easier to read in logs).
            let mut touched = BTreeSet::new();
            select_biased! {
                // Shutdown first: it is never starved by a busy mailbox.
                recv(self.shutdown) -> _ => break,
                recv(self.mailbox) -> message => match message {
                    Ok(message) => {
                        self.dispatch(message, &mut touched);
                        // Drain more without waiting: their Ready handling
                        // (and its synced write) is shared.
                        let more: Vec<RegionMessage> = self.mailbox.try_iter().take(batch_size - 1).collect();
                        for message in more {
                            self.dispatch(message, &mut touched);
                        }
                    }
                    // Every router is gone: nothing can reach us any more.
                    Err(_) => break,
                },
                recv(ticker) -> _ => {
                    for (region_id, peer) in self.peers.iter_mut() {
                        PeerMsgHandler::new(peer, &self.context).on_tick();
                        touched.insert(*region_id);
                    }
                }
            }
            self.handle_readies(touched);
        }
        // Answer every waiting client so nobody blocks on a stopped store.
        for peer in self.peers.values_mut() {
            peer.fail_all_proposals(&crate::errors::Error::Closed(format!(
                "store {}",
                self.context.store_id
            )));
        }
        info!("store {}: raft worker stopped", self.context.store_id);
    }

    /// Handles the Readies of the peers touched in one iteration: stage
    /// each one's raft-log writes, write them all at once, then let each
    /// send, apply and advance. Crash safety: nothing a Ready's messages
    /// promise (entries, term, vote) is sent before the one write that
    /// holds it returned, synced; a peer whose staging failed has nothing
    /// in that write (its batch is dropped with it).
    fn handle_readies(&mut self, touched: BTreeSet<u64>) {
        // Tests pause here ("pause") to let messages pile up in the mailbox.
        fail::fail_point!(&format!(
            "raft_worker_before_readies_{}",
            self.context.store_id
        ));
        let mut raft_batch = WriteBatch::new();
        let mut must_sync = false;
        let mut staged = Vec::new();
        for region_id in touched {
            let Some(peer) = self.peers.get_mut(&region_id) else {
                continue;
            };
            let applied_before = peer.storage().applied_index();
            match peer.handle_raft_ready(&self.context) {
                Ok(Some(mut ready)) => {
                    must_sync |= ready.must_sync;
                    raft_batch.extend(std::mem::take(&mut ready.raft_batch));
                    staged.push((region_id, applied_before, Some(ready)));
                }
                Ok(None) => staged.push((region_id, applied_before, None)),
                Err(error) => {
                    stop_peer(
                        peer,
                        region_id,
                        &format!("persisting its Ready failed: {error}"),
                    );
                    staged.push((region_id, applied_before, None));
                }
            }
        }
        // One write, one disk wait, for every region of the iteration.
        let write_failure = if raft_batch.is_empty() {
            None
        } else {
            self.context
                .engines
                .raft
                .write(raft_batch, must_sync)
                .err()
                .map(|error| format!("writing its Ready to the raft engine failed: {error}"))
        };
        for (region_id, applied_before, ready) in staged {
            let Some(peer) = self.peers.get_mut(&region_id) else {
                continue;
            };
            if let Some(ready) = ready {
                match &write_failure {
                    // Nothing of this Ready may go out: its writes are lost.
                    Some(why) => stop_peer(peer, region_id, why),
                    None => {
                        if let Err(error) = peer.post_raft_ready(&self.context, ready) {
                            stop_peer(
                                peer,
                                region_id,
                                &format!("handling its Ready failed: {error}"),
                            );
                        }
                    }
                }
            }
            if !peer.stopped && peer.is_leader() && peer.storage().applied_index() > applied_before
            {
                PeerMsgHandler::new(peer, &self.context).on_raft_log_gc_tick();
            }
            if peer.stopped {
                self.peers.remove(&region_id);
                self.context.router.unregister(region_id);
            }
        }
    }

    fn dispatch(&mut self, message: RegionMessage, touched: &mut BTreeSet<u64>) {
        let RegionMessage { region_id, message } = message;
        if let PeerMsg::Create(peer) = message {
            if self.peers.contains_key(&region_id) {
                warn!(
                    "store {}: region {region_id} already has a peer; Create ignored",
                    self.context.store_id
                );
                return;
            }
            peer.publish_status(&self.context);
            self.peers.insert(region_id, *peer);
            touched.insert(region_id);
            return;
        }
        match self.peers.get_mut(&region_id) {
            Some(peer) => {
                PeerMsgHandler::new(peer, &self.context).handle(message);
                touched.insert(region_id);
            }
            None => {
                if let PeerMsg::RaftCommand(command) = message {
                    command
                        .callback
                        .fail(&crate::errors::Error::RegionNotFound(region_id), 0);
                }
            }
        }
    }
}
