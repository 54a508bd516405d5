//! [`Anomaly`]: one thing the checker found wrong with a history, with its
//! [`AnomalyKind`], the offending transactions and, for a cycle, the
//! dependencies around it.
//!
//! Built on the caller's thread by `inference.rs` (anomalies seen in single
//! reads) and by `check_transactions` (cycles); printed for a student to
//! read.

use std::fmt;

use super::dependency_graph::{Dependency, DependencyKind};
use super::txn_record::{TxnId, TxnRecord};

/// What kind of anomaly. All of them are forbidden under snapshot
/// isolation; G2 (a cycle with two or more rw edges, such as write skew) is
/// allowed there and never reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnomalyKind {
    /// A cycle of ww edges only: two transactions' writes interleaved.
    G0,
    /// Aborted read: a transaction saw an element an aborted transaction
    /// appended.
    G1a,
    /// Intermediate read: a transaction saw a list ending in an element that
    /// its writer followed with another append to the same key.
    G1b,
    /// Circular information flow: a cycle of ww and wr edges with at least
    /// one wr.
    G1c,
    /// Read skew: a cycle with exactly one rw edge, the rest ww or wr.
    GSingle,
    /// Two appends of the same element to one key. The history breaks the
    /// checker's assumption of unique values (a workload bug), so reads of
    /// that element cannot be traced to one writer.
    DuplicateAppend,
    /// A read holds the same element twice: one append took effect twice.
    DuplicateElements,
    /// Two reads of one key where neither is a prefix of the other: no single
    /// order of appends explains both.
    IncompatibleOrder,
    /// A read holds an element that no transaction appended.
    GarbageRead,
}

impl AnomalyKind {
    /// Its name in reports: `G0`, `G1a`, `G1b`, `G1c`, `G-single`,
    /// `duplicate-append`, `duplicate-elements`, `incompatible-order`,
    /// `garbage-read`.
    pub fn name(self) -> &'static str {
        match self {
            AnomalyKind::G0 => "G0",
            AnomalyKind::G1a => "G1a",
            AnomalyKind::G1b => "G1b",
            AnomalyKind::G1c => "G1c",
            AnomalyKind::GSingle => "G-single",
            AnomalyKind::DuplicateAppend => "duplicate-append",
            AnomalyKind::DuplicateElements => "duplicate-elements",
            AnomalyKind::IncompatibleOrder => "incompatible-order",
            AnomalyKind::GarbageRead => "garbage-read",
        }
    }

    /// What it means, in a few words.
    pub fn meaning(self) -> &'static str {
        match self {
            AnomalyKind::G0 => "write cycle",
            AnomalyKind::G1a => "aborted read",
            AnomalyKind::G1b => "intermediate read",
            AnomalyKind::G1c => "circular information flow",
            AnomalyKind::GSingle => "read skew",
            AnomalyKind::DuplicateAppend => "the same element appended twice",
            AnomalyKind::DuplicateElements => "an append took effect twice",
            AnomalyKind::IncompatibleOrder => "reads disagree on the order of appends",
            AnomalyKind::GarbageRead => "read an element nobody appended",
        }
    }

    /// Whether this kind is a dependency cycle (G0, G1c, G-single).
    pub fn is_cycle(self) -> bool {
        matches!(
            self,
            AnomalyKind::G0 | AnomalyKind::G1c | AnomalyKind::GSingle
        )
    }
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// One anomaly and the transactions to blame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    /// One line: the cycle as `T3 -rw(x)-> T7 -wr(y)-> T3`, or what was seen.
    pub summary: String,
    /// The dependencies around the cycle, in order, the last leading back to
    /// the first transaction; empty for kinds that are not cycles.
    pub cycle: Vec<Dependency>,
    /// The offending transactions with their steps, in the order the
    /// summary names them.
    pub txns: Vec<TxnRecord>,
}

impl Anomaly {
    /// An anomaly seen without a cycle, in one or two reads.
    pub(super) fn seen(kind: AnomalyKind, summary: String, txns: Vec<TxnRecord>) -> Anomaly {
        Anomaly {
            kind,
            summary,
            cycle: Vec::new(),
            txns,
        }
    }

    /// A cycle anomaly; `txns` are the transactions the cycle leaves, in order.
    pub(super) fn from_cycle(
        kind: AnomalyKind,
        cycle: Vec<Dependency>,
        txns: Vec<TxnRecord>,
    ) -> Anomaly {
        let mut summary = cycle
            .first()
            .map_or_else(String::new, |first| format!("T{}", first.from));
        for dependency in &cycle {
            summary.push(' ');
            summary.push_str(&dependency.arrow());
        }
        Anomaly {
            kind,
            summary,
            cycle,
            txns,
        }
    }

    /// The ids of the offending transactions, in the order they are named.
    pub fn txn_ids(&self) -> Vec<TxnId> {
        self.txns.iter().map(|txn| txn.id).collect()
    }

    /// How many edges of `kind` the cycle has (0 for kinds that are not cycles).
    pub fn count_edges(&self, kind: DependencyKind) -> usize {
        self.cycle
            .iter()
            .filter(|dependency| dependency.kind == kind)
            .count()
    }
}

impl fmt::Display for Anomaly {
    /// The kind and summary, then each offending transaction with its steps,
    /// then why each edge of a cycle exists:
    ///
    /// ```text
    /// G-single (read skew): T3 -rw(x)-> T7 -wr(y)-> T3
    ///     T3 committed:  read(x) = [1, 2]  read(y) = [9]
    ///     T7 committed:  append(x, 3)  append(y, 9)
    ///   because
    ///     T3 -rw(x)-> T7: T3 read x ending in 2; T7 appended 3, the next element
    ///     T7 -wr(y)-> T3: T3 read y ending in 9, which T7 appended
    /// ```
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            formatter,
            "{} ({}): {}",
            self.kind,
            self.kind.meaning(),
            self.summary
        )?;
        for txn in &self.txns {
            writeln!(formatter, "    {txn}")?;
        }
        if !self.cycle.is_empty() {
            writeln!(formatter, "  because")?;
            for dependency in &self.cycle {
                writeln!(formatter, "    {dependency}: {}", dependency.reason())?;
            }
        }
        Ok(())
    }
}
