//! [`BalanceRegion`]: moves a region replica from the store holding the
//! most data to the one holding the least, TinyKV's balance-region rules.
//!
//! Called by [`crate::Scheduler::schedule`] when balance-region is enabled.
//! Rules:
//!
//! - only suitable stores count (`Up`, heard from within the down time);
//! - sources are tried by region size, largest first;
//! - from a source, a region is picked in this order: one where the
//!   source's peer is pending (it lags anyway, moving it costs least), then
//!   one the source follows, then one it leads (moving a leader disturbs
//!   its clients); only regions with exactly max-replicas peers (one short
//!   is the replica checker's job; removing from it would lose safety) and
//!   no operator in flight; lowest region id first within a kind;
//! - the target: the suitable store with the smallest region size that
//!   holds no peer of the region;
//! - the move happens only if source size − target size > 2 × the region's
//!   size: otherwise after the move the target would be the bigger one and
//!   the next tick would move it back;
//! - the operator adds a new peer (fresh id) on the target, then removes
//!   the source's peer.

use crate::errors::Result;
use crate::id_allocator::IdAllocator;
use crate::operator::{Operator, OperatorKind, OperatorStep};
use crate::region_info::RegionInfo;
use crate::schedule_context::ScheduleContext;
use crate::store_info::StoreInfo;

/// The balance-region scheduler. See the module docs.
#[derive(Debug, Default, Clone, Copy)]
pub struct BalanceRegion;

impl BalanceRegion {
    // lab 3C: begin — from the fullest suitable store, move one region to the emptiest store if it pays off (docs/labs/lab3c.md#balance-region)
    /// A move-region operator that evens out region sizes, if one pays off.
    /// Fails only if a new peer id cannot be allocated.
    pub fn schedule(
        &self,
        context: &ScheduleContext<'_>,
        ids: &IdAllocator,
    ) -> Result<Option<Operator>> {
        let mut sources = context.suitable_stores();
        if sources.len() < 2 {
            return Ok(None);
        }
        sources.sort_by_key(|store| (std::cmp::Reverse(store.region_size), store.id()));
        for source in sources {
            for region in candidate_regions(context, source) {
                let Some(target) = context.best_target_for(region) else {
                    continue;
                };
                let gain = i128::from(source.region_size) - i128::from(target.region_size);
                if gain <= 2 * i128::from(region.approximate_size) {
                    log::debug!(
                        "balance-region: moving region {} (size {}) from store {} (size {}) to store {} (size {}) does not pay off",
                        region.id(),
                        region.approximate_size,
                        source.id(),
                        source.region_size,
                        target.id(),
                        target.region_size
                    );
                    continue;
                }
                let Some(source_peer) = region
                    .region
                    .peers
                    .iter()
                    .find(|peer| peer.store_id == source.id())
                else {
                    continue;
                };
                let mut new_peer = proto::metapb::Peer::new();
                new_peer.id = ids.alloc()?;
                new_peer.store_id = target.id();
                log::info!(
                    "balance-region: region {} from store {} (size {}) to store {} (size {}), new peer {}",
                    region.id(),
                    source.id(),
                    source.region_size,
                    target.id(),
                    target.region_size,
                    new_peer.id
                );
                return Ok(Some(Operator::new(
                    region,
                    OperatorKind::MoveRegion,
                    vec![
                        OperatorStep::AddPeer { peer: new_peer },
                        OperatorStep::RemovePeer {
                            peer: source_peer.clone(),
                        },
                    ],
                    context.limits.now_ms,
                    context.limits.operator_timeout_ms,
                )));
            }
        }
        Ok(None)
    }
    // lab 3C: end
}

// lab 3C: begin — pick regions with max replicas: pending peer first, then follower, then leader (docs/labs/lab3c.md#balance-region)
/// The regions `source` could give away, in TinyKV's preference order:
/// pending peer there, then follower there, then leader there.
fn candidate_regions<'a>(context: &ScheduleContext<'a>, source: &StoreInfo) -> Vec<&'a RegionInfo> {
    let mut pending = Vec::new();
    let mut following = Vec::new();
    let mut leading = Vec::new();
    for region in context.schedulable_regions() {
        if region.region.peers.len() != context.limits.max_replicas {
            continue;
        }
        let Some(peer) = region
            .region
            .peers
            .iter()
            .find(|peer| peer.store_id == source.id())
        else {
            continue;
        };
        if region
            .pending_peers
            .iter()
            .any(|pending| pending.id == peer.id)
        {
            pending.push(region);
        } else if region
            .leader
            .as_ref()
            .is_some_and(|leader| leader.id == peer.id)
        {
            leading.push(region);
        } else {
            following.push(region);
        }
    }
    pending.extend(following);
    pending.extend(leading);
    pending
}
// lab 3C: end
