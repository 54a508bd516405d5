//! [`IdAllocator`]: unique ids for stores, regions and peers.
//!
//! Called by [`crate::Scheduler`] (`alloc_id`, `ask_split`). Ids are handed
//! out from batches, as PD does: the allocator persists the end of the
//! current batch (`meta/id`, synced) *before* it hands out the first id of
//! that batch, so every id ever returned is below the persisted mark. After
//! a restart it starts at the mark, skipping what was left of the old batch:
//! ids may have gaps, but one is never handed out twice. One synced write
//! per batch instead of one per id keeps allocation cheap.

use std::sync::Mutex;

use crate::errors::Result;
use crate::meta_storage::MetaStorage;

/// How many ids one synced write reserves, unless configured otherwise.
pub const DEFAULT_ID_BATCH: u64 = 1000;

/// The next id to hand out, and the persisted end of the current batch.
#[derive(Debug)]
struct Range {
    next: u64,
    end: u64,
}

/// A thread-safe, restart-safe id allocator. See the module docs.
#[derive(Debug)]
pub struct IdAllocator {
    storage: MetaStorage,
    batch: u64,
    range: Mutex<Range>,
}

impl IdAllocator {
    /// Loads the persisted mark; the first id handed out is at or above it
    /// (and never 0, which protobuf uses for "unset").
    pub fn open(storage: MetaStorage, batch: u64) -> Result<IdAllocator> {
        let mark = storage.load_id_mark()?.unwrap_or(0);
        let start = mark.max(1);
        Ok(IdAllocator {
            storage,
            batch: batch.max(1),
            // next == end: the first alloc persists a new batch first.
            range: Mutex::new(Range {
                next: start,
                end: start,
            }),
        })
    }

    /// Returns a new id, never returned before by any allocator on this
    /// directory. Blocks on a synced write once per batch.
    pub fn alloc(&self) -> Result<u64> {
        // The lock is held across the synced write so no thread can take an
        // id from a batch that is not on disk yet.
        let mut range = self.range.lock().unwrap_or_else(|poisoned| {
            // The range is changed only after the write succeeded, in two
            // plain assignments: a panicking holder cannot leave it half-updated.
            poisoned.into_inner()
        });
        if range.next >= range.end {
            let new_end = range.next + self.batch;
            self.storage.save_id_mark(new_end)?;
            log::debug!("id allocator: reserved ids [{}, {new_end})", range.next);
            range.end = new_end;
        }
        let id = range.next;
        range.next += 1;
        Ok(id)
    }

    /// Makes sure no id at or below `id` is handed out from now on: an id
    /// the cluster already uses that this allocator did not hand out (the
    /// ids of a bootstrap request, a store id chosen by hand) must never
    /// come out of `alloc` too. Persists the new mark before returning.
    pub fn reserve_through(&self, id: u64) -> Result<()> {
        let mut range = self.range.lock().unwrap_or_else(|poisoned| {
            // Same argument as in `alloc`: changed only after the write.
            poisoned.into_inner()
        });
        if id < range.next {
            return Ok(());
        }
        let new_next = id + 1;
        if new_next > range.end {
            let new_end = new_next + self.batch;
            self.storage.save_id_mark(new_end)?;
            log::debug!("id allocator: reserved ids through {id}, batch ends at {new_end}");
            range.end = new_end;
        }
        range.next = new_next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Arc;

    use rand::{Rng, SeedableRng};

    use super::*;

    /// Ids from 4 threads sharing one allocator are all distinct and non-zero.
    #[test]
    fn unique_across_threads() {
        let dir = tempfile::tempdir().expect("create a temp dir");
        let allocator =
            Arc::new(IdAllocator::open(MetaStorage::open(dir.path()).unwrap(), 7).unwrap());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let allocator = Arc::clone(&allocator);
                std::thread::spawn(move || {
                    (0..500)
                        .map(|_| allocator.alloc().expect("alloc"))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut seen = HashSet::new();
        for handle in handles {
            for id in handle.join().expect("allocating thread panicked") {
                assert_ne!(id, 0);
                assert!(seen.insert(id), "id {id} handed out twice");
            }
        }
        assert_eq!(seen.len(), 2000);
    }

    /// Thousands of allocations interleaved with random reopens never reissue an id.
    #[test]
    fn never_reissued_across_restarts() {
        // TINYKV_SEED replays a failure, as in the cluster tests.
        let seed: u64 = std::env::var("TINYKV_SEED")
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(rand::random);
        println!("never_reissued_across_restarts seed = {seed}");
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let dir = tempfile::tempdir().expect("create a temp dir");
        let mut seen = HashSet::new();
        let mut last = 0;
        for _restart in 0..40 {
            let batch = rng.gen_range(1..20);
            let storage = MetaStorage::open(dir.path()).unwrap();
            let allocator = IdAllocator::open(storage, batch).unwrap();
            for _ in 0..rng.gen_range(0..200) {
                let id = allocator.alloc().unwrap();
                assert!(seen.insert(id), "seed {seed}: id {id} reissued");
                assert!(id > last, "seed {seed}: id {id} not above {last}");
                last = id;
            }
        }
        assert!(seen.len() > 1000, "seed {seed}: only {} ids", seen.len());
    }

    /// An id reserved by hand is never handed out, before or after a restart.
    #[test]
    fn reserved_ids_are_skipped() {
        let dir = tempfile::tempdir().expect("create a temp dir");
        let allocator = IdAllocator::open(MetaStorage::open(dir.path()).unwrap(), 5).unwrap();
        assert_eq!(allocator.alloc().unwrap(), 1);
        allocator.reserve_through(40).unwrap();
        assert_eq!(allocator.alloc().unwrap(), 41);
        allocator.reserve_through(3).unwrap();
        assert_eq!(allocator.alloc().unwrap(), 42);
        allocator.reserve_through(100).unwrap();
        drop(allocator);
        let reopened = IdAllocator::open(MetaStorage::open(dir.path()).unwrap(), 5).unwrap();
        assert!(reopened.alloc().unwrap() > 100);
    }
}
