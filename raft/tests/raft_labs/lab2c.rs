//! Lab 2C: snapshots in raft (Raft paper §7).
//!
//! Followers restore from a snapshot (stale ones are ignored), a leader
//! sends a snapshot when a follower needs compacted entries, and the
//! snapshot's progress states: while storage says the snapshot is
//! temporarily unavailable the leader sends nothing and retries; while a
//! snapshot is in flight replication to that peer pauses; the
//! application's report or the follower's answer resumes probing. A
//! storage failure comes back as an error, never a panic.

use proto::eraftpb::{Entry, HardState, Message, MessageType, Snapshot};
use raft::{
    Config, Error, MemStorage, ProgressState, Raft, RaftState, RawNode, Result, SnapshotStatus,
    StateRole, Storage, StorageError, INVALID_ID,
};

use crate::harness::*;

/// The snapshot most tests restore: index 11, term 11, members 1, 2, 3.
fn test_snapshot() -> Snapshot {
    new_snapshot(11, 11, vec![1, 2, 3])
}

/// A leader (node 1 of 1 and 2) whose storage was compacted to `snapshot`:
/// follower 2 can only be caught up with a snapshot.
fn leader_with_compacted_log(storage: MemStorage) -> Raft<MemStorage> {
    storage
        .wl()
        .apply_snapshot(new_snapshot(11, 11, vec![1, 2]))
        .unwrap();
    let mut r = new_test_raft(1, vec![], 10, 1, storage);
    r.become_candidate();
    r.become_leader();
    r.read_messages();
    r
}

/// Follower 2's rejection of a probe, which sends its progress back below
/// the leader's first index.
fn reject_from_2(r: &Raft<MemStorage>) -> Message {
    let mut m = new_message(2, 1, MessageType::MsgAppendResponse, 0);
    m.term = r.term;
    m.index = r.prs()[&2].next_idx - 1;
    m.reject = true;
    m.reject_hint = 0;
    m
}

/// Follower 2's heartbeat response.
fn heartbeat_response_from_2(r: &Raft<MemStorage>) -> Message {
    let mut m = new_message(2, 1, MessageType::MsgHeartbeatResponse, 0);
    m.term = r.term;
    m
}

fn snapshot_messages(msgs: &[Message]) -> usize {
    msgs.iter()
        .filter(|m| m.msg_type() == MessageType::MsgSnapshot)
        .count()
}

/// Restoring a snapshot replaces the log and the membership (Raft paper §7).
#[test]
fn test_restore_snapshot() {
    let mut r = new_test_raft(1, vec![1, 2], 10, 1, MemStorage::new());
    assert!(r.restore(test_snapshot()));
    assert_eq!(r.raft_log.last_index(), 11);
    assert_eq!(r.raft_log.term(11).unwrap(), 11);
    assert_eq!(r.raft_log.committed, 11);
    let mut ids: Vec<u64> = r.prs().keys().copied().collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![1, 2, 3]);
    assert!(
        !r.restore(test_snapshot()),
        "the same snapshot twice is stale"
    );
}

/// A snapshot the log already covers is ignored, but can move the commit
/// index forward (Raft paper §7).
#[test]
fn test_restore_ignore_snapshot() {
    let mut r = new_test_raft(1, vec![1, 2], 10, 1, MemStorage::new());
    r.raft_log.append(&entries(&[(1, 1), (2, 1), (3, 1)]));
    r.raft_log.commit_to(1);
    assert!(!r.restore(new_snapshot(1, 1, vec![1, 2])));
    assert_eq!(r.raft_log.committed, 1);
    assert!(!r.restore(new_snapshot(2, 1, vec![1, 2])));
    assert_eq!(r.raft_log.committed, 2, "fast-forwarded to the snapshot");
    assert_eq!(r.raft_log.last_index(), 3, "entries kept");
}

/// A follower not in the snapshot's membership ignores it.
#[test]
fn test_restore_snapshot_without_self() {
    let mut r = new_test_raft(4, vec![1, 2, 4], 10, 1, MemStorage::new());
    assert!(!r.restore(test_snapshot()));
    assert_eq!(r.raft_log.last_index(), 0);
}

/// A leader sends a snapshot when the entries a follower needs were
/// compacted (Raft paper §7).
#[test]
fn test_provide_snap() {
    let storage = MemStorage::new();
    let mut r = leader_with_compacted_log(storage);
    let first = r.raft_log.first_index();
    r.mut_prs().get_mut(&2).unwrap().next_idx = first;
    let reject = reject_from_2(&r);
    r.step(reject).unwrap();
    let msgs = r.read_messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].msg_type(), MessageType::MsgSnapshot);
    assert_eq!(msgs[0].snapshot().metadata().index, 11);
    let pr = &r.prs()[&2];
    assert_eq!(pr.state, ProgressState::Snapshot);
    assert_eq!(pr.pending_snapshot, 11);
}

/// A follower restores from a leader's MsgSnapshot, recognizes the
/// leader and reports the snapshot's index (Raft paper §7).
#[test]
fn test_restore_from_snap_msg() {
    let mut r = new_test_raft(2, vec![1, 2], 10, 1, MemStorage::new());
    let mut m = new_message(1, 2, MessageType::MsgSnapshot, 0);
    m.term = 2;
    m.set_snapshot(test_snapshot());
    r.step(m).unwrap();
    assert_eq!(r.leader_id, 1);
    assert_eq!(r.raft_log.pending_snapshot().unwrap().metadata().index, 11);
    let msgs = r.read_messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].msg_type(), MessageType::MsgAppendResponse);
    assert_eq!((msgs[0].to, msgs[0].index, msgs[0].reject), (1, 11, false));
}

/// A stale snapshot (at or below the commit index) is ignored and
/// answered with the follower's commit index (Raft paper §7).
#[test]
fn test_stale_snapshot_answered_with_committed() {
    let storage = storage_with_terms(&[1, 1, 1, 1, 1]);
    storage.wl().set_hardstate(hard_state(1, 5, INVALID_ID));
    let mut r = new_test_raft(2, vec![1, 2], 10, 1, storage);
    let mut m = new_message(1, 2, MessageType::MsgSnapshot, 0);
    m.term = 1;
    m.set_snapshot(new_snapshot(3, 1, vec![1, 2]));
    r.step(m).unwrap();
    assert!(r.raft_log.pending_snapshot().is_none());
    let msgs = r.read_messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].msg_type(), MessageType::MsgAppendResponse);
    assert_eq!((msgs[0].index, msgs[0].reject), (5, false));
}

/// A node that was cut off while the leader compacted its log catches up
/// through a snapshot and then follows the log (Raft paper §7).
#[test]
fn test_slow_node_restore() {
    let mut network = Network::new(vec![
        NetworkNode::Fresh,
        NetworkNode::Fresh,
        NetworkNode::Fresh,
    ]);
    network.send(vec![new_hup(1)]);
    network.isolate(3);
    for _ in 0..=100 {
        network.send(vec![new_proposal(1, b"")]);
    }
    let storage = network.storage[&1].clone();
    let leader = network.peer_mut(1);
    next_ents(leader, &storage);
    let applied = leader.raft_log.applied;
    storage
        .wl()
        .create_snapshot(applied, Some(new_conf_state(vec![1, 2, 3])), Vec::new())
        .unwrap();
    storage.wl().compact(applied).unwrap();
    assert!(network.peer(1).raft_log.first_index() > 2);

    network.recover();
    // The heartbeat response from 3 triggers the snapshot.
    network.send(vec![new_beat(1)]);
    assert_eq!(
        network
            .peer(3)
            .raft_log
            .pending_snapshot()
            .map(|s| s.metadata().index),
        Some(applied)
    );
    // Further proposals replicate normally after the snapshot.
    network.send(vec![new_proposal(1, b"")]);
    network.send(vec![new_beat(1)]);
    let leader_committed = network.peer(1).raft_log.committed;
    assert_eq!(network.peer(3).raft_log.committed, leader_committed);
    assert_eq!(network.peer(1).prs()[&3].state, ProgressState::Replicate);
}

/// A RawNode restarted on a storage holding a snapshot and entries after
/// it hands out the committed entries after the snapshot (Raft paper §7).
#[test]
fn test_raw_node_restart_from_snapshot() {
    let snapshot = new_snapshot(2, 1, vec![1, 2]);
    let ents = vec![new_entry(1, 3, Some(b"foo"))];
    let storage = MemStorage::new();
    storage.wl().apply_snapshot(snapshot).unwrap();
    storage.wl().append(&ents).unwrap();
    storage.wl().set_hardstate(hard_state(1, 3, INVALID_ID));
    let config = new_test_config(1, 10, 1);
    let mut node = RawNode::new(&config, storage).unwrap();
    let rd = node.ready();
    assert_eq!(rd.committed_entries, ents);
    assert_eq!(rd.hard_state, None);
    node.advance(rd);
    assert!(!node.has_ready());
}

/// While storage reports the snapshot temporarily unavailable, the leader
/// sends nothing and leaves the progress in Probe; every heartbeat
/// response and append attempt asks again, and exactly one MsgSnapshot
/// goes out once storage has it (Raft paper §7).
#[test]
fn test_snapshot_temporarily_unavailable_retries() {
    let storage = MemStorage::new();
    let mut r = leader_with_compacted_log(storage.clone());
    let first = r.raft_log.first_index();
    r.mut_prs().get_mut(&2).unwrap().next_idx = first;
    storage.wl().trigger_snap_unavailable(3);
    let calls_before = storage.rl().snapshot_calls();

    // The probe's rejection needs a snapshot: unavailable, nothing sent.
    let reject = reject_from_2(&r);
    r.step(reject).unwrap();
    assert!(r.read_messages().is_empty());
    assert_eq!(r.prs()[&2].state, ProgressState::Probe);
    assert!(!r.prs()[&2].paused, "the progress is left as it was");
    assert_eq!(storage.rl().snapshot_calls(), calls_before + 1);

    // A heartbeat response retries; still unavailable.
    let hb = heartbeat_response_from_2(&r);
    r.step(hb).unwrap();
    assert_eq!(snapshot_messages(&r.read_messages()), 0);
    assert_eq!(r.prs()[&2].state, ProgressState::Probe);
    assert_eq!(storage.rl().snapshot_calls(), calls_before + 2);

    // A proposal is an append attempt: retries too, still unavailable.
    r.step(new_proposal(1, b"x")).unwrap();
    assert_eq!(snapshot_messages(&r.read_messages()), 0);
    assert_eq!(r.prs()[&2].state, ProgressState::Probe);
    assert_eq!(storage.rl().snapshot_calls(), calls_before + 3);

    // Now it is available: exactly one MsgSnapshot.
    let hb = heartbeat_response_from_2(&r);
    r.step(hb).unwrap();
    let msgs = r.read_messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(snapshot_messages(&msgs), 1);
    assert_eq!(storage.rl().snapshot_calls(), calls_before + 4);
    assert_eq!(r.prs()[&2].state, ProgressState::Snapshot);

    // While it is in flight nothing more is sent to 2, and storage is not asked again.
    let hb = heartbeat_response_from_2(&r);
    r.step(hb).unwrap();
    r.step(new_proposal(1, b"y")).unwrap();
    assert!(r.read_messages().iter().all(|m| m.to != 2));
    assert_eq!(storage.rl().snapshot_calls(), calls_before + 4);
}

/// Puts follower 2 of a compacted leader in Snapshot state.
fn leader_sending_snapshot(storage: MemStorage) -> Raft<MemStorage> {
    let mut r = leader_with_compacted_log(storage);
    let first = r.raft_log.first_index();
    r.mut_prs().get_mut(&2).unwrap().next_idx = first;
    let reject = reject_from_2(&r);
    r.step(reject).unwrap();
    assert_eq!(snapshot_messages(&r.read_messages()), 1);
    assert_eq!(r.prs()[&2].state, ProgressState::Snapshot);
    r
}

/// A failed snapshot returns the peer to Probe from its matched index;
/// the next heartbeat response sends a new snapshot (Raft paper §7).
#[test]
fn test_snapshot_failure_resumes_probing() {
    let storage = MemStorage::new();
    let mut r = leader_sending_snapshot(storage.clone());
    r.report_snapshot(2, SnapshotStatus::Failure);
    let pr = &r.prs()[&2];
    assert_eq!(pr.state, ProgressState::Probe);
    assert_eq!(pr.pending_snapshot, 0);
    assert_eq!(pr.next_idx, pr.matched + 1);
    assert!(pr.paused, "wait for the next heartbeat response");

    let hb = heartbeat_response_from_2(&r);
    r.step(hb).unwrap();
    assert_eq!(snapshot_messages(&r.read_messages()), 1);
    assert_eq!(r.prs()[&2].state, ProgressState::Snapshot);
}

/// A finished snapshot moves the peer from Snapshot to Probe just after
/// the snapshot; its next answer resumes replication (Raft paper §7).
#[test]
fn test_snapshot_finish_moves_to_probe() {
    let storage = MemStorage::new();
    let mut r = leader_sending_snapshot(storage);
    r.report_snapshot(2, SnapshotStatus::Finish);
    let pr = &r.prs()[&2];
    assert_eq!(pr.state, ProgressState::Probe);
    assert_eq!(pr.next_idx, 12);
    assert!(pr.paused, "wait for the follower's answer");

    let mut ack = new_message(2, 1, MessageType::MsgAppendResponse, 0);
    ack.term = r.term;
    ack.index = 11;
    r.step(ack).unwrap();
    assert_eq!(r.prs()[&2].state, ProgressState::Replicate);
    let msgs = r.read_messages();
    assert!(msgs
        .iter()
        .any(|m| m.msg_type() == MessageType::MsgAppend && m.index == 11));
}

/// The follower's answer to the snapshot alone also ends the Snapshot
/// state and resumes sending entries (Raft paper §7).
#[test]
fn test_snapshot_response_moves_to_probe() {
    let storage = MemStorage::new();
    let mut r = leader_sending_snapshot(storage);
    let mut ack = new_message(2, 1, MessageType::MsgAppendResponse, 0);
    ack.term = r.term;
    ack.index = 11;
    r.step(ack).unwrap();
    let pr = &r.prs()[&2];
    assert_eq!(pr.state, ProgressState::Probe);
    assert_eq!(pr.matched, 11);
    let msgs = r.read_messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].msg_type(), MessageType::MsgAppend);
    assert_eq!((msgs[0].index, msgs[0].log_term), (11, 11));
}

/// A MemStorage whose snapshot() fails with a real storage error.
#[derive(Clone)]
struct BrokenSnapshotStorage {
    inner: MemStorage,
}

impl Storage for BrokenSnapshotStorage {
    fn initial_state(&self) -> Result<RaftState> {
        self.inner.initial_state()
    }
    fn entries(&self, low: u64, high: u64, max_size: Option<u64>) -> Result<Vec<Entry>> {
        self.inner.entries(low, high, max_size)
    }
    fn term(&self, idx: u64) -> Result<u64> {
        self.inner.term(idx)
    }
    fn first_index(&self) -> Result<u64> {
        self.inner.first_index()
    }
    fn last_index(&self) -> Result<u64> {
        self.inner.last_index()
    }
    fn snapshot(&self, _request_index: u64) -> Result<Snapshot> {
        Err(Error::Store(StorageError::Other("disk on fire".into())))
    }
}

/// A storage error other than temporarily-unavailable comes back to the
/// caller as an error, without a panic and without changing the progress.
#[test]
fn test_snapshot_storage_error_is_returned() {
    let inner = MemStorage::new();
    inner
        .wl()
        .apply_snapshot(new_snapshot(11, 11, vec![1, 2]))
        .unwrap();
    let config: Config = new_test_config(1, 10, 1);
    let mut r = Raft::new(&config, BrokenSnapshotStorage { inner }).unwrap();
    r.become_candidate();
    r.become_leader();
    r.read_messages();
    let first = r.raft_log.first_index();
    r.mut_prs().get_mut(&2).unwrap().next_idx = first;
    let disk_error = || Error::Store(StorageError::Other("disk on fire".into()));

    let mut reject = new_message(2, 1, MessageType::MsgAppendResponse, 0);
    reject.term = r.term;
    reject.index = first - 1;
    reject.reject = true;
    assert_eq!(r.step(reject), Err(disk_error()));
    assert_eq!(r.prs()[&2].state, ProgressState::Probe);
    assert!(r.read_messages().is_empty());

    let mut hb = new_message(2, 1, MessageType::MsgHeartbeatResponse, 0);
    hb.term = r.term;
    assert_eq!(r.step(hb), Err(disk_error()));
    assert_eq!(r.send_append(2), Err(disk_error()));
    assert_eq!(r.state, StateRole::Leader);
}

/// Node 2 of the group {1, 2} over `storage`, having stepped leader 1's
/// snapshot at `index` of `term` (not yet taken from a Ready).
fn follower_with_snapshot(storage: &MemStorage, index: u64, term: u64) -> RawNode<MemStorage> {
    let mut node = new_raw_node(2, vec![1, 2], storage.clone());
    let mut m = new_message(1, 2, MessageType::MsgSnapshot, 0);
    m.term = term;
    m.set_snapshot(new_snapshot(index, term, vec![1, 2]));
    node.step(m).unwrap();
    node
}

/// Ready hands a received snapshot to the application once, and the
/// hard state reflects its commit index (Raft paper §7).
#[test]
fn test_ready_carries_pending_snapshot() {
    let storage = MemStorage::new();
    let mut node = follower_with_snapshot(&storage, 20, 3);
    let rd = node.ready();
    assert_eq!(rd.snapshot.metadata().index, 20);
    let mut want_hs = HardState::new();
    want_hs.term = 3;
    want_hs.commit = 20;
    assert_eq!(rd.hard_state, Some(want_hs));
    storage.wl().apply_snapshot(rd.snapshot.clone()).unwrap();
    node.advance(rd);
    assert!(node.raft.raft_log.pending_snapshot().is_none());
    assert!(!node.has_ready());
}

/// A follower RawNode hands a received snapshot to the application; after
/// applying it and restarting, the log starts after the snapshot (Raft paper §7).
#[test]
fn test_raw_node_apply_snapshot_then_restart() {
    let storage = MemStorage::new();
    let mut node = follower_with_snapshot(&storage, 10, 2);
    let rd = node.ready();
    assert_eq!(rd.snapshot.metadata().index, 10);
    assert_eq!(rd.messages.len(), 1);
    assert_eq!(
        rd.messages[0].index, 10,
        "the follower reports the snapshot's index"
    );
    storage.wl().apply_snapshot(rd.snapshot.clone()).unwrap();
    if let Some(hs) = &rd.hard_state {
        storage.wl().set_hardstate(hs.clone());
    }
    node.advance(rd);
    assert!(!node.has_ready());
    assert_eq!(node.raft.raft_log.applied, 10);

    let restarted = new_raw_node(2, vec![], storage);
    assert_eq!(restarted.raft.raft_log.first_index(), 11);
    assert_eq!(restarted.raft.raft_log.committed, 10);
    assert_eq!(restarted.raft.term, 2);
}
