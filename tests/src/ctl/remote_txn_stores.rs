//! [`RemoteTxnStores`]: the transactional client's stores over gRPC — the
//! same [`TxnClient`](crate::txn::TxnClient) the lab 4 tests run
//! in-process, routed by the [`RegionRouter`] and calling the stores'
//! `Kv*` methods. Also the scheduler's TSO as the client's
//! [`TimestampOracle`].
//!
//! Runs on the ctl's thread; each call blocks on the ctl's runtime. A call
//! that fails on the wire forgets the store's clients and hints and comes
//! back as `Err`, which the transactional client retries like a region
//! error.

use std::sync::Arc;

use network::RemoteScheduler;
use proto::errorpb;
use proto::kvrpcpb::{
    KvBatchRollbackRequest, KvBatchRollbackResponse, KvCheckTxnStatusRequest,
    KvCheckTxnStatusResponse, KvCommitRequest, KvCommitResponse, KvGetRequest, KvGetResponse,
    KvPrewriteRequest, KvPrewriteResponse, KvResolveLockRequest, KvResolveLockResponse,
};
use proto::metapb::{Peer, Region};

use super::region_router::{RegionRouter, StoreClients};
use crate::txn::{TimestampOracle, TxnCommands, TxnStores};

/// See the module docs.
pub struct RemoteTxnStores<'a> {
    router: &'a RegionRouter,
}

impl<'a> RemoteTxnStores<'a> {
    /// The stores `router` finds.
    pub fn new(router: &'a RegionRouter) -> RemoteTxnStores<'a> {
        RemoteTxnStores { router }
    }
}

impl TxnStores for RemoteTxnStores<'_> {
    fn locate(
        &self,
        key: &[u8],
        attempt: usize,
    ) -> Result<(Region, Peer, Arc<dyn TxnCommands + '_>), String> {
        let route = self
            .router
            .route_key(key, attempt)
            .map_err(|error| error.to_string())?;
        let commands = RemoteTxnCommands {
            router: self.router,
            store: route.store,
        };
        Ok((route.region, route.peer, Arc::new(commands)))
    }

    fn learn(&self, region: &Region, error: &errorpb::Error) {
        self.router.learn(region.id, error);
    }
}

/// One store's `Kv*` methods, blocking on the router's runtime.
struct RemoteTxnCommands<'a> {
    router: &'a RegionRouter,
    store: StoreClients,
}

impl RemoteTxnCommands<'_> {
    fn call<Req, Resp>(&self, path: &'static str, request: &Req) -> Result<Resp, String>
    where
        Req: protobuf::Message,
        Resp: protobuf::Message,
    {
        let outcome = self
            .router
            .runtime()
            .block_on(self.store.tinykv.call(path, request.clone()));
        outcome.map_err(|error| {
            self.router.store_failed(self.store.store_id);
            format!("store {}: {error}", self.store.store_id)
        })
    }
}

impl TxnCommands for RemoteTxnCommands<'_> {
    fn kv_get(&self, request: &KvGetRequest) -> Result<KvGetResponse, String> {
        self.call("/tinykvpb.TinyKv/KvGet", request)
    }

    fn kv_prewrite(&self, request: &KvPrewriteRequest) -> Result<KvPrewriteResponse, String> {
        self.call("/tinykvpb.TinyKv/KvPrewrite", request)
    }

    fn kv_commit(&self, request: &KvCommitRequest) -> Result<KvCommitResponse, String> {
        self.call("/tinykvpb.TinyKv/KvCommit", request)
    }

    fn kv_check_txn_status(
        &self,
        request: &KvCheckTxnStatusRequest,
    ) -> Result<KvCheckTxnStatusResponse, String> {
        self.call("/tinykvpb.TinyKv/KvCheckTxnStatus", request)
    }

    fn kv_resolve_lock(
        &self,
        request: &KvResolveLockRequest,
    ) -> Result<KvResolveLockResponse, String> {
        self.call("/tinykvpb.TinyKv/KvResolveLock", request)
    }

    fn kv_batch_rollback(
        &self,
        request: &KvBatchRollbackRequest,
    ) -> Result<KvBatchRollbackResponse, String> {
        self.call("/tinykvpb.TinyKv/KvBatchRollback", request)
    }
}

impl TimestampOracle for RemoteScheduler {
    fn timestamp(&self) -> Result<u64, String> {
        self.tso().map_err(|error| format!("tso: {error}"))
    }
}
