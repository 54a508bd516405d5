//! [`Tso`]: the timestamp oracle (transactions' start and commit times).
//!
//! Called by [`crate::Scheduler::tso`]. A timestamp is
//! `(physical_ms << 18) | logical`: the wall clock in milliseconds, and a
//! counter for the timestamps handed out within one millisecond. They are
//! strictly increasing, across threads and across restarts.
//!
//! Across restarts this holds even if the clock goes back, because of a
//! persisted upper bound (`meta/tso`): before handing out a physical time
//! above the saved bound, the oracle saves `physical + window` (synced).
//! After a restart the first physical time is above the saved bound, hence
//! above everything handed out before. One synced write per window (3 s by
//! default) rather than one per timestamp.
//!
//! When the 2^18 logical values of a millisecond are used up, or the clock
//! stands still or goes back, the oracle moves on to the next millisecond
//! itself rather than waiting for the clock: it may run ahead of the wall
//! clock, never behind what it already handed out.

use std::sync::{Arc, Mutex};

use crate::clock::Clock;
use crate::errors::Result;
use crate::meta_storage::MetaStorage;

/// Bits of a timestamp that hold the logical counter.
pub const LOGICAL_BITS: u32 = 18;
// Lock TTLs are checked against the physical part as the MVCC layer splits
// timestamps (`storage::mvcc::physical_time`): both sides must agree.
const _: () = assert!(LOGICAL_BITS == storage::mvcc::LOGICAL_BITS);
/// How far ahead of the current physical time the saved bound is put.
pub const DEFAULT_SAVE_WINDOW_MS: u64 = 3000;
const MAX_LOGICAL: u64 = (1 << LOGICAL_BITS) - 1;

/// The last timestamp handed out and the bound on disk.
#[derive(Debug)]
struct State {
    physical: u64,
    logical: u64,
    saved_bound: u64,
}

/// A thread-safe, restart-safe timestamp oracle. See the module docs.
pub struct Tso {
    storage: MetaStorage,
    clock: Arc<dyn Clock>,
    window_ms: u64,
    state: Mutex<State>,
}

impl std::fmt::Debug for Tso {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tso")
            .field("window_ms", &self.window_ms)
            .field("state", &self.state)
            .finish()
    }
}

impl Tso {
    /// Loads the saved bound. Every timestamp this oracle hands out is above
    /// every timestamp handed out before on the same directory.
    pub fn open(storage: MetaStorage, clock: Arc<dyn Clock>, window_ms: u64) -> Result<Tso> {
        let saved_bound = storage.load_tso_bound()?.unwrap_or(0);
        Ok(Tso {
            storage,
            clock,
            window_ms: window_ms.max(1),
            // As if (saved_bound, MAX_LOGICAL) had been handed out: the next
            // timestamp is past the saved bound whatever the clock says.
            state: Mutex::new(State {
                physical: saved_bound,
                logical: MAX_LOGICAL,
                saved_bound,
            }),
        })
    }

    /// Returns a timestamp above every timestamp returned before.
    pub fn next(&self) -> Result<u64> {
        // Held across the synced write: no thread may return a physical time
        // beyond the bound on disk.
        let mut state = self.state.lock().unwrap_or_else(|poisoned| {
            // State changes only after the write succeeded, by plain
            // assignments: a panicking holder cannot leave it inconsistent.
            poisoned.into_inner()
        });
        let now = self.clock.now_ms();
        let (physical, logical) = if now > state.physical {
            (now, 0)
        } else if state.logical < MAX_LOGICAL {
            (state.physical, state.logical + 1)
        } else {
            (state.physical + 1, 0)
        };
        if physical > state.saved_bound {
            let bound = physical + self.window_ms;
            self.storage.save_tso_bound(bound)?;
            log::debug!("tso: saved bound {bound} ms");
            state.saved_bound = bound;
        }
        state.physical = physical;
        state.logical = logical;
        Ok((physical << LOGICAL_BITS) | logical)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// A clock the test sets by hand.
    struct ManualClock(AtomicU64);

    impl Clock for ManualClock {
        fn now_ms(&self) -> u64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn open(dir: &std::path::Path, clock: Arc<dyn Clock>) -> Tso {
        Tso::open(MetaStorage::open(dir).expect("open engine"), clock, 3000).expect("open tso")
    }

    /// Timestamps from 4 threads are all distinct and increase within each thread.
    #[test]
    fn strictly_increasing_across_threads() {
        let dir = tempfile::tempdir().expect("create a temp dir");
        let tso = Arc::new(open(dir.path(), Arc::new(crate::SystemClock)));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let tso = Arc::clone(&tso);
                std::thread::spawn(move || {
                    let stamps: Vec<u64> = (0..5000).map(|_| tso.next().expect("tso")).collect();
                    assert!(stamps.windows(2).all(|pair| pair[0] < pair[1]));
                    stamps
                })
            })
            .collect();
        let mut all: Vec<u64> = handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("tso thread panicked"))
            .collect();
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count, "a timestamp was handed out twice");
    }

    /// A frozen clock exhausts the logical counter and moves to the next millisecond.
    #[test]
    fn logical_overflow_advances_physical() {
        let dir = tempfile::tempdir().expect("create a temp dir");
        let tso = open(dir.path(), Arc::new(ManualClock(AtomicU64::new(10_000))));
        let first = tso.next().unwrap();
        let mut last = first;
        for _ in 0..(MAX_LOGICAL + 5) {
            let stamp = tso.next().unwrap();
            assert!(stamp > last);
            last = stamp;
        }
        assert_eq!(first >> LOGICAL_BITS, 10_000);
        assert_eq!(last >> LOGICAL_BITS, 10_001);
    }

    /// After restarts with the clock going backwards, timestamps never go back.
    #[test]
    fn never_goes_back_across_restarts() {
        let dir = tempfile::tempdir().expect("create a temp dir");
        let clock = Arc::new(ManualClock(AtomicU64::new(1_000_000)));
        let mut last = 0;
        for round in 0..10u64 {
            let tso = open(dir.path(), clock.clone());
            for step in 0..100 {
                let stamp = tso.next().unwrap();
                assert!(stamp > last, "round {round} step {step}: {stamp} <= {last}");
                last = stamp;
                clock.0.fetch_add(7, Ordering::SeqCst);
            }
            // Before the next restart the clock jumps back by up to 5 s.
            let back = 500 * (round + 1);
            clock.0.fetch_sub(back, Ordering::SeqCst);
        }
    }
}
