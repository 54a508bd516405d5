//! [`TimestampOracle`]: where a transaction's start and commit timestamps
//! come from.
//!
//! On the test cluster it is the scheduler's TSO (`Scheduler::tso`:
//! physical milliseconds shifted left by 18 bits, plus a logical counter),
//! so timestamps survive the scheduler's restarts and every client shares
//! one order. [`LocalOracle`] gives the same shape from the local clock,
//! for a single process without a scheduler (the standalone store).
//! Called on the client threads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use scheduler::{Scheduler, SchedulerService, LOGICAL_BITS};

/// A source of strictly increasing timestamps.
pub trait TimestampOracle: Send + Sync {
    /// A timestamp greater than every one returned before.
    fn timestamp(&self) -> Result<u64, String>;
}

impl TimestampOracle for Scheduler {
    fn timestamp(&self) -> Result<u64, String> {
        self.tso().map_err(|error| format!("tso: {error}"))
    }
}

/// Timestamps from this process's clock, in the TSO's layout.
#[derive(Debug, Default)]
pub struct LocalOracle {
    last: AtomicU64,
}

impl TimestampOracle for LocalOracle {
    fn timestamp(&self) -> Result<u64, String> {
        let physical = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_millis() as u64)
            .unwrap_or(0);
        let candidate = physical << LOGICAL_BITS;
        // Strictly increasing even when the clock stands still or steps back.
        let previous = self
            .last
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                Some(candidate.max(last + 1))
            })
            .unwrap_or_else(|last| last);
        Ok(candidate.max(previous + 1))
    }
}
