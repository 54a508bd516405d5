//! [`ScheduleContext`]: the picture of the cluster one scheduling decision
//! is made on, shared by [`crate::BalanceLeader`], [`crate::BalanceRegion`]
//! and [`crate::ReplicaChecker`].
//!
//! Built by [`crate::Scheduler::schedule`] before each decision, under the
//! cluster and operator locks. Its store totals already include the effect
//! of the operators in flight (a peer being added counts on its target, a
//! leader being transferred counts on its new store): the totals come from
//! heartbeats, which show a step only after it is applied, and deciding on
//! the old totals would send a second move after the first, overshooting
//! the balance and moving data back and forth.

use proto::metapb::StoreState;

use crate::cluster_meta::ClusterMeta;
use crate::operator::OperatorStep;
use crate::operator_controller::OperatorController;
use crate::region_info::RegionInfo;
use crate::store_info::StoreInfo;

/// The limits a decision follows; from [`crate::SchedulerOptions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleLimits {
    /// The current time, in ms of the scheduler's clock.
    pub now_ms: u64,
    /// When the scheduler opened, in ms: a store not heard from since is
    /// counted down only `max_store_down_ms` after this, so a restarted
    /// scheduler does not replace every peer before the first heartbeats.
    pub started_at_ms: u64,
    /// A store silent for this long is down.
    pub max_store_down_ms: u64,
    /// How many peers a region should have.
    pub max_replicas: usize,
    /// The timeout of the operators created.
    pub operator_timeout_ms: u64,
}

/// One decision's view of the cluster. See the module docs.
#[derive(Debug)]
pub struct ScheduleContext<'a> {
    cluster: &'a ClusterMeta,
    operators: &'a OperatorController,
    stores: Vec<StoreInfo>,
    /// The decision's limits.
    pub limits: ScheduleLimits,
}

impl<'a> ScheduleContext<'a> {
    /// The view of `cluster` with `operators`' pending effects applied.
    pub fn new(
        cluster: &'a ClusterMeta,
        operators: &'a OperatorController,
        limits: ScheduleLimits,
    ) -> ScheduleContext<'a> {
        let mut stores = cluster.stores();
        for operator in operators.operators() {
            let Some(region) = cluster.region_by_id(operator.region_id()) else {
                continue;
            };
            let size = region.approximate_size;
            let is_member = |peer_id: u64| region.region.peers.iter().any(|p| p.id == peer_id);
            for step in operator.remaining_steps() {
                // A step the region already shows (a peer added but still
                // catching up, so not done yet) is in the heartbeat's totals
                // already: counting it again would overstate its store.
                match step {
                    OperatorStep::AddPeer { peer } if is_member(peer.id) => {}
                    OperatorStep::RemovePeer { peer } if !is_member(peer.id) => {}
                    OperatorStep::TransferLeader { peer }
                        if region
                            .leader
                            .as_ref()
                            .is_some_and(|leader| leader.id == peer.id) => {}
                    OperatorStep::AddPeer { peer } => {
                        if let Some(store) = find(&mut stores, peer.store_id) {
                            store.region_count += 1;
                            store.region_size += size;
                        }
                    }
                    OperatorStep::RemovePeer { peer } => {
                        if let Some(store) = find(&mut stores, peer.store_id) {
                            store.region_count = store.region_count.saturating_sub(1);
                            store.region_size = store.region_size.saturating_sub(size);
                        }
                    }
                    OperatorStep::TransferLeader { peer } => {
                        if let Some(leader) = &region.leader {
                            if let Some(store) = find(&mut stores, leader.store_id) {
                                store.leader_count = store.leader_count.saturating_sub(1);
                            }
                        }
                        if let Some(store) = find(&mut stores, peer.store_id) {
                            store.leader_count += 1;
                        }
                    }
                }
            }
        }
        ScheduleContext {
            cluster,
            operators,
            stores,
            limits,
        }
    }

    /// The store with this id, with pending effects applied.
    pub fn store(&self, store_id: u64) -> Option<&StoreInfo> {
        self.stores.iter().find(|store| store.id() == store_id)
    }

    /// The stores data may move from or to: `Up` and heard from within the
    /// down time (TinyKV's suitable stores), in store id order.
    pub fn suitable_stores(&self) -> Vec<&StoreInfo> {
        self.stores
            .iter()
            .filter(|store| {
                store.is_up_and_alive(self.limits.now_ms, self.limits.max_store_down_ms)
            })
            .collect()
    }

    /// True when a peer on this store should be replaced: the store is a
    /// tombstone, is being taken offline, or has been silent for the down
    /// time. An unknown store is not judged (nothing says it is gone).
    pub fn is_store_lost(&self, store_id: u64) -> bool {
        let Some(store) = self.store(store_id) else {
            return false;
        };
        if store.store.state() != StoreState::Up {
            return true;
        }
        let heard_ms = store.last_heartbeat_ms.unwrap_or(self.limits.started_at_ms);
        self.limits.now_ms.saturating_sub(heard_ms) >= self.limits.max_store_down_ms
    }

    /// The regions an operator may be created for: with a known leader
    /// (steps are sent to it, and sizes come from it) and no operator in
    /// flight, in region id order.
    pub fn schedulable_regions(&self) -> impl Iterator<Item = &'a RegionInfo> + '_ {
        self.cluster
            .regions()
            .into_iter()
            .filter(|region| self.is_schedulable(region))
    }

    /// True when an operator may be created for `region` (see
    /// [`ScheduleContext::schedulable_regions`]).
    pub fn is_schedulable(&self, region: &RegionInfo) -> bool {
        region.leader.is_some() && self.operators.operator(region.id()).is_none()
    }

    /// The suitable store with the smallest region size (ties: lowest id)
    /// that holds no peer of `region`: where a new replica goes.
    pub fn best_target_for(&self, region: &RegionInfo) -> Option<&StoreInfo> {
        self.suitable_stores()
            .into_iter()
            .filter(|store| {
                !region
                    .region
                    .peers
                    .iter()
                    .any(|peer| peer.store_id == store.id())
            })
            .min_by_key(|store| (store.region_size, store.id()))
    }
}

fn find(stores: &mut [StoreInfo], store_id: u64) -> Option<&mut StoreInfo> {
    stores.iter_mut().find(|store| store.id() == store_id)
}
