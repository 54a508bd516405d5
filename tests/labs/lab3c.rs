//! Lab 3C on the test cluster: the stores and the real scheduler together.
//!
//! The scheduler's own rules (heartbeat processing, operators, the
//! balancers, persistence) are graded by `scheduler/tests/scheduler_labs`
//! (paths `lab3c::heartbeat::*`, `lab3c::operators::*`, ...). Here:
//! * the loop works: leaders' region heartbeats and stores' store
//!   heartbeats reach the scheduler, it learns leaders and splits, and an
//!   operator's steps come back in heartbeat answers and are executed;
//! * the schedule tick repairs: a region short of replicas gets them, and a
//!   store down past `max_store_down_time` has its replicas rebuilt
//!   elsewhere while a linearizability-checked workload runs;
//! * balancing works end to end: 5 stores, 10 000 keys split into dozens of
//!   regions, region counts end within ±20% of the mean, every store leads.

use std::collections::BTreeMap;
use std::time::Duration;

use proto::metapb::Peer;
use raftstore::Config;
use scheduler::{OperatorKind, OperatorStep, SchedulerOptions, SchedulerService};
use tinykv_tests::cluster::{Cluster, ClusterOptions, KvPair, FIRST_REGION_ID};
use tinykv_tests::scenarios::wait_until;
use tinykv_tests::workload::{run_workload_on, WorkloadOptions};

/// How long the cluster may take to reach a state a test waits for.
const WAIT: Duration = Duration::from_secs(20);
/// How often the tests' schedule tick runs.
const SCHEDULE_INTERVAL: Duration = Duration::from_millis(100);

/// `count` keys of `value_len`-byte values, in key order.
fn keys_and_values(count: usize, value_len: usize) -> Vec<KvPair> {
    (0..count)
        .map(|i| {
            let key = format!("key{i:06}").into_bytes();
            let mut value = format!("value{i}-").into_bytes();
            value.resize(value_len, b'.');
            (key, value)
        })
        .collect()
}

/// A raftstore config whose regions split at about `split_size` bytes.
fn splitting_config(split_size: u64) -> Config {
    let mut config = Config::for_tests();
    config.region_max_size = split_size * 3 / 2;
    config.region_split_size = split_size;
    config.region_split_check_diff = split_size / 4;
    config
}

/// How many regions (by the stores' newest views) have a peer on each store.
fn region_counts(cluster: &Cluster) -> BTreeMap<u64, usize> {
    let mut counts: BTreeMap<u64, usize> =
        cluster.store_ids().into_iter().map(|id| (id, 0)).collect();
    for region in cluster.regions() {
        for peer in &region.peers {
            *counts.entry(peer.store_id).or_default() += 1;
        }
    }
    counts
}

/// How many regions each store leads (by the stores' own views).
fn leader_counts(cluster: &Cluster) -> BTreeMap<u64, usize> {
    let mut counts: BTreeMap<u64, usize> =
        cluster.store_ids().into_iter().map(|id| (id, 0)).collect();
    for region in cluster.regions() {
        if let Some(leader) = cluster.leader_of(region.id) {
            *counts.entry(leader.store_id).or_default() += 1;
        }
    }
    counts
}

/// True when every count is within ±`percent`% of their mean.
fn within_percent_of_mean(counts: &BTreeMap<u64, usize>, percent: f64) -> bool {
    let mean = counts.values().sum::<usize>() as f64 / counts.len().max(1) as f64;
    counts
        .values()
        .all(|&count| (count as f64 - mean).abs() <= mean * percent / 100.0)
}

/// True when the scheduler's view of every region the stores know matches
/// theirs: same range, same epoch.
fn scheduler_matches_stores(cluster: &Cluster) -> bool {
    cluster.regions().iter().all(|region| {
        cluster
            .scheduler()
            .get_region_by_id(region.id)
            .is_some_and(|(known, _)| {
                known.start_key == region.start_key
                    && known.end_key == region.end_key
                    && known.region_epoch() == region.region_epoch()
            })
    })
}

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

/// The scheduler learns a region's leader from its heartbeats, also after leadership moves.
#[test]
fn scheduler_learns_leader_from_heartbeats() {
    let cluster = Cluster::new(
        "lab3c::scheduler_learns_leader_from_heartbeats",
        3,
        Config::for_tests(),
    );
    cluster.must_put(b"k", b"v");
    for target in [2, 3, 1] {
        cluster.must_transfer_leader(FIRST_REGION_ID, target);
        wait_until(
            &cluster,
            &format!("the scheduler sees store {target} lead region 1"),
            WAIT,
            || {
                cluster
                    .scheduler()
                    .get_region_by_id(FIRST_REGION_ID)
                    .and_then(|(_, leader)| leader)
                    .is_some_and(|leader| leader.store_id == target)
            },
        );
    }
}

/// Store heartbeats carry the disk's capacity and free space and the store's region count.
#[test]
fn store_heartbeats_report_disk_and_regions() {
    let cluster = Cluster::new(
        "lab3c::store_heartbeats_report_disk_and_regions",
        3,
        Config::for_tests(),
    );
    for store_id in 1..=3 {
        wait_until(
            &cluster,
            &format!("store {store_id} reports its disk and its region"),
            WAIT,
            || {
                cluster.scheduler().get_store(store_id).is_ok_and(|store| {
                    store.capacity() > 0
                        && store.available() > 0
                        && store.available() <= store.capacity()
                        && store.stats.region_count == 1
                })
            },
        );
    }
}

/// Splits reach the scheduler through the new regions' heartbeats: its key-range map matches the stores'.
#[test]
fn scheduler_learns_splits_from_heartbeats() {
    let cluster = Cluster::new(
        "lab3c::scheduler_learns_splits_from_heartbeats",
        3,
        Config::for_tests(),
    );
    cluster.must_put(b"a", b"1");
    for split_key in [b"c", b"e", b"g"] {
        cluster.must_split(split_key);
    }
    assert_eq!(cluster.regions().len(), 4);
    wait_until(
        &cluster,
        "the scheduler knows every region as the stores do",
        WAIT,
        || scheduler_matches_stores(&cluster),
    );
    for key in [&b"a"[..], b"c", b"d", b"f", b"zzz"] {
        let by_store = cluster.region_for_key(key).expect("a region for the key");
        let (by_scheduler, _) = cluster
            .scheduler()
            .get_region(key)
            .expect("the scheduler has a region for the key");
        assert_eq!(by_scheduler.id, by_store.id, "key {key:?}");
    }
}

/// Regions split by size get their ids from the scheduler's allocator (`ask_split`), never reused.
#[test]
fn size_splits_use_scheduler_ids() {
    let mut options = ClusterOptions::new(3, splitting_config(8 << 10));
    options.config.split_region_check_tick_interval = Duration::from_millis(50);
    let cluster = Cluster::build("lab3c::size_splits_use_scheduler_ids", options);
    cluster.must_put_many(&keys_and_values(600, 100));
    wait_until(&cluster, "the data is split into 4 regions", WAIT, || {
        cluster.regions().len() >= 4
    });
    let next_id = cluster.alloc_id();
    let mut ids: Vec<u64> = Vec::new();
    for region in cluster.regions() {
        // The bootstrap's region 1 and peer 1 share the number by the test
        // cluster's convention; every allocated id is unique.
        if region.id != FIRST_REGION_ID {
            ids.push(region.id);
        }
        ids.extend(region.peers.iter().map(|peer| peer.id));
        if region.id != FIRST_REGION_ID {
            assert!(
                region.id < next_id,
                "region {} not from the allocator (next id {next_id})",
                region.id
            );
        }
    }
    let distinct: std::collections::HashSet<u64> = ids.iter().copied().collect();
    assert_eq!(distinct.len(), ids.len(), "an id is used twice: {ids:?}");
    wait_until(&cluster, "the scheduler knows every split", WAIT, || {
        scheduler_matches_stores(&cluster)
    });
}

/// A TransferLeader operator's step goes out with a heartbeat and moves leadership; the operator then finishes.
#[test]
fn transfer_leader_operator_is_executed() {
    let cluster = Cluster::new(
        "lab3c::transfer_leader_operator_is_executed",
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
    wait_until(&cluster, "the scheduler knows the leader", WAIT, || {
        cluster
            .scheduler()
            .get_region_by_id(FIRST_REGION_ID)
            .is_some_and(|(_, leader)| leader.is_some())
    });
    cluster
        .scheduler()
        .create_operator(
            FIRST_REGION_ID,
            OperatorKind::TransferLeader,
            vec![OperatorStep::TransferLeader {
                peer: target.clone(),
            }],
        )
        .expect("create the operator");
    wait_until(
        &cluster,
        "leadership moves to the operator's target",
        WAIT,
        || cluster.leader_of(FIRST_REGION_ID).map(|peer| peer.store_id) == Some(target.store_id),
    );
    wait_until(&cluster, "the operator finishes", WAIT, || {
        cluster.scheduler().operator(FIRST_REGION_ID).is_none()
    });
    cluster.must_put(b"k", b"v2");
}

/// A move-region operator (add a peer on store 4, then remove store 3's) is executed step by step.
#[test]
fn move_region_operator_is_executed() {
    let mut options = ClusterOptions::new(4, Config::for_tests());
    options.first_region_stores = Some(3);
    let cluster = Cluster::build("lab3c::move_region_operator_is_executed", options);
    cluster.must_put(b"k", b"v");
    cluster.must_transfer_leader(FIRST_REGION_ID, 1);
    let region = cluster.region(FIRST_REGION_ID).expect("region 1");
    let on_three = region
        .peers
        .iter()
        .find(|peer| peer.store_id == 3)
        .cloned()
        .expect("store 3 has a peer");
    let mut new_peer = Peer::new();
    new_peer.id = cluster.alloc_id();
    new_peer.store_id = 4;
    wait_until(&cluster, "the scheduler knows the leader", WAIT, || {
        cluster
            .scheduler()
            .get_region_by_id(FIRST_REGION_ID)
            .is_some_and(|(_, leader)| leader.is_some())
    });
    cluster
        .scheduler()
        .create_operator(
            FIRST_REGION_ID,
            OperatorKind::MoveRegion,
            vec![
                OperatorStep::AddPeer { peer: new_peer },
                OperatorStep::RemovePeer { peer: on_three },
            ],
        )
        .expect("create the operator");
    wait_until(&cluster, "the region moves from store 3 to 4", WAIT, || {
        cluster.region_has_peer_on(FIRST_REGION_ID, 4)
            && !cluster.region_has_peer_on(FIRST_REGION_ID, 3)
    });
    cluster.must_store_have(4, b"k", Some(b"v"), WAIT);
    cluster.must_store_have(3, b"k", None, WAIT);
    wait_until(&cluster, "the operator finishes", WAIT, || {
        cluster.scheduler().operator(FIRST_REGION_ID).is_none()
    });
}

/// The replica checker brings a region bootstrapped on one store up to 3 replicas, each with the data.
#[test]
fn replica_checker_adds_missing_replicas() {
    let mut options = ClusterOptions::new(3, Config::for_tests());
    options.first_region_stores = Some(1);
    options.schedule_interval = Some(SCHEDULE_INTERVAL);
    let cluster = Cluster::build("lab3c::replica_checker_adds_missing_replicas", options);
    cluster.must_put(b"k", b"v");
    wait_until(&cluster, "region 1 has a peer on every store", WAIT, || {
        (1..=3).all(|store| cluster.region_has_peer_on(FIRST_REGION_ID, store))
    });
    for store in 1..=3 {
        cluster.must_store_have(store, b"k", Some(b"v"), WAIT);
    }
}

/// A store down past max_store_down_time has its replicas rebuilt elsewhere; a checked workload loses no acknowledged write.
#[test]
fn down_store_replicas_rebuilt() {
    let mut options = ClusterOptions::new(4, Config::for_tests());
    options.first_region_stores = Some(3);
    options.schedule_interval = Some(SCHEDULE_INTERVAL);
    options.scheduler = SchedulerOptions {
        max_store_down_time: Duration::from_secs(2),
        enable_balance_leader: false,
        enable_balance_region: false,
        ..SchedulerOptions::default()
    };
    let cluster = Cluster::build("lab3c::down_store_replicas_rebuilt", options);
    let workload = WorkloadOptions {
        stores: 4,
        clients: 3,
        rounds: 1,
        round_duration: Duration::from_secs(1),
        ..WorkloadOptions::default()
    };
    let drill = |cluster: &Cluster, _round: usize| {
        // The leader's store: its region must elect a new leader too.
        let victim = cluster.wait_leader(FIRST_REGION_ID, WAIT).store_id;
        cluster.stop_store(victim);
        wait_until(
            cluster,
            &format!("region 1's replica on stopped store {victim} is replaced on store 4"),
            WAIT,
            || {
                cluster.region(FIRST_REGION_ID).is_some_and(|region| {
                    region.peers.len() == 3
                        && region.peers.iter().all(|peer| peer.store_id != victim)
                })
            },
        );
        cluster.must_replicas_converge(FIRST_REGION_ID, WAIT);
    };
    let report = run_workload_on(
        &cluster,
        "lab3c::down_store_replicas_rebuilt",
        &workload,
        Some(&drill),
    );
    assert!(report.operations > 0);
    assert!(cluster.region_has_peer_on(FIRST_REGION_ID, 4));
}

/// With balancing on, 10 000 keys split into ≥ 20 regions end with every store's region count within ±20% of the mean, and every store leading.
#[test]
fn balance_evens_region_and_leader_counts() {
    let mut options = ClusterOptions::new(5, splitting_config(24 << 10));
    options.config.split_region_check_tick_interval = Duration::from_millis(50);
    options.first_region_stores = Some(3);
    options.schedule_interval = Some(SCHEDULE_INTERVAL);
    options.scheduler = SchedulerOptions {
        enable_balance_leader: true,
        enable_balance_region: true,
        ..SchedulerOptions::default()
    };
    let cluster = Cluster::build("lab3c::balance_evens_region_and_leader_counts", options);
    let pairs = keys_and_values(10_000, 100);
    cluster.must_put_many(&pairs);
    wait_until(&cluster, "the data is split into 20 regions", WAIT, || {
        cluster.regions().len() >= 20
    });
    wait_until(
        &cluster,
        "every store's region count is within ±20% of the mean",
        WAIT,
        || within_percent_of_mean(&region_counts(&cluster), 20.0),
    );
    wait_until(&cluster, "every store leads a region", WAIT, || {
        leader_counts(&cluster).values().all(|&count| count > 0)
    });
    eprintln!(
        "regions {}; per store {:?}; leaders {:?}",
        cluster.regions().len(),
        region_counts(&cluster),
        leader_counts(&cluster)
    );
    // Nothing was lost on the way: a sample of keys reads back.
    for (key, value) in pairs.iter().step_by(997) {
        cluster.must_get_equal(key, value);
    }
}

/// Balance-leader alone spreads leadership: with a peer of every region on every store, each store ends up leading one.
#[test]
fn balance_leader_gives_every_store_a_leader() {
    let mut options = ClusterOptions::new(4, splitting_config(8 << 10));
    options.config.split_region_check_tick_interval = Duration::from_millis(50);
    options.schedule_interval = Some(SCHEDULE_INTERVAL);
    options.scheduler = SchedulerOptions {
        max_peer_count: 4,
        enable_balance_leader: true,
        enable_balance_region: false,
        ..SchedulerOptions::default()
    };
    let cluster = Cluster::build("lab3c::balance_leader_gives_every_store_a_leader", options);
    cluster.must_put_many(&keys_and_values(1_000, 100));
    wait_until(&cluster, "the data is split into 8 regions", WAIT, || {
        cluster.regions().len() >= 8
    });
    wait_until(&cluster, "every store leads a region", WAIT, || {
        leader_counts(&cluster).values().all(|&count| count > 0)
    });
}

/// With balancing switched off the schedule tick creates no operator on a healthy cluster; switched on, it moves regions to the empty store.
#[test]
fn balance_switch_controls_moves() {
    let mut options = ClusterOptions::new(4, splitting_config(8 << 10));
    options.config.split_region_check_tick_interval = Duration::from_millis(50);
    options.first_region_stores = Some(3);
    let cluster = Cluster::build("lab3c::balance_switch_controls_moves", options);
    cluster.must_put_many(&keys_and_values(1_000, 100));
    wait_until(&cluster, "the data is split into 6 regions", WAIT, || {
        cluster.regions().len() >= 6
    });
    // Sizes and leaders come with heartbeats: wait until every region has them.
    wait_until(
        &cluster,
        "the scheduler knows every region with a leader and a size",
        WAIT,
        || {
            scheduler_matches_stores(&cluster)
                && cluster.store_ids().into_iter().all(|store_id| {
                    cluster
                        .scheduler()
                        .get_store(store_id)
                        .is_ok_and(|store| store.last_heartbeat_ms.is_some())
                })
                && cluster.regions().iter().all(|region| {
                    cluster
                        .scheduler()
                        .get_region_by_id(region.id)
                        .is_some_and(|(_, leader)| leader.is_some())
                })
        },
    );
    let scheduler = cluster.scheduler();
    scheduler.set_balance(false, false);
    assert_eq!(scheduler.schedule().expect("schedule"), 0);
    assert_eq!(region_counts(&cluster)[&4], 0);
    scheduler.set_balance(false, true);
    cluster.start_schedule_tick(SCHEDULE_INTERVAL);
    wait_until(&cluster, "store 4 receives regions", WAIT, || {
        region_counts(&cluster)[&4] >= 2
    });
}
