//! Lab 3B: multi-raft — leader transfer, membership change and region
//! split in raftstore.
//!
//! Three groups of tests:
//! * TinyKV's scenarios (transfer leader, basic conf change, removing the
//!   leader, one split), on the test cluster;
//! * one test per rule, so a failure names the rule: a removed peer is
//!   destroyed (tombstone, data, files), a removed peer's messages create
//!   nothing, a new incarnation of a region replaces a tombstone, a leader
//!   can remove itself from a 2-peer region, splits tile the key space,
//!   requests outside a region or with a stale epoch are answered with the
//!   current region;
//! * bad input: stale epochs, duplicate adds, absent removals, split keys
//!   at or outside the bounds each get a typed error and change nothing.

use std::time::{Duration, Instant};

use proto::eraftpb::ConfChangeType;
use proto::metapb::{Peer, Region};
use proto::raft_cmdpb::{AdminCmdType, AdminRequest, RaftCmdRequest, Request};
use proto::raft_serverpb::PeerState;
use raftstore::{CmdResponse, Config};
use storage::keys;
use tinykv_tests::cluster::{put_request, Cluster, FIRST_REGION_ID};
use tinykv_tests::scenarios::wait_until;
use tinykv_tests::workload::{run_generic_workload, WorkloadOptions};

/// How long the cluster may take to reach a state a test waits for.
const WAIT: Duration = Duration::from_secs(20);

/// The key `i` of these tests.
fn key(i: usize) -> Vec<u8> {
    format!("k{i:04}").into_bytes()
}

/// The value of key `i` in round `round`.
fn value(round: usize, i: usize) -> Vec<u8> {
    format!("v{round}-{i}").into_bytes()
}

/// Waits until store `store_id` has destroyed its peer of `region_id`:
/// Tombstone on disk, gone from the store's published regions.
fn wait_destroyed(cluster: &Cluster, store_id: u64, region_id: u64) {
    wait_until(
        cluster,
        &format!("store {store_id} destroys its peer of region {region_id}"),
        WAIT,
        || {
            let tombstone = cluster
                .region_state(store_id, region_id)
                .is_some_and(|state| state.state() == PeerState::Tombstone);
            let published = cluster
                .region_statuses(region_id)
                .iter()
                .any(|(id, _)| *id == store_id);
            tombstone && !published
        },
    );
}

/// Sends `admin` to `store_id` for `region` (made against `region`'s
/// epoch) and waits for the answer.
fn send_admin(
    cluster: &Cluster,
    store_id: u64,
    region: &Region,
    admin: AdminRequest,
) -> CmdResponse {
    let peer = region
        .peers
        .iter()
        .find(|peer| peer.store_id == store_id)
        .cloned()
        .unwrap_or_else(|| {
            cluster.fail(&format!("region {} has no peer on {store_id}", region.id))
        });
    let mut request = RaftCmdRequest::new();
    request.mut_header().region_id = region.id;
    request.mut_header().peer = Some(peer).into();
    request.mut_header().region_epoch = Some(region.region_epoch().clone()).into();
    request.admin_request = Some(admin).into();
    cluster.send_request_to(store_id, request, WAIT)
}

/// Sends `admin` to the current leader of `region_id` until a leader
/// answers (NotLeader answers are retried); returns that answer.
fn admin_to_leader(cluster: &Cluster, region_id: u64, admin: AdminRequest) -> CmdResponse {
    let deadline = Instant::now() + WAIT;
    loop {
        let leader = cluster.wait_leader(region_id, WAIT);
        let region = cluster
            .region_statuses(region_id)
            .into_iter()
            .find(|(store_id, _)| *store_id == leader.store_id)
            .map(|(_, status)| status.region);
        if let Some(region) = region {
            let response = send_admin(cluster, leader.store_id, &region, admin.clone());
            let header = response.response.header();
            if !(header.error.is_some() && header.error().not_leader.is_some()) {
                return response;
            }
        }
        if Instant::now() > deadline {
            cluster.fail("no leader answered the admin command");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A peer of `region` on `store_id`, or a new one with a fresh id.
fn peer_of(region: &Region, store_id: u64) -> Option<Peer> {
    region
        .peers
        .iter()
        .find(|peer| peer.store_id == store_id)
        .cloned()
}

/// Every running store that holds a peer of the region agrees on the data.
fn assert_replicas_converge(cluster: &Cluster, region_id: u64) {
    cluster.must_replicas_converge(region_id, WAIT);
}

/// The store ids of `region`'s peers, sorted.
fn stores_of(region: &Region) -> Vec<u64> {
    let mut stores: Vec<u64> = region.peers.iter().map(|peer| peer.store_id).collect();
    stores.sort_unstable();
    stores
}

// ---------------------------------------------------------------------------
// TinyKV's scenarios.
// ---------------------------------------------------------------------------

/// Leadership can be moved to every store in turn, and writes keep working (thesis §3.10).
#[test]
fn transfer_leader() {
    let cluster = Cluster::new("lab3b::transfer_leader", 5, Config::for_tests());
    cluster.must_put(b"k", b"v0");
    for (round, store_id) in [2, 3, 4, 5, 1].into_iter().enumerate() {
        cluster.must_transfer_leader(FIRST_REGION_ID, store_id);
        cluster.must_put(b"k", &value(round, 0));
        cluster.must_get_equal(b"k", &value(round, 0));
    }
}

/// Peers removed and added one at a time: removed stores lose the data,
/// added stores get all of it (TinyKV TestBasicConfChange3B).
#[test]
fn basic_conf_change() {
    let cluster = Cluster::new("lab3b::basic_conf_change", 5, Config::for_tests());
    cluster.must_transfer_leader(FIRST_REGION_ID, 1);
    cluster.must_remove_peer(FIRST_REGION_ID, 5);
    cluster.must_remove_peer(FIRST_REGION_ID, 4);
    cluster.must_remove_peer(FIRST_REGION_ID, 3);
    cluster.must_remove_peer(FIRST_REGION_ID, 2);
    cluster.must_put(b"k1", b"v1");
    cluster.must_get_equal(b"k1", b"v1");
    for store_id in [2, 3, 4, 5] {
        wait_destroyed(&cluster, store_id, FIRST_REGION_ID);
        cluster.must_store_have(store_id, b"k1", None, WAIT);
    }

    cluster.must_add_peer(FIRST_REGION_ID, 2);
    cluster.must_add_peer(FIRST_REGION_ID, 3);
    cluster.must_add_peer(FIRST_REGION_ID, 4);
    cluster.must_put(b"k2", b"v2");
    for store_id in [1, 2, 3, 4] {
        cluster.must_store_have(store_id, b"k1", Some(b"v1"), WAIT);
        cluster.must_store_have(store_id, b"k2", Some(b"v2"), WAIT);
    }
    cluster.must_store_have(5, b"k1", None, WAIT);

    // Remove store 2's peer again (its data goes), add store 5's.
    cluster.must_add_peer(FIRST_REGION_ID, 5);
    cluster.must_remove_peer(FIRST_REGION_ID, 2);
    cluster.must_put(b"k2", b"v22");
    cluster.must_put(b"k3", b"v3");
    wait_destroyed(&cluster, 2, FIRST_REGION_ID);
    cluster.must_store_have(2, b"k1", None, WAIT);
    cluster.must_store_have(2, b"k2", None, WAIT);
    for store_id in [1, 3, 4, 5] {
        cluster.must_store_have(store_id, b"k2", Some(b"v22"), WAIT);
        cluster.must_store_have(store_id, b"k3", Some(b"v3"), WAIT);
    }

    // A store whose peer was removed can get a new one, with the data.
    cluster.must_add_peer(FIRST_REGION_ID, 2);
    cluster.must_store_have(2, b"k1", Some(b"v1"), WAIT);
    cluster.must_store_have(2, b"k2", Some(b"v22"), WAIT);
    cluster.must_store_have(2, b"k3", Some(b"v3"), WAIT);
    assert_replicas_converge(&cluster, FIRST_REGION_ID);
}

/// Removing the leader's peer works: leadership moves and the old leader's
/// store loses the region (TinyKV TestConfChangeRemoveLeader3B).
#[test]
fn conf_change_remove_leader() {
    let cluster = Cluster::new("lab3b::conf_change_remove_leader", 5, Config::for_tests());
    cluster.must_put(b"k0", b"v0");
    for store_id in [1, 2] {
        cluster.must_transfer_leader(FIRST_REGION_ID, store_id);
        cluster.must_remove_peer(FIRST_REGION_ID, store_id);
        let leader = cluster.wait_leader(FIRST_REGION_ID, WAIT);
        assert_ne!(leader.store_id, store_id, "the removed store cannot lead");
        cluster.must_put(format!("k{store_id}").as_bytes(), b"v");
        wait_destroyed(&cluster, store_id, FIRST_REGION_ID);
        cluster.must_store_have(store_id, b"k0", None, WAIT);
    }
    let region = cluster.region(FIRST_REGION_ID).expect("region 1 is known");
    assert_eq!(stores_of(&region), vec![3, 4, 5]);
    for store_id in [3, 4, 5] {
        cluster.must_store_have(store_id, b"k2", Some(b"v"), WAIT);
    }
}

/// A leader removing itself from a 2-peer region: the other peer ends up
/// alone and serving, the old leader's store loses the data (Raft paper §6).
#[test]
fn leader_removes_itself_from_two_peer_region() {
    let cluster = Cluster::new(
        "lab3b::leader_removes_itself_from_two_peer_region",
        3,
        Config::for_tests(),
    );
    cluster.must_remove_peer(FIRST_REGION_ID, 3);
    cluster.must_put(b"k", b"v");
    cluster.must_transfer_leader(FIRST_REGION_ID, 1);
    cluster.must_remove_peer(FIRST_REGION_ID, 1);
    let region = cluster.region(FIRST_REGION_ID).expect("region 1 is known");
    assert_eq!(stores_of(&region), vec![2]);
    cluster.must_put(b"k", b"v2");
    cluster.must_get_equal(b"k", b"v2");
    wait_destroyed(&cluster, 1, FIRST_REGION_ID);
    cluster.must_store_have(1, b"k", None, WAIT);
}

/// One split: two regions tile the key space, each key is served by its
/// region, and every store holds both (TinyKV TestOneSplit3B, by hand).
#[test]
fn one_split() {
    let cluster = Cluster::new("lab3b::one_split", 3, Config::for_tests());
    for i in 0..20 {
        cluster.must_put(&key(i), &value(0, i));
    }
    let (left, right) = cluster.must_split(&key(10));
    assert_eq!(left.start_key, b"".to_vec());
    assert_eq!(left.end_key, key(10));
    assert_eq!(right.start_key, key(10));
    assert_eq!(right.end_key, b"".to_vec());
    assert_eq!(left.region_epoch().version, 2);
    assert_eq!(right.region_epoch().version, 2);
    for i in 0..20 {
        cluster.must_put(&key(i), &value(1, i));
        cluster.must_get_equal(&key(i), &value(1, i));
    }
    for store_id in [1, 2, 3] {
        wait_until(&cluster, "every store has both regions", WAIT, || {
            [left.id, right.id].iter().all(|region_id| {
                cluster
                    .region_statuses(*region_id)
                    .iter()
                    .any(|(id, _)| *id == store_id)
            })
        });
    }
    assert_replicas_converge(&cluster, left.id);
    assert_replicas_converge(&cluster, right.id);
}

/// A region grown past `region_max_size` is split by split_check on its
/// own, and both halves keep serving (TinyKV TestOneSplit3B).
#[test]
fn split_check_splits_a_large_region() {
    let mut config = Config::for_tests();
    config.region_max_size = 1000;
    config.region_split_size = 600;
    config.region_split_check_diff = 100;
    config.split_region_check_tick_interval = Duration::from_millis(20);
    let cluster = Cluster::new("lab3b::split_check_splits_a_large_region", 3, config);
    // About 45 bytes per key: 100 keys are over four times the maximum.
    let big_value = |i: usize| format!("{i:040}").into_bytes();
    for i in 0..100 {
        cluster.must_put(&key(i), &big_value(i));
    }
    wait_until(&cluster, "region 1 splits", WAIT, || {
        cluster.regions().len() >= 2
    });
    let regions = cluster.regions();
    assert!(regions[0].start_key.is_empty(), "{regions:?}");
    for pair in regions.windows(2) {
        assert_eq!(
            pair[0].end_key, pair[1].start_key,
            "regions tile: {regions:?}"
        );
    }
    for i in 0..100 {
        cluster.must_get_equal(&key(i), &big_value(i));
    }
}

// ---------------------------------------------------------------------------
// One rule per test.
// ---------------------------------------------------------------------------

/// A destroyed peer leaves a Tombstone, an empty data range and no snapshot files.
#[test]
fn destroyed_peer_leaves_tombstone_no_data_no_files() {
    let mut config = Config::for_tests();
    config.raft_log_gc_count_limit = 10;
    let cluster = Cluster::new(
        "lab3b::destroyed_peer_leaves_tombstone_no_data_no_files",
        3,
        config,
    );
    for i in 0..5 {
        cluster.must_put(&key(i), &value(0, i));
    }
    // Make store 3 catch up by snapshot, so it has received snapshot files.
    cluster.must_remove_peer(FIRST_REGION_ID, 3);
    wait_destroyed(&cluster, 3, FIRST_REGION_ID);
    for i in 5..40 {
        cluster.must_put(&key(i), &value(0, i));
    }
    cluster.must_add_peer(FIRST_REGION_ID, 3);
    for i in 0..40 {
        cluster.must_store_have(3, &key(i), Some(&value(0, i)), WAIT);
    }
    cluster.must_remove_peer(FIRST_REGION_ID, 3);
    wait_destroyed(&cluster, 3, FIRST_REGION_ID);
    let state = cluster
        .region_state(3, FIRST_REGION_ID)
        .expect("a region state");
    assert_eq!(state.state(), PeerState::Tombstone);
    // Remove, add, remove: conf_ver 1 -> 4, and the tombstone records it.
    let current = cluster.region(FIRST_REGION_ID).expect("region 1");
    assert_eq!(
        state.region().region_epoch().conf_ver,
        current.region_epoch().conf_ver,
        "the tombstone keeps the newest epoch"
    );
    assert_eq!(current.region_epoch().conf_ver, 4);
    for i in 0..40 {
        cluster.must_store_have(3, &key(i), None, WAIT);
    }
    wait_until(
        &cluster,
        "store 3's snapshot files of region 1 are gone",
        WAIT,
        || {
            cluster
                .with_store(3, |store| store.snap_manager().list())
                .unwrap_or_default()
                .iter()
                .all(|(_, key, _)| key.region_id != FIRST_REGION_ID)
        },
    );
    let raft_state_left = cluster
        .with_store(3, |store| {
            store
                .engines()
                .raft
                .get_value_cf(storage::CF_DEFAULT, &keys::raft_state_key(FIRST_REGION_ID))
        })
        .and_then(|result| result.ok())
        .flatten();
    assert!(raft_state_left.is_none(), "the raft state was deleted");
}

/// A peer added to a store that holds a tombstone of an older incarnation
/// of the region is created and filled by a snapshot (Raft paper §6).
#[test]
fn add_peer_over_older_tombstone() {
    let cluster = Cluster::new(
        "lab3b::add_peer_over_older_tombstone",
        3,
        Config::for_tests(),
    );
    cluster.must_put(b"a", b"1");
    cluster.must_remove_peer(FIRST_REGION_ID, 2);
    wait_destroyed(&cluster, 2, FIRST_REGION_ID);
    cluster.must_put(b"b", b"2");
    let peer = cluster.must_add_peer(FIRST_REGION_ID, 2);
    assert_ne!(peer.id, 2, "a new incarnation has a new peer id");
    cluster.must_store_have(2, b"a", Some(b"1"), WAIT);
    cluster.must_store_have(2, b"b", Some(b"2"), WAIT);
    wait_until(
        &cluster,
        "store 2's region state is Normal again",
        WAIT,
        || {
            cluster
                .region_state(2, FIRST_REGION_ID)
                .is_some_and(|state| {
                    state.state() == PeerState::Normal
                        && state
                            .region()
                            .peers
                            .iter()
                            .any(|member| member.id == peer.id)
                })
        },
    );
    assert_replicas_converge(&cluster, FIRST_REGION_ID);
}

/// A removed peer cut off during its removal never learns of it from the
/// log; its messages to the others get it a tombstone, and it is destroyed.
#[test]
fn partitioned_removed_peer_is_destroyed_by_tombstone() {
    let cluster = Cluster::new(
        "lab3b::partitioned_removed_peer_is_destroyed_by_tombstone",
        3,
        Config::for_tests(),
    );
    cluster.must_put(b"a", b"1");
    cluster.must_transfer_leader(FIRST_REGION_ID, 1);
    cluster.isolate(3);
    cluster.must_remove_peer(FIRST_REGION_ID, 3);
    cluster.must_put(b"b", b"2");
    cluster.heal();
    wait_destroyed(&cluster, 3, FIRST_REGION_ID);
    cluster.must_store_have(3, b"a", None, WAIT);
    cluster.must_get_equal(b"b", b"2");
}

/// A message from a removed peer creates nothing on a store that holds the
/// region's tombstone, and does not disturb the remaining group.
#[test]
fn message_from_removed_peer_creates_nothing() {
    use proto::eraftpb::{Message, MessageType};
    use proto::raft_serverpb::RaftMessage;
    let cluster = Cluster::new(
        "lab3b::message_from_removed_peer_creates_nothing",
        3,
        Config::for_tests(),
    );
    cluster.must_put(b"a", b"1");
    let old_region = cluster.region(FIRST_REGION_ID).expect("region 1");
    cluster.must_remove_peer(FIRST_REGION_ID, 3);
    wait_destroyed(&cluster, 3, FIRST_REGION_ID);
    // Store 2's old peer (a member of the old configuration) sends a vote
    // request to store 3's old peer, which was destroyed.
    let mut message = RaftMessage::new();
    message.region_id = FIRST_REGION_ID;
    message.from_peer = peer_of(&old_region, 2).into();
    message.to_peer = peer_of(&old_region, 3).into();
    message.region_epoch = Some(old_region.region_epoch().clone()).into();
    let mut raft_message = Message::new();
    raft_message.set_msg_type(MessageType::MsgRequestVote);
    raft_message.term = 1000;
    raft_message.from = message.from_peer().id;
    raft_message.to = message.to_peer().id;
    message.message = Some(raft_message).into();
    cluster
        .with_store(3, |store| store.router().send_raft_message(message))
        .expect("store 3 runs")
        .expect("the router takes the message");
    // The store worker handles messages in order: once a later message for
    // a brand-new region was handled (creating that region's peer), the
    // stale one was too.
    let marker_region = 4242;
    let mut marker = RaftMessage::new();
    marker.region_id = marker_region;
    let mut from = Peer::new();
    from.id = 9001;
    from.store_id = 1;
    let mut to = Peer::new();
    to.id = 9002;
    to.store_id = 3;
    marker.from_peer = Some(from).into();
    marker.to_peer = Some(to).into();
    marker.region_epoch.mut_or_insert_default().conf_ver = 1;
    let mut heartbeat = Message::new();
    heartbeat.set_msg_type(MessageType::MsgHeartbeat);
    heartbeat.term = 1;
    marker.message = Some(heartbeat).into();
    cluster
        .with_store(3, |store| store.router().send_raft_message(marker))
        .expect("store 3 runs")
        .expect("the router takes the message");
    wait_until(&cluster, "store 3 handled the marker message", WAIT, || {
        cluster
            .with_store(3, |store| store.router().has_region(marker_region))
            .unwrap_or(false)
    });
    let recreated = cluster
        .with_store(3, |store| store.router().has_region(FIRST_REGION_ID))
        .unwrap_or(false);
    assert!(!recreated, "a stale message recreated the destroyed peer");
    let state = cluster
        .region_state(3, FIRST_REGION_ID)
        .expect("a region state");
    assert_eq!(state.state(), PeerState::Tombstone);
    cluster.must_put(b"b", b"2");
}

/// Ten successive splits give eleven regions that tile the key space with
/// no gap or overlap, as seen by every store.
#[test]
fn ten_splits_tile_the_key_space() {
    let cluster = Cluster::new(
        "lab3b::ten_splits_tile_the_key_space",
        3,
        Config::for_tests(),
    );
    for i in 0..110 {
        cluster.must_put(&key(i), &value(0, i));
    }
    for split in 1..=10 {
        cluster.must_split(&key(split * 10));
    }
    let regions = cluster.regions();
    assert_eq!(regions.len(), 11, "{regions:?}");
    assert!(regions[0].start_key.is_empty());
    assert!(regions[10].end_key.is_empty());
    for pair in regions.windows(2) {
        assert_eq!(
            pair[0].end_key, pair[1].start_key,
            "gap or overlap: {regions:?}"
        );
    }
    for store_id in [1, 2, 3] {
        wait_until(&cluster, "every store has all eleven regions", WAIT, || {
            let Some(mut mine) = cluster.with_store(store_id, |store| store.store_meta().all())
            else {
                return false;
            };
            mine.retain(|status| !status.region.peers.is_empty());
            mine.sort_by(|a, b| a.region.start_key.cmp(&b.region.start_key));
            mine.len() == 11
                && mine
                    .first()
                    .is_some_and(|status| status.region.start_key.is_empty())
                && mine
                    .last()
                    .is_some_and(|status| status.region.end_key.is_empty())
                && mine
                    .windows(2)
                    .all(|pair| pair[0].region.end_key == pair[1].region.start_key)
        });
    }
    for i in 0..110 {
        cluster.must_get_equal(&key(i), &value(0, i));
    }
}

/// A request with the region's old version, after a split, is refused
/// with EpochNotMatch carrying the current region; a key now outside the
/// region gets KeyNotInRegion.
#[test]
fn epoch_errors_carry_the_current_region() {
    let cluster = Cluster::new(
        "lab3b::epoch_errors_carry_the_current_region",
        3,
        Config::for_tests(),
    );
    cluster.must_put(b"a", b"1");
    let before = cluster.region(FIRST_REGION_ID).expect("region 1");
    let (left, right) = cluster.must_split(b"m");
    let leader = cluster.wait_leader(FIRST_REGION_ID, WAIT);
    // Old epoch: EpochNotMatch with the current region 1.
    let mut request = RaftCmdRequest::new();
    request.mut_header().region_id = FIRST_REGION_ID;
    request.mut_header().peer = Some(leader.clone()).into();
    request.mut_header().region_epoch = Some(before.region_epoch().clone()).into();
    request.requests.push(put_request(b"a", b"2"));
    let response = cluster.send_request_to(leader.store_id, request, WAIT);
    let error = cluster.region_error_of(&response);
    assert!(error.epoch_not_match.is_some(), "{error:?}");
    let current = &error.epoch_not_match().current_regions;
    assert!(
        current
            .iter()
            .any(|region| region.id == left.id && region.end_key == b"m".to_vec()),
        "the error carries the current region: {current:?}"
    );
    // Current epoch, key of the other half: KeyNotInRegion.
    let mut request = RaftCmdRequest::new();
    request.mut_header().region_id = FIRST_REGION_ID;
    request.mut_header().peer = Some(leader.clone()).into();
    request.mut_header().region_epoch = Some(left.region_epoch().clone()).into();
    request.requests.push(put_request(b"x", b"2"));
    let response = cluster.send_request_to(leader.store_id, request, WAIT);
    let error = cluster.region_error_of(&response);
    assert!(error.key_not_in_region.is_some(), "{error:?}");
    assert_eq!(error.key_not_in_region().region_id, left.id);
    assert_eq!(right.start_key, b"m".to_vec());
    cluster.must_get_equal(b"a", b"1");
}

// ---------------------------------------------------------------------------
// Bad input.
// ---------------------------------------------------------------------------

/// Adding a peer on a store that already has one is refused and changes nothing.
#[test]
fn bad_input_duplicate_add_is_refused() {
    let cluster = Cluster::new(
        "lab3b::bad_input_duplicate_add_is_refused",
        3,
        Config::for_tests(),
    );
    let before = cluster.region(FIRST_REGION_ID).expect("region 1");
    let mut duplicate = Peer::new();
    duplicate.id = cluster.alloc_id();
    duplicate.store_id = 2;
    let admin = Cluster::change_peer_request(ConfChangeType::AddNode, &duplicate);
    let response = admin_to_leader(&cluster, FIRST_REGION_ID, admin);
    let error = cluster.region_error_of(&response);
    assert!(error.message.contains("already has"), "{error:?}");
    let after = cluster.region(FIRST_REGION_ID).expect("region 1");
    assert_eq!(after, before, "the region did not change");
}

/// Removing a peer the region does not have is refused and changes nothing.
#[test]
fn bad_input_absent_removal_is_refused() {
    let cluster = Cluster::new(
        "lab3b::bad_input_absent_removal_is_refused",
        3,
        Config::for_tests(),
    );
    let before = cluster.region(FIRST_REGION_ID).expect("region 1");
    let mut absent = Peer::new();
    absent.id = 777;
    absent.store_id = 2;
    let admin = Cluster::change_peer_request(ConfChangeType::RemoveNode, &absent);
    let response = admin_to_leader(&cluster, FIRST_REGION_ID, admin);
    let error = cluster.region_error_of(&response);
    assert!(error.message.contains("has no peer"), "{error:?}");
    assert_eq!(cluster.region(FIRST_REGION_ID).expect("region 1"), before);
}

/// Removing the last peer of a region is refused: it would leave a group
/// that can never elect a leader again (Raft paper §6).
#[test]
fn bad_input_removing_last_voter_is_refused() {
    let cluster = Cluster::new(
        "lab3b::bad_input_removing_last_voter_is_refused",
        2,
        Config::for_tests(),
    );
    cluster.must_remove_peer(FIRST_REGION_ID, 2);
    let region = cluster.region(FIRST_REGION_ID).expect("region 1");
    let last = peer_of(&region, 1).expect("store 1's peer");
    let admin = Cluster::change_peer_request(ConfChangeType::RemoveNode, &last);
    let response = admin_to_leader(&cluster, FIRST_REGION_ID, admin);
    let error = cluster.region_error_of(&response);
    assert!(error.message.contains("last voter"), "{error:?}");
    cluster.must_put(b"still", b"serving");
}

/// A ChangePeer made against an older conf_ver is refused with EpochNotMatch and changes nothing.
#[test]
fn bad_input_stale_epoch_change_peer_is_refused() {
    let cluster = Cluster::new(
        "lab3b::bad_input_stale_epoch_change_peer_is_refused",
        4,
        Config::for_tests(),
    );
    let stale = cluster.region(FIRST_REGION_ID).expect("region 1");
    cluster.must_remove_peer(FIRST_REGION_ID, 4);
    let current = cluster.region(FIRST_REGION_ID).expect("region 1");
    let leader = cluster.wait_leader(FIRST_REGION_ID, WAIT);
    let target = peer_of(&stale, 3).expect("store 3's peer");
    let admin = Cluster::change_peer_request(ConfChangeType::RemoveNode, &target);
    let response = send_admin(&cluster, leader.store_id, &stale, admin);
    let error = cluster.region_error_of(&response);
    assert!(error.epoch_not_match.is_some(), "{error:?}");
    assert_eq!(cluster.region(FIRST_REGION_ID).expect("region 1"), current);
}

/// Split keys that are empty, at the region's start, or outside it are
/// refused with a typed error, and the region stays whole.
#[test]
fn bad_input_split_key_out_of_bounds_is_refused() {
    let cluster = Cluster::new(
        "lab3b::bad_input_split_key_out_of_bounds_is_refused",
        3,
        Config::for_tests(),
    );
    cluster.must_put(b"a", b"1");
    let (left, right) = cluster.must_split(b"m");
    for (region, bad_key) in [
        (&left, b"".as_slice()),
        (&left, b"m".as_slice()),
        (&left, b"z".as_slice()),
        (&right, b"m".as_slice()),
        (&right, b"a".as_slice()),
    ] {
        let admin = cluster.split_request(region, bad_key);
        let response = admin_to_leader(&cluster, region.id, admin);
        let error = cluster.region_error_of(&response);
        assert!(
            error.message.contains("invalid split"),
            "split of region {} at {bad_key:?}: {error:?}",
            region.id
        );
    }
    assert_eq!(cluster.regions().len(), 2, "{:?}", cluster.regions());
}

/// A Split made against a stale epoch is refused with EpochNotMatch.
#[test]
fn bad_input_stale_epoch_split_is_refused() {
    let cluster = Cluster::new(
        "lab3b::bad_input_stale_epoch_split_is_refused",
        3,
        Config::for_tests(),
    );
    cluster.must_put(b"a", b"1");
    let stale = cluster.region(FIRST_REGION_ID).expect("region 1");
    cluster.must_split(b"m");
    let leader = cluster.wait_leader(FIRST_REGION_ID, WAIT);
    let admin = cluster.split_request(&stale, b"f");
    let response = send_admin(&cluster, leader.store_id, &stale, admin);
    let error = cluster.region_error_of(&response);
    assert!(error.epoch_not_match.is_some(), "{error:?}");
    assert_eq!(cluster.regions().len(), 2);
}

/// A TransferLeader to a peer that is not a member is refused and leadership stays.
#[test]
fn bad_input_transfer_to_non_member_is_refused() {
    let cluster = Cluster::new(
        "lab3b::bad_input_transfer_to_non_member_is_refused",
        3,
        Config::for_tests(),
    );
    let leader = cluster.wait_leader(FIRST_REGION_ID, WAIT);
    let mut stranger = Peer::new();
    stranger.id = 555;
    stranger.store_id = 2;
    let mut admin = AdminRequest::new();
    admin.set_cmd_type(AdminCmdType::TransferLeader);
    admin.mut_transfer_leader().peer = Some(stranger).into();
    let response = admin_to_leader(&cluster, FIRST_REGION_ID, admin);
    let error = cluster.region_error_of(&response);
    assert!(error.message.contains("not a member"), "{error:?}");
    let _ = leader;
    cluster.must_put(b"k", b"v");
}

/// Requests mixing keys of two regions after a split are refused as a
/// whole: nothing of a refused command is written.
#[test]
fn command_spanning_two_regions_changes_nothing() {
    let cluster = Cluster::new(
        "lab3b::command_spanning_two_regions_changes_nothing",
        3,
        Config::for_tests(),
    );
    cluster.must_put(b"a", b"0");
    let (left, _) = cluster.must_split(b"m");
    let leader = cluster.wait_leader(left.id, WAIT);
    let mut request = RaftCmdRequest::new();
    request.mut_header().region_id = left.id;
    request.mut_header().peer = Some(leader.clone()).into();
    request.mut_header().region_epoch = Some(left.region_epoch().clone()).into();
    let requests: Vec<Request> = vec![put_request(b"a", b"1"), put_request(b"x", b"1")];
    request.requests = requests;
    let response = cluster.send_request_to(leader.store_id, request, WAIT);
    let error = cluster.region_error_of(&response);
    assert!(error.key_not_in_region.is_some(), "{error:?}");
    cluster.must_get_equal(b"a", b"0");
    cluster.must_get_none(b"x");
}

// ---------------------------------------------------------------------------
// TinyKV's generic 3B scenarios: the workload of lab 2B with peers moving
// (conf_change) and regions splitting (split), linearizability-checked.
// ---------------------------------------------------------------------------

/// Runs the generic workload with `options` and checks that what it was
/// about happened: regions split (`split`), peers moved (`conf_change`).
fn workload_3b(test_name: &str, options: WorkloadOptions) {
    let report = run_generic_workload(test_name, options.clone());
    if options.split {
        assert!(
            report.regions > 1,
            "[{test_name}] seed {}: no region was split",
            report.seed
        );
    }
    if options.conf_change {
        assert!(
            report.conf_changes > 0,
            "[{test_name}] seed {}: no membership change was applied",
            report.seed
        );
    }
    eprintln!(
        "[{test_name}] {} operations checked, {} regions, {} conf changes",
        report.operations, report.regions, report.conf_changes
    );
}

/// Peers move while one client writes and every store crashes each round (TinyKV TestConfChangeRecover3B).
#[test]
fn conf_change_recover() {
    workload_3b(
        "lab3b::conf_change_recover",
        WorkloadOptions {
            crash: true,
            conf_change: true,
            ..WorkloadOptions::default()
        },
    );
}

/// Peers move while five clients write and the stores crash (TinyKV TestConfChangeRecoverManyClients3B).
#[test]
fn conf_change_recover_many_clients() {
    workload_3b(
        "lab3b::conf_change_recover_many_clients",
        WorkloadOptions {
            clients: 5,
            crash: true,
            conf_change: true,
            ..WorkloadOptions::default()
        },
    );
}

/// Peers move over a lossy, reordering network (TinyKV TestConfChangeUnreliable3B).
#[test]
fn conf_change_unreliable() {
    workload_3b(
        "lab3b::conf_change_unreliable",
        WorkloadOptions {
            clients: 5,
            unreliable: true,
            conf_change: true,
            ..WorkloadOptions::default()
        },
    );
}

/// Peers move over a lossy network while the stores crash (TinyKV TestConfChangeUnreliableRecover3B).
#[test]
fn conf_change_unreliable_recover() {
    workload_3b(
        "lab3b::conf_change_unreliable_recover",
        WorkloadOptions {
            clients: 5,
            unreliable: true,
            crash: true,
            conf_change: true,
            ..WorkloadOptions::default()
        },
    );
}

/// Peers move, the log is compacted often (new peers need snapshots), lossy network, crashes (TinyKV TestConfChangeSnapshotUnreliableRecover3B).
#[test]
fn conf_change_snapshot_unreliable_recover() {
    workload_3b(
        "lab3b::conf_change_snapshot_unreliable_recover",
        WorkloadOptions {
            clients: 5,
            unreliable: true,
            crash: true,
            conf_change: true,
            max_raft_log: Some(100),
            ..WorkloadOptions::default()
        },
    );
}

/// As above, with the stores partitioned at random while peers move (TinyKV TestConfChangeSnapshotUnreliableRecoverConcurrentPartition3B).
#[test]
fn conf_change_snapshot_unreliable_recover_concurrent_partition() {
    workload_3b(
        "lab3b::conf_change_snapshot_unreliable_recover_concurrent_partition",
        WorkloadOptions {
            clients: 5,
            unreliable: true,
            crash: true,
            partitions: true,
            conf_change: true,
            max_raft_log: Some(100),
            ..WorkloadOptions::default()
        },
    );
}

/// Regions split as one client writes and every store crashes each round (TinyKV TestSplitRecover3B).
#[test]
fn split_recover() {
    workload_3b(
        "lab3b::split_recover",
        WorkloadOptions {
            crash: true,
            split: true,
            keys_per_client: 20,
            ..WorkloadOptions::default()
        },
    );
}

/// Regions split as five clients write and the stores crash (TinyKV TestSplitRecoverManyClients3B).
#[test]
fn split_recover_many_clients() {
    workload_3b(
        "lab3b::split_recover_many_clients",
        WorkloadOptions {
            clients: 5,
            crash: true,
            split: true,
            ..WorkloadOptions::default()
        },
    );
}

/// Regions split over a lossy, reordering network (TinyKV TestSplitUnreliable3B).
#[test]
fn split_unreliable() {
    workload_3b(
        "lab3b::split_unreliable",
        WorkloadOptions {
            clients: 5,
            unreliable: true,
            split: true,
            ..WorkloadOptions::default()
        },
    );
}

/// Regions split over a lossy network while the stores crash (TinyKV TestSplitUnreliableRecover3B).
#[test]
fn split_unreliable_recover() {
    workload_3b(
        "lab3b::split_unreliable_recover",
        WorkloadOptions {
            clients: 5,
            unreliable: true,
            crash: true,
            split: true,
            ..WorkloadOptions::default()
        },
    );
}

/// Splits and peer moves together, small log, lossy network, crashes (TinyKV TestSplitConfChangeSnapshotUnreliableRecover3B).
#[test]
fn split_conf_change_snapshot_unreliable_recover() {
    workload_3b(
        "lab3b::split_conf_change_snapshot_unreliable_recover",
        WorkloadOptions {
            clients: 5,
            unreliable: true,
            crash: true,
            conf_change: true,
            split: true,
            max_raft_log: Some(100),
            ..WorkloadOptions::default()
        },
    );
}

/// As above, with random partitions too (TinyKV TestSplitConfChangeSnapshotUnreliableRecoverConcurrentPartition3B).
#[test]
fn split_conf_change_snapshot_unreliable_recover_concurrent_partition() {
    workload_3b(
        "lab3b::split_conf_change_snapshot_unreliable_recover_concurrent_partition",
        WorkloadOptions {
            clients: 5,
            unreliable: true,
            crash: true,
            partitions: true,
            conf_change: true,
            split: true,
            max_raft_log: Some(100),
            ..WorkloadOptions::default()
        },
    );
}

/// The lab 1 handlers on a routed `RaftStorage` find each key's region
/// themselves after a split: a write with no region in its context lands
/// in the region holding its key; a read without a region is refused with
/// an error (it cannot be one view of two regions), not served wrongly.
#[test]
fn routed_raft_storage_finds_the_region_after_a_split() {
    use proto::kvrpcpb::{Context, RawGetRequest, RawPutRequest};
    let cluster = Cluster::new(
        "lab3b::routed_raft_storage_finds_the_region_after_a_split",
        3,
        Config::for_tests(),
    );
    cluster.must_put(b"a", b"0");
    let (left, right) = cluster.must_split(b"m");
    cluster.must_transfer_leader(left.id, 1);
    cluster.must_transfer_leader(right.id, 1);
    let (router, store_meta) = cluster
        .with_store(1, |store| {
            (store.router().clone(), store.store_meta().clone())
        })
        .expect("store 1 runs");
    let storage = server::RaftStorage::routed(router, store_meta, WAIT);
    let server = server::Server::new(std::sync::Arc::new(storage));
    for key in [b"a".as_slice(), b"x".as_slice()] {
        let mut put = RawPutRequest::new();
        put.context = Some(Context::new()).into();
        put.key = key.to_vec();
        put.value = b"routed".to_vec();
        put.cf = "default".to_string();
        // Store 1 may lose a leadership on a loaded machine (an election
        // timeout fires): the routed storage then answers NotLeader, as it
        // should, and a client would go to the new leader. Here store 1 is
        // made leader again and the put retried, until a deadline.
        let deadline = Instant::now() + WAIT;
        loop {
            let response = server.raw_put(&put);
            if response.region_error.is_none() && response.error.is_empty() {
                break;
            }
            let not_leader = response.region_error.has_not_leader();
            assert!(
                not_leader && Instant::now() < deadline,
                "put {key:?}: {response:?}"
            );
            let region = cluster
                .region_for_key(key)
                .unwrap_or_else(|| panic!("a region holds {key:?}"));
            cluster.must_transfer_leader(region.id, 1);
        }
        cluster.must_get_equal(key, b"routed");
        let mut get = RawGetRequest::new();
        get.context = Some(Context::new()).into();
        get.key = key.to_vec();
        get.cf = "default".to_string();
        let response = server.raw_get(&get);
        assert!(
            response.error.contains("needs its region"),
            "get {key:?}: {response:?}"
        );
    }
}

/// A peer removed before its snapshot arrived (still uninitialized, so it
/// never learns of its removal) is replaced when the region is given back
/// to its store with a newer peer, which then gets the data.
#[test]
fn stale_uninitialized_peer_is_replaced_by_a_newer_one() {
    use tinykv_tests::cluster::Filter;
    let cluster = Cluster::new(
        "lab3b::stale_uninitialized_peer_is_replaced_by_a_newer_one",
        4,
        Config::for_tests(),
    );
    cluster.must_put(b"k", b"v");
    cluster.must_remove_peer(FIRST_REGION_ID, 4);
    wait_destroyed(&cluster, 4, FIRST_REGION_ID);
    // Store 4 gets an uninitialized peer, but never its snapshot.
    cluster.network().add_filter(Filter::DropSnapshots);
    let first = cluster.must_add_peer(FIRST_REGION_ID, 4);
    wait_until(
        &cluster,
        "store 4 creates the uninitialized peer",
        WAIT,
        || {
            cluster
                .with_store(4, |store| store.router().has_region(FIRST_REGION_ID))
                .unwrap_or(false)
        },
    );
    cluster.must_remove_peer(FIRST_REGION_ID, 4);
    cluster
        .network()
        .remove_filters(|filter| matches!(filter, Filter::DropSnapshots));
    let second = cluster.must_add_peer(FIRST_REGION_ID, 4);
    assert!(second.id > first.id, "{second:?} is newer than {first:?}");
    cluster.must_store_have(4, b"k", Some(b"v"), WAIT);
    assert_replicas_converge(&cluster, FIRST_REGION_ID);
}
