//! [`TxnClient`] and [`Transaction`]: Percolator's client side over the
//! stores' transactional commands (`Server::kv_get`, `kv_prewrite`, ...),
//! reached through [`TxnStores`]: in-process on the test cluster, over
//! gRPC in `tinykv ctl`.
//!
//! A transaction takes a start timestamp from the [`TimestampOracle`],
//! reads at it (a buffered write of its own wins), and buffers its writes.
//! `Transaction::commit` is two-phase commit:
//!
//! 1. **prewrite** every key (the smallest key is the *primary*; each lock
//!    names it), region by region; a write conflict rolls back what was
//!    prewritten and fails with [`TxnError::Conflict`];
//! 2. take a **commit timestamp**;
//! 3. **commit the primary**: from this instant the transaction is
//!    committed, whatever happens next; an answer that never comes makes
//!    the outcome [`TxnError::Unknown`];
//! 4. **commit the secondaries**, best effort: a lock left behind is
//!    resolved by whoever meets it.
//!
//! Meeting a lock (a read, or a prewrite) resolves it: ask the lock's
//! primary for its status (`kv_check_txn_status`, which rolls back a
//! primary whose TTL expired), then commit or roll back the locks of that
//! transaction in the key's region (`kv_resolve_lock`). A lock whose owner
//! is alive is waited for.
//!
//! Routing: a key's region is found by its encoded form (region bounds of
//! transactional data are encoded keys, see `storage::mvcc`); a region
//! error (not leader, stale epoch, key not in region after a split) is
//! handed to `TxnStores::learn` and makes the client look the region up
//! again and retry until its deadline.
//! Runs on the calling thread; one `TxnClient` may be shared by threads.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use proto::errorpb;
use proto::kvrpcpb::{
    Context, KeyError, KvBatchRollbackRequest, KvCheckTxnStatusRequest, KvCommitRequest,
    KvGetRequest, KvPrewriteRequest, KvResolveLockRequest, LockInfo, Mutation, Op,
};
use proto::metapb::Region;
use storage::mvcc::encode_user_key;

use super::timestamp_oracle::TimestampOracle;
use super::txn_stores::{TxnCommands, TxnStores};

/// How long a lock lives before another transaction may roll it back, in
/// ms of timestamp time.
pub const DEFAULT_LOCK_TTL_MS: u64 = 3_000;

/// Why a transaction did not commit (or may not have).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    /// Another transaction wrote one of the keys after this one started:
    /// this one was rolled back. Retry with a new transaction.
    #[error("write conflict: {0}")]
    Conflict(String),
    /// The transaction was rolled back: a store refused it, or a reader
    /// found its lock expired and rolled it back first.
    #[error("aborted: {0}")]
    Aborted(String),
    /// The primary's commit got no definite answer before the deadline:
    /// the transaction may or may not be committed.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// A read or a prewrite did not finish before the deadline; nothing of
    /// this transaction is committed (its locks are resolved by others).
    #[error("timed out: {0}")]
    Timeout(String),
}

/// What one attempt of a routed call gave.
enum Attempt<T> {
    /// An answer (possibly a transactional error for the caller to read).
    Done(T),
    /// A store that cannot answer, or a retryable refusal: route again.
    Retry(String),
    /// A region error (not leader, stale epoch, key not in region): the
    /// router learns from it, then routes again.
    RegionError(errorpb::Error),
}

/// The client. See the module docs.
pub struct TxnClient<'a> {
    stores: &'a dyn TxnStores,
    oracle: &'a dyn TimestampOracle,
    /// How long one operation (a read, a prewrite, a commit) may retry.
    timeout: Duration,
    lock_ttl_ms: u64,
}

impl<'a> TxnClient<'a> {
    /// A client of `stores` (the in-process `Cluster`, or a cluster of
    /// processes over gRPC) taking timestamps from `oracle`.
    pub fn new(stores: &'a dyn TxnStores, oracle: &'a dyn TimestampOracle) -> TxnClient<'a> {
        TxnClient {
            stores,
            oracle,
            timeout: Duration::from_secs(10),
            lock_ttl_ms: DEFAULT_LOCK_TTL_MS,
        }
    }

    /// The same client with another per-operation timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> TxnClient<'a> {
        self.timeout = timeout;
        self
    }

    /// The same client writing locks with another TTL (ms).
    pub fn with_lock_ttl_ms(mut self, lock_ttl_ms: u64) -> TxnClient<'a> {
        self.lock_ttl_ms = lock_ttl_ms;
        self
    }

    /// Starts a transaction at a fresh timestamp.
    pub fn begin(&self) -> Result<Transaction<'_, 'a>, TxnError> {
        let start_ts = self.oracle.timestamp().map_err(TxnError::Timeout)?;
        Ok(Transaction {
            client: self,
            start_ts,
            writes: BTreeMap::new(),
        })
    }

    /// Takes up a transaction where [`Transaction::into_parts`] left it:
    /// the same start timestamp and the same buffered writes (`None`
    /// deletes). Nothing is sent to any store; the transaction goes on as
    /// if it had never been put down. For a caller that cannot keep a
    /// `Transaction` (it borrows this client), such as the playground's
    /// interactive transaction between two commands.
    pub fn resume(
        &self,
        start_ts: u64,
        writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    ) -> Transaction<'_, 'a> {
        Transaction {
            client: self,
            start_ts,
            writes,
        }
    }

    /// Calls `call` on the store leading the region of `user_key`, with a
    /// context for that region, until it gives an answer or the deadline.
    fn route<T>(
        &self,
        user_key: &[u8],
        deadline: Instant,
        what: &str,
        mut call: impl FnMut(&dyn TxnCommands, Context, &Region) -> Attempt<T>,
    ) -> Result<T, String> {
        let encoded = encode_user_key(user_key);
        let mut last_error = String::from("no attempt made");
        let mut attempt_number = 0usize;
        loop {
            if Instant::now() > deadline {
                return Err(format!(
                    "{what} of {:?} gave up: {last_error}",
                    String::from_utf8_lossy(user_key)
                ));
            }
            attempt_number += 1;
            match self.stores.locate(&encoded, attempt_number) {
                Ok((region, peer, store)) => {
                    let mut context = Context::new();
                    context.region_id = region.id;
                    context.region_epoch = Some(region.region_epoch().clone()).into();
                    context.peer = Some(peer).into();
                    match call(&*store, context, &region) {
                        Attempt::Done(answer) => return Ok(answer),
                        Attempt::Retry(error) => last_error = error,
                        Attempt::RegionError(error) => {
                            self.stores.learn(&region, &error);
                            last_error = error.message;
                        }
                    }
                }
                Err(error) => last_error = error,
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Calls `call` once per region holding some of `keys` (with the keys
    /// of that region), until every key was answered or the deadline.
    fn for_each_region(
        &self,
        keys: &[Vec<u8>],
        deadline: Instant,
        what: &str,
        mut call: impl FnMut(&dyn TxnCommands, Context, &[Vec<u8>]) -> Attempt<()>,
    ) -> Result<(), String> {
        let mut remaining: Vec<Vec<u8>> = keys.to_vec();
        while let Some(first) = remaining.first().cloned() {
            let mut answered: Vec<Vec<u8>> = Vec::new();
            self.route(&first, deadline, what, |server, context, region| {
                let batch: Vec<Vec<u8>> = remaining
                    .iter()
                    .filter(|key| region_holds(region, &encode_user_key(key)))
                    .cloned()
                    .collect();
                let attempt = call(server, context, &batch);
                if let Attempt::Done(()) = attempt {
                    answered = batch;
                }
                attempt
            })?;
            if answered.is_empty() {
                // The region holding `first` no longer holds it: look again.
                continue;
            }
            remaining.retain(|key| !answered.contains(key));
        }
        Ok(())
    }

    /// The status of the transaction at `start_ts` whose primary is
    /// `primary`: (lock TTL, commit version). (0, 0): rolled back (or
    /// rolled back now, its TTL having expired); (_, > 0): committed;
    /// (> 0, 0): still running. `Err`: no definite answer (the deadline
    /// passed, or a store refused the check); the caller resolves nothing.
    fn txn_status(
        &self,
        primary: &[u8],
        start_ts: u64,
        deadline: Instant,
    ) -> Result<(u64, u64), String> {
        let current_ts = self.oracle.timestamp()?;
        self.route(
            primary,
            deadline,
            "check txn status",
            |server, context, _| {
                let mut request = KvCheckTxnStatusRequest::new();
                request.context = Some(context).into();
                request.primary_key = primary.to_vec();
                request.lock_ts = start_ts;
                request.current_ts = current_ts;
                let response = match server.kv_check_txn_status(&request) {
                    Ok(response) => response,
                    Err(error) => return Attempt::Retry(error),
                };
                if let Some(error) = response.region_error.as_ref() {
                    return Attempt::RegionError(error.clone());
                }
                // A failed check says nothing about the transaction: its
                // zero TTL and commit version are not "rolled back". Taking
                // them as such would roll back the locks of a transaction
                // that may be committed (a store restarting under the
                // check answers `retryable`).
                match response.error.as_ref().map(classify) {
                    None => Attempt::Done(Ok((response.lock_ttl, response.commit_version))),
                    Some(KeyProblem::Retryable(reason)) => {
                        Attempt::Retry(format!("check txn status: {reason}"))
                    }
                    Some(KeyProblem::Abort(reason) | KeyProblem::Conflict(reason)) => {
                        Attempt::Done(Err(format!("check txn status: {reason}")))
                    }
                    Some(KeyProblem::Locked(lock)) => Attempt::Done(Err(format!(
                        "check txn status: unexpected lock of txn {}",
                        lock.lock_version
                    ))),
                }
            },
        )?
    }

    /// Resolves the lock a read or prewrite met (see the module docs).
    /// Returns once the lock is gone or its owner is found alive (then
    /// after a short wait): the caller tries again either way.
    fn resolve_lock(&self, lock: &LockInfo, deadline: Instant) -> Result<(), String> {
        let (lock_ttl, commit_version) =
            self.txn_status(&lock.primary_lock, lock.lock_version, deadline)?;
        if commit_version == 0 && lock_ttl > 0 {
            // Its owner is alive: give it time to finish.
            std::thread::sleep(Duration::from_millis(20));
            return Ok(());
        }
        crash_point("txn_during_resolve")?;
        log::debug!(
            "txn client: resolving txn {} at {:?}: commit version {}",
            lock.lock_version,
            String::from_utf8_lossy(&lock.key),
            commit_version
        );
        self.route(&lock.key, deadline, "resolve lock", |server, context, _| {
            let mut request = KvResolveLockRequest::new();
            request.context = Some(context).into();
            request.start_version = lock.lock_version;
            request.commit_version = commit_version;
            let response = match server.kv_resolve_lock(&request) {
                Ok(response) => response,
                Err(error) => return Attempt::Retry(error),
            };
            if let Some(error) = response.region_error.as_ref() {
                return Attempt::RegionError(error.clone());
            }
            match response.error.as_ref() {
                Some(error) => Attempt::Retry(format!("resolve lock: {error:?}")),
                None => Attempt::Done(()),
            }
        })
    }

    /// Rolls back `keys` of the transaction at `start_ts`, best effort:
    /// a lock left behind expires and is rolled back by whoever meets it.
    fn rollback_keys(&self, keys: &[Vec<u8>], start_ts: u64) {
        let deadline = Instant::now() + self.timeout;
        let result = self.for_each_region(keys, deadline, "rollback", |server, context, batch| {
            let mut request = KvBatchRollbackRequest::new();
            request.context = Some(context).into();
            request.start_version = start_ts;
            request.keys = batch.to_vec();
            let response = match server.kv_batch_rollback(&request) {
                Ok(response) => response,
                Err(error) => return Attempt::Retry(error),
            };
            match response.region_error.as_ref() {
                Some(error) => Attempt::RegionError(error.clone()),
                None => Attempt::Done(()),
            }
        });
        if let Err(error) = result {
            log::debug!("txn client: rollback of txn {start_ts} left locks behind: {error}");
        }
    }
}

/// A crash point of the client (the crash tests, `--features failpoints`):
/// with the failpoint `name` configured to `return`, the client stops right
/// there, as if its process died (`Err`), leaving whatever it wrote behind.
fn crash_point(name: &str) -> Result<(), String> {
    #[cfg(feature = "failpoints")]
    fail::fail_point!(name, |_| Err(format!("the client crashed at {name}")));
    let _ = name;
    Ok(())
}

/// Whether `region`'s range holds the (encoded) `key`.
fn region_holds(region: &Region, key: &[u8]) -> bool {
    key >= region.start_key.as_slice()
        && (region.end_key.is_empty() || key < region.end_key.as_slice())
}

/// What a key error says about the key it was returned for.
enum KeyProblem {
    /// Locked by another transaction: resolve, then retry.
    Locked(LockInfo),
    /// A newer write or a rollback record: this transaction must abort.
    Conflict(String),
    /// Worth another try as is.
    Retryable(String),
    /// A definite refusal.
    Abort(String),
}

fn classify(error: &KeyError) -> KeyProblem {
    if let Some(lock) = error.locked.as_ref() {
        KeyProblem::Locked(lock.clone())
    } else if let Some(conflict) = error.conflict.as_ref() {
        KeyProblem::Conflict(format!(
            "key {:?} written at {} after start {}",
            String::from_utf8_lossy(&conflict.key),
            conflict.conflict_ts,
            conflict.start_ts
        ))
    } else if !error.retryable.is_empty() {
        KeyProblem::Retryable(error.retryable.clone())
    } else {
        KeyProblem::Abort(error.abort.clone())
    }
}

/// One transaction. See the module docs.
pub struct Transaction<'c, 'a> {
    client: &'c TxnClient<'a>,
    start_ts: u64,
    /// Buffered writes: `None` deletes.
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl Transaction<'_, '_> {
    /// The start timestamp: what the transaction reads at.
    pub fn start_ts(&self) -> u64 {
        self.start_ts
    }

    /// The value of `key` as of the start timestamp (or as this
    /// transaction wrote it).
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, TxnError> {
        if let Some(value) = self.writes.get(key) {
            return Ok(value.clone());
        }
        let client = self.client;
        let deadline = Instant::now() + client.timeout;
        loop {
            let response = client
                .route(key, deadline, "get", |server, context, _| {
                    let mut request = KvGetRequest::new();
                    request.context = Some(context).into();
                    request.key = key.to_vec();
                    request.version = self.start_ts;
                    let response = match server.kv_get(&request) {
                        Ok(response) => response,
                        Err(error) => return Attempt::Retry(error),
                    };
                    match response.region_error.as_ref() {
                        Some(error) => Attempt::RegionError(error.clone()),
                        None => Attempt::Done(response),
                    }
                })
                .map_err(TxnError::Timeout)?;
            let Some(error) = response.error.as_ref() else {
                return Ok((!response.not_found).then(|| response.value.clone()));
            };
            match classify(error) {
                KeyProblem::Locked(lock) => client
                    .resolve_lock(&lock, deadline)
                    .map_err(TxnError::Timeout)?,
                KeyProblem::Retryable(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                KeyProblem::Conflict(reason)
                | KeyProblem::Retryable(reason)
                | KeyProblem::Abort(reason) => {
                    return Err(TxnError::Aborted(format!("get: {reason}")))
                }
            }
        }
    }

    /// Buffers `key` = `value`.
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        self.writes.insert(key.to_vec(), Some(value.to_vec()));
    }

    /// Buffers a delete of `key`.
    pub fn delete(&mut self, key: &[u8]) {
        self.writes.insert(key.to_vec(), None);
    }

    /// Drops the transaction: nothing was written to any store yet.
    pub fn rollback(self) {}

    /// The transaction's state, without the borrow of its client: the
    /// start timestamp and the buffered writes (`None` deletes).
    /// [`TxnClient::resume`] makes a transaction of them again.
    pub fn into_parts(self) -> (u64, BTreeMap<Vec<u8>, Option<Vec<u8>>>) {
        (self.start_ts, self.writes)
    }

    /// Two-phase commit (see the module docs); the commit timestamp on
    /// success. A read-only transaction commits at its start timestamp.
    pub fn commit(self) -> Result<u64, TxnError> {
        let client = self.client;
        let keys: Vec<Vec<u8>> = self.writes.keys().cloned().collect();
        let Some(primary) = keys.first().cloned() else {
            return Ok(self.start_ts);
        };
        if let Err(error) = self.prewrite(&keys, &primary) {
            client.rollback_keys(&keys, self.start_ts);
            return Err(error);
        }
        crash_point("txn_after_prewrite").map_err(TxnError::Unknown)?;
        let commit_ts = match client.oracle.timestamp() {
            Ok(ts) => ts,
            Err(error) => {
                client.rollback_keys(&keys, self.start_ts);
                return Err(TxnError::Aborted(error));
            }
        };
        // The commit point: once the primary's commit record is written the
        // transaction is committed, so nothing may roll it back after here.
        self.commit_keys(std::slice::from_ref(&primary), &primary, commit_ts)
            .map_err(|error| match error {
                TxnError::Timeout(reason) => TxnError::Unknown(reason),
                other => other,
            })?;
        crash_point("txn_after_primary_commit").map_err(TxnError::Unknown)?;
        let secondaries = &keys[1..];
        if !secondaries.is_empty() {
            if let Err(error) = self.commit_keys(secondaries, &primary, commit_ts) {
                // Committed anyway: readers resolve the locks left behind.
                log::debug!(
                    "txn client: secondaries of txn {} left locked: {error}",
                    self.start_ts
                );
            }
        }
        Ok(commit_ts)
    }

    fn prewrite(&self, keys: &[Vec<u8>], primary: &[u8]) -> Result<(), TxnError> {
        let client = self.client;
        let deadline = Instant::now() + client.timeout;
        let mut failure: Option<TxnError> = None;
        let result =
            client.for_each_region(keys, deadline, "prewrite", |server, context, batch| {
                if failure.is_some() {
                    // Decided already: skip the remaining regions.
                    return Attempt::Done(());
                }
                let mut request = KvPrewriteRequest::new();
                request.context = Some(context).into();
                request.primary_lock = primary.to_vec();
                request.start_version = self.start_ts;
                request.lock_ttl = client.lock_ttl_ms;
                request.mutations = batch
                    .iter()
                    .map(|key| {
                        let mut mutation = Mutation::new();
                        mutation.key = key.clone();
                        match self.writes.get(key).cloned().flatten() {
                            Some(value) => {
                                mutation.set_op(Op::Put);
                                mutation.value = value;
                            }
                            None => mutation.set_op(Op::Del),
                        }
                        mutation
                    })
                    .collect();
                let response = match server.kv_prewrite(&request) {
                    Ok(response) => response,
                    Err(error) => return Attempt::Retry(error),
                };
                if let Some(error) = response.region_error.as_ref() {
                    return Attempt::RegionError(error.clone());
                }
                // A conflict or refusal decides the transaction, whatever
                // else the answer says; locks are resolved, then retried.
                let problems: Vec<KeyProblem> = response.errors.iter().map(classify).collect();
                for problem in &problems {
                    match problem {
                        KeyProblem::Conflict(reason) => {
                            failure = Some(TxnError::Conflict(reason.clone()));
                            return Attempt::Done(());
                        }
                        KeyProblem::Abort(reason) => {
                            failure = Some(TxnError::Aborted(format!("prewrite: {reason}")));
                            return Attempt::Done(());
                        }
                        KeyProblem::Locked(_) | KeyProblem::Retryable(_) => {}
                    }
                }
                if problems.is_empty() {
                    return Attempt::Done(());
                }
                for problem in problems {
                    if let KeyProblem::Locked(lock) = problem {
                        if let Err(reason) = client.resolve_lock(&lock, deadline) {
                            failure = Some(TxnError::Timeout(reason));
                            return Attempt::Done(());
                        }
                    }
                }
                Attempt::Retry("locked by another transaction, or a retryable error".to_string())
            });
        if let Some(failure) = failure {
            return Err(failure);
        }
        result.map_err(TxnError::Timeout)
    }

    /// Commits `keys` at `commit_ts`. `primary` is the transaction's
    /// primary key: only its commit may consult the transaction's status
    /// (a secondary's fate is decided by the primary anyway).
    fn commit_keys(
        &self,
        keys: &[Vec<u8>],
        primary: &[u8],
        commit_ts: u64,
    ) -> Result<(), TxnError> {
        let client = self.client;
        let deadline = Instant::now() + client.timeout;
        let mut failure: Option<TxnError> = None;
        let result = client.for_each_region(keys, deadline, "commit", |server, context, batch| {
            if failure.is_some() {
                return Attempt::Done(());
            }
            let mut request = KvCommitRequest::new();
            request.context = Some(context).into();
            request.start_version = self.start_ts;
            request.commit_version = commit_ts;
            request.keys = batch.to_vec();
            let response = match server.kv_commit(&request) {
                Ok(response) => response,
                Err(error) => return Attempt::Retry(error),
            };
            if let Some(error) = response.region_error.as_ref() {
                return Attempt::RegionError(error.clone());
            }
            match response.error.as_ref().map(classify) {
                None => Attempt::Done(()),
                Some(KeyProblem::Retryable(reason)) => {
                    // Typically another transaction's lock where ours was:
                    // ours was committed (an earlier attempt whose answer
                    // was lost) or rolled back. The primary's status says
                    // which; a secondary's fate is its primary's anyway.
                    if !batch.iter().any(|key| key.as_slice() == primary) {
                        return Attempt::Retry(reason);
                    }
                    match client.txn_status(primary, self.start_ts, deadline) {
                        Ok((_, commit_version)) if commit_version > 0 => Attempt::Done(()),
                        Ok((0, _)) => {
                            failure =
                                Some(TxnError::Aborted(format!("commit: rolled back ({reason})")));
                            Attempt::Done(())
                        }
                        Ok(_) | Err(_) => Attempt::Retry(reason),
                    }
                }
                Some(KeyProblem::Locked(lock)) => {
                    // Another transaction's lock where ours should be: ours
                    // was rolled back and the key re-locked.
                    failure = Some(TxnError::Aborted(format!(
                        "commit: key locked by txn {}",
                        lock.lock_version
                    )));
                    Attempt::Done(())
                }
                Some(KeyProblem::Conflict(reason)) | Some(KeyProblem::Abort(reason)) => {
                    failure = Some(TxnError::Aborted(format!("commit: {reason}")));
                    Attempt::Done(())
                }
            }
        });
        if let Some(failure) = failure {
            return Err(failure);
        }
        result.map_err(TxnError::Timeout)
    }
}
