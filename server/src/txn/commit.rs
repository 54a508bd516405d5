//! KvCommit (lab 4B): the second phase. Each key's lock of the transaction
//! becomes a write record at `commit_version` that points back at the
//! value (`Write { kind, start_ts }`), and the lock goes.
//!
//! ```text
//! client ──KvCommitRequest{keys, start_version, commit_version}──▶ Server::kv_commit
//!   commit_version <= start_version ─▶ KeyError.abort, nothing changed
//!   latches of the keys; per key:
//!     our lock                       ─▶ stage write record at commit_version, delete lock
//!     no lock / another txn's lock   ─▶ look for our write record (MvccTxn::current_write):
//!         committed                  ─▶ nothing to do (a retried commit)
//!         rolled back                ─▶ KeyError.abort: the transaction is dead
//!         none, another txn's lock   ─▶ KeyError.retryable
//!         none, no lock              ─▶ KeyError.abort: never prewritten (lock not found)
//!   any KeyError ─▶ nothing written; else one Storage::write
//! ```
//!
//! Committing the primary is the moment the whole transaction commits;
//! secondaries may be committed by the client or by a resolver
//! (KvResolveLock), in any order, any number of times. A commit of a key
//! without lock or record is refused rather than called a success (as
//! TiKV's TxnLockNotFound; TinyKV's test calls it a success): the client
//! would otherwise believe a write happened that never did. Caller's thread.

use proto::kvrpcpb::{KvCommitRequest, KvCommitResponse};
use storage::mvcc::{MvccTxn, Write, WriteKind};

use super::{abort, distinct_keys, retryable, show_key, write_staged, CommandResult};
use crate::server::Server;

impl Server {
    /// KvCommit: commits the transaction `start_version` at
    /// `commit_version` on the request's keys, or changes nothing and says
    /// why in `error`.
    pub fn kv_commit(&self, request: &KvCommitRequest) -> KvCommitResponse {
        let mut response = KvCommitResponse::new();
        if let Err(error) = commit(self, request) {
            (response.region_error, response.error) = error.into_fields();
        }
        response
    }
}

// lab 4B: begin — only our own lock commits; without it, our write record decides (docs/labs/lab4b.md#commit)
/// Commits the request's keys, all of them or none.
fn commit(server: &Server, request: &KvCommitRequest) -> CommandResult<()> {
    let start_ts = request.start_version;
    let commit_ts = request.commit_version;
    if commit_ts <= start_ts {
        return Err(abort(format!(
            "commit_version {commit_ts} is not after start_version {start_ts}"
        ))
        .into());
    }
    let keys = distinct_keys(&request.keys);
    if keys.is_empty() {
        return Ok(());
    }
    let _latches = server.latches().acquire(keys.iter().map(Vec::as_slice));
    let context = request.context.get_or_default();
    let reader = server.storage().reader(context)?;
    let mut txn = MvccTxn::new(&*reader, start_ts);
    for key in &keys {
        let lock = txn.get_lock(key)?;
        if let Some(lock) = lock.as_ref().filter(|lock| lock.start_ts == start_ts) {
            txn.put_write(key, commit_ts, &Write::new(lock.kind, start_ts));
            txn.delete_lock(key);
            continue;
        }
        match txn.current_write(key)? {
            Some((write, _)) if write.kind != WriteKind::Rollback => {}
            Some(_) => {
                return Err(abort(format!(
                    "transaction {start_ts} was rolled back on key {}",
                    show_key(key)
                ))
                .into())
            }
            None => match lock {
                Some(other) => {
                    return Err(retryable(format!(
                        "key {} is locked by transaction {}",
                        show_key(key),
                        other.start_ts
                    ))
                    .into())
                }
                None => {
                    return Err(abort(format!(
                        "lock not found: key {} has no lock of transaction {start_ts}",
                        show_key(key)
                    ))
                    .into())
                }
            },
        }
    }
    write_staged(server, context, txn)
}
// lab 4B: end
