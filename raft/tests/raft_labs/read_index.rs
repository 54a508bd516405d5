//! ReadIndex (Raft thesis §6.4): linearizable reads without appending to
//! the log. The leader records its commit index as the read index, then
//! confirms it still leads with a round of heartbeats carrying the request's
//! context; once a quorum answers, the read may be served after applying up
//! to the read index. A new leader first commits an entry of its own term,
//! since before that its commit index may lag. A follower forwards the
//! request to its leader and gets the read index back.

// needs labs 2AA, 2AB, 2AC: begin — read-index tests run elections, replication and RawNode Readys
use proto::eraftpb::{Message, MessageType};
use raft::{MemStorage, RawNode, ReadState, StateRole};

use crate::harness::{
    new_beat, new_entry, new_hup, new_message_with_entries, new_proposal, new_test_config,
    new_test_raft, Network, NetworkNode,
};

/// A MsgReadIndex from `from` to `to` with request context `context`.
fn read_index_request(from: u64, to: u64, context: &[u8]) -> Message {
    new_message_with_entries(
        from,
        to,
        MessageType::MsgReadIndex,
        vec![new_entry(0, 0, Some(context))],
    )
}

fn read_state(index: u64, context: &[u8]) -> ReadState {
    ReadState {
        index,
        request_ctx: bytes::Bytes::copy_from_slice(context),
    }
}

/// Three fresh nodes where node 1 leads and has committed one proposal
/// after its no-op, so its commit index is 2.
fn network_with_leader_1() -> Network {
    let mut network = Network::new((0..3).map(|_| NetworkNode::Fresh).collect());
    network.send(vec![new_hup(1)]);
    network.send(vec![new_proposal(1, b"value")]);
    assert_eq!(network.peer(1).state, StateRole::Leader);
    assert_eq!(network.peer(1).raft_log.committed, 2);
    network
}

/// The leader answers a read with its commit index once a quorum has
/// acknowledged the heartbeat round carrying the request (thesis §6.4).
#[test]
fn test_leader_read_index_after_heartbeat_quorum() {
    let mut network = network_with_leader_1();
    network.send(vec![read_index_request(1, 1, b"read-1")]);
    assert_eq!(network.peer(1).read_states, vec![read_state(2, b"read-1")]);
}

/// Without acknowledgements from a quorum the read stays pending; the next
/// heartbeat round after the partition heals confirms it (thesis §6.4).
#[test]
fn test_read_index_needs_quorum_of_acknowledgements() {
    let mut network = network_with_leader_1();
    network.isolate(1);
    network.send(vec![read_index_request(1, 1, b"read-1")]);
    assert!(network.peer(1).read_states.is_empty());

    network.recover();
    network.send(vec![new_beat(1)]);
    assert_eq!(network.peer(1).read_states, vec![read_state(2, b"read-1")]);
}

/// A follower forwards a read to its leader and gets the read index back
/// as its own ReadState (thesis §6.4).
#[test]
fn test_follower_read_index_forwarded_to_leader() {
    let mut network = network_with_leader_1();
    network.send(vec![read_index_request(2, 2, b"follower-read")]);
    assert_eq!(
        network.peer(2).read_states,
        vec![read_state(2, b"follower-read")]
    );
    assert!(
        network.peer(1).read_states.is_empty(),
        "the answer goes to the follower, not to the leader's own reads"
    );
}

/// A new leader does not serve reads before it commits an entry of its own
/// term; the held read is answered with the new commit index once it has
/// (thesis §6.4).
#[test]
fn test_read_index_waits_for_commit_in_current_term() {
    let mut network = network_with_leader_1();

    // Node 2 wins term 2, but its no-op is not replicated yet.
    network.ignore(MessageType::MsgAppend);
    network.send(vec![new_hup(2)]);
    assert_eq!(network.peer(2).state, StateRole::Leader);
    let new_leader_last_index = network.peer(2).raft_log.last_index();
    assert!(network.peer(2).raft_log.committed < new_leader_last_index);

    network.send(vec![read_index_request(2, 2, b"early-read")]);
    assert!(network.peer(2).read_states.is_empty());

    // Replication resumes; the no-op commits and the read is released.
    network.recover();
    network.send(vec![new_beat(2)]);
    assert_eq!(network.peer(2).raft_log.committed, new_leader_last_index);
    assert_eq!(
        network.peer(2).read_states,
        vec![read_state(new_leader_last_index, b"early-read")]
    );
}

/// A single-node leader is its own quorum: the read index is its commit
/// index at once, with no heartbeat round (thesis §6.4).
#[test]
fn test_single_node_read_index() {
    let mut raft = new_test_raft(1, vec![1], 10, 1, MemStorage::new());
    raft.become_candidate();
    raft.become_leader();
    assert_eq!(raft.raft_log.committed, 1);

    raft.step(read_index_request(1, 1, b"solo")).unwrap();
    assert_eq!(raft.read_states, vec![read_state(1, b"solo")]);
    assert!(raft.read_messages().is_empty());
}

/// Each pending read keeps its own context, and one heartbeat round
/// confirms every read queued before it, answered in request order
/// (thesis §6.4).
#[test]
fn test_read_index_request_contexts_round_trip() {
    let mut network = network_with_leader_1();
    network.isolate(1);
    let contexts: [&[u8]; 3] = [b"first", b"second", b"third"];
    for context in contexts {
        network.send(vec![read_index_request(1, 1, context)]);
    }
    assert!(network.peer(1).read_states.is_empty());

    network.recover();
    network.send(vec![new_beat(1)]);
    let expected: Vec<ReadState> = contexts
        .iter()
        .map(|context| read_state(2, context))
        .collect();
    assert_eq!(network.peer(1).read_states, expected);
}

/// The read index is the commit index when the read arrived, not a later
/// one: entries committed while the read was confirmed are not waited
/// for (thesis §6.4).
#[test]
fn test_read_index_is_commit_index_at_request_time() {
    let mut network = network_with_leader_1();
    network.isolate(1);
    network.send(vec![read_index_request(1, 1, b"read")]);
    network.send(vec![new_proposal(1, b"later")]);

    network.recover();
    network.send(vec![new_beat(1)]);
    assert_eq!(network.peer(1).read_states, vec![read_state(2, b"read")]);
    assert_eq!(network.peer(1).raft_log.committed, 3);
}

/// A follower that knows no leader drops a read: nothing is forwarded and
/// nothing answered (thesis §6.4).
#[test]
fn test_read_index_without_leader_is_dropped() {
    let mut raft = new_test_raft(1, vec![1, 2, 3], 10, 1, MemStorage::new());
    raft.step(read_index_request(1, 1, b"lost")).unwrap();
    assert!(raft.read_messages().is_empty());
    assert!(raft.read_states.is_empty());
}

/// Through RawNode, a confirmed read comes out of the next Ready exactly
/// once (thesis §6.4).
#[test]
fn test_raw_node_read_index_in_ready() {
    let storage = MemStorage::new();
    let mut config = new_test_config(1, 10, 1);
    config.peers = vec![1];
    let mut raw_node = RawNode::new(&config, storage.clone()).unwrap();
    raw_node.campaign().unwrap();
    while raw_node.has_ready() {
        let ready = raw_node.ready();
        storage.wl().append(&ready.entries).unwrap();
        if let Some(hard_state) = &ready.hard_state {
            storage.wl().set_hardstate(hard_state.clone());
        }
        raw_node.advance(ready);
    }
    assert_eq!(raw_node.raft.state, StateRole::Leader);
    let committed = raw_node.raft.raft_log.committed;

    raw_node.read_index(b"raw-read".to_vec());
    assert!(raw_node.has_ready());
    let ready = raw_node.ready();
    assert_eq!(ready.read_states, vec![read_state(committed, b"raw-read")]);
    raw_node.advance(ready);
    assert!(
        !raw_node.has_ready() || raw_node.ready().read_states.is_empty(),
        "a read state is handed out once"
    );
}
// needs labs: end
