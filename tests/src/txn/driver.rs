//! The rounds both transaction workloads run: clients on their own
//! threads, the nemesis (unreliable network, partitions) beside them, and
//! at the end of each round a heal, an optional crash of every store under
//! the running clients, and a check that the healed cluster commits again.
//!
//! Called by `bank.rs` and `list_append.rs` on the test thread; it spawns
//! and joins the client and nemesis threads (scoped).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use raftstore::Config;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::cluster::{Cluster, ClusterOptions};
use crate::workload::{Nemesis, StopOnDrop, PROGRESS_TIMEOUT};

/// The faults and the shape of a transaction workload.
#[derive(Debug, Clone)]
pub struct TxnWorkloadOptions {
    /// Stores in the cluster.
    pub stores: u64,
    /// Concurrent clients.
    pub clients: usize,
    /// Rounds to run.
    pub rounds: usize,
    /// How long the clients run in each round before the heal.
    pub round_duration: Duration,
    /// Drop and reorder raft messages during the rounds.
    pub unreliable: bool,
    /// Partition the stores at random during the rounds.
    pub partitions: bool,
    /// Stop and restart every store at the end of each round, under the
    /// running clients.
    pub crash: bool,
    /// Split regions as the versions pile up (small region sizes).
    pub split: bool,
}

impl Default for TxnWorkloadOptions {
    /// Five stores, four clients, three rounds of 1.5 s, no faults.
    fn default() -> TxnWorkloadOptions {
        TxnWorkloadOptions {
            stores: 5,
            clients: 4,
            rounds: 3,
            round_duration: Duration::from_millis(1500),
            unreliable: false,
            partitions: false,
            crash: false,
            split: false,
        }
    }
}

/// The region size at which transactional data splits in the workloads.
const SPLIT_SIZE: u64 = 2048;

/// A cluster for a transaction workload.
pub(crate) fn build_cluster(test_name: &str, options: &TxnWorkloadOptions) -> Cluster {
    let mut config = Config::for_tests();
    if options.split {
        config.region_max_size = SPLIT_SIZE;
        config.region_split_size = SPLIT_SIZE * 2 / 3;
        config.region_split_check_diff = SPLIT_SIZE / 8;
        config.split_region_check_tick_interval = Duration::from_millis(50);
    }
    let cluster = Cluster::build(test_name, ClusterOptions::new(options.stores, config));
    eprintln!(
        "[{test_name}] txn workload (seed {}): {options:?}",
        cluster.seed
    );
    cluster
}

/// Runs the rounds; `client` is each client's loop (its id, a stop flag
/// to watch, and a counter to bump per committed transaction). Fails the
/// test (with the seed) if a thread panics or the healed cluster commits
/// nothing within [`PROGRESS_TIMEOUT`].
pub(crate) fn run_rounds(
    cluster: &Cluster,
    options: &TxnWorkloadOptions,
    client: &(dyn Fn(usize, &AtomicBool, &AtomicU64) + Sync),
) {
    let mut rng = StdRng::seed_from_u64(cluster.seed);
    let committed = AtomicU64::new(0);
    for round in 0..options.rounds {
        log::info!("--- txn round {round}");
        let stop = AtomicBool::new(false);
        let nemesis_stop = AtomicBool::new(false);
        let mut nemesis = Nemesis::new(
            StdRng::seed_from_u64(rng.gen()),
            options.unreliable,
            options.partitions,
        );
        let mut failures: Vec<String> = Vec::new();
        std::thread::scope(|scope| {
            let _stop_on_unwind = StopOnDrop(&[&stop, &nemesis_stop]);
            let nemesis_thread = scope.spawn(|| nemesis.run(cluster, &nemesis_stop));
            let clients: Vec<_> = (0..options.clients)
                .map(|id| {
                    let (stop, committed) = (&stop, &committed);
                    scope.spawn(move || client(id, stop, committed))
                })
                .collect();
            // A client sets `stop` itself when it found a violation: the
            // round ends at once, and the workload reports it.
            let deadline = Instant::now() + options.round_duration;
            while Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(10));
            }
            nemesis_stop.store(true, Ordering::SeqCst);
            if nemesis_thread.join().is_err() {
                failures.push("the nemesis panicked".to_string());
            }
            cluster.heal();
            if options.crash {
                log::info!(
                    "--- crash: stop every store under the running clients, start them again"
                );
                for store_id in cluster.store_ids() {
                    cluster.stop_store(store_id);
                }
                for store_id in cluster.store_ids() {
                    cluster.start_store(store_id);
                }
            }
            let healed_at = committed.load(Ordering::SeqCst);
            let progress_deadline = Instant::now() + PROGRESS_TIMEOUT;
            while committed.load(Ordering::SeqCst) == healed_at && !stop.load(Ordering::SeqCst) {
                if Instant::now() > progress_deadline {
                    failures.push(format!(
                        "no transaction committed within {PROGRESS_TIMEOUT:?} after the heal"
                    ));
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            stop.store(true, Ordering::SeqCst);
            for (id, thread) in clients.into_iter().enumerate() {
                if thread.join().is_err() {
                    failures.push(format!("client {id} panicked"));
                }
            }
        });
        if !failures.is_empty() {
            cluster.fail(&failures.join("; "));
        }
    }
}
