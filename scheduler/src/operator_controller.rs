//! [`OperatorController`]: the operators in flight, at most one per region.
//!
//! Owned by [`crate::Scheduler`] (behind its own mutex, always taken after
//! the cluster lock). The schedule tick adds operators; every region
//! heartbeat asks [`OperatorController::on_region_heartbeat`] what to tell
//! that region's leader. One operator per region, because two would issue
//! conflicting conf changes from plans made on the same old epoch.
//!
//! On a heartbeat the region's operator is checked against the region as
//! reported ([`crate::Operator::check`]) and then:
//!
//! | outcome | what happens |
//! |---|---|
//! | finished | removed, nothing sent |
//! | stale (an epoch change it did not cause) | removed, nothing sent |
//! | older than its timeout | removed, nothing sent |
//! | otherwise | its current step is sent in the heartbeat response |

use std::collections::HashMap;

use proto::schedulerpb::RegionHeartbeatResponse;

use crate::errors::{Error, Result};
use crate::operator::{Operator, OperatorStatus};
use crate::region_info::RegionInfo;

/// The operators in flight. See the module docs.
#[derive(Debug, Default)]
pub struct OperatorController {
    operators: HashMap<u64, Operator>,
}

impl OperatorController {
    /// A controller with no operator.
    pub fn new() -> OperatorController {
        OperatorController::default()
    }

    /// Adds `operator`; fails with `OperatorExists` if its region already
    /// has one (the old one is kept).
    pub fn add_operator(&mut self, operator: Operator) -> Result<()> {
        let region_id = operator.region_id();
        if self.operators.contains_key(&region_id) {
            return Err(Error::OperatorExists(region_id));
        }
        log::info!(
            "region {region_id}: add {:?} operator {:?}",
            operator.kind(),
            operator.steps()
        );
        self.operators.insert(region_id, operator);
        Ok(())
    }

    /// The operator of this region, if any.
    pub fn operator(&self, region_id: u64) -> Option<&Operator> {
        self.operators.get(&region_id)
    }

    /// Every operator in flight, in no particular order.
    pub fn operators(&self) -> impl Iterator<Item = &Operator> {
        self.operators.values()
    }

    /// How many operators are in flight.
    pub fn len(&self) -> usize {
        self.operators.len()
    }

    /// True when no operator is in flight.
    pub fn is_empty(&self) -> bool {
        self.operators.is_empty()
    }

    /// Drops the operator of a region that no longer exists (merged away or
    /// replaced by an overlapping region), so it does not wait for a
    /// heartbeat that will never come.
    pub fn remove_operator(&mut self, region_id: u64, reason: &str) {
        if let Some(operator) = self.operators.remove(&region_id) {
            log::info!(
                "region {region_id}: drop {:?} operator: {reason}",
                operator.kind()
            );
        }
    }

    /// Checks the region's operator against its latest heartbeat (`region`
    /// as now known) at `now_ms`, removes it if it is finished, stale or
    /// timed out, and otherwise returns its current step as the response.
    pub fn on_region_heartbeat(
        &mut self,
        region: &RegionInfo,
        now_ms: u64,
    ) -> Option<RegionHeartbeatResponse> {
        let region_id = region.id();
        let operator = self.operators.get_mut(&region_id)?;
        match operator.check(region) {
            OperatorStatus::Finished => {
                log::info!(
                    "region {region_id}: {:?} operator finished",
                    operator.kind()
                );
                self.operators.remove(&region_id);
                None
            }
            OperatorStatus::Stale(reason) => {
                log::info!(
                    "region {region_id}: cancel stale {:?} operator: {reason}",
                    operator.kind()
                );
                self.operators.remove(&region_id);
                None
            }
            OperatorStatus::Running(_) if operator.is_timed_out(now_ms) => {
                log::warn!(
                    "region {region_id}: {:?} operator timed out (created at {} ms, now {now_ms} ms) at step {:?}",
                    operator.kind(),
                    operator.created_at_ms(),
                    operator.current_step()
                );
                self.operators.remove(&region_id);
                None
            }
            OperatorStatus::Running(step) => {
                log::debug!("region {region_id}: send step {step:?}");
                Some(step.to_response(region))
            }
        }
    }
}
