//! The test harness of the raft labs: an in-memory [`Network`] of raft
//! nodes and helpers to build nodes, messages, entries and snapshots.
//!
//! A [`Network`] holds one [`Raft`] over a [`MemStorage`] per node id (or a
//! black hole that swallows everything sent to it). [`Network::send`]
//! steps messages into their destination and keeps delivering what the
//! nodes answer until nothing is left in flight. Links can drop a
//! percentage of messages (with a seeded RNG), be cut, nodes be isolated,
//! message types be ignored, and everything be recovered.
//!
//! Randomness is seeded: [`test_seed`] reads `TINYKV_SEED` (or uses a fixed
//! default) and prints it, so any run can be replayed.

#![allow(
    dead_code,
    reason = "each lab module uses a different subset of the helpers; all are the harness's API"
)]

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use proto::eraftpb::{
    ConfChange, ConfChangeType, ConfState, Entry, EntryType, HardState, Message, MessageType,
    Snapshot,
};
use protobuf::Message as _;
use raft::{is_empty_snapshot, Config, MemStorage, Progress, Raft, RawNode, Storage, INVALID_ID};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The payload of entries made by [`new_message`].
pub const SOME_DATA: &[u8] = b"somedata";

/// The seed used when `TINYKV_SEED` is not set.
pub const DEFAULT_SEED: u64 = 0x7a11_c0de;

/// The seed of this test run: `TINYKV_SEED` if set, else [`DEFAULT_SEED`].
/// Printed so a failing run can be replayed.
pub fn test_seed() -> u64 {
    let seed = std::env::var("TINYKV_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    println!("TINYKV_SEED={seed}");
    seed
}

/// Starts env_logger once (set `RUST_LOG=debug` to see raft's logs).
pub fn init_logger() {
    let _ = env_logger::builder().is_test(true).try_init();
}

/// A config for node `id` with the given election and heartbeat ticks, the
/// default flow control limits, and an election-timeout seed derived from
/// [`test_seed`] and the id (so nodes time out at different ticks, the same
/// way on every run).
pub fn new_test_config(id: u64, election: usize, heartbeat: usize) -> Config {
    init_logger();
    Config {
        id,
        election_tick: election,
        heartbeat_tick: heartbeat,
        max_size_per_msg: u64::MAX,
        max_inflight_msgs: 256,
        random_seed: Some(seed_for_node(id)),
        ..Config::default()
    }
}

/// The election-timeout seed of node `id`.
pub fn seed_for_node(id: u64) -> u64 {
    test_seed()
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(id.wrapping_mul(1_442_695_040_888_963_407))
}

/// A raft node `id` over `storage`. `peers` is the initial membership
/// (leave empty to take it from the storage's conf state).
pub fn new_test_raft(
    id: u64,
    peers: Vec<u64>,
    election: usize,
    heartbeat: usize,
    storage: MemStorage,
) -> Raft<MemStorage> {
    let mut config = new_test_config(id, election, heartbeat);
    config.peers = peers;
    new_test_raft_with_config(&config, storage)
}

/// Like [`new_test_raft`], with PreVote on or off.
pub fn new_test_raft_with_prevote(
    id: u64,
    peers: Vec<u64>,
    election: usize,
    heartbeat: usize,
    storage: MemStorage,
    pre_vote: bool,
) -> Raft<MemStorage> {
    let mut config = new_test_config(id, election, heartbeat);
    config.peers = peers;
    config.pre_vote = pre_vote;
    new_test_raft_with_config(&config, storage)
}

/// A raft node from a full config.
pub fn new_test_raft_with_config(config: &Config, storage: MemStorage) -> Raft<MemStorage> {
    Raft::new(config, storage).expect("test config must be valid")
}

/// An entry of the given term and index with `data` as payload.
pub fn new_entry(term: u64, index: u64, data: Option<&[u8]>) -> Entry {
    let mut e = Entry::new();
    e.term = term;
    e.index = index;
    if let Some(data) = data {
        e.data = bytes::Bytes::copy_from_slice(data);
    }
    e
}

/// An entry of the given term and index with no payload.
pub fn empty_entry(term: u64, index: u64) -> Entry {
    new_entry(term, index, None)
}

/// Entries `(index, term)` with no payload.
pub fn entries(pairs: &[(u64, u64)]) -> Vec<Entry> {
    pairs.iter().map(|&(i, t)| empty_entry(t, i)).collect()
}

/// A message from `from` to `to` of type `t` carrying `n` entries of
/// [`SOME_DATA`] (index and term left 0, as a proposal's are).
pub fn new_message(from: u64, to: u64, t: MessageType, n: usize) -> Message {
    let mut m = Message::new();
    m.from = from;
    m.to = to;
    m.set_msg_type(t);
    for _ in 0..n {
        m.entries.push(new_entry(0, 0, Some(SOME_DATA)));
    }
    m
}

/// A message from `from` to `to` of type `t` carrying `ents`.
pub fn new_message_with_entries(from: u64, to: u64, t: MessageType, ents: Vec<Entry>) -> Message {
    let mut m = new_message(from, to, t, 0);
    m.entries = ents;
    m
}

/// A proposal (MsgPropose) of one entry with `data`, stepped at node `to`.
pub fn new_proposal(to: u64, data: &[u8]) -> Message {
    let mut m = new_message(to, to, MessageType::MsgPropose, 0);
    m.entries.push(new_entry(0, 0, Some(data)));
    m
}

/// A MsgHup for node `id` (start an election).
pub fn new_hup(id: u64) -> Message {
    new_message(id, id, MessageType::MsgHup, 0)
}

/// A MsgBeat for node `id` (leader: send heartbeats).
pub fn new_beat(id: u64) -> Message {
    new_message(id, id, MessageType::MsgBeat, 0)
}

/// A snapshot at `index`/`term` whose membership is `nodes`.
pub fn new_snapshot(index: u64, term: u64, nodes: Vec<u64>) -> Snapshot {
    let mut s = Snapshot::new();
    let metadata = s.mut_metadata();
    metadata.index = index;
    metadata.term = term;
    metadata.mut_conf_state().nodes = nodes;
    s
}

/// A conf state with voters `nodes`.
pub fn new_conf_state(nodes: Vec<u64>) -> ConfState {
    let mut cs = ConfState::new();
    cs.nodes = nodes;
    cs
}

/// A hard state.
pub fn hard_state(term: u64, commit: u64, vote: u64) -> HardState {
    let mut hs = HardState::new();
    hs.term = term;
    hs.commit = commit;
    hs.vote = vote;
    hs
}

/// A conf change adding or removing `node_id`.
pub fn conf_change(change_type: ConfChangeType, node_id: u64) -> ConfChange {
    let mut cc = ConfChange::new();
    cc.set_change_type(change_type);
    cc.node_id = node_id;
    cc
}

/// An EntryConfChange entry (index and term 0, ready to propose) for `cc`.
pub fn conf_change_entry(cc: &ConfChange) -> Entry {
    let mut e = Entry::new();
    e.set_entry_type(EntryType::EntryConfChange);
    e.data = cc
        .write_to_bytes()
        .expect("a ConfChange always encodes")
        .into();
    e
}

/// A storage whose log holds entries with the given terms at indexes 1, 2, ...
pub fn storage_with_terms(terms: &[u64]) -> MemStorage {
    let storage = MemStorage::new();
    let ents: Vec<Entry> = terms
        .iter()
        .enumerate()
        .map(|(i, &t)| empty_entry(t, i as u64 + 1))
        .collect();
    storage
        .wl()
        .append(&ents)
        .expect("contiguous entries from index 1");
    storage
}

/// A follower (of a 1-node placeholder membership; [`Network`] resets it)
/// whose log holds entries with the given terms and whose term is the last
/// of them. The election tick is 5, so its timeout never beats a fresh
/// node's 10.
pub fn ents_with_config(terms: &[u64], pre_vote: bool) -> Raft<MemStorage> {
    let storage = storage_with_terms(terms);
    let mut raft = new_test_raft_with_prevote(1, vec![1], 5, 1, storage, pre_vote);
    let term = terms.last().copied().unwrap_or(0);
    raft.become_follower(term, INVALID_ID);
    raft
}

/// A follower that voted for `vote` in `term` and has an empty log.
pub fn voted_with_config(vote: u64, term: u64, pre_vote: bool) -> Raft<MemStorage> {
    let storage = MemStorage::new();
    storage.wl().set_hardstate(hard_state(term, 0, vote));
    let mut raft = new_test_raft_with_prevote(1, vec![1], 5, 1, storage, pre_vote);
    raft.become_follower(term, INVALID_ID);
    raft
}

/// Persists a node's unstable entries into `storage` and marks them
/// stable, applies what is committed, and returns the committed entries
/// (what an application would do with a Ready).
pub fn next_ents(raft: &mut Raft<MemStorage>, storage: &MemStorage) -> Vec<Entry> {
    persist_unstable(raft, storage);
    let ents = raft.raft_log.next_entries().unwrap_or_default();
    let committed = raft.raft_log.committed;
    raft.raft_log.applied_to(committed);
    ents
}

/// Persists a node's unstable entries into `storage` and marks them stable.
pub fn persist_unstable(raft: &mut Raft<MemStorage>, storage: &MemStorage) {
    let unstable = raft.raft_log.unstable_entries().to_vec();
    if let Some(last) = unstable.last() {
        storage
            .wl()
            .append(&unstable)
            .expect("unstable entries follow the stored ones");
        raft.raft_log.stable_to(last.index, last.term);
    }
}

/// Every entry in a node's log (stable and unstable).
pub fn all_entries(raft: &Raft<MemStorage>) -> Vec<Entry> {
    raft.raft_log.all_entries()
}

/// A one-line summary of a node's log, for comparing logs in assertions:
/// committed, applied and `(index, term)` of every entry.
pub fn log_summary(raft: &Raft<MemStorage>) -> String {
    let ents: Vec<(u64, u64)> = all_entries(raft)
        .iter()
        .map(|e| (e.index, e.term))
        .collect();
    format!(
        "committed: {}, applied: {}, entries: {:?}",
        raft.raft_log.committed, raft.raft_log.applied, ents
    )
}

/// A RawNode `id` of group `peers` (empty: from storage) over `storage`.
pub fn new_raw_node(id: u64, peers: Vec<u64>, storage: MemStorage) -> RawNode<MemStorage> {
    let mut config = new_test_config(id, 10, 1);
    config.peers = peers;
    RawNode::new(&config, storage).unwrap()
}

/// Runs one Ready cycle in the required order: persist (snapshot, entries,
/// hard state), then take the messages, apply committed entries (conf
/// changes through `apply_conf_change`), advance. Returns the messages
/// and the committed entries.
pub fn handle_ready(
    node: &mut RawNode<MemStorage>,
    storage: &MemStorage,
) -> (Vec<Message>, Vec<Entry>) {
    let mut rd = node.ready();
    if !is_empty_snapshot(&rd.snapshot) {
        storage.wl().apply_snapshot(rd.snapshot.clone()).unwrap();
    }
    storage.wl().append(&rd.entries).unwrap();
    if let Some(hs) = &rd.hard_state {
        storage.wl().set_hardstate(hs.clone());
    }
    let messages = std::mem::take(&mut rd.messages);
    let committed = rd.committed_entries.clone();
    for entry in &committed {
        if entry.entry_type() == EntryType::EntryConfChange {
            let cc = ConfChange::parse_from_bytes(&entry.data).unwrap();
            let cs = node.apply_conf_change(&cc).unwrap();
            storage.wl().set_conf_state(cs);
        }
    }
    node.advance(rd);
    (messages, committed)
}

/// What sits at one node id of a [`Network`].
pub enum NetworkNode {
    /// A fresh node with default test settings (election 10, heartbeat 1)
    /// over a new [`MemStorage`].
    Fresh,
    /// The given node. Its id and membership are reset to the network's.
    Raft(Box<Raft<MemStorage>>),
    /// Swallows every message sent to it (a crashed or missing node).
    BlackHole,
}

impl From<Raft<MemStorage>> for NetworkNode {
    fn from(raft: Raft<MemStorage>) -> NetworkNode {
        NetworkNode::Raft(Box::new(raft))
    }
}

/// An in-memory network of raft nodes with ids 1, 2, ... in the order given.
pub struct Network {
    /// The nodes by id; `None` is a black hole.
    pub peers: BTreeMap<u64, Option<Raft<MemStorage>>>,
    /// The storage of every node that is not a black hole.
    pub storage: HashMap<u64, MemStorage>,
    /// Drop probability per directed link `(from, to)`.
    drop_rates: HashMap<(u64, u64), f64>,
    /// Message types never delivered.
    ignored: HashSet<MessageType>,
    rng: StdRng,
}

impl Network {
    /// A network of the given nodes (ids 1..=n in order), PreVote off.
    pub fn new(nodes: Vec<NetworkNode>) -> Network {
        Network::new_with_prevote(nodes, false)
    }

    /// A network whose fresh nodes run with PreVote on or off.
    pub fn new_with_prevote(nodes: Vec<NetworkNode>, pre_vote: bool) -> Network {
        Network::new_with_config(nodes, |id| {
            let mut config = new_test_config(id, 10, 1);
            config.pre_vote = pre_vote;
            config
        })
    }

    /// A network whose fresh nodes are built from `config_for(id)` (peers
    /// are filled in by the network).
    pub fn new_with_config(nodes: Vec<NetworkNode>, config_for: impl Fn(u64) -> Config) -> Network {
        let ids: Vec<u64> = (1..=nodes.len() as u64).collect();
        let mut peers = BTreeMap::new();
        let mut storage = HashMap::new();
        for (node, &id) in nodes.into_iter().zip(ids.iter()) {
            match node {
                NetworkNode::Fresh => {
                    let store = MemStorage::new();
                    let mut config = config_for(id);
                    config.id = id;
                    config.peers = ids.clone();
                    let raft = new_test_raft_with_config(&config, store.clone());
                    storage.insert(id, store);
                    peers.insert(id, Some(raft));
                }
                NetworkNode::Raft(mut raft) => {
                    raft.id = id;
                    let last_index = raft.raft_log.last_index();
                    let max_inflight = raft.max_inflight;
                    let prs = raft.mut_prs();
                    prs.clear();
                    for &peer in &ids {
                        let mut pr = Progress::new(last_index + 1, max_inflight);
                        if peer == id {
                            pr.matched = last_index;
                        }
                        prs.insert(peer, pr);
                    }
                    storage.insert(id, raft.raft_log.store.clone());
                    peers.insert(id, Some(*raft));
                }
                NetworkNode::BlackHole => {
                    peers.insert(id, None);
                }
            }
        }
        Network {
            peers,
            storage,
            drop_rates: HashMap::new(),
            ignored: HashSet::new(),
            rng: StdRng::seed_from_u64(test_seed()),
        }
    }

    /// The node `id` (panics on a black hole or unknown id).
    pub fn peer(&self, id: u64) -> &Raft<MemStorage> {
        self.peers[&id].as_ref().expect("node is not a black hole")
    }

    /// The node `id`, mutably (panics on a black hole or unknown id).
    pub fn peer_mut(&mut self, id: u64) -> &mut Raft<MemStorage> {
        self.peers
            .get_mut(&id)
            .and_then(|p| p.as_mut())
            .expect("node is not a black hole")
    }

    /// Delivers `msgs` and everything the nodes send in response, until
    /// nothing is in flight. Messages to black holes, on dropped links or of
    /// ignored types vanish. Step errors (e.g. a dropped proposal) are ignored.
    pub fn send(&mut self, msgs: Vec<Message>) {
        let mut queue: VecDeque<Message> = msgs.into();
        while let Some(m) = queue.pop_front() {
            let to = m.to;
            let Some(Some(node)) = self.peers.get_mut(&to) else {
                continue;
            };
            let _ = node.step(m);
            let responses = node.read_messages();
            queue.extend(self.filter(responses));
        }
    }

    /// Like [`send`](Self::send) but returns each step's result too, in order
    /// (for tests that check errors).
    pub fn send_checked(&mut self, msgs: Vec<Message>) -> Vec<raft::Result<()>> {
        let mut results = Vec::new();
        let mut queue: VecDeque<Message> = msgs.into();
        while let Some(m) = queue.pop_front() {
            let Some(Some(node)) = self.peers.get_mut(&m.to) else {
                continue;
            };
            results.push(node.step(m));
            let responses = node.read_messages();
            queue.extend(self.filter(responses));
        }
        results
    }

    /// The messages of `msgs` that survive ignored types and link drops.
    pub fn filter(&mut self, msgs: Vec<Message>) -> Vec<Message> {
        msgs.into_iter()
            .filter(|m| {
                if self.ignored.contains(&m.msg_type()) {
                    return false;
                }
                // MsgHup is local; never dropped.
                if m.msg_type() == MessageType::MsgHup {
                    return true;
                }
                let rate = self.drop_rates.get(&(m.from, m.to)).copied().unwrap_or(0.0);
                rate <= 0.0 || self.rng.gen::<f64>() >= rate
            })
            .collect()
    }

    /// Drops `fraction` (0.0 to 1.0) of the messages from `from` to `to`.
    pub fn drop(&mut self, from: u64, to: u64, fraction: f64) {
        self.drop_rates.insert((from, to), fraction);
    }

    /// Drops every message between `one` and `other`, both ways.
    pub fn cut(&mut self, one: u64, other: u64) {
        self.drop(one, other, 1.0);
        self.drop(other, one, 1.0);
    }

    /// Cuts `id` from every other node.
    pub fn isolate(&mut self, id: u64) {
        let ids: Vec<u64> = self.peers.keys().copied().collect();
        for other in ids {
            if other != id {
                self.cut(id, other);
            }
        }
    }

    /// Never delivers messages of type `t`.
    pub fn ignore(&mut self, t: MessageType) {
        self.ignored.insert(t);
    }

    /// Heals every link and stops ignoring message types.
    pub fn recover(&mut self) {
        self.drop_rates.clear();
        self.ignored.clear();
    }

    /// Persists every node's unstable entries into its storage (as the
    /// application would between Ready cycles).
    pub fn persist_all(&mut self) {
        for (id, node) in self.peers.iter_mut() {
            if let (Some(raft), Some(storage)) = (node.as_mut(), self.storage.get(id)) {
                persist_unstable(raft, storage);
            }
        }
    }
}

/// The last index of a storage, for assertions.
pub fn storage_last_index(storage: &MemStorage) -> u64 {
    storage
        .last_index()
        .expect("MemStorage answers from memory")
}
