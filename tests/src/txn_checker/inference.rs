//! [`Inference`]: from a [`History`] to what the cycle search needs, plus the
//! anomalies that single reads already show.
//!
//! Called once per check by [`check_transactions`](super::check_transactions)
//! on the caller's thread. It decides:
//!
//! * **who wrote what**: every `(key, element)` names its appending
//!   transaction, because elements are unique per key (a second append of one
//!   element is a `duplicate-append`);
//! * **which transactions are in the graph**: the committed ones, and those of
//!   unknown outcome whose appends some committed transaction read (a read
//!   proves the append took effect). Aborted transactions and unknown ones
//!   nobody saw are left out, reads and all: Adya's anomalies are about
//!   transactions that committed;
//! * **each key's version order**: the longest list any graph transaction read
//!   of it, once every other read of the key is checked to be a prefix of it
//!   (a list only grows by appends, so every state the key passed through is
//!   a prefix of its latest one; otherwise `incompatible-order`);
//! * **the anomalies of single reads**: an element nobody appended
//!   (`garbage-read`), one an aborted transaction appended (G1a), one twice
//!   in a list (`duplicate-elements`), and a read ending in an element its
//!   writer followed with another append to the key (G1b);
//! * **the dependencies**, along each key's version order restricted to
//!   graph transactions' elements: ww between the writers of consecutive
//!   elements; wr from the writer of a read's last element to the reader; rw
//!   from the reader to the writer of the element after the read's end.
//!
//! Most reads are prefixes of a longer one, so the per-element work (hash
//! look-ups of writers) is done once per element of each key's longest read,
//! not once per element of every read: a long-running workload's reads hold
//! thousands of elements each.

use std::collections::{HashMap, HashSet};

use super::anomaly::{Anomaly, AnomalyKind};
use super::dependency_graph::{DependencyKind, Edge, KeyId};
use super::history::History;
use super::txn_record::{ListDisplay, MicroOp, TxnRecord, TxnStatus};

/// Who appended an element.
#[derive(Debug, Clone, Copy)]
struct Writer {
    /// The transaction's index in the history.
    txn: usize,
    /// Whether this was the transaction's last append to the key: a read
    /// ending in any earlier one saw the transaction half done.
    last_of_txn: bool,
}

/// A read whose answer the client saw: the reader's index and the list.
#[derive(Debug, Clone, Copy)]
struct SeenRead<'h> {
    txn: usize,
    list: &'h [u64],
}

/// What the inference found.
#[derive(Debug)]
pub(super) struct Inference<'h> {
    /// The keys, by [`KeyId`].
    pub keys: Vec<&'h str>,
    /// Whether each transaction (by index) is a node of the graph.
    pub in_graph: Vec<bool>,
    /// Every dependency as `(from, edge)`, duplicates included.
    pub dependencies: Vec<(usize, Edge)>,
    /// Anomalies seen in single reads or pairs of reads.
    pub anomalies: Vec<Anomaly>,
}

impl<'h> Inference<'h> {
    /// Runs the whole inference over `history`.
    pub fn of(history: &'h History) -> Inference<'h> {
        let txns = history.txns();
        let mut builder = Builder {
            txns,
            key_ids: HashMap::new(),
            keys: Vec::new(),
            writers: HashMap::new(),
            reads_by_key: Vec::new(),
            in_graph: txns
                .iter()
                .map(|txn| txn.status == TxnStatus::Committed)
                .collect(),
            dependencies: Vec::new(),
            anomalies: Vec::new(),
            reported: HashMap::new(),
        };
        builder.index_appends();
        builder.index_reads();
        builder.add_seen_unknown_txns();
        for key in 0..builder.keys.len() {
            builder.infer_key(key);
        }
        builder.count_repeats_in_summaries();
        Inference {
            keys: builder.keys,
            in_graph: builder.in_graph,
            dependencies: builder.dependencies,
            anomalies: builder.anomalies,
        }
    }
}

struct Builder<'h> {
    txns: &'h [TxnRecord],
    key_ids: HashMap<&'h str, KeyId>,
    keys: Vec<&'h str>,
    writers: HashMap<(KeyId, u64), Writer>,
    /// Reads whose answer was seen, of transactions that did not abort, per
    /// key, in history order.
    reads_by_key: Vec<Vec<SeenRead<'h>>>,
    in_graph: Vec<bool>,
    dependencies: Vec<(usize, Edge)>,
    anomalies: Vec<Anomaly>,
    /// Per kind and key reported: the report's index in `anomalies`, and how
    /// many more instances were found after it.
    reported: HashMap<(AnomalyKind, KeyId), (usize, usize)>,
}

impl<'h> Builder<'h> {
    fn key_id(&mut self, key: &'h str) -> KeyId {
        if let Some(&id) = self.key_ids.get(key) {
            return id;
        }
        let id = self.keys.len();
        self.keys.push(key);
        self.key_ids.insert(key, id);
        self.reads_by_key.push(Vec::new());
        id
    }

    /// Records the writer of every appended element; reports elements
    /// appended twice (the first writer keeps them).
    fn index_appends(&mut self) {
        for (txn_index, txn) in self.txns.iter().enumerate() {
            // Which append is the transaction's last to each key: walk back.
            let mut keys_seen_from_end: Vec<&str> = Vec::new();
            let mut is_last: Vec<bool> = vec![false; txn.ops.len()];
            for (op_index, op) in txn.ops.iter().enumerate().rev() {
                if let MicroOp::Append { key, .. } = op {
                    if !keys_seen_from_end.contains(&key.as_str()) {
                        keys_seen_from_end.push(key);
                        is_last[op_index] = true;
                    }
                }
            }
            for (op_index, op) in txn.ops.iter().enumerate() {
                let MicroOp::Append { key, value } = op else {
                    continue;
                };
                let key_id = self.key_id(key);
                let writer = Writer {
                    txn: txn_index,
                    last_of_txn: is_last[op_index],
                };
                if let Some(first) = self.writers.get(&(key_id, *value)).copied() {
                    if self.is_repeat(AnomalyKind::DuplicateAppend, key_id) {
                        continue;
                    }
                    let summary = if first.txn == txn_index {
                        format!("T{} appends {value} to {key} twice", txn.id)
                    } else {
                        format!(
                            "T{} and T{} both append {value} to {key}: elements must be unique \
                             per key, or a read cannot name its writer",
                            self.txns[first.txn].id, txn.id
                        )
                    };
                    self.report(
                        AnomalyKind::DuplicateAppend,
                        key_id,
                        summary,
                        &[first.txn, txn_index],
                    );
                    continue;
                }
                self.writers.insert((key_id, *value), writer);
            }
        }
    }

    /// Collects the seen reads of every transaction that did not abort.
    fn index_reads(&mut self) {
        let txns = self.txns;
        for (txn_index, txn) in txns.iter().enumerate() {
            if txn.status == TxnStatus::Aborted {
                continue;
            }
            for op in &txn.ops {
                if let MicroOp::Read {
                    key,
                    list: Some(list),
                } = op
                {
                    let key_id = self.key_id(key);
                    self.reads_by_key[key_id].push(SeenRead {
                        txn: txn_index,
                        list,
                    });
                }
            }
        }
    }

    /// Puts into the graph every transaction of unknown outcome whose append
    /// a committed transaction read: it must have committed.
    fn add_seen_unknown_txns(&mut self) {
        for key in 0..self.keys.len() {
            let committed_reads: Vec<SeenRead<'h>> = self.reads_by_key[key]
                .iter()
                .copied()
                .filter(|read| self.txns[read.txn].status == TxnStatus::Committed)
                .collect();
            let Some(longest) = longest_read(&committed_reads) else {
                continue;
            };
            // All reads prefixes of the longest: its elements are all of them.
            // Otherwise (reported as incompatible-order later) look at each.
            let lists: Vec<&[u64]> = if is_prefix_of_all(&committed_reads, longest) {
                vec![longest.list]
            } else {
                committed_reads.iter().map(|read| read.list).collect()
            };
            for value in lists.into_iter().flatten() {
                if let Some(writer) = self.writers.get(&(key, *value)) {
                    if self.txns[writer.txn].status == TxnStatus::Unknown {
                        self.in_graph[writer.txn] = true;
                    }
                }
            }
        }
    }

    /// Checks the reads of one key, and adds its dependencies when its
    /// version order is known.
    fn infer_key(&mut self, key: KeyId) {
        let reads: Vec<SeenRead<'h>> = self.reads_by_key[key]
            .iter()
            .copied()
            .filter(|read| self.in_graph[read.txn])
            .collect();
        self.check_intermediate_reads(key, &reads);
        let Some(longest) = longest_read(&reads) else {
            return;
        };
        if let Some(other) = reads
            .iter()
            .find(|read| !longest.list.starts_with(read.list))
        {
            let disagreeing = reads
                .iter()
                .filter(|read| !longest.list.starts_with(read.list))
                .count();
            let key_name = self.keys[key];
            let others = if disagreeing == 1 {
                "no other read disagrees".to_string()
            } else {
                format!("{disagreeing} reads of {key_name} disagree with the longest")
            };
            let summary = format!(
                "T{} read {key_name} = {} and T{} read {key_name} = {}: neither is a prefix of \
                 the other ({others})",
                self.txns[longest.txn].id,
                ListDisplay(longest.list),
                self.txns[other.txn].id,
                ListDisplay(other.list)
            );
            self.report(
                AnomalyKind::IncompatibleOrder,
                key,
                summary,
                &[longest.txn, other.txn],
            );
            for read in &reads {
                self.check_elements(key, read.list, &[*read]);
            }
            return;
        }
        // Every read is a prefix of the longest: checking its elements checks
        // them all, and blames the first read that reached each element.
        if self.check_elements(key, longest.list, &reads) {
            self.add_dependencies(key, longest.list, &reads);
        }
    }

    /// Reports garbage, aborted (G1a) and repeated elements in `list`, naming
    /// as reader the first of `reads` that reached the element. Returns
    /// whether no element repeats: only then does `list` give an order.
    fn check_elements(&mut self, key: KeyId, list: &[u64], reads: &[SeenRead<'h>]) -> bool {
        let mut seen = HashSet::with_capacity(list.len());
        let mut no_repeats = true;
        for (position, &value) in list.iter().enumerate() {
            let repeated = !seen.insert(value);
            no_repeats &= !repeated;
            let writer = self.writers.get(&(key, value)).copied();
            let aborted_writer = writer.filter(|w| self.txns[w.txn].status == TxnStatus::Aborted);
            let kinds = [
                (repeated, AnomalyKind::DuplicateElements),
                (writer.is_none(), AnomalyKind::GarbageRead),
                (aborted_writer.is_some(), AnomalyKind::G1a),
            ];
            let mut new_kinds = Vec::new();
            for (found, kind) in kinds {
                if found && !self.is_repeat(kind, key) {
                    new_kinds.push(kind);
                }
            }
            if new_kinds.is_empty() {
                continue;
            }
            // Searched only for a newly reported element: a search per
            // element would make the check quadratic. One of `reads` always
            // reaches it (the longest read, or the only one).
            let Some(reader) = reads
                .iter()
                .find(|read| read.list.len() > position)
                .copied()
            else {
                continue;
            };
            let key_name = self.keys[key];
            let reader_id = self.txns[reader.txn].id;
            let list = ListDisplay(reader.list);
            for kind in new_kinds {
                match (kind, aborted_writer) {
                    (AnomalyKind::G1a, Some(aborted)) => {
                        let summary = format!(
                            "T{reader_id} read {key_name} = {list}, but {value} was appended by \
                             T{}, which aborted",
                            self.txns[aborted.txn].id
                        );
                        self.report(kind, key, summary, &[aborted.txn, reader.txn]);
                    }
                    (AnomalyKind::DuplicateElements, _) => {
                        let summary = format!(
                            "T{reader_id} read {key_name} = {list}, which holds {value} twice"
                        );
                        self.report(kind, key, summary, &[reader.txn]);
                    }
                    _ => {
                        let summary = format!(
                            "T{reader_id} read {key_name} = {list}, but no transaction appended \
                             {value}"
                        );
                        self.report(kind, key, summary, &[reader.txn]);
                    }
                }
            }
        }
        no_repeats
    }

    /// Reports G1b: a read ending in an element its writer (another
    /// transaction, not aborted: that is G1a) followed with another append
    /// to the same key.
    fn check_intermediate_reads(&mut self, key: KeyId, reads: &[SeenRead<'h>]) {
        for read in reads {
            let Some(&last) = read.list.last() else {
                continue;
            };
            let Some(writer) = self.writers.get(&(key, last)).copied() else {
                continue;
            };
            if writer.last_of_txn
                || writer.txn == read.txn
                || self.txns[writer.txn].status == TxnStatus::Aborted
            {
                continue;
            }
            if self.is_repeat(AnomalyKind::G1b, key) {
                continue;
            }
            let summary = format!(
                "T{} read {} = {}, ending in {last}, which T{} followed with another append \
                 to {}",
                self.txns[read.txn].id,
                self.keys[key],
                ListDisplay(read.list),
                self.txns[writer.txn].id,
                self.keys[key]
            );
            self.report(AnomalyKind::G1b, key, summary, &[writer.txn, read.txn]);
        }
    }

    /// Adds the ww, wr and rw edges of `key`, whose version order is
    /// `longest` and of which every read in `reads` is a prefix.
    fn add_dependencies(&mut self, key: KeyId, longest: &[u64], reads: &[SeenRead<'h>]) {
        // The version order of the graph's transactions: garbage and aborted
        // elements (already reported) say nothing about who came first.
        let mut order: Vec<(u64, usize)> = Vec::new();
        // How many elements of `order` lie among the first n of `longest`.
        let mut order_length_within: Vec<usize> = Vec::with_capacity(longest.len() + 1);
        order_length_within.push(0);
        for &value in longest {
            if let Some(writer) = self.writers.get(&(key, value)) {
                if self.in_graph[writer.txn] {
                    order.push((value, writer.txn));
                }
            }
            order_length_within.push(order.len());
        }

        for pair in order.windows(2) {
            let ((previous, previous_writer), (next, next_writer)) = (pair[0], pair[1]);
            if previous_writer != next_writer {
                self.depend(
                    previous_writer,
                    next_writer,
                    DependencyKind::WriteWrite,
                    key,
                    Some(previous),
                    Some(next),
                );
            }
        }

        for read in reads {
            let seen = order_length_within
                .get(read.list.len())
                .copied()
                .unwrap_or(0);
            let last_seen = seen.checked_sub(1).and_then(|index| order.get(index));
            if let Some(&(value, writer)) = last_seen {
                if writer == read.txn {
                    // It read its own append: whoever appended next depends
                    // on it by a ww edge already.
                    continue;
                }
                self.depend(
                    writer,
                    read.txn,
                    DependencyKind::WriteRead,
                    key,
                    Some(value),
                    Some(value),
                );
            }
            if let Some(&(next, next_writer)) = order.get(seen) {
                if next_writer != read.txn {
                    self.depend(
                        read.txn,
                        next_writer,
                        DependencyKind::ReadWrite,
                        key,
                        last_seen.map(|&(value, _)| value),
                        Some(next),
                    );
                }
            }
        }
    }

    fn depend(
        &mut self,
        from: usize,
        to: usize,
        kind: DependencyKind,
        key: KeyId,
        from_element: Option<u64>,
        to_element: Option<u64>,
    ) {
        self.dependencies.push((
            from,
            Edge {
                to,
                kind,
                key,
                from_element,
                to_element,
            },
        ));
    }

    /// Appends "(and N more on key)" to each report that had repeats.
    fn count_repeats_in_summaries(&mut self) {
        for (&(_, key), &(index, more)) in &self.reported {
            if let Some(anomaly) = self.anomalies.get_mut(index).filter(|_| more > 0) {
                anomaly
                    .summary
                    .push_str(&format!(" (and {more} more on {})", self.keys[key]));
            }
        }
    }

    /// Whether `kind` was reported on `key` already; if so, counts one more
    /// instance instead, so a broken key yields one report, not thousands.
    fn is_repeat(&mut self, kind: AnomalyKind, key: KeyId) -> bool {
        match self.reported.get_mut(&(kind, key)) {
            Some((_, more)) => {
                *more += 1;
                true
            }
            None => false,
        }
    }

    /// Adds an anomaly: the first of its kind on `key` (see `is_repeat`).
    fn report(&mut self, kind: AnomalyKind, key: KeyId, summary: String, txn_indices: &[usize]) {
        self.reported.insert((kind, key), (self.anomalies.len(), 0));
        let mut txns: Vec<TxnRecord> = Vec::with_capacity(txn_indices.len());
        for &index in txn_indices {
            let txn = &self.txns[index];
            if !txns.iter().any(|named| named.id == txn.id) {
                txns.push(txn.clone());
            }
        }
        self.anomalies.push(Anomaly::seen(kind, summary, txns));
    }
}

/// The longest of `reads`; the first of equally long ones.
fn longest_read<'h>(reads: &[SeenRead<'h>]) -> Option<SeenRead<'h>> {
    reads.iter().copied().reduce(|best, read| {
        if read.list.len() > best.list.len() {
            read
        } else {
            best
        }
    })
}

fn is_prefix_of_all(reads: &[SeenRead<'_>], longest: SeenRead<'_>) -> bool {
    reads.iter().all(|read| longest.list.starts_with(read.list))
}
