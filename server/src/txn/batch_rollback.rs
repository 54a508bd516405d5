//! KvBatchRollback (lab 4C): abort a transaction on some keys, and
//! [`rollback_key`], the rollback of one key that KvCheckTxnStatus and
//! KvResolveLock share.
//!
//! ```text
//! client ──KvBatchRollbackRequest{keys, start_version}──▶ Server::kv_batch_rollback
//!   latches of the keys; per key, our write record (MvccTxn::current_write):
//!     committed   ─▶ KeyError.abort, nothing written (too late to roll back)
//!     rolled back ─▶ nothing to do (a retried rollback)
//!     none        ─▶ our lock? delete it and its value; then a Rollback record at start_version
//!   one Storage::write
//! ```
//!
//! The rollback record is written even without a lock, and even when
//! another transaction's lock sits on the key (that lock is left alone):
//! it is what stops our own prewrite if it arrives late (the prewrite sees
//! a write at `start_ts`, a conflict) and our commit if it arrives late
//! (it finds a rollback). Caller's thread.

use proto::kvrpcpb::{KvBatchRollbackRequest, KvBatchRollbackResponse};
use storage::mvcc::{encode_key, Lock, MvccTxn, Write, WriteKind};
use storage::{StorageReader, CF_WRITE};

use super::{abort, distinct_keys, show_key, write_staged, CommandResult};
use crate::server::Server;

impl Server {
    /// KvBatchRollback: rolls the transaction `start_version` back on the
    /// request's keys, or changes nothing when one of them is committed.
    pub fn kv_batch_rollback(&self, request: &KvBatchRollbackRequest) -> KvBatchRollbackResponse {
        let mut response = KvBatchRollbackResponse::new();
        if let Err(error) = batch_rollback(self, request) {
            (response.region_error, response.error) = error.into_fields();
        }
        response
    }
}

// lab 4C: begin — committed → abort; rolled back → skip; else drop our lock and value, write Rollback (docs/labs/lab4c.md#rollback)
/// Rolls back the request's keys, all of them or none.
fn batch_rollback(server: &Server, request: &KvBatchRollbackRequest) -> CommandResult<()> {
    let start_ts = request.start_version;
    let keys = distinct_keys(&request.keys);
    if keys.is_empty() {
        return Ok(());
    }
    let _latches = server.latches().acquire(keys.iter().map(Vec::as_slice));
    let context = request.context.get_or_default();
    let reader = server.storage().reader(context)?;
    let mut txn = MvccTxn::new(&*reader, start_ts);
    for key in &keys {
        match txn.current_write(key)? {
            Some((write, commit_ts)) if write.kind != WriteKind::Rollback => {
                return Err(abort(format!(
                    "transaction {start_ts} is already committed at {commit_ts} on key {}",
                    show_key(key)
                ))
                .into())
            }
            Some(_) => continue,
            None => {}
        }
        let lock = txn.get_lock(key)?;
        rollback_key(&*reader, &mut txn, key, lock.as_ref())?;
    }
    write_staged(server, context, txn)
}

/// Stages the rollback of `txn` on `key`, which has no write record of
/// `txn` yet: removes `lock` and its value if the lock is `txn`'s, and
/// puts a Rollback record at commit_ts = start_ts.
///
/// A write record of another transaction already at that timestamp (its
/// commit_ts happens to equal our start_ts; an oracle never hands out one
/// timestamp twice, but hand-made timestamps may) is left in place: it
/// stops our late prewrite just as well, and overwriting it would erase a
/// commit.
pub(super) fn rollback_key(
    reader: &dyn StorageReader,
    txn: &mut MvccTxn<'_>,
    key: &[u8],
    lock: Option<&Lock>,
) -> CommandResult<()> {
    let start_ts = txn.start_ts();
    if let Some(lock) = lock.filter(|lock| lock.start_ts == start_ts) {
        txn.delete_lock(key);
        if lock.kind == WriteKind::Put {
            txn.delete_value(key);
        }
    }
    if reader
        .get_cf(CF_WRITE, &encode_key(key, start_ts))?
        .is_none()
    {
        txn.put_write(key, start_ts, &Write::new(WriteKind::Rollback, start_ts));
    }
    Ok(())
}
// lab 4C: end
