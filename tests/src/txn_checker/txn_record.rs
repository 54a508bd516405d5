//! One transaction as its client saw it: a [`TxnRecord`] with its
//! [`TxnStatus`] and its [`MicroOp`]s, and how they print.
//!
//! Tests build records through [`History`](super::History), workloads
//! through [`HistoryRecorder`](super::HistoryRecorder); the checker reads
//! them. Plain data on the caller's thread: no locks, no I/O.

use std::fmt;

/// A transaction's name in a history. Histories hand ids out from 1, so a
/// report's `T3` is the third transaction begun.
pub type TxnId = u64;

/// How a transaction ended, as far as its client knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnStatus {
    /// The client saw the commit succeed: every append took effect.
    Committed,
    /// The client knows the transaction never committed and never will (it
    /// was rolled back, or failed before any write could be committed). No
    /// read may ever see its appends.
    Aborted,
    /// The client does not know: it timed out, or got an error that does not
    /// say whether the commit happened. Its appends may take effect or not.
    Unknown,
}

impl fmt::Display for TxnStatus {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            TxnStatus::Committed => "committed",
            TxnStatus::Aborted => "aborted",
            TxnStatus::Unknown => "unknown",
        })
    }
}

/// One step of a transaction over list-valued keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MicroOp {
    /// Append `value` to the list at `key`. A value is appended at most once
    /// per key in a whole history: that is what lets a read name its writers.
    Append { key: String, value: u64 },
    /// Read the list at `key`; `list` is `None` when the client never saw the
    /// answer.
    Read { key: String, list: Option<Vec<u64>> },
}

impl MicroOp {
    /// An append of `value` to `key`.
    pub fn append(key: impl Into<String>, value: u64) -> MicroOp {
        MicroOp::Append {
            key: key.into(),
            value,
        }
    }

    /// A read of `key` that returned `list`.
    pub fn read(key: impl Into<String>, list: &[u64]) -> MicroOp {
        MicroOp::Read {
            key: key.into(),
            list: Some(list.to_vec()),
        }
    }

    /// A read of `key` whose answer the client never saw.
    pub fn unobserved_read(key: impl Into<String>) -> MicroOp {
        MicroOp::Read {
            key: key.into(),
            list: None,
        }
    }

    /// The key this step reads or appends to.
    pub fn key(&self) -> &str {
        match self {
            MicroOp::Append { key, .. } | MicroOp::Read { key, .. } => key,
        }
    }
}

impl fmt::Display for MicroOp {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MicroOp::Append { key, value } => write!(formatter, "append({key}, {value})"),
            MicroOp::Read {
                key,
                list: Some(list),
            } => write!(formatter, "read({key}) = {}", ListDisplay(list)),
            MicroOp::Read { key, list: None } => write!(formatter, "read({key}) = ?"),
        }
    }
}

/// One transaction of a history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnRecord {
    /// Unique within its history.
    pub id: TxnId,
    /// How it ended, as far as the client knows.
    pub status: TxnStatus,
    /// Its steps in the order the client issued them.
    pub ops: Vec<MicroOp>,
}

impl fmt::Display for TxnRecord {
    /// `T3 committed: append(x, 1)  read(y) = [4, 5]`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "T{} {}:", self.id, self.status)?;
        for op in &self.ops {
            write!(formatter, "  {op}")?;
        }
        Ok(())
    }
}

/// A read list as `[1, 2, 3]`. Long lists keep their head and their tail,
/// which is where a report's edges point (a read's last element decides its
/// dependencies), and say how much was left out.
pub(super) struct ListDisplay<'a>(pub &'a [u64]);

impl ListDisplay<'_> {
    /// Lists up to this long print whole.
    const WHOLE_UP_TO: usize = 12;
    const HEAD: usize = 3;
    const TAIL: usize = 6;
}

impl fmt::Display for ListDisplay<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = self.0;
        let join = |elements: &[u64]| {
            elements
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        if list.len() <= Self::WHOLE_UP_TO {
            return write!(formatter, "[{}]", join(list));
        }
        let hidden = list.len() - Self::HEAD - Self::TAIL;
        write!(
            formatter,
            "[{}, … {hidden} more …, {}]",
            join(&list[..Self::HEAD]),
            join(&list[list.len() - Self::TAIL..])
        )
    }
}
