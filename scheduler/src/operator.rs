//! [`Operator`]: a planned change to one region, as a list of steps the
//! region's leader carries out one at a time.
//!
//! Created by the schedulers ([`crate::BalanceLeader`],
//! [`crate::BalanceRegion`], [`crate::ReplicaChecker`]), held by
//! [`crate::OperatorController`], which checks it on every heartbeat of its
//! region. A step is never "sent and forgotten": it is done only when a
//! heartbeat shows its effect, so a lost response or a crashed leader just
//! means the step is sent again with the next heartbeat.
//!
//! When a step is done, looking at the region as its leader reports it:
//!
//! | step | done when |
//! |---|---|
//! | `AddPeer { peer }` | `peer` (same id) is in the region and not pending |
//! | `RemovePeer { peer }` | the region has no peer on `peer.store_id` |
//! | `TransferLeader { peer }` | the leader is on `peer.store_id` |
//!
//! When an operator is stale (cancelled), comparing the reported epoch with
//! the one it was created at:
//!
//! | reported epoch | why it cancels |
//! |---|---|
//! | a different `version` | a split or merge changed the region's range; no step of ours does that, and the plan was made for the old range |
//! | `conf_ver` above created + the conf changes our own steps made visible | someone else changed the membership; our steps may now remove a needed replica or add a redundant one |
//!
//! A `conf_ver` bump that our own add or remove explains is expected, and a
//! leader change alone does not touch the epoch.

use proto::eraftpb::ConfChangeType;
use proto::metapb::{Peer, RegionEpoch};
use proto::schedulerpb::{ChangePeer, RegionHeartbeatResponse, TransferLeader};

use crate::region_info::RegionInfo;

/// What an operator does to its region, for logs and for the controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorKind {
    /// Add one peer (the replica checker making up a missing replica).
    AddPeer,
    /// Remove one peer.
    RemovePeer,
    /// Move leadership to another peer (balance-leader).
    TransferLeader,
    /// Add a peer on one store, then remove the peer on another
    /// (balance-region, and the replica checker replacing a lost peer).
    MoveRegion,
}

/// One step of an operator; see the module docs for when each is done.
#[derive(Debug, Clone, PartialEq)]
pub enum OperatorStep {
    /// Add `peer` (a new peer id on its target store).
    AddPeer {
        /// The peer to add.
        peer: Peer,
    },
    /// Remove `peer`.
    RemovePeer {
        /// The peer to remove.
        peer: Peer,
    },
    /// Make `peer` the leader.
    TransferLeader {
        /// The peer that should lead.
        peer: Peer,
    },
}

impl OperatorStep {
    /// True when `region`, as reported, shows this step's effect.
    pub fn is_done(&self, region: &RegionInfo) -> bool {
        match self {
            OperatorStep::AddPeer { peer } => {
                // A pending peer is a member that has not caught up yet;
                // moving on (and removing the old peer) before it has would
                // leave the region one replica short.
                self.conf_change_visible(region)
                    && !region
                        .pending_peers
                        .iter()
                        .any(|pending| pending.id == peer.id)
            }
            OperatorStep::RemovePeer { .. } => self.conf_change_visible(region),
            OperatorStep::TransferLeader { peer } => region
                .leader
                .as_ref()
                .is_some_and(|leader| leader.store_id == peer.store_id),
        }
    }

    /// True when the membership change of this step (if it is one) shows
    /// in `region`, caught up or not: the step has bumped `conf_ver`.
    fn conf_change_visible(&self, region: &RegionInfo) -> bool {
        match self {
            OperatorStep::AddPeer { peer } => region
                .region
                .peers
                .iter()
                .any(|member| member.id == peer.id && member.store_id == peer.store_id),
            OperatorStep::RemovePeer { peer } => !region
                .region
                .peers
                .iter()
                .any(|member| member.store_id == peer.store_id),
            OperatorStep::TransferLeader { .. } => false,
        }
    }

    /// The heartbeat response that asks `region`'s leader to take this step.
    pub fn to_response(&self, region: &RegionInfo) -> RegionHeartbeatResponse {
        let mut response = RegionHeartbeatResponse::new();
        match self {
            OperatorStep::AddPeer { peer } | OperatorStep::RemovePeer { peer } => {
                let mut change_peer = ChangePeer::new();
                change_peer.peer = Some(peer.clone()).into();
                change_peer.change_type = if matches!(self, OperatorStep::AddPeer { .. }) {
                    ConfChangeType::AddNode
                } else {
                    ConfChangeType::RemoveNode
                }
                .into();
                response.change_peer = Some(change_peer).into();
            }
            OperatorStep::TransferLeader { peer } => {
                let mut transfer_leader = TransferLeader::new();
                transfer_leader.peer = Some(peer.clone()).into();
                response.transfer_leader = Some(transfer_leader).into();
            }
        }
        response.region_id = region.id();
        response.region_epoch = region.region.region_epoch.clone();
        response.target_peer = region.leader.clone().into();
        response
    }
}

/// What [`Operator::check`] concluded from a heartbeat.
#[derive(Debug, Clone, PartialEq)]
pub enum OperatorStatus {
    /// This step is not done yet: send it (again).
    Running(OperatorStep),
    /// Every step is done.
    Finished,
    /// The region changed in a way the operator did not cause (see the
    /// module docs); the reason is for the log.
    Stale(String),
}

/// A planned change to one region. See the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct Operator {
    region_id: u64,
    kind: OperatorKind,
    steps: Vec<OperatorStep>,
    current_step: usize,
    region_epoch: RegionEpoch,
    created_at_ms: u64,
    timeout_ms: u64,
}

impl Operator {
    /// An operator for `region` (as currently known), created at
    /// `created_at_ms` of the scheduler's clock, dropped after `timeout_ms`.
    pub fn new(
        region: &RegionInfo,
        kind: OperatorKind,
        steps: Vec<OperatorStep>,
        created_at_ms: u64,
        timeout_ms: u64,
    ) -> Operator {
        Operator {
            region_id: region.id(),
            kind,
            steps,
            current_step: 0,
            region_epoch: region.region.region_epoch.clone().unwrap_or_default(),
            created_at_ms,
            timeout_ms,
        }
    }

    /// The region this operator changes.
    pub fn region_id(&self) -> u64 {
        self.region_id
    }

    /// What the operator does.
    pub fn kind(&self) -> OperatorKind {
        self.kind
    }

    /// All of its steps, done ones included.
    pub fn steps(&self) -> &[OperatorStep] {
        &self.steps
    }

    /// The step not yet seen done, or `None` once all are.
    pub fn current_step(&self) -> Option<&OperatorStep> {
        self.steps.get(self.current_step)
    }

    /// The steps not yet seen done, the current one first.
    pub fn remaining_steps(&self) -> &[OperatorStep] {
        self.steps.get(self.current_step..).unwrap_or_default()
    }

    /// The region's epoch when the operator was created.
    pub fn region_epoch(&self) -> &RegionEpoch {
        &self.region_epoch
    }

    /// When it was created, in ms of the scheduler's clock.
    pub fn created_at_ms(&self) -> u64 {
        self.created_at_ms
    }

    /// True when the operator is at least its timeout old at `now_ms`.
    pub fn is_timed_out(&self, now_ms: u64) -> bool {
        now_ms.saturating_sub(self.created_at_ms) >= self.timeout_ms
    }

    /// Advances past every step that `region` (its leader's latest report)
    /// shows done, then says whether the operator is finished, stale, or
    /// which step to send next. Steps are done in order: a later step's
    /// effect does not count before the earlier ones are seen done.
    pub fn check(&mut self, region: &RegionInfo) -> OperatorStatus {
        while let Some(step) = self.steps.get(self.current_step) {
            if !step.is_done(region) {
                break;
            }
            self.current_step += 1;
        }
        if let Some(reason) = self.stale_reason(region) {
            return OperatorStatus::Stale(reason);
        }
        match self.current_step() {
            Some(step) => OperatorStatus::Running(step.clone()),
            None => OperatorStatus::Finished,
        }
    }

    /// Why `region`'s epoch shows changes the operator did not make, if it
    /// does (see the module docs).
    fn stale_reason(&self, region: &RegionInfo) -> Option<String> {
        if region.version() != self.region_epoch.version {
            return Some(format!(
                "version changed from {} to {} (split or merge)",
                self.region_epoch.version,
                region.version()
            ));
        }
        let done_conf_changes = self.steps[..self.current_step]
            .iter()
            .filter(|step| !matches!(step, OperatorStep::TransferLeader { .. }))
            .count();
        // The current step may already be applied but not caught up (a
        // pending added peer): its conf_ver bump is ours too.
        let current_conf_change = self
            .current_step()
            .is_some_and(|step| step.conf_change_visible(region));
        let caused = done_conf_changes as u64 + u64::from(current_conf_change);
        let expected_max = self.region_epoch.conf_ver + caused;
        if region.conf_ver() > expected_max {
            return Some(format!(
                "conf_ver went from {} to {}, but this operator made only {caused} conf change(s)",
                self.region_epoch.conf_ver,
                region.conf_ver()
            ));
        }
        None
    }
}
