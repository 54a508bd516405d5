//! [`SchedulerOptions`]: the knobs of [`crate::Scheduler::open_with`].
//!
//! Production uses the defaults; tests shrink the batches to exercise the
//! persistence paths often, and inject a clock to move time by hand.

use std::sync::Arc;

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
    /// The replica count recorded at bootstrap (used by balancing, later).
    pub max_peer_count: u32,
}

impl Default for SchedulerOptions {
    fn default() -> SchedulerOptions {
        SchedulerOptions {
            clock: Arc::new(SystemClock),
            id_batch: DEFAULT_ID_BATCH,
            tso_save_window_ms: DEFAULT_SAVE_WINDOW_MS,
            max_peer_count: 3,
        }
    }
}

impl std::fmt::Debug for SchedulerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedulerOptions")
            .field("id_batch", &self.id_batch)
            .field("tso_save_window_ms", &self.tso_save_window_ms)
            .field("max_peer_count", &self.max_peer_count)
            .finish()
    }
}
