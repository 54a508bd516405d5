//! CheckQuorum (Raft thesis §6.2, §9.6): a leader that has not heard from
//! a quorum within an election timeout steps down, and a follower that
//! heard from its leader within the election timeout (the leader lease)
//! ignores vote requests of higher terms. Together they keep a partitioned
//! minority leader from serving stale data and keep a rejoining node from
//! deposing a healthy leader; a stale leader or stuck candidate still
//! learns the current term from the answers to its messages.

// needs labs 2AA, 2AB: begin — check-quorum tests drive whole raft groups through elections and replication
use proto::eraftpb::MessageType;
use raft::{MemStorage, Raft, StateRole};

use crate::harness::{
    new_beat, new_hup, new_message, new_proposal, new_test_config, new_test_raft_with_config,
    Network, NetworkNode,
};

/// A network of `size` fresh nodes with CheckQuorum on.
fn check_quorum_network(size: usize) -> Network {
    let nodes = (0..size).map(|_| NetworkNode::Fresh).collect();
    Network::new_with_config(nodes, |id| {
        let mut config = new_test_config(id, 10, 1);
        config.check_quorum = true;
        config
    })
}

/// Like [`check_quorum_network`] with three nodes, where node 1 leads.
fn network_with_leader_1() -> Network {
    let mut network = check_quorum_network(3);
    network.send(vec![new_hup(1)]);
    assert_eq!(network.peer(1).state, StateRole::Leader);
    network
}

/// A CheckQuorum node `id` of the group `peers`, with an empty log.
fn check_quorum_raft(id: u64, peers: Vec<u64>) -> Raft<MemStorage> {
    let mut config = new_test_config(id, 10, 1);
    config.peers = peers;
    config.check_quorum = true;
    new_test_raft_with_config(&config, MemStorage::new())
}

/// Ticks node `id` `ticks` times, delivering what it sends after each tick.
fn tick_node(network: &mut Network, id: u64, ticks: usize) {
    for _ in 0..ticks {
        network.peer_mut(id).tick();
        let messages = network.peer_mut(id).read_messages();
        network.send(messages);
    }
}

/// Ticks node `id` `ticks` times and throws away what it sends.
fn tick_node_silently(network: &mut Network, id: u64, ticks: usize) {
    for _ in 0..ticks {
        network.peer_mut(id).tick();
        network.peer_mut(id).read_messages();
    }
}

/// A leader cut off from every follower steps down once an election
/// timeout passes without hearing from a quorum (thesis §6.2).
#[test]
fn test_leader_steps_down_without_active_quorum() {
    let mut network = network_with_leader_1();
    network.isolate(1);
    let election_timeout = network.peer(1).election_timeout();

    // The first check may still count the answers to the election's appends.
    tick_node(&mut network, 1, 2 * election_timeout);
    assert_eq!(network.peer(1).state, StateRole::Follower);
    assert_eq!(
        network.peer(1).term,
        1,
        "stepping down does not change the term"
    );
}

/// A leader that hears from a quorum keeps leading across many election
/// timeouts, even with one follower unreachable (thesis §6.2).
#[test]
fn test_leader_stays_with_active_quorum() {
    let mut network = network_with_leader_1();
    network.isolate(3);
    let election_timeout = network.peer(1).election_timeout();

    tick_node(&mut network, 1, 5 * election_timeout);
    assert_eq!(network.peer(1).state, StateRole::Leader);
    assert_eq!(network.peer(1).term, 1);
}

/// The leader counts a peer as active once it answers, and clears the mark
/// at every check, so each election timeout needs fresh answers (thesis §6.2).
#[test]
fn test_check_quorum_refreshes_recent_activity() {
    let mut raft = check_quorum_raft(1, vec![1, 2, 3]);
    raft.become_candidate();
    raft.become_leader();
    let mut response = new_message(2, 1, MessageType::MsgHeartbeatResponse, 0);
    response.term = raft.term;
    raft.step(response).unwrap();
    assert!(raft.prs()[&2].recent_active);
    assert!(!raft.prs()[&3].recent_active);

    for _ in 0..raft.election_timeout() {
        raft.tick();
    }
    assert_eq!(raft.state, StateRole::Leader, "1 and 2 are a quorum of 3");
    assert!(
        !raft.prs()[&2].recent_active,
        "marks are cleared by the check"
    );

    for _ in 0..raft.election_timeout() {
        raft.tick();
    }
    assert_eq!(raft.state, StateRole::Follower, "nobody answered since");
}

/// Within the leader lease, followers (and the leader) ignore a vote request
/// of a higher term without even adopting the term; once a follower's lease
/// expires it votes normally (thesis §4.2.3, §6.2).
#[test]
fn test_follower_in_lease_ignores_higher_term_vote() {
    let mut network = network_with_leader_1();

    network.send(vec![new_hup(3)]);
    assert_eq!(network.peer(3).state, StateRole::Candidate);
    assert_eq!(network.peer(3).term, 2);
    assert_eq!(network.peer(1).state, StateRole::Leader);
    assert_eq!(network.peer(1).term, 1);
    assert_eq!(network.peer(2).term, 1);
    assert_eq!(network.peer(2).leader_id, 1);

    // Node 2 stops hearing from the leader for an election timeout.
    let election_timeout = network.peer(2).election_timeout();
    network
        .peer_mut(2)
        .set_randomized_election_timeout(election_timeout + 1);
    tick_node_silently(&mut network, 2, election_timeout);
    network.send(vec![new_hup(3)]);
    assert_eq!(network.peer(3).state, StateRole::Leader);
    assert_eq!(network.peer(2).leader_id, 3);
}

/// Without CheckQuorum there is no lease: a follower that just heard from
/// its leader still grants a higher-term vote (contrast with thesis §4.2.3).
#[test]
fn test_no_lease_without_check_quorum() {
    let nodes = (0..3).map(|_| NetworkNode::Fresh).collect();
    let mut network = Network::new(nodes);
    network.send(vec![new_hup(1)]);
    assert_eq!(network.peer(1).state, StateRole::Leader);

    network.send(vec![new_hup(3)]);
    assert_eq!(network.peer(3).state, StateRole::Leader);
    assert_eq!(network.peer(1).state, StateRole::Follower);
    assert_eq!(network.peer(1).term, 2);
}

/// A node that was partitioned and campaigned up to a high term cannot
/// depose the healthy leader with its vote requests when it rejoins: the
/// members in lease ignore them (thesis §4.2.3, §9.6).
#[test]
fn test_rejoining_node_does_not_depose_healthy_leader() {
    let mut network = network_with_leader_1();
    network.isolate(3);
    let election_timeout = network.peer(3).election_timeout();
    tick_node(&mut network, 3, 3 * election_timeout);
    let stuck_term = network.peer(3).term;
    assert!(stuck_term > 1);
    assert_eq!(network.peer(3).state, StateRole::Candidate);

    network.recover();
    network.send(vec![new_hup(3)]);
    assert_eq!(network.peer(1).state, StateRole::Leader);
    assert_eq!(network.peer(1).term, 1);
    assert_eq!(network.peer(2).term, 1);
    assert_eq!(network.peer(2).leader_id, 1);
}

/// A candidate stuck at a higher term is freed: the leader's next heartbeat
/// gets an answer carrying that term, the leader steps down, and the
/// stuck node can then win an election (thesis §9.6).
#[test]
fn test_free_stuck_candidate_with_check_quorum() {
    let mut network = network_with_leader_1();
    network.isolate(3);
    let election_timeout = network.peer(3).election_timeout();
    tick_node(&mut network, 3, 3 * election_timeout);
    let stuck_term = network.peer(3).term;
    assert_eq!(network.peer(3).state, StateRole::Candidate);

    network.recover();
    network.send(vec![new_beat(1)]);
    assert_eq!(network.peer(1).state, StateRole::Follower);
    assert_eq!(network.peer(1).term, stuck_term);

    // Node 1 no longer has a leader, so it is out of lease and votes.
    network.send(vec![new_hup(3)]);
    assert_eq!(network.peer(3).state, StateRole::Leader);
    assert_eq!(network.peer(1).leader_id, 3);
}

/// With CheckQuorum, fresh nodes still elect a leader, and after every
/// lease has expired another node can take over (thesis §6.2).
#[test]
fn test_leader_election_with_check_quorum() {
    let mut network = network_with_leader_1();
    let election_timeout = network.peer(2).election_timeout();
    // Node 2's lease runs out (without it campaigning on its own); the
    // leader, not ticked, still ignores the vote request.
    network
        .peer_mut(2)
        .set_randomized_election_timeout(election_timeout + 1);
    tick_node_silently(&mut network, 2, election_timeout);
    network.send(vec![new_hup(3)]);
    assert_eq!(network.peer(3).state, StateRole::Leader);
    assert_eq!(network.peer(2).leader_id, 3);
    assert_eq!(network.peer(1).state, StateRole::Follower);
    assert_eq!(network.peer(1).leader_id, 3);
}

/// A node outside its own configuration never campaigns, however many
/// election timeouts pass, and simply follows a leader that contacts it
/// (Raft paper §6, thesis §6.2).
#[test]
fn test_non_promotable_node_with_check_quorum_never_campaigns() {
    let mut raft = check_quorum_raft(2, vec![1]);
    for _ in 0..10 * raft.election_timeout() {
        raft.tick();
    }
    assert_eq!(raft.state, StateRole::Follower);
    assert_eq!(raft.term, 0);
    assert!(raft.read_messages().is_empty());

    let mut append = new_message(1, 2, MessageType::MsgAppend, 0);
    append.term = 1;
    raft.step(append).unwrap();
    assert_eq!(raft.leader_id, 1);
    assert_eq!(raft.term, 1);
}

/// A deposed leader that was partitioned learns the new term from the
/// answer to its first append after healing and steps down, instead of
/// being ignored forever (thesis §6.2, §9.6).
#[test]
fn test_stale_leader_learns_new_term_after_partition() {
    let mut network = network_with_leader_1();
    network.isolate(1);
    // The majority elects a new leader once node 3's lease expired (the
    // timeouts are pinned so that neither node campaigns on its own).
    let election_timeout = network.peer(2).election_timeout();
    for id in [2, 3] {
        network
            .peer_mut(id)
            .set_randomized_election_timeout(election_timeout + 1);
        tick_node_silently(&mut network, id, election_timeout);
    }
    network.send(vec![new_hup(2)]);
    assert_eq!(network.peer(2).state, StateRole::Leader);
    assert_eq!(network.peer(2).term, 2);

    network.recover();
    // Node 1 still believes it leads term 1 (its check has not run yet).
    network.send(vec![new_proposal(1, b"stale")]);
    assert_eq!(network.peer(1).state, StateRole::Follower);
    assert_eq!(network.peer(1).term, 2);
    network.send(vec![new_beat(2)]);
    assert_eq!(network.peer(1).leader_id, 2);
}
// needs labs: end
