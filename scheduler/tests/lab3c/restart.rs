//! Ids and timestamps across scheduler restarts (property tests): a
//! restarted scheduler never hands out an id twice and never a timestamp
//! at or below one handed out before, even when the wall clock steps back.
//! Seeded: the seed is printed, and `TINYKV_SEED=<seed>` replays it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use scheduler::{Clock, Scheduler, SchedulerOptions, SchedulerService};

use super::common::{peer, store};

/// A clock the test sets by hand.
#[derive(Debug)]
struct ManualClock(AtomicU64);

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The test's seed: `TINYKV_SEED` or a random one, printed.
fn seed(test: &str) -> u64 {
    let seed = std::env::var("TINYKV_SEED")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(rand::random);
    println!("[{test}] seed = {seed} (replay with TINYKV_SEED={seed})");
    seed
}

fn open(dir: &std::path::Path, clock: &Arc<ManualClock>, rng: &mut StdRng) -> Scheduler {
    let options = SchedulerOptions {
        clock: Arc::clone(clock) as Arc<dyn Clock>,
        // Small, random batches and windows: many persisted marks, and
        // restarts that land anywhere inside them.
        id_batch: rng.gen_range(1..50),
        tso_save_window_ms: rng.gen_range(1..200),
        ..SchedulerOptions::default()
    };
    Scheduler::open_with(dir, options).expect("open the scheduler")
}

/// Thousands of ids (alloc_id and ask_split) around 40 restarts are all distinct and increasing.
#[test]
fn ids_never_reissued_across_restarts() {
    let seed = seed("lab3c::restart::ids_never_reissued_across_restarts");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("create a temp dir");
    let clock = Arc::new(ManualClock(AtomicU64::new(1_000_000)));
    let mut seen: HashSet<u64> = HashSet::new();
    let mut last = 0;
    let mut region = proto::metapb::Region::new();
    region.id = 1;
    region.mut_region_epoch().version = 1;
    region.mut_region_epoch().conf_ver = 1;
    region.peers.push(peer(2, 1));
    for restart in 0..40 {
        let scheduler = open(dir.path(), &clock, &mut rng);
        if restart == 0 {
            scheduler
                .bootstrap(store(1), region.clone())
                .expect("bootstrap");
            // The bootstrap's own ids are taken.
            seen.extend([1, 2]);
            last = 2;
        }
        for _ in 0..rng.gen_range(0..150) {
            let ids = if rng.gen_bool(0.8) {
                vec![scheduler.alloc_id().expect("alloc id")]
            } else {
                let (new_region_id, new_peer_ids) =
                    scheduler.ask_split(&region).expect("ask split");
                std::iter::once(new_region_id).chain(new_peer_ids).collect()
            };
            for id in ids {
                assert!(seen.insert(id), "seed {seed}: id {id} handed out twice");
                assert!(id > last, "seed {seed}: id {id} after {last}");
                last = id;
            }
        }
    }
    assert!(seen.len() > 1000, "seed {seed}: only {} ids", seen.len());
}

/// Thousands of timestamps around 40 restarts, with the clock stepping back and forth, strictly increase.
#[test]
fn timestamps_never_go_backwards_across_restarts() {
    let seed = seed("lab3c::restart::timestamps_never_go_backwards_across_restarts");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("create a temp dir");
    let clock = Arc::new(ManualClock(AtomicU64::new(1_000_000)));
    let mut last = 0;
    let mut count = 0;
    for _restart in 0..40 {
        // Wall time moves between restarts, sometimes backwards (another
        // machine, an NTP step).
        let now = clock.now_ms();
        clock.0.store(
            now.saturating_add_signed(rng.gen_range(-500..500)),
            Ordering::SeqCst,
        );
        let scheduler = open(dir.path(), &clock, &mut rng);
        for _ in 0..rng.gen_range(0..200) {
            if rng.gen_bool(0.1) {
                let now = clock.now_ms();
                clock.0.store(
                    now.saturating_add_signed(rng.gen_range(-50..100)),
                    Ordering::SeqCst,
                );
            }
            let ts = scheduler.tso().expect("tso");
            assert!(ts > last, "seed {seed}: timestamp {ts} after {last}");
            last = ts;
            count += 1;
        }
    }
    assert!(count > 1000, "seed {seed}: only {count} timestamps");
}

/// Timestamps taken by 4 threads at once are all distinct, and each thread's increase.
#[test]
fn timestamps_unique_across_threads() {
    let dir = tempfile::tempdir().expect("create a temp dir");
    let scheduler = Arc::new(Scheduler::open(dir.path()).expect("open the scheduler"));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let scheduler = Arc::clone(&scheduler);
            std::thread::spawn(move || {
                let mut taken = Vec::with_capacity(1000);
                for _ in 0..1000 {
                    taken.push(scheduler.tso().expect("tso"));
                }
                taken
            })
        })
        .collect();
    let mut all = HashSet::new();
    for thread in threads {
        let taken = thread.join().expect("a tso thread panicked");
        assert!(taken.windows(2).all(|pair| pair[0] < pair[1]));
        for ts in taken {
            assert!(all.insert(ts), "timestamp {ts} handed out twice");
        }
    }
    assert_eq!(all.len(), 4000);
}
