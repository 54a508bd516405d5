//! Lab 2AC: the RawNode API and its Ready / advance cycle.
//!
//! The application persists what a [`Ready`] hands it (snapshot, entries,
//! hard state), then sends the messages, applies the committed entries
//! and calls `advance`. These tests drive RawNodes over MemStorage the way
//! raftstore drives them over RocksDB.

use std::collections::{BTreeMap, VecDeque};

use proto::eraftpb::{Message, MessageType};
use raft::{Error, MemStorage, RawNode, ReadState, SnapshotStatus, StateRole, INVALID_ID};

use crate::harness::*;

/// A single-node RawNode that campaigned and became leader, its no-op applied.
fn single_node_leader() -> (RawNode<MemStorage>, MemStorage) {
    let storage = MemStorage::new();
    let mut node = new_raw_node(1, vec![1], storage.clone());
    node.campaign().unwrap();
    handle_ready(&mut node, &storage);
    assert_eq!(node.raft.state, StateRole::Leader);
    assert!(!node.has_ready());
    (node, storage)
}

/// A started node campaigns, proposes, and sees its proposal persisted
/// and committed through Ready (Raft paper §5.3).
#[test]
fn test_raw_node_start() {
    let storage = MemStorage::new();
    let mut node = new_raw_node(1, vec![1], storage.clone());
    assert!(!node.has_ready(), "a fresh follower has nothing to do");
    node.campaign().unwrap();
    let rd = node.ready();
    assert_eq!(rd.entries.len(), 1, "the leader's no-op");
    storage.wl().append(&rd.entries).unwrap();
    node.advance(rd);

    node.propose(Vec::new(), b"foo".to_vec()).unwrap();
    assert!(node.has_ready());
    let rd = node.ready();
    assert_eq!(rd.entries.len(), 1);
    assert_eq!(rd.entries, rd.committed_entries);
    assert_eq!(rd.entries[0].data, b"foo".to_vec());
    storage.wl().append(&rd.entries).unwrap();
    node.advance(rd);
    assert!(!node.has_ready());
}

/// A restarted node takes its hard state from storage and hands out the
/// entries committed but not yet applied (Raft paper §5.3, Figure 2).
#[test]
fn test_raw_node_restart() {
    let ents = vec![empty_entry(1, 1), new_entry(1, 2, Some(b"foo"))];
    let storage = MemStorage::new_with_conf_state(new_conf_state(vec![1]));
    storage.wl().set_hardstate(hard_state(1, 1, INVALID_ID));
    storage.wl().append(&ents).unwrap();
    let mut node = new_raw_node(1, vec![], storage);
    let rd = node.ready();
    assert_eq!(rd.hard_state, None, "the hard state did not change");
    assert_eq!(rd.committed_entries, ents[..1].to_vec());
    assert!(
        rd.entries.is_empty(),
        "entries from storage are already stable"
    );
    node.advance(rd);
    assert!(!node.has_ready());
    assert_eq!(node.raft.term, 1);
}

/// Restarting with `Config::applied` skips entries already applied.
#[test]
fn test_raw_node_restart_with_applied() {
    let ents = vec![empty_entry(1, 1), new_entry(1, 2, Some(b"foo"))];
    let storage = MemStorage::new_with_conf_state(new_conf_state(vec![1]));
    storage.wl().set_hardstate(hard_state(1, 2, INVALID_ID));
    storage.wl().append(&ents).unwrap();
    let mut config = new_test_config(1, 10, 1);
    config.applied = 1;
    let mut node = RawNode::new(&config, storage).unwrap();
    let rd = node.ready();
    assert_eq!(rd.committed_entries, ents[1..].to_vec());
    node.advance(rd);
    assert!(!node.has_ready());
}

/// After advance there is nothing left until something new happens.
#[test]
fn test_raw_node_has_ready_false_after_advance() {
    let (mut node, storage) = single_node_leader();
    node.propose(Vec::new(), b"x".to_vec()).unwrap();
    assert!(node.has_ready());
    handle_ready(&mut node, &storage);
    assert!(!node.has_ready());
    // A tick of a lone leader sends no messages and changes nothing.
    node.tick();
    assert!(!node.has_ready());
}

/// The Ready of an election carries the new soft and hard state; the
/// vote must be persisted before the vote requests are sent (Raft paper §5.2, Figure 2).
#[test]
fn test_raw_node_ready_states_on_campaign() {
    let storage = MemStorage::new();
    let mut node = new_raw_node(1, vec![1, 2, 3], storage);
    node.campaign().unwrap();
    let rd = node.ready();
    let soft = rd.soft_state.clone().unwrap();
    assert_eq!(soft.raft_state, StateRole::Candidate);
    assert_eq!(rd.hard_state, Some(hard_state(1, 0, 1)));
    assert_eq!(rd.messages.len(), 2);
    assert!(rd
        .messages
        .iter()
        .all(|m| m.msg_type() == MessageType::MsgRequestVote));
    node.advance(rd);
    assert!(!node.has_ready());
}

/// RawNode::step refuses local messages and responses from strangers.
#[test]
fn test_raw_node_step_rejects_local_and_unknown() {
    let mut node = new_raw_node(1, vec![1, 2], MemStorage::new());
    for t in [
        MessageType::MsgHup,
        MessageType::MsgBeat,
        MessageType::MsgUnreachable,
        MessageType::MsgSnapStatus,
        MessageType::MsgCheckQuorum,
    ] {
        assert_eq!(
            node.step(new_message(1, 1, t, 0)),
            Err(Error::StepLocalMsg),
            "{t:?}"
        );
    }
    let mut resp = new_message(9, 1, MessageType::MsgAppendResponse, 0);
    resp.term = 1;
    assert_eq!(node.step(resp), Err(Error::StepPeerNotFound));
    // A request from a stranger is stepped (it may be a new member).
    let mut vote = new_message(9, 1, MessageType::MsgRequestVote, 0);
    vote.term = 1;
    assert_eq!(node.step(vote), Ok(()));
}

/// Without a leader a proposal is refused (Raft paper §8).
#[test]
fn test_raw_node_propose_without_leader() {
    let mut node = new_raw_node(1, vec![1, 2, 3], MemStorage::new());
    assert_eq!(
        node.propose(Vec::new(), b"x".to_vec()),
        Err(Error::ProposalDropped)
    );
}

/// A lone leader answers a read index at once through Ready (Raft thesis §6.4).
#[test]
fn test_raw_node_read_index() {
    let (mut node, _storage) = single_node_leader();
    node.read_index(b"ctx".to_vec());
    assert!(node.has_ready());
    let rd = node.ready();
    assert_eq!(
        rd.read_states,
        vec![ReadState {
            index: node.raft.raft_log.committed,
            request_ctx: bytes::Bytes::from_static(b"ctx")
        }]
    );
    node.advance(rd);
    assert!(!node.has_ready());
}

/// Status reports progress only on a leader.
#[test]
fn test_raw_node_status() {
    let follower = new_raw_node(1, vec![1, 2], MemStorage::new());
    let status = follower.status();
    assert_eq!(status.id, 1);
    assert_eq!(status.soft_state.raft_state, StateRole::Follower);
    assert!(status.progress.is_none());
    let (leader, _storage) = single_node_leader();
    let status = leader.status();
    assert_eq!(status.hard_state.term, 1);
    assert_eq!(status.applied, 1);
    assert_eq!(status.progress.unwrap().len(), 1);
}

/// Snapshot reports on a non-leader are ignored without error.
#[test]
fn test_raw_node_report_snapshot_on_follower() {
    let mut node = new_raw_node(1, vec![1, 2], MemStorage::new());
    node.report_snapshot(2, SnapshotStatus::Finish);
    node.report_unreachable(2);
    assert!(!node.has_ready());
}

/// Three RawNodes driven through full Ready cycles elect a leader and
/// apply the same proposals in the same order (Raft paper §5.3).
#[test]
fn test_raw_node_cluster_ready_cycle() {
    let mut nodes: BTreeMap<u64, (RawNode<MemStorage>, MemStorage)> = BTreeMap::new();
    for id in 1..=3 {
        let storage = MemStorage::new();
        nodes.insert(
            id,
            (new_raw_node(id, vec![1, 2, 3], storage.clone()), storage),
        );
    }
    let mut applied: BTreeMap<u64, Vec<Vec<u8>>> = BTreeMap::new();
    let mut pump = |nodes: &mut BTreeMap<u64, (RawNode<MemStorage>, MemStorage)>| {
        let mut queue: VecDeque<Message> = VecDeque::new();
        loop {
            for (id, (node, storage)) in nodes.iter_mut() {
                while node.has_ready() {
                    let (msgs, committed) = handle_ready(node, storage);
                    queue.extend(msgs);
                    let data = committed
                        .into_iter()
                        .filter(|e| !e.data.is_empty())
                        .map(|e| e.data.to_vec());
                    applied.entry(*id).or_default().extend(data);
                }
            }
            if queue.is_empty() {
                break;
            }
            while let Some(m) = queue.pop_front() {
                let (node, _) = nodes.get_mut(&m.to).unwrap();
                node.step(m).unwrap();
            }
        }
    };
    nodes.get_mut(&1).unwrap().0.campaign().unwrap();
    pump(&mut nodes);
    assert_eq!(nodes[&1].0.raft.state, StateRole::Leader);
    for i in 0..5u8 {
        nodes
            .get_mut(&1)
            .unwrap()
            .0
            .propose(Vec::new(), vec![b'a' + i])
            .unwrap();
        pump(&mut nodes);
    }
    // One more round of heartbeats tells the followers the last commit index.
    nodes.get_mut(&1).unwrap().0.raft.step(new_beat(1)).unwrap();
    pump(&mut nodes);
    let want: Vec<Vec<u8>> = (0..5u8).map(|i| vec![b'a' + i]).collect();
    for id in 1..=3 {
        assert_eq!(applied[&id], want, "node {id}");
        assert_eq!(nodes[&id].1.rl().hard_state().commit, 6, "node {id}");
    }
}

/// `advance` works from what the Ready handed out: an application that moves the entries and committed entries out of the Ready (as raft-rs allows) does not get them again.
#[test]
fn test_advance_after_fields_moved_out() {
    let (mut node, storage) = single_node_leader();
    node.propose(vec![], b"payload".to_vec()).unwrap();
    let mut rd = node.ready();
    let entries = std::mem::take(&mut rd.entries);
    assert_eq!(entries.len(), 1);
    storage.wl().append(&entries).unwrap();
    if let Some(hs) = &rd.hard_state {
        storage.wl().set_hardstate(hs.clone());
    }
    let committed = std::mem::take(&mut rd.committed_entries);
    assert_eq!(
        committed.last().map(|entry| entry.data.to_vec()),
        Some(b"payload".to_vec())
    );
    node.advance(rd);
    assert_eq!(node.raft.raft_log.applied, committed.last().unwrap().index);
    assert!(
        !node.has_ready(),
        "the moved-out entries are not handed out again"
    );
}

/// `advance_append` persists without applying: held committed entries come back in the next Ready until `advance_apply_to`.
#[test]
fn test_advance_append_holds_committed_entries() {
    let (mut node, storage) = single_node_leader();
    node.propose(vec![], b"held".to_vec()).unwrap();
    let rd = node.ready();
    storage.wl().append(&rd.entries).unwrap();
    if let Some(hs) = &rd.hard_state {
        storage.wl().set_hardstate(hs.clone());
    }
    let held = rd.committed_entries.clone();
    assert_eq!(held.len(), 1);
    node.advance_append(rd);
    let again = node.ready();
    assert_eq!(
        again.committed_entries, held,
        "held entries are handed out again"
    );
    node.advance_append(again);
    node.advance_apply_to(held[0].index);
    assert!(!node.has_ready());
}
