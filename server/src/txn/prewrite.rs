//! KvPrewrite (lab 4B): the first phase of a commit. Every key the
//! transaction writes gets a lock (naming the primary) and, for a Put, its
//! value at `encode_key(key, start_ts)`.
//!
//! ```text
//! client ──KvPrewriteRequest{mutations, primary_lock, start_version, lock_ttl}──▶ Server::kv_prewrite
//!   validate (mutations not empty, ops Put/Del, primary set) ─▶ latches of the keys
//!   per key: lock of another txn? ─▶ KeyError.locked
//!            our own lock?        ─▶ done already (a retried request)
//!            a write committed at or after start_version? ─▶ KeyError.conflict
//!            otherwise            ─▶ stage lock (+ value)
//!   any KeyError ─▶ write nothing, return them all; else one Storage::write
//! ```
//!
//! A write committed at or after our start is one we did not read: writing
//! over it would lose it (snapshot isolation's first-committer-wins). A
//! rollback record of ours sits at commit_ts = start_ts, so the same check
//! stops a prewrite that arrives after its transaction was rolled back.
//! Caller's thread; the latches are held from the reads to the write.

use std::collections::BTreeMap;

use proto::kvrpcpb::{KeyError, KvPrewriteRequest, KvPrewriteResponse, Op};
use storage::mvcc::{Lock, MvccTxn, WriteKind};

use super::{abort, locked, show_key, write_conflict, write_staged, CommandResult};
use crate::server::Server;

impl Server {
    /// KvPrewrite: locks every mutated key for the transaction
    /// `start_version` and stores its values, or writes nothing and
    /// returns one `KeyError` per key in the way.
    pub fn kv_prewrite(&self, request: &KvPrewriteRequest) -> KvPrewriteResponse {
        let mut response = KvPrewriteResponse::new();
        match prewrite(self, request) {
            Ok(errors) => response.errors = errors,
            Err(error) => {
                let (region_error, key_error) = error.into_fields();
                response.region_error = region_error;
                response.errors = key_error.into_option().into_iter().collect();
            }
        }
        response
    }
}

/// What a prewrite does to each key: the kind of its lock, and the value
/// of a Put (empty for a Delete), by key in key order.
type MutationsByKey = BTreeMap<Vec<u8>, (WriteKind, Vec<u8>)>;

/// The request's mutations, one per key (a later mutation of a key
/// replaces an earlier one, as if applied in order), checked: Put and Del
/// only.
fn mutations_by_key(request: &KvPrewriteRequest) -> CommandResult<MutationsByKey> {
    if request.mutations.is_empty() {
        return Err(abort("prewrite without mutations").into());
    }
    if request.primary_lock.is_empty() {
        return Err(abort("prewrite without a primary lock").into());
    }
    let mut by_key = BTreeMap::new();
    for mutation in &request.mutations {
        let kind = match mutation.op.enum_value() {
            Ok(Op::Put) => WriteKind::Put,
            Ok(Op::Del) => WriteKind::Delete,
            Ok(op @ (Op::Rollback | Op::Lock)) => {
                return Err(abort(format!(
                    "operation {op:?} of key {} cannot be prewritten (only Put and Del)",
                    show_key(&mutation.key)
                ))
                .into())
            }
            Err(unknown) => {
                return Err(abort(format!(
                    "unknown operation {unknown} of key {}",
                    show_key(&mutation.key)
                ))
                .into())
            }
        };
        by_key.insert(mutation.key.clone(), (kind, mutation.value.clone()));
    }
    Ok(by_key)
}

// lab 4B: begin — other txn's lock → locked; a write at/after start_ts → conflict; else lock (+ value) (docs/labs/lab4b.md#prewrite)
/// Prewrites the request's keys; the `KeyError`s of the keys in the way
/// (then nothing is written).
fn prewrite(server: &Server, request: &KvPrewriteRequest) -> CommandResult<Vec<KeyError>> {
    let mutations = mutations_by_key(request)?;
    let start_ts = request.start_version;
    let _latches = server
        .latches()
        .acquire(mutations.keys().map(Vec::as_slice));
    let context = request.context.get_or_default();
    let reader = server.storage().reader(context)?;
    let mut txn = MvccTxn::new(&*reader, start_ts);
    let mut errors = Vec::new();
    for (key, (kind, value)) in &mutations {
        match txn.get_lock(key)? {
            Some(lock) if lock.start_ts != start_ts => {
                errors.push(locked(&lock, key));
                continue;
            }
            // Our own lock: this is a retry of a prewrite that landed. The
            // lock has kept every other writer off the key since.
            Some(_) => continue,
            None => {}
        }
        if let Some((_, commit_ts)) = txn.most_recent_write(key)? {
            if commit_ts >= start_ts {
                errors.push(write_conflict(
                    start_ts,
                    commit_ts,
                    key,
                    &request.primary_lock,
                ));
                continue;
            }
        }
        if *kind == WriteKind::Put {
            txn.put_value(key, value);
        }
        let lock = Lock::new(
            request.primary_lock.clone(),
            start_ts,
            request.lock_ttl,
            *kind,
        );
        txn.put_lock(key, &lock);
    }
    if !errors.is_empty() {
        return Ok(errors);
    }
    write_staged(server, context, txn)?;
    Ok(errors)
}
// lab 4B: end
