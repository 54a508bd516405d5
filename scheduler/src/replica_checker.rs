//! [`ReplicaChecker`]: keeps every region at max-replicas live peers.
//!
//! Called by [`crate::Scheduler::schedule`] for each region without an
//! operator, on every tick, whatever the balancing switches say: a missing
//! replica is a safety problem, not a balance one. Rules, first match wins:
//!
//! - fewer peers than max replicas: add a peer on the best target (the
//!   suitable store with the smallest region size not holding the region);
//! - more peers than max replicas (an operator that added a peer and then
//!   timed out, or was lost with a scheduler restart, before its removal):
//!   remove one, a peer on a lost store if there is one, else a follower on
//!   the store holding the most data;
//! - a peer on a lost store (tombstone, offline, or silent for the down
//!   time): add a peer on the best target, then remove the lost one. Adding
//!   first keeps the region at its replica count throughout.
//!
//! With no suitable target nothing is added (logged): a region is never
//! shrunk to make room.

use proto::metapb::Peer;

use crate::errors::Result;
use crate::id_allocator::IdAllocator;
use crate::operator::{Operator, OperatorKind, OperatorStep};
use crate::region_info::RegionInfo;
use crate::schedule_context::ScheduleContext;

/// The replica checker. See the module docs.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReplicaChecker;

impl ReplicaChecker {
    /// The operator that repairs `region`'s replicas, if it needs one and a
    /// target exists. Fails only if a new peer id cannot be allocated.
    pub fn check(
        &self,
        context: &ScheduleContext<'_>,
        region: &RegionInfo,
        ids: &IdAllocator,
    ) -> Result<Option<Operator>> {
        let missing = region.region.peers.len() < context.limits.max_replicas;
        let lost_peer = region
            .region
            .peers
            .iter()
            .find(|peer| context.is_store_lost(peer.store_id));
        if region.region.peers.len() > context.limits.max_replicas {
            return Ok(self.remove_extra(context, region, lost_peer));
        }
        if !missing && lost_peer.is_none() {
            return Ok(None);
        }
        let Some(target) = context.best_target_for(region) else {
            log::debug!(
                "replica checker: region {} needs a replica but no suitable store is free",
                region.id()
            );
            return Ok(None);
        };
        let mut new_peer = Peer::new();
        new_peer.id = ids.alloc()?;
        new_peer.store_id = target.id();
        let add = OperatorStep::AddPeer { peer: new_peer };
        let (kind, steps) = match lost_peer {
            Some(lost) if !missing => {
                log::info!(
                    "replica checker: region {} replaces peer {} on lost store {} with store {}",
                    region.id(),
                    lost.id,
                    lost.store_id,
                    target.id()
                );
                let remove = OperatorStep::RemovePeer { peer: lost.clone() };
                (OperatorKind::MoveRegion, vec![add, remove])
            }
            _ => {
                log::info!(
                    "replica checker: region {} has {} of {} replicas, adding one on store {}",
                    region.id(),
                    region.region.peers.len(),
                    context.limits.max_replicas,
                    target.id()
                );
                (OperatorKind::AddPeer, vec![add])
            }
        };
        Ok(Some(Operator::new(
            region,
            kind,
            steps,
            context.limits.now_ms,
            context.limits.operator_timeout_ms,
        )))
    }

    /// The operator removing one replica of a region over max replicas:
    /// the lost store's peer if any, else the follower on the store with
    /// the largest region size (never the leader: it serves the region).
    fn remove_extra(
        &self,
        context: &ScheduleContext<'_>,
        region: &RegionInfo,
        lost_peer: Option<&Peer>,
    ) -> Option<Operator> {
        let leader_id = region.leader.as_ref().map(|leader| leader.id);
        let victim = lost_peer.cloned().or_else(|| {
            region
                .region
                .peers
                .iter()
                .filter(|peer| Some(peer.id) != leader_id)
                .max_by_key(|peer| {
                    let size = context
                        .store(peer.store_id)
                        .map_or(0, |store| store.region_size);
                    (size, peer.store_id)
                })
                .cloned()
        })?;
        log::info!(
            "replica checker: region {} has {} of {} replicas, removing peer {} on store {}",
            region.id(),
            region.region.peers.len(),
            context.limits.max_replicas,
            victim.id,
            victim.store_id
        );
        Some(Operator::new(
            region,
            OperatorKind::RemovePeer,
            vec![OperatorStep::RemovePeer { peer: victim }],
            context.limits.now_ms,
            context.limits.operator_timeout_ms,
        ))
    }
}
