//! [`Latches`]: keep two transactional commands off the same keys of one
//! store.
//!
//! A writing command (prewrite, commit, rollback, check_txn_status,
//! resolve_lock) reads the lock and write records of its keys, decides,
//! and writes. Two such commands on one key must not interleave: both
//! could read "no lock" and both prewrite, and the second lock would
//! silently replace the first. A command therefore holds the latches of
//! all its keys from before its read until its write returned (TinyKV's
//! latches, TiKV's scheduler latches). Reads (KvGet, KvScan) take none:
//! they read one snapshot and write nothing.
//!
//! Keys are hashed into a fixed number of slots, each a mutex; a command
//! locks the slots of its keys in ascending slot order, so two commands
//! never wait for each other in a cycle (no deadlock), and a key shared by
//! two commands means a slot shared, so one waits for the other. Two keys
//! in one slot only cost some parallelism, never correctness. Called by
//! the commands in this module on the caller's thread, which blocks while
//! another command holds a slot it needs.
//!
//! The latches are per store (one [`crate::Server`]), not per cluster:
//! they order commands that reach the same store; commands on other stores
//! are ordered by raft, which applies one region's commands in one order.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, MutexGuard};

/// The slots a [`crate::Server`] makes: enough that unrelated keys rarely
/// share one, few enough to cost nothing (a mutex is a few bytes).
pub(crate) const DEFAULT_SLOTS: usize = 2048;

/// A fixed set of slots; the keys of a command hash into them.
pub(crate) struct Latches {
    slots: Vec<Mutex<()>>,
}

/// The latches of one command's keys; dropping it releases them.
pub(crate) struct LatchGuard<'a> {
    _held: Vec<MutexGuard<'a, ()>>,
}

impl Latches {
    /// Latches with `slot_count` slots (at least one).
    pub(crate) fn new(slot_count: usize) -> Latches {
        Latches {
            slots: (0..slot_count.max(1)).map(|_| Mutex::new(())).collect(),
        }
    }

    /// The slot `key` hashes into. `DefaultHasher::new()` has fixed keys,
    /// so a key's slot is the same in every call and every thread.
    pub(crate) fn slot_of(&self, key: &[u8]) -> usize {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        (hasher.finish() % self.slots.len() as u64) as usize
    }

    /// Blocks until the latches of every key in `keys` are held, and
    /// returns them. Each slot is taken once even when several keys share
    /// it, and slots are taken in ascending order so that no two commands
    /// wait for each other.
    pub(crate) fn acquire<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) -> LatchGuard<'_> {
        let mut slots: Vec<usize> = keys.into_iter().map(|key| self.slot_of(key)).collect();
        slots.sort_unstable();
        slots.dedup();
        let held = slots
            .into_iter()
            .map(|slot| {
                // A slot guards no data (`()`), so a command that panicked
                // while holding it left nothing half-changed: take it anyway.
                self.slots[slot]
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
            })
            .collect();
        LatchGuard { _held: held }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{mpsc, Arc};
    use std::thread;
    use std::time::Duration;

    /// Two threads whose key sets overlap never run their critical sections at the same time.
    #[test]
    fn overlapping_keys_never_interleave() {
        let latches = Arc::new(Latches::new(DEFAULT_SLOTS));
        // A read-then-write that loses updates if two threads interleave.
        let counter = Arc::new(AtomicU64::new(0));
        let inside = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = [[&b"a"[..], b"shared"], [b"shared", b"z"]]
            .into_iter()
            .map(|keys| {
                let (latches, counter, inside) = (latches.clone(), counter.clone(), inside.clone());
                thread::spawn(move || {
                    for _ in 0..200 {
                        let _guard = latches.acquire(keys);
                        assert!(!inside.swap(true, Ordering::SeqCst), "two holders at once");
                        let seen = counter.load(Ordering::SeqCst);
                        thread::yield_now();
                        counter.store(seen + 1, Ordering::SeqCst);
                        inside.store(false, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("a latch thread panicked");
        }
        assert_eq!(counter.load(Ordering::SeqCst), 400, "an update was lost");
    }

    /// A command waits while another holds one of its keys, and goes on once it is released.
    #[test]
    fn a_held_key_blocks_until_released() {
        let latches = Arc::new(Latches::new(DEFAULT_SLOTS));
        let guard = latches.acquire([&b"a"[..], b"b"]);
        let (acquired_sender, acquired) = mpsc::channel();
        let waiter = {
            let latches = latches.clone();
            thread::spawn(move || {
                let _guard = latches.acquire([&b"b"[..], b"c"]);
                acquired_sender.send(()).expect("the test waits for this");
            })
        };
        assert!(
            acquired.recv_timeout(Duration::from_millis(200)).is_err(),
            "acquired a key another command holds"
        );
        drop(guard);
        acquired
            .recv_timeout(Duration::from_secs(10))
            .expect("the waiter goes on once the key is released");
        waiter.join().expect("the waiter panicked");
    }

    /// Commands on keys in different slots proceed in parallel: one does not wait for the other.
    #[test]
    fn disjoint_keys_proceed_in_parallel() {
        let latches = Arc::new(Latches::new(DEFAULT_SLOTS));
        let first = b"left".to_vec();
        // Any key of another slot: unrelated keys may share a slot, which
        // would (correctly) serialise them.
        let second = (0u32..)
            .map(|n| format!("right-{n}").into_bytes())
            .find(|key| latches.slot_of(key) != latches.slot_of(&first))
            .expect("some key hashes elsewhere");
        let _guard = latches.acquire([first.as_slice()]);
        let (acquired_sender, acquired) = mpsc::channel();
        let other = {
            let latches = latches.clone();
            thread::spawn(move || {
                let _guard = latches.acquire([second.as_slice()]);
                acquired_sender.send(()).expect("the test waits for this");
            })
        };
        acquired
            .recv_timeout(Duration::from_secs(10))
            .expect("a disjoint key is not blocked by a held one");
        other.join().expect("the other thread panicked");
    }

    /// Keys sharing a slot, and one key given twice, take the slot once (no self-deadlock).
    #[test]
    fn repeated_keys_and_shared_slots_are_taken_once() {
        let latches = Latches::new(1);
        let _guard = latches.acquire([&b"a"[..], b"b", b"a"]);
    }
}
