//! When the raft worker waits for the disk: one synced raft-engine write per
//! Ready that carries entries or a new term or vote, none for a Ready that
//! only moves the commit index (`RaftWorker::handle_readies`), and the restart
//! rule that makes the unsynced commit index safe (`PeerStorage::new`).
//! Not a graded lab: these check the store's write path, which the labs'
//! suites exercise only for correctness.

// needs labs 1, 2AA, 2AB, 2AC, 2B, 2C, 3A, 3B, 3C: begin — these tests run a store's write path and restart logic: every store lab is on it
use std::time::Duration;

use proto::metapb::{Peer, Region};
use proto::raft_serverpb::{RaftApplyState, RaftLocalState};
use raftstore::{Config, PeerStorage, SnapshotState};
use storage::{keys, Engines, WriteBatch};
use tinykv_tests::cluster::{Cluster, FIRST_REGION_ID};

/// How long the cluster may take to reach a state the test waits for.
const WAIT: Duration = Duration::from_secs(30);
/// Sequential puts measured per attempt.
const PUTS: u64 = 20;

/// Synced raft-engine writes so far on every store, by store id.
fn synced_writes(cluster: &Cluster) -> Vec<(u64, u64)> {
    let mut store_ids = cluster.store_ids();
    store_ids.sort_unstable();
    store_ids
        .into_iter()
        .map(|store_id| {
            let synced = cluster
                .with_store(store_id, |store| {
                    store.engines().raft.write_statistics().synced_batches
                })
                .unwrap_or_else(|| panic!("store {store_id} is running"));
            (store_id, synced)
        })
        .collect()
}

/// The highest term any store publishes for the first region.
fn highest_term(cluster: &Cluster) -> u64 {
    cluster
        .region_statuses(FIRST_REGION_ID)
        .iter()
        .map(|(_, status)| status.term)
        .max()
        .unwrap_or(0)
}

/// One client's sequential puts cost every replica one synced raft write each: the Ready that only moves the commit index is written without waiting for the disk.
#[test]
fn a_put_costs_each_replica_one_synced_raft_write() {
    let cluster = Cluster::new(
        "sync_policy::one_synced_write_per_put",
        3,
        Config::for_tests(),
    );
    cluster.wait_leader(FIRST_REGION_ID, WAIT);
    // An election in the middle (a loaded machine can delay heartbeats)
    // adds synced writes for its term and vote: measure again then.
    for attempt in 0..3 {
        cluster.must_put(format!("warm-up-{attempt}").as_bytes(), b"v");
        cluster.must_replicas_converge(FIRST_REGION_ID, WAIT);
        let term_before = highest_term(&cluster);
        let before = synced_writes(&cluster);
        for index in 0..PUTS {
            cluster.must_put(format!("key-{attempt}-{index}").as_bytes(), b"value");
        }
        cluster.must_replicas_converge(FIRST_REGION_ID, WAIT);
        let after = synced_writes(&cluster);
        if highest_term(&cluster) != term_before {
            continue;
        }
        for ((store_id, before), (_, after)) in before.iter().zip(&after) {
            let synced = after - before;
            // Each put's entry is one synced write on every replica; its
            // commit is one more Ready per replica, not synced. (Before,
            // each put cost two synced writes per replica.) A follower may
            // still be one write short when the data converged.
            assert!(
                synced <= PUTS + 1,
                "store {store_id}: {synced} synced raft writes for {PUTS} puts"
            );
            assert!(
                synced + 1 >= PUTS,
                "store {store_id}: only {synced} synced raft writes for {PUTS} puts: were the entries synced?"
            );
        }
        return;
    }
    panic!("three elections during three attempts: the cluster never stayed quiet for {PUTS} puts");
}

/// A restart that finds the saved commit index behind the applied index (a commit-only hard state lost in a power failure) raises it to the applied index.
#[test]
fn restart_raises_a_commit_index_behind_the_applied_index() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let engines = Engines::open(dir.path()).expect("open the engines");
    let mut region = Region::new();
    region.id = 7;
    let mut peer = Peer::new();
    peer.id = 8;
    peer.store_id = 1;
    region.peers.push(peer);

    let mut raft_state = RaftLocalState::new();
    raft_state.last_index = 10;
    raft_state.last_term = 6;
    let hard_state = raft_state.mut_hard_state();
    hard_state.term = 6;
    hard_state.vote = 8;
    hard_state.commit = 5;
    let mut apply_state = RaftApplyState::new();
    apply_state.applied_index = 8;
    apply_state.mut_truncated_state().index = 4;
    apply_state.mut_truncated_state().term = 5;

    let storage = restart_with(engines, region, &raft_state, &apply_state)
        .expect("a commit index behind the applied index is recoverable");
    let loaded = storage.raft_state().hard_state();
    assert_eq!(loaded.commit, 8, "raised to the applied index");
    assert_eq!((loaded.term, loaded.vote), (6, 8), "term and vote kept");
}

/// Writes `raft_state` and `apply_state` for `region` into `engines`, as a
/// store that stopped with them would have left them, then loads the
/// region's peer storage as a restart does.
fn restart_with(
    engines: Engines,
    region: Region,
    raft_state: &RaftLocalState,
    apply_state: &RaftApplyState,
) -> raftstore::Result<PeerStorage> {
    let region_id = region.id;
    let mut raft_batch = WriteBatch::new();
    raft_batch
        .put_msg(&keys::raft_state_key(region_id), raft_state)
        .expect("encode the raft state");
    engines
        .raft
        .write(raft_batch, true)
        .expect("write the raft state");
    let mut kv_batch = WriteBatch::new();
    kv_batch
        .put_msg(&keys::apply_state_key(region_id), apply_state)
        .expect("encode the apply state");
    engines
        .kv
        .write(kv_batch, true)
        .expect("write the apply state");
    let tag = format!("[region {region_id}]");
    PeerStorage::new(engines, region, SnapshotState::new(None, 0, 1), tag)
}

/// A region born from a split whose store still holds the entry-less raft state of an uninitialized peer of it (created by the new leader's message before the split applied, then a restart) loads with the split's log and the peer's term and vote.
#[test]
fn restart_after_split_keeps_an_uninitialized_peers_vote() {
    for (promised_term, expected_term, expected_vote) in [(7, 7, 3), (2, 5, 0)] {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let engines = Engines::open(dir.path()).expect("open the engines");
        let mut region = Region::new();
        region.id = 9;
        for (peer_id, store_id) in [(10, 1), (3, 2)] {
            let mut peer = Peer::new();
            peer.id = peer_id;
            peer.store_id = store_id;
            region.peers.push(peer);
        }
        let mut raft_state = RaftLocalState::new();
        raft_state.mut_hard_state().term = promised_term;
        raft_state.mut_hard_state().vote = 3;
        let mut apply_state = RaftApplyState::new();
        apply_state.applied_index = raftstore::RAFT_INIT_LOG_INDEX;
        apply_state.mut_truncated_state().index = raftstore::RAFT_INIT_LOG_INDEX;
        apply_state.mut_truncated_state().term = raftstore::RAFT_INIT_LOG_TERM;
        let storage = restart_with(engines, region, &raft_state, &apply_state)
            .expect("an uninitialized peer's raft state under a split-born region is recoverable");
        let loaded = storage.raft_state();
        assert_eq!(
            (loaded.last_index, loaded.last_term),
            (
                raftstore::RAFT_INIT_LOG_INDEX,
                raftstore::RAFT_INIT_LOG_TERM
            ),
            "the log is the split's"
        );
        let hard_state = loaded.hard_state();
        assert_eq!(hard_state.commit, raftstore::RAFT_INIT_LOG_INDEX);
        assert_eq!(
            (hard_state.term, hard_state.vote),
            (expected_term, expected_vote),
            "a vote in a term at or after the log's is kept (promised term {promised_term})"
        );
    }
}
// needs labs: end
