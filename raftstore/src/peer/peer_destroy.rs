//! Destroying a peer that left its region (lab 3B): `Peer::destroy`, and
//! the tombstone messages that tell a removed peer it is gone.
//!
//! Runs on the raft worker thread. In: the peer's own applied removal
//! (`apply.rs`), or a tombstone `RaftMessage` from a member of a newer
//! configuration (`PeerMsgHandler::on_raft_message`). Out: the region's
//! state on disk becomes Tombstone, a `RegionTask::Destroy` to the region
//! worker (data range and snapshot files), and the peer leaves StoreMeta
//! and, once the raft worker sees it stopped, the router.
//!
//! Crash safety of `Peer::destroy` (two engines, no shared batch):
//!
//! 1. kv engine, one synced batch: region state `Tombstone` (with the
//!    newest epoch known and this store's destroyed peer, so late messages
//!    of older epochs or for that peer create nothing), the apply state and
//!    snapshot raft state deleted.
//! 2. raft engine, one synced batch: the region's log and raft state deleted.
//! 3. region worker: the data range and the region's snapshot files deleted.
//!
//! * Crash before 1: nothing changed; the removal is applied again (or the
//!   tombstone message comes again) after the restart.
//! * Crash after 1: startup skips the Tombstone region, deletes its leftover
//!   raft state, and schedules the Destroy of its range again if no live
//!   region on this store overlaps it (`RaftStore::start`).
//!
//! A peer applying a snapshot is not destroyed while the region worker is
//! writing its range: the destroy waits for `finish_snapshot_apply`, so the
//! Apply's final "Normal" can never overwrite the Tombstone.

use log::info;
use proto::metapb::RegionEpoch;
use proto::raft_serverpb::{PeerState, RaftMessage, RegionLocalState};
use storage::{keys, WriteBatch};

use crate::chain::chain;
use crate::errors::{Error, Result};
use crate::failpoints::failpoint;
use crate::peer::Peer;
use crate::store_context::StoreContext;
use crate::worker::region_task::{DestroyTask, RegionTask};

impl Peer {
    // lab 3B: begin — destroy a removed peer: Tombstone first, then its raft state, then its data on the region worker (docs/labs/lab3b.md#destroy)
    /// Destroys this peer (see the module docs for the order). `newer_epoch`
    /// is the epoch of the tombstone message that asked for it, if any; the
    /// Tombstone records the newest epoch known.
    pub fn destroy(
        &mut self,
        ctx: &StoreContext,
        newer_epoch: Option<&RegionEpoch>,
        reason: &str,
    ) -> Result<()> {
        if self.stopped {
            return Ok(());
        }
        if self.storage().snapshot_state.borrow().is_applying() {
            info!(
                "{} will be destroyed ({reason}) once its snapshot is applied",
                self.tag()
            );
            self.pending_destroy = true;
            return Ok(());
        }
        let region_id = self.region_id();
        let mut tombstone_region = self.region().clone();
        // The tombstone names this store's destroyed peer, even when the
        // region it records (after a removal) no longer has it: the store
        // worker refuses messages for that peer or older ones, and accepts
        // a newer peer of this store (the region given back). An
        // uninitialized peer's region stays without peers: that is how
        // startup knows it had no data range to destroy.
        if self.storage().is_initialized()
            && !tombstone_region
                .peers
                .iter()
                .any(|peer| peer.id == self.meta.id)
        {
            tombstone_region.peers.push(self.meta.clone());
        }
        if let Some(newer) = newer_epoch {
            let epoch = tombstone_region.mut_region_epoch();
            epoch.conf_ver = epoch.conf_ver.max(newer.conf_ver);
            epoch.version = epoch.version.max(newer.version);
        }
        // 1. kv engine: Tombstone, apply state gone.
        let mut region_state = RegionLocalState::new();
        region_state.set_state(PeerState::Tombstone);
        region_state.region = Some(tombstone_region.clone()).into();
        let mut kv_batch = WriteBatch::new();
        kv_batch.put_msg(&keys::region_state_key(region_id), &region_state)?;
        kv_batch.delete(&keys::apply_state_key(region_id));
        kv_batch.delete(&keys::snapshot_raft_state_key(region_id));
        ctx.engines.kv.write(kv_batch, true)?;
        failpoint!("peer_after_tombstone", ctx.store_id);

        // 2. raft engine: the log and the raft state.
        let mut raft_batch = WriteBatch::new();
        raft_batch.delete_range_cf(
            storage::CF_DEFAULT,
            &keys::region_raft_prefix(region_id),
            &keys::region_raft_prefix_end(region_id),
        );
        ctx.engines.raft.write(raft_batch, true)?;

        // 3. The data range (only an initialized peer has one: an
        // uninitialized peer's empty range would mean "everything") and
        // the snapshot files, on the region worker.
        let task = DestroyTask {
            region: self.region().clone(),
            delete_data: self.storage().is_initialized(),
        };
        if ctx.region_worker.send(RegionTask::Destroy(task)).is_err() {
            log::warn!(
                "{} region worker is gone; the data range is destroyed at the next start",
                self.tag()
            );
        }

        // 4. Leave the store.
        ctx.store_meta.remove(region_id);
        ctx.store_meta.remove_pending_snapshot(region_id);
        self.fail_all_proposals(&Error::RegionNotFound(region_id));
        self.stopped = true;
        chain!(
            "Peer::destroy",
            region_id,
            self.storage().applied_index(),
            "store {}: peer {} tombstoned at conf_ver {} ({reason}); Destroy task scheduled",
            ctx.store_id,
            self.meta.id,
            tombstone_region.region_epoch().conf_ver
        );
        Ok(())
    }

    /// Tells a peer that sent us a message from an older configuration,
    /// and is not a member of ours, that it was removed: it destroys itself
    /// (`Peer::on_tombstone_message`). A peer that never had a
    /// configuration (conf_ver 0, uninitialized) may be one being added
    /// right now, so it is left alone.
    pub fn send_tombstone(&self, ctx: &StoreContext, stale: &RaftMessage) {
        if stale.region_epoch().conf_ver == 0 {
            return;
        }
        let mut message = RaftMessage::new();
        message.region_id = self.region_id();
        message.from_peer = Some(self.meta.clone()).into();
        message.to_peer = stale.from_peer.clone();
        message.region_epoch = Some(self.region().region_epoch().clone()).into();
        message.is_tombstone = true;
        chain!(
            "Peer::send_tombstone",
            self.region_id(),
            0,
            "store {}: peer {} of an older configuration is told it was removed",
            ctx.store_id,
            stale.from_peer().id
        );
        if let Err(error) = ctx.transport.send(message) {
            log::debug!("{} cannot send a tombstone: {error}", self.tag());
        }
    }

    /// A tombstone message: a member of a newer configuration says this
    /// peer is no longer in the region. Destroys the peer if the message's
    /// configuration is newer than ours; ignores it otherwise.
    pub fn on_tombstone_message(
        &mut self,
        ctx: &StoreContext,
        message: &RaftMessage,
    ) -> Result<()> {
        let theirs = message.region_epoch();
        let ours = self.region().region_epoch();
        if message.to_peer().id != self.meta.id || theirs.conf_ver <= ours.conf_ver {
            return Err(Error::EpochNotMatch {
                message: format!(
                    "tombstone at conf_ver {} is not newer than ours ({})",
                    theirs.conf_ver, ours.conf_ver
                ),
                current_regions: vec![self.region().clone()],
            });
        }
        let epoch = theirs.clone();
        self.destroy(
            ctx,
            Some(&epoch),
            "a newer configuration does not include it",
        )
    }
    // lab 3B: end
}
