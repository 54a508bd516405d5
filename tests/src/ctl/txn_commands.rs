//! The transactional commands of `tinykv ctl`: `txn get` and `txn put`,
//! through the same [`TxnClient`] the lab 4 tests use, over gRPC.
//!
//! Hops: a start timestamp from the scheduler's `Tso` → (get) `KvGet` at
//! the leader of the key's region (encoded key, see `storage::mvcc`),
//! resolving a lock it meets; (put) `KvPrewrite`, a commit timestamp from
//! `Tso`, `KvCommit` of the primary. Routing and retries: the
//! [`RegionRouter`](super::RegionRouter) through [`RemoteTxnStores`].

use serde_json::json;

use super::ctl_client::{text, CtlClient, Output};
use super::ctl_error::CtlError;
use super::remote_txn_stores::RemoteTxnStores;
use crate::txn::TxnClient;

impl CtlClient {
    /// `txn get KEY`: the value of a transactional key at a fresh timestamp.
    pub fn txn_get(&self, key: &[u8]) -> Result<Output, CtlError> {
        let stores = RemoteTxnStores::new(self.router());
        let client = TxnClient::new(&stores, self.scheduler());
        let transaction = client.begin()?;
        let start_ts = transaction.start_ts();
        let value = transaction.get(key)?;
        transaction.rollback();
        Ok(Output {
            json: json!({
                "key": text(key),
                "found": value.is_some(),
                "value": value.as_deref().map(text),
                "start_ts": start_ts,
            }),
            human: match &value {
                Some(value) => text(value),
                None => format!("{}: not found (at ts {start_ts})", text(key)),
            },
        })
    }

    /// `txn put KEY VALUE`: a transaction writing one key, committed.
    pub fn txn_put(&self, key: &[u8], value: &[u8]) -> Result<Output, CtlError> {
        let stores = RemoteTxnStores::new(self.router());
        let client = TxnClient::new(&stores, self.scheduler());
        let mut transaction = client.begin()?;
        let start_ts = transaction.start_ts();
        transaction.put(key, value);
        let commit_ts = transaction.commit()?;
        Ok(Output {
            json: json!({
                "key": text(key),
                "value": text(value),
                "start_ts": start_ts,
                "commit_ts": commit_ts,
            }),
            human: format!("committed at ts {commit_ts} (started at {start_ts})"),
        })
    }
}
