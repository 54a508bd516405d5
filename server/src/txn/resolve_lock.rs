//! KvResolveLock (lab 4C): finish the transaction `start_version` in the
//! request's region, once its fate is known (from KvCheckTxnStatus on its
//! primary): commit all its locks at `commit_version`, or roll them all
//! back when `commit_version` is 0.
//!
//! ```text
//! client ──KvResolveLockRequest{start_version, commit_version}──▶ Server::kv_resolve_lock
//!   commit_version != 0 and <= start_version ─▶ KeyError.abort
//!   scan the region's lock CF (one reader) ─▶ keys locked by start_version
//!   latches of those keys; a new reader; per key still locked by start_version:
//!     commit_version > 0 ─▶ write record {lock.kind, start_version} at commit_version, delete lock
//!     commit_version = 0 ─▶ delete lock and value, Rollback record
//!   one Storage::write
//! ```
//!
//! The keys are not known before the scan, so the latches are taken after
//! it, and every lock is read again under them: another command may have
//! committed or rolled it back between the scan and the latches, and then
//! there is nothing left to do for it. Locks of other transactions are
//! never touched. The scan sees one region because the reader is the
//! region's (on a standalone store: everything). Caller's thread.

use proto::kvrpcpb::{KvResolveLockRequest, KvResolveLockResponse};
use storage::mvcc::{decode_user_key_without_ts, Lock, MvccTxn, Write};
use storage::{StorageReader, CF_LOCK};

use super::batch_rollback::rollback_key;
use super::{abort, write_staged, CommandResult};
use crate::server::Server;

impl Server {
    /// KvResolveLock: commits (`commit_version` > 0) or rolls back
    /// (`commit_version` 0) every lock of the transaction `start_version`
    /// in the request's region.
    pub fn kv_resolve_lock(&self, request: &KvResolveLockRequest) -> KvResolveLockResponse {
        let mut response = KvResolveLockResponse::new();
        if let Err(error) = resolve_lock(self, request) {
            (response.region_error, response.error) = error.into_fields();
        }
        response
    }
}

/// The user keys of every lock of the transaction `start_ts` the reader
/// sees, in key order.
fn keys_locked_by(reader: &dyn StorageReader, start_ts: u64) -> CommandResult<Vec<Vec<u8>>> {
    let mut keys = Vec::new();
    let mut cursor = reader.iter_cf(CF_LOCK)?;
    cursor.seek(&[]);
    while cursor.valid()? {
        if Lock::parse(cursor.value())?.start_ts == start_ts {
            keys.push(decode_user_key_without_ts(cursor.key())?);
        }
        cursor.next();
    }
    Ok(keys)
}

// lab 4C: begin — find the txn's locks in the region's lock CF, then commit or roll back each (docs/labs/lab4c.md#resolve-lock)
/// Resolves the transaction's locks in the region, all of them or none.
fn resolve_lock(server: &Server, request: &KvResolveLockRequest) -> CommandResult<()> {
    let start_ts = request.start_version;
    let commit_ts = request.commit_version;
    if commit_ts != 0 && commit_ts <= start_ts {
        return Err(abort(format!(
            "commit_version {commit_ts} is not after start_version {start_ts}"
        ))
        .into());
    }
    let context = request.context.get_or_default();
    let keys = keys_locked_by(&*server.storage().reader(context)?, start_ts)?;
    if keys.is_empty() {
        return Ok(());
    }
    let _latches = server.latches().acquire(keys.iter().map(Vec::as_slice));
    let reader = server.storage().reader(context)?;
    let mut txn = MvccTxn::new(&*reader, start_ts);
    for key in &keys {
        let Some(lock) = txn.get_lock(key)?.filter(|lock| lock.start_ts == start_ts) else {
            continue;
        };
        if commit_ts == 0 {
            rollback_key(&*reader, &mut txn, key, Some(&lock))?;
        } else {
            txn.put_write(key, commit_ts, &Write::new(lock.kind, start_ts));
            txn.delete_lock(key);
        }
    }
    write_staged(server, context, txn)
}
// lab 4C: end
