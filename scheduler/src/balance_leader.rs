//! [`BalanceLeader`]: moves leadership from the store leading the most
//! regions to the one leading the fewest, one region per decision.
//!
//! Called by [`crate::Scheduler::schedule`] when balance-leader is enabled.
//! Leaders serve every read and write of their region, so even leader
//! counts spread the load. Rules:
//!
//! - only suitable stores count (`Up`, heard from within the down time);
//! - source: the most leaders; target: the fewest (ties: lowest store id);
//!   if that pair has no region to move, the next pairs are tried;
//! - nothing when source and target differ by less than 2 leaders: moving
//!   one would only swap which store has the extra one (ping-pong);
//! - the region: led by the source, with a caught-up (not pending) follower
//!   on the target, no operator in flight; lowest region id first.

use crate::operator::{Operator, OperatorKind, OperatorStep};
use crate::schedule_context::ScheduleContext;

/// The balance-leader scheduler. See the module docs.
#[derive(Debug, Default, Clone, Copy)]
pub struct BalanceLeader;

impl BalanceLeader {
    /// A transfer-leader operator that evens out leader counts, if one helps.
    pub fn schedule(&self, context: &ScheduleContext<'_>) -> Option<Operator> {
        let mut sources = context.suitable_stores();
        sources.sort_by_key(|store| (std::cmp::Reverse(store.leader_count), store.id()));
        let mut targets = sources.clone();
        targets.sort_by_key(|store| (store.leader_count, store.id()));
        for source in &sources {
            for target in &targets {
                if target.leader_count + 2 > source.leader_count {
                    // Targets are sorted by leader count: no later one
                    // differs by 2 either.
                    break;
                }
                let movable = context.schedulable_regions().find_map(|region| {
                    let leads = region
                        .leader
                        .as_ref()
                        .is_some_and(|leader| leader.store_id == source.id());
                    let follower = region
                        .region
                        .peers
                        .iter()
                        .find(|peer| peer.store_id == target.id())?;
                    let caught_up = !region
                        .pending_peers
                        .iter()
                        .any(|pending| pending.id == follower.id);
                    (leads && caught_up).then(|| (region, follower.clone()))
                });
                if let Some((region, follower)) = movable {
                    log::info!(
                        "balance-leader: region {} from store {} ({} leaders) to store {} ({} leaders)",
                        region.id(),
                        source.id(),
                        source.leader_count,
                        target.id(),
                        target.leader_count
                    );
                    return Some(Operator::new(
                        region,
                        OperatorKind::TransferLeader,
                        vec![OperatorStep::TransferLeader { peer: follower }],
                        context.limits.now_ms,
                        context.limits.operator_timeout_ms,
                    ));
                }
            }
        }
        None
    }
}
