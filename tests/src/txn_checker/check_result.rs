//! [`CheckResult`]: what [`check_transactions`](super::check_transactions)
//! returns: the anomalies found and [`CheckStats`], how much the checker had
//! to work with. Built and read on the caller's thread.

use std::fmt;

use super::anomaly::{Anomaly, AnomalyKind};

/// Counts that say how much the checker had to work with: a check that
/// found nothing is only convincing if it saw many dependencies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckStats {
    /// Transactions in the history.
    pub txns: usize,
    /// Transactions in the dependency graph: the committed ones, and those of
    /// unknown outcome whose appends a committed transaction read.
    pub graph_txns: usize,
    /// Distinct edges of each kind.
    pub write_write: usize,
    pub write_read: usize,
    pub read_write: usize,
}

/// What the checker found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// Every anomaly found, ordered by kind; empty means the history is
    /// consistent with snapshot isolation as far as the reads show.
    pub anomalies: Vec<Anomaly>,
    pub stats: CheckStats,
}

impl CheckResult {
    /// Whether no anomaly was found.
    pub fn is_ok(&self) -> bool {
        self.anomalies.is_empty()
    }

    /// The kinds found, each once, in order.
    pub fn kinds(&self) -> Vec<AnomalyKind> {
        let mut kinds: Vec<AnomalyKind> = self.anomalies.iter().map(|a| a.kind).collect();
        kinds.dedup();
        kinds
    }

    /// The anomalies of one kind.
    pub fn of_kind(&self, kind: AnomalyKind) -> Vec<&Anomaly> {
        self.anomalies.iter().filter(|a| a.kind == kind).collect()
    }
}

impl fmt::Display for CheckResult {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stats = &self.stats;
        write!(
            formatter,
            "{} {} in {} txns ({} in the dependency graph; {} ww, {} wr, {} rw edges)",
            self.anomalies.len(),
            if self.anomalies.len() == 1 {
                "anomaly"
            } else {
                "anomalies"
            },
            stats.txns,
            stats.graph_txns,
            stats.write_write,
            stats.write_read,
            stats.read_write
        )?;
        for anomaly in &self.anomalies {
            write!(formatter, "\n{anomaly}")?;
        }
        Ok(())
    }
}
