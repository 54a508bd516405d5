//! [`SchedulerOptions`]: the knobs of [`crate::Scheduler::open_with`].
//!
//! Production uses the defaults; tests shrink the batches to exercise the
//! persistence paths often, inject a clock to move time by hand (timestamps,
//! store-down time, operator timeouts), and switch balancing on or off.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::id_allocator::DEFAULT_ID_BATCH;
use crate::tso::DEFAULT_SAVE_WINDOW_MS;

/// How a [`crate::Scheduler`] is configured.
#[derive(Clone)]
pub struct SchedulerOptions {
    /// Where timestamps read wall time.
    pub clock: Arc<dyn Clock>,
    /// How many ids one synced write reserves.
    pub id_batch: u64,
    /// How far ahead of the current time the timestamp oracle saves its
    /// bound, in ms.
    pub tso_save_window_ms: u64,
    /// The replica count recorded at bootstrap: the replica checker adds
    /// peers up to it, and balance-region only moves regions that have it.
    pub max_peer_count: u32,
    /// How long a store may go without a heartbeat before it counts as
    /// down: no data moves to or from it, and the replica checker replaces
    /// its peers. Also read from the injected clock.
    pub max_store_down_time: Duration,
    /// How long an operator may take before the controller drops it (a
    /// store that never applies a step must not block its region forever).
    pub operator_timeout: Duration,
    /// Whether a schedule tick moves leaders to even out leader counts.
    pub enable_balance_leader: bool,
    /// Whether a schedule tick moves regions to even out region sizes.
    pub enable_balance_region: bool,
    /// At most this many operators are added per schedule tick, so one
    /// tick cannot flood the stores with conf changes.
    pub max_operators_per_tick: usize,
}

impl Default for SchedulerOptions {
    fn default() -> SchedulerOptions {
        SchedulerOptions {
            clock: Arc::new(SystemClock),
            id_batch: DEFAULT_ID_BATCH,
            tso_save_window_ms: DEFAULT_SAVE_WINDOW_MS,
            max_peer_count: 3,
            max_store_down_time: Duration::from_secs(5 * 60),
            operator_timeout: Duration::from_secs(10 * 60),
            enable_balance_leader: true,
            enable_balance_region: true,
            max_operators_per_tick: 4,
        }
    }
}

impl std::fmt::Debug for SchedulerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedulerOptions")
            .field("id_batch", &self.id_batch)
            .field("tso_save_window_ms", &self.tso_save_window_ms)
            .field("max_peer_count", &self.max_peer_count)
            .field("max_store_down_time", &self.max_store_down_time)
            .field("operator_timeout", &self.operator_timeout)
            .field("enable_balance_leader", &self.enable_balance_leader)
            .field("enable_balance_region", &self.enable_balance_region)
            .field("max_operators_per_tick", &self.max_operators_per_tick)
            .finish()
    }
}
