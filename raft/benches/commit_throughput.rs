//! Commit throughput of a 3-node in-memory raft group.
//!
//! Run with `cargo bench -p raft --bench commit_throughput` (a quick run:
//! append `-- --warm-up-time 1 --measurement-time 3`).
//!
//! Each node is a [`RawNode`] over [`MemStorage`]; the driver works in
//! rounds like a store does (every node handles one Ready: persist, send,
//! apply, advance; then every message sent is delivered), all in memory, so
//! the figures measure the raft crate itself, not I/O. Two groups of 128 B
//! entries:
//!
//! - `one_proposal_per_ready`: propose one entry, then drive the cluster
//!   until it is committed (the baseline: every entry pays for its own
//!   rounds of Ready cycles);
//! - `batched_64_per_ready`: propose 64 entries before the leader's next
//!   Ready, so each node persists, sends and applies all of them in one
//!   Ready per round. (Raft still sends one MsgAppend per proposal, so the
//!   saving is in Ready cycles and storage writes, not in messages.)
//! - `one_proposal_of_64_entries`: the same 64 entries in a single
//!   MsgPropose, as an application that packs commands together would
//!   send; one MsgAppend per follower then carries all of them.
//!
//! After criterion's report, a short wall-clock loop measures the modes in
//! the same run and prints their ratios to the baseline.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use proto::eraftpb::{ConfState, Entry, Message, MessageType};
use raft::{Config, MemStorage, RawNode, StateRole};

const PAYLOAD_SIZE: usize = 128;
const BATCH_SIZE: usize = 64;
/// Compact every node's log after this many entries so memory stays flat
/// however long criterion runs.
const COMPACT_EVERY: u64 = 8192;

/// Three raft nodes wired together through an in-memory mailbox.
struct Cluster {
    nodes: Vec<RawNode<MemStorage>>,
    storages: Vec<MemStorage>,
    mailbox: Vec<Message>,
    payload: Vec<u8>,
    last_compaction: u64,
}

impl Cluster {
    /// Builds the cluster and elects node 1.
    fn new() -> Cluster {
        let ids = [1u64, 2, 3];
        let mut conf_state = ConfState::new();
        conf_state.nodes = ids.to_vec();
        let mut nodes = Vec::new();
        let mut storages = Vec::new();
        for id in ids {
            let storage = MemStorage::new_with_conf_state(conf_state.clone());
            let mut config = Config::new(id);
            config.random_seed = Some(id);
            nodes.push(RawNode::new(&config, storage.clone()).expect("valid config"));
            storages.push(storage);
        }
        let mut cluster = Cluster {
            nodes,
            storages,
            mailbox: Vec::new(),
            payload: vec![0xab; PAYLOAD_SIZE],
            last_compaction: 0,
        };
        cluster.nodes[0].campaign().expect("node 1 can campaign");
        cluster.pump();
        assert_eq!(cluster.nodes[0].raft.state, StateRole::Leader);
        cluster
    }

    /// Runs rounds until all is quiet: every node handles one Ready, then
    /// every message sent in that round is delivered. Like a store that
    /// steps all of a peer's incoming messages before its next Ready, so a
    /// Ready covers everything that arrived since the last one.
    fn pump(&mut self) {
        loop {
            for position in 0..self.nodes.len() {
                self.handle_ready(position);
            }
            if self.mailbox.is_empty() {
                return;
            }
            for message in std::mem::take(&mut self.mailbox) {
                let position = (message.to - 1) as usize;
                self.nodes[position]
                    .step(message)
                    .expect("messages between members are accepted");
            }
        }
    }

    fn handle_ready(&mut self, position: usize) {
        while self.nodes[position].has_ready() {
            let mut ready = self.nodes[position].ready();
            let storage = &self.storages[position];
            if !ready.entries.is_empty() {
                storage
                    .wl()
                    .append(&ready.entries)
                    .expect("append to memory");
            }
            if let Some(hard_state) = &ready.hard_state {
                storage.wl().set_hardstate(hard_state.clone());
            }
            self.mailbox.append(&mut ready.messages);
            // Applying is a no-op here: only raft's own cost is measured.
            self.nodes[position].advance(ready);
        }
    }

    /// Proposes `batch` entries on the leader, one proposal each (or all in
    /// one proposal when `in_one_proposal`), and drives the cluster until the
    /// leader has applied them.
    fn commit(&mut self, batch: usize, in_one_proposal: bool) {
        let target = self.nodes[0].raft.raft_log.last_index() + batch as u64;
        if in_one_proposal {
            let mut proposal = Message::new();
            proposal.set_msg_type(MessageType::MsgPropose);
            proposal.from = 1;
            proposal.to = 1;
            for _ in 0..batch {
                let mut entry = Entry::new();
                entry.data = self.payload.clone().into();
                proposal.entries.push(entry);
            }
            self.nodes[0]
                .step(proposal)
                .expect("the leader accepts proposals");
        } else {
            for _ in 0..batch {
                self.nodes[0]
                    .propose(Vec::new(), self.payload.clone())
                    .expect("the leader accepts proposals");
            }
        }
        self.pump();
        let applied = self.nodes[0].raft.raft_log.applied;
        assert!(applied >= target, "applied {applied} short of {target}");
        if applied - self.last_compaction >= COMPACT_EVERY {
            for (node, storage) in self.nodes.iter().zip(&self.storages) {
                storage
                    .wl()
                    .compact(node.raft.raft_log.applied)
                    .expect("applied entries are in the log");
            }
            self.last_compaction = applied;
        }
    }
}

fn bench_commit_throughput(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("commit_throughput");

    group.throughput(Throughput::Elements(1));
    let mut cluster = Cluster::new();
    group.bench_function("one_proposal_per_ready", |bencher| {
        bencher.iter(|| cluster.commit(1, false))
    });

    group.throughput(Throughput::Elements(BATCH_SIZE as u64));
    let mut cluster = Cluster::new();
    group.bench_function("batched_64_per_ready", |bencher| {
        bencher.iter(|| cluster.commit(BATCH_SIZE, false))
    });

    let mut cluster = Cluster::new();
    group.bench_function("one_proposal_of_64_entries", |bencher| {
        bencher.iter(|| cluster.commit(BATCH_SIZE, true))
    });

    group.finish();
}

/// Entries committed per second when proposing `batch` at a time (in one
/// proposal when `in_one_proposal`), measured for about `duration`.
fn entries_per_second(batch: usize, in_one_proposal: bool, duration: Duration) -> f64 {
    let mut cluster = Cluster::new();
    let started = Instant::now();
    let mut committed = 0u64;
    while started.elapsed() < duration {
        cluster.commit(batch, in_one_proposal);
        committed += batch as u64;
    }
    committed as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench_commit_throughput(&mut criterion);
    criterion.final_summary();

    // `cargo test --benches` runs each benchmark once as a smoke test (no
    // `--bench` flag); the ratio only means something in a real run.
    if std::env::args().any(|argument| argument == "--bench") {
        let window = Duration::from_millis(1500);
        let baseline = entries_per_second(1, false, window);
        let batched = entries_per_second(BATCH_SIZE, false, window);
        let coalesced = entries_per_second(BATCH_SIZE, true, window);
        println!(
            "commit_throughput: baseline {baseline:.0} entries/s; batched ({BATCH_SIZE} proposals per Ready) {batched:.0} entries/s, ratio batched/baseline {:.1}x; one proposal of {BATCH_SIZE} entries {coalesced:.0} entries/s, ratio {:.1}x",
            batched / baseline,
            coalesced / baseline
        );
    }
}
