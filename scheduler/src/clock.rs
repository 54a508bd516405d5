//! [`Clock`]: where the timestamp oracle reads wall time.
//!
//! [`crate::Tso`] calls it on every timestamp. It is a trait so tests can
//! drive time by hand, including backwards, to check that timestamps never
//! go back; production uses [`SystemClock`].

use std::time::{SystemTime, UNIX_EPOCH};

/// A source of wall-clock time in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync {
    /// The current time in milliseconds. May go backwards (NTP steps, a
    /// restart on another machine); callers must not rely on monotonicity.
    fn now_ms(&self) -> u64;
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        // A clock before 1970 is a broken machine; reading it as 0 keeps the
        // oracle correct (it then runs on its persisted bound alone).
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_millis() as u64)
            .unwrap_or(0)
    }
}
