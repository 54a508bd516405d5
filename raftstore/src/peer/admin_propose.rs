//! The leader's side of the admin commands of lab 3B: TransferLeader,
//! ChangePeer and Split, as `PeerMsgHandler` methods.
//!
//! Runs on the raft worker thread, called from
//! `PeerMsgHandler::propose_raft_command` after the common checks
//! (leader, store, epoch). In: the client's `RaftCmdRequest`. Out: a raft
//! proposal (ChangePeer, Split) answered at apply time through the
//! proposal's `Callback`, or an immediate answer (TransferLeader, and every
//! refusal, each with its typed error).
//!
//! | command | replicated? | what the leader checks first |
//! |---|---|---|
//! | TransferLeader | no: raft's MsgTransferLeader | target is a member, not lagging, no conf change pending |
//! | ChangePeer | yes: a conf-change entry | one change at a time, no duplicate add, no absent or last-voter removal |
//! | Split | yes: a normal entry | key inside the region and not at its bounds, one new peer id per peer |

use log::info;
use proto::eraftpb::{ConfChange, ConfChangeType};
use proto::metapb;
use proto::raft_cmdpb::{
    AdminCmdType, AdminRequest, AdminResponse, RaftCmdRequest, RaftCmdResponse,
};
use protobuf::Message as _;

use crate::chain::chain;
use crate::errors::{Error, Result};
use crate::msg::{Callback, CmdResponse, RaftCommand};
use crate::peer::peer_msg_handler::PeerMsgHandler;
use crate::scheduler_client::SplitIds;
use crate::worker::split_check::SplitCheckTask;

/// Whether a membership change proposed earlier is not applied yet (raft
/// accepts one at a time; a second one would become a no-op entry).
fn conf_change_pending(handler: &PeerMsgHandler<'_>) -> bool {
    let raft = &handler.peer.raft_group.raft;
    raft.pending_conf_index > raft.raft_log.applied
}

impl PeerMsgHandler<'_> {
    // lab 3B: begin — leader transfer is not replicated: step it into raft and answer at once (docs/labs/lab3b.md#transfer-leader)
    /// TransferLeader: checked, stepped into raft, answered at once. Raft
    /// does the rest (brings the target up to date, then MsgTimeoutNow).
    pub(crate) fn propose_transfer_leader(&mut self, request: &RaftCmdRequest, callback: Callback) {
        let term = self.peer.term();
        let target = request.admin_request().transfer_leader().peer().clone();
        if let Err(error) = self.check_transfer_leader(&target) {
            info!(
                "{} refuses to transfer leadership: {error}",
                self.peer.tag()
            );
            callback.fail(&error, term);
            return;
        }
        if target.id != self.peer.meta.id {
            info!(
                "{} transfers leadership to peer {} (store {})",
                self.peer.tag(),
                target.id,
                target.store_id
            );
            self.peer.raft_group.transfer_leader(target.id);
        }
        callback.done(admin_response(AdminCmdType::TransferLeader, term));
    }

    fn check_transfer_leader(&self, target: &metapb::Peer) -> Result<()> {
        if target.id == self.peer.meta.id {
            return Ok(());
        }
        if !self
            .peer
            .region()
            .peers
            .iter()
            .any(|peer| peer.id == target.id)
        {
            return Err(Error::TransferLeaderRefused(format!(
                "peer {} is not a member of region {}",
                target.id,
                self.peer.region_id()
            )));
        }
        if conf_change_pending(self) {
            return Err(Error::TransferLeaderRefused(
                "a membership change is not applied yet".to_string(),
            ));
        }
        let raft = &self.peer.raft_group.raft;
        let last_index = raft.raft_log.last_index();
        let matched = raft
            .prs()
            .get(&target.id)
            .map_or(0, |progress| progress.matched);
        let lag = last_index.saturating_sub(matched);
        if lag > self.ctx.config.leader_transfer_max_log_lag {
            return Err(Error::TransferLeaderRefused(format!(
                "peer {} lags {lag} entries behind (at most {} allowed)",
                target.id, self.ctx.config.leader_transfer_max_log_lag
            )));
        }
        Ok(())
    }
    // lab 3B: end

    // lab 3B: begin — propose a membership change as a conf-change entry carrying the request (docs/labs/lab3b.md#change-peer)
    /// ChangePeer: checked, then proposed as a raft conf-change entry whose
    /// context is the encoded request (the apply side needs its epoch and
    /// peer). Answered when the entry is applied.
    pub(crate) fn propose_conf_change(&mut self, request: RaftCmdRequest, callback: Callback) {
        let term = self.peer.term();
        let conf_change = match self.check_conf_change(&request) {
            Ok(conf_change) => conf_change,
            Err(error) => {
                info!("{} refuses a membership change: {error}", self.peer.tag());
                callback.fail(&error, term);
                return;
            }
        };
        let change = request.admin_request().change_peer();
        let (change_type, target) = (change.change_type(), change.peer().clone());
        if change_type == ConfChangeType::RemoveNode && target.id == self.peer.meta.id {
            // A leader that removed itself would stop replicating before
            // the others learn the removal committed (in a 2-peer region the
            // survivor could then never commit anything). Hand leadership to
            // the most up-to-date other peer first; the client retries there.
            let successor = self.most_up_to_date_follower();
            if let Some(successor) = &successor {
                info!(
                    "{} asked to remove itself: transferring leadership to peer {} first",
                    self.peer.tag(),
                    successor.id
                );
                self.peer.raft_group.transfer_leader(successor.id);
            }
            let error = Error::NotLeader {
                region_id: self.peer.region_id(),
                leader: successor,
            };
            callback.fail(&error, term);
            return;
        }
        let proposed = self.propose_and_track(callback, |raft_group| {
            raft_group.propose_conf_change(Vec::new(), conf_change)
        });
        let Some(index) = proposed else {
            return;
        };
        chain!(
            "PeerMsgHandler::propose_conf_change",
            self.peer.region_id(),
            index,
            "store {}: proposed {change_type:?} of peer {} (store {})",
            self.ctx.store_id,
            target.id,
            target.store_id
        );
    }

    /// The checks before a ChangePeer is proposed; returns the raft conf
    /// change to propose.
    fn check_conf_change(&self, request: &RaftCmdRequest) -> Result<ConfChange> {
        let change = request.admin_request().change_peer();
        let target = change.peer();
        let region = self.peer.region();
        if target.id == 0 || target.store_id == 0 {
            return Err(Error::InvalidConfChange(format!(
                "peer {} on store {} is not a valid peer",
                target.id, target.store_id
            )));
        }
        if conf_change_pending(self) {
            return Err(Error::ConfChangeInProgress {
                region_id: region.id,
            });
        }
        changed_region(region, change.change_type(), target)?;
        let mut conf_change = ConfChange::new();
        conf_change.set_change_type(change.change_type());
        conf_change.node_id = target.id;
        conf_change.context = request.write_to_bytes()?.into();
        Ok(conf_change)
    }

    /// The follower with the highest matched index, if any.
    fn most_up_to_date_follower(&self) -> Option<metapb::Peer> {
        let raft = &self.peer.raft_group.raft;
        self.peer
            .region()
            .peers
            .iter()
            .filter(|peer| peer.id != self.peer.meta.id)
            .max_by_key(|peer| {
                raft.prs()
                    .get(&peer.id)
                    .map_or(0, |progress| progress.matched)
            })
            .cloned()
    }
    // lab 3B: end

    /// The split-check tick: a leader asks the split_check worker to
    /// measure its region when it grew by `region_split_check_diff` bytes
    /// since the last check, when its size is unknown (a new leader, a
    /// fresh split: the scheduler balances by these sizes), or when the
    /// last measure found it over `region_max_size` (the split did not
    /// happen, e.g. the scheduler did not know the region yet: try again).
    pub fn on_split_region_check_tick(&mut self) {
        let due = match self.peer.approximate_size {
            None => true,
            Some(size) => {
                size > self.ctx.config.region_max_size
                    || self.peer.size_diff_hint >= self.ctx.config.region_split_check_diff
            }
        };
        if !self.peer.is_leader()
            || !due
            || self.peer.storage().snapshot_state.borrow().is_applying()
        {
            return;
        }
        let task = SplitCheckTask {
            region: self.peer.region().clone(),
        };
        if self.ctx.split_check.send(task).is_ok() {
            self.peer.size_diff_hint = 0;
        }
    }

    // lab 3B: begin [stub: Err(Error::InvalidRequest("lab 3B: splits are not implemented yet".to_string()))] — a split key must cut the region into two non-empty parts (docs/labs/lab3b.md#split)
    /// The checks before a Split is proposed (it is then proposed like any
    /// command and applied by `Peer::apply_split`).
    pub(crate) fn check_split(&self, request: &RaftCmdRequest) -> Result<()> {
        check_split_request(self.peer.region(), request)
    }
    // lab 3B: end

    // lab 3B: begin [stub: ] — propose the Split the split checker found, unless the region changed since it measured (docs/labs/lab3b.md#split)
    /// split_check found a split key and got the ids: propose the Split,
    /// unless the region changed since it was measured.
    pub(crate) fn on_propose_split(
        &mut self,
        region_epoch: metapb::RegionEpoch,
        split_key: Vec<u8>,
        ids: SplitIds,
    ) {
        if !self.peer.is_leader() {
            return;
        }
        if self.peer.region().region_epoch() != &region_epoch {
            info!("{} drops a split found at an older epoch", self.peer.tag());
            return;
        }
        let mut request = RaftCmdRequest::new();
        request.mut_header().region_id = self.peer.region_id();
        request.mut_header().peer = Some(self.peer.meta.clone()).into();
        request.mut_header().region_epoch = Some(region_epoch).into();
        let mut admin = AdminRequest::new();
        admin.set_cmd_type(AdminCmdType::Split);
        let split = admin.mut_split();
        split.split_key = split_key;
        split.new_region_id = ids.new_region_id;
        split.new_peer_ids = ids.new_peer_ids;
        request.admin_request = Some(admin).into();
        // Nobody waits for the answer: the outcome shows in the regions.
        let (callback, _receiver) = Callback::new();
        self.propose_raft_command(RaftCommand { request, callback });
    }
    // lab 3B: end
}

/// The region after adding or removing `target`: one peer more or less,
/// `conf_ver` + 1. Refused: adding a peer the region has (same id or same
/// store), removing one it does not have, removing its last voter.
/// Checked when proposing and again when applying.
pub(crate) fn changed_region(
    region: &metapb::Region,
    change_type: ConfChangeType,
    target: &metapb::Peer,
) -> Result<metapb::Region> {
    let mut changed = region.clone();
    match change_type {
        ConfChangeType::AddNode => {
            if let Some(existing) = region
                .peers
                .iter()
                .find(|peer| peer.id == target.id || peer.store_id == target.store_id)
            {
                return Err(Error::InvalidConfChange(format!(
                    "region {} already has peer {} on store {}",
                    region.id, existing.id, existing.store_id
                )));
            }
            changed.peers.push(target.clone());
        }
        ConfChangeType::RemoveNode => {
            let Some(position) = region
                .peers
                .iter()
                .position(|peer| peer.id == target.id && peer.store_id == target.store_id)
            else {
                return Err(Error::InvalidConfChange(format!(
                    "region {} has no peer {} on store {}",
                    region.id, target.id, target.store_id
                )));
            };
            if region.peers.len() == 1 {
                return Err(Error::InvalidConfChange(format!(
                    "peer {} is the last voter of region {}",
                    target.id, region.id
                )));
            }
            changed.peers.remove(position);
        }
    }
    changed.mut_region_epoch().conf_ver += 1;
    Ok(changed)
}

/// Whether `request`'s Split can cut `region`: the key is strictly inside
/// the region (not empty, not at its start, before its end), the new
/// region id is set, and there is one new peer id per peer. Checked when
/// proposing and again when applying (the region may have changed).
pub(crate) fn check_split_request(region: &metapb::Region, request: &RaftCmdRequest) -> Result<()> {
    let split = request.admin_request().split();
    let key = split.split_key.as_slice();
    if key.is_empty() {
        return Err(Error::InvalidSplit("the split key is empty".to_string()));
    }
    if key <= region.start_key.as_slice()
        || (!region.end_key.is_empty() && key >= region.end_key.as_slice())
    {
        return Err(Error::InvalidSplit(format!(
            "split key {key:?} is not strictly inside region {} [{:?}, {:?})",
            region.id, region.start_key, region.end_key
        )));
    }
    if split.new_region_id == 0 {
        return Err(Error::InvalidSplit("the new region id is 0".to_string()));
    }
    if split.new_peer_ids.len() != region.peers.len() {
        return Err(Error::InvalidSplit(format!(
            "{} new peer ids for {} peers",
            split.new_peer_ids.len(),
            region.peers.len()
        )));
    }
    if split.new_peer_ids.contains(&0) {
        return Err(Error::InvalidSplit("a new peer id is 0".to_string()));
    }
    Ok(())
}

/// A successful, empty admin response of `cmd_type`.
fn admin_response(cmd_type: AdminCmdType, term: u64) -> CmdResponse {
    let mut response = RaftCmdResponse::new();
    response.mut_header().current_term = term;
    let mut admin = AdminResponse::new();
    admin.set_cmd_type(cmd_type);
    if cmd_type == AdminCmdType::TransferLeader {
        admin.mut_transfer_leader();
    }
    response.admin_response = Some(admin).into();
    CmdResponse {
        response,
        snapshot: None,
    }
}
