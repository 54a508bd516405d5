//! PreVote (Raft thesis §9.6): before starting an election, a node asks
//! whether it could win one, without changing its term. Only if a quorum
//! says yes does it become a real candidate. A node cut off from the group
//! therefore keeps its term while it times out again and again, and cannot
//! force the healthy leader to step down when it comes back.
//!
//! These tests drive single nodes message by message, and small networks
//! through partitions, with PreVote on (and, for contrast, off).

// needs labs 2AA, 2AB: begin — pre-vote tests drive whole raft groups through elections and replication
use proto::eraftpb::{Message, MessageType};
use raft::{MemStorage, Raft, StateRole, INVALID_ID};

use crate::harness::{
    entries, new_beat, new_hup, new_message, new_proposal, new_test_config,
    new_test_raft_with_config, new_test_raft_with_prevote, storage_with_terms, Network,
    NetworkNode,
};

/// A PreVote node `id` of the group `peers` whose log holds `terms`, as a
/// follower in the last of those terms.
fn pre_vote_raft(id: u64, peers: Vec<u64>, terms: &[u64]) -> Raft<MemStorage> {
    let storage = storage_with_terms(terms);
    let mut raft = new_test_raft_with_prevote(id, peers, 10, 1, storage, true);
    let term = terms.last().copied().unwrap_or(0);
    raft.become_follower(term, INVALID_ID);
    raft
}

/// A vote-related message with the given term and candidate log position.
fn vote_message(
    from: u64,
    to: u64,
    msg_type: MessageType,
    term: u64,
    last_index: u64,
    last_term: u64,
) -> Message {
    let mut message = new_message(from, to, msg_type, 0);
    message.term = term;
    message.index = last_index;
    message.log_term = last_term;
    message
}

/// A response to a (pre-)vote, granted or not.
fn vote_response(from: u64, to: u64, msg_type: MessageType, term: u64, reject: bool) -> Message {
    let mut message = new_message(from, to, msg_type, 0);
    message.term = term;
    message.reject = reject;
    message
}

/// A network of `size` fresh nodes with PreVote on or off, where node 1
/// won the first election.
fn network_with_leader_1(size: usize, pre_vote: bool) -> Network {
    let nodes = (0..size).map(|_| NetworkNode::Fresh).collect();
    let mut network = Network::new_with_prevote(nodes, pre_vote);
    network.send(vec![new_hup(1)]);
    assert_eq!(network.peer(1).state, StateRole::Leader);
    network
}

/// Ticks node `id` for `ticks` ticks, delivering whatever it sends.
fn tick_node(network: &mut Network, id: u64, ticks: usize) {
    for _ in 0..ticks {
        network.peer_mut(id).tick();
        let messages = network.peer_mut(id).read_messages();
        network.send(messages);
    }
}

/// An election timeout starts a pre-vote: the node becomes a pre-candidate
/// and asks for votes for the next term, but keeps its own term and vote
/// (thesis §9.6).
#[test]
fn test_pre_candidate_does_not_increase_term() {
    let mut raft = pre_vote_raft(1, vec![1, 2, 3], &[1, 2]);
    raft.step(new_hup(1)).unwrap();

    assert_eq!(raft.state, StateRole::PreCandidate);
    assert_eq!(
        raft.term, 2,
        "the term only changes when the pre-vote is won"
    );
    assert_eq!(
        raft.vote, INVALID_ID,
        "a pre-candidate votes for nobody yet"
    );
    let mut requests = raft.read_messages();
    requests.sort_by_key(|m| m.to);
    assert_eq!(requests.len(), 2);
    for (request, to) in requests.iter().zip([2, 3]) {
        assert_eq!(request.msg_type(), MessageType::MsgRequestPreVote);
        assert_eq!(request.to, to);
        assert_eq!(request.term, 3, "asks about the next term");
        assert_eq!((request.index, request.log_term), (2, 2));
    }
}

/// A pre-candidate that gathers a quorum of pre-votes becomes a real
/// candidate: the term increases, it votes for itself and asks for real
/// votes (thesis §9.6).
#[test]
fn test_pre_candidate_becomes_candidate_after_quorum_of_pre_votes() {
    let mut raft = pre_vote_raft(1, vec![1, 2, 3], &[1]);
    raft.step(new_hup(1)).unwrap();
    raft.read_messages();

    raft.step(vote_response(
        2,
        1,
        MessageType::MsgRequestPreVoteResponse,
        2,
        false,
    ))
    .unwrap();
    assert_eq!(raft.state, StateRole::Candidate);
    assert_eq!(raft.term, 2);
    assert_eq!(raft.vote, 1);
    let requests = raft.read_messages();
    assert_eq!(requests.len(), 2);
    assert!(requests
        .iter()
        .all(|m| m.msg_type() == MessageType::MsgRequestVote && m.term == 2));
}

/// A node grants a pre-vote to a candidate whose log is at least as up to
/// date, answering with the proposed term, and changes neither its term
/// nor its vote (Raft paper §5.4.1, thesis §9.6).
#[test]
fn test_pre_vote_granted_to_up_to_date_log() {
    let mut raft = pre_vote_raft(1, vec![1, 2, 3], &[1, 1]);
    raft.step(vote_message(2, 1, MessageType::MsgRequestPreVote, 2, 2, 1))
        .unwrap();

    let responses = raft.read_messages();
    assert_eq!(responses.len(), 1);
    assert_eq!(
        responses[0].msg_type(),
        MessageType::MsgRequestPreVoteResponse
    );
    assert!(!responses[0].reject);
    assert_eq!(responses[0].term, 2);
    assert_eq!(raft.term, 1, "a pre-vote does not move the voter's term");
    assert_eq!(raft.vote, INVALID_ID, "a pre-vote is not a vote");
    assert_eq!(raft.state, StateRole::Follower);
}

/// A node refuses a pre-vote to a candidate whose log is behind its own,
/// whatever the proposed term (Raft paper §5.4.1, thesis §9.6).
#[test]
fn test_pre_vote_rejected_for_stale_log() {
    let mut raft = pre_vote_raft(1, vec![1, 2, 3], &[1, 2]);
    // Longer log but an older last term: not up to date.
    raft.step(vote_message(2, 1, MessageType::MsgRequestPreVote, 5, 7, 1))
        .unwrap();

    let responses = raft.read_messages();
    assert_eq!(responses.len(), 1);
    assert_eq!(
        responses[0].msg_type(),
        MessageType::MsgRequestPreVoteResponse
    );
    assert!(responses[0].reject);
    assert_eq!(raft.term, 2);
}

/// A pre-vote request for a term below the receiver's is rejected with the
/// receiver's term, so the pre-candidate learns it is behind (thesis §9.6).
#[test]
fn test_pre_vote_for_lower_term_rejected_with_current_term() {
    let mut raft = pre_vote_raft(1, vec![1, 2, 3], &[1, 5]);
    raft.step(vote_message(2, 1, MessageType::MsgRequestPreVote, 3, 9, 5))
        .unwrap();

    let responses = raft.read_messages();
    assert_eq!(responses.len(), 1);
    assert!(responses[0].reject);
    assert_eq!(responses[0].term, 5);
}

/// A rejected pre-vote carrying a higher term makes the pre-candidate a
/// follower in that term (Raft paper §5.1, thesis §9.6).
#[test]
fn test_pre_vote_response_with_higher_term() {
    let mut raft = pre_vote_raft(1, vec![1, 2, 3], &[1]);
    raft.step(new_hup(1)).unwrap();
    assert_eq!(raft.state, StateRole::PreCandidate);

    raft.step(vote_response(
        2,
        1,
        MessageType::MsgRequestPreVoteResponse,
        5,
        true,
    ))
    .unwrap();
    assert_eq!(raft.state, StateRole::Follower);
    assert_eq!(raft.term, 5);
}

/// A pre-candidate rejected by a quorum goes back to being a follower in
/// the same term (thesis §9.6).
#[test]
fn test_pre_candidate_loses_with_quorum_of_rejections() {
    let mut raft = pre_vote_raft(1, vec![1, 2, 3], &[1]);
    raft.step(new_hup(1)).unwrap();

    for from in [2, 3] {
        raft.step(vote_response(
            from,
            1,
            MessageType::MsgRequestPreVoteResponse,
            1,
            true,
        ))
        .unwrap();
    }
    assert_eq!(raft.state, StateRole::Follower);
    assert_eq!(raft.term, 1);
}

/// A pre-candidate that hears from a leader of its current term follows it
/// (Raft paper §5.2, thesis §9.6).
#[test]
fn test_pre_candidate_follows_leader_of_current_term() {
    let mut raft = pre_vote_raft(1, vec![1, 2, 3], &[1, 2]);
    raft.step(new_hup(1)).unwrap();
    assert_eq!(raft.state, StateRole::PreCandidate);

    let mut heartbeat = new_message(2, 1, MessageType::MsgHeartbeat, 0);
    heartbeat.term = 2;
    raft.step(heartbeat).unwrap();
    assert_eq!(raft.state, StateRole::Follower);
    assert_eq!(raft.leader_id, 2);
    assert_eq!(raft.term, 2);
}

/// A pre-vote request never changes the receiving leader's role or term
/// (thesis §9.6).
#[test]
fn test_pre_vote_request_does_not_depose_leader() {
    let mut network = network_with_leader_1(3, true);
    let last_index = network.peer(1).raft_log.last_index();
    network.send(vec![vote_message(
        3,
        1,
        MessageType::MsgRequestPreVote,
        2,
        last_index,
        1,
    )]);
    assert_eq!(network.peer(1).state, StateRole::Leader);
    assert_eq!(network.peer(1).term, 1);
}

/// A partitioned PreVote node times out again and again without raising
/// its term, so when the partition heals the leader keeps leading and the
/// node catches up (thesis §9.6).
#[test]
fn test_partitioned_node_rejoins_without_disrupting_leader() {
    let mut network = network_with_leader_1(3, true);
    network.isolate(3);
    let election_timeout = network.peer(3).election_timeout();
    tick_node(&mut network, 3, 5 * election_timeout);
    assert_eq!(
        network.peer(3).term,
        1,
        "pre-votes never won: term unchanged"
    );
    assert_eq!(network.peer(3).state, StateRole::PreCandidate);

    network.recover();
    network.send(vec![new_beat(1)]);
    network.send(vec![new_proposal(1, b"after heal")]);
    assert_eq!(network.peer(1).state, StateRole::Leader);
    assert_eq!(network.peer(1).term, 1);
    assert_eq!(network.peer(3).state, StateRole::Follower);
    assert_eq!(network.peer(3).leader_id, 1);
    assert_eq!(
        network.peer(3).raft_log.committed,
        network.peer(1).raft_log.committed
    );
}

/// Without PreVote the same partitioned node raises its term while cut
/// off, and its first vote request after healing deposes the leader: the
/// disruption PreVote prevents (thesis §9.6).
#[test]
fn test_partitioned_node_without_pre_vote_disrupts_leader() {
    let mut network = network_with_leader_1(3, false);
    network.isolate(3);
    let election_timeout = network.peer(3).election_timeout();
    tick_node(&mut network, 3, 5 * election_timeout);
    let partitioned_term = network.peer(3).term;
    assert!(partitioned_term > 1);

    network.recover();
    network.send(vec![new_hup(3)]);
    assert_ne!(network.peer(1).state, StateRole::Leader);
    assert!(network.peer(1).term > partitioned_term);
}

/// With PreVote and CheckQuorum, followers that heard from the leader within
/// the election timeout ignore pre-votes, so an eager node cannot even pass
/// the pre-vote round (thesis §9.6, §4.2.3).
#[test]
fn test_pre_vote_ignored_within_leader_lease() {
    let nodes = (0..3).map(|_| NetworkNode::Fresh).collect();
    let mut network = Network::new_with_config(nodes, |id| {
        let mut config = new_test_config(id, 10, 1);
        config.pre_vote = true;
        config.check_quorum = true;
        config
    });
    network.send(vec![new_hup(1)]);
    assert_eq!(network.peer(1).state, StateRole::Leader);

    network.send(vec![new_hup(3)]);
    assert_eq!(network.peer(3).state, StateRole::PreCandidate);
    assert_eq!(network.peer(3).term, 1);
    assert_eq!(network.peer(1).state, StateRole::Leader);
    assert_eq!(network.peer(2).leader_id, 1);
}

/// When the leader fails, PreVote still elects a new leader: both remaining
/// nodes may run a pre-vote at once, yet a single leader emerges and the
/// term advances only once per real election (thesis §9.6).
#[test]
fn test_pre_vote_elects_new_leader_after_leader_failure() {
    let mut network = network_with_leader_1(3, true);
    network.isolate(1);
    network.send(vec![new_hup(2), new_hup(3)]);
    if network.peer(2).state != StateRole::Leader && network.peer(3).state != StateRole::Leader {
        // Split vote: one more round settles it.
        network.send(vec![new_hup(2)]);
    }
    let leaders: Vec<u64> = [2, 3]
        .into_iter()
        .filter(|id| network.peer(*id).state == StateRole::Leader)
        .collect();
    assert_eq!(leaders.len(), 1, "exactly one leader");
    let leader = leaders[0];
    let follower = 5 - leader;
    assert_eq!(network.peer(follower).leader_id, leader);
    assert_eq!(network.peer(follower).term, network.peer(leader).term);
    assert!(network.peer(leader).term <= 3);
}

/// A node whose log is behind cannot win even the pre-vote, so its term
/// stays put and the up-to-date nodes are not disturbed (Raft paper
/// §5.4.1, thesis §9.6).
#[test]
fn test_stale_node_cannot_pass_pre_vote() {
    let stale = pre_vote_raft(1, vec![1], &[1]);
    let up_to_date_2 = pre_vote_raft(2, vec![2], &[1, 1, 1]);
    let up_to_date_3 = pre_vote_raft(3, vec![3], &[1, 1, 1]);
    let mut network = Network::new_with_prevote(
        vec![stale.into(), up_to_date_2.into(), up_to_date_3.into()],
        true,
    );
    network.send(vec![new_hup(1)]);
    assert_eq!(network.peer(1).state, StateRole::Follower);
    assert_eq!(network.peer(1).term, 1);
    assert_eq!(network.peer(2).term, 1);
    assert_eq!(network.peer(3).term, 1);

    // An up-to-date node wins, first the pre-vote then the election.
    network.send(vec![new_hup(2)]);
    assert_eq!(network.peer(2).state, StateRole::Leader);
    assert_eq!(network.peer(2).term, 2);
    let log = entries(&[(1, 1), (2, 1), (3, 1)]);
    assert_eq!(network.peer(1).raft_log.all_entries()[..3], log[..]);
}

/// Building a node with PreVote through a full config works as through the
/// shortcut helper, and it campaigns through a pre-vote (thesis §9.6).
#[test]
fn test_pre_vote_config_flag_controls_campaign_kind() {
    let mut config = new_test_config(1, 10, 1);
    config.peers = vec![1, 2, 3];
    config.pre_vote = true;
    let mut with_pre_vote = new_test_raft_with_config(&config, MemStorage::new());
    with_pre_vote.step(new_hup(1)).unwrap();
    assert_eq!(with_pre_vote.state, StateRole::PreCandidate);

    config.pre_vote = false;
    let mut without_pre_vote = new_test_raft_with_config(&config, MemStorage::new());
    without_pre_vote.step(new_hup(1)).unwrap();
    assert_eq!(without_pre_vote.state, StateRole::Candidate);
    assert_eq!(without_pre_vote.term, 1);
}
// needs labs: end
