//! Lab 3C, the store's side of the scheduler: leaders send region
//! heartbeats, stores send store heartbeats (the `scheduler_task` worker),
//! and an operator step in a heartbeat's answer is executed as an admin
//! command. The scheduler itself (metadata, operators, balancing) is tested
//! in the `scheduler` crate; here the cluster's `ClusterSchedulerClient`
//! plays it and hands out the steps a test queues.

use std::time::Duration;

use proto::eraftpb::ConfChangeType;
use proto::schedulerpb::RegionHeartbeatResponse;
use raftstore::Config;
use tinykv_tests::cluster::{Cluster, FIRST_REGION_ID};
use tinykv_tests::scenarios::wait_until;

/// How long the cluster may take to reach a state a test waits for.
const WAIT: Duration = Duration::from_secs(20);

/// Leaders send region heartbeats and every store sends store heartbeats on their ticks.
#[test]
fn stores_send_region_and_store_heartbeats() {
    let cluster = Cluster::new(
        "lab3c::stores_send_region_and_store_heartbeats",
        3,
        Config::for_tests(),
    );
    let client = cluster.scheduler_client();
    let (regions_before, stores_before) = (client.region_heartbeats(), client.store_heartbeats());
    wait_until(&cluster, "region heartbeats arrive", WAIT, || {
        client.region_heartbeats() > regions_before + 2
    });
    wait_until(&cluster, "store heartbeats arrive", WAIT, || {
        client.store_heartbeats() > stores_before + 2
    });
}

/// A TransferLeader step in a heartbeat's answer moves the region's leadership.
#[test]
fn transfer_leader_step_is_executed() {
    let cluster = Cluster::new(
        "lab3c::transfer_leader_step_is_executed",
        3,
        Config::for_tests(),
    );
    cluster.must_put(b"k", b"v");
    let leader = cluster.wait_leader(FIRST_REGION_ID, WAIT);
    let region = cluster.region(FIRST_REGION_ID).expect("region 1");
    let target = region
        .peers
        .iter()
        .find(|peer| peer.store_id != leader.store_id)
        .cloned()
        .expect("a follower");
    let mut step = RegionHeartbeatResponse::new();
    step.region_id = FIRST_REGION_ID;
    step.mut_transfer_leader().peer = Some(target.clone()).into();
    cluster.scheduler_client().queue_step(FIRST_REGION_ID, step);
    wait_until(
        &cluster,
        "leadership moves to the step's target",
        WAIT,
        || cluster.leader_of(FIRST_REGION_ID).map(|peer| peer.store_id) == Some(target.store_id),
    );
    assert!(!cluster.scheduler_client().has_queued_step(FIRST_REGION_ID));
    cluster.must_put(b"k", b"v2");
}

/// ChangePeer steps in heartbeat answers remove a peer (its store loses the data) and add one back (it gets the data).
#[test]
fn change_peer_steps_are_executed() {
    let cluster = Cluster::new(
        "lab3c::change_peer_steps_are_executed",
        4,
        Config::for_tests(),
    );
    cluster.must_put(b"k", b"v");
    cluster.must_transfer_leader(FIRST_REGION_ID, 1);
    let region = cluster.region(FIRST_REGION_ID).expect("region 1");
    let on_four = region
        .peers
        .iter()
        .find(|peer| peer.store_id == 4)
        .cloned()
        .expect("store 4 has a peer");
    let mut remove = RegionHeartbeatResponse::new();
    remove.region_id = FIRST_REGION_ID;
    remove.mut_change_peer().peer = Some(on_four).into();
    remove
        .mut_change_peer()
        .set_change_type(ConfChangeType::RemoveNode);
    cluster
        .scheduler_client()
        .queue_step(FIRST_REGION_ID, remove);
    wait_until(&cluster, "store 4 leaves region 1", WAIT, || {
        !cluster.region_has_peer_on(FIRST_REGION_ID, 4)
    });
    cluster.must_store_have(4, b"k", None, WAIT);

    let mut peer = proto::metapb::Peer::new();
    peer.id = cluster.ids().alloc_id();
    peer.store_id = 4;
    let mut add = RegionHeartbeatResponse::new();
    add.region_id = FIRST_REGION_ID;
    add.mut_change_peer().peer = Some(peer).into();
    add.mut_change_peer()
        .set_change_type(ConfChangeType::AddNode);
    cluster.scheduler_client().queue_step(FIRST_REGION_ID, add);
    wait_until(&cluster, "store 4 rejoins region 1", WAIT, || {
        cluster.region_has_peer_on(FIRST_REGION_ID, 4)
    });
    cluster.must_store_have(4, b"k", Some(b"v"), WAIT);
}
