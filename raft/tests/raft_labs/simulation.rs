//! A seeded randomized simulation of a whole raft group, checking Raft's
//! safety properties after every step and liveness at the end.
//!
//! A cluster of 3 to 5 [`RawNode`]s over [`MemStorage`] is driven tick by tick
//! with one [`StdRng`]. The driver follows the Ready cycle exactly as an
//! application must (persist the snapshot, entries and hard state, then send
//! the messages, apply the committed entries, advance), while the network
//! drops, delays and reorders messages, partitions the cluster and heals it,
//! nodes crash and restart from their storage, storages compact their log
//! (so lagging followers need snapshots) and membership changes one node at a
//! time. The invariants checked (Raft paper §5.2 to §5.4, Figure 3):
//!
//! - election safety: at most one leader per term, across the whole run;
//! - log matching: two logs holding an entry with the same index and term are
//!   identical up to that index;
//! - leader completeness: a new leader holds every entry committed before it
//!   was elected;
//! - state machine safety: no two nodes apply different entries at one index.
//!
//! Liveness at the end: once everything is healed and restarted, the cluster
//! elects a stable leader and commits new proposals on every member within a
//! bounded number of ticks.
//!
//! Replay one seed with `TINYKV_SEED=<seed>`; run more seeds with
//! `TINYKV_SIM_SEEDS=<n>`. Every failure message names its seed.

// needs labs 2AA, 2AB, 2AC, 2C, 3A: begin — the randomized simulation runs every raft lab at once: elections, replication, Readys, snapshots, membership changes
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use proto::eraftpb::{
    ConfChange, ConfChangeType, ConfState, Entry, EntryType, HardState, Message, MessageType,
    Snapshot,
};
use protobuf::Message as ProtobufMessage;
use raft::{
    is_empty_snapshot, Config, Error, MemStorage, RawNode, Ready, SnapshotStatus, StateRole,
    Storage, StorageError,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The log index and term of the bootstrap snapshot every initial member
/// starts from (TinyKV's RAFT_INIT_LOG_INDEX / RAFT_INIT_LOG_TERM). Starting
/// from a snapshot rather than an empty log means a node added later, whose
/// storage is empty, can only join through a snapshot that carries the full
/// membership; it never replays a partial membership history.
const BOOTSTRAP_INDEX: u64 = 5;
const BOOTSTRAP_TERM: u64 = 5;

/// Cluster membership stays within these bounds (the brief: at least 3 voters).
const MIN_VOTERS: usize = 3;
const MAX_VOTERS: usize = 5;

/// Default number of seeds of `safety_and_liveness_across_seeds`.
const DEFAULT_SEED_COUNT: u64 = 200;

/// How the faults of one run are weighted; each scenario test uses its own.
#[derive(Debug, Clone)]
struct SimulationOptions {
    /// Ticks of the fault phase (liveness is checked after it).
    steps: u64,
    /// Per step: probability that one live node compacts its log at its applied index.
    compaction_probability: f64,
    /// Per step: probability that the leader is asked for a membership change.
    conf_change_probability: f64,
    /// Per step: probability that one node crashes (and, separately, that one restarts).
    crash_probability: f64,
    /// Per step: probability that the network is partitioned (or healed, when it is).
    partition_probability: f64,
    /// The per-seed random drop rate is drawn from [0, max_drop_rate].
    max_drop_rate: f64,
}

impl SimulationOptions {
    fn balanced() -> Self {
        SimulationOptions {
            steps: 1000,
            compaction_probability: 0.05,
            conf_change_probability: 0.02,
            crash_probability: 0.02,
            partition_probability: 0.02,
            max_drop_rate: 0.15,
        }
    }

    fn heavy_compaction() -> Self {
        SimulationOptions {
            compaction_probability: 0.5,
            max_drop_rate: 0.3,
            ..Self::balanced()
        }
    }

    fn frequent_conf_changes() -> Self {
        SimulationOptions {
            conf_change_probability: 0.2,
            ..Self::balanced()
        }
    }
}

/// The application state of one node: a digest of every entry applied so
/// far. It is durable (as if stored with the applied index in the engine, as
/// TinyKV's kv engine does), so a restarted node resumes from `applied_index`.
#[derive(Debug, Clone, Default)]
struct StateMachine {
    applied_index: u64,
    /// Rolling hash over (index, term, data) of every applied entry.
    hash: u64,
    /// The membership as of `applied_index`.
    conf_state: ConfState,
    /// (index, term) of everything applied, in order; a snapshot resets it to
    /// the snapshot's (index, term).
    applied: Vec<(u64, u64)>,
}

impl StateMachine {
    /// The snapshot payload: the applied index and the hash, so the receiver
    /// can check it against what the other nodes applied.
    fn encode(&self) -> Vec<u8> {
        let mut data = self.applied_index.to_le_bytes().to_vec();
        data.extend_from_slice(&self.hash.to_le_bytes());
        data
    }

    fn decode(data: &[u8]) -> Option<(u64, u64)> {
        let index = u64::from_le_bytes(data.get(0..8)?.try_into().ok()?);
        let hash = u64::from_le_bytes(data.get(8..16)?.try_into().ok()?);
        Some((index, hash))
    }
}

/// One member of the simulated cluster.
struct SimNode {
    storage: MemStorage,
    /// None while the node is crashed; its storage and state machine survive.
    raw_node: Option<RawNode<MemStorage>>,
    state_machine: StateMachine,
}

/// A message on the wire, delivered at or after tick `deliver_at`.
struct InFlight {
    message: Message,
    deliver_at: u64,
}

/// What the first node to apply an index applied there; every other node
/// must apply exactly the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CanonicalEntry {
    term: u64,
    data_digest: u64,
    hash_after: u64,
}

/// What happened during runs, printed so that a reader can see the
/// simulation exercised elections, snapshots, restarts and conf changes.
#[derive(Debug, Default, Clone, Copy)]
struct Statistics {
    ticks: u64,
    messages_delivered: u64,
    messages_dropped: u64,
    leaders_elected: u64,
    entries_committed: u64,
    snapshots_installed: u64,
    compactions: u64,
    restarts: u64,
    nodes_added: u64,
    nodes_removed: u64,
}

impl Statistics {
    fn add(&mut self, other: &Statistics) {
        self.ticks += other.ticks;
        self.messages_delivered += other.messages_delivered;
        self.messages_dropped += other.messages_dropped;
        self.leaders_elected += other.leaders_elected;
        self.entries_committed += other.entries_committed;
        self.snapshots_installed += other.snapshots_installed;
        self.compactions += other.compactions;
        self.restarts += other.restarts;
        self.nodes_added += other.nodes_added;
        self.nodes_removed += other.nodes_removed;
    }
}

/// One run: the cluster, the network between its nodes, the fault
/// injection and the history the invariants are checked against.
struct Simulation {
    seed: u64,
    statistics: Statistics,
    rng: StdRng,
    options: SimulationOptions,
    check_quorum: bool,
    pre_vote: bool,
    nodes: BTreeMap<u64, SimNode>,
    /// Removed members: their peer was destroyed once the removal applied.
    destroyed: BTreeSet<u64>,
    in_flight: Vec<InFlight>,
    now: u64,
    /// Partition group of every node; empty when the network is whole.
    partition: BTreeMap<u64, u8>,
    drop_rate: f64,
    max_delay: u64,
    next_node_id: u64,
    next_payload: u64,
    /// Election safety: the leader of every term seen so far.
    leaders_by_term: HashMap<u64, u64>,
    /// (id, term) pairs whose leader completeness was already checked.
    checked_leaders: HashSet<(u64, u64)>,
    /// State machine safety: canonical[i] is what was applied at BOOTSTRAP_INDEX + i.
    canonical: Vec<CanonicalEntry>,
    /// Log matching: (index, term) -> (term of the previous entry, digest of the data).
    entries_seen: HashMap<(u64, u64), (Option<u64>, u64)>,
}

/// Panics with the seed in the message, so every failure can be replayed.
macro_rules! sim_assert {
    ($sim:expr, $cond:expr, $($arg:tt)+) => {
        if !$cond {
            panic!(
                "seed {} (replay with TINYKV_SEED={}), tick {}: {}",
                $sim.seed,
                $sim.seed,
                $sim.now,
                format!($($arg)+)
            );
        }
    };
}

/// FNV-1a: a small deterministic hash, enough to tell payloads apart.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn chain_hash(previous: u64, index: u64, term: u64, data_digest: u64) -> u64 {
    let mut bytes = Vec::with_capacity(32);
    for word in [previous, index, term, data_digest] {
        bytes.extend_from_slice(&word.to_le_bytes());
    }
    fnv1a(&bytes)
}

fn conf_state_of(ids: impl IntoIterator<Item = u64>) -> ConfState {
    let mut conf_state = ConfState::new();
    conf_state.nodes = ids.into_iter().collect();
    conf_state
}

impl Simulation {
    fn new(seed: u64, options: SimulationOptions) -> Simulation {
        let mut rng = StdRng::seed_from_u64(seed);
        let voter_count: u64 = rng.gen_range(3..=5);
        let check_quorum = rng.gen_bool(0.5);
        let pre_vote = rng.gen_bool(0.5);
        let drop_rate = rng.gen_range(0.0..=options.max_drop_rate);
        let max_delay = rng.gen_range(0..=3);
        let mut simulation = Simulation {
            seed,
            statistics: Statistics::default(),
            rng,
            options,
            check_quorum,
            pre_vote,
            nodes: BTreeMap::new(),
            destroyed: BTreeSet::new(),
            in_flight: Vec::new(),
            now: 0,
            partition: BTreeMap::new(),
            drop_rate,
            max_delay,
            next_node_id: voter_count + 1,
            next_payload: 1,
            leaders_by_term: HashMap::new(),
            checked_leaders: HashSet::new(),
            canonical: vec![CanonicalEntry {
                term: BOOTSTRAP_TERM,
                data_digest: 0,
                hash_after: 0,
            }],
            entries_seen: HashMap::new(),
        };
        let bootstrap_conf_state = conf_state_of(1..=voter_count);
        for id in 1..=voter_count {
            let state_machine = StateMachine {
                applied_index: BOOTSTRAP_INDEX,
                hash: 0,
                conf_state: bootstrap_conf_state.clone(),
                applied: vec![(BOOTSTRAP_INDEX, BOOTSTRAP_TERM)],
            };
            let storage = MemStorage::new();
            let mut snapshot = Snapshot::new();
            snapshot.set_data(state_machine.encode().into());
            let metadata = snapshot.mut_metadata();
            metadata.index = BOOTSTRAP_INDEX;
            metadata.term = BOOTSTRAP_TERM;
            metadata.set_conf_state(bootstrap_conf_state.clone());
            {
                let mut core = storage.wl();
                core.apply_snapshot(snapshot).unwrap();
                let mut hard_state = HardState::new();
                hard_state.term = BOOTSTRAP_TERM;
                hard_state.commit = BOOTSTRAP_INDEX;
                core.set_hardstate(hard_state);
                core.set_conf_state(bootstrap_conf_state.clone());
            }
            simulation.nodes.insert(
                id,
                SimNode {
                    storage,
                    raw_node: None,
                    state_machine,
                },
            );
            simulation.start_node(id);
        }
        simulation
    }

    /// Builds the node's RawNode from its storage and durable state machine,
    /// as an application does at boot or after a crash.
    fn start_node(&mut self, id: u64) {
        let random_seed = self.rng.gen();
        let node = self.nodes.get_mut(&id).unwrap();
        let mut config = Config::new(id);
        config.election_tick = 10;
        config.heartbeat_tick = 1;
        config.applied = node.state_machine.applied_index;
        config.check_quorum = self.check_quorum;
        config.pre_vote = self.pre_vote;
        config.max_inflight_msgs = 64;
        config.max_size_per_msg = 1024;
        config.random_seed = Some(random_seed);
        let raw_node = RawNode::new(&config, node.storage.clone());
        sim_assert!(
            self,
            raw_node.is_ok(),
            "node {} failed to start: {:?}",
            id,
            raw_node.err()
        );
        self.nodes.get_mut(&id).unwrap().raw_node = raw_node.ok();
        self.handle_ready(id);
    }

    fn live_ids(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .filter(|(_, node)| node.raw_node.is_some())
            .map(|(id, _)| *id)
            .collect()
    }

    fn crashed_ids(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .filter(|(_, node)| node.raw_node.is_none())
            .map(|(id, _)| *id)
            .collect()
    }

    fn raw_node(&mut self, id: u64) -> Option<&mut RawNode<MemStorage>> {
        self.nodes.get_mut(&id)?.raw_node.as_mut()
    }

    /// The live node that believes it leads with the highest term.
    fn leader(&self) -> Option<u64> {
        self.nodes
            .iter()
            .filter_map(|(id, node)| {
                let raft = &node.raw_node.as_ref()?.raft;
                (raft.state == StateRole::Leader).then_some((raft.term, *id))
            })
            .max()
            .map(|(_, id)| id)
    }

    fn connected(&self, from: u64, to: u64) -> bool {
        self.partition.get(&from) == self.partition.get(&to)
    }

    /// Runs the Ready cycle of `id` until it has nothing left to hand out.
    fn handle_ready(&mut self, id: u64) {
        loop {
            let ready = match self.raw_node(id) {
                Some(raw_node) if raw_node.has_ready() => raw_node.ready(),
                _ => return,
            };
            self.process_ready(id, ready);
        }
    }

    /// Persist, then send, then apply, then advance: the order every
    /// application of the Ready API must follow.
    fn process_ready(&mut self, id: u64, mut ready: Ready) {
        let storage = self.nodes[&id].storage.clone();

        if !is_empty_snapshot(&ready.snapshot) {
            self.install_snapshot(id, &ready.snapshot);
        }
        if !ready.entries.is_empty() {
            self.check_new_entries(id, &ready.entries);
            storage.wl().append(&ready.entries).unwrap();
        }
        if let Some(hard_state) = &ready.hard_state {
            storage.wl().set_hardstate(hard_state.clone());
        }

        for message in ready.messages.drain(..) {
            let delay = if self.max_delay == 0 {
                0
            } else {
                self.rng.gen_range(0..=self.max_delay)
            };
            self.in_flight.push(InFlight {
                message,
                deliver_at: self.now + delay,
            });
        }

        let mut removed_ids = Vec::new();
        for entry in &ready.committed_entries {
            if let Some(removed) = self.apply_entry(id, entry) {
                removed_ids.push(removed);
            }
        }

        if let Some(raw_node) = self.raw_node(id) {
            raw_node.advance(ready);
        }
        self.check_leadership(id);
        for removed in removed_ids {
            self.destroy_node(removed);
        }
    }

    /// Installs a snapshot handed out by Ready: storage first, then the state
    /// machine, which must match what the other nodes applied up to there.
    fn install_snapshot(&mut self, id: u64, snapshot: &Snapshot) {
        let index = snapshot.metadata().index;
        let term = snapshot.metadata().term;
        let decoded = StateMachine::decode(snapshot.data());
        sim_assert!(
            self,
            decoded.map(|(data_index, _)| data_index) == Some(index),
            "node {} got snapshot {} whose data says {:?}",
            id,
            index,
            decoded
        );
        let (_, hash) = decoded.unwrap();
        let canonical = self.canonical_at(index);
        sim_assert!(
            self,
            canonical.is_some_and(|entry| entry.term == term && entry.hash_after == hash),
            "node {} got snapshot (index {}, term {}, hash {}) but the applied history there is {:?}",
            id,
            index,
            term,
            hash,
            canonical
        );

        sim_assert!(
            self,
            index > self.nodes[&id].state_machine.applied_index,
            "node {} got snapshot {} at or below its applied index {}",
            id,
            index,
            self.nodes[&id].state_machine.applied_index
        );
        let node = self.nodes.get_mut(&id).unwrap();
        let conf_state = snapshot.metadata().conf_state().clone();
        {
            let mut core = node.storage.wl();
            core.apply_snapshot(snapshot.clone()).unwrap();
            core.set_conf_state(conf_state.clone());
        }
        node.state_machine.applied_index = index;
        node.state_machine.hash = hash;
        node.state_machine.conf_state = conf_state;
        node.state_machine.applied = vec![(index, term)];
        self.statistics.snapshots_installed += 1;
    }

    fn canonical_at(&self, index: u64) -> Option<CanonicalEntry> {
        let offset = usize::try_from(index.checked_sub(BOOTSTRAP_INDEX)?).ok()?;
        self.canonical.get(offset).copied()
    }

    /// Applies one committed entry to the node's state machine; returns the
    /// id of a node this entry removed from the cluster.
    fn apply_entry(&mut self, id: u64, entry: &Entry) -> Option<u64> {
        let data_digest = fnv1a(&entry.data);
        let previous = self.nodes[&id].state_machine.applied_index;
        sim_assert!(
            self,
            entry.index == previous + 1,
            "node {} applied index {} right after {}",
            id,
            entry.index,
            previous
        );
        let hash_after = chain_hash(
            self.nodes[&id].state_machine.hash,
            entry.index,
            entry.term,
            data_digest,
        );
        let applied = CanonicalEntry {
            term: entry.term,
            data_digest,
            hash_after,
        };
        match self.canonical_at(entry.index) {
            Some(canonical) => sim_assert!(
                self,
                canonical == applied,
                "state machine safety: node {} applied {:?} at index {} where another node applied {:?}",
                id,
                applied,
                entry.index,
                canonical
            ),
            None => self.canonical.push(applied),
        }
        let state_machine = &mut self.nodes.get_mut(&id).unwrap().state_machine;
        state_machine.applied_index = entry.index;
        state_machine.hash = hash_after;
        state_machine.applied.push((entry.index, entry.term));

        if entry.entry_type() != EntryType::EntryConfChange {
            return None;
        }
        let conf_change = ConfChange::parse_from_bytes(&entry.data);
        sim_assert!(
            self,
            conf_change.is_ok(),
            "node {} cannot decode conf change at {}",
            id,
            entry.index
        );
        let conf_change = conf_change.unwrap();
        let raw_node = self.raw_node(id).unwrap();
        let conf_state = raw_node.apply_conf_change(&conf_change);
        sim_assert!(
            self,
            conf_state.is_ok(),
            "node {} failed to apply conf change {:?}: {:?}",
            id,
            conf_change,
            conf_state
        );
        let conf_state = conf_state.unwrap();
        let node = self.nodes.get_mut(&id).unwrap();
        node.state_machine.conf_state = conf_state.clone();
        {
            // A real application generates the snapshot it sends from its
            // current state (TinyKV's PeerStorage does); a snapshot kept
            // from before this change would not list a node added by it,
            // and that node would ignore it forever. So refresh it here.
            let mut core = node.storage.wl();
            core.set_conf_state(conf_state.clone());
            core.create_snapshot(entry.index, Some(conf_state), node.state_machine.encode())
                .unwrap();
        }
        let target = conf_change.node_id;
        match conf_change.change_type() {
            ConfChangeType::AddNode => {
                // The operator creates the new peer with an empty storage; it
                // joins through the leader's snapshot.
                if !self.nodes.contains_key(&target) && !self.destroyed.contains(&target) {
                    self.nodes.insert(
                        target,
                        SimNode {
                            storage: MemStorage::new(),
                            raw_node: None,
                            state_machine: StateMachine::default(),
                        },
                    );
                    self.start_node(target);
                    self.statistics.nodes_added += 1;
                }
                None
            }
            // The operator destroys a removed peer once its removal is
            // committed (TinyKV's store garbage-collects it).
            ConfChangeType::RemoveNode => Some(target),
        }
    }

    fn destroy_node(&mut self, id: u64) {
        if self.nodes.remove(&id).is_some() {
            self.statistics.nodes_removed += 1;
            self.destroyed.insert(id);
            self.partition.remove(&id);
        }
    }

    /// Log matching, checked on every entry a node persists: an (index, term)
    /// pair must always come with the same data and the same previous term.
    fn check_new_entries(&mut self, id: u64, entries: &[Entry]) {
        let first_index = entries[0].index;
        let mut previous_term = self
            .raw_node(id)
            .and_then(|raw_node| raw_node.raft.raft_log.term(first_index - 1).ok());
        for (expected_index, entry) in (first_index..).zip(entries) {
            sim_assert!(
                self,
                entry.index == expected_index,
                "node {} persists non-contiguous entries: {} where {} was expected",
                id,
                entry.index,
                expected_index
            );
            self.record_log_entry(
                id,
                entry.index,
                entry.term,
                previous_term,
                fnv1a(&entry.data),
            );
            previous_term = Some(entry.term);
        }
    }

    fn record_log_entry(
        &mut self,
        id: u64,
        index: u64,
        term: u64,
        previous_term: Option<u64>,
        data_digest: u64,
    ) {
        match self.entries_seen.get(&(index, term)).copied() {
            None => {
                self.entries_seen
                    .insert((index, term), (previous_term, data_digest));
            }
            Some((seen_previous_term, seen_digest)) => {
                sim_assert!(
                    self,
                    seen_digest == data_digest,
                    "log matching: node {} holds different data at index {} term {}",
                    id,
                    index,
                    term
                );
                if let (Some(seen), Some(now)) = (seen_previous_term, previous_term) {
                    sim_assert!(
                        self,
                        seen == now,
                        "log matching: node {} has entry (index {}, term {}) after term {}, another log after term {}",
                        id,
                        index,
                        term,
                        now,
                        seen
                    );
                } else if seen_previous_term.is_none() {
                    self.entries_seen
                        .insert((index, term), (previous_term, data_digest));
                }
            }
        }
    }

    /// Election safety and leader completeness for node `id` as it is now.
    fn check_leadership(&mut self, id: u64) {
        let Some(raw_node) = self.nodes.get(&id).and_then(|node| node.raw_node.as_ref()) else {
            return;
        };
        let raft = &raw_node.raft;
        if raft.state != StateRole::Leader {
            return;
        }
        let term = raft.term;
        let previous_leader = *self.leaders_by_term.entry(term).or_insert(id);
        sim_assert!(
            self,
            previous_leader == id,
            "election safety: nodes {} and {} both led term {}",
            previous_leader,
            id,
            term
        );
        if !self.checked_leaders.insert((id, term)) {
            return;
        }
        self.statistics.leaders_elected += 1;
        // Leader completeness (Raft paper §5.4.1): everything applied anywhere
        // so far was committed, so the new leader must hold it. Entries at or
        // below its snapshot are covered by state machine safety.
        let raft = &self.nodes[&id].raw_node.as_ref().unwrap().raft;
        let log_start = raft.raft_log.first_index().max(BOOTSTRAP_INDEX + 1);
        let last_committed = BOOTSTRAP_INDEX + self.canonical.len() as u64 - 1;
        let last_index = raft.raft_log.last_index();
        sim_assert!(
            self,
            last_index >= last_committed,
            "leader completeness: leader {} of term {} ends at {} but {} is committed",
            id,
            term,
            last_index,
            last_committed
        );
        for index in log_start..=last_committed {
            let leader_term = raft.raft_log.term(index).ok();
            let committed_term = self.canonical_at(index).map(|entry| entry.term);
            sim_assert!(
                self,
                leader_term == committed_term,
                "leader completeness: leader {} of term {} has term {:?} at committed index {} (committed term {:?})",
                id,
                term,
                leader_term,
                index,
                committed_term
            );
        }
    }

    /// Log matching checked directly on every pair of live logs: scanning down
    /// from the top of their common range, once two entries agree on the
    /// term, every entry below must be identical too (Raft paper §5.3).
    fn check_log_matching_pairwise(&mut self) {
        let mut logs: Vec<(u64, u64, Vec<Entry>)> = Vec::new();
        for (id, node) in &self.nodes {
            if let Some(raw_node) = &node.raw_node {
                let raft_log = &raw_node.raft.raft_log;
                let first = raft_log.first_index();
                let last = raft_log.last_index();
                let entries = if first <= last {
                    raft_log.slice(first, last + 1, None).unwrap()
                } else {
                    Vec::new()
                };
                logs.push((*id, first, entries));
            }
        }
        for (a, (id_a, first_a, entries_a)) in logs.iter().enumerate() {
            for (id_b, first_b, entries_b) in logs.iter().skip(a + 1) {
                let low = (*first_a).max(*first_b);
                let high_a = first_a + entries_a.len() as u64;
                let high_b = first_b + entries_b.len() as u64;
                let high = high_a.min(high_b);
                let mut agreed = false;
                for index in (low..high).rev() {
                    let entry_a = &entries_a[(index - first_a) as usize];
                    let entry_b = &entries_b[(index - first_b) as usize];
                    if entry_a.term == entry_b.term {
                        agreed = true;
                    }
                    sim_assert!(
                        self,
                        !agreed || entry_a == entry_b,
                        "log matching: nodes {} and {} agree above index {} but differ there: {:?} vs {:?}",
                        id_a,
                        id_b,
                        index,
                        entry_a,
                        entry_b
                    );
                }
            }
        }
    }

    fn step_node(&mut self, id: u64, message: Message) {
        let Some(raw_node) = self.raw_node(id) else {
            return;
        };
        let message_type = message.msg_type();
        match raw_node.step(message) {
            Ok(()) | Err(Error::StepPeerNotFound) | Err(Error::ProposalDropped) => {}
            Err(error) => sim_assert!(
                self,
                false,
                "node {} failed to step a {:?}: {:?}",
                id,
                message_type,
                error
            ),
        }
        self.handle_ready(id);
    }

    /// Delivers every message due by now, in random order, until the network
    /// is quiet for this tick.
    fn deliver_due_messages(&mut self) {
        // Bounded so that a livelock shows up as a failure, not a hang.
        for _ in 0..100_000 {
            let due: Vec<usize> = self
                .in_flight
                .iter()
                .enumerate()
                .filter(|(_, in_flight)| in_flight.deliver_at <= self.now)
                .map(|(position, _)| position)
                .collect();
            if due.is_empty() {
                return;
            }
            let position = due[self.rng.gen_range(0..due.len())];
            let message = self.in_flight.swap_remove(position).message;
            self.deliver(message);
        }
        sim_assert!(self, false, "the network never went quiet within a tick");
    }

    fn deliver(&mut self, message: Message) {
        let (from, to) = (message.from, message.to);
        let is_snapshot = message.msg_type() == MessageType::MsgSnapshot;
        let receiver_live = self
            .nodes
            .get(&to)
            .is_some_and(|node| node.raw_node.is_some());
        let connected = self.connected(from, to);
        let dropped = !receiver_live || !connected || self.rng.gen_bool(self.drop_rate);
        if dropped {
            self.statistics.messages_dropped += 1;
            if let Some(sender) = self.raw_node(from) {
                if is_snapshot {
                    sender.report_snapshot(to, SnapshotStatus::Failure);
                } else if !connected {
                    sender.report_unreachable(to);
                }
                self.handle_ready(from);
            }
            return;
        }
        self.statistics.messages_delivered += 1;
        self.step_node(to, message);
        if is_snapshot {
            if let Some(sender) = self.raw_node(from) {
                sender.report_snapshot(to, SnapshotStatus::Finish);
                self.handle_ready(from);
            }
        }
    }

    fn tick_all(&mut self) {
        self.now += 1;
        self.statistics.ticks += 1;
        for id in self.live_ids() {
            if let Some(raw_node) = self.raw_node(id) {
                raw_node.tick();
            }
            self.handle_ready(id);
        }
        self.deliver_due_messages();
    }

    fn propose(&mut self, id: u64) -> u64 {
        let payload_id = self.next_payload;
        self.next_payload += 1;
        let mut data = payload_id.to_le_bytes().to_vec();
        let padding = self.rng.gen_range(0..24);
        data.extend((0..padding).map(|_| self.rng.gen::<u8>()));
        if let Some(raw_node) = self.raw_node(id) {
            // Refusals (no leader, transfer in progress) are normal here.
            let _ = raw_node.propose(Vec::new(), data);
        }
        self.handle_ready(id);
        payload_id
    }

    /// Asks the leader for one membership change, if none is pending, keeping
    /// the voters between MIN_VOTERS and MAX_VOTERS.
    fn propose_conf_change(&mut self) {
        let Some(leader) = self.leader() else {
            return;
        };
        let raft = &self.nodes[&leader].raw_node.as_ref().unwrap().raft;
        if raft.pending_conf_index > raft.raft_log.applied {
            return;
        }
        let mut voters: Vec<u64> = raft.prs().keys().copied().collect();
        voters.sort_unstable();
        let mut conf_change = ConfChange::new();
        let can_add = voters.len() < MAX_VOTERS;
        let can_remove = voters.len() > MIN_VOTERS;
        if can_add && (!can_remove || self.rng.gen_bool(0.5)) {
            conf_change.set_change_type(ConfChangeType::AddNode);
            conf_change.node_id = self.next_node_id;
            self.next_node_id += 1;
        } else if can_remove {
            conf_change.set_change_type(ConfChangeType::RemoveNode);
            conf_change.node_id = voters[self.rng.gen_range(0..voters.len())];
        } else {
            return;
        }
        let raw_node = self.raw_node(leader).unwrap();
        let _ = raw_node.propose_conf_change(Vec::new(), conf_change);
        self.handle_ready(leader);
    }

    fn compact_random_node(&mut self) {
        let live = self.live_ids();
        if live.is_empty() {
            return;
        }
        let id = live[self.rng.gen_range(0..live.len())];
        let node = &self.nodes[&id];
        let applied = node.state_machine.applied_index;
        let first_index = node.storage.first_index().unwrap_or(0);
        if applied < first_index {
            return;
        }
        let conf_state = node.state_machine.conf_state.clone();
        let data = node.state_machine.encode();
        let mut core = node.storage.wl();
        // The kept snapshot may already be at `applied` (refreshed by a conf
        // change): then it is the same state, keep it.
        match core.create_snapshot(applied, Some(conf_state), data) {
            Ok(_) | Err(Error::Store(StorageError::SnapshotOutOfDate)) => {}
            Err(error) => panic!(
                "seed {}: node {} cannot snapshot: {:?}",
                self.seed, id, error
            ),
        }
        // Compact through the snapshot: a follower that needs `applied` or
        // anything older now needs the snapshot.
        core.compact(applied + 1).unwrap();
        drop(core);
        self.statistics.compactions += 1;
    }

    fn inject_faults(&mut self) {
        let options = self.options.clone();
        if self.rng.gen_bool(options.partition_probability) {
            if self.partition.is_empty() {
                for id in self.nodes.keys().copied().collect::<Vec<_>>() {
                    let group = self.rng.gen_range(0..2u8);
                    self.partition.insert(id, group);
                }
            } else {
                self.partition.clear();
            }
        }
        if self.rng.gen_bool(options.crash_probability) {
            let live = self.live_ids();
            // Crash at most two nodes at a time so progress stays possible.
            if self.crashed_ids().len() < 2 && !live.is_empty() {
                let id = live[self.rng.gen_range(0..live.len())];
                self.nodes.get_mut(&id).unwrap().raw_node = None;
            }
        }
        if self.rng.gen_bool(options.crash_probability * 2.0) {
            let crashed = self.crashed_ids();
            if !crashed.is_empty() {
                let id = crashed[self.rng.gen_range(0..crashed.len())];
                self.start_node(id);
                self.statistics.restarts += 1;
            }
        }
        if self.rng.gen_bool(options.compaction_probability) {
            self.compact_random_node();
        }
        if self.rng.gen_bool(options.conf_change_probability) {
            self.propose_conf_change();
        }
    }

    fn propose_some(&mut self) {
        if self.rng.gen_bool(0.5) {
            return;
        }
        let target = if self.rng.gen_bool(0.8) {
            self.leader()
        } else {
            let live = self.live_ids();
            (!live.is_empty()).then(|| live[self.rng.gen_range(0..live.len())])
        };
        if let Some(id) = target {
            for _ in 0..self.rng.gen_range(1..=3) {
                self.propose(id);
            }
        }
    }

    fn run_fault_phase(&mut self) {
        for step in 0..self.options.steps {
            self.inject_faults();
            self.propose_some();
            self.tick_all();
            if step % 16 == 0 {
                self.check_log_matching_pairwise();
            }
        }
        self.check_log_matching_pairwise();
    }

    /// Heals everything, waits for a stable leader, then checks that new
    /// proposals commit and apply on every member within a bounded time.
    fn run_liveness_phase(&mut self) {
        self.partition.clear();
        self.drop_rate = 0.0;
        // A healed network also delivers promptly. (With delays a follower
        // whose log diverges by many entries takes several ticks per entry
        // to be probed back, since a rejection hints only its last index.)
        self.max_delay = 0;
        for id in self.crashed_ids() {
            self.start_node(id);
        }

        const STABILIZE_TICKS: u64 = 600;
        let heal_tick = self.now;
        let leader = loop {
            sim_assert!(
                self,
                self.now - heal_tick < STABILIZE_TICKS,
                "liveness: no stable leader {} ticks after healing (pre_vote {}, check_quorum {}, nodes {:?})",
                STABILIZE_TICKS,
                self.pre_vote,
                self.check_quorum,
                self.describe_nodes()
            );
            self.tick_all();
            if let Some(leader) = self.stable_leader() {
                break leader;
            }
        };

        let proposal_count = 5;
        let first_payload = self.next_payload;
        for _ in 0..proposal_count {
            self.propose(leader);
        }
        let last_payload = first_payload + proposal_count - 1;
        const COMMIT_TICKS: u64 = 100;
        let proposal_tick = self.now;
        loop {
            if self.all_members_applied(first_payload, last_payload) {
                break;
            }
            sim_assert!(
                self,
                self.now - proposal_tick < COMMIT_TICKS,
                "liveness: proposals {}..={} not applied on every member {} ticks after leader {} took them (nodes {:?})",
                first_payload,
                last_payload,
                COMMIT_TICKS,
                leader,
                self.describe_nodes()
            );
            self.tick_all();
        }
        self.check_log_matching_pairwise();
        self.check_applied_sequences();
    }

    /// State machine safety on each node's whole applied sequence: every
    /// (index, term) it applied is what the first node applied there.
    fn check_applied_sequences(&self) {
        for (id, node) in &self.nodes {
            for &(index, term) in &node.state_machine.applied {
                let canonical = self.canonical_at(index).map(|entry| entry.term);
                sim_assert!(
                    self,
                    canonical == Some(term),
                    "state machine safety: node {} applied term {} at index {}, the history says {:?}",
                    id,
                    term,
                    index,
                    canonical
                );
            }
        }
    }

    /// A leader every live member follows in its term, which has committed
    /// an entry of its own term and has no membership change in flight.
    fn stable_leader(&self) -> Option<u64> {
        let leader = self.leader()?;
        let raft = &self.nodes[&leader].raw_node.as_ref()?.raft;
        let (term, committed) = (raft.term, raft.raft_log.committed);
        if raft.raft_log.term(committed).ok()? != term
            || raft.pending_conf_index > raft.raft_log.applied
        {
            return None;
        }
        let all_follow = self.nodes.values().all(|node| {
            node.raw_node.as_ref().is_some_and(|raw_node| {
                raw_node.raft.term == term && raw_node.raft.leader_id == leader
            })
        });
        all_follow.then_some(leader)
    }

    /// Whether every member applied the entries carrying payloads
    /// `first_payload..=last_payload`.
    fn all_members_applied(&self, first_payload: u64, last_payload: u64) -> bool {
        let Some(leader) = self.leader() else {
            return false;
        };
        let raft = &self.nodes[&leader].raw_node.as_ref().unwrap().raft;
        let Ok(entries) = raft.raft_log.slice(
            raft.raft_log.first_index(),
            raft.raft_log.last_index() + 1,
            None,
        ) else {
            return false;
        };
        let mut highest_index = 0;
        for payload_id in first_payload..=last_payload {
            let found = entries.iter().find(|entry| {
                entry.entry_type() == EntryType::EntryNormal
                    && entry.data.get(0..8) == Some(&payload_id.to_le_bytes()[..])
            });
            match found {
                Some(entry) => highest_index = highest_index.max(entry.index),
                None => return false,
            }
        }
        raft.prs().keys().all(|member| {
            self.nodes
                .get(member)
                .is_some_and(|node| node.state_machine.applied_index >= highest_index)
        })
    }

    fn describe_nodes(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|(id, node)| match &node.raw_node {
                Some(raw_node) => format!(
                    "{}: {:?} term {} leader {} last {} committed {} applied {}",
                    id,
                    raw_node.raft.state,
                    raw_node.raft.term,
                    raw_node.raft.leader_id,
                    raw_node.raft.raft_log.last_index(),
                    raw_node.raft.raft_log.committed,
                    node.state_machine.applied_index
                ),
                None => format!("{id}: crashed"),
            })
            .collect()
    }
}

/// Runs one seed to completion; panics (naming the seed) on any violation.
fn run_seed(seed: u64, options: &SimulationOptions) -> Statistics {
    let mut simulation = Simulation::new(seed, options.clone());
    simulation.run_fault_phase();
    simulation.run_liveness_phase();
    simulation.statistics.entries_committed = simulation.canonical.len() as u64 - 1;
    simulation.statistics
}

/// The seeds to run: TINYKV_SEED replays one, TINYKV_SIM_SEEDS sets how many.
fn seeds(default_count: u64) -> Vec<u64> {
    if let Some(seed) = std::env::var("TINYKV_SEED")
        .ok()
        .and_then(|value| value.parse().ok())
    {
        return vec![seed];
    }
    let count = std::env::var("TINYKV_SIM_SEEDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default_count);
    (0..count).collect()
}

fn run_seeds(name: &str, default_count: u64, options: SimulationOptions) {
    // RUST_LOG=debug shows raft's own log lines (use with TINYKV_SEED).
    crate::harness::init_logger();
    let started = Instant::now();
    let seeds = seeds(default_count);
    let mut totals = Statistics::default();
    for seed in &seeds {
        let seed = *seed;
        match panic::catch_unwind(AssertUnwindSafe(|| run_seed(seed, &options))) {
            Ok(statistics) => totals.add(&statistics),
            Err(_) => {
                panic!("{name}: simulation seed {seed} failed; replay with TINYKV_SEED={seed}")
            }
        }
    }
    println!(
        "{name}: {} seeds passed in {:.2?}; {:?}",
        seeds.len(),
        started.elapsed(),
        totals
    );
}

/// Election safety, log matching, leader completeness and state machine
/// safety hold under drops, delays, partitions, crashes, compaction and
/// membership changes, and the healed cluster makes progress (Raft paper §5, §6).
#[test]
fn safety_and_liveness_across_seeds() {
    run_seeds(
        "safety_and_liveness_across_seeds",
        DEFAULT_SEED_COUNT,
        SimulationOptions::balanced(),
    );
}

/// With aggressive log compaction and a lossy network, lagging followers are
/// brought up to date by snapshots without breaking safety (Raft paper §7).
#[test]
fn safety_with_heavy_compaction() {
    run_seeds(
        "safety_with_heavy_compaction",
        100,
        SimulationOptions::heavy_compaction(),
    );
}

/// Frequent one-at-a-time membership changes (adding fresh nodes, removing
/// any voter including the leader) keep the cluster safe and live (Raft
/// thesis §4.1).
#[test]
fn safety_with_frequent_conf_changes() {
    run_seeds(
        "safety_with_frequent_conf_changes",
        100,
        SimulationOptions::frequent_conf_changes(),
    );
}
// needs labs: end
