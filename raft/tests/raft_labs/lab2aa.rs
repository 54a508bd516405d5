//! Lab 2AA: leader election (Raft paper §5.1, §5.2, §5.4.1).
//!
//! Terms, roles, randomized election timeouts, vote granting and the
//! election of a single leader per term, on single nodes and on small
//! in-memory networks (see `harness.rs`).

use proto::eraftpb::{Message, MessageType};
use raft::{MemStorage, Raft, StateRole, INVALID_ID};

use crate::harness::*;

/// Puts a fresh 3-node member into `state` at term 1.
fn raft_in_state(state: StateRole) -> Raft<MemStorage> {
    let mut r = new_test_raft(1, vec![1, 2, 3], 10, 1, MemStorage::new());
    match state {
        StateRole::Follower => r.become_follower(1, 2),
        StateRole::PreCandidate => r.become_pre_candidate(),
        StateRole::Candidate => r.become_candidate(),
        StateRole::Leader => {
            r.become_candidate();
            r.become_leader();
        }
    }
    r
}

/// The messages of `r`, sorted by destination so tests do not depend on order.
fn sorted_messages(r: &mut Raft<MemStorage>) -> Vec<Message> {
    let mut msgs = r.read_messages();
    msgs.sort_by_key(|m| (m.to, m.msg_type() as i32));
    msgs
}

fn check_update_term_from_message(state: StateRole) {
    let mut r = raft_in_state(state);
    let mut m = new_message(2, 1, MessageType::MsgAppend, 0);
    m.term = 2;
    r.step(m).unwrap();
    assert_eq!(r.term, 2);
    assert_eq!(r.state, StateRole::Follower);
    assert_eq!(r.leader_id, 2);
}

/// A follower seeing a larger term adopts it (Raft paper §5.1).
#[test]
fn test_follower_update_term_from_message() {
    check_update_term_from_message(StateRole::Follower);
}

/// A candidate seeing a larger term adopts it and becomes follower (Raft paper §5.1).
#[test]
fn test_candidate_update_term_from_message() {
    check_update_term_from_message(StateRole::Candidate);
}

/// A leader seeing a larger term adopts it and steps down (Raft paper §5.1).
#[test]
fn test_leader_update_term_from_message() {
    check_update_term_from_message(StateRole::Leader);
}

/// Servers start up as followers (Raft paper §5.2).
#[test]
fn test_start_as_follower() {
    let r = new_test_raft(1, vec![1, 2, 3], 10, 1, MemStorage::new());
    assert_eq!(r.state, StateRole::Follower);
    assert_eq!(r.term, 0);
    assert_eq!(r.leader_id, INVALID_ID);
}

/// A leader sends heartbeats to all followers every heartbeat timeout (Raft paper §5.2).
#[test]
fn test_leader_bcast_beat() {
    let heartbeat = 1;
    let mut r = new_test_raft(1, vec![1, 2, 3], 10, heartbeat, MemStorage::new());
    r.become_candidate();
    r.become_leader();
    r.read_messages();
    for _ in 0..heartbeat {
        r.tick();
    }
    let msgs = sorted_messages(&mut r);
    let summary: Vec<(u64, u64, u64, MessageType)> = msgs
        .iter()
        .map(|m| (m.from, m.to, m.term, m.msg_type()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, 2, 1, MessageType::MsgHeartbeat),
            (1, 3, 1, MessageType::MsgHeartbeat)
        ]
    );
}

/// A leader steps MsgBeat into heartbeats; other roles ignore it (Raft paper §5.2).
#[test]
fn test_handle_msg_beat() {
    for (state, want) in [
        (StateRole::Leader, 2),
        (StateRole::Candidate, 0),
        (StateRole::Follower, 0),
    ] {
        let mut r = raft_in_state(state);
        r.read_messages();
        r.step(new_beat(1)).unwrap();
        let msgs = r.read_messages();
        assert_eq!(msgs.len(), want, "{state:?}");
        assert!(msgs
            .iter()
            .all(|m| m.msg_type() == MessageType::MsgHeartbeat));
    }
}

fn check_nonleader_start_election(state: StateRole) {
    let election = 10;
    let mut r = new_test_raft(1, vec![1, 2, 3], election, 1, MemStorage::new());
    match state {
        StateRole::Follower => r.become_follower(1, 2),
        _ => r.become_candidate(),
    }
    for _ in 1..2 * election {
        r.tick();
    }
    assert_eq!(r.term, 2);
    assert_eq!(r.state, StateRole::Candidate);
    assert_eq!(r.vote, r.id, "a candidate votes for itself");
    let msgs = sorted_messages(&mut r);
    let summary: Vec<(u64, u64, u64, MessageType, u64, u64)> = msgs
        .iter()
        .map(|m| (m.from, m.to, m.term, m.msg_type(), m.index, m.log_term))
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, 2, 2, MessageType::MsgRequestVote, 0, 0),
            (1, 3, 2, MessageType::MsgRequestVote, 0, 0)
        ]
    );
}

/// A follower that hears nothing for an election timeout increments its
/// term, votes for itself and asks everyone for votes (Raft paper §5.2).
#[test]
fn test_follower_start_election() {
    check_nonleader_start_election(StateRole::Follower);
}

/// A candidate whose election times out starts a new one in the next term (Raft paper §5.2).
#[test]
fn test_candidate_start_new_election() {
    check_nonleader_start_election(StateRole::Candidate);
}

/// A candidate wins with a majority of votes, loses on a majority of
/// rejections, and otherwise stays a candidate (Raft paper §5.2).
#[test]
fn test_leader_election_in_one_round_rpc() {
    // (cluster size, votes received: peer -> granted, expected state)
    type Case = (u64, Vec<(u64, bool)>, StateRole);
    let cases: Vec<Case> = vec![
        (1, vec![], StateRole::Leader),
        (3, vec![(2, true), (3, true)], StateRole::Leader),
        (3, vec![(2, true)], StateRole::Leader),
        (
            5,
            vec![(2, true), (3, true), (4, true), (5, true)],
            StateRole::Leader,
        ),
        (5, vec![(2, true), (3, true), (4, true)], StateRole::Leader),
        (5, vec![(2, true), (3, true)], StateRole::Leader),
        (3, vec![(2, false), (3, false)], StateRole::Follower),
        (
            5,
            vec![(2, false), (3, false), (4, false), (5, false)],
            StateRole::Follower,
        ),
        (
            5,
            vec![(2, true), (3, false), (4, false), (5, false)],
            StateRole::Follower,
        ),
        (3, vec![], StateRole::Candidate),
        (5, vec![(2, true)], StateRole::Candidate),
        (5, vec![(2, false), (3, false)], StateRole::Candidate),
        (5, vec![], StateRole::Candidate),
    ];
    for (i, (size, votes, want)) in cases.into_iter().enumerate() {
        let peers: Vec<u64> = (1..=size).collect();
        let mut r = new_test_raft(1, peers, 10, 1, MemStorage::new());
        r.step(new_hup(1)).unwrap();
        for (from, granted) in votes {
            let mut m = new_message(from, 1, MessageType::MsgRequestVoteResponse, 0);
            m.term = r.term;
            m.reject = !granted;
            r.step(m).unwrap();
        }
        assert_eq!(r.state, want, "case {i}");
        assert_eq!(r.term, 1, "case {i}");
    }
}

/// Each follower votes for at most one candidate per term, first come
/// first served (Raft paper §5.2).
#[test]
fn test_follower_vote() {
    // (already voted for, candidate, expect rejection)
    let cases = [
        (INVALID_ID, 1, false),
        (INVALID_ID, 2, false),
        (1, 1, false),
        (2, 2, false),
        (1, 2, true),
        (2, 1, true),
    ];
    for (i, &(vote, candidate, want_reject)) in cases.iter().enumerate() {
        let mut r = new_test_raft(1, vec![1, 2, 3], 10, 1, MemStorage::new());
        r.term = 1;
        r.vote = vote;
        let mut m = new_message(candidate, 1, MessageType::MsgRequestVote, 0);
        m.term = 1;
        r.step(m).unwrap();
        let msgs = r.read_messages();
        assert_eq!(msgs.len(), 1, "case {i}");
        assert_eq!(
            msgs[0].msg_type(),
            MessageType::MsgRequestVoteResponse,
            "case {i}"
        );
        assert_eq!(msgs[0].to, candidate, "case {i}");
        assert_eq!(msgs[0].term, 1, "case {i}");
        assert_eq!(msgs[0].reject, want_reject, "case {i}");
    }
}

/// A candidate that hears from a leader of its term or a later one
/// recognizes it and returns to follower (Raft paper §5.2).
#[test]
fn test_candidate_fallback() {
    for term in [1, 2] {
        let mut r = new_test_raft(1, vec![1, 2, 3], 10, 1, MemStorage::new());
        r.step(new_hup(1)).unwrap();
        assert_eq!(r.state, StateRole::Candidate);
        let mut m = new_message(2, 1, MessageType::MsgAppend, 0);
        m.term = term;
        r.step(m).unwrap();
        assert_eq!(r.state, StateRole::Follower, "term {term}");
        assert_eq!(r.term, term);
        assert_eq!(r.leader_id, 2);
    }
}

fn check_nonleader_election_timeout_randomized(state: StateRole) {
    let election = 10;
    let mut r = new_test_raft(1, vec![1, 2, 3], election, 1, MemStorage::new());
    let mut seen = vec![false; 2 * election + 1];
    for _ in 0..50 * election {
        match state {
            StateRole::Follower => {
                let term = r.term + 1;
                r.become_follower(term, 2);
            }
            _ => r.become_candidate(),
        }
        let mut ticks = 0;
        while r.read_messages().is_empty() {
            r.tick();
            ticks += 1;
            assert!(
                ticks < 2 * election,
                "timed out after {ticks} ticks, beyond 2x election"
            );
        }
        seen[ticks] = true;
    }
    for (ticks, &hit) in seen.iter().enumerate() {
        let in_range = (election..2 * election).contains(&ticks);
        assert_eq!(hit, in_range, "election after {ticks} ticks");
    }
}

/// A follower's election timeout is random in [et, 2et) (Raft paper §5.2).
#[test]
fn test_follower_election_timeout_randomized() {
    check_nonleader_election_timeout_randomized(StateRole::Follower);
}

/// A candidate's election timeout is random in [et, 2et) (Raft paper §5.2).
#[test]
fn test_candidate_election_timeout_randomized() {
    check_nonleader_election_timeout_randomized(StateRole::Candidate);
}

fn check_nonleader_election_timeout_nonconflict(state: StateRole) {
    let election = 10;
    let size = 5;
    let rounds = 1000;
    let peers: Vec<u64> = (1..=size).collect();
    let mut rafts: Vec<Raft<MemStorage>> = peers
        .iter()
        .map(|&id| new_test_raft(id, peers.clone(), election, 1, MemStorage::new()))
        .collect();
    let mut conflicts = 0;
    for _ in 0..rounds {
        for r in rafts.iter_mut() {
            match state {
                StateRole::Follower => {
                    let term = r.term + 1;
                    r.become_follower(term, INVALID_ID);
                }
                _ => r.become_candidate(),
            }
        }
        let mut timed_out = 0;
        while timed_out == 0 {
            for r in rafts.iter_mut() {
                r.tick();
                if !r.read_messages().is_empty() {
                    timed_out += 1;
                }
            }
        }
        if timed_out > 1 {
            conflicts += 1;
        }
    }
    let rate = conflicts as f64 / rounds as f64;
    assert!(
        rate <= 0.3,
        "election timeouts collided in {rate} of the rounds"
    );
}

/// Randomized timeouts make followers rarely time out together (Raft paper §5.2).
#[test]
fn test_followers_election_timeout_nonconflict() {
    check_nonleader_election_timeout_nonconflict(StateRole::Follower);
}

/// Randomized timeouts make candidates rarely time out together (Raft paper §5.2).
#[test]
fn test_candidates_election_timeout_nonconflict() {
    check_nonleader_election_timeout_nonconflict(StateRole::Candidate);
}

fn check_leader_election(pre_vote: bool) {
    use NetworkNode::{BlackHole, Fresh};
    let fresh = || Fresh;
    let (candidate_state, candidate_term) = if pre_vote {
        // A pre-candidate that cannot win keeps its term.
        (StateRole::PreCandidate, 0)
    } else {
        (StateRole::Candidate, 1)
    };
    let cases: Vec<(Vec<NetworkNode>, StateRole, u64)> = vec![
        (vec![fresh(), fresh(), fresh()], StateRole::Leader, 1),
        (vec![fresh(), fresh(), BlackHole], StateRole::Leader, 1),
        (
            vec![fresh(), BlackHole, BlackHole],
            candidate_state,
            candidate_term,
        ),
        (
            vec![fresh(), BlackHole, BlackHole, fresh()],
            candidate_state,
            candidate_term,
        ),
        (
            vec![fresh(), BlackHole, BlackHole, fresh(), fresh()],
            StateRole::Leader,
            1,
        ),
        // Three logs further along than node 1 in the same term: their
        // rejections count (§5.4.1), so node 1 loses the election.
        (
            vec![
                fresh(),
                ents_with_config(&[1], pre_vote).into(),
                ents_with_config(&[1], pre_vote).into(),
                ents_with_config(&[1, 1], pre_vote).into(),
                fresh(),
            ],
            StateRole::Follower,
            1,
        ),
    ];
    for (i, (nodes, want_state, want_term)) in cases.into_iter().enumerate() {
        let mut network = Network::new_with_prevote(nodes, pre_vote);
        network.send(vec![new_hup(1)]);
        let r = network.peer(1);
        assert_eq!(r.state, want_state, "case {i}");
        assert_eq!(r.term, want_term, "case {i}");
    }
}

/// A candidate becomes leader only with votes from a majority (Raft paper §5.2).
#[test]
fn test_leader_election() {
    check_leader_election(false);
}

/// The same elections with PreVote: a pre-candidate that cannot win does
/// not bump its term (Raft thesis §9.6).
#[test]
fn test_leader_election_with_prevote() {
    check_leader_election(true);
}

fn check_leader_cycle(pre_vote: bool) {
    let mut network = Network::new_with_prevote(
        vec![NetworkNode::Fresh, NetworkNode::Fresh, NetworkNode::Fresh],
        pre_vote,
    );
    for campaigner in 1..=3 {
        network.send(vec![new_hup(campaigner)]);
        for id in 1..=3 {
            let r = network.peer(id);
            if id == campaigner {
                assert_eq!(r.state, StateRole::Leader, "campaigner {campaigner}");
            } else {
                assert_eq!(
                    r.state,
                    StateRole::Follower,
                    "campaigner {campaigner}, node {id}"
                );
                assert_eq!(r.leader_id, campaigner);
            }
        }
    }
}

/// Every node can be elected in turn: each one's log stays up to date
/// through the previous leaders' no-op entries (Raft paper §5.2, §5.4.1).
#[test]
fn test_leader_cycle() {
    check_leader_cycle(false);
}

/// Leader cycling works the same with PreVote (Raft thesis §9.6).
#[test]
fn test_leader_cycle_with_prevote() {
    check_leader_cycle(true);
}

fn check_vote_from_any_state(vote_type: MessageType) {
    for state in [
        StateRole::Follower,
        StateRole::Candidate,
        StateRole::PreCandidate,
        StateRole::Leader,
    ] {
        let mut r = new_test_raft(1, vec![1, 2, 3], 10, 1, MemStorage::new());
        r.term = 1;
        match state {
            StateRole::Follower => r.become_follower(r.term, 3),
            StateRole::PreCandidate => r.become_pre_candidate(),
            StateRole::Candidate => r.become_candidate(),
            StateRole::Leader => {
                r.become_candidate();
                r.become_leader();
            }
        }
        let original_term = r.term;
        let original_vote = r.vote;
        let new_term = r.term + 1;
        let mut m = new_message(2, 1, vote_type, 0);
        m.term = new_term;
        m.log_term = new_term;
        m.index = 42;
        r.step(m).unwrap();
        let msgs = r.read_messages();
        assert_eq!(msgs.len(), 1, "{vote_type:?} from {state:?}");
        let want_response = if vote_type == MessageType::MsgRequestVote {
            MessageType::MsgRequestVoteResponse
        } else {
            MessageType::MsgRequestPreVoteResponse
        };
        assert_eq!(msgs[0].msg_type(), want_response, "{state:?}");
        assert!(
            !msgs[0].reject,
            "{vote_type:?} from {state:?} must be granted"
        );
        assert_eq!(msgs[0].term, new_term, "responses carry the request's term");
        if vote_type == MessageType::MsgRequestVote {
            assert_eq!(r.state, StateRole::Follower, "{state:?}");
            assert_eq!(r.term, new_term, "{state:?}");
            assert_eq!(r.vote, 2, "{state:?}");
        } else {
            // A pre-vote changes nothing on the voter.
            assert_eq!(r.state, state);
            assert_eq!(r.term, original_term, "{state:?}");
            assert_eq!(r.vote, original_vote, "{state:?}");
        }
    }
}

/// A vote request with a higher term is granted from any role, which
/// first becomes a follower in that term (Raft paper §5.1, §5.2).
#[test]
fn test_vote_from_any_state() {
    check_vote_from_any_state(MessageType::MsgRequestVote);
}

/// A pre-vote request with a higher term is granted from any role without
/// changing term, vote or role (Raft thesis §9.6).
#[test]
fn test_prevote_from_any_state() {
    check_vote_from_any_state(MessageType::MsgRequestPreVote);
}

/// A single-node group elects itself at once (Raft paper §5.2).
#[test]
fn test_single_node_candidate() {
    let mut network = Network::new(vec![NetworkNode::Fresh]);
    network.send(vec![new_hup(1)]);
    assert_eq!(network.peer(1).state, StateRole::Leader);
    assert_eq!(network.peer(1).term, 1);
}

/// A single-node group with PreVote passes the pre-vote and elects itself
/// (Raft thesis §9.6).
#[test]
fn test_single_node_pre_candidate() {
    let mut network = Network::new_with_prevote(vec![NetworkNode::Fresh], true);
    network.send(vec![new_hup(1)]);
    assert_eq!(network.peer(1).state, StateRole::Leader);
    assert_eq!(network.peer(1).term, 1);
}

/// Votes are granted only to candidates whose log is at least as
/// up-to-date, and only once per term (Raft paper §5.2, §5.4.1).
#[test]
fn test_recv_msg_request_vote() {
    // Voter log: (1, term 2), (2, term 2).
    // (voter state, candidate last index, candidate last term, voter's vote, expect reject)
    let cases = [
        (StateRole::Follower, 0, 0, INVALID_ID, true),
        (StateRole::Follower, 0, 1, INVALID_ID, true),
        (StateRole::Follower, 0, 2, INVALID_ID, true),
        (StateRole::Follower, 0, 3, INVALID_ID, false),
        (StateRole::Follower, 1, 0, INVALID_ID, true),
        (StateRole::Follower, 1, 1, INVALID_ID, true),
        (StateRole::Follower, 1, 2, INVALID_ID, true),
        (StateRole::Follower, 1, 3, INVALID_ID, false),
        (StateRole::Follower, 2, 0, INVALID_ID, true),
        (StateRole::Follower, 2, 1, INVALID_ID, true),
        (StateRole::Follower, 2, 2, INVALID_ID, false),
        (StateRole::Follower, 2, 3, INVALID_ID, false),
        (StateRole::Follower, 3, 0, INVALID_ID, true),
        (StateRole::Follower, 3, 1, INVALID_ID, true),
        (StateRole::Follower, 3, 2, INVALID_ID, false),
        (StateRole::Follower, 3, 3, INVALID_ID, false),
        (StateRole::Follower, 3, 2, 2, false),
        (StateRole::Follower, 3, 2, 1, true),
        (StateRole::Leader, 3, 3, 1, true),
        (StateRole::PreCandidate, 3, 3, 1, true),
        (StateRole::Candidate, 3, 3, 1, true),
    ];
    for (i, &(state, index, log_term, vote, want_reject)) in cases.iter().enumerate() {
        let storage = storage_with_terms(&[2, 2]);
        let mut r = new_test_raft(1, vec![1, 2], 10, 1, storage);
        r.term = 2;
        r.state = state;
        r.vote = vote;
        let mut m = new_message(2, 1, MessageType::MsgRequestVote, 0);
        m.term = 2;
        m.index = index;
        m.log_term = log_term;
        r.step(m).unwrap();
        let msgs = r.read_messages();
        assert_eq!(msgs.len(), 1, "case {i}");
        assert_eq!(
            msgs[0].msg_type(),
            MessageType::MsgRequestVoteResponse,
            "case {i}"
        );
        assert_eq!(msgs[0].reject, want_reject, "case {i}");
    }
}

fn check_candidate_reset_term(message_type: MessageType) {
    let mut network = Network::new(vec![
        NetworkNode::Fresh,
        NetworkNode::Fresh,
        NetworkNode::Fresh,
    ]);
    network.send(vec![new_hup(1)]);
    assert_eq!(network.peer(1).state, StateRole::Leader);

    // Isolate 3 and move the rest two terms ahead.
    network.isolate(3);
    network.send(vec![new_hup(2)]);
    network.send(vec![new_hup(1)]);
    assert_eq!(network.peer(1).state, StateRole::Leader);
    assert_eq!(network.peer(2).state, StateRole::Follower);

    // The isolated node times out and campaigns alone.
    let c = network.peer_mut(3);
    c.reset_randomized_election_timeout();
    for _ in 0..c.randomized_election_timeout() {
        c.tick();
    }
    assert_eq!(c.state, StateRole::Candidate);

    network.recover();
    // The leader's message (higher term) turns the candidate back into a follower.
    let leader_term = network.peer(1).term;
    let mut m = new_message(1, 3, message_type, 0);
    m.term = leader_term;
    network.send(vec![m]);
    let c = network.peer(3);
    assert_eq!(c.state, StateRole::Follower);
    assert_eq!(c.term, leader_term);
}

/// A candidate receiving a heartbeat from a leader of a higher term
/// adopts the term and follows (Raft paper §5.1, §5.2).
#[test]
fn test_candidate_reset_term_heartbeat() {
    check_candidate_reset_term(MessageType::MsgHeartbeat);
}

/// A candidate receiving a MsgAppend from a leader of a higher term
/// adopts the term and follows (Raft paper §5.1, §5.2).
#[test]
fn test_candidate_reset_term_append() {
    check_candidate_reset_term(MessageType::MsgAppend);
}

/// A follower whose timeout fired just before the leader's heartbeat
/// arrived answers the stale heartbeat with its higher term, so the
/// leader steps down and a new election can proceed (Raft paper §5.1;
/// with CheckQuorum, Raft thesis §6.2).
#[test]
fn test_disruptive_follower() {
    let nodes: Vec<NetworkNode> = (1..=3)
        .map(|id| {
            let mut config = new_test_config(id, 10, 1);
            config.peers = vec![1, 2, 3];
            config.check_quorum = true;
            let mut r = new_test_raft_with_config(&config, MemStorage::new());
            r.become_follower(1, INVALID_ID);
            r.into()
        })
        .collect();
    let mut network = Network::new(nodes);
    network.send(vec![new_hup(1)]);
    assert_eq!(network.peer(1).state, StateRole::Leader);
    assert_eq!(network.peer(3).state, StateRole::Follower);

    // Node 3 misses the heartbeats and its election timeout fires.
    let n3 = network.peer_mut(3);
    let timeout = n3.election_timeout() + 2;
    n3.set_randomized_election_timeout(timeout);
    for _ in 0..timeout {
        n3.tick();
    }
    assert_eq!(network.peer(3).state, StateRole::Candidate);
    assert_eq!(
        [
            network.peer(1).term,
            network.peer(2).term,
            network.peer(3).term
        ],
        [2, 2, 3]
    );

    // The delayed heartbeat (term 2) reaches the candidate (term 3), whose
    // answer carries term 3; its queued vote requests are ignored by the
    // others (they heard from the leader recently).
    let mut heartbeat = new_message(1, 3, MessageType::MsgHeartbeat, 0);
    heartbeat.term = 2;
    network.send(vec![heartbeat]);
    assert_eq!(network.peer(1).state, StateRole::Follower);
    assert_eq!(network.peer(2).state, StateRole::Follower);
    assert_eq!(network.peer(3).state, StateRole::Candidate);
    assert_eq!(
        [
            network.peer(1).term,
            network.peer(2).term,
            network.peer(3).term
        ],
        [3, 2, 3]
    );
}

/// A leader ignores MsgHup: it stays leader in the same term (Raft paper §5.2).
#[test]
fn test_campaign_while_leader() {
    let mut r = new_test_raft(1, vec![1], 5, 1, MemStorage::new());
    r.step(new_hup(1)).unwrap();
    assert_eq!(r.state, StateRole::Leader);
    let term = r.term;
    r.step(new_hup(1)).unwrap();
    assert_eq!(r.state, StateRole::Leader);
    assert_eq!(r.term, term);
}

/// Two candidates splitting the votes of a 4-node group both lose; a
/// later election with fresh random timeouts elects one leader (Raft paper §5.2).
#[test]
fn test_split_vote() {
    let mut network = Network::new(vec![
        NetworkNode::Fresh,
        NetworkNode::Fresh,
        NetworkNode::Fresh,
        NetworkNode::Fresh,
    ]);
    // 1 and 2 campaign at the same time; 3 hears 1 first, 4 hears 2 first.
    let mut msgs = Vec::new();
    for id in [1, 2] {
        let r = network.peer_mut(id);
        r.step(new_hup(id)).unwrap();
        msgs.extend(r.read_messages());
    }
    msgs.retain(|m| !matches!((m.from, m.to), (1, 4) | (2, 3)));
    network.send(msgs);
    for id in 1..=4 {
        assert_ne!(network.peer(id).state, StateRole::Leader, "node {id}");
    }
    assert_eq!(network.peer(1).term, 1);
    assert_eq!(network.peer(2).term, 1);

    // Tick everyone; the first node to time out wins the next election.
    let mut leaders = Vec::new();
    for _ in 0..100 {
        let mut msgs = Vec::new();
        for id in 1..=4 {
            let r = network.peer_mut(id);
            r.tick();
            msgs.extend(r.read_messages());
        }
        network.send(msgs);
        leaders = (1..=4)
            .filter(|&id| network.peer(id).state == StateRole::Leader)
            .collect();
        if !leaders.is_empty() {
            break;
        }
    }
    assert_eq!(leaders.len(), 1, "exactly one leader after re-election");
    let leader_term = network.peer(leaders[0]).term;
    assert!(leader_term >= 2);
    for id in 1..=4 {
        assert_eq!(network.peer(id).term, leader_term, "node {id}");
        assert_eq!(network.peer(id).leader_id, leaders[0], "node {id}");
    }
}
