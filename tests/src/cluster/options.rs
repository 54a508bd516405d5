//! [`ClusterOptions`]: how a test [`super::Cluster`] is built.
//!
//! The defaults are what lab 2 and 3B tests need: every store holds a peer
//! of the first region, which covers the whole key space, and the
//! scheduler's schedule tick is off (heartbeats are still processed, and
//! ids still come from the scheduler). Lab 3C tests start fewer replicas
//! than stores and turn the tick on.

use std::path::PathBuf;
use std::time::Duration;

use raftstore::Config;
use scheduler::SchedulerOptions;

/// How a test cluster is built. See the module docs.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Stores 1..=n.
    pub store_count: u64,
    /// The stores' raftstore settings.
    pub config: Config,
    /// How many stores (1..=k) hold a peer of the first region; `None`:
    /// all of them. The others start empty, known to the scheduler.
    pub first_region_stores: Option<u64>,
    /// The first region's range (empty = unbounded), so tests can send keys
    /// outside every region.
    pub first_region_range: (Vec<u8>, Vec<u8>),
    /// The scheduler's settings (balancing, down time, replica count).
    pub scheduler: SchedulerOptions,
    /// How often the schedule tick runs; `None`: never (no operator is
    /// created except those a test adds by hand).
    pub schedule_interval: Option<Duration>,
    /// A data directory to keep instead of a temp dir (the playground's
    /// `--data-dir`).
    pub data_dir: Option<PathBuf>,
}

impl ClusterOptions {
    /// `store_count` stores with `config`, and the defaults above.
    pub fn new(store_count: u64, config: Config) -> ClusterOptions {
        ClusterOptions {
            store_count,
            config,
            first_region_stores: None,
            first_region_range: (Vec::new(), Vec::new()),
            scheduler: SchedulerOptions {
                // Balancing is switched on by tests that want it.
                enable_balance_leader: false,
                enable_balance_region: false,
                ..SchedulerOptions::default()
            },
            schedule_interval: None,
            data_dir: None,
        }
    }
}
