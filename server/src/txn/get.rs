//! KvGet (lab 4B): the value of one key as of a timestamp.
//!
//! ```text
//! client ──KvGetRequest{key, version}──▶ Server::kv_get ──reader──▶ lock of key?
//!        lock.start_ts <= version ─▶ KeyError.locked (the client resolves it, then retries)
//!        otherwise ─▶ MvccTxn::get_value at version ─▶ value / not_found
//! ```
//!
//! A lock that started at or before `version` belongs to a transaction
//! that may commit before `version` (its commit_ts is not known yet), so
//! the value the reader should see is unknown: it must not guess. A lock
//! that started after `version` commits after it too, and cannot change
//! what the reader sees. No latches: one snapshot, no writes. Caller's
//! thread.

use proto::kvrpcpb::{KvGetRequest, KvGetResponse};
use storage::mvcc::MvccTxn;

use super::{locked, CommandResult};
use crate::server::Server;

impl Server {
    /// KvGet: the value of `key` visible at `version`, `not_found`, or a
    /// `KeyError.locked` when an unfinished transaction may still change it.
    pub fn kv_get(&self, request: &KvGetRequest) -> KvGetResponse {
        let mut response = KvGetResponse::new();
        match get(self, request) {
            Ok(Some(value)) => response.value = value,
            Ok(None) => response.not_found = true,
            Err(error) => (response.region_error, response.error) = error.into_fields(),
        }
        response
    }
}

// lab 4B: begin — a lock that started at or before the read's version blocks it (docs/labs/lab4b.md#get)
/// The value of the request's key at its version, or `None`.
fn get(server: &Server, request: &KvGetRequest) -> CommandResult<Option<Vec<u8>>> {
    let reader = server.storage().reader(request.context.get_or_default())?;
    let txn = MvccTxn::new(&*reader, request.version);
    if let Some(lock) = txn.get_lock(&request.key)? {
        if lock.start_ts <= request.version {
            return Err(locked(&lock, &request.key).into());
        }
    }
    Ok(txn.get_value(&request.key)?)
}
// lab 4B: end
