//! [`DependencyGraph`]: the transactions of a history as nodes, the ww, wr
//! and rw dependencies inferred between them as edges, and [`Dependency`],
//! the form an edge takes in a report.
//!
//! Built by [`check_transactions`](super::check_transactions) from what
//! `inference.rs` found; read by the strongly connected components and the
//! cycle search. Runs on the caller's thread.

use std::fmt;

use super::txn_record::TxnId;

/// Index of an interned key (see `inference.rs`).
pub(super) type KeyId = usize;

/// Why one transaction must come before another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DependencyKind {
    /// `from` appended an element, and `to` appended the very next element of
    /// the same key: `to` overwrote `from`'s version.
    WriteWrite,
    /// `to` read a list whose last element `from` appended: `to` saw
    /// `from`'s version.
    WriteRead,
    /// `from` read a list, and `to` appended the element right after that
    /// list's end: `to` overwrote the version `from` saw (an
    /// anti-dependency).
    ReadWrite,
}

impl DependencyKind {
    /// `ww`, `wr` or `rw`, as reports print it.
    pub fn short_name(self) -> &'static str {
        match self {
            DependencyKind::WriteWrite => "ww",
            DependencyKind::WriteRead => "wr",
            DependencyKind::ReadWrite => "rw",
        }
    }

    fn bit(self) -> u8 {
        match self {
            DependencyKind::WriteWrite => 1,
            DependencyKind::WriteRead => 2,
            DependencyKind::ReadWrite => 4,
        }
    }
}

/// A set of dependency kinds: which edges a search may follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct KindSet(u8);

impl KindSet {
    pub const WRITE_WRITE: KindSet = KindSet(1);
    pub const WRITE_WRITE_AND_READ: KindSet = KindSet(1 | 2);
    pub const ALL: KindSet = KindSet(1 | 2 | 4);

    pub fn contains(self, kind: DependencyKind) -> bool {
        self.0 & kind.bit() != 0
    }
}

/// One dependency between two transactions, as a report shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub from: TxnId,
    pub to: TxnId,
    pub kind: DependencyKind,
    /// The key whose version order gave the dependency.
    pub key: String,
    /// The element of `key` on `from`'s side: the one it appended (ww, wr),
    /// or the last one it read (rw; `None` when it read an empty list).
    pub from_element: Option<u64>,
    /// The element of `key` on `to`'s side: the one it appended (ww, rw), or
    /// the last one it read (wr: the same element as `from_element`).
    pub to_element: Option<u64>,
}

impl Dependency {
    /// Why the edge exists, in words: `T3 read x ending in 2; T7 appended 3
    /// right after it`.
    pub fn reason(&self) -> String {
        let element = |element: Option<u64>| element.map_or("?".to_string(), |e| e.to_string());
        let (from, to, key) = (self.from, self.to, &self.key);
        match self.kind {
            DependencyKind::WriteWrite => format!(
                "T{from} appended {} to {key}; T{to} appended {}, the next element",
                element(self.from_element),
                element(self.to_element)
            ),
            DependencyKind::WriteRead => format!(
                "T{to} read {key} ending in {}, which T{from} appended",
                element(self.to_element)
            ),
            DependencyKind::ReadWrite => match self.from_element {
                Some(read) => format!(
                    "T{from} read {key} ending in {read}; T{to} appended {}, the next element",
                    element(self.to_element)
                ),
                None => format!(
                    "T{from} read {key} empty; T{to} appended {}, its first element",
                    element(self.to_element)
                ),
            },
        }
    }
}

impl Dependency {
    /// The edge without its source, `-rw(x)-> T7`: a cycle prints as its
    /// first transaction followed by one arrow per edge.
    pub fn arrow(&self) -> String {
        format!("-{}({})-> T{}", self.kind.short_name(), self.key, self.to)
    }
}

impl fmt::Display for Dependency {
    /// `T3 -rw(x)-> T7`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "T{} {}", self.from, self.arrow())
    }
}

/// An edge out of a node; the node is the transaction's index in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Edge {
    pub to: usize,
    pub kind: DependencyKind,
    pub key: KeyId,
    /// See [`Dependency::from_element`].
    pub from_element: Option<u64>,
    /// See [`Dependency::to_element`].
    pub to_element: Option<u64>,
}

/// Adjacency lists over transaction indices.
#[derive(Debug)]
pub(super) struct DependencyGraph {
    outgoing: Vec<Vec<Edge>>,
}

impl DependencyGraph {
    /// A graph of `node_count` nodes with the given `(from, edge)` pairs. Of
    /// several edges of one kind between the same two nodes only the first is
    /// kept: more say nothing new about the order, and they would multiply
    /// the work of every search.
    pub fn new(node_count: usize, edges: Vec<(usize, Edge)>) -> DependencyGraph {
        let mut outgoing = vec![Vec::new(); node_count];
        for (from, edge) in edges {
            if let Some(list) = outgoing.get_mut(from) {
                list.push(edge);
            }
        }
        for list in &mut outgoing {
            // A stable sort keeps the first of equal edges first for dedup.
            list.sort_by_key(|edge| (edge.to, edge.kind));
            list.dedup_by_key(|edge| (edge.to, edge.kind));
        }
        DependencyGraph { outgoing }
    }

    pub fn node_count(&self) -> usize {
        self.outgoing.len()
    }

    /// The edges out of `node`; none for a node out of range.
    pub fn edges(&self, node: usize) -> &[Edge] {
        self.outgoing.get(node).map_or(&[], Vec::as_slice)
    }

    /// How many edges of `kind` the graph holds.
    pub fn count(&self, kind: DependencyKind) -> usize {
        self.outgoing
            .iter()
            .flatten()
            .filter(|edge| edge.kind == kind)
            .count()
    }
}
