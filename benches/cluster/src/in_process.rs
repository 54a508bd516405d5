//! [`InProcessTarget`]: the same raw puts against the tests crate's
//! in-process `Cluster` (3 stores in this process, the simulated network,
//! no gRPC), through the stores' own request handlers (`Server::raw_put`,
//! what the gRPC service calls). Its figure next to the multi-process one
//! is the cost of the network layer.
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

/// Puts through the leader's handlers (see the module docs).
#[derive(Clone)]
pub struct InProcessTarget {
    cluster: Arc<Cluster>,
    /// The leader's store and the context that names its peer and the
    /// region's epoch; refreshed after a region error.
    leader: Arc<RwLock<(u64, Context)>>,
}

impl InProcessTarget {
    /// Starts a 3-store cluster with the same raft timers as the cluster
    /// of processes (`--test-timers`) and waits for its leader.
    pub fn start() -> InProcessTarget {
        let cluster = Arc::new(Cluster::new("cluster-bench", 3, Config::for_tests()));
        let target = InProcessTarget {
            cluster,
            leader: Arc::new(RwLock::new((0, Context::new()))),
        };
        target.refresh_leader();
        target
    }

    /// Looks up the first region's leader and epoch again.
    fn refresh_leader(&self) {
        let leader = self
            .cluster
            .wait_leader(FIRST_REGION_ID, Duration::from_secs(10));
        let mut context = Context::new();
        context.region_id = FIRST_REGION_ID;
        if let Some(region) = self.cluster.region(FIRST_REGION_ID) {
            context.region_epoch = Some(region.region_epoch().clone()).into();
        }
        context.peer = Some(leader.clone()).into();
        *self.leader.write().unwrap_or_else(|e| e.into_inner()) = (leader.store_id, context);
    }

    /// Synced raft-engine writes so far, per store: the leader's store
    /// first, then the others by store id. Each is one wait for the disk;
    /// the raft worker is meant to cover a whole batch of client writes
    /// with one (`Peer::handle_raft_ready`), which these counts check.
    pub fn raft_log_syncs(&self) -> Vec<u64> {
        let leader = self.leader.read().unwrap_or_else(|e| e.into_inner()).0;
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
        loop {
            let (store_id, context) = self
                .leader
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
            self.refresh_leader();
        }
    }
}
