//! [`HistoryRecorder`]: where the client threads of a transactional workload
//! write down what they did, so the checker can judge it afterwards.
//!
//! Any number of client threads share one recorder (clones share the same
//! record). Each begins a transaction with [`HistoryRecorder::begin`], notes
//! every micro-op on the returned [`PendingTxn`] as soon as it learns the
//! op's outcome, and ends it with the status it learned. The test thread then
//! takes [`HistoryRecorder::history`] and checks it. Every method runs on its
//! caller's thread and holds the lock for a single push or field update.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::history::History;
use super::txn_record::{MicroOp, TxnId, TxnRecord, TxnStatus};

/// A thread-safe record of transactions. Clones share the same record.
#[derive(Clone, Default)]
pub struct HistoryRecorder {
    /// Every transaction begun, at index `id - 1`: ids are handed out under
    /// this lock, densely from 1, so a pending transaction finds its record
    /// without a search.
    txns: Arc<Mutex<Vec<TxnRecord>>>,
}

impl HistoryRecorder {
    /// An empty recorder; its first transaction will be `T1`.
    pub fn new() -> HistoryRecorder {
        HistoryRecorder::default()
    }

    /// Starts recording a transaction. It counts as [`TxnStatus::Unknown`]
    /// until [`PendingTxn::finish`] says otherwise, which is the truth for a
    /// client that gives up on it.
    pub fn begin(&self) -> PendingTxn {
        let mut txns = self.lock_txns();
        let id = txns.len() as TxnId + 1;
        txns.push(TxnRecord {
            id,
            status: TxnStatus::Unknown,
            ops: Vec::new(),
        });
        PendingTxn {
            recorder: self.clone(),
            id,
        }
    }

    /// A copy of everything recorded so far. Transactions still pending are
    /// in it with the steps recorded so far and an unknown status.
    pub fn history(&self) -> History {
        History::from_records(self.lock_txns().clone())
    }

    /// Runs `update` on the record of `id`.
    fn update(&self, id: TxnId, update: impl FnOnce(&mut TxnRecord)) {
        let mut txns = self.lock_txns();
        // `id` came from `begin`, which pushed its record at `id - 1`, and
        // records are never removed; `get_mut` keeps that off the panic path.
        let index = usize::try_from(id - 1).unwrap_or(usize::MAX);
        if let Some(record) = txns.get_mut(index) {
            update(record);
        }
    }

    fn lock_txns(&self) -> MutexGuard<'_, Vec<TxnRecord>> {
        // Poisoned only if a client panicked while holding the lock; every
        // critical section is one push or one field update, so the record is
        // whole even then, and the test should still be able to check it.
        self.txns.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for HistoryRecorder {
    /// Only the size: a full history is thousands of lines.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("HistoryRecorder")
            .field("txns", &self.lock_txns().len())
            .finish()
    }
}

/// A transaction being recorded. Dropping it without [`PendingTxn::finish`]
/// leaves it [`TxnStatus::Unknown`].
#[derive(Debug)]
pub struct PendingTxn {
    recorder: HistoryRecorder,
    id: TxnId,
}

impl PendingTxn {
    /// The transaction's id in the history.
    pub fn id(&self) -> TxnId {
        self.id
    }

    /// Records an append the transaction made (buffered or sent: whether it
    /// took effect is decided by the status the transaction ends with).
    pub fn append(&self, key: impl Into<String>, value: u64) {
        self.push(MicroOp::append(key, value));
    }

    /// Records a read once its answer arrived; `None` if it never did.
    pub fn read(&self, key: impl Into<String>, list: Option<Vec<u64>>) {
        self.push(MicroOp::Read {
            key: key.into(),
            list,
        });
    }

    /// Records how the transaction ended. Say [`TxnStatus::Aborted`] only
    /// when the client knows no part of it can ever commit (for example its
    /// primary lock was rolled back); when in doubt, [`TxnStatus::Unknown`].
    pub fn finish(self, status: TxnStatus) {
        self.recorder
            .update(self.id, |record| record.status = status);
    }

    fn push(&self, op: MicroOp) {
        self.recorder.update(self.id, |record| record.ops.push(op));
    }
}
