//! KvCheckTxnStatus (lab 4C): what became of the transaction `lock_ts`,
//! asked at its primary key by someone its locks block; rolls it back when
//! its lock outlived its time to live, or when it left no trace at all.
//!
//! ```text
//! client ──KvCheckTxnStatusRequest{primary_key, lock_ts, current_ts}──▶ Server::kv_check_txn_status
//!   latch of the primary; its lock:
//!     lock of lock_ts, TTL not expired ─▶ lock_ttl = lock.ttl, NoAction (still running: wait)
//!     lock of lock_ts, TTL expired     ─▶ roll back the primary, TTLExpireRollback
//!     no lock of lock_ts               ─▶ the primary's write record of lock_ts:
//!         committed at commit_ts       ─▶ commit_version = commit_ts, NoAction
//!         rolled back                  ─▶ NoAction
//!         none                         ─▶ write a Rollback record, LockNotExistRollback
//! ```
//!
//! Expired means `physical_time(current_ts) >= physical_time(lock_ts) +
//! ttl`: the TTL counts milliseconds of wall-clock time, which is the
//! physical part of a timestamp (`storage::mvcc::physical_time`), not the
//! raw number. The primary decides for the whole transaction: once it is
//! rolled back (or committed), the caller resolves the other locks with
//! KvResolveLock. A primary without lock or record was never prewritten
//! (or its prewrite is still on the way): the Rollback record makes that
//! late prewrite fail. Caller's thread.

use proto::kvrpcpb::{Action, KvCheckTxnStatusRequest, KvCheckTxnStatusResponse};
use storage::mvcc::{physical_time, MvccTxn, WriteKind};

use super::batch_rollback::rollback_key;
use super::{write_staged, CommandResult};
use crate::server::Server;

/// What KvCheckTxnStatus found, and did.
#[derive(Debug, Default, PartialEq, Eq)]
struct TxnStatus {
    /// The lock's TTL when the transaction is still running; else 0.
    lock_ttl: u64,
    /// The commit timestamp when the transaction committed; else 0.
    commit_version: u64,
    /// Whether this call rolled the transaction back, and why.
    action: Action,
}

impl Server {
    /// KvCheckTxnStatus: the status of the transaction `lock_ts` at its
    /// primary key, rolling it back if its lock expired by `current_ts` or
    /// it left no lock and no write record.
    pub fn kv_check_txn_status(
        &self,
        request: &KvCheckTxnStatusRequest,
    ) -> KvCheckTxnStatusResponse {
        let mut response = KvCheckTxnStatusResponse::new();
        match check_txn_status(self, request) {
            Ok(status) => {
                response.lock_ttl = status.lock_ttl;
                response.commit_version = status.commit_version;
                response.set_action(status.action);
            }
            Err(error) => (response.region_error, response.error) = error.into_fields(),
        }
        response
    }
}

// lab 4C: begin — the primary's lock, TTL by physical_time(), else its write record decides (docs/labs/lab4c.md#check-txn-status)
/// Checks (and perhaps rolls back) the transaction at its primary key.
fn check_txn_status(
    server: &Server,
    request: &KvCheckTxnStatusRequest,
) -> CommandResult<TxnStatus> {
    let key = &request.primary_key;
    let lock_ts = request.lock_ts;
    let _latches = server.latches().acquire([key.as_slice()]);
    let context = request.context.get_or_default();
    let reader = server.storage().reader(context)?;
    let mut txn = MvccTxn::new(&*reader, lock_ts);
    let mut status = TxnStatus::default();
    let lock = txn.get_lock(key)?;
    if let Some(lock) = lock.as_ref().filter(|lock| lock.start_ts == lock_ts) {
        let expires_at = physical_time(lock.start_ts).saturating_add(lock.ttl);
        if physical_time(request.current_ts) < expires_at {
            status.lock_ttl = lock.ttl;
            return Ok(status);
        }
        rollback_key(&*reader, &mut txn, key, Some(lock))?;
        status.action = Action::TTLExpireRollback;
    } else {
        match txn.current_write(key)? {
            Some((write, commit_ts)) if write.kind != WriteKind::Rollback => {
                status.commit_version = commit_ts;
            }
            Some(_) => {}
            None => {
                rollback_key(&*reader, &mut txn, key, lock.as_ref())?;
                status.action = Action::LockNotExistRollback;
            }
        }
    }
    write_staged(server, context, txn)?;
    Ok(status)
}
// lab 4C: end
