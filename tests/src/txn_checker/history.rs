//! [`History`]: the transactions of one test run, in id order, ready to be
//! checked.
//!
//! Hand-made tests build one directly (`History::committed`, ...); a
//! concurrent workload fills a [`HistoryRecorder`](super::HistoryRecorder)
//! and takes its `history()`. Plain data on the caller's thread.

use super::check_result::CheckResult;
use super::txn_record::{MicroOp, TxnId, TxnRecord, TxnStatus};

/// The transactions of a run, in id order, ids handed out from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    txns: Vec<TxnRecord>,
    next_id: TxnId,
}

impl History {
    /// An empty history; its first transaction will be `T1`.
    pub fn new() -> History {
        History {
            txns: Vec::new(),
            next_id: 1,
        }
    }

    /// Adds a transaction with the next id and returns that id.
    pub fn add(&mut self, status: TxnStatus, ops: Vec<MicroOp>) -> TxnId {
        let id = self.next_id;
        self.next_id += 1;
        self.txns.push(TxnRecord { id, status, ops });
        id
    }

    /// Adds a transaction whose commit succeeded.
    pub fn committed(&mut self, ops: Vec<MicroOp>) -> TxnId {
        self.add(TxnStatus::Committed, ops)
    }

    /// Adds a transaction that was rolled back.
    pub fn aborted(&mut self, ops: Vec<MicroOp>) -> TxnId {
        self.add(TxnStatus::Aborted, ops)
    }

    /// Adds a transaction whose client never learned how it ended.
    pub fn unknown(&mut self, ops: Vec<MicroOp>) -> TxnId {
        self.add(TxnStatus::Unknown, ops)
    }

    /// The transactions, in id order.
    pub fn txns(&self) -> &[TxnRecord] {
        &self.txns
    }

    /// How many transactions there are.
    pub fn len(&self) -> usize {
        self.txns.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.txns.is_empty()
    }

    /// Checks this history; see [`check_transactions`](super::check_transactions).
    pub fn check(&self) -> CheckResult {
        super::check_transactions(self)
    }

    /// A history of records whose ids the recorder handed out: unique, so
    /// sorting by id gives the order they were begun in.
    pub(super) fn from_records(mut txns: Vec<TxnRecord>) -> History {
        txns.sort_by_key(|txn| txn.id);
        let next_id = txns.last().map_or(1, |txn| txn.id + 1);
        History { txns, next_id }
    }
}

impl Default for History {
    fn default() -> History {
        History::new()
    }
}
