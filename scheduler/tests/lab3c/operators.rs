//! Tests of operators and the schedulers (TinyKV lab 3C, in spirit): the
//! operator lifecycle through region heartbeats, the replica checker,
//! balance-leader and balance-region. Clusters are built through the
//! public API; the "stores" are simulated by applying each heartbeat
//! response's step to the region and reporting it back. Time is a manual
//! clock: no sleeps.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use proto::eraftpb::ConfChangeType;
use proto::metapb::{Peer, Region, StoreState};
use proto::schedulerpb::{RegionHeartbeatRequest, RegionHeartbeatResponse, StoreStats};
use scheduler::{
    BalanceRegion, Clock, ClusterMeta, Error, IdAllocator, MetaStorage, Operator,
    OperatorController, OperatorKind, OperatorStep, RegionInfo, ScheduleContext, ScheduleLimits,
    Scheduler, SchedulerOptions, SchedulerService,
};
use tempfile::TempDir;

use super::common::{peer, store};

const START_MS: u64 = 1_000_000;

/// A clock the test moves by hand.
#[derive(Debug)]
struct ManualClock(AtomicU64);

impl ManualClock {
    fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Region `id` of `count`, with the `id`-th of `count` adjacent key ranges.
fn region(id: u64, count: u64, version: u64, conf_ver: u64, peers: &[(u64, u64)]) -> Region {
    let mut region = Region::new();
    region.id = id;
    region.start_key = if id == 1 {
        Vec::new()
    } else {
        format!("r{id:03}").into_bytes()
    };
    region.end_key = if id == count {
        Vec::new()
    } else {
        format!("r{:03}", id + 1).into_bytes()
    };
    region.mut_region_epoch().version = version;
    region.mut_region_epoch().conf_ver = conf_ver;
    region.peers = peers
        .iter()
        .map(|(id, store_id)| peer(*id, *store_id))
        .collect();
    region
}

/// What a simulated leader reports about its region.
#[derive(Debug, Clone)]
struct SimRegion {
    region: Region,
    leader_store: u64,
    pending_stores: Vec<u64>,
    size: u64,
}

/// A scheduler with stores 1..=n, all heard from, and simulated regions.
struct TestCluster {
    _dir: TempDir,
    scheduler: Scheduler,
    clock: Arc<ManualClock>,
    store_count: u64,
    regions: BTreeMap<u64, SimRegion>,
}

impl TestCluster {
    /// Bootstraps store 1 with region 1 (one peer, 101, on store 1), puts
    /// stores 2..=`store_count` and heartbeats them all. Balancing is off
    /// unless `configure` turns it on.
    fn new(store_count: u64, configure: impl FnOnce(&mut SchedulerOptions)) -> TestCluster {
        let dir = tempfile::tempdir().expect("create a temp dir");
        let clock = Arc::new(ManualClock(AtomicU64::new(START_MS)));
        let mut options = SchedulerOptions {
            clock: Arc::clone(&clock) as Arc<dyn Clock>,
            enable_balance_leader: false,
            enable_balance_region: false,
            ..SchedulerOptions::default()
        };
        configure(&mut options);
        let scheduler = Scheduler::open_with(dir.path(), options).expect("open scheduler");
        scheduler
            .bootstrap(store(1), region(1, 1, 1, 1, &[(101, 1)]))
            .expect("bootstrap");
        for store_id in 2..=store_count {
            scheduler.put_store(store(store_id)).expect("put store");
        }
        // The fixture picks peer ids by hand (region × 100 + store, all
        // below 1000): move the allocator past them, so a peer the replica
        // checker adds never reuses one.
        while scheduler.alloc_id().expect("alloc id") < 1000 {}
        let cluster = TestCluster {
            _dir: dir,
            scheduler,
            clock,
            store_count,
            regions: BTreeMap::new(),
        };
        cluster.heartbeat_stores(&[]);
        cluster
    }

    /// Store heartbeats from every store except `silent` and tombstones.
    fn heartbeat_stores(&self, silent: &[u64]) {
        for store_id in 1..=self.store_count {
            let tombstone = self
                .scheduler
                .get_store(store_id)
                .expect("store")
                .is_tombstone();
            if silent.contains(&store_id) || tombstone {
                continue;
            }
            let mut stats = StoreStats::new();
            stats.store_id = store_id;
            self.scheduler
                .store_heartbeat(stats)
                .expect("store heartbeat");
        }
    }

    /// Sets region `id` (of `count` covering the key space) at epoch (2, 1)
    /// and reports it; returns the response.
    fn put_region(
        &mut self,
        id: u64,
        count: u64,
        peers: &[(u64, u64)],
        leader_store: u64,
        size: u64,
    ) -> Option<RegionHeartbeatResponse> {
        let sim = SimRegion {
            region: region(id, count, 2, 1, peers),
            leader_store,
            pending_stores: Vec::new(),
            size,
        };
        self.regions.insert(id, sim);
        self.heartbeat(id)
    }

    /// Reports region `id` as simulated; returns the step the scheduler sends.
    fn heartbeat(&self, id: u64) -> Option<RegionHeartbeatResponse> {
        let sim = &self.regions[&id];
        let mut request = RegionHeartbeatRequest::new();
        request.region = Some(sim.region.clone()).into();
        let store_peer = |store_id: u64| {
            sim.region
                .peers
                .iter()
                .find(|peer| peer.store_id == store_id)
                .cloned()
        };
        request.leader = store_peer(sim.leader_store).into();
        request.pending_peers = sim
            .pending_stores
            .iter()
            .filter_map(|s| store_peer(*s))
            .collect();
        request.approximate_size = sim.size;
        self.scheduler
            .region_heartbeat(request)
            .expect("region heartbeat")
    }

    /// Applies a step as the region's leader would.
    fn apply(&mut self, response: &RegionHeartbeatResponse) {
        let sim = self
            .regions
            .get_mut(&response.region_id)
            .expect("known region");
        if let Some(change) = response.change_peer.as_ref() {
            let peer = change.peer.clone().unwrap_or_default();
            match change.change_type.enum_value_or_default() {
                ConfChangeType::AddNode => sim.region.peers.push(peer),
                ConfChangeType::RemoveNode => sim.region.peers.retain(|p| p.id != peer.id),
            }
            sim.region.mut_region_epoch().conf_ver += 1;
        }
        if let Some(transfer) = response.transfer_leader.as_ref() {
            sim.leader_store = transfer.peer.store_id;
        }
    }

    /// Ticks and carries out every step until a tick adds nothing and no
    /// operator is left; returns how many operators ran.
    fn run_until_quiet(&mut self) -> usize {
        let mut total = 0;
        for _ in 0..50 {
            let added = self.scheduler.schedule().expect("schedule");
            total += added;
            let ids: Vec<u64> = self.regions.keys().copied().collect();
            for id in &ids {
                for _ in 0..5 {
                    let Some(response) = self.heartbeat(*id) else {
                        break;
                    };
                    self.apply(&response);
                }
            }
            let idle = ids.iter().all(|id| self.scheduler.operator(*id).is_none());
            if added == 0 && idle {
                return total;
            }
        }
        panic!("the cluster never settled: {:?}", self.regions);
    }

    fn stores_of(&self, id: u64) -> Vec<u64> {
        let mut stores: Vec<u64> = self.regions[&id]
            .region
            .peers
            .iter()
            .map(|p| p.store_id)
            .collect();
        stores.sort_unstable();
        stores
    }

    fn leader_counts(&self) -> Vec<u64> {
        (1..=self.store_count)
            .map(|id| self.scheduler.get_store(id).expect("store").leader_count)
            .collect()
    }

    fn region_info(&self, id: u64) -> RegionInfo {
        let (region, leader) = self.scheduler.get_region_by_id(id).expect("region");
        RegionInfo {
            leader,
            ..RegionInfo::new(region)
        }
    }

    fn make_tombstone(&self, store_id: u64) {
        let mut tombstone = store(store_id);
        tombstone.set_state(StoreState::Tombstone);
        self.scheduler.put_store(tombstone).expect("put tombstone");
    }
}

fn change_peer(response: &RegionHeartbeatResponse) -> (ConfChangeType, Peer) {
    let change = response.change_peer.as_ref().expect("a change_peer step");
    (
        change.change_type.enum_value_or_default(),
        change.peer.clone().unwrap_or_default(),
    )
}

/// A cluster with region 1 on stores 1 and 3 (leader 1) and a manual
/// operator moving store 3's peer to store 2.
fn cluster_with_move() -> TestCluster {
    let mut cluster = TestCluster::new(3, |options| options.max_peer_count = 2);
    assert!(cluster
        .put_region(1, 1, &[(101, 1), (103, 3)], 1, 10)
        .is_none());
    let info = cluster.region_info(1);
    let operator = Operator::new(
        &info,
        OperatorKind::MoveRegion,
        vec![
            OperatorStep::AddPeer { peer: peer(102, 2) },
            OperatorStep::RemovePeer { peer: peer(103, 3) },
        ],
        cluster.scheduler.now_ms(),
        60_000,
    );
    cluster
        .scheduler
        .add_operator(operator)
        .expect("add operator");
    cluster
}

/// Each step goes out in heartbeats until a later heartbeat shows it done; the finished operator is removed.
#[test]
fn operator_steps_advance_with_heartbeats_and_finish() {
    let mut cluster = cluster_with_move();
    let response = cluster.heartbeat(1).expect("first step");
    assert_eq!(
        change_peer(&response),
        (ConfChangeType::AddNode, peer(102, 2))
    );
    assert_eq!(response.region_id, 1);
    assert_eq!(response.region_epoch.conf_ver, 1);
    assert_eq!(
        response.target_peer.clone().unwrap_or_default(),
        peer(101, 1)
    );
    // Not applied yet: the same step again.
    assert_eq!(cluster.heartbeat(1), Some(response.clone()));
    // Applied but the new peer still pending: not done, and not stale.
    cluster.apply(&response);
    cluster.regions.get_mut(&1).unwrap().pending_stores = vec![2];
    let again = cluster.heartbeat(1).expect("add step again while pending");
    assert_eq!(change_peer(&again).0, ConfChangeType::AddNode);
    cluster.regions.get_mut(&1).unwrap().pending_stores.clear();
    let remove = cluster.heartbeat(1).expect("second step");
    assert_eq!(
        change_peer(&remove),
        (ConfChangeType::RemoveNode, peer(103, 3))
    );
    cluster.apply(&remove);
    assert!(cluster.heartbeat(1).is_none());
    assert!(cluster.scheduler.operator(1).is_none());
    assert_eq!(cluster.stores_of(1), vec![1, 2]);
}

/// An operator older than its timeout is removed on the next heartbeat.
#[test]
fn timed_out_operator_removed() {
    let cluster = cluster_with_move();
    assert!(cluster.heartbeat(1).is_some());
    cluster.clock.advance(Duration::from_secs(61));
    assert!(cluster.heartbeat(1).is_none());
    assert!(cluster.scheduler.operator(1).is_none());
}

/// A version change, or a conf change the operator did not make, cancels it.
#[test]
fn unexpected_epoch_change_cancels_operator() {
    let mut cluster = cluster_with_move();
    cluster
        .regions
        .get_mut(&1)
        .unwrap()
        .region
        .mut_region_epoch()
        .version += 1;
    assert!(cluster.heartbeat(1).is_none(), "version change cancels");
    assert!(cluster.scheduler.operator(1).is_none());

    let mut cluster = cluster_with_move();
    let sim = cluster.regions.get_mut(&1).unwrap();
    sim.region.peers.retain(|p| p.store_id != 3);
    sim.region.mut_region_epoch().conf_ver += 1;
    assert!(
        cluster.heartbeat(1).is_none(),
        "foreign conf change cancels"
    );
    assert!(cluster.scheduler.operator(1).is_none());
}

/// A second operator for a region that has one is refused; the first stays.
#[test]
fn second_operator_for_region_refused() {
    let cluster = cluster_with_move();
    let transfer = Operator::new(
        &cluster.region_info(1),
        OperatorKind::TransferLeader,
        vec![OperatorStep::TransferLeader { peer: peer(103, 3) }],
        cluster.scheduler.now_ms(),
        60_000,
    );
    assert!(matches!(
        cluster.scheduler.add_operator(transfer),
        Err(Error::OperatorExists(1))
    ));
    assert_eq!(
        cluster.scheduler.operator(1).map(|op| op.kind()),
        Some(OperatorKind::MoveRegion)
    );
}

/// The replica checker adds peers on the emptiest stores until max replicas.
#[test]
fn replica_checker_adds_missing_replicas() {
    let mut cluster = TestCluster::new(4, |_| {});
    cluster.put_region(1, 2, &[(101, 1), (104, 4)], 1, 10);
    cluster.put_region(2, 2, &[(201, 2)], 2, 10);
    cluster.run_until_quiet();
    assert_eq!(cluster.regions[&1].region.peers.len(), 3);
    assert_eq!(cluster.regions[&2].region.peers.len(), 3);
    // Region 1 took the emptiest free store (3); in the same tick region 2
    // counted that pending peer and took store 1 instead, then store 3.
    assert_eq!(cluster.stores_of(1), vec![1, 3, 4]);
    assert_eq!(cluster.stores_of(2), vec![1, 2, 3]);
}

/// A region over max replicas (a move that lost its second step) loses a follower on the fullest store, never its leader.
#[test]
fn replica_checker_removes_extra_replica() {
    let mut cluster = TestCluster::new(4, |_| {});
    // Store 2 holds the most data; the leader is on store 1.
    cluster.put_region(2, 2, &[(202, 2)], 2, 50);
    cluster.put_region(1, 2, &[(101, 1), (102, 2), (103, 3), (104, 4)], 1, 10);
    assert!(cluster.scheduler.schedule().unwrap() >= 1);
    let operator = cluster
        .scheduler
        .operator(1)
        .expect("a removal for region 1");
    assert_eq!(operator.kind(), OperatorKind::RemovePeer);
    assert_eq!(
        operator.steps(),
        &[OperatorStep::RemovePeer { peer: peer(102, 2) }]
    );
    cluster.run_until_quiet();
    assert_eq!(cluster.stores_of(1).len(), 3);
    assert!(cluster.stores_of(1).contains(&1), "the leader stays");
}

/// A peer on a tombstone store is replaced: added elsewhere, then removed.
#[test]
fn replica_checker_replaces_peer_on_tombstone_store() {
    let mut cluster = TestCluster::new(4, |_| {});
    cluster.put_region(1, 1, &[(101, 1), (102, 2), (103, 3)], 1, 10);
    cluster.make_tombstone(3);
    assert_eq!(cluster.scheduler.schedule().unwrap(), 1);
    let operator = cluster.scheduler.operator(1).expect("replacement");
    assert_eq!(operator.kind(), OperatorKind::MoveRegion);
    assert!(matches!(&operator.steps()[0], OperatorStep::AddPeer { peer } if peer.store_id == 4));
    assert_eq!(
        operator.steps()[1],
        OperatorStep::RemovePeer { peer: peer(103, 3) }
    );
    cluster.run_until_quiet();
    assert_eq!(cluster.stores_of(1), vec![1, 2, 4]);
}

/// A peer on a store silent past max_store_down_time is replaced; before that it is not.
#[test]
fn replica_checker_replaces_peer_on_down_store() {
    let mut cluster = TestCluster::new(4, |options| {
        options.max_store_down_time = Duration::from_secs(60);
    });
    cluster.put_region(1, 1, &[(101, 1), (102, 2), (103, 3)], 1, 10);
    cluster.clock.advance(Duration::from_secs(59));
    cluster.heartbeat_stores(&[3]);
    assert_eq!(cluster.scheduler.schedule().unwrap(), 0, "not down yet");
    cluster.clock.advance(Duration::from_secs(2));
    cluster.heartbeat_stores(&[3]);
    cluster.run_until_quiet();
    assert_eq!(cluster.stores_of(1), vec![1, 2, 4]);
}

/// Balance-leader evens leader counts over repeated ticks, then stops.
#[test]
fn balance_leader_evens_leader_counts() {
    let mut cluster = TestCluster::new(3, |options| options.enable_balance_leader = true);
    for id in 1..=6 {
        let peers = [(id * 10 + 1, 1), (id * 10 + 2, 2), (id * 10 + 3, 3)];
        cluster.put_region(id, 6, &peers, 1, 10);
    }
    assert_eq!(cluster.leader_counts(), vec![6, 0, 0]);
    let moved = cluster.run_until_quiet();
    assert_eq!(cluster.leader_counts(), vec![2, 2, 2]);
    assert_eq!(moved, 4, "each transfer moves one leader closer");
    assert_eq!(cluster.scheduler.schedule().unwrap(), 0);
}

/// Balance-leader does nothing when leader counts differ by less than 2.
#[test]
fn balance_leader_idle_on_balanced_cluster() {
    let mut cluster = TestCluster::new(3, |options| options.enable_balance_leader = true);
    for (id, leader) in [(1, 1), (2, 2), (3, 3), (4, 1)] {
        let peers = [(id * 10 + 1, 1), (id * 10 + 2, 2), (id * 10 + 3, 3)];
        cluster.put_region(id, 4, &peers, leader, 10);
    }
    assert_eq!(cluster.leader_counts(), vec![2, 1, 1]);
    assert_eq!(cluster.scheduler.schedule().unwrap(), 0);
}

/// Balance-region never targets a down or tombstone store, even the emptiest.
#[test]
fn balance_region_skips_down_and_tombstone_targets() {
    let mut cluster = TestCluster::new(6, |options| {
        options.enable_balance_region = true;
        options.max_store_down_time = Duration::from_secs(60);
    });
    for id in 1..=3 {
        let peers = [(id * 10 + 1, 1), (id * 10 + 2, 2), (id * 10 + 3, 3)];
        cluster.put_region(id, 3, &peers, 1, 10);
    }
    cluster.make_tombstone(4);
    cluster.clock.advance(Duration::from_secs(61));
    cluster.heartbeat_stores(&[5, 6]);
    assert_eq!(
        cluster.scheduler.schedule().unwrap(),
        0,
        "stores 4-6 unusable"
    );
    cluster.heartbeat_stores(&[5]);
    assert_eq!(cluster.scheduler.schedule().unwrap(), 1);
    let moved: Vec<Operator> = (1..=3)
        .filter_map(|id| cluster.scheduler.operator(id))
        .collect();
    assert!(matches!(&moved[0].steps()[0], OperatorStep::AddPeer { peer } if peer.store_id == 6));
}

/// A hand-built cluster for calling BalanceRegion directly.
struct Direct {
    _dir: TempDir,
    meta: ClusterMeta,
    ids: IdAllocator,
    now_ms: u64,
}

impl Direct {
    /// Stores 1..=`store_count`, heard from at START_MS.
    fn new(store_count: u64) -> Direct {
        let dir = tempfile::tempdir().expect("create a temp dir");
        let ids = IdAllocator::open(MetaStorage::open(dir.path()).expect("storage"), 10)
            .expect("id allocator");
        let mut meta = ClusterMeta::new();
        for store_id in 1..=store_count {
            meta.put_store(store(store_id));
            let mut stats = StoreStats::new();
            stats.store_id = store_id;
            meta.store_heartbeat(stats, START_MS)
                .expect("store heartbeat");
        }
        Direct {
            _dir: dir,
            meta,
            ids,
            now_ms: START_MS,
        }
    }

    /// Region `id` with `peers` (peer id, store id), led from `leader_store`,
    /// with the peer on `pending_store` (if any) pending.
    fn region(
        &mut self,
        id: u64,
        peers: &[(u64, u64)],
        leader_store: u64,
        pending_store: Option<u64>,
        size: u64,
    ) {
        let region = region(id, 100, 2, 1, peers);
        let on = |store_id: u64| {
            region
                .peers
                .iter()
                .find(|p| p.store_id == store_id)
                .cloned()
        };
        let info = RegionInfo {
            leader: on(leader_store),
            pending_peers: pending_store.and_then(on).into_iter().collect(),
            approximate_size: size,
            region: region.clone(),
        };
        self.meta.insert_region(info);
    }

    /// What BalanceRegion would do now (max replicas 3).
    fn balance(&self) -> Option<Operator> {
        let controller = OperatorController::new();
        let limits = ScheduleLimits {
            now_ms: self.now_ms,
            started_at_ms: START_MS,
            max_store_down_ms: 60_000,
            max_replicas: 3,
            operator_timeout_ms: 60_000,
        };
        let context = ScheduleContext::new(&self.meta, &controller, limits);
        BalanceRegion
            .schedule(&context, &self.ids)
            .expect("balance")
    }
}

/// The moved region and the store its peer is moved from and to.
fn moved(operator: &Operator) -> (u64, u64, u64) {
    match operator.steps() {
        [OperatorStep::AddPeer { peer: added }, OperatorStep::RemovePeer { peer: removed }] => {
            (operator.region_id(), removed.store_id, added.store_id)
        }
        steps => panic!("not a move: {steps:?}"),
    }
}

/// Balance-region picks a region where the source is pending, then follower, then leader.
#[test]
fn balance_region_prefers_pending_then_follower_then_leader() {
    // Regions 1..3 on stores 1-3; store 4 empty. Kinds of store 1's peer:
    // region 1 leader, region 2 follower, region 3 pending follower.
    let build = |pending: bool, follower: bool| {
        let mut direct = Direct::new(4);
        for id in 1..=3 {
            let peers = [(id * 10 + 1, 1), (id * 10 + 2, 2), (id * 10 + 3, 3)];
            let leads = match id {
                2 => !follower,
                3 => !pending,
                _ => true,
            };
            let leader = if leads { 1 } else { 2 };
            let pending_store = (id == 3 && pending).then_some(1);
            direct.region(id, &peers, leader, pending_store, 10);
        }
        direct
    };
    assert_eq!(
        build(true, true).balance().map(|op| moved(&op)),
        Some((3, 1, 4))
    );
    assert_eq!(
        build(false, true).balance().map(|op| moved(&op)),
        Some((2, 1, 4))
    );
    assert_eq!(
        build(false, false).balance().map(|op| moved(&op)),
        Some((1, 1, 4))
    );
}

/// A region with fewer peers than max replicas is never moved.
#[test]
fn balance_region_skips_regions_short_of_replicas() {
    let mut direct = Direct::new(4);
    for id in 1..=3 {
        direct.region(id, &[(id * 10 + 1, 1), (id * 10 + 2, 2)], 1, None, 10);
    }
    assert_eq!(direct.balance(), None);
    direct.region(4, &[(41, 1), (42, 2), (43, 3)], 1, None, 10);
    assert_eq!(direct.balance().map(|op| moved(&op)), Some((4, 1, 4)));
}

/// Down and tombstone stores are never sources, however full.
#[test]
fn balance_region_skips_down_and_tombstone_sources() {
    let mut direct = Direct::new(5);
    for id in 1..=5 {
        direct.region(
            id,
            &[(id * 10 + 1, 1), (id * 10 + 2, 2), (id * 10 + 3, 3)],
            1,
            None,
            10,
        );
    }
    // Store 1 tombstone, store 2 down: only store 3 (50) may give to 4 or 5.
    let mut tombstone = store(1);
    tombstone.set_state(StoreState::Tombstone);
    direct.meta.put_store(tombstone);
    direct.now_ms += 61_000;
    for store_id in 3..=5 {
        let mut stats = StoreStats::new();
        stats.store_id = store_id;
        direct.meta.store_heartbeat(stats, direct.now_ms).unwrap();
    }
    let (_, from, to) = moved(&direct.balance().expect("a move from store 3"));
    assert_eq!((from, to), (3, 4));
}

/// A move is refused unless source size - target size > 2 x the region's size.
#[test]
fn balance_region_refuses_moves_that_do_not_pay_off() {
    // Store 1-3 hold 3 regions of size 15 (45 each), store 4 none: 45 > 30 moves.
    let mut direct = Direct::new(4);
    for id in 1..=3 {
        direct.region(
            id,
            &[(id * 10 + 1, 1), (id * 10 + 2, 2), (id * 10 + 3, 3)],
            1,
            None,
            15,
        );
    }
    assert!(direct.balance().is_some());
    // Two regions of size 15 (30 each): 30 - 0 = 2 x 15 does not pay off.
    let mut direct = Direct::new(4);
    for id in 1..=2 {
        direct.region(
            id,
            &[(id * 10 + 1, 1), (id * 10 + 2, 2), (id * 10 + 3, 3)],
            1,
            None,
            15,
        );
    }
    assert_eq!(direct.balance(), None);
}

/// With balancing switched off, an unbalanced but fully replicated cluster gets no operator.
#[test]
fn balancing_switched_off_does_nothing() {
    let mut cluster = TestCluster::new(4, |_| {});
    for id in 1..=6 {
        let peers = [(id * 10 + 1, 1), (id * 10 + 2, 2), (id * 10 + 3, 3)];
        cluster.put_region(id, 6, &peers, 1, 10);
    }
    assert_eq!(cluster.scheduler.schedule().unwrap(), 0);
    assert_eq!(cluster.run_until_quiet(), 0);
}
