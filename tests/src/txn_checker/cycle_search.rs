//! [`CycleSearch`]: finds a concrete, short cycle for each cyclic anomaly
//! class (G0, G1c, G-single) in the [`DependencyGraph`].
//!
//! Called by [`check_transactions`](super::check_transactions) on the
//! caller's thread, after the graph is built. The search is split so that a
//! clean history costs linear time and a dirty one stays cheap:
//!
//! 1. Tarjan's strongly connected components over all edges: no component of
//!    two or more transactions, no cycle, done.
//! 2. G0 is a cycle of ww edges only, so it exists exactly when the graph of
//!    ww edges has a cyclic component; G1c (ww and wr edges, at least one wr)
//!    exactly when a component of the ww+wr graph holds a wr edge between two
//!    of its members. For each such component a breadth-first search from
//!    the head of a candidate edge back to its tail closes a shortest cycle
//!    through that edge; a few candidates are tried and the shortest cycle
//!    kept.
//! 3. G-single is a cycle of exactly one rw edge `a -rw-> b` closed by a
//!    ww/wr path from `b` back to `a`. Trying a breadth-first search per rw
//!    edge would cost (rw edges) × (graph size) on a large snapshot-isolated
//!    history full of harmless write-skew cycles. Instead, inside each cyclic
//!    component, the ww+wr components are condensed into a DAG, which set of
//!    them each one reaches is computed once as bit sets (in chunks, to bound
//!    memory), and every rw edge is answered in constant time; only edges
//!    that do close a cycle get a breadth-first search.
//!
//! One cycle is reported per component and class: enough to fail a test and
//! show a student a concrete case, without listing every cycle of a
//! component (there can be exponentially many).

use std::collections::VecDeque;

use super::anomaly::AnomalyKind;
use super::dependency_graph::{DependencyGraph, DependencyKind, Edge, KindSet};
use super::scc::StronglyConnectedComponents;

/// How many candidate edges of one component are tried, keeping the
/// shortest cycle; bounded so a huge component cannot make the search
/// quadratic.
const CANDIDATES_PER_COMPONENT: usize = 16;

/// How many target components one pass of the G-single reachability tracks:
/// 4096 bits a row, so a pass over ten thousand components needs 5 MB.
const TARGETS_PER_CHUNK: usize = 4096;
const WORDS_PER_ROW: usize = TARGETS_PER_CHUNK / 64;

/// A cycle found: each step is an edge with the node it leaves; the last
/// edge leads back to the first node.
#[derive(Debug, Clone)]
pub(super) struct FoundCycle {
    pub kind: AnomalyKind,
    pub steps: Vec<(usize, Edge)>,
}

/// Breadth-first searches over one graph, reusing their bookkeeping.
pub(super) struct CycleSearch<'g> {
    graph: &'g DependencyGraph,
    /// The search round that last reached each node: comparing with `round`
    /// clears the visited marks of the previous search for free.
    reached_in_round: Vec<u64>,
    /// How the current round reached each node: predecessor and the index of
    /// the edge in the predecessor's list.
    reached_by: Vec<(usize, usize)>,
    round: u64,
    queue: VecDeque<usize>,
}

impl<'g> CycleSearch<'g> {
    pub fn new(graph: &'g DependencyGraph) -> CycleSearch<'g> {
        let node_count = graph.node_count();
        CycleSearch {
            graph,
            reached_in_round: vec![0; node_count],
            reached_by: vec![(0, 0); node_count],
            round: 0,
            queue: VecDeque::new(),
        }
    }

    /// One cycle per component and class, G0 first, then G1c, then G-single.
    pub fn find_all(&mut self) -> Vec<FoundCycle> {
        let all = StronglyConnectedComponents::of(self.graph, KindSet::ALL);
        if all.cyclic().is_empty() {
            return Vec::new();
        }
        let writes = StronglyConnectedComponents::of(self.graph, KindSet::WRITE_WRITE);
        let writes_and_reads =
            StronglyConnectedComponents::of(self.graph, KindSet::WRITE_WRITE_AND_READ);
        let mut found = Vec::new();
        // Per kind: the components to look in, and the edges a cycle may
        // return over after its candidate edge.
        let classes = [
            (AnomalyKind::G0, &writes, KindSet::WRITE_WRITE),
            (
                AnomalyKind::G1c,
                &writes_and_reads,
                KindSet::WRITE_WRITE_AND_READ,
            ),
            (AnomalyKind::GSingle, &all, KindSet::WRITE_WRITE_AND_READ),
        ];
        for (kind, components, path_kinds) in classes {
            for members in components.cyclic() {
                let candidates = match kind {
                    AnomalyKind::G0 => {
                        self.internal_edges(members, DependencyKind::WriteWrite, components)
                    }
                    // A component without an internal wr edge is all ww:
                    // that is G0, reported above.
                    AnomalyKind::G1c => {
                        self.internal_edges(members, DependencyKind::WriteRead, components)
                    }
                    _ => self.read_skew_edges(members, &all, &writes_and_reads),
                };
                let within = |node: usize| components.same_component(node, members[0]);
                if let Some(steps) = self.shortest_cycle_through(&candidates, path_kinds, &within) {
                    found.push(FoundCycle { kind, steps });
                }
            }
        }
        found
    }

    /// The edges of `kind` between two members of one component of `sccs`.
    fn internal_edges(
        &self,
        members: &[usize],
        kind: DependencyKind,
        sccs: &StronglyConnectedComponents,
    ) -> Vec<(usize, Edge)> {
        members
            .iter()
            .flat_map(|&node| {
                self.graph
                    .edges(node)
                    .iter()
                    .filter(move |edge| edge.kind == kind && sccs.same_component(node, edge.to))
                    .map(move |edge| (node, *edge))
            })
            .collect()
    }

    /// The rw edges `a -rw-> b` inside the component `members` of `all` for
    /// which a ww/wr path leads from `b` back to `a`: each closes a G-single
    /// cycle.
    fn read_skew_edges(
        &self,
        members: &[usize],
        all: &StronglyConnectedComponents,
        writes_and_reads: &StronglyConnectedComponents,
    ) -> Vec<(usize, Edge)> {
        let read_writes = self.internal_edges(members, DependencyKind::ReadWrite, all);
        if read_writes.is_empty() {
            return Vec::new();
        }
        // Number the ww+wr components inside this component in Tarjan's
        // order, which keeps every ww/wr edge between two of them going from
        // a higher number to a lower one.
        let mut numbers: Vec<usize> = members
            .iter()
            .map(|&node| writes_and_reads.component_of(node))
            .collect();
        numbers.sort_unstable();
        numbers.dedup();
        let local = |node: usize| {
            numbers
                .binary_search(&writes_and_reads.component_of(node))
                .ok()
        };
        let mut successors: Vec<Vec<usize>> = vec![Vec::new(); numbers.len()];
        for &node in members {
            let Some(from) = local(node) else { continue };
            for edge in self.graph.edges(node) {
                if !KindSet::WRITE_WRITE_AND_READ.contains(edge.kind)
                    || !all.same_component(node, edge.to)
                {
                    continue;
                }
                if let Some(to) = local(edge.to).filter(|&to| to != from) {
                    successors[from].push(to);
                }
            }
        }
        // Edge `a -rw-> b` asks: does b's component reach a's?
        let questions: Vec<Option<(usize, usize)>> = read_writes
            .iter()
            .map(|&(a, edge)| Some((local(edge.to)?, local(a)?)))
            .collect();
        let mut closes_cycle: Vec<bool> = questions
            .iter()
            .map(|question| matches!(question, Some((source, target)) if source == target))
            .collect();
        answer_reachability(&successors, &questions, &mut closes_cycle);
        read_writes
            .into_iter()
            .zip(closes_cycle)
            .filter_map(|(edge, closes)| closes.then_some(edge))
            .collect()
    }

    /// The shortest cycle that starts with one of the first candidate edges
    /// and returns over edges of `kinds` through nodes `within` allows.
    fn shortest_cycle_through(
        &mut self,
        candidates: &[(usize, Edge)],
        kinds: KindSet,
        within: &dyn Fn(usize) -> bool,
    ) -> Option<Vec<(usize, Edge)>> {
        let mut best: Option<Vec<(usize, Edge)>> = None;
        for &(from, edge) in candidates.iter().take(CANDIDATES_PER_COMPONENT) {
            let Some(path) = self.shortest_path(edge.to, from, kinds, within) else {
                continue;
            };
            let length = path.len() + 1;
            if best.as_ref().is_some_and(|best| best.len() <= length) {
                continue;
            }
            let mut cycle = Vec::with_capacity(length);
            cycle.push((from, edge));
            cycle.extend(path);
            best = Some(cycle);
            if length == 2 {
                // No cycle is shorter: the graph has no self-loops.
                break;
            }
        }
        best
    }

    /// A shortest path from `from` to `to` (two different nodes) over edges
    /// of `kinds`, visiting only nodes `within` allows.
    fn shortest_path(
        &mut self,
        from: usize,
        to: usize,
        kinds: KindSet,
        within: &dyn Fn(usize) -> bool,
    ) -> Option<Vec<(usize, Edge)>> {
        self.round += 1;
        let round = self.round;
        self.queue.clear();
        *self.reached_in_round.get_mut(from)? = round;
        self.queue.push_back(from);
        let mut reached = false;
        'search: while let Some(node) = self.queue.pop_front() {
            for (index, edge) in self.graph.edges(node).iter().enumerate() {
                let next = edge.to;
                if !kinds.contains(edge.kind)
                    || self.reached_in_round[next] == round
                    || !within(next)
                {
                    continue;
                }
                self.reached_in_round[next] = round;
                self.reached_by[next] = (node, index);
                if next == to {
                    reached = true;
                    break 'search;
                }
                self.queue.push_back(next);
            }
        }
        if !reached {
            return None;
        }
        let mut steps = Vec::new();
        let mut node = to;
        while node != from {
            let (previous, index) = self.reached_by[node];
            steps.push((previous, *self.graph.edges(previous).get(index)?));
            node = previous;
        }
        steps.reverse();
        Some(steps)
    }
}

/// Sets `answers[i]` when question `i`, `(source, target)`, has a path from
/// `source` to `target` in the DAG `successors`, whose every edge goes from a
/// higher node number to a lower one. A node's reachable set is its own bit
/// plus the union of its successors' sets, so one pass in increasing order
/// computes them all; the targets are taken a chunk at a time so the bit
/// sets stay small on a graph of many thousands of nodes.
pub(super) fn answer_reachability(
    successors: &[Vec<usize>],
    questions: &[Option<(usize, usize)>],
    answers: &mut [bool],
) {
    let node_count = successors.len();
    for chunk_start in (0..node_count).step_by(TARGETS_PER_CHUNK) {
        let chunk = chunk_start..(chunk_start + TARGETS_PER_CHUNK).min(node_count);
        let open: Vec<usize> = (0..questions.len())
            .filter(|&index| {
                !answers[index]
                    && questions[index].is_some_and(|(_, target)| chunk.contains(&target))
            })
            .collect();
        if open.is_empty() {
            continue;
        }
        // Nodes below the chunk reach only nodes below it: no rows for them.
        let mut reach = vec![0u64; (node_count - chunk_start) * WORDS_PER_ROW];
        for (node, node_successors) in successors.iter().enumerate().skip(chunk_start) {
            let row = (node - chunk_start) * WORDS_PER_ROW;
            let (earlier_rows, rest) = reach.split_at_mut(row);
            let current = &mut rest[..WORDS_PER_ROW];
            if chunk.contains(&node) {
                let bit = node - chunk_start;
                current[bit / 64] |= 1 << (bit % 64);
            }
            for &successor in node_successors {
                // Successors are lower-numbered; those below the chunk add nothing.
                if successor < chunk_start || successor >= node {
                    continue;
                }
                let start = (successor - chunk_start) * WORDS_PER_ROW;
                for (word, other) in current
                    .iter_mut()
                    .zip(&earlier_rows[start..start + WORDS_PER_ROW])
                {
                    *word |= other;
                }
            }
        }
        for index in open {
            let Some((source, target)) = questions[index] else {
                continue;
            };
            if source < chunk_start {
                continue;
            }
            let bit = target - chunk_start;
            let word = reach[(source - chunk_start) * WORDS_PER_ROW + bit / 64];
            answers[index] = word & (1 << (bit % 64)) != 0;
        }
    }
}
