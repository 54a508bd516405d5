//! [`InProcessTarget`]: the same raw puts against the tests crate's
//! in-process `Cluster` (3 stores in this process, the simulated network,
//! no gRPC), through the stores' own request handlers (`Server::raw_put`,
//! what the gRPC service calls). Its figure next to the multi-process one
//! is the cost of the network layer.
//!
//! With `regions` above 1 the key space is split first, at client
//! boundaries (client c's keys start `bench-c`), so the clients spread
//! over that many regions and their leaders: how well one store batches
//! the synced writes of several busy regions shows in the sync counts.
//!
//! Called from the load generator's client threads (the handlers block
//! until raft applies the write).

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use proto::kvrpcpb::{Context, RawPutRequest};
use raftstore::Config;
use tinykv_tests::cluster::{Cluster, FIRST_REGION_ID};

/// How long one put may take, retries included.
const PUT_DEADLINE: Duration = Duration::from_secs(10);

/// Puts through the leaders' handlers (see the module docs).
#[derive(Clone)]
pub struct InProcessTarget {
    cluster: Arc<Cluster>,
    /// Where the regions start, after the first: range i is
    /// `[split_keys[i - 1], split_keys[i])`.
    split_keys: Arc<Vec<Vec<u8>>>,
    /// Per key range: its leader's store and the context that names the
    /// leader peer and the region's epoch; refreshed after a region error.
    leaders: Arc<Vec<RwLock<(u64, Context)>>>,
}

impl InProcessTarget {
    /// Starts a 3-store cluster with the same raft timers as the cluster
    /// of processes (`--test-timers`), splits it into `regions` regions
    /// at client boundaries for up to `max_clients` clients, and waits for
    /// every region's leader.
    pub fn start(regions: usize, max_clients: usize) -> InProcessTarget {
        let cluster = Arc::new(Cluster::new("cluster-bench", 3, Config::for_tests()));
        let regions = regions.clamp(1, max_clients.max(1));
        let split_keys: Vec<Vec<u8>> = (1..regions)
            .map(|range| format!("bench-{:03}", max_clients * range / regions).into_bytes())
            .collect();
        for split_key in &split_keys {
            cluster.must_split(split_key);
        }
        let target = InProcessTarget {
            cluster,
            split_keys: Arc::new(split_keys),
            leaders: Arc::new(
                (0..regions)
                    .map(|_| RwLock::new((0, Context::new())))
                    .collect(),
            ),
        };
        for range in 0..regions {
            target.refresh_leader(range);
        }
        target
    }

    /// The key range (and so the region) `key` belongs to.
    fn range_of(&self, key: &[u8]) -> usize {
        self.split_keys
            .partition_point(|split_key| split_key.as_slice() <= key)
    }

    /// Looks up the leader and epoch of key range `range`'s region again.
    fn refresh_leader(&self, range: usize) {
        let start_key = match range {
            0 => Vec::new(),
            _ => self.split_keys[range - 1].clone(),
        };
        let region_id = self
            .cluster
            .region_for_key(&start_key)
            .map_or(FIRST_REGION_ID, |region| region.id);
        let leader = self.cluster.wait_leader(region_id, Duration::from_secs(10));
        let mut context = Context::new();
        context.region_id = region_id;
        if let Some(region) = self.cluster.region(region_id) {
            context.region_epoch = Some(region.region_epoch().clone()).into();
        }
        context.peer = Some(leader.clone()).into();
        *self.leaders[range]
            .write()
            .unwrap_or_else(|e| e.into_inner()) = (leader.store_id, context);
    }

    /// Synced raft-engine writes so far, per store: the store leading the
    /// first key range first, then the others by store id. Each is one
    /// wait for the disk; the raft worker is meant to cover a whole batch
    /// of client writes with one (`RaftWorker::handle_readies`), which these
    /// counts check.
    pub fn raft_log_syncs(&self) -> Vec<u64> {
        let leader = self.leaders[0].read().unwrap_or_else(|e| e.into_inner()).0;
        let mut store_ids = self.cluster.store_ids();
        store_ids.sort_by_key(|&store_id| (store_id != leader, store_id));
        store_ids
            .into_iter()
            .map(|store_id| {
                self.cluster
                    .with_store(store_id, |store| {
                        store.engines().raft.write_statistics().synced_batches
                    })
                    .unwrap_or(0)
            })
            .collect()
    }

    /// Puts `key` = `value` through the leader's handlers.
    pub fn put(&self, key: Vec<u8>, value: Vec<u8>) -> Result<(), String> {
        let mut request = RawPutRequest::new();
        request.key = key;
        request.value = value;
        let deadline = Instant::now() + PUT_DEADLINE;
        let range = self.range_of(&request.key);
        loop {
            let (store_id, context) = self.leaders[range]
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            request.context = Some(context).into();
            let failure = match self.cluster.server(store_id) {
                Some(server) => {
                    let response = server.raw_put(&request);
                    if response.region_error.is_none() && response.error.is_empty() {
                        return Ok(());
                    }
                    format!("{} {}", response.error, response.region_error.message)
                }
                None => format!("store {store_id} is not running"),
            };
            if Instant::now() >= deadline {
                return Err(failure);
            }
            self.refresh_leader(range);
        }
    }
}
