//! # txn: the Percolator commands (labs 4B and 4C)
//!
//! The transactional API of a store, as methods on [`crate::Server`] in
//! the shape of the raw API: a request in, a response out, every failure
//! in the response. They read and write through the MVCC layer
//! (`storage::mvcc`) over the [`storage::Storage`] trait, so they run
//! unchanged on a standalone store and on a replicated one.
//!
//! A transaction (driven by the client, which also takes its timestamps
//! from the scheduler's oracle) goes like this:
//!
//! ```text
//! begin         start_ts from the oracle; reads are KvGet/KvScan at start_ts
//! prewrite      KvPrewrite every key (one key is the primary): a lock and the value, per key
//! commit        commit_ts from the oracle; KvCommit the primary: the transaction is committed
//!               KvCommit the secondaries (they may also be committed by whoever finds them)
//! abort         KvBatchRollback the keys instead
//!
//! a reader or writer meeting a lock of another transaction:
//!               KvCheckTxnStatus on the lock's primary (rolls it back if its TTL expired)
//!               KvResolveLock: commit or roll back that transaction's locks in the region
//! ```
//!
//! | command | file | lab | reads | writes |
//! |---|---|---|---|---|
//! | [`crate::Server::kv_get`] | `get.rs` | 4B | lock, value at version | nothing |
//! | [`crate::Server::kv_prewrite`] | `prewrite.rs` | 4B | locks, newest writes | locks, values |
//! | [`crate::Server::kv_commit`] | `commit.rs` | 4B | locks, own write records | write records; removes locks |
//! | [`crate::Server::kv_scan`] | `scan.rs` | 4C | visible pairs, locks | nothing |
//! | [`crate::Server::kv_check_txn_status`] | `check_txn_status.rs` | 4C | primary's lock and write record | rollback of an expired or missing primary |
//! | [`crate::Server::kv_batch_rollback`] | `batch_rollback.rs` | 4C | locks, own write records | rollback records; removes locks and values |
//! | [`crate::Server::kv_resolve_lock`] | `resolve_lock.rs` | 4C | the region's lock CF | commits or rollbacks of one transaction's locks |
//!
//! Rules every command keeps:
//! * **One batch.** All writes of a command are staged in one
//!   `storage::mvcc::MvccTxn` and go to storage in one `Storage::write`
//!   (on the replicated store: one raft command), so a command lands whole
//!   or not at all. A command that fails for a key writes nothing.
//! * **Latches.** A writing command holds the [`latches::Latches`] of its
//!   keys from before its read until its write returned, so two commands on
//!   one key in one store serialise. KvGet and KvScan take none.
//! * **Errors in the response.** A region error (the client retries
//!   elsewhere) goes to `region_error`; everything else is a `KeyError`:
//!   `locked` (with the `LockInfo` to resolve it), `conflict` (a write
//!   conflict), `retryable` (try again later: another transaction's lock,
//!   a timeout) or `abort` (the transaction cannot go on, or the request
//!   is malformed). Never a panic, never an `Err` to the transport.
//!
//! Everything runs on the caller's thread. The handouts are
//! `docs/labs/lab4b.md` and `docs/labs/lab4c.md`.

mod batch_rollback;
mod check_txn_status;
mod commit;
mod get;
pub(crate) mod latches;
mod prewrite;
mod resolve_lock;
mod scan;

use std::collections::BTreeSet;

use proto::errorpb;
use proto::kvrpcpb::{Context, KeyError, WriteConflict};
use protobuf::MessageField;
use storage::mvcc::{Lock, MvccTxn};

use crate::server::Server;

/// Why a transactional command failed; [`CommandError::into_fields`]
/// splits it into a response's `region_error` and `error` fields.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CommandError {
    /// Reading or writing the storage failed: a region error, a timeout,
    /// an engine failure, or a malformed record on disk.
    #[error(transparent)]
    Storage(#[from] storage::Error),

    /// A transactional failure the client handles: a lock in the way, a
    /// write conflict, a transaction that cannot commit, a bad request.
    #[error("key error: {0}")]
    Key(Box<KeyError>),
}

impl From<storage::mvcc::Error> for CommandError {
    fn from(error: storage::mvcc::Error) -> CommandError {
        CommandError::Storage(error.into())
    }
}

impl From<KeyError> for CommandError {
    fn from(error: KeyError) -> CommandError {
        CommandError::Key(Box::new(error))
    }
}

/// A command's outcome.
pub(crate) type CommandResult<T> = Result<T, CommandError>;

impl CommandError {
    /// The response's `region_error` and `error` for this failure (one of
    /// the two is set).
    pub(crate) fn into_fields(self) -> (MessageField<errorpb::Error>, MessageField<KeyError>) {
        match self {
            CommandError::Storage(storage::Error::Region(region_error)) => {
                (MessageField::some(*region_error), MessageField::none())
            }
            // The outcome is unknown or the store is going away: every
            // command is idempotent, so the client may send it again.
            CommandError::Storage(
                error @ (storage::Error::Timeout(_) | storage::Error::Closed(_)),
            ) => (
                MessageField::none(),
                MessageField::some(retryable(error.to_string())),
            ),
            CommandError::Storage(error) => (
                MessageField::none(),
                MessageField::some(abort(error.to_string())),
            ),
            CommandError::Key(error) => (MessageField::none(), MessageField::some(*error)),
        }
    }
}

/// A key is locked by the transaction `lock` describes.
pub(crate) fn locked(lock: &Lock, key: &[u8]) -> KeyError {
    let mut error = KeyError::new();
    error.locked = MessageField::some(lock.info(key));
    error
}

/// The transaction `start_ts` conflicts with a write committed at
/// `conflict_ts`, at or after its start.
pub(crate) fn write_conflict(
    start_ts: u64,
    conflict_ts: u64,
    key: &[u8],
    primary: &[u8],
) -> KeyError {
    let mut conflict = WriteConflict::new();
    conflict.start_ts = start_ts;
    conflict.conflict_ts = conflict_ts;
    conflict.key = key.to_vec();
    conflict.primary = primary.to_vec();
    let mut error = KeyError::new();
    error.conflict = MessageField::some(conflict);
    error
}

/// The transaction cannot go on (or the request is malformed): `message` says why.
pub(crate) fn abort(message: impl Into<String>) -> KeyError {
    let mut error = KeyError::new();
    error.abort = message.into();
    error
}

/// The request may succeed later (another transaction is in the way).
pub(crate) fn retryable(message: impl Into<String>) -> KeyError {
    let mut error = KeyError::new();
    error.retryable = message.into();
    error
}

/// Writes everything `txn` staged in one `Storage::write` (one raft
/// command on the replicated store), or nothing when nothing was staged (a
/// retried command that finds its work done).
pub(crate) fn write_staged(
    server: &Server,
    context: &Context,
    txn: MvccTxn<'_>,
) -> CommandResult<()> {
    let modifies = txn.into_modifies();
    if !modifies.is_empty() {
        server.storage().write(context, modifies)?;
    }
    Ok(())
}

/// The request's keys, sorted and without repeats: a key named twice is
/// committed or rolled back once.
pub(crate) fn distinct_keys(keys: &[Vec<u8>]) -> Vec<Vec<u8>> {
    keys.iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// `key` for a message: text when it is, bytes otherwise.
pub(crate) fn show_key(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(text) => format!("{text:?}"),
        Err(_) => format!("{key:?}"),
    }
}
