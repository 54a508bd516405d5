//! [`TxnStores`] and [`TxnCommands`]: what the transactional client needs
//! of a cluster — where a key's region is and who leads it, and the
//! transactional commands of one store — so that one client serves both
//! the in-process test cluster and a cluster of processes over gRPC.
//!
//! | implementation | routing | commands |
//! |---|---|---|
//! | `Cluster` (here) | the stores' own region status (`Cluster::region_for_key`, `leader_of`) | `Server`'s handlers, called in-process |
//! | `tinykv ctl` (`ctl/remote_txn_stores.rs`) | the scheduler's regions and leaders, corrected by the stores' region errors | `TinyKv` gRPC calls |
//!
//! Called on the client's threads. A command's `Err` means "no answer from
//! that store" (down, unreachable, timed out): the client routes again, as
//! it does for a region error.

use std::sync::Arc;

use proto::errorpb;
use proto::kvrpcpb::{
    KvBatchRollbackRequest, KvBatchRollbackResponse, KvCheckTxnStatusRequest,
    KvCheckTxnStatusResponse, KvCommitRequest, KvCommitResponse, KvGetRequest, KvGetResponse,
    KvPrewriteRequest, KvPrewriteResponse, KvResolveLockRequest, KvResolveLockResponse,
};
use proto::metapb::{Peer, Region};
use server::Server;

use crate::cluster::Cluster;

/// The transactional commands of one store.
pub trait TxnCommands {
    /// `KvGet`.
    fn kv_get(&self, request: &KvGetRequest) -> Result<KvGetResponse, String>;
    /// `KvPrewrite`.
    fn kv_prewrite(&self, request: &KvPrewriteRequest) -> Result<KvPrewriteResponse, String>;
    /// `KvCommit`.
    fn kv_commit(&self, request: &KvCommitRequest) -> Result<KvCommitResponse, String>;
    /// `KvCheckTxnStatus`.
    fn kv_check_txn_status(
        &self,
        request: &KvCheckTxnStatusRequest,
    ) -> Result<KvCheckTxnStatusResponse, String>;
    /// `KvResolveLock`.
    fn kv_resolve_lock(
        &self,
        request: &KvResolveLockRequest,
    ) -> Result<KvResolveLockResponse, String>;
    /// `KvBatchRollback`.
    fn kv_batch_rollback(
        &self,
        request: &KvBatchRollbackRequest,
    ) -> Result<KvBatchRollbackResponse, String>;
}

/// Where the transactional client sends a key's commands.
pub trait TxnStores: Sync {
    /// The region holding the (encoded) `key`, the peer to ask (its leader
    /// if known, otherwise a guess that changes with `attempt`), and that
    /// peer's store; `Err` when no region or store can be found now.
    fn locate(
        &self,
        key: &[u8],
        attempt: usize,
    ) -> Result<(Region, Peer, Arc<dyn TxnCommands + '_>), String>;

    /// A store answered a command for `region` with a region error: a
    /// router with a cache learns from it (the new leader, the new
    /// regions). The in-process cluster reads the truth from the stores
    /// and ignores it.
    fn learn(&self, _region: &Region, _error: &errorpb::Error) {}
}

impl TxnCommands for Server {
    fn kv_get(&self, request: &KvGetRequest) -> Result<KvGetResponse, String> {
        Ok(Server::kv_get(self, request))
    }

    fn kv_prewrite(&self, request: &KvPrewriteRequest) -> Result<KvPrewriteResponse, String> {
        Ok(Server::kv_prewrite(self, request))
    }

    fn kv_commit(&self, request: &KvCommitRequest) -> Result<KvCommitResponse, String> {
        Ok(Server::kv_commit(self, request))
    }

    fn kv_check_txn_status(
        &self,
        request: &KvCheckTxnStatusRequest,
    ) -> Result<KvCheckTxnStatusResponse, String> {
        Ok(Server::kv_check_txn_status(self, request))
    }

    fn kv_resolve_lock(
        &self,
        request: &KvResolveLockRequest,
    ) -> Result<KvResolveLockResponse, String> {
        Ok(Server::kv_resolve_lock(self, request))
    }

    fn kv_batch_rollback(
        &self,
        request: &KvBatchRollbackRequest,
    ) -> Result<KvBatchRollbackResponse, String> {
        Ok(Server::kv_batch_rollback(self, request))
    }
}

impl TxnStores for Cluster {
    fn locate(
        &self,
        key: &[u8],
        attempt: usize,
    ) -> Result<(Region, Peer, Arc<dyn TxnCommands + '_>), String> {
        let region = self
            .region_for_key(key)
            .ok_or("no running store knows the key's region")?;
        let store_id = match self.leader_of(region.id) {
            Some(leader) => leader.store_id,
            None => region.peers[attempt % region.peers.len().max(1)].store_id,
        };
        let peer = region
            .peers
            .iter()
            .find(|peer| peer.store_id == store_id)
            .cloned()
            .ok_or("the leader's store has no peer of the region")?;
        let server = self
            .server(store_id)
            .ok_or_else(|| format!("store {store_id} is not running"))?;
        Ok((region, peer, server))
    }
}
