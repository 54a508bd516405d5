//! Lab 2B: a fault-tolerant key-value store on raft.
//!
//! Three groups of tests:
//! * the generic workload (`tinykv_tests::workload`) in TinyKV's scenarios:
//!   clients, unreliable networks, partitions and crashes, checked for lost
//!   writes and for linearizability;
//! * one test per step of the write path, so a failure names the step:
//!   leader check, epoch check, key range, store id, overwritten entries,
//!   restart, crash before apply, and the lab 1 handlers on `RaftStorage`;
//! * bad input (undecodable messages, stale epochs, misdirected requests)
//!   that must be answered with an error and never stop a store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use proto::eraftpb::MessageType;
use proto::errorpb;
use proto::kvrpcpb::{Context, RawGetRequest, RawPutRequest, RawScanRequest};
use proto::metapb::{Peer, Region, RegionEpoch};
use proto::raft_cmdpb::{CmdType, RaftCmdRequest, Request};
use proto::raft_serverpb::{PeerState, RaftMessage, RegionLocalState};
use protobuf::Message as _;
use raftstore::{CmdResponse, Config};
use storage::{keys, WriteBatch};
use tinykv_tests::cluster::{get_request, put_request, test_seed, Cluster, FIRST_REGION_ID};
use tinykv_tests::scenarios::wait_until;
use tinykv_tests::workload::{run_generic_workload, WorkloadOptions};

/// How long a direct command may wait for its answer in these tests: it
/// must commit and apply, which on a loaded machine can take seconds.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the cluster may take to reach a state the test waits for.
const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Helpers: build commands by hand and send them to one store.
// ---------------------------------------------------------------------------

/// The region as the cluster currently knows it.
fn first_region(cluster: &Cluster) -> Region {
    cluster
        .region_for_key(b"")
        .or_else(|| cluster.region_for_key(b"a"))
        .unwrap_or_else(|| cluster.fail("no running store knows region 1"))
}

/// The peer of `region` on `store_id`.
fn peer_on(region: &Region, store_id: u64) -> Peer {
    region
        .peers
        .iter()
        .find(|peer| peer.store_id == store_id)
        .cloned()
        .unwrap_or_else(|| panic!("region {} has no peer on store {store_id}", region.id))
}

/// A command for `region` addressed to `peer` with `epoch`.
fn command(
    region: &Region,
    peer: Peer,
    epoch: RegionEpoch,
    requests: Vec<Request>,
) -> RaftCmdRequest {
    let mut request = RaftCmdRequest::new();
    request.mut_header().region_id = region.id;
    request.mut_header().peer = Some(peer).into();
    request.mut_header().region_epoch = Some(epoch).into();
    request.requests = requests;
    request
}

/// Proposes `request` directly on `store_id`'s router and waits for the answer.
fn send_to(cluster: &Cluster, store_id: u64, request: RaftCmdRequest) -> CmdResponse {
    cluster.send_request_to(store_id, request, ANSWER_TIMEOUT)
}

/// The region error of a response; fails the test if there is none.
fn region_error(cluster: &Cluster, response: &CmdResponse) -> errorpb::Error {
    cluster.region_error_of(response)
}

/// A follower (a running store that is not the leader of region 1).
fn a_follower(cluster: &Cluster, leader: u64) -> u64 {
    cluster
        .running_store_ids()
        .into_iter()
        .find(|&store_id| store_id != leader)
        .unwrap_or_else(|| cluster.fail("no follower is running"))
}

/// The term store `store_id` publishes for region 1.
fn term_of(cluster: &Cluster, store_id: u64) -> u64 {
    cluster
        .region_statuses(FIRST_REGION_ID)
        .into_iter()
        .find(|(id, _)| *id == store_id)
        .map(|(_, status)| status.term)
        .unwrap_or_else(|| cluster.fail(&format!("store {store_id} published no status")))
}

/// Waits until one of `stores` leads region 1 with a term above `term`;
/// returns its store id. (The cluster's client helpers would otherwise try
/// the deposed leader first and wait out its command timeout.)
fn wait_new_leader(cluster: &Cluster, stores: &[u64], term: u64) -> u64 {
    let mut new_leader = None;
    wait_until(cluster, "a new leader with a higher term", WAIT, || {
        new_leader = cluster
            .region_statuses(FIRST_REGION_ID)
            .into_iter()
            .find(|(store_id, status)| {
                stores.contains(store_id) && status.is_leader && status.term > term
            })
            .map(|(store_id, _)| store_id);
        new_leader.is_some()
    });
    new_leader.unwrap_or_else(|| cluster.fail("the new leader vanished"))
}

/// A store that served a bad request must still apply new writes: proof
/// that its threads did not die.
fn must_still_serve(cluster: &Cluster, store_id: u64, key: &[u8]) {
    cluster.must_put(key, b"still serving");
    cluster.must_store_have(store_id, key, Some(b"still serving"), WAIT);
}

// ---------------------------------------------------------------------------
// The generic workload in TinyKV's scenarios.
// ---------------------------------------------------------------------------

/// Basic: one client's writes, reads and scans on a healthy 5-store cluster are all kept and linearizable.
#[test]
fn basic() {
    run_generic_workload("lab2b::basic", WorkloadOptions::default());
}

/// Basic: a put on a 3-store cluster is readable and replicated to every store.
#[test]
fn basic_put_get() {
    let cluster = Cluster::new("lab2b::basic_put_get", 3, Config::for_tests());
    log::info!("--- put, then read through raft and from every store");
    cluster.must_put(b"k1", b"v1");
    cluster.must_get_equal(b"k1", b"v1");
    for store_id in 1..=3 {
        cluster.must_store_have(store_id, b"k1", Some(b"v1"), WAIT);
    }
    log::info!("--- delete");
    cluster.must_delete(b"k1");
    cluster.must_get_none(b"k1");
}

/// Concurrent: five clients at once, each write acknowledged exactly once and every answer linearizable.
#[test]
fn concurrent() {
    run_generic_workload(
        "lab2b::concurrent",
        WorkloadOptions {
            clients: 5,
            ..WorkloadOptions::default()
        },
    );
}

/// Unreliable: with messages dropped and reordered, concurrent clients lose no acknowledged write.
#[test]
fn unreliable() {
    run_generic_workload(
        "lab2b::unreliable",
        WorkloadOptions {
            clients: 5,
            unreliable: true,
            ..WorkloadOptions::default()
        },
    );
}

/// Many partitions, one client: random splits of the stores never lose or reorder a write (Raft paper §5.4).
#[test]
fn many_partitions_one_client() {
    run_generic_workload(
        "lab2b::many_partitions_one_client",
        WorkloadOptions {
            partitions: true,
            round_duration: Duration::from_millis(1500),
            ..WorkloadOptions::default()
        },
    );
}

/// Many partitions, many clients: random splits with concurrent clients stay linearizable (Raft paper §5.4, §8).
#[test]
fn many_partitions_many_clients() {
    run_generic_workload(
        "lab2b::many_partitions_many_clients",
        WorkloadOptions {
            clients: 5,
            partitions: true,
            round_duration: Duration::from_millis(1500),
            ..WorkloadOptions::default()
        },
    );
}

/// Persist, one client: every store crashes after each round and comes back with every acknowledged write.
#[test]
fn persist_one_client() {
    run_generic_workload(
        "lab2b::persist_one_client",
        WorkloadOptions {
            crash: true,
            rounds: 4,
            ..WorkloadOptions::default()
        },
    );
}

/// Persist, concurrent: crashes of every store with five clients in flight lose no acknowledged write.
#[test]
fn persist_concurrent() {
    run_generic_workload(
        "lab2b::persist_concurrent",
        WorkloadOptions {
            clients: 5,
            crash: true,
            rounds: 4,
            ..WorkloadOptions::default()
        },
    );
}

/// Persist, concurrent, unreliable: crashes plus a lossy network lose no acknowledged write.
#[test]
fn persist_concurrent_unreliable() {
    run_generic_workload(
        "lab2b::persist_concurrent_unreliable",
        WorkloadOptions {
            clients: 5,
            crash: true,
            unreliable: true,
            rounds: 4,
            ..WorkloadOptions::default()
        },
    );
}

/// Persist, partition: crashes plus random partitions lose no acknowledged write.
#[test]
fn persist_partition() {
    run_generic_workload(
        "lab2b::persist_partition",
        WorkloadOptions {
            clients: 5,
            crash: true,
            partitions: true,
            round_duration: Duration::from_millis(1500),
            ..WorkloadOptions::default()
        },
    );
}

/// Persist, partition, unreliable: crashes, partitions and a lossy network together lose no acknowledged write.
#[test]
fn persist_partition_unreliable() {
    run_generic_workload(
        "lab2b::persist_partition_unreliable",
        WorkloadOptions {
            clients: 5,
            crash: true,
            partitions: true,
            unreliable: true,
            round_duration: Duration::from_millis(1500),
            ..WorkloadOptions::default()
        },
    );
}

/// One partition: with the leader in a minority, writes sent there never succeed, the majority elects a new leader and serves, and after healing the minority catches up (Raft paper §5.2, §5.3).
#[test]
fn one_partition() {
    let cluster = Cluster::new("lab2b::one_partition", 5, Config::for_tests());
    cluster.must_put(b"k0", b"v0");
    let leader = cluster.wait_leader(FIRST_REGION_ID, WAIT).store_id;
    let others: Vec<u64> = cluster
        .store_ids()
        .into_iter()
        .filter(|&store_id| store_id != leader)
        .collect();

    log::info!("--- leader {leader} in the majority: writes go on, the minority sees none");
    let majority = [leader, others[0], others[1]];
    let minority = [others[2], others[3]];
    cluster.partition(&[&majority, &minority]);
    cluster.must_put(b"k1", b"v1");
    cluster.must_get_equal(b"k1", b"v1");
    for store_id in minority {
        assert_eq!(
            cluster.get_from_store(store_id, b"k1"),
            None,
            "store {store_id} is cut off but has k1 [seed {}]",
            cluster.seed
        );
    }
    cluster.heal();
    for store_id in cluster.store_ids() {
        cluster.must_store_have(store_id, b"k1", Some(b"v1"), WAIT);
    }

    let leader = cluster.wait_leader(FIRST_REGION_ID, WAIT).store_id;
    let others: Vec<u64> = cluster
        .store_ids()
        .into_iter()
        .filter(|&store_id| store_id != leader)
        .collect();
    log::info!("--- leader {leader} in the minority: a write sent there does not succeed");
    let old_term = term_of(&cluster, leader);
    let minority = [leader, others[0]];
    let majority = [others[1], others[2], others[3]];
    cluster.partition(&[&minority, &majority]);
    let region = first_region(&cluster);
    let to_old_leader = command(
        &region,
        peer_on(&region, leader),
        region.region_epoch().clone(),
        vec![put_request(b"k-minority", b"lost")],
    );
    let minority_answer = cluster
        .with_store(leader, |store| store.send_command(to_old_leader))
        .unwrap_or_else(|| cluster.fail("the old leader is not running"))
        .unwrap_or_else(|error| {
            cluster.fail(&format!("the old leader refused the command: {error}"))
        });

    log::info!("--- the majority elects a new leader and makes progress");
    let new_leader = wait_new_leader(&cluster, &majority, old_term);
    log::info!("--- store {new_leader} leads the majority");
    cluster.must_get_equal(b"k1", b"v1");
    cluster.must_put(b"k1", b"changed");
    for store_id in minority {
        assert_eq!(
            cluster.get_from_store(store_id, b"k1").as_deref(),
            Some(&b"v1"[..]),
            "store {store_id} is in the minority but saw the majority's write [seed {}]",
            cluster.seed
        );
    }
    if let Some(answer) = minority_answer.wait(Duration::ZERO) {
        let error = region_error(&cluster, &answer);
        log::info!("--- the old leader already answered: {}", error.message);
    }

    log::info!("--- heal: the old minority catches up with the same data");
    cluster.heal();
    cluster.must_put(b"k2", b"v2");
    for store_id in cluster.store_ids() {
        cluster.must_store_have(store_id, b"k1", Some(b"changed"), WAIT);
        cluster.must_store_have(store_id, b"k2", Some(b"v2"), WAIT);
    }
    if let Some(answer) = minority_answer.wait(WAIT) {
        let error = region_error(&cluster, &answer);
        log::info!(
            "--- the write sent to the minority answered: {}",
            error.message
        );
        assert!(
            error.stale_command.is_some() || error.not_leader.is_some(),
            "the write sent to the minority was answered with {error:?}; expected StaleCommand or NotLeader [seed {}]",
            cluster.seed
        );
    }
    cluster.must_get_none(b"k-minority");
    cluster.must_replicas_converge(FIRST_REGION_ID, WAIT);
}

// ---------------------------------------------------------------------------
// One step of the write path at a time.
// ---------------------------------------------------------------------------

/// Sends the command built by `build` (from the current region and leader
/// peer) to the leader; on NotLeader (the leader just changed) it asks the
/// new leader. Returns the answer and the leader's store id.
fn send_to_leader(
    cluster: &Cluster,
    build: impl Fn(&Region, Peer) -> RaftCmdRequest,
) -> (CmdResponse, u64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let leader = cluster.wait_leader(FIRST_REGION_ID, WAIT);
        let region = first_region(cluster);
        let response = send_to(cluster, leader.store_id, build(&region, leader.clone()));
        let header = response.response.header();
        let moved = header.error.is_some() && header.error().not_leader.is_some();
        if !moved || Instant::now() > deadline {
            return (response, leader.store_id);
        }
        log::info!(
            "--- store {} is no longer the leader; asking again",
            leader.store_id
        );
    }
}

/// A proposal sent to a follower is refused with NotLeader naming the current leader (TinyKV's preProposeRaftCommand).
#[test]
fn proposal_to_follower_returns_not_leader_with_leader_hint() {
    let cluster = Cluster::new(
        "lab2b::proposal_to_follower_returns_not_leader_with_leader_hint",
        3,
        Config::for_tests(),
    );
    cluster.must_put(b"k", b"v");
    let deadline = Instant::now() + WAIT;
    let mut attempt = 0;
    loop {
        let leader = cluster.wait_leader(FIRST_REGION_ID, WAIT);
        let follower = a_follower(&cluster, leader.store_id);
        // The hint is what the follower believes: wait until it believes in
        // this leader (a follower that just heard of an election, or a
        // pre-candidate, knows no leader).
        let follower_knows_leader = cluster
            .region_statuses(FIRST_REGION_ID)
            .iter()
            .any(|(store_id, status)| *store_id == follower && status.leader_id == leader.id);
        if !follower_knows_leader {
            if Instant::now() > deadline {
                cluster.fail(&format!(
                    "follower {follower} never learned that {leader:?} leads after {WAIT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        let region = first_region(&cluster);
        log::info!(
            "--- propose to follower {follower} (leader is store {})",
            leader.store_id
        );
        let key = format!("refused-{attempt}").into_bytes();
        let response = send_to(
            &cluster,
            follower,
            command(
                &region,
                peer_on(&region, follower),
                region.region_epoch().clone(),
                vec![put_request(&key, b"from a follower")],
            ),
        );
        // On a loaded machine leadership can move between the steps: the
        // follower then leads (a success), or knows no or another leader.
        // Each is a correct answer for that moment: check again.
        let header = response.response.header();
        let hint = header
            .error
            .as_ref()
            .and_then(|error| error.not_leader.as_ref())
            .and_then(|not_leader| not_leader.leader.clone().into_option());
        if hint.as_ref() != Some(&leader) && Instant::now() < deadline {
            log::info!("--- the roles changed during the check ({header:?}); again");
            attempt += 1;
            continue;
        }
        let error = region_error(&cluster, &response);
        assert!(
            error.not_leader.is_some(),
            "expected NotLeader from follower {follower}, got {error:?} [seed {}]",
            cluster.seed
        );
        assert_eq!(error.not_leader().region_id, FIRST_REGION_ID);
        assert_eq!(
            hint.as_ref(),
            Some(&leader),
            "follower {follower} hinted {hint:?}; the leader is {leader:?} [seed {}]",
            cluster.seed
        );
        log::info!("--- the refused write was not applied");
        cluster.must_get_none(&key);
        break;
    }
    cluster.must_get_equal(b"k", b"v");
}

/// A request made against an older region epoch (version 0) is refused with EpochNotMatch carrying the current region.
#[test]
fn stale_epoch_returns_epoch_not_match() {
    let cluster = Cluster::new(
        "lab2b::stale_epoch_returns_epoch_not_match",
        3,
        Config::for_tests(),
    );
    cluster.must_put(b"k", b"v");
    log::info!("--- propose with region epoch version 0");
    let (response, leader) = send_to_leader(&cluster, |region, leader| {
        let mut stale = region.region_epoch().clone();
        stale.version = 0;
        command(region, leader, stale, vec![put_request(b"k", b"stale")])
    });
    let error = region_error(&cluster, &response);
    assert!(
        error.epoch_not_match.is_some(),
        "expected EpochNotMatch from leader {leader}, got {error:?} [seed {}]",
        cluster.seed
    );
    let current = &error.epoch_not_match().current_regions;
    let region = first_region(&cluster);
    assert!(
        current
            .iter()
            .any(|r| r.id == region.id && r.region_epoch() == region.region_epoch()),
        "EpochNotMatch should carry the current region {region:?}, carries {current:?}"
    );
    log::info!("--- the refused write was not applied");
    cluster.must_get_equal(b"k", b"v");
}

/// A key outside the region's range (after its end, at its exclusive end, before its start) is refused with KeyNotInRegion.
#[test]
fn key_outside_region_returns_key_not_in_region() {
    let seed = test_seed("lab2b::key_outside_region_returns_key_not_in_region");
    let cluster = Cluster::with_first_region(seed, 3, Config::for_tests(), None, b"a", b"m");
    log::info!("--- a key inside [a, m) works");
    cluster.must_put(b"b", b"inside");
    cluster.must_get_equal(b"b", b"inside");
    for key in [&b"z"[..], b"m", b"0"] {
        log::info!("--- put {:?}, outside [a, m)", String::from_utf8_lossy(key));
        let (response, leader) = send_to_leader(&cluster, |region, leader| {
            command(
                region,
                leader,
                region.region_epoch().clone(),
                vec![put_request(key, b"outside")],
            )
        });
        let error = region_error(&cluster, &response);
        assert!(
            error.key_not_in_region.is_some(),
            "expected KeyNotInRegion for {key:?} from leader {leader}, got {error:?} [seed {seed}]"
        );
        let detail = error.key_not_in_region();
        assert_eq!(detail.key, key);
        assert_eq!(detail.region_id, FIRST_REGION_ID);
        assert_eq!(
            (detail.start_key.as_slice(), detail.end_key.as_slice()),
            (&b"a"[..], &b"m"[..])
        );
    }
}

/// A request whose header names another store is refused with StoreNotMatch, leader or not.
#[test]
fn wrong_store_returns_store_not_match() {
    let cluster = Cluster::new(
        "lab2b::wrong_store_returns_store_not_match",
        3,
        Config::for_tests(),
    );
    cluster.must_put(b"k", b"v");
    let region = first_region(&cluster);
    for store_id in cluster.store_ids() {
        let other = if store_id == 1 { 2 } else { 1 };
        log::info!("--- send store {other}'s peer to store {store_id}");
        let response = send_to(
            &cluster,
            store_id,
            command(
                &region,
                peer_on(&region, other),
                region.region_epoch().clone(),
                vec![put_request(b"k", b"misdirected")],
            ),
        );
        let error = region_error(&cluster, &response);
        assert!(
            error.store_not_match.is_some(),
            "expected StoreNotMatch from store {store_id}, got {error:?} [seed {}]",
            cluster.seed
        );
        assert_eq!(error.store_not_match().request_store_id, other);
        assert_eq!(error.store_not_match().actual_store_id, store_id);
    }
    cluster.must_get_equal(b"k", b"v");
}

/// An entry proposed to a leader that is then cut off and overwritten by a new leader answers StaleCommand, never success (Raft paper §5.3).
#[test]
fn overwritten_entry_answers_stale_command() {
    let cluster = Cluster::new(
        "lab2b::overwritten_entry_answers_stale_command",
        3,
        Config::for_tests(),
    );
    cluster.must_put(b"k", b"v");
    let old_leader = cluster.wait_leader(FIRST_REGION_ID, WAIT);
    let old_term = term_of(&cluster, old_leader.store_id);

    log::info!(
        "--- isolate leader {} and propose to it directly",
        old_leader.store_id
    );
    cluster.isolate(old_leader.store_id);
    let region = first_region(&cluster);
    let proposal = command(
        &region,
        old_leader.clone(),
        region.region_epoch().clone(),
        vec![put_request(b"k-old", b"never")],
    );
    let answer = cluster
        .with_store(old_leader.store_id, |store| store.send_command(proposal))
        .unwrap_or_else(|| cluster.fail("the old leader is not running"))
        .unwrap_or_else(|error| {
            cluster.fail(&format!("the old leader refused the command: {error}"))
        });

    log::info!("--- the majority elects a new leader and commits over the old entry");
    let others: Vec<u64> = cluster
        .store_ids()
        .into_iter()
        .filter(|&store_id| store_id != old_leader.store_id)
        .collect();
    wait_new_leader(&cluster, &others, old_term);
    cluster.must_put(b"k-new", b"committed");
    // An answer may already be there (NotLeader after the step-down); it must not be a success.
    let early = answer.wait(Duration::ZERO);
    if let Some(early) = &early {
        let error = region_error(&cluster, early);
        log::info!("--- answered while cut off: {}", error.message);
    }

    log::info!("--- heal: the old leader's entry is overwritten");
    cluster.heal();
    cluster.must_store_have(old_leader.store_id, b"k-new", Some(b"committed"), WAIT);
    let response = early.unwrap_or_else(|| {
        answer
            .wait(WAIT)
            .unwrap_or_else(|| cluster.fail("the overwritten proposal was never answered"))
    });
    let error = region_error(&cluster, &response);
    log::info!("--- the overwritten proposal answered: {}", error.message);
    assert!(
        error.stale_command.is_some() || error.not_leader.is_some(),
        "expected StaleCommand (or NotLeader), got {error:?} [seed {}]",
        cluster.seed
    );
    cluster.must_get_none(b"k-old");
    assert_eq!(cluster.get_from_store(old_leader.store_id, b"k-old"), None);
}

/// Restarting every store recovers each peer's term and applied index exactly, keeps the data, and the log continues after them.
#[test]
fn restart_recovers_raft_state_and_applied_index() {
    let cluster = Cluster::new(
        "lab2b::restart_recovers_raft_state_and_applied_index",
        3,
        Config::for_tests(),
    );
    log::info!("--- write, and wait until every store applied the writes");
    for i in 0..20 {
        cluster.must_put(format!("k{i:02}").as_bytes(), format!("v{i}").as_bytes());
    }
    for store_id in cluster.store_ids() {
        cluster.must_store_have(store_id, b"k19", Some(b"v19"), WAIT);
    }

    log::info!("--- cut every link (so no election moves the term), restart every store");
    cluster.partition(&[]);
    // What each store stopped with (its threads joined, so nothing changes
    // it any more) is exactly what its restart must recover; a status read
    // while it still ran could be followed by a message delivered before
    // the cut.
    let before: Vec<(u64, u64, u64)> = cluster
        .store_ids()
        .into_iter()
        .map(|store_id| {
            let status = cluster
                .stop_store_with_status(store_id, FIRST_REGION_ID)
                .unwrap_or_else(|| cluster.fail(&format!("store {store_id} published no status")));
            (store_id, status.applied_index, status.term)
        })
        .collect();
    log::info!("--- before restart (store, applied index, term): {before:?}");
    for store_id in cluster.store_ids() {
        cluster.start_store(store_id);
    }
    wait_until(
        &cluster,
        "every restarted store publishes its region",
        WAIT,
        || cluster.region_statuses(FIRST_REGION_ID).len() == 3,
    );
    let after: Vec<(u64, u64, u64)> = cluster
        .region_statuses(FIRST_REGION_ID)
        .into_iter()
        .map(|(store_id, status)| (store_id, status.applied_index, status.term))
        .collect();
    assert_eq!(
        after, before,
        "(store, applied index, term) after the restart differ from before [seed {}]",
        cluster.seed
    );

    log::info!("--- heal: the data is there and new entries come after the recovered ones");
    cluster.heal();
    for i in 0..20 {
        cluster.must_get_equal(format!("k{i:02}").as_bytes(), format!("v{i}").as_bytes());
    }
    cluster.must_put(b"after", b"restart");
    wait_until(
        &cluster,
        "every store applies past its recovered index",
        WAIT,
        || {
            let statuses = cluster.region_statuses(FIRST_REGION_ID);
            statuses.len() == 3
                && statuses.iter().all(|(store_id, status)| {
                    before
                        .iter()
                        .any(|(id, applied, _)| id == store_id && status.applied_index > *applied)
                })
        },
    );
    for store_id in cluster.store_ids() {
        cluster.must_store_have(store_id, b"after", Some(b"restart"), WAIT);
    }
}

/// Every store stopped right after the acknowledgements (followers may not have applied yet) loses no acknowledged write.
#[test]
fn crash_after_persist_before_apply_loses_no_acknowledged_write() {
    let cluster = Cluster::new(
        "lab2b::crash_after_persist_before_apply_loses_no_acknowledged_write",
        3,
        Config::for_tests(),
    );
    log::info!("--- acknowledged writes, then stop every store at once");
    for i in 0..30 {
        cluster.must_put(format!("k{i:02}").as_bytes(), format!("v{i}").as_bytes());
    }
    for store_id in cluster.store_ids() {
        cluster.stop_store(store_id);
    }
    log::info!("--- restart: every acknowledged write is readable and reaches every store");
    for store_id in cluster.store_ids() {
        cluster.start_store(store_id);
    }
    for i in 0..30 {
        cluster.must_get_equal(format!("k{i:02}").as_bytes(), format!("v{i}").as_bytes());
    }
    for store_id in cluster.store_ids() {
        cluster.must_store_have(store_id, b"k29", Some(b"v29"), WAIT);
    }
    cluster.must_replicas_converge(FIRST_REGION_ID, WAIT);
}

/// The raw request context (region, peer, epoch) a store serves under.
fn raw_context(region: &Region, peer: Peer) -> Context {
    let mut context = Context::new();
    context.region_id = region.id;
    context.peer = Some(peer).into();
    context.region_epoch = Some(region.region_epoch().clone()).into();
    context
}

/// A lab 1 `Server` over `RaftStorage` on `store_id`, with the context for its peer.
fn raft_server(cluster: &Cluster, store_id: u64) -> (server::Server, Context) {
    let router = cluster
        .with_store(store_id, |store| store.router().clone())
        .unwrap_or_else(|| cluster.fail(&format!("store {store_id} is not running")));
    let storage = server::RaftStorage::new(router, ANSWER_TIMEOUT);
    let region = first_region(cluster);
    let context = raw_context(&region, peer_on(&region, store_id));
    (server::Server::new(Arc::new(storage)), context)
}

/// Whether a lab 1 response's `error` says the storage timed out: the
/// outcome is unknown (a deposed leader never answers), not a failure.
fn timed_out(error: &str) -> bool {
    error.starts_with(&storage::Error::Timeout(String::new()).to_string())
}

/// Runs `attempt` (which returns its result, its region error and its error
/// message) against the leader's server until it answers without a
/// NotLeader region error or a timeout (the leader may move under a loaded
/// machine; every attempt here can be repeated safely).
fn on_leader<T>(
    cluster: &Cluster,
    mut attempt: impl FnMut(&server::Server, &Context) -> (T, Option<errorpb::Error>, String),
) -> T {
    // Room for a few attempts that each wait out the storage's timeout.
    let deadline = Instant::now() + 3 * ANSWER_TIMEOUT;
    loop {
        let leader = cluster.wait_leader(FIRST_REGION_ID, WAIT).store_id;
        let (server, context) = raft_server(cluster, leader);
        let (result, region_error, error) = attempt(&server, &context);
        let retry = match &region_error {
            None => timed_out(&error),
            Some(region_error) => region_error.not_leader.is_some(),
        };
        if !retry {
            if let Some(region_error) = region_error {
                cluster.fail(&format!("leader {leader} answered {region_error:?}"));
            }
            return result;
        }
        if Instant::now() > deadline {
            cluster.fail(&format!(
                "store {leader} answered {region_error:?} / {error:?}; giving up after {:?}",
                3 * ANSWER_TIMEOUT
            ));
        }
        log::info!("--- store {leader}: {region_error:?} / {error:?}; again");
    }
}

/// The lab 1 raw handlers run unchanged on RaftStorage: put, get, scan and delete on the leader; NotLeader from a follower.
#[test]
fn lab1_handlers_run_on_raft_storage() {
    let cluster = Cluster::new(
        "lab2b::lab1_handlers_run_on_raft_storage",
        3,
        Config::for_tests(),
    );
    cluster.must_put(b"warm", b"up");
    log::info!("--- raw_put and raw_get on the leader");
    for (key, value) in [(&b"a"[..], &b"1"[..]), (b"b", b"2"), (b"c", b"3")] {
        let response = on_leader(&cluster, |server, context| {
            let mut request = RawPutRequest::new();
            request.context = Some(context.clone()).into();
            request.key = key.to_vec();
            request.value = value.to_vec();
            let response = server.raw_put(&request);
            let error = response.region_error.clone().into_option();
            let message = response.error.clone();
            (response, error, message)
        });
        assert!(
            response.error.is_empty(),
            "raw_put failed: {}",
            response.error
        );
    }
    let got = on_leader(&cluster, |server, context| {
        let mut request = RawGetRequest::new();
        request.context = Some(context.clone()).into();
        request.key = b"b".to_vec();
        let response = server.raw_get(&request);
        let error = response.region_error.clone().into_option();
        let message = response.error.clone();
        (response, error, message)
    });
    assert!(
        got.error.is_empty() && !got.not_found,
        "raw_get failed: {got:?}"
    );
    assert_eq!(got.value, b"2");

    log::info!("--- raw_scan on the leader");
    let scanned = on_leader(&cluster, |server, context| {
        let mut request = RawScanRequest::new();
        request.context = Some(context.clone()).into();
        request.start_key = b"a".to_vec();
        request.end_key = b"c".to_vec();
        request.limit = 10;
        let response = server.raw_scan(&request);
        let error = response.region_error.clone().into_option();
        let message = response.error.clone();
        (response, error, message)
    });
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = scanned
        .kvs
        .iter()
        .map(|kv| (kv.key.clone(), kv.value.clone()))
        .collect();
    assert_eq!(
        pairs,
        vec![
            (b"a".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), b"2".to_vec())
        ]
    );
    cluster.must_get_equal(b"c", b"3");

    log::info!("--- a follower's handlers answer with a NotLeader region error");
    // A follower answers at once; a success means it led at that moment
    // (leadership moves on a loaded machine): then ask another follower.
    let deadline = Instant::now() + WAIT;
    let mut attempt = 0;
    let (follower, put_response, refused_key) = loop {
        let leader = cluster.wait_leader(FIRST_REGION_ID, WAIT).store_id;
        let follower = a_follower(&cluster, leader);
        let (server, context) = raft_server(&cluster, follower);
        let key = format!("d{attempt}").into_bytes();
        let mut request = RawPutRequest::new();
        request.context = Some(context).into();
        request.key = key.clone();
        request.value = b"4".to_vec();
        let response = server.raw_put(&request);
        if response.region_error.is_some() || Instant::now() > deadline {
            break (follower, response, key);
        }
        log::info!("--- store {follower} led when it got the put; again");
        attempt += 1;
    };
    assert!(
        put_response.region_error.is_some() && put_response.region_error.not_leader.is_some(),
        "raw_put on follower {follower} should carry a NotLeader region error, got {put_response:?} [seed {}]",
        cluster.seed
    );
    let deadline = Instant::now() + WAIT;
    let (follower, get_response) = loop {
        let leader = cluster.wait_leader(FIRST_REGION_ID, WAIT).store_id;
        let follower = a_follower(&cluster, leader);
        let (server, context) = raft_server(&cluster, follower);
        let mut request = RawGetRequest::new();
        request.context = Some(context).into();
        request.key = b"a".to_vec();
        let response = server.raw_get(&request);
        if response.region_error.is_some() || Instant::now() > deadline {
            break (follower, response);
        }
        log::info!("--- store {follower} led when it got the get; again");
    };
    assert!(
        get_response.region_error.is_some() && get_response.region_error.not_leader.is_some(),
        "raw_get on follower {follower} should carry a NotLeader region error, got {get_response:?} [seed {}]",
        cluster.seed
    );
    cluster.must_get_none(&refused_key);
}

// ---------------------------------------------------------------------------
// Bad input never stops a store.
// ---------------------------------------------------------------------------

/// Raft messages that do not decode or lack their routing fields or payload are dropped; the store keeps serving.
#[test]
fn bad_input_undecodable_raft_message_is_dropped() {
    let cluster = Cluster::new(
        "lab2b::bad_input_undecodable_raft_message_is_dropped",
        3,
        Config::for_tests(),
    );
    cluster.must_put(b"k", b"v");
    log::info!("--- bytes that are not a RaftMessage");
    for garbage in [
        &b"garbage"[..],
        &[0xff; 64],
        &[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f],
    ] {
        assert!(
            cluster.network().deliver_bytes(2, garbage).is_err(),
            "garbage {garbage:?} should not decode"
        );
    }
    log::info!("--- messages that decode but are malformed");
    let region = first_region(&cluster);
    let mut empty = RaftMessage::new();
    empty.region_id = FIRST_REGION_ID;
    let mut no_payload = RaftMessage::new();
    no_payload.region_id = FIRST_REGION_ID;
    no_payload.from_peer = Some(peer_on(&region, 1)).into();
    no_payload.to_peer = Some(peer_on(&region, 2)).into();
    let mut wrong_peer = no_payload.clone();
    let mut heartbeat = proto::eraftpb::Message::new();
    heartbeat.set_msg_type(MessageType::MsgHeartbeat);
    heartbeat.from = 1;
    heartbeat.to = 77;
    wrong_peer.message = Some(heartbeat).into();
    wrong_peer.mut_to_peer().id = 77;
    for message in [RaftMessage::new(), empty, no_payload, wrong_peer] {
        let bytes = message.write_to_bytes().expect("encode a RaftMessage");
        // Delivery may succeed (the store drops it later) or fail; neither may panic.
        let _ = cluster.network().deliver_bytes(2, &bytes);
    }
    log::info!("--- store 2 still applies writes");
    must_still_serve(&cluster, 2, b"after-garbage");
}

/// A heartbeat for a destroyed region with a stale conf_ver creates no peer; one with a newer conf_ver does.
#[test]
fn bad_input_stale_message_for_destroyed_region_creates_no_peer() {
    let cluster = Cluster::new(
        "lab2b::bad_input_stale_message_for_destroyed_region_creates_no_peer",
        3,
        Config::for_tests(),
    );
    cluster.must_put(b"k", b"v");
    log::info!("--- store 2 remembers region 99 as destroyed at conf_ver 5");
    let mut destroyed = Region::new();
    destroyed.id = 99;
    destroyed.mut_region_epoch().conf_ver = 5;
    destroyed.mut_region_epoch().version = 1;
    let mut state = RegionLocalState::new();
    state.set_state(PeerState::Tombstone);
    state.region = Some(destroyed).into();
    cluster
        .with_store(2, |store| {
            let mut batch = WriteBatch::new();
            batch.put_msg(&keys::region_state_key(99), &state)?;
            store.engines().kv.write(batch, true)
        })
        .unwrap_or_else(|| cluster.fail("store 2 is not running"))
        .unwrap_or_else(|error| cluster.fail(&format!("writing the tombstone: {error}")));

    let heartbeat = |region_id: u64, conf_ver: u64| {
        let mut message = RaftMessage::new();
        message.region_id = region_id;
        let mut from = Peer::new();
        from.id = region_id * 10 + 1;
        from.store_id = 1;
        let mut to = Peer::new();
        to.id = region_id * 10 + 2;
        to.store_id = 2;
        message.from_peer = Some(from.clone()).into();
        message.to_peer = Some(to.clone()).into();
        message.mut_region_epoch().conf_ver = conf_ver;
        message.mut_region_epoch().version = 1;
        let mut payload = proto::eraftpb::Message::new();
        payload.set_msg_type(MessageType::MsgHeartbeat);
        payload.from = from.id;
        payload.to = to.id;
        payload.term = 7;
        message.message = Some(payload).into();
        message.write_to_bytes().expect("encode a RaftMessage")
    };
    let has_region = |region_id: u64| {
        cluster
            .with_store(2, |store| store.store_meta().get(region_id).is_some())
            .unwrap_or(false)
    };

    log::info!(
        "--- a heartbeat for region 99 at conf_ver 1 (stale), then one for region 100 (fresh)"
    );
    let _ = cluster.network().deliver_bytes(2, &heartbeat(99, 1));
    let _ = cluster.network().deliver_bytes(2, &heartbeat(100, 1));
    // The store worker handles both in order: once region 100 exists, the
    // message for region 99 has been decided.
    wait_until(
        &cluster,
        "store 2 creates a peer for region 100",
        WAIT,
        || has_region(100),
    );
    assert!(
        !has_region(99),
        "a stale message created a peer for destroyed region 99 [seed {}]",
        cluster.seed
    );

    log::info!(
        "--- a heartbeat for region 99 at conf_ver 6 (newer than the tombstone) creates the peer"
    );
    let _ = cluster.network().deliver_bytes(2, &heartbeat(99, 6));
    wait_until(
        &cluster,
        "store 2 creates a peer for region 99",
        WAIT,
        || has_region(99),
    );
    must_still_serve(&cluster, 2, b"after-stale-message");
}

/// Sends the command `build` makes (from the region, a follower's peer and
/// the attempt number) to a follower. If it succeeds, the follower led at
/// that moment (leadership moves on a loaded machine): it tries again with
/// the new roles (the attempt number lets `build` pick fresh keys). Returns
/// the answer and the follower's store id and the attempt number.
fn send_to_follower(
    cluster: &Cluster,
    build: impl Fn(&Region, Peer, usize) -> RaftCmdRequest,
) -> (CmdResponse, u64, usize) {
    let deadline = Instant::now() + WAIT;
    let mut attempt = 0;
    loop {
        let leader = cluster.wait_leader(FIRST_REGION_ID, WAIT).store_id;
        let follower = a_follower(cluster, leader);
        let region = first_region(cluster);
        let response = send_to(
            cluster,
            follower,
            build(&region, peer_on(&region, follower), attempt),
        );
        let succeeded = !response.response.header().error.is_some();
        if !succeeded || Instant::now() > deadline {
            return (response, follower, attempt);
        }
        log::info!("--- store {follower} led when it got the command; again");
        attempt += 1;
    }
}

/// Proposals to a follower (a write, a read, an empty command, no peer or no epoch in the header) are refused and change nothing.
#[test]
fn bad_input_proposal_to_non_leader() {
    let cluster = Cluster::new(
        "lab2b::bad_input_proposal_to_non_leader",
        3,
        Config::for_tests(),
    );
    cluster.must_put(b"k", b"v");
    /// Turns a well-formed put into the case's bad request.
    type Shape = fn(RaftCmdRequest) -> RaftCmdRequest;
    let cases: Vec<(&str, Shape, bool)> = vec![
        ("a put", |request| request, true),
        (
            "a get",
            |mut request| {
                request.requests = vec![get_request(b"k")];
                request
            },
            false,
        ),
        (
            "an empty command",
            |mut request| {
                request.requests.clear();
                request
            },
            false,
        ),
        (
            "no peer in the header",
            |mut request| {
                request.mut_header().peer = None.into();
                request
            },
            true,
        ),
        (
            "no epoch in the header",
            |mut request| {
                request.mut_header().region_epoch = None.into();
                request
            },
            true,
        ),
    ];
    let mut refused_keys = Vec::new();
    for (what, shape, writes) in cases {
        log::info!("--- {what}, sent to a follower");
        let (response, follower, attempt) = send_to_follower(&cluster, |region, peer, attempt| {
            let key = format!("follower-{what}-{attempt}").into_bytes();
            let request = command(
                region,
                peer,
                region.region_epoch().clone(),
                vec![put_request(&key, b"x")],
            );
            shape(request)
        });
        let error = region_error(&cluster, &response);
        log::info!("--- follower {follower} answered: {}", error.message);
        assert!(
            error.not_leader.is_some(),
            "{what}: expected NotLeader from follower {follower}, got {error:?} [seed {}]",
            cluster.seed
        );
        if writes {
            refused_keys.push(format!("follower-{what}-{attempt}").into_bytes());
        }
        must_still_serve(&cluster, follower, format!("after {what}").as_bytes());
    }
    log::info!("--- none of the refused writes was applied");
    for key in refused_keys {
        cluster.must_get_none(&key);
    }
    cluster.must_get_equal(b"k", b"v");
}

/// Requests with a wrong region epoch (version 0, a future version) or an unknown region are refused; the leader keeps serving.
#[test]
fn bad_input_wrong_region_epoch() {
    let cluster = Cluster::new(
        "lab2b::bad_input_wrong_region_epoch",
        3,
        Config::for_tests(),
    );
    cluster.must_put(b"k", b"v");
    for version in [0, 2, u64::MAX] {
        log::info!("--- epoch version {version}");
        let (response, leader) = send_to_leader(&cluster, |region, leader| {
            let mut wrong = region.region_epoch().clone();
            wrong.version = version;
            command(
                region,
                leader,
                wrong,
                vec![put_request(b"k", b"wrong epoch")],
            )
        });
        let error = region_error(&cluster, &response);
        assert!(
            error.epoch_not_match.is_some(),
            "version {version}: expected EpochNotMatch from leader {leader}, got {error:?} [seed {}]",
            cluster.seed
        );
    }
    log::info!("--- a region no store has");
    let leader = cluster.wait_leader(FIRST_REGION_ID, WAIT);
    let mut unknown = first_region(&cluster);
    unknown.id = 4242;
    let response = send_to(
        &cluster,
        leader.store_id,
        command(
            &unknown,
            leader.clone(),
            unknown.region_epoch().clone(),
            vec![put_request(b"k", b"nowhere")],
        ),
    );
    let error = region_error(&cluster, &response);
    assert!(
        error.region_not_found.is_some(),
        "expected RegionNotFound, got {error:?}"
    );
    cluster.must_get_equal(b"k", b"v");
    must_still_serve(&cluster, leader.store_id, b"after-wrong-epoch");
}

/// Keys outside the region, an invalid command type and an unknown column family are refused; no store stops.
#[test]
fn bad_input_key_outside_region() {
    let seed = test_seed("lab2b::bad_input_key_outside_region");
    let cluster = Cluster::with_first_region(seed, 3, Config::for_tests(), None, b"a", b"m");
    cluster.must_put(b"k", b"v");
    let mut delete = Request::new();
    delete.set_cmd_type(CmdType::Delete);
    delete.mut_delete().key = b"0".to_vec();
    let mut invalid = Request::new();
    invalid.set_cmd_type(CmdType::Invalid);
    let mut unknown_cf = put_request(b"c", b"unknown cf");
    unknown_cf.mut_put().cf = "no-such-cf".to_string();
    let cases: Vec<(&str, Vec<Request>)> = vec![
        ("put after the end", vec![put_request(b"z", b"x")]),
        ("get after the end", vec![get_request(b"zz")]),
        ("delete before the start", vec![delete]),
        ("put with an empty key", vec![put_request(b"", b"x")]),
        (
            "put inside, then outside",
            vec![put_request(b"c", b"x"), put_request(b"z", b"x")],
        ),
        ("invalid command type", vec![invalid]),
        ("unknown column family", vec![unknown_cf]),
    ];
    for (what, requests) in cases {
        log::info!("--- {what}");
        let (response, leader) = send_to_leader(&cluster, |region, leader| {
            command(
                region,
                leader,
                region.region_epoch().clone(),
                requests.clone(),
            )
        });
        let error = region_error(&cluster, &response);
        log::info!("--- leader {leader} answered: {}", error.message);
    }
    log::info!("--- nothing was written, and every store still applies writes");
    cluster.must_get_none(b"c");
    for store_id in cluster.store_ids() {
        must_still_serve(&cluster, store_id, b"b");
    }
}

/// A command refused while it is applied (here: its second request names an unknown column family) changes nothing, not even its valid first request.
#[test]
fn bad_input_failed_command_changes_nothing() {
    let cluster = Cluster::new(
        "lab2b::bad_input_failed_command_changes_nothing",
        3,
        Config::for_tests(),
    );
    cluster.must_put(b"k", b"v");
    let mut unknown_cf = put_request(b"b", b"second");
    unknown_cf.mut_put().cf = "no-such-cf".to_string();
    log::info!("--- propose [Put a (default cf), Put b (unknown cf)]");
    let (response, leader) = send_to_leader(&cluster, |region, leader| {
        command(
            region,
            leader,
            region.region_epoch().clone(),
            vec![put_request(b"a", b"first"), unknown_cf.clone()],
        )
    });
    let error = region_error(&cluster, &response);
    log::info!("--- leader {leader} answered: {}", error.message);
    log::info!("--- a later write reaches every store; the refused command left nothing behind");
    cluster.must_put(b"later", b"write");
    for store_id in cluster.store_ids() {
        cluster.must_store_have(store_id, b"later", Some(b"write"), WAIT);
        assert_eq!(
            cluster.get_from_store(store_id, b"a"),
            None,
            "store {store_id} applied part of a command that was answered with an error [seed {}]",
            cluster.seed
        );
    }
    cluster.must_get_none(b"a");
}
