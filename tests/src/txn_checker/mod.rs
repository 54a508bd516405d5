//! A transaction-anomaly checker for list-append histories, in the style of
//! Jepsen's Elle (Kingsbury & Alvaro, "Elle: Inferring Isolation Anomalies
//! from Experimental Observations", VLDB 2020).
//!
//! It owns the history model ([`History`], [`TxnRecord`], [`MicroOp`],
//! [`TxnStatus`]), the thread-safe [`HistoryRecorder`] that a transactional
//! workload fills from its client threads, and the check itself,
//! [`check_transactions`], which the workload's test thread calls once the
//! clients have stopped. The check runs on its caller's thread and starts
//! none.
//!
//! # The idea
//!
//! Every key holds a list, and transactions append unique elements to lists
//! and read whole lists. A read of `[1, 2, 3]` then says much more than a
//! read of a register would: the key passed through `[]`, `[1]`, `[1, 2]`
//! and `[1, 2, 3]`, in that order, so the longest list read of a key is its
//! *version order*, and since every element names the transaction that
//! appended it, the checker can infer which transaction came before which:
//!
//! * `T1 -ww-> T2`: T2 appended the element right after T1's;
//! * `T1 -wr-> T2`: T2 read a list ending in T1's element;
//! * `T1 -rw-> T2`: T1 read a list, and T2 appended the next element after
//!   its end (T2 overwrote what T1 saw).
//!
//! Snapshot isolation forbids any cycle of these dependencies with fewer
//! than two rw edges: G0 (ww only), G1c (ww and wr, at least one wr) and
//! G-single (exactly one rw). It allows cycles of two or more rw edges (G2,
//! e.g. write skew), which this checker therefore does not report. Some
//! anomalies need no cycle: reading an aborted transaction's element (G1a),
//! reading a transaction half done (G1b), reading an element nobody appended,
//! reads that disagree on the order, or an append applied twice.
//!
//! Real-time and per-client order are not used: snapshot isolation does not
//! promise that a transaction sees everything that finished before it
//! began.
//!
//! `docs/txn-checker.md` explains each anomaly with a small history, and how
//! to read a report. The files:
//!
//! | file | owns |
//! |---|---|
//! | `txn_record.rs` | [`TxnRecord`], [`MicroOp`], [`TxnStatus`] |
//! | `history.rs` | [`History`], the builder tests use |
//! | `recorder.rs` | [`HistoryRecorder`] and [`PendingTxn`], for concurrent workloads |
//! | `inference.rs` | writers, graph membership, version orders, dependencies, single-read anomalies |
//! | `dependency_graph.rs` | the graph, [`Dependency`], [`DependencyKind`] |
//! | `scc.rs` | Tarjan's strongly connected components |
//! | `cycle_search.rs` | the shortest G0, G1c and G-single cycles |
//! | `anomaly.rs`, `check_result.rs` | [`Anomaly`], [`AnomalyKind`], [`CheckResult`] and how they print |
//!
//! # How tests use it
//!
//! ```text
//! let recorder = HistoryRecorder::new();
//! // in each client thread, for every transaction:
//! let txn = recorder.begin();
//! txn.read("x", Some(list_the_client_got));
//! txn.append("y", unique_value);
//! txn.finish(TxnStatus::Committed); // Aborted when rolled back; drop it when unsure
//! // after the clients stopped:
//! let result = check_transactions(&recorder.history());
//! assert!(result.is_ok(), "{result}");
//! ```

mod anomaly;
mod check_result;
mod cycle_search;
mod dependency_graph;
mod history;
mod inference;
mod recorder;
mod scc;
mod txn_record;

#[cfg(test)]
mod tests;

pub use anomaly::{Anomaly, AnomalyKind};
pub use check_result::{CheckResult, CheckStats};
pub use dependency_graph::{Dependency, DependencyKind};
pub use history::History;
pub use recorder::{HistoryRecorder, PendingTxn};
pub use txn_record::{MicroOp, TxnId, TxnRecord, TxnStatus};

use cycle_search::CycleSearch;
use dependency_graph::DependencyGraph;
use inference::Inference;

/// Checks `history` for the anomalies snapshot isolation forbids and returns
/// them all, ordered by kind. Linear in the size of the history when it is
/// clean; see `cycle_search.rs` for what a dirty one costs.
pub fn check_transactions(history: &History) -> CheckResult {
    let txns = history.txns();
    let inference = Inference::of(history);
    let graph = DependencyGraph::new(txns.len(), inference.dependencies);
    let mut anomalies = inference.anomalies;

    for cycle in CycleSearch::new(&graph).find_all() {
        let dependencies: Vec<Dependency> = cycle
            .steps
            .iter()
            .map(|&(from, edge)| Dependency {
                from: txns[from].id,
                to: txns[edge.to].id,
                kind: edge.kind,
                key: inference
                    .keys
                    .get(edge.key)
                    .map_or_else(String::new, |key| key.to_string()),
                from_element: edge.from_element,
                to_element: edge.to_element,
            })
            .collect();
        let members = cycle
            .steps
            .iter()
            .map(|&(from, _)| txns[from].clone())
            .collect();
        anomalies.push(Anomaly::from_cycle(cycle.kind, dependencies, members));
    }
    // Stable: within a kind, the order they were found (by key, then history).
    anomalies.sort_by_key(|anomaly| anomaly.kind);

    CheckResult {
        anomalies,
        stats: CheckStats {
            txns: txns.len(),
            graph_txns: inference
                .in_graph
                .iter()
                .filter(|&&in_graph| in_graph)
                .count(),
            write_write: graph.count(DependencyKind::WriteWrite),
            write_read: graph.count(DependencyKind::WriteRead),
            read_write: graph.count(DependencyKind::ReadWrite),
        },
    }
}
