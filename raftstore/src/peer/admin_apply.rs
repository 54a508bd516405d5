//! Applying the replicated admin commands of lab 3B: ChangePeer (a raft
//! conf-change entry) and Split (a normal entry), as `Peer` methods.
//!
//! Runs on the raft worker thread, inside `Peer::apply_committed_entries`
//! (`apply.rs`), so the region's new state goes into the same kv write
//! batch as the apply state that records the entry: after a crash either
//! both are on disk or neither is, and the entry is applied again.
//!
//! | entry | region change | in the kv batch | after the batch is written |
//! |---|---|---|---|
//! | ChangePeer add/remove | peers ± 1, `conf_ver` + 1 | RegionLocalState | raft learns the membership (`apply_conf_change`); a removed self is destroyed |
//! | Split | `[start, key)` + new `[key, end)`, `version` + 1 on both | both RegionLocalStates, the new region's apply state | the new peer is created (`Peer::create_split_peer`) |

use log::{info, warn};
use proto::eraftpb::{ConfChange, ConfChangeType, Entry};
use proto::metapb::{self, Region};
use proto::raft_cmdpb::{AdminCmdType, AdminResponse, RaftCmdRequest, RaftCmdResponse};
use proto::raft_serverpb::{PeerState, RaftApplyState, RegionLocalState};
use protobuf::Message as _;
use storage::{keys, WriteBatch};

use crate::chain::chain;
use crate::errors::{Error, Result};
use crate::msg::CmdResponse;
use crate::peer::admin_propose::{changed_region, check_split_request};
use crate::peer::peer_storage::{RAFT_INIT_LOG_INDEX, RAFT_INIT_LOG_TERM};
use crate::peer::Peer;
use crate::store_context::StoreContext;

/// What an applied admin entry leaves for after the kv batch is written.
#[derive(Debug, Default)]
pub(crate) struct AdminEffects {
    /// This peer was removed from its region: destroy it.
    pub removed_self: bool,
    /// A split created this region: create its peer on this store.
    pub split_regions: Vec<Region>,
    /// A conf change or split changed this region's shape.
    pub region_changed: bool,
}

/// A successful admin response of `cmd_type` at `term`.
fn admin_ok(
    cmd_type: AdminCmdType,
    term: u64,
    fill: impl FnOnce(&mut AdminResponse),
) -> CmdResponse {
    let mut response = RaftCmdResponse::new();
    response.mut_header().current_term = term;
    let mut admin = AdminResponse::new();
    admin.set_cmd_type(cmd_type);
    fill(&mut admin);
    response.admin_response = Some(admin).into();
    CmdResponse {
        response,
        snapshot: None,
    }
}

/// The region state record of `region` in state `state`.
fn region_state(region: &Region, state: PeerState) -> RegionLocalState {
    let mut region_state = RegionLocalState::new();
    region_state.set_state(state);
    region_state.region = Some(region.clone()).into();
    region_state
}

impl Peer {
    // lab 3B: begin — apply a membership change: new region epoch and peers in the kv batch, then tell raft (docs/labs/lab3b.md#change-peer)
    /// Applies a committed conf-change entry. Returns the response for its
    /// proposal (None when the entry does not decode: nothing to answer).
    pub(crate) fn apply_conf_change_entry(
        &mut self,
        ctx: &StoreContext,
        entry: &Entry,
        kv_batch: &mut WriteBatch,
        effects: &mut AdminEffects,
    ) -> Option<CmdResponse> {
        let term = self.term();
        let conf_change = match ConfChange::parse_from_bytes(&entry.data) {
            Ok(conf_change) => conf_change,
            Err(error) => {
                warn!(
                    "{} conf change at {} does not decode ({error}); skipped",
                    self.tag(),
                    entry.index
                );
                return None;
            }
        };
        let request = match RaftCmdRequest::parse_from_bytes(&conf_change.context) {
            Ok(request) => request,
            Err(error) => {
                warn!(
                    "{} conf change at {} carries no request ({error}); skipped",
                    self.tag(),
                    entry.index
                );
                return None;
            }
        };
        match self.exec_change_peer(ctx, &conf_change, &request, entry.index, kv_batch) {
            Ok((region, removed_self)) => {
                effects.removed_self |= removed_self;
                effects.region_changed = true;
                Some(admin_ok(AdminCmdType::ChangePeer, term, |admin| {
                    admin.mut_change_peer().region = Some(region).into();
                }))
            }
            Err(error) => {
                info!(
                    "{} conf change at {} refused at apply: {error}",
                    self.tag(),
                    entry.index
                );
                Some(CmdResponse::from_error(&error, term))
            }
        }
    }

    /// Checks the change against the region as it is now, stages the new
    /// region state and changes raft's membership. Returns the new region
    /// and whether this peer was the one removed.
    fn exec_change_peer(
        &mut self,
        ctx: &StoreContext,
        conf_change: &ConfChange,
        request: &RaftCmdRequest,
        index: u64,
        kv_batch: &mut WriteBatch,
    ) -> Result<(Region, bool)> {
        if !request.admin_request.is_some()
            || request.admin_request().cmd_type() != AdminCmdType::ChangePeer
        {
            return Err(Error::InvalidRequest(
                "conf change entry without a ChangePeer request".to_string(),
            ));
        }
        let change = request.admin_request().change_peer();
        let target = change.peer().clone();
        if target.id != conf_change.node_id || change.change_type() != conf_change.change_type() {
            return Err(Error::InvalidRequest(format!(
                "conf change for node {} disagrees with its request (peer {})",
                conf_change.node_id, target.id
            )));
        }
        // The change was made against one membership; if another change
        // was applied since (possible after a leader change), it is stale.
        let current = self.region().region_epoch().clone();
        if request.header().region_epoch.is_some()
            && request.header().region_epoch().conf_ver != current.conf_ver
        {
            return Err(Error::EpochNotMatch {
                message: format!(
                    "ChangePeer made at conf_ver {}, region {} is at conf_ver {}",
                    request.header().region_epoch().conf_ver,
                    self.region_id(),
                    current.conf_ver
                ),
                current_regions: vec![self.region().clone()],
            });
        }
        let region = changed_region(self.region(), change.change_type(), &target)?;
        // Raft first: if it refuses (it should not, it saw the same log),
        // nothing has been staged and the region stays as it was.
        self.raft_group.apply_conf_change(conf_change)?;
        kv_batch.put_msg(
            &keys::region_state_key(region.id),
            &region_state(&region, PeerState::Normal),
        )?;
        self.storage_mut().set_region(region.clone());
        ctx.store_meta.update_region(&region);
        if change.change_type() == ConfChangeType::AddNode {
            self.peer_cache.insert(target.id, target.clone());
        }
        let removed_self =
            change.change_type() == ConfChangeType::RemoveNode && target.id == self.meta.id;
        chain!(
            "Peer::apply_conf_change_entry",
            region.id,
            index,
            "store {}: applied {:?} of peer {} (store {}); conf_ver now {}",
            ctx.store_id,
            change.change_type(),
            target.id,
            target.store_id,
            region.region_epoch().conf_ver
        );
        Ok((region, removed_self))
    }
    // lab 3B: end

    // lab 3B: begin — apply a split: shrink this region, stage the new one, bump both versions (docs/labs/lab3b.md#split)
    /// Applies a committed Split: this region keeps `[start, split_key)`,
    /// a new region takes `[split_key, end)` with the new peer ids, both
    /// get `version + 1`. Both region states and the new region's initial
    /// apply state go into `kv_batch`; the new peer is created after the
    /// batch is written (`effects.split_regions`).
    pub(crate) fn apply_split(
        &mut self,
        ctx: &StoreContext,
        request: &RaftCmdRequest,
        index: u64,
        kv_batch: &mut WriteBatch,
        effects: &mut AdminEffects,
    ) -> Result<CmdResponse> {
        let term = self.term();
        let current = self.region().region_epoch().clone();
        if request.header().region_epoch.is_some() {
            let requested = request.header().region_epoch();
            if requested.version != current.version || requested.conf_ver != current.conf_ver {
                return Err(Error::EpochNotMatch {
                    message: format!(
                        "Split made at epoch ({}, {}), region {} is at ({}, {})",
                        requested.conf_ver,
                        requested.version,
                        self.region_id(),
                        current.conf_ver,
                        current.version
                    ),
                    current_regions: vec![self.region().clone()],
                });
            }
        }
        check_split_request(self.region(), request)?;
        let split = request.admin_request().split();
        let mut left = self.region().clone();
        left.mut_region_epoch().version += 1;
        let mut right = left.clone();
        right.id = split.new_region_id;
        right.start_key = split.split_key.clone();
        right.peers = left
            .peers
            .iter()
            .zip(&split.new_peer_ids)
            .map(|(peer, new_id)| {
                let mut new_peer = metapb::Peer::new();
                new_peer.id = *new_id;
                new_peer.store_id = peer.store_id;
                new_peer
            })
            .collect();
        left.end_key = split.split_key.clone();

        kv_batch.put_msg(
            &keys::region_state_key(left.id),
            &region_state(&left, PeerState::Normal),
        )?;
        // The new region may already exist here: a peer of it created by a
        // message (and maybe filled by a snapshot) while this store lagged
        // behind. Its state is newer than what the split would write.
        // (A tombstone counts too: this store's peer of the new region was
        // already removed from it; creating it again would revive it.)
        let right_exists = ctx.router.has_region(right.id)
            || ctx
                .engines
                .kv
                .get_msg::<RegionLocalState>(&keys::region_state_key(right.id))?
                .is_some();
        if right_exists {
            info!(
                "{} split: region {} already exists on this store; not creating it",
                self.tag(),
                right.id
            );
        } else {
            // The new region's whole initial state: its log starts empty
            // after RAFT_INIT_LOG_INDEX (its raft state is derived from this
            // by PeerStorage::new), so a restart right after this batch
            // creates the peer from disk.
            let mut apply_state = RaftApplyState::new();
            apply_state.applied_index = RAFT_INIT_LOG_INDEX;
            apply_state.mut_truncated_state().index = RAFT_INIT_LOG_INDEX;
            apply_state.mut_truncated_state().term = RAFT_INIT_LOG_TERM;
            kv_batch.put_msg(&keys::apply_state_key(right.id), &apply_state)?;
            kv_batch.put_msg(
                &keys::region_state_key(right.id),
                &region_state(&right, PeerState::Normal),
            )?;
            effects.split_regions.push(right.clone());
        }
        self.storage_mut().set_region(left.clone());
        // The measured size was of the whole range: unknown until the next
        // split check measures the left half (the next tick asks for one).
        self.approximate_size = None;
        ctx.store_meta.update_region(&left);
        effects.region_changed = true;
        chain!(
            "Peer::apply_split",
            left.id,
            index,
            "store {}: region {} now [{:?}, {:?}), new region {} [{:?}, {:?})",
            ctx.store_id,
            left.id,
            String::from_utf8_lossy(&left.start_key),
            String::from_utf8_lossy(&left.end_key),
            right.id,
            String::from_utf8_lossy(&right.start_key),
            String::from_utf8_lossy(&right.end_key)
        );
        Ok(admin_ok(AdminCmdType::Split, term, |admin| {
            admin.mut_split().regions = vec![left, right];
        }))
    }
    // lab 3B: end
}

impl Peer {
    /// Creates this store's peer of `region`, born from a split applied
    /// here: it campaigns at once if this peer leads the parent region (the
    /// other stores' new peers wait for its messages).
    pub(crate) fn create_split_peer(&self, ctx: &StoreContext, region: Region) {
        let Some(meta) = region
            .peers
            .iter()
            .find(|peer| peer.store_id == ctx.store_id)
            .cloned()
        else {
            warn!(
                "{} split: new region {} has no peer on this store",
                self.tag(),
                region.id
            );
            return;
        };
        let region_id = region.id;
        let mut peer = match crate::worker::store_worker::create_peer(
            ctx.store_id,
            &ctx.config,
            &ctx.engines,
            &ctx.region_worker,
            region,
            meta,
        ) {
            Ok(peer) => peer,
            Err(error) => {
                log::error!(
                    "{} split: cannot create the peer of new region {region_id}: {error}",
                    self.tag()
                );
                return;
            }
        };
        if self.is_leader() {
            if let Err(error) = peer.raft_group.campaign() {
                warn!("{} cannot campaign: {error}", peer.tag());
            }
        }
        chain!(
            "Peer::create_split_peer",
            region_id,
            RAFT_INIT_LOG_INDEX,
            "store {}: created peer {} of the new region{}",
            ctx.store_id,
            peer.meta.id,
            if self.is_leader() {
                ", campaigning"
            } else {
                ""
            }
        );
        peer.publish_status(ctx);
        if let Err(error) = ctx.router.register(peer) {
            warn!(
                "{} split: cannot register region {region_id}: {error}",
                self.tag()
            );
        }
    }
}
