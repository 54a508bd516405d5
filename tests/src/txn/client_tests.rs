//! The client's lock resolution against a scripted store: what it does
//! with each answer of `KvCheckTxnStatus`, without a cluster.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use proto::kvrpcpb::{
    KvBatchRollbackRequest, KvBatchRollbackResponse, KvCheckTxnStatusRequest,
    KvCheckTxnStatusResponse, KvCommitRequest, KvCommitResponse, KvGetRequest, KvGetResponse,
    KvPrewriteRequest, KvPrewriteResponse, KvResolveLockRequest, KvResolveLockResponse, LockInfo,
};
use proto::metapb::{Peer, Region};

use super::client::{TxnClient, TxnError};
use super::timestamp_oracle::LocalOracle;
use super::txn_stores::{TxnCommands, TxnStores};

/// Start timestamp of the transaction whose lock the reader meets.
const LOCK_TS: u64 = 10;
/// Commit timestamp of that transaction (its primary is committed).
const COMMIT_TS: u64 = 20;

/// One store holding one region with every key. A read first meets a lock
/// of the transaction at `LOCK_TS` (its primary committed), then, once
/// that lock is resolved, sees the value. `KvCheckTxnStatus` answers come
/// from a script; every `KvResolveLock` is recorded.
#[derive(Default)]
struct ScriptedStore {
    status_answers: Mutex<VecDeque<KvCheckTxnStatusResponse>>,
    resolved_with: Mutex<Vec<u64>>,
}

impl ScriptedStore {
    fn resolved(&self) -> Vec<u64> {
        locked(&self.resolved_with).clone()
    }
}

impl TxnCommands for ScriptedStore {
    fn kv_get(&self, request: &KvGetRequest) -> Result<KvGetResponse, String> {
        let mut response = KvGetResponse::new();
        if self.resolved().is_empty() {
            let mut lock = LockInfo::new();
            lock.primary_lock = b"a".to_vec();
            lock.lock_version = LOCK_TS;
            lock.key = request.key.clone();
            lock.lock_ttl = 1;
            response.mut_error().locked = Some(lock).into();
        } else {
            response.value = b"value".to_vec();
        }
        Ok(response)
    }

    fn kv_prewrite(&self, _: &KvPrewriteRequest) -> Result<KvPrewriteResponse, String> {
        Err("not scripted".to_string())
    }

    fn kv_commit(&self, _: &KvCommitRequest) -> Result<KvCommitResponse, String> {
        Err("not scripted".to_string())
    }

    fn kv_check_txn_status(
        &self,
        _: &KvCheckTxnStatusRequest,
    ) -> Result<KvCheckTxnStatusResponse, String> {
        locked(&self.status_answers)
            .pop_front()
            .ok_or_else(|| "no scripted answer left".to_string())
    }

    fn kv_resolve_lock(
        &self,
        request: &KvResolveLockRequest,
    ) -> Result<KvResolveLockResponse, String> {
        locked(&self.resolved_with).push(request.commit_version);
        Ok(KvResolveLockResponse::new())
    }

    fn kv_batch_rollback(
        &self,
        _: &KvBatchRollbackRequest,
    ) -> Result<KvBatchRollbackResponse, String> {
        Err("not scripted".to_string())
    }
}

/// Routes every key to the one scripted store.
struct OneStore(Arc<ScriptedStore>);

impl TxnStores for OneStore {
    fn locate(
        &self,
        _: &[u8],
        _: usize,
    ) -> Result<(Region, Peer, Arc<dyn TxnCommands + '_>), String> {
        let mut peer = Peer::new();
        peer.id = 1;
        peer.store_id = 1;
        let mut region = Region::new();
        region.id = 1;
        region.peers.push(peer.clone());
        Ok((region, peer, Arc::clone(&self.0) as Arc<dyn TxnCommands>))
    }
}

/// The mutex's value, also after a panic on another thread held it.
fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn retryable_status() -> KvCheckTxnStatusResponse {
    let mut response = KvCheckTxnStatusResponse::new();
    response.mut_error().retryable = "the store is restarting".to_string();
    response
}

fn committed_status() -> KvCheckTxnStatusResponse {
    let mut response = KvCheckTxnStatusResponse::new();
    response.commit_version = COMMIT_TS;
    response
}

/// A failed status check (a `retryable` key error, all fields zero) is not "rolled back": the reader asks again and commits the lock of the committed transaction.
#[test]
fn a_failed_status_check_is_not_a_rollback() {
    let store = Arc::new(ScriptedStore::default());
    locked(&store.status_answers).extend([
        retryable_status(),
        retryable_status(),
        committed_status(),
    ]);
    let stores = OneStore(Arc::clone(&store));
    let oracle = LocalOracle::default();
    let client = TxnClient::new(&stores, &oracle).with_timeout(Duration::from_secs(10));
    let reader = client.begin().expect("a start timestamp");
    assert_eq!(
        reader.get(b"b").expect("the read resolves the lock"),
        Some(b"value".to_vec())
    );
    assert_eq!(
        store.resolved(),
        vec![COMMIT_TS],
        "the lock is committed at the primary's commit timestamp, never rolled back"
    );
}

/// A status check refused for good (an `abort` key error) fails the read and resolves nothing.
#[test]
fn an_aborted_status_check_resolves_nothing() {
    let store = Arc::new(ScriptedStore::default());
    let mut refused = KvCheckTxnStatusResponse::new();
    refused.mut_error().abort = "a malformed lock record".to_string();
    locked(&store.status_answers).push_back(refused);
    let stores = OneStore(Arc::clone(&store));
    let oracle = LocalOracle::default();
    let client = TxnClient::new(&stores, &oracle).with_timeout(Duration::from_secs(10));
    let reader = client.begin().expect("a start timestamp");
    let result = reader.get(b"b");
    assert!(matches!(result, Err(TxnError::Timeout(_))), "{result:?}");
    assert!(store.resolved().is_empty(), "nothing was resolved");
}
