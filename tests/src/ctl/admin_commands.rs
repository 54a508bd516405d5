//! The admin commands of `tinykv ctl`: `transfer-leader`, `add-peer`,
//! `remove-peer`, `split`, `compact`, and `digest`.
//!
//! Membership and leadership go through the **scheduler** as operators
//! (`AddOperator`), the way PD's `operator add` does, rather than as admin
//! commands sent to the leader: the scheduler then knows the change is in
//! flight (its replica checker and balancers leave the region alone, one
//! operator per region), the step is re-sent with every heartbeat until
//! the region shows it (a lost message or a leader crash cannot lose it),
//! and the new peer's id comes from the scheduler's allocator. The command
//! returns once the scheduler accepted the operator; `regions` shows the
//! result after the leader's next heartbeats.
//!
//! Splits, compaction and digests go to the **stores'** `Debug` service:
//! a split needs the leader to propose a Split admin command (with ids the
//! store asks the scheduler for, as its split checker does), compaction a
//! CompactLog entry, and a digest is each replica's own.

use std::time::{Duration, Instant};

use proto::schedulerpb::OperatorType;
use serde_json::{json, Value};

use super::cluster_commands::{region_json, region_line};
use super::ctl_client::{CtlClient, Outcome, Output};
use super::ctl_error::CtlError;

/// How long `compact` waits for the leader to apply its compaction.
const COMPACT_APPLY_WAIT: Duration = Duration::from_secs(10);

/// One replica's digest, as `digest` and the end-to-end test read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaDigest {
    /// The store holding the replica.
    pub store_id: u64,
    /// Its applied index.
    pub applied_index: u64,
    /// Its log's truncated index.
    pub truncated_index: u64,
    /// The hash of its data in every column family.
    pub digest: u64,
    /// How many pairs the hash covers.
    pub key_count: u64,
}

impl CtlClient {
    /// `transfer-leader REGION STORE`: an operator moving leadership to
    /// the region's peer on `store_id`.
    pub fn transfer_leader(&self, region_id: u64, store_id: u64) -> Result<Output, CtlError> {
        self.operator(
            region_id,
            OperatorType::TRANSFER_LEADER,
            store_id,
            "transfer-leader",
        )
    }

    /// `add-peer REGION STORE`: an operator adding a peer on `store_id`.
    pub fn add_peer(&self, region_id: u64, store_id: u64) -> Result<Output, CtlError> {
        self.operator(region_id, OperatorType::ADD_PEER, store_id, "add-peer")
    }

    /// `remove-peer REGION STORE`: an operator removing the peer on
    /// `store_id`.
    pub fn remove_peer(&self, region_id: u64, store_id: u64) -> Result<Output, CtlError> {
        self.operator(
            region_id,
            OperatorType::REMOVE_PEER,
            store_id,
            "remove-peer",
        )
    }

    fn operator(
        &self,
        region_id: u64,
        operator_type: OperatorType,
        store_id: u64,
        name: &str,
    ) -> Result<Output, CtlError> {
        self.scheduler()
            .add_operator(region_id, operator_type, store_id)?;
        Ok(Output {
            json: json!({
                "region_id": region_id,
                "operator": name,
                "store_id": store_id,
                "accepted": true,
            }),
            human: format!(
                "{name} of region {region_id} to store {store_id}: accepted by the scheduler; \
                 the leader carries it out with its next heartbeats (see `regions`)"
            ),
        })
    }

    /// `split REGION KEY`: the region's leader splits it so that a region
    /// starts at `split_key`.
    pub fn split(&self, region_id: u64, split_key: &[u8]) -> Result<Output, CtlError> {
        let (left, right) = self.retry_routed(
            "split",
            |attempt| self.router().route_region(region_id, attempt),
            |route| {
                let halves = self.block_on(route.store.debug.split_region(region_id, split_key))?;
                Ok(Outcome::Done(halves))
            },
        )?;
        Ok(Output {
            json: json!({ "left": region_json(&left, None), "right": region_json(&right, None) }),
            human: format!(
                "{}\n{}",
                region_line(&left, None),
                region_line(&right, None)
            ),
        })
    }

    /// `compact REGION`: the leader compacts the region's raft log up to
    /// its applied index; waits until the leader's truncated index moved.
    pub fn compact(&self, region_id: u64) -> Result<Output, CtlError> {
        let (store_id, before, message) = self.retry_routed(
            "compact",
            |attempt| self.router().route_region(region_id, attempt),
            |route| {
                let digest = self.block_on(route.store.debug.region_digest(region_id))?;
                let message = self.block_on(route.store.debug.compact_log(region_id))?;
                Ok(Outcome::Done((
                    route.store.store_id,
                    digest.truncated_index,
                    message,
                )))
            },
        )?;
        let store = self.router().store(store_id)?;
        let mut after = before;
        // The leader's message says when there was nothing to compact;
        // otherwise the entry is proposed and applies within moments.
        let proposed = !message.contains("nothing to compact");
        let deadline = Instant::now() + COMPACT_APPLY_WAIT;
        while proposed && after == before && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            if let Ok(digest) = self.block_on(store.debug.region_digest(region_id)) {
                after = digest.truncated_index;
            }
        }
        Ok(Output {
            json: json!({
                "region_id": region_id,
                "store_id": store_id,
                "message": message,
                "truncated_index_before": before,
                "truncated_index_after": after,
            }),
            human: format!("{message}; store {store_id}'s log truncated index {before} -> {after}"),
        })
    }

    /// Every replica's digest of `region_id` (the stores the scheduler
    /// lists as its peers). A replica that cannot answer is left out.
    pub fn region_digests(&self, region_id: u64) -> Result<Vec<ReplicaDigest>, CtlError> {
        let (region, _leader) = self
            .scheduler()
            .get_region_by_id(region_id)?
            .ok_or(CtlError::RegionNotFound(region_id))?;
        let mut digests = Vec::new();
        for peer in &region.peers {
            let Ok(store) = self.router().store(peer.store_id) else {
                continue;
            };
            if let Ok(digest) = self.block_on(store.debug.region_digest(region_id)) {
                digests.push(ReplicaDigest {
                    store_id: peer.store_id,
                    applied_index: digest.applied_index,
                    truncated_index: digest.truncated_index,
                    digest: digest.digest,
                    key_count: digest.key_count,
                });
            }
        }
        Ok(digests)
    }

    /// `digest REGION`: every replica's applied index and data digest.
    pub fn digest(&self, region_id: u64) -> Result<Output, CtlError> {
        let digests = self.region_digests(region_id)?;
        let replicas: Vec<Value> = digests
            .iter()
            .map(|replica| {
                json!({
                    "store_id": replica.store_id,
                    "applied_index": replica.applied_index,
                    "truncated_index": replica.truncated_index,
                    "digest": format!("{:016x}", replica.digest),
                    "key_count": replica.key_count,
                })
            })
            .collect();
        let human = digests
            .iter()
            .map(|replica| {
                format!(
                    "store {}: applied {} truncated {} digest {:016x} ({} keys)",
                    replica.store_id,
                    replica.applied_index,
                    replica.truncated_index,
                    replica.digest,
                    replica.key_count
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        Ok(Output {
            json: json!({ "region_id": region_id, "replicas": replicas }),
            human,
        })
    }
}
