//! [`Config`]: every tunable of a store, with its default and why.

use std::time::Duration;

/// The settings of one store. `Config::default()` suits a real store;
/// [`Config::for_tests`] shrinks the timers so cluster tests run fast.
#[derive(Debug, Clone)]
pub struct Config {
    /// The base tick: how often the raft worker ticks every peer. All raft
    /// timeouts below are counted in these ticks. Default 100 ms.
    pub raft_base_tick_interval: Duration,
    /// A leader sends heartbeats every this many base ticks. Default 2.
    pub raft_heartbeat_ticks: usize,
    /// A follower starts an election after this many base ticks without a
    /// leader (randomized up to twice as long). Default 10.
    pub raft_election_timeout_ticks: usize,
    /// The most bytes of entries in one append message. Default 1 MiB.
    pub raft_max_size_per_msg: u64,
    /// The most append messages in flight to one follower. Default 256.
    pub raft_max_inflight_msgs: usize,
    /// How often the leader considers compacting the raft log. Default 10 s.
    pub raft_log_gc_tick_interval: Duration,
    /// Compact when applied index − first index reaches this. Default 10 000.
    pub raft_log_gc_count_limit: u64,
    /// How often the store worker runs its own tick (snapshot GC, stats). Default 10 s.
    pub store_tick_interval: Duration,
    /// How long a proposal may wait for its result before the caller gets a
    /// timeout (the outcome is then unknown). Default 10 s.
    pub command_timeout: Duration,
    /// The most messages the raft worker takes from its mailbox before it
    /// handles the Ready of the peers they touched: batching amortizes the
    /// synced raft-log write over many proposals. Default 256.
    pub raft_worker_batch_size: usize,
    /// Snapshot chunk size on the wire: a raft snapshot's chunk holds whole
    /// pairs, at least this many bytes of them and at most twice as many
    /// (`PairChunkStream`). Default 1 MiB; at most 4 MiB, so that a chunk
    /// stays well inside the network's 16 MiB message limit.
    pub snapshot_chunk_size: usize,
    /// How long sending or receiving one snapshot may take before it is
    /// abandoned and reported as failed. Default 60 s.
    pub snapshot_transfer_timeout: Duration,
    /// Generation failures in a row after which `PeerStorage::snapshot`
    /// reports an error to raft for this attempt (instead of retrying
    /// silently) and starts counting again. Never a crash. Default 5.
    pub snapshot_generate_retry_limit: usize,
    /// Snapshot files idle for longer than this are garbage collected, and
    /// generated snapshots (pinned engine snapshots, kept in memory) let
    /// go. Default 10 min.
    pub snapshot_gc_idle_timeout: Duration,
    /// Cap on the total size of the snapshot directory. Default 4 GiB.
    pub snapshot_max_total_size: u64,
    /// Seeds every peer's randomized election timeout (mixed with the peer
    /// id), so a test cluster's elections follow its seed. None (default):
    /// from OS entropy.
    pub raft_random_seed: Option<u64>,
    /// A TransferLeader is refused while the target's log lags the
    /// leader's last index by more than this many entries: it would only
    /// stall proposals until the target caught up. Default 128.
    pub leader_transfer_max_log_lag: u64,
    /// How often a leader considers asking split_check to measure its
    /// region. Default 10 s.
    pub split_region_check_tick_interval: Duration,
    /// Bytes written to a region since its last check before it is
    /// measured again (a region that does not grow is not rescanned).
    /// Default 8 MiB.
    pub region_split_check_diff: u64,
    /// How often a leader reports its region to the scheduler (the region
    /// heartbeat; the store heartbeat rides on `store_tick_interval`).
    /// Default 10 s.
    pub scheduler_heartbeat_tick_interval: Duration,
    /// A region larger than this is split. Default 144 MiB.
    pub region_max_size: u64,
    /// Where the split key is put: the first `region_split_size` bytes stay
    /// in the old region. Default 96 MiB.
    pub region_split_size: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            raft_base_tick_interval: Duration::from_millis(100),
            raft_heartbeat_ticks: 2,
            raft_election_timeout_ticks: 10,
            raft_max_size_per_msg: 1 << 20,
            raft_max_inflight_msgs: 256,
            raft_log_gc_tick_interval: Duration::from_secs(10),
            raft_log_gc_count_limit: 10_000,
            store_tick_interval: Duration::from_secs(10),
            command_timeout: Duration::from_secs(10),
            raft_worker_batch_size: 256,
            snapshot_chunk_size: 1 << 20,
            snapshot_transfer_timeout: Duration::from_secs(60),
            snapshot_generate_retry_limit: 5,
            snapshot_gc_idle_timeout: Duration::from_secs(600),
            snapshot_max_total_size: 4 << 30,
            raft_random_seed: None,
            leader_transfer_max_log_lag: 128,
            split_region_check_tick_interval: Duration::from_secs(10),
            scheduler_heartbeat_tick_interval: Duration::from_secs(10),
            region_split_check_diff: 8 << 20,
            region_max_size: 144 << 20,
            region_split_size: 96 << 20,
        }
    }
}

impl Config {
    /// Fast timers for the in-process test cluster: 10 ms ticks, elections
    /// after 100–200 ms, log GC checked every 50 ms.
    pub fn for_tests() -> Config {
        Config {
            raft_base_tick_interval: Duration::from_millis(10),
            raft_log_gc_tick_interval: Duration::from_millis(50),
            store_tick_interval: Duration::from_millis(100),
            command_timeout: Duration::from_secs(3),
            snapshot_transfer_timeout: Duration::from_secs(10),
            snapshot_gc_idle_timeout: Duration::from_secs(5),
            split_region_check_tick_interval: Duration::from_millis(100),
            scheduler_heartbeat_tick_interval: Duration::from_millis(100),
            ..Config::default()
        }
    }

    /// Checks that the settings make sense together.
    pub fn validate(&self) -> Result<(), String> {
        if self.raft_base_tick_interval.is_zero() {
            return Err("raft_base_tick_interval must be positive".to_string());
        }
        if self.raft_heartbeat_ticks == 0 {
            return Err("raft_heartbeat_ticks must be positive".to_string());
        }
        if self.raft_election_timeout_ticks <= self.raft_heartbeat_ticks {
            return Err(format!(
                "raft_election_timeout_ticks ({}) must be greater than raft_heartbeat_ticks ({})",
                self.raft_election_timeout_ticks, self.raft_heartbeat_ticks
            ));
        }
        if self.raft_log_gc_count_limit == 0 {
            return Err("raft_log_gc_count_limit must be positive".to_string());
        }
        if self.region_split_size == 0 || self.region_split_size > self.region_max_size {
            return Err(format!(
                "region_split_size ({}) must be positive and at most region_max_size ({})",
                self.region_split_size, self.region_max_size
            ));
        }
        if self.snapshot_chunk_size == 0 || self.snapshot_chunk_size > 4 << 20 {
            return Err(format!(
                "snapshot_chunk_size ({}) must be positive and at most 4 MiB",
                self.snapshot_chunk_size
            ));
        }
        Ok(())
    }
}
