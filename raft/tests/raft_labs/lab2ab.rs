//! Lab 2AB: log replication (Raft paper §5.3, §5.4).
//!
//! The leader appends proposals, replicates them with MsgAppend, backs
//! off on conflicts, commits by counting replicas of current-term entries,
//! and tells followers the commit index; followers check the previous
//! entry and truncate conflicting suffixes. Flow control (Probe /
//! Replicate, inflight window, message size) is checked too.

use proto::eraftpb::{Entry, Message, MessageType};
use raft::{Error, MemStorage, ProgressState, Raft, StateRole, INVALID_ID};

use crate::harness::*;

/// A follower's answer accepting everything in the MsgAppend `m`.
fn accept_and_reply(m: &Message) -> Message {
    assert_eq!(m.msg_type(), MessageType::MsgAppend);
    let mut reply = new_message(m.to, m.from, MessageType::MsgAppendResponse, 0);
    reply.term = m.term;
    reply.index = m.index + m.entries.len() as u64;
    reply
}

/// Replicates and commits the leader's no-op entry by faking the
/// followers' acceptance, then persists and applies it.
fn commit_noop_entry(r: &mut Raft<MemStorage>, storage: &MemStorage) {
    assert_eq!(r.state, StateRole::Leader);
    let mut ids: Vec<u64> = r.prs().keys().copied().filter(|&id| id != r.id).collect();
    ids.sort_unstable();
    for id in ids {
        r.send_append(id).unwrap();
    }
    for m in r.read_messages() {
        assert_eq!(m.entries.len(), 1, "only the no-op entry");
        assert!(m.entries[0].data.is_empty());
        r.step(accept_and_reply(&m)).unwrap();
    }
    // Drop the commit-index updates.
    r.read_messages();
    next_ents(r, storage);
}

/// The messages of `r`, sorted by destination.
fn sorted_messages(r: &mut Raft<MemStorage>) -> Vec<Message> {
    let mut msgs = r.read_messages();
    msgs.sort_by_key(|m| m.to);
    msgs
}

/// `(index, term, data)` of entries, for readable comparisons.
fn summarize(ents: &[Entry]) -> Vec<(u64, u64, Vec<u8>)> {
    ents.iter()
        .map(|e| (e.index, e.term, e.data.to_vec()))
        .collect()
}

/// A leader of a 3-node group at term 1 whose no-op is committed.
fn committed_leader() -> (Raft<MemStorage>, MemStorage) {
    let storage = MemStorage::new();
    let mut r = new_test_raft(1, vec![1, 2, 3], 10, 1, storage.clone());
    r.become_candidate();
    r.become_leader();
    commit_noop_entry(&mut r, &storage);
    (r, storage)
}

/// The leader appends a proposal to its log and sends it to every
/// follower with the previous entry's index and term (Raft paper §5.3).
#[test]
fn test_leader_start_replication() {
    let (mut r, _storage) = committed_leader();
    let li = r.raft_log.last_index();
    r.step(new_proposal(1, b"some data")).unwrap();
    assert_eq!(r.raft_log.last_index(), li + 1);
    assert_eq!(r.raft_log.committed, li);
    let msgs = sorted_messages(&mut r);
    let want_entry = new_entry(1, li + 1, Some(b"some data"));
    assert_eq!(msgs.len(), 2);
    for (m, to) in msgs.iter().zip([2, 3]) {
        assert_eq!(m.msg_type(), MessageType::MsgAppend);
        assert_eq!((m.from, m.to, m.term), (1, to, 1));
        assert_eq!((m.index, m.log_term, m.commit), (li, 1, li));
        assert_eq!(m.entries, vec![want_entry.clone()]);
    }
    assert_eq!(r.raft_log.unstable_entries(), &[want_entry][..]);
}

/// Once a majority stores the entry, the leader commits it, hands it to
/// the application and tells the followers (Raft paper §5.3).
#[test]
fn test_leader_commit_entry() {
    let (mut r, storage) = committed_leader();
    let li = r.raft_log.last_index();
    r.step(new_proposal(1, b"some data")).unwrap();
    for m in r.read_messages() {
        r.step(accept_and_reply(&m)).unwrap();
    }
    assert_eq!(r.raft_log.committed, li + 1);
    assert_eq!(
        summarize(&next_ents(&mut r, &storage)),
        vec![(li + 1, 1, b"some data".to_vec())]
    );
    let msgs = sorted_messages(&mut r);
    assert_eq!(msgs.len(), 2);
    for (m, to) in msgs.iter().zip([2, 3]) {
        assert_eq!(m.msg_type(), MessageType::MsgAppend);
        assert_eq!(m.to, to);
        assert_eq!(m.commit, li + 1, "followers learn the new commit index");
    }
}

/// An entry commits exactly when a majority acknowledges it (Raft paper §5.3).
#[test]
fn test_leader_acknowledge_commit() {
    // (cluster size, followers that accept, expect commit)
    let cases: Vec<(u64, Vec<u64>, bool)> = vec![
        (1, vec![], true),
        (3, vec![], false),
        (3, vec![2], true),
        (3, vec![2, 3], true),
        (5, vec![], false),
        (5, vec![2], false),
        (5, vec![2, 3], true),
        (5, vec![2, 3, 4], true),
        (5, vec![2, 3, 4, 5], true),
    ];
    for (i, (size, acceptors, want_commit)) in cases.into_iter().enumerate() {
        let storage = MemStorage::new();
        let peers: Vec<u64> = (1..=size).collect();
        let mut r = new_test_raft(1, peers, 10, 1, storage.clone());
        r.become_candidate();
        r.become_leader();
        commit_noop_entry(&mut r, &storage);
        let li = r.raft_log.last_index();
        r.step(new_proposal(1, b"some data")).unwrap();
        for m in r.read_messages() {
            if acceptors.contains(&m.to) {
                r.step(accept_and_reply(&m)).unwrap();
            }
        }
        assert_eq!(r.raft_log.committed > li, want_commit, "case {i}");
    }
}

/// Committing an entry of the current term also commits every entry
/// before it, including those of earlier terms (Raft paper §5.3, §5.4.2).
#[test]
fn test_leader_commit_preceding_entries() {
    let cases: Vec<Vec<Entry>> = vec![
        vec![],
        entries(&[(1, 2)]),
        entries(&[(1, 1), (2, 2)]),
        entries(&[(1, 1)]),
    ];
    for (i, previous) in cases.into_iter().enumerate() {
        let storage = MemStorage::new();
        storage.wl().append(&previous).unwrap();
        storage.wl().set_hardstate(hard_state(2, 0, INVALID_ID));
        let mut r = new_test_raft(1, vec![1, 2, 3], 10, 1, storage.clone());
        r.become_candidate();
        r.become_leader();
        r.step(new_proposal(1, b"some data")).unwrap();
        for m in r.read_messages() {
            r.step(accept_and_reply(&m)).unwrap();
        }
        let li = previous.len() as u64;
        let mut want = summarize(&previous);
        want.push((li + 1, 3, Vec::new()));
        want.push((li + 2, 3, b"some data".to_vec()));
        assert_eq!(summarize(&next_ents(&mut r, &storage)), want, "case {i}");
    }
}

/// A follower learns the commit index from MsgAppend and applies the
/// committed entries (Raft paper §5.3).
#[test]
fn test_follower_commit_entry() {
    let cases: Vec<(Vec<Entry>, u64)> = vec![
        (vec![new_entry(1, 1, Some(b"some data"))], 1),
        (
            vec![
                new_entry(1, 1, Some(b"some data")),
                new_entry(1, 2, Some(b"some data2")),
            ],
            2,
        ),
        (
            vec![
                new_entry(1, 1, Some(b"some data2")),
                new_entry(1, 2, Some(b"some data")),
            ],
            2,
        ),
        (
            vec![
                new_entry(1, 1, Some(b"some data")),
                new_entry(1, 2, Some(b"some data2")),
            ],
            1,
        ),
    ];
    for (i, (ents, commit)) in cases.into_iter().enumerate() {
        let storage = MemStorage::new();
        let mut r = new_test_raft(1, vec![1, 2, 3], 10, 1, storage.clone());
        r.become_follower(1, 2);
        let mut m = new_message_with_entries(2, 1, MessageType::MsgAppend, ents.clone());
        m.term = 1;
        m.commit = commit;
        r.step(m).unwrap();
        assert_eq!(r.raft_log.committed, commit, "case {i}");
        let want = summarize(&ents[..commit as usize]);
        assert_eq!(summarize(&next_ents(&mut r, &storage)), want, "case {i}");
    }
}

/// A follower rejects a MsgAppend whose previous entry it does not have
/// with the same term, hinting its last index (Raft paper §5.3).
#[test]
fn test_follower_check_msg_append() {
    // (previous term, previous index, want response index, want reject, want hint)
    let cases = [
        (0, 0, 1, false, 0),
        (1, 1, 1, false, 0),
        (2, 2, 2, false, 0),
        (1, 2, 2, true, 2),
        (3, 3, 3, true, 2),
    ];
    for (i, &(log_term, index, want_index, want_reject, want_hint)) in cases.iter().enumerate() {
        let storage = MemStorage::new();
        storage.wl().append(&entries(&[(1, 1), (2, 2)])).unwrap();
        storage.wl().set_hardstate(hard_state(0, 1, INVALID_ID));
        let mut r = new_test_raft(1, vec![1, 2, 3], 10, 1, storage);
        r.become_follower(2, 2);
        let mut m = new_message(2, 1, MessageType::MsgAppend, 0);
        m.term = 2;
        m.log_term = log_term;
        m.index = index;
        r.step(m).unwrap();
        let msgs = r.read_messages();
        assert_eq!(msgs.len(), 1, "case {i}");
        let resp = &msgs[0];
        assert_eq!(resp.msg_type(), MessageType::MsgAppendResponse, "case {i}");
        assert_eq!((resp.to, resp.term), (2, 2), "case {i}");
        assert_eq!(resp.index, want_index, "case {i}");
        assert_eq!(resp.reject, want_reject, "case {i}");
        assert_eq!(resp.reject_hint, want_hint, "case {i}");
    }
}

/// A follower deletes a conflicting suffix and appends the new entries;
/// matching entries are kept (Raft paper §5.3).
#[test]
fn test_follower_append_entries() {
    // (previous index, previous term, new entries, want log, want unstable), pairs are (index, term)
    type Case = (u64, u64, Vec<(u64, u64)>, Vec<(u64, u64)>, Vec<(u64, u64)>);
    let cases: Vec<Case> = vec![
        (
            2,
            2,
            vec![(3, 3)],
            vec![(1, 1), (2, 2), (3, 3)],
            vec![(3, 3)],
        ),
        (
            1,
            1,
            vec![(2, 3), (3, 4)],
            vec![(1, 1), (2, 3), (3, 4)],
            vec![(2, 3), (3, 4)],
        ),
        (0, 0, vec![(1, 1)], vec![(1, 1), (2, 2)], vec![]),
        (0, 0, vec![(1, 3)], vec![(1, 3)], vec![(1, 3)]),
    ];
    for (i, (index, term, new, want, want_unstable)) in cases.into_iter().enumerate() {
        let storage = MemStorage::new();
        storage.wl().append(&entries(&[(1, 1), (2, 2)])).unwrap();
        let mut r = new_test_raft(1, vec![1, 2, 3], 10, 1, storage);
        r.become_follower(2, 2);
        let mut m = new_message_with_entries(2, 1, MessageType::MsgAppend, entries(&new));
        m.term = 2;
        m.log_term = term;
        m.index = index;
        r.step(m).unwrap();
        assert_eq!(all_entries(&r), entries(&want), "case {i}");
        assert_eq!(
            r.raft_log.unstable_entries(),
            &entries(&want_unstable)[..],
            "case {i}"
        );
    }
}

/// A new leader forces every follower's log to match its own, whatever
/// the followers hold (Raft paper §5.3, Figure 7).
#[test]
fn test_leader_sync_follower_log() {
    let leader_terms = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    let term = 8;
    let followers: Vec<Vec<u64>> = vec![
        vec![1, 1, 1, 4, 4, 5, 5, 6, 6],
        vec![1, 1, 1, 4],
        vec![1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
        vec![1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
        vec![1, 1, 1, 4, 4, 4, 4],
        vec![1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
    ];
    for (i, follower_terms) in followers.into_iter().enumerate() {
        let leader_storage = storage_with_terms(&leader_terms);
        leader_storage
            .wl()
            .set_hardstate(hard_state(term, leader_terms.len() as u64, INVALID_ID));
        let leader = new_test_raft(1, vec![1, 2, 3], 10, 1, leader_storage);
        let follower_storage = storage_with_terms(&follower_terms);
        follower_storage
            .wl()
            .set_hardstate(hard_state(term - 1, 0, INVALID_ID));
        let follower = new_test_raft(2, vec![1, 2, 3], 10, 1, follower_storage);

        let mut network =
            Network::new(vec![leader.into(), follower.into(), NetworkNode::BlackHole]);
        network.send(vec![new_hup(1)]);
        // The black hole "votes" for 1, in case the follower's log is longer.
        let mut vote = new_message(3, 1, MessageType::MsgRequestVoteResponse, 0);
        vote.term = term + 1;
        network.send(vec![vote]);
        assert_eq!(network.peer(1).state, StateRole::Leader, "case {i}");
        network.send(vec![new_proposal(1, b"")]);

        let leader_log = log_summary(network.peer(1));
        let follower_log = log_summary(network.peer(2));
        assert_eq!(
            all_entries(network.peer(1)),
            all_entries(network.peer(2)),
            "case {i}: {leader_log} vs {follower_log}"
        );
        assert_eq!(
            network.peer(1).raft_log.committed,
            network.peer(2).raft_log.committed
        );
    }
}

/// Vote requests carry the candidate's last log index and term (Raft paper §5.4.1).
#[test]
fn test_vote_request() {
    let cases: Vec<(Vec<(u64, u64)>, u64)> = vec![(vec![(1, 1)], 2), (vec![(1, 1), (2, 2)], 3)];
    for (i, (ents, want_term)) in cases.into_iter().enumerate() {
        let mut r = new_test_raft(1, vec![1, 2, 3], 10, 1, MemStorage::new());
        let mut m = new_message_with_entries(2, 1, MessageType::MsgAppend, entries(&ents));
        m.term = want_term - 1;
        r.step(m).unwrap();
        r.read_messages();
        for _ in 1..r.election_timeout() * 2 {
            r.tick();
        }
        let msgs = sorted_messages(&mut r);
        assert_eq!(msgs.len(), 2, "case {i}");
        let (last_index, last_term) = *ents.last().unwrap();
        for (m, to) in msgs.iter().zip([2, 3]) {
            assert_eq!(m.msg_type(), MessageType::MsgRequestVote, "case {i}");
            assert_eq!((m.to, m.term), (to, want_term), "case {i}");
            assert_eq!((m.index, m.log_term), (last_index, last_term), "case {i}");
        }
    }
}

/// A voter refuses candidates whose log is less up-to-date than its own
/// (Raft paper §5.4.1).
#[test]
fn test_voter() {
    // (voter log as (index, term), candidate last term, candidate last index, want reject)
    type Case = (Vec<(u64, u64)>, u64, u64, bool);
    let cases: Vec<Case> = vec![
        // Same last term: the longer log wins.
        (vec![(1, 1)], 1, 1, false),
        (vec![(1, 1)], 1, 2, false),
        (vec![(1, 1), (2, 1)], 1, 1, true),
        // The candidate has a later last term.
        (vec![(1, 1)], 2, 1, false),
        (vec![(1, 1)], 2, 2, false),
        (vec![(1, 1), (2, 1)], 2, 1, false),
        // The voter has a later last term.
        (vec![(1, 2)], 1, 1, true),
        (vec![(1, 2)], 1, 2, true),
        (vec![(1, 2), (2, 1)], 1, 1, true),
    ];
    for (i, (ents, log_term, index, want_reject)) in cases.into_iter().enumerate() {
        let storage = MemStorage::new();
        storage.wl().append(&entries(&ents)).unwrap();
        let mut r = new_test_raft(1, vec![1, 2], 10, 1, storage);
        let mut m = new_message(2, 1, MessageType::MsgRequestVote, 0);
        m.term = 3;
        m.log_term = log_term;
        m.index = index;
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

/// A leader never commits an entry of an earlier term by counting
/// replicas; only current-term entries commit that way (Raft paper §5.4.2).
#[test]
fn test_leader_only_commits_log_from_current_term() {
    // (acknowledged index, want committed)
    for (i, &(index, want_commit)) in [(1, 0), (2, 0), (3, 3)].iter().enumerate() {
        let storage = MemStorage::new();
        storage.wl().append(&entries(&[(1, 1), (2, 2)])).unwrap();
        storage.wl().set_hardstate(hard_state(2, 0, INVALID_ID));
        let mut r = new_test_raft(1, vec![1, 2], 10, 1, storage);
        r.become_candidate();
        r.become_leader();
        r.read_messages();
        let mut m = new_message(2, 1, MessageType::MsgAppendResponse, 0);
        m.term = r.term;
        m.index = index;
        r.step(m).unwrap();
        assert_eq!(r.raft_log.committed, want_commit, "case {i}");
    }
}

/// The leader's own progress follows its log as it appends proposals (Raft paper §5.3).
#[test]
fn test_progress_leader() {
    let mut r = new_test_raft(1, vec![1, 2], 5, 1, MemStorage::new());
    r.become_candidate();
    r.become_leader();
    r.mut_prs().get_mut(&2).unwrap().become_replicate();
    for i in 0..5 {
        let pr = &r.prs()[&1];
        assert_eq!(pr.state, ProgressState::Replicate);
        assert_eq!((pr.matched, pr.next_idx), (i + 1, i + 2));
        r.step(new_proposal(1, b"foo")).unwrap();
    }
}

/// A candidate whose log lacks a newer entry loses; the winner's log then
/// overwrites the uncommitted entries of the losers (Raft paper §5.4.1, §5.3).
#[test]
fn test_leader_election_overwrite_newer_logs() {
    // Node 1 won term 1 and replicated one entry to node 2 only; node 3 won
    // term 2 and wrote one entry nobody else has; 4 and 5 voted for 3.
    let mut network = Network::new(vec![
        ents_with_config(&[1], false).into(),
        ents_with_config(&[1], false).into(),
        ents_with_config(&[2], false).into(),
        voted_with_config(3, 2, false).into(),
        voted_with_config(3, 2, false).into(),
    ]);
    // A quorum knows about term 2: node 1 loses but learns the term.
    network.send(vec![new_hup(1)]);
    assert_eq!(network.peer(1).state, StateRole::Follower);
    assert_eq!(network.peer(1).term, 2);
    // Campaigning again in term 3 succeeds.
    network.send(vec![new_hup(1)]);
    assert_eq!(network.peer(1).state, StateRole::Leader);
    assert_eq!(network.peer(1).term, 3);
    for id in 1..=5 {
        let ents: Vec<(u64, u64)> = all_entries(network.peer(id))
            .iter()
            .map(|e| (e.index, e.term))
            .collect();
        assert_eq!(ents, vec![(1, 1), (2, 3)], "node {id}");
    }
}

/// Proposals to the current leader are replicated and committed on every
/// node, in order (Raft paper §5.3).
#[test]
fn test_log_replication() {
    // (messages after electing node 1, want committed)
    let cases: Vec<(Vec<Message>, u64)> = vec![
        (vec![new_proposal(1, SOME_DATA)], 2),
        (
            vec![
                new_proposal(1, SOME_DATA),
                new_hup(2),
                new_proposal(2, SOME_DATA),
            ],
            4,
        ),
    ];
    for (i, (msgs, want_commit)) in cases.into_iter().enumerate() {
        let mut network = Network::new(vec![
            NetworkNode::Fresh,
            NetworkNode::Fresh,
            NetworkNode::Fresh,
        ]);
        network.send(vec![new_hup(1)]);
        let proposals: Vec<Vec<u8>> = msgs
            .iter()
            .filter(|m| m.msg_type() == MessageType::MsgPropose)
            .map(|m| m.entries[0].data.to_vec())
            .collect();
        for m in msgs {
            network.send(vec![m]);
        }
        for id in 1..=3 {
            let storage = network.storage[&id].clone();
            let r = network.peer_mut(id);
            assert_eq!(r.raft_log.committed, want_commit, "case {i}, node {id}");
            let applied: Vec<Vec<u8>> = next_ents(r, &storage)
                .into_iter()
                .filter(|e| !e.data.is_empty())
                .map(|e| e.data.to_vec())
                .collect();
            assert_eq!(applied, proposals, "case {i}, node {id}");
        }
    }
}

/// A single-node group commits proposals at once (Raft paper §5.3).
#[test]
fn test_single_node_commit() {
    let mut network = Network::new(vec![NetworkNode::Fresh]);
    network.send(vec![new_hup(1)]);
    network.send(vec![new_proposal(1, SOME_DATA)]);
    network.send(vec![new_proposal(1, SOME_DATA)]);
    assert_eq!(network.peer(1).raft_log.committed, 3);
}

/// Entries of an earlier term are not committed by a new leader until
/// an entry of its own term is replicated (Raft paper §5.4.2).
#[test]
fn test_cannot_commit_without_new_term_entry() {
    let mut network = Network::new((0..5).map(|_| NetworkNode::Fresh).collect());
    network.send(vec![new_hup(1)]);
    // Only node 2 receives the next two entries.
    network.cut(1, 3);
    network.cut(1, 4);
    network.cut(1, 5);
    network.send(vec![new_proposal(1, SOME_DATA)]);
    network.send(vec![new_proposal(1, SOME_DATA)]);
    assert_eq!(network.peer(1).raft_log.committed, 1);

    // Node 2 becomes leader of term 2 but cannot replicate its no-op.
    network.recover();
    network.ignore(MessageType::MsgAppend);
    network.send(vec![new_hup(2)]);
    assert_eq!(network.peer(2).state, StateRole::Leader);
    assert_eq!(network.peer(2).raft_log.committed, 1);

    // Once its no-op is replicated, everything before it commits too.
    network.recover();
    network.send(vec![new_beat(2)]);
    assert_eq!(network.peer(2).raft_log.committed, 4);
    network.send(vec![new_proposal(2, SOME_DATA)]);
    assert_eq!(network.peer(2).raft_log.committed, 5);
}

/// A new leader commits the previous term's entries through the no-op
/// entry of its own term (Raft paper §5.4.2, §8).
#[test]
fn test_commit_without_new_term_entry() {
    let mut network = Network::new((0..5).map(|_| NetworkNode::Fresh).collect());
    network.send(vec![new_hup(1)]);
    network.cut(1, 3);
    network.cut(1, 4);
    network.cut(1, 5);
    network.send(vec![new_proposal(1, SOME_DATA)]);
    network.send(vec![new_proposal(1, SOME_DATA)]);
    assert_eq!(network.peer(1).raft_log.committed, 1);
    network.recover();
    network.send(vec![new_hup(2)]);
    assert_eq!(network.peer(1).raft_log.committed, 4);
}

/// Of two candidates, the one with the votes wins; the other, lacking an
/// up-to-date log, cannot win later either (Raft paper §5.2, §5.4.1).
#[test]
fn test_dueling_candidates() {
    let mut network = Network::new(vec![
        NetworkNode::Fresh,
        NetworkNode::Fresh,
        NetworkNode::Fresh,
    ]);
    network.cut(1, 3);
    network.send(vec![new_hup(1)]);
    network.send(vec![new_hup(3)]);
    // 1 got votes from 1 and 2; 3 only its own (2 already voted).
    assert_eq!(network.peer(1).state, StateRole::Leader);
    assert_eq!(network.peer(3).state, StateRole::Candidate);

    network.recover();
    // 3 campaigns again in term 2: it disrupts the leader, but its log is
    // behind, so everyone rejects it.
    network.send(vec![new_hup(3)]);
    // (state, term, committed, entries)
    let want = [
        (StateRole::Follower, 2, 1, vec![(1, 1)]),
        (StateRole::Follower, 2, 1, vec![(1, 1)]),
        (StateRole::Follower, 2, 0, vec![]),
    ];
    for (id, (state, term, committed, ents)) in (1..=3).zip(want) {
        let r = network.peer(id);
        assert_eq!(r.state, state, "node {id}");
        assert_eq!(r.term, term, "node {id}");
        assert_eq!(r.raft_log.committed, committed, "node {id}");
        let got: Vec<(u64, u64)> = all_entries(r).iter().map(|e| (e.index, e.term)).collect();
        assert_eq!(got, ents, "node {id}");
    }
}

/// A candidate that hears from the leader of its term concedes and
/// catches up (Raft paper §5.2).
#[test]
fn test_candidate_concede() {
    let mut network = Network::new(vec![
        NetworkNode::Fresh,
        NetworkNode::Fresh,
        NetworkNode::Fresh,
    ]);
    network.isolate(1);
    network.send(vec![new_hup(1)]);
    network.send(vec![new_hup(3)]);
    network.recover();
    network.send(vec![new_beat(3)]);
    network.send(vec![new_proposal(3, b"force follower")]);
    network.send(vec![new_beat(3)]);
    let r = network.peer(1);
    assert_eq!(r.state, StateRole::Follower);
    assert_eq!(r.term, 1);
    for id in 1..=3 {
        let r = network.peer(id);
        assert_eq!(r.raft_log.committed, 2, "node {id}");
        assert_eq!(
            summarize(&all_entries(r)),
            vec![(1, 1, vec![]), (2, 1, b"force follower".to_vec())],
            "node {id}"
        );
    }
}

/// Messages from an old term are ignored (Raft paper §5.1).
#[test]
fn test_old_messages() {
    let mut network = Network::new(vec![
        NetworkNode::Fresh,
        NetworkNode::Fresh,
        NetworkNode::Fresh,
    ]);
    // Node 1 becomes leader at term 3.
    network.send(vec![new_hup(1)]);
    network.send(vec![new_hup(2)]);
    network.send(vec![new_hup(1)]);
    // An old leader of term 2 tries to append: ignored.
    let mut stale = new_message_with_entries(2, 1, MessageType::MsgAppend, entries(&[(3, 2)]));
    stale.term = 2;
    network.send(vec![stale]);
    network.send(vec![new_proposal(1, SOME_DATA)]);
    let want = vec![
        (1, 1, vec![]),
        (2, 2, vec![]),
        (3, 3, vec![]),
        (4, 3, SOME_DATA.to_vec()),
    ];
    for id in 1..=3 {
        let r = network.peer(id);
        assert_eq!(r.raft_log.committed, 4, "node {id}");
        assert_eq!(summarize(&all_entries(r)), want, "node {id}");
    }
}

/// Proposals commit when a leader was elected; without one they are
/// refused with ProposalDropped (Raft paper §5.2, §5.3).
#[test]
fn test_proposal() {
    use NetworkNode::{BlackHole, Fresh};
    let cases: Vec<(Vec<NetworkNode>, bool)> = vec![
        (vec![Fresh, Fresh, Fresh], true),
        (vec![Fresh, Fresh, BlackHole], true),
        (vec![Fresh, BlackHole, BlackHole], false),
        (vec![Fresh, BlackHole, BlackHole, Fresh], false),
        (vec![Fresh, BlackHole, BlackHole, Fresh, Fresh], true),
    ];
    for (i, (nodes, success)) in cases.into_iter().enumerate() {
        let mut network = Network::new(nodes);
        network.send(vec![new_hup(1)]);
        let results = network.send_checked(vec![new_proposal(1, SOME_DATA)]);
        let r = network.peer(1);
        if success {
            assert_eq!(r.state, StateRole::Leader, "case {i}");
            assert_eq!(results[0], Ok(()), "case {i}");
            assert_eq!(r.raft_log.committed, 2, "case {i}");
            assert_eq!(
                summarize(&all_entries(r)),
                vec![(1, 1, vec![]), (2, 1, SOME_DATA.to_vec())],
                "case {i}"
            );
        } else {
            assert_eq!(results[0], Err(Error::ProposalDropped), "case {i}");
            assert_eq!(r.raft_log.committed, 0, "case {i}");
            assert_eq!(r.raft_log.last_index(), 0, "case {i}");
        }
    }
}

/// A follower forwards proposals to the leader, which commits them (Raft paper §8).
#[test]
fn test_proposal_by_proxy() {
    use NetworkNode::{BlackHole, Fresh};
    for (i, nodes) in [vec![Fresh, Fresh, Fresh], vec![Fresh, Fresh, BlackHole]]
        .into_iter()
        .enumerate()
    {
        let mut network = Network::new(nodes);
        network.send(vec![new_hup(1)]);
        network.send(vec![new_proposal(2, SOME_DATA)]);
        for id in [1, 2] {
            let r = network.peer(id);
            assert_eq!(r.raft_log.committed, 2, "case {i}, node {id}");
            assert_eq!(
                summarize(&all_entries(r)),
                vec![(1, 1, vec![]), (2, 1, SOME_DATA.to_vec())],
                "case {i}, node {id}"
            );
        }
    }
}

/// MsgAppend handling: reject on a mismatched previous entry, replace
/// conflicting entries, and commit up to min(leader commit, last new
/// entry) (Raft paper §5.3, Figure 2).
#[test]
fn test_handle_msg_append() {
    // (term, previous term, previous index, leader commit, entries (index, term),
    //  want last index, want committed, want reject)
    type Case = (u64, u64, u64, u64, Vec<(u64, u64)>, u64, u64, bool);
    let cases: Vec<Case> = vec![
        // Previous entry mismatched or missing.
        (2, 3, 2, 3, vec![], 2, 0, true),
        (2, 3, 3, 3, vec![], 2, 0, true),
        // Conflicts are replaced, new entries appended.
        (2, 1, 1, 1, vec![], 2, 1, false),
        (2, 0, 0, 1, vec![(1, 2)], 1, 1, false),
        (2, 2, 2, 3, vec![(3, 2), (4, 2)], 4, 3, false),
        (2, 2, 2, 4, vec![(3, 2)], 3, 3, false),
        (2, 1, 1, 4, vec![(2, 2)], 2, 2, false),
        // The commit index stops at the last new entry.
        (1, 1, 1, 3, vec![], 2, 1, false),
        (1, 1, 1, 3, vec![(2, 2)], 2, 2, false),
        (2, 2, 2, 3, vec![], 2, 2, false),
        (2, 2, 2, 4, vec![], 2, 2, false),
    ];
    for (i, (term, log_term, index, commit, ents, want_index, want_commit, want_reject)) in
        cases.into_iter().enumerate()
    {
        let storage = MemStorage::new();
        storage.wl().append(&entries(&[(1, 1), (2, 2)])).unwrap();
        let mut r = new_test_raft(1, vec![1], 10, 1, storage);
        r.become_follower(2, INVALID_ID);
        let mut m = new_message_with_entries(2, 1, MessageType::MsgAppend, entries(&ents));
        m.term = term;
        m.log_term = log_term;
        m.index = index;
        m.commit = commit;
        r.handle_append_entries(&m);
        assert_eq!(r.raft_log.last_index(), want_index, "case {i}");
        assert_eq!(r.raft_log.committed, want_commit, "case {i}");
        let msgs = r.read_messages();
        assert_eq!(msgs.len(), 1, "case {i}");
        assert_eq!(msgs[0].reject, want_reject, "case {i}");
    }
}

/// A heartbeat moves the follower's commit index forward, never back, and
/// is answered (Raft paper §5.3).
#[test]
fn test_handle_heartbeat() {
    let commit = 2;
    // (heartbeat commit, want committed)
    for (i, &(heartbeat_commit, want_commit)) in [(commit + 1, commit + 1), (commit - 1, commit)]
        .iter()
        .enumerate()
    {
        let storage = MemStorage::new();
        storage
            .wl()
            .append(&entries(&[(1, 1), (2, 2), (3, 3)]))
            .unwrap();
        let mut r = new_test_raft(1, vec![1, 2], 5, 1, storage);
        r.become_follower(2, 2);
        r.raft_log.commit_to(commit);
        let mut m = new_message(2, 1, MessageType::MsgHeartbeat, 0);
        m.term = 2;
        m.commit = heartbeat_commit;
        r.handle_heartbeat(&m);
        assert_eq!(r.raft_log.committed, want_commit, "case {i}");
        let msgs = r.read_messages();
        assert_eq!(msgs.len(), 1, "case {i}");
        assert_eq!(
            msgs[0].msg_type(),
            MessageType::MsgHeartbeatResponse,
            "case {i}"
        );
    }
}

/// Every role steps down to follower on a message with a higher term
/// (Raft paper §5.1).
#[test]
fn test_all_server_stepdown() {
    // (initial state, want last index)
    let cases = [
        (StateRole::Follower, 0),
        (StateRole::PreCandidate, 0),
        (StateRole::Candidate, 0),
        (StateRole::Leader, 1),
    ];
    let term = 3;
    for (i, &(state, want_index)) in cases.iter().enumerate() {
        for msg_type in [MessageType::MsgRequestVote, MessageType::MsgAppend] {
            let mut r = new_test_raft(1, vec![1, 2, 3], 10, 1, MemStorage::new());
            match state {
                StateRole::Follower => r.become_follower(1, INVALID_ID),
                StateRole::PreCandidate => r.become_pre_candidate(),
                StateRole::Candidate => r.become_candidate(),
                StateRole::Leader => {
                    r.become_candidate();
                    r.become_leader();
                }
            }
            let mut m = new_message(2, 1, msg_type, 0);
            m.term = term;
            m.log_term = term;
            r.step(m).unwrap();
            assert_eq!(r.state, StateRole::Follower, "case {i} {msg_type:?}");
            assert_eq!(r.term, term, "case {i} {msg_type:?}");
            assert_eq!(r.raft_log.last_index(), want_index, "case {i} {msg_type:?}");
            assert_eq!(
                all_entries(&r).len() as u64,
                want_index,
                "case {i} {msg_type:?}"
            );
            let want_leader = if msg_type == MessageType::MsgRequestVote {
                INVALID_ID
            } else {
                2
            };
            assert_eq!(r.leader_id, want_leader, "case {i} {msg_type:?}");
        }
    }
}

/// A heartbeat never lets a follower commit past what the leader knows it
/// holds: a stale node's uncommitted entries stay uncommitted (Raft paper §5.3).
#[test]
fn test_heartbeat_update_commit() {
    for (i, proposals) in [1, 3].into_iter().enumerate() {
        let mut network = Network::new(vec![
            NetworkNode::Fresh,
            NetworkNode::Fresh,
            NetworkNode::Fresh,
        ]);
        network.send(vec![new_hup(1)]);
        network.isolate(1);
        // The old leader appends entries nobody else gets.
        for _ in 0..proposals {
            network.send(vec![new_proposal(1, SOME_DATA)]);
        }
        assert_eq!(network.peer(1).raft_log.committed, 1, "case {i}");
        // The rest elect 2 and commit more entries.
        network.send(vec![new_hup(2)]);
        for _ in 0..proposals {
            network.send(vec![new_proposal(2, SOME_DATA)]);
        }
        assert_eq!(
            network.peer(2).raft_log.committed,
            2 + proposals as u64,
            "case {i}"
        );
        // Heartbeats alone must not make node 1 commit its divergent entries.
        network.recover();
        network.ignore(MessageType::MsgAppend);
        network.send(vec![new_beat(2)]);
        assert_eq!(network.peer(1).raft_log.committed, 1, "case {i}");
    }
}

/// In Replicate the leader advances next optimistically after sending; in
/// Probe it does not (Raft paper §5.3 nextIndex).
#[test]
fn test_leader_increase_next() {
    let previous = entries(&[(1, 1), (2, 1), (3, 1)]);
    // (state, next before, want next after one proposal)
    let cases = [
        // Previous entries + no-op + proposal, all sent at once.
        (
            ProgressState::Replicate,
            2,
            previous.len() as u64 + 1 + 1 + 1,
        ),
        (ProgressState::Probe, 2, 2),
    ];
    for (i, &(state, next, want_next)) in cases.iter().enumerate() {
        let mut r = new_test_raft(1, vec![1, 2], 10, 1, MemStorage::new());
        r.raft_log.append(&previous);
        r.become_candidate();
        r.become_leader();
        let pr = r.mut_prs().get_mut(&2).unwrap();
        pr.state = state;
        pr.next_idx = next;
        r.step(new_proposal(1, SOME_DATA)).unwrap();
        assert_eq!(r.prs()[&2].next_idx, want_next, "case {i}");
    }
}

/// In Probe the leader sends one MsgAppend and waits; a heartbeat
/// response lets it try again (Raft paper §5.3).
#[test]
fn test_send_append_for_progress_probe() {
    let mut r = new_test_raft(1, vec![1, 2], 10, 1, MemStorage::new());
    r.become_candidate();
    r.become_leader();
    r.read_messages();
    for round in 0..3 {
        if round == 0 {
            // The first proposal goes out and pauses the peer.
            r.step(new_proposal(1, SOME_DATA)).unwrap();
            let msgs = r.read_messages();
            assert_eq!(msgs.len(), 1);
            assert_eq!(msgs[0].msg_type(), MessageType::MsgAppend);
            assert!(r.prs()[&2].paused);
        }
        // While paused, proposals send nothing.
        for _ in 0..3 {
            r.step(new_proposal(1, SOME_DATA)).unwrap();
            assert!(r.read_messages().is_empty(), "round {round}");
        }
        // A heartbeat goes out on tick regardless.
        r.tick();
        let msgs = r.read_messages();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].msg_type(), MessageType::MsgHeartbeat);
        // Its response resumes the peer and one MsgAppend is sent.
        let mut resp = new_message(2, 1, MessageType::MsgHeartbeatResponse, 0);
        resp.term = r.term;
        r.step(resp).unwrap();
        let msgs = r.read_messages();
        assert_eq!(msgs.len(), 1, "round {round}");
        assert_eq!(msgs[0].msg_type(), MessageType::MsgAppend);
        assert!(r.prs()[&2].paused);
    }
}

/// In Replicate the leader streams every new entry right away (Raft paper §5.3).
#[test]
fn test_send_append_for_progress_replicate() {
    let mut r = new_test_raft(1, vec![1, 2], 10, 1, MemStorage::new());
    r.become_candidate();
    r.become_leader();
    r.read_messages();
    r.mut_prs().get_mut(&2).unwrap().become_replicate();
    for _ in 0..10 {
        r.step(new_proposal(1, SOME_DATA)).unwrap();
        assert_eq!(r.read_messages().len(), 1);
    }
}

/// Flow control: in Replicate the leader stops when the inflight window
/// is full, and a heartbeat response frees a slot.
#[test]
fn test_inflight_window_full() {
    let mut config = new_test_config(1, 10, 1);
    config.peers = vec![1, 2];
    config.max_inflight_msgs = 3;
    let mut r = new_test_raft_with_config(&config, MemStorage::new());
    r.become_candidate();
    r.become_leader();
    r.read_messages();
    r.mut_prs().get_mut(&2).unwrap().become_replicate();
    for i in 0..5 {
        r.step(new_proposal(1, SOME_DATA)).unwrap();
        let want = if i < 3 { 1 } else { 0 };
        assert_eq!(r.read_messages().len(), want, "proposal {i}");
    }
    assert!(r.prs()[&2].ins.full());
    let mut resp = new_message(2, 1, MessageType::MsgHeartbeatResponse, 0);
    resp.term = r.term;
    r.step(resp).unwrap();
    let msgs = r.read_messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].msg_type(), MessageType::MsgAppend);
    // An acknowledgement of everything empties the window.
    let mut ack = new_message(2, 1, MessageType::MsgAppendResponse, 0);
    ack.term = r.term;
    ack.index = r.raft_log.last_index();
    r.step(ack).unwrap();
    assert_eq!(r.prs()[&2].ins.count(), 0);
}

/// MsgAppend carries at most max_size_per_msg bytes of entries, but
/// always at least one entry.
#[test]
fn test_max_size_per_msg() {
    for (max_size, want_per_msg) in [(1, 1), (u64::MAX, 6)] {
        let mut config = new_test_config(1, 10, 1);
        config.peers = vec![1, 2];
        config.max_size_per_msg = max_size;
        let mut r = new_test_raft_with_config(&config, MemStorage::new());
        r.become_candidate();
        r.become_leader();
        for _ in 0..5 {
            r.step(new_proposal(1, SOME_DATA)).unwrap();
        }
        r.read_messages();
        let pr = r.mut_prs().get_mut(&2).unwrap();
        pr.become_replicate();
        pr.next_idx = 1;
        assert!(r.send_append(2).unwrap());
        let msgs = r.read_messages();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].entries.len(), want_per_msg, "max size {max_size}");
    }
}

/// A rejection's hint (the follower's last index) lets the leader skip
/// straight back to it instead of one entry at a time (Raft paper §5.3).
#[test]
fn test_append_reject_hint_backoff() {
    let storage = storage_with_terms(&[1; 10]);
    storage.wl().set_hardstate(hard_state(1, 0, INVALID_ID));
    let mut r = new_test_raft(1, vec![1, 2], 10, 1, storage);
    r.become_candidate();
    r.become_leader();
    r.read_messages();
    let last = r.raft_log.last_index();
    assert_eq!(r.prs()[&2].next_idx, last);
    // The follower has only 3 entries.
    let mut reject = new_message(2, 1, MessageType::MsgAppendResponse, 0);
    reject.term = r.term;
    reject.index = last - 1;
    reject.reject = true;
    reject.reject_hint = 3;
    r.step(reject).unwrap();
    assert_eq!(r.prs()[&2].next_idx, 4);
    let msgs = r.read_messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].msg_type(), MessageType::MsgAppend);
    assert_eq!((msgs[0].index, msgs[0].log_term), (3, 1));
    // A duplicate of the old rejection is stale and ignored.
    let mut stale = new_message(2, 1, MessageType::MsgAppendResponse, 0);
    stale.term = r.term;
    stale.index = last - 1;
    stale.reject = true;
    stale.reject_hint = 3;
    r.step(stale).unwrap();
    assert!(r.read_messages().is_empty());
    assert_eq!(r.prs()[&2].next_idx, 4);
}
