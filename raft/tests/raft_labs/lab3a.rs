//! Lab 3A: membership changes and leadership transfer.
//!
//! Membership changes one node at a time (Raft paper §6, thesis §4.1): a
//! node is added to or removed from the leader's progress set when the
//! application applies the conf change, and the quorum follows the new
//! membership immediately. Leadership transfer (thesis §3.10): the leader
//! brings the transferee's log up to date, then tells it to campaign at once
//! with MsgTimeoutNow; while a transfer is in flight the leader refuses
//! proposals, and it gives up after an election timeout.
//!
//! The scenarios follow TinyKV's 3A tests, plus a few more about the
//! removed leader, the quorum after a removal and the transfer's timeout.

use proto::eraftpb::{ConfChange, ConfChangeType, EntryType, Message, MessageType};
use protobuf::Message as ProtobufMessage;
use raft::{Error, MemStorage, Raft, RawNode, StateRole, Storage};

use crate::harness::{
    conf_change, conf_change_entry, handle_ready, new_conf_state, new_hup, new_message,
    new_message_with_entries, new_proposal, new_raw_node, new_test_config, new_test_raft,
    next_ents, Network, NetworkNode,
};

/// The sorted ids in the leader's progress set.
fn progress_ids(raft: &Raft<MemStorage>) -> Vec<u64> {
    let mut ids: Vec<u64> = raft.prs().keys().copied().collect();
    ids.sort_unstable();
    ids
}

/// Asserts a transfer is over: `raft` is in `state`, follows `leader` and
/// has no transferee left.
fn check_leader_transfer_state(raft: &Raft<MemStorage>, state: StateRole, leader: u64) {
    assert_eq!(raft.state, state, "node {} role", raft.id);
    assert_eq!(raft.leader_id, leader, "node {} leader", raft.id);
    assert_eq!(raft.lead_transferee, None, "node {} transferee", raft.id);
}

/// A MsgTransferLeader asking `leader` to hand leadership to `transferee`.
fn transfer_message(transferee: u64, leader: u64) -> Message {
    new_message(transferee, leader, MessageType::MsgTransferLeader, 0)
}

/// A network of `size` fresh nodes.
fn fresh_network(size: usize) -> Network {
    Network::new((0..size).map(|_| NetworkNode::Fresh).collect())
}

/// A three-node network where node 1 won the first election.
fn network_with_leader_1() -> Network {
    let mut network = fresh_network(3);
    network.send(vec![new_hup(1)]);
    assert_eq!(network.peer(1).state, StateRole::Leader);
    network
}

/// Adding a node puts it in the leader's progress set (Raft paper §6).
#[test]
fn test_add_node() {
    let mut raft = new_test_raft(1, vec![1], 10, 1, MemStorage::new());
    raft.add_node(2);
    assert_eq!(progress_ids(&raft), vec![1, 2]);
}

/// Removing a node takes it out of the progress set; removing the last
/// voter is refused, since an empty group can never elect a leader (Raft paper §6).
#[test]
fn test_remove_node() {
    let mut raft = new_test_raft(1, vec![1, 2], 10, 1, MemStorage::new());
    raft.remove_node(2).unwrap();
    assert_eq!(progress_ids(&raft), vec![1]);
    assert!(matches!(
        raft.remove_node(1),
        Err(Error::ConfChangeError(_))
    ));
    assert_eq!(progress_ids(&raft), vec![1]);
}

/// A leader alone in its group turns a proposal to remove itself into a
/// no-op entry: the group keeps its last voter (Raft paper §6).
#[test]
fn test_propose_removal_of_last_voter_becomes_noop() {
    let storage = MemStorage::new();
    let mut raw_node = single_node_leader(&storage);
    raw_node
        .propose_conf_change(Vec::new(), conf_change(ConfChangeType::RemoveNode, 1))
        .unwrap();
    let ready = raw_node.ready();
    let proposed = ready.entries.last().expect("the proposal was appended");
    assert_eq!(proposed.entry_type(), EntryType::EntryNormal);
    assert!(proposed.data.is_empty(), "the removal became a no-op");
    storage.wl().append(&ready.entries).unwrap();
    raw_node.advance(ready);
    assert_eq!(progress_ids(&raw_node.raft), vec![1]);
    assert_eq!(raw_node.raft.state, StateRole::Leader);
}

/// A read waiting for a removed follower's heartbeat ack is answered as
/// soon as the removal leaves the leader as its own quorum (thesis §6.4, §4.1).
#[test]
fn test_pending_read_index_released_when_removal_shrinks_quorum() {
    let storage = MemStorage::new();
    let mut raft = new_test_raft(1, vec![1, 2], 10, 1, storage.clone());
    raft.become_candidate();
    raft.become_leader();
    // Commit the leader's no-op with node 2's help, so reads may be served.
    let mut response = new_message(2, 1, MessageType::MsgAppendResponse, 0);
    response.index = raft.raft_log.last_index();
    response.term = raft.term;
    raft.step(response).unwrap();
    next_ents(&mut raft, &storage);
    let _ = raft.read_messages();

    // A read: the heartbeat to node 2 goes unanswered.
    let mut read = new_message(1, 1, MessageType::MsgReadIndex, 0);
    let mut entry = proto::eraftpb::Entry::new();
    entry.data = bytes::Bytes::from_static(b"read-ctx");
    read.entries.push(entry);
    raft.step(read).unwrap();
    assert!(raft.read_states.is_empty(), "node 2 has not acknowledged");

    raft.remove_node(2).unwrap();
    assert_eq!(raft.read_states.len(), 1, "the read is answered");
    assert_eq!(raft.read_states[0].request_ctx, b"read-ctx".to_vec());
    assert_eq!(raft.read_states[0].index, raft.raft_log.committed);
}

/// An entry waiting for a removed node's acknowledgement commits as soon as
/// the removal is applied, because the quorum shrinks with it (thesis §4.1).
#[test]
fn test_commit_after_remove_node() {
    let storage = MemStorage::new();
    let mut raft = new_test_raft(1, vec![1, 2], 5, 1, storage.clone());
    raft.become_candidate();
    raft.become_leader();

    // Propose the removal of node 2: it needs node 2's acknowledgement.
    let removal = conf_change(ConfChangeType::RemoveNode, 2);
    raft.step(new_message_with_entries(
        1,
        1,
        MessageType::MsgPropose,
        vec![conf_change_entry(&removal)],
    ))
    .unwrap();
    assert!(next_ents(&mut raft, &storage).is_empty());
    let conf_change_index = raft.raft_log.last_index();

    // While the removal is pending, propose a command.
    raft.step(new_proposal(1, b"hello")).unwrap();

    // Node 2 acknowledges up to the conf change, which commits it.
    let mut response = new_message(2, 1, MessageType::MsgAppendResponse, 0);
    response.index = conf_change_index;
    response.term = raft.term;
    raft.step(response).unwrap();
    let committed = next_ents(&mut raft, &storage);
    assert_eq!(committed.len(), 2, "the leader's no-op and the conf change");
    assert_eq!(committed[0].entry_type(), EntryType::EntryNormal);
    assert!(committed[0].data.is_empty());
    assert_eq!(committed[1].entry_type(), EntryType::EntryConfChange);

    // Applying the removal leaves node 1 alone: the command commits.
    raft.remove_node(2).unwrap();
    let committed = next_ents(&mut raft, &storage);
    assert_eq!(committed.len(), 1);
    assert_eq!(committed[0].entry_type(), EntryType::EntryNormal);
    assert_eq!(committed[0].data, b"hello".to_vec());
}

/// Leadership moves to an up-to-date follower at once, and back again after
/// more entries were replicated (thesis §3.10).
#[test]
fn test_leader_transfer_to_up_to_date_node() {
    let mut network = network_with_leader_1();

    network.send(vec![transfer_message(2, 1)]);
    check_leader_transfer_state(network.peer(1), StateRole::Follower, 2);
    check_leader_transfer_state(network.peer(2), StateRole::Leader, 2);

    network.send(vec![new_proposal(2, b"some data")]);
    network.send(vec![transfer_message(1, 2)]);
    check_leader_transfer_state(network.peer(1), StateRole::Leader, 1);
    check_leader_transfer_state(network.peer(2), StateRole::Follower, 1);
}

/// A transfer request sent to a follower is forwarded to the leader, which
/// carries it out (thesis §3.10).
#[test]
fn test_leader_transfer_to_up_to_date_node_from_follower() {
    let mut network = network_with_leader_1();

    network.send(vec![transfer_message(2, 2)]);
    check_leader_transfer_state(network.peer(1), StateRole::Follower, 2);

    network.send(vec![new_proposal(2, b"some data")]);
    network.send(vec![transfer_message(1, 1)]);
    check_leader_transfer_state(network.peer(1), StateRole::Leader, 1);
}

/// The leader first brings a lagging transferee's log up to date, then hands
/// over leadership (thesis §3.10).
#[test]
fn test_leader_transfer_to_slow_follower() {
    let mut network = network_with_leader_1();

    network.isolate(3);
    network.send(vec![new_proposal(1, b"some data")]);
    network.recover();
    let leader = network.peer(1);
    assert!(
        leader.prs()[&3].matched < leader.raft_log.last_index(),
        "node 3 must lag behind"
    );

    network.send(vec![transfer_message(3, 1)]);
    check_leader_transfer_state(network.peer(1), StateRole::Follower, 3);
    check_leader_transfer_state(network.peer(3), StateRole::Leader, 3);
}

/// A transferee that needs a snapshot first gets it, then becomes leader
/// (thesis §3.10, §5).
#[test]
fn test_leader_transfer_after_snapshot() {
    let mut network = network_with_leader_1();

    network.isolate(3);
    network.send(vec![new_proposal(1, b"some data")]);
    let storage = network.storage[&1].clone();
    {
        let leader = network.peer_mut(1);
        next_ents(leader, &storage);
        let applied = leader.raft_log.applied;
        let mut core = storage.wl();
        // The fresh nodes got their membership from the config, not the
        // storage: give the snapshot the group's membership explicitly.
        core.create_snapshot(applied, Some(new_conf_state(vec![1, 2, 3])), Vec::new())
            .unwrap();
        core.compact(applied + 1).unwrap();
    }
    network.recover();
    let leader = network.peer(1);
    assert!(leader.prs()[&3].matched < leader.raft_log.applied);

    // The transfer starts; a heartbeat response makes the leader notice that
    // node 3 needs entries it no longer has, so it sends the snapshot.
    network.send(vec![transfer_message(3, 1)]);
    network.send(vec![new_message(
        3,
        1,
        MessageType::MsgHeartbeatResponse,
        0,
    )]);
    check_leader_transfer_state(network.peer(1), StateRole::Follower, 3);
    check_leader_transfer_state(network.peer(3), StateRole::Leader, 3);
}

/// A transfer to the leader itself changes nothing (thesis §3.10).
#[test]
fn test_leader_transfer_to_self() {
    let mut network = network_with_leader_1();
    network.send(vec![transfer_message(1, 1)]);
    check_leader_transfer_state(network.peer(1), StateRole::Leader, 1);
}

/// A transfer to a node outside the group is ignored (thesis §3.10).
#[test]
fn test_leader_transfer_to_non_existing_node() {
    let mut network = network_with_leader_1();
    network.send(vec![transfer_message(4, 1)]);
    check_leader_transfer_state(network.peer(1), StateRole::Leader, 1);
}

/// A higher-term vote request during a transfer deposes the leader as usual,
/// and the pending transfer is dropped (Raft paper §5.1, thesis §3.10).
#[test]
fn test_leader_transfer_receive_higher_term_vote() {
    let mut network = network_with_leader_1();

    network.isolate(3);
    network.send(vec![transfer_message(3, 1)]);
    assert_eq!(network.peer(1).lead_transferee, Some(3));

    network.send(vec![new_hup(2)]);
    check_leader_transfer_state(network.peer(1), StateRole::Follower, 2);
}

/// Removing the transferee cancels the transfer (thesis §3.10, §4.1).
#[test]
fn test_leader_transfer_remove_node() {
    let mut network = network_with_leader_1();
    network.ignore(MessageType::MsgTimeoutNow);

    network.send(vec![transfer_message(3, 1)]);
    assert_eq!(network.peer(1).lead_transferee, Some(3));

    network.peer_mut(1).remove_node(3).unwrap();
    check_leader_transfer_state(network.peer(1), StateRole::Leader, 1);
}

/// Asking to transfer back to the current leader cancels a pending
/// transfer (thesis §3.10).
#[test]
fn test_leader_transfer_back() {
    let mut network = network_with_leader_1();

    network.isolate(3);
    network.send(vec![transfer_message(3, 1)]);
    assert_eq!(network.peer(1).lead_transferee, Some(3));

    network.send(vec![transfer_message(1, 1)]);
    check_leader_transfer_state(network.peer(1), StateRole::Leader, 1);
}

/// A second transfer to another, up-to-date node replaces a pending one and
/// succeeds (thesis §3.10).
#[test]
fn test_leader_transfer_second_transfer_to_another_node() {
    let mut network = network_with_leader_1();

    network.isolate(3);
    network.send(vec![transfer_message(3, 1)]);
    assert_eq!(network.peer(1).lead_transferee, Some(3));

    network.send(vec![transfer_message(2, 1)]);
    check_leader_transfer_state(network.peer(1), StateRole::Follower, 2);
}

/// Repeating a transfer to the same node does not restart its timeout: the
/// transfer is still abandoned one election timeout after the first request
/// (thesis §3.10).
#[test]
fn test_leader_transfer_second_transfer_to_same_node() {
    let mut network = network_with_leader_1();

    network.isolate(3);
    network.send(vec![transfer_message(3, 1)]);
    assert_eq!(network.peer(1).lead_transferee, Some(3));

    let heartbeat_timeout = network.peer(1).heartbeat_timeout();
    for _ in 0..heartbeat_timeout {
        network.peer_mut(1).tick();
    }
    // Same transferee again: must not extend the deadline.
    network.send(vec![transfer_message(3, 1)]);

    let election_timeout = network.peer(1).election_timeout();
    for _ in 0..election_timeout - heartbeat_timeout {
        network.peer_mut(1).tick();
    }
    check_leader_transfer_state(network.peer(1), StateRole::Leader, 1);
}

/// A node that is not a member of its own configuration ignores
/// MsgTimeoutNow and cannot win an election (thesis §3.10, §4.1).
#[test]
fn test_transfer_non_member() {
    let mut raft = new_test_raft(1, vec![2, 3, 4], 5, 1, MemStorage::new());
    let _ = raft.step(new_message(2, 1, MessageType::MsgTimeoutNow, 0));
    let _ = raft.step(new_message(2, 1, MessageType::MsgRequestVoteResponse, 0));
    let _ = raft.step(new_message(3, 1, MessageType::MsgRequestVoteResponse, 0));
    assert_eq!(raft.state, StateRole::Follower);
}

/// Runs Ready cycles on a single-node RawNode until it leads.
fn single_node_leader(storage: &MemStorage) -> RawNode<MemStorage> {
    let mut config = new_test_config(1, 10, 1);
    config.peers = vec![1];
    let mut raw_node = RawNode::new(&config, storage.clone()).unwrap();
    raw_node.campaign().unwrap();
    for _ in 0..10 {
        if !raw_node.has_ready() {
            break;
        }
        let ready = raw_node.ready();
        storage.wl().append(&ready.entries).unwrap();
        if let Some(hard_state) = &ready.hard_state {
            storage.wl().set_hardstate(hard_state.clone());
        }
        raw_node.advance(ready);
    }
    assert_eq!(raw_node.raft.state, StateRole::Leader);
    raw_node
}

/// Through RawNode, a leader's command and conf change proposals land in
/// the log in order, the conf change with its encoded data (Raft paper §6).
#[test]
fn test_raw_node_propose_and_conf_change() {
    let storage = MemStorage::new();
    let mut raw_node = single_node_leader(&storage);

    raw_node.propose(Vec::new(), b"somedata".to_vec()).unwrap();
    let addition = conf_change(ConfChangeType::AddNode, 1);
    let conf_change_data = addition.write_to_bytes().unwrap();
    raw_node.propose_conf_change(Vec::new(), addition).unwrap();
    let ready = raw_node.ready();
    storage.wl().append(&ready.entries).unwrap();
    raw_node.advance(ready);

    let last_index = storage.last_index().unwrap();
    let entries = storage
        .entries(last_index - 1, last_index + 1, None)
        .unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].data, b"somedata".to_vec());
    assert_eq!(entries[1].entry_type(), EntryType::EntryConfChange);
    assert_eq!(entries[1].data, conf_change_data);
}

/// Proposing and applying an AddNode for an existing member is harmless,
/// and a later AddNode of a new node still works (Raft paper §6).
#[test]
fn test_raw_node_propose_add_duplicate_node() {
    let storage = MemStorage::new();
    let mut raw_node = single_node_leader(&storage);

    let mut propose_and_apply = |conf_change: ConfChange| {
        raw_node
            .propose_conf_change(Vec::new(), conf_change)
            .unwrap();
        let ready = raw_node.ready();
        storage.wl().append(&ready.entries).unwrap();
        if let Some(hard_state) = &ready.hard_state {
            storage.wl().set_hardstate(hard_state.clone());
        }
        for entry in &ready.committed_entries {
            if entry.entry_type() == EntryType::EntryConfChange {
                let conf_change = ConfChange::parse_from_bytes(&entry.data).unwrap();
                let result = raw_node.apply_conf_change(&conf_change);
                assert!(
                    matches!(result, Ok(_) | Err(Error::Exists { .. })),
                    "unexpected {result:?}"
                );
            }
        }
        raw_node.advance(ready);
        raw_node.raft.raft_log.applied
    };

    let add_1 = conf_change(ConfChangeType::AddNode, 1);
    propose_and_apply(add_1.clone());
    propose_and_apply(add_1.clone());
    let add_2 = conf_change(ConfChangeType::AddNode, 2);
    propose_and_apply(add_2.clone());

    let last_index = storage.last_index().unwrap();
    let entries = storage
        .entries(last_index - 2, last_index + 1, None)
        .unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0].data, add_1.write_to_bytes().unwrap());
    assert_eq!(entries[1].data, add_1.write_to_bytes().unwrap());
    assert_eq!(entries[2].data, add_2.write_to_bytes().unwrap());
    assert_eq!(progress_ids(&raw_node.raft), vec![1, 2]);
}

/// A leader that applies its own removal steps down, and the remaining
/// members elect a new leader among themselves (thesis §4.2.2).
#[test]
fn test_removed_leader_steps_down() {
    let mut network = network_with_leader_1();
    for id in [1, 2, 3] {
        network.peer_mut(id).remove_node(1).unwrap();
    }
    assert_ne!(network.peer(1).state, StateRole::Leader);

    network.send(vec![new_message(2, 2, MessageType::MsgHup, 0)]);
    assert_eq!(network.peer(2).state, StateRole::Leader);
    assert_eq!(network.peer(3).leader_id, 2);
    assert_eq!(progress_ids(network.peer(2)), vec![2, 3]);
}

/// After a removal, the leader commits with a quorum of the new, smaller
/// membership: an entry stuck at 2 of 4 commits once the group is 3 (thesis §4.1).
#[test]
fn test_commits_resume_with_new_quorum_after_removal() {
    let mut network = fresh_network(4);
    network.send(vec![new_hup(1)]);
    assert_eq!(network.peer(1).state, StateRole::Leader);

    network.isolate(3);
    network.isolate(4);
    network.send(vec![new_proposal(1, b"some data")]);
    let stuck_index = network.peer(1).raft_log.last_index();
    assert!(
        network.peer(1).raft_log.committed < stuck_index,
        "2 of 4 is not a quorum"
    );

    // Removing node 4 makes {1, 2, 3} the group: 1 and 2 are a quorum.
    network.peer_mut(1).remove_node(4).unwrap();
    assert_eq!(network.peer(1).raft_log.committed, stuck_index);

    // And later proposals keep committing with nodes 1 and 2 only.
    network.send(vec![new_proposal(1, b"some data")]);
    let leader = network.peer(1);
    assert_eq!(leader.raft_log.committed, leader.raft_log.last_index());
}

/// While a transfer is in flight the leader refuses proposals, so the
/// transferee does not fall behind again (thesis §3.10).
#[test]
fn test_proposals_refused_during_transfer() {
    let mut network = network_with_leader_1();
    network.isolate(3);
    network.send(vec![transfer_message(3, 1)]);
    assert_eq!(network.peer(1).lead_transferee, Some(3));

    let leader = network.peer_mut(1);
    let last_index = leader.raft_log.last_index();
    assert_eq!(
        leader.step(new_proposal(1, b"some data")),
        Err(Error::ProposalDropped)
    );
    assert_eq!(leader.raft_log.last_index(), last_index);
}

/// A transfer that cannot finish within an election timeout is abandoned:
/// the leader keeps leading and accepts proposals again (thesis §3.10).
#[test]
fn test_transfer_aborted_after_election_timeout() {
    let mut network = network_with_leader_1();
    network.isolate(3);
    network.send(vec![transfer_message(3, 1)]);
    assert_eq!(network.peer(1).lead_transferee, Some(3));

    let leader = network.peer_mut(1);
    for _ in 0..leader.election_timeout() {
        leader.tick();
    }
    check_leader_transfer_state(leader, StateRole::Leader, 1);
    let last_index = leader.raft_log.last_index();
    leader.step(new_proposal(1, b"some data")).unwrap();
    assert_eq!(leader.raft_log.last_index(), last_index + 1);
}

/// A conf change commits through Ready and applying it changes the
/// membership (Raft paper §6).
#[test]
fn test_raw_node_conf_change_through_ready() {
    let storage = MemStorage::new();
    let mut node = single_node_leader(&storage);
    node.propose_conf_change(Vec::new(), conf_change(ConfChangeType::AddNode, 2))
        .unwrap();
    let (_, committed) = handle_ready(&mut node, &storage);
    assert_eq!(committed.len(), 1);
    assert_eq!(committed[0].entry_type(), EntryType::EntryConfChange);
    let mut ids: Vec<u64> = node.raft.prs().keys().copied().collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![1, 2]);
    assert_eq!(storage.rl().hard_state().commit, 2);
    // Removing it again returns the new membership.
    let cs = node
        .apply_conf_change(&conf_change(ConfChangeType::RemoveNode, 2))
        .unwrap();
    assert_eq!(cs.nodes, vec![1]);
    assert_eq!(
        node.apply_conf_change(&conf_change(ConfChangeType::RemoveNode, 2)),
        Err(Error::NotExists { id: 2 })
    );
}

/// Only one conf change may be pending: a second one proposed before the
/// first is applied becomes an empty normal entry (Raft thesis §4.1).
#[test]
fn test_raw_node_second_pending_conf_change_is_dropped() {
    let storage = MemStorage::new();
    let mut node = new_raw_node(1, vec![1, 2], storage.clone());
    node.raft.become_candidate();
    node.raft.become_leader();
    handle_ready(&mut node, &storage);
    node.propose_conf_change(Vec::new(), conf_change(ConfChangeType::AddNode, 3))
        .unwrap();
    node.propose_conf_change(Vec::new(), conf_change(ConfChangeType::AddNode, 4))
        .unwrap();
    let ents = node.raft.raft_log.unstable_entries().to_vec();
    assert_eq!(ents.len(), 2);
    assert_eq!(ents[0].entry_type(), EntryType::EntryConfChange);
    assert_eq!(ents[1].entry_type(), EntryType::EntryNormal);
    assert!(ents[1].data.is_empty());
}
