//! [`StronglyConnectedComponents`]: Tarjan's algorithm over the edges of a
//! [`DependencyGraph`] whose kinds are in a [`KindSet`].
//!
//! Every cycle lies inside one strongly connected component, so the cycle
//! search (`cycle_search.rs`) only looks inside the components of two or
//! more transactions, and a history with none is cycle-free in linear time.
//! Runs on the caller's thread.

use super::dependency_graph::{DependencyGraph, KindSet};

/// The strongly connected components of a graph restricted to some edge kinds.
#[derive(Debug)]
pub(super) struct StronglyConnectedComponents {
    /// The component of each node. Components are numbered in the order
    /// Tarjan's algorithm completes them, which is a reverse topological
    /// order: an edge between two components always goes from the higher
    /// number to the lower one.
    component_of: Vec<usize>,
    /// The members of every component with more than one node, in the order
    /// they were completed. Single nodes cannot be on a cycle: the graph has
    /// no self-loops.
    cyclic: Vec<Vec<usize>>,
}

impl StronglyConnectedComponents {
    /// Tarjan's algorithm, with an explicit stack instead of recursion: a
    /// history of ten thousand transactions can make a depth-first path that
    /// long, deeper than a test thread's stack.
    pub fn of(graph: &DependencyGraph, kinds: KindSet) -> StronglyConnectedComponents {
        const UNVISITED: usize = usize::MAX;
        let node_count = graph.node_count();
        let mut discovery = vec![UNVISITED; node_count];
        let mut lowest_reachable = vec![0; node_count];
        let mut on_stack = vec![false; node_count];
        let mut component_of = vec![UNVISITED; node_count];
        let mut cyclic = Vec::new();
        let mut component_count = 0;
        let mut next_discovery = 0;
        // Nodes visited and not yet assigned to a component.
        let mut visited_stack: Vec<usize> = Vec::new();
        // The depth-first path: each node with the index of its next edge.
        let mut path: Vec<(usize, usize)> = Vec::new();

        for root in 0..node_count {
            if discovery[root] != UNVISITED {
                continue;
            }
            let mut to_visit = Some(root);
            loop {
                if let Some(node) = to_visit.take() {
                    discovery[node] = next_discovery;
                    lowest_reachable[node] = next_discovery;
                    next_discovery += 1;
                    visited_stack.push(node);
                    on_stack[node] = true;
                    path.push((node, 0));
                }
                let Some(&(node, next_edge)) = path.last() else {
                    break;
                };
                let edges = graph.edges(node);
                if let Some(edge) = edges.get(next_edge) {
                    if let Some(top) = path.last_mut() {
                        top.1 += 1;
                    }
                    if !kinds.contains(edge.kind) {
                        continue;
                    }
                    let next = edge.to;
                    if discovery[next] == UNVISITED {
                        to_visit = Some(next);
                    } else if on_stack[next] {
                        lowest_reachable[node] = lowest_reachable[node].min(discovery[next]);
                    }
                    continue;
                }

                // Every edge of `node` is explored.
                path.pop();
                if let Some(&(parent, _)) = path.last() {
                    lowest_reachable[parent] = lowest_reachable[parent].min(lowest_reachable[node]);
                }
                if lowest_reachable[node] == discovery[node] {
                    // `node` is the root of a component: its members are on
                    // the stack above it, and `node` itself is on it.
                    let mut members = Vec::new();
                    while let Some(member) = visited_stack.pop() {
                        on_stack[member] = false;
                        component_of[member] = component_count;
                        members.push(member);
                        if member == node {
                            break;
                        }
                    }
                    if members.len() > 1 {
                        members.sort_unstable();
                        cyclic.push(members);
                    }
                    component_count += 1;
                }
            }
        }
        StronglyConnectedComponents {
            component_of,
            cyclic,
        }
    }

    /// The component number of `node`.
    pub fn component_of(&self, node: usize) -> usize {
        self.component_of.get(node).copied().unwrap_or(usize::MAX)
    }

    /// Whether `a` and `b` are in one component.
    pub fn same_component(&self, a: usize, b: usize) -> bool {
        self.component_of(a) == self.component_of(b)
    }

    /// The components of two or more nodes, each as its sorted members.
    pub fn cyclic(&self) -> &[Vec<usize>] {
        &self.cyclic
    }
}
