//! Tests of the in-process scheduler through `SchedulerService`: the region
//! heartbeat rules, bad input, bootstrap, splits, store heartbeats and
//! persistence across a reopen.

use proto::metapb::{Region, StoreState};
use proto::schedulerpb::{RegionHeartbeatRequest, StoreStats};
use scheduler::{Error, Scheduler, SchedulerService};
use tempfile::TempDir;

use super::common::{peer, store};

/// A region with epoch (`version`, `conf_ver`) and peers given as (peer id, store id).
fn region(
    id: u64,
    range: (&[u8], &[u8]),
    version: u64,
    conf_ver: u64,
    peers: &[(u64, u64)],
) -> Region {
    let mut region = Region::new();
    region.id = id;
    region.start_key = range.0.to_vec();
    region.end_key = range.1.to_vec();
    region.mut_region_epoch().version = version;
    region.mut_region_epoch().conf_ver = conf_ver;
    region.peers = peers
        .iter()
        .map(|(peer_id, store_id)| peer(*peer_id, *store_id))
        .collect();
    region
}

/// A heartbeat from `region`'s first peer as leader.
fn heartbeat(region: &Region) -> RegionHeartbeatRequest {
    let mut request = RegionHeartbeatRequest::new();
    request.region = Some(region.clone()).into();
    request.leader = region.peers.first().cloned().into();
    request.approximate_size = 100;
    request
}

/// A bootstrapped scheduler: stores 1, 2, 3; region 1 = ["", "") at epoch
/// (1, 1) with one peer (101) on store 1.
fn bootstrapped() -> (TempDir, Scheduler) {
    let dir = tempfile::tempdir().expect("create a temp dir");
    let scheduler = Scheduler::open(dir.path()).expect("open scheduler");
    scheduler
        .bootstrap(store(1), region(1, (b"", b""), 1, 1, &[(101, 1)]))
        .expect("bootstrap");
    scheduler.put_store(store(2)).expect("put store 2");
    scheduler.put_store(store(3)).expect("put store 3");
    (dir, scheduler)
}

fn region_id_at(scheduler: &Scheduler, key: &[u8]) -> Option<u64> {
    scheduler.get_region(key).map(|(region, _)| region.id)
}

/// Splits region 1 (["", "")) at `m` through heartbeats: left stays 1, right is 2.
fn split_at_m(scheduler: &Scheduler) -> (Region, Region) {
    let left = region(1, (b"", b"m"), 2, 1, &[(101, 1)]);
    let right = region(2, (b"m", b""), 2, 1, &[(201, 1)]);
    scheduler
        .region_heartbeat(heartbeat(&left))
        .expect("left heartbeat");
    scheduler
        .region_heartbeat(heartbeat(&right))
        .expect("right heartbeat");
    (left, right)
}

/// A heartbeat with an older version than the known region is rejected as stale.
#[test]
fn stale_version_rejected() {
    let (_dir, scheduler) = bootstrapped();
    scheduler
        .region_heartbeat(heartbeat(&region(1, (b"", b""), 3, 1, &[(101, 1)])))
        .expect("newer version accepted");
    let result = scheduler.region_heartbeat(heartbeat(&region(1, (b"", b""), 2, 1, &[(101, 1)])));
    assert!(
        matches!(
            result,
            Err(Error::StaleRegion {
                region_id: 1,
                known_version: 3,
                ..
            })
        ),
        "{result:?}"
    );
}

/// A heartbeat with an older conf_ver is rejected, even with a newer version.
#[test]
fn stale_conf_ver_rejected() {
    let (_dir, scheduler) = bootstrapped();
    let two_peers = [(101, 1), (102, 2)];
    scheduler
        .region_heartbeat(heartbeat(&region(1, (b"", b""), 1, 2, &two_peers)))
        .expect("newer conf_ver accepted");
    for (version, conf_ver) in [(1, 1), (5, 1)] {
        let result = scheduler.region_heartbeat(heartbeat(&region(
            1,
            (b"", b""),
            version,
            conf_ver,
            &[(101, 1)],
        )));
        assert!(
            matches!(
                result,
                Err(Error::StaleRegion {
                    known_conf_ver: 2,
                    ..
                })
            ),
            "({version}, {conf_ver}): {result:?}"
        );
    }
    let (known, _) = scheduler.get_region_by_id(1).expect("region 1");
    assert_eq!(known.peers.len(), 2);
}

/// A newer region replaces the old entry and removes every region it overlaps, on disk too.
#[test]
fn newer_replaces_and_removes_overlaps() {
    let (dir, scheduler) = bootstrapped();
    // The right half arrives first: it overlaps (and removes) region 1.
    scheduler
        .region_heartbeat(heartbeat(&region(2, (b"m", b""), 2, 1, &[(201, 1)])))
        .unwrap();
    assert_eq!(region_id_at(&scheduler, b"a"), None);
    assert_eq!(region_id_at(&scheduler, b"z"), Some(2));
    scheduler
        .region_heartbeat(heartbeat(&region(1, (b"", b"m"), 2, 1, &[(101, 1)])))
        .unwrap();
    scheduler
        .region_heartbeat(heartbeat(&region(3, (b"c", b"f"), 3, 1, &[(301, 1)])))
        .unwrap();
    assert_eq!(
        region_id_at(&scheduler, b"a"),
        None,
        "region 1 was overlapped"
    );
    // One wide region with a newer epoch swallows everything.
    scheduler
        .region_heartbeat(heartbeat(&region(9, (b"", b""), 4, 1, &[(901, 1)])))
        .unwrap();
    for key in [&b"a"[..], b"d", b"m", b"z"] {
        assert_eq!(region_id_at(&scheduler, key), Some(9));
    }
    assert!(scheduler.get_region_by_id(1).is_none());
    assert!(scheduler.get_region_by_id(2).is_none());
    drop(scheduler);
    let reopened = Scheduler::open(dir.path()).unwrap();
    assert!(
        reopened.get_region_by_id(1).is_none(),
        "removal was persisted"
    );
    assert!(reopened.get_region_by_id(3).is_none());
    assert_eq!(region_id_at(&reopened, b"q"), Some(9));
}

/// An unknown region older than a region it overlaps is rejected and changes nothing.
#[test]
fn overlapping_stale_heartbeat_rejected() {
    let (_dir, scheduler) = bootstrapped();
    split_at_m(&scheduler);
    let result = scheduler.region_heartbeat(heartbeat(&region(5, (b"k", b"p"), 1, 1, &[(501, 1)])));
    assert!(
        matches!(
            result,
            Err(Error::StaleRegion {
                region_id: 5,
                known_version: 2,
                ..
            })
        ),
        "{result:?}"
    );
    assert_eq!(region_id_at(&scheduler, b"k"), Some(1));
    assert_eq!(region_id_at(&scheduler, b"n"), Some(2));
}

/// An equal-epoch heartbeat updates only leader and size, and the stores' leader totals.
#[test]
fn equal_epoch_updates_leader_only() {
    let (_dir, scheduler) = bootstrapped();
    let three = region(1, (b"", b""), 1, 3, &[(101, 1), (102, 2), (103, 3)]);
    scheduler.region_heartbeat(heartbeat(&three)).unwrap();
    assert_eq!(scheduler.get_store(1).unwrap().leader_count, 1);

    let mut request = heartbeat(&three);
    request.leader = Some(peer(102, 2)).into();
    request.approximate_size = 4096;
    // Same epoch, different range: only the leader and size are taken.
    request.mut_region().end_key = b"zz".to_vec();
    assert_eq!(scheduler.region_heartbeat(request).unwrap(), None);

    let (known, leader) = scheduler.get_region_by_id(1).unwrap();
    assert_eq!(known, three);
    assert_eq!(leader, Some(peer(102, 2)));
    let store_1 = scheduler.get_store(1).unwrap();
    let store_2 = scheduler.get_store(2).unwrap();
    assert_eq!((store_1.leader_count, store_1.region_count), (0, 1));
    assert_eq!((store_2.leader_count, store_2.leader_size), (1, 4096));
}

/// Key lookups follow a chain of splits reported by heartbeats.
#[test]
fn get_region_by_key_after_splits() {
    let (_dir, scheduler) = bootstrapped();
    split_at_m(&scheduler);
    // Split left again at "f" and right at "t".
    for reported in [
        region(1, (b"", b"f"), 3, 1, &[(101, 1)]),
        region(3, (b"f", b"m"), 3, 1, &[(301, 1)]),
        region(2, (b"m", b"t"), 3, 1, &[(201, 1)]),
        region(4, (b"t", b""), 3, 1, &[(401, 1)]),
    ] {
        scheduler.region_heartbeat(heartbeat(&reported)).unwrap();
    }
    let expected: [(&[u8], u64); 8] = [
        (b"", 1),
        (b"e", 1),
        (b"f", 3),
        (b"lzz", 3),
        (b"m", 2),
        (b"s", 2),
        (b"t", 4),
        (b"\xff\xff", 4),
    ];
    for (key, region_id) in expected {
        assert_eq!(
            region_id_at(&scheduler, key),
            Some(region_id),
            "key {key:?}"
        );
    }
    let (_, leader) = scheduler.get_region(b"g").unwrap();
    assert_eq!(leader, Some(peer(301, 1)));
}

/// Every kind of malformed heartbeat gets its typed error, and none changes the regions.
#[test]
fn bad_heartbeats_get_typed_errors() {
    let (_dir, scheduler) = bootstrapped();
    let good = region(7, (b"a", b"b"), 5, 5, &[(701, 1), (702, 2)]);

    let unknown_leader_store = heartbeat(&region(7, (b"a", b"b"), 5, 5, &[(701, 9)]));
    let empty_peers = heartbeat(&region(7, (b"a", b"b"), 5, 5, &[]));
    let duplicated_peer_ids = heartbeat(&region(7, (b"a", b"b"), 5, 5, &[(701, 1), (701, 2)]));
    let duplicated_stores = heartbeat(&region(7, (b"a", b"b"), 5, 5, &[(701, 1), (702, 1)]));
    let inverted_range = heartbeat(&region(7, (b"b", b"a"), 5, 5, &[(701, 1)]));
    let empty_range = heartbeat(&region(7, (b"a", b"a"), 5, 5, &[(701, 1)]));
    let zero_id = heartbeat(&region(0, (b"a", b"b"), 5, 5, &[(701, 1)]));
    let mut no_leader = heartbeat(&good);
    no_leader.leader = None.into();
    let mut foreign_leader = heartbeat(&good);
    foreign_leader.leader = Some(peer(999, 3)).into();
    let mut no_epoch = heartbeat(&good);
    no_epoch.mut_region().region_epoch = None.into();
    let no_region = {
        let mut request = RegionHeartbeatRequest::new();
        request.leader = Some(peer(701, 1)).into();
        request
    };

    assert!(matches!(
        scheduler.region_heartbeat(unknown_leader_store),
        Err(Error::StoreNotFound(9))
    ));
    for (name, request) in [
        ("empty peers", empty_peers),
        ("duplicated peer ids", duplicated_peer_ids),
        ("duplicated stores", duplicated_stores),
        ("inverted range", inverted_range),
        ("empty range", empty_range),
        ("zero id", zero_id),
        ("no leader", no_leader),
        ("leader not a peer", foreign_leader),
        ("no epoch", no_epoch),
        ("no region", no_region),
    ] {
        let result = scheduler.region_heartbeat(request);
        assert!(
            matches!(result, Err(Error::InvalidRegion(_))),
            "{name}: {result:?}"
        );
    }
    assert_eq!(region_id_at(&scheduler, b"a"), Some(1), "nothing changed");
}

/// A leader on a tombstone store is refused, and a tombstone store cannot be put back.
#[test]
fn tombstone_store_refused() {
    let (_dir, scheduler) = bootstrapped();
    let mut gone = store(3);
    gone.set_state(StoreState::Tombstone);
    scheduler.put_store(gone).unwrap();
    let result = scheduler.region_heartbeat(heartbeat(&region(1, (b"", b""), 1, 2, &[(103, 3)])));
    assert!(
        matches!(result, Err(Error::StoreTombstone(3))),
        "{result:?}"
    );
    assert!(matches!(
        scheduler.put_store(store(3)),
        Err(Error::StoreTombstone(3))
    ));
    let mut stats = StoreStats::new();
    stats.store_id = 3;
    assert!(matches!(
        scheduler.store_heartbeat(stats),
        Err(Error::StoreTombstone(3))
    ));
}

/// Bootstrapping twice fails with AlreadyBootstrapped, also after a reopen.
#[test]
fn bootstrap_twice_fails() {
    let (dir, scheduler) = bootstrapped();
    let again = scheduler.bootstrap(store(1), region(1, (b"", b""), 1, 1, &[(101, 1)]));
    assert!(matches!(again, Err(Error::AlreadyBootstrapped)));
    drop(scheduler);
    let reopened = Scheduler::open(dir.path()).unwrap();
    assert!(reopened.is_bootstrapped());
    let again = reopened.bootstrap(store(4), region(4, (b"", b""), 1, 1, &[(401, 4)]));
    assert!(matches!(again, Err(Error::AlreadyBootstrapped)));
}

/// Before bootstrap: ids and timestamps work, cluster changes get NotBootstrapped.
#[test]
fn before_bootstrap() {
    let dir = tempfile::tempdir().expect("create a temp dir");
    let scheduler = Scheduler::open(dir.path()).unwrap();
    assert!(!scheduler.is_bootstrapped());
    assert!(scheduler.alloc_id().unwrap() > 0);
    assert!(scheduler.tso().unwrap() > 0);
    assert!(matches!(
        scheduler.put_store(store(1)),
        Err(Error::NotBootstrapped)
    ));
    let request = heartbeat(&region(1, (b"", b""), 1, 1, &[(101, 1)]));
    assert!(matches!(
        scheduler.region_heartbeat(request),
        Err(Error::NotBootstrapped)
    ));
    assert!(scheduler.get_region(b"a").is_none());
    // A bootstrap region without a peer on the bootstrap store is refused.
    let wrong = scheduler.bootstrap(store(1), region(1, (b"", b""), 1, 1, &[(101, 2)]));
    assert!(matches!(wrong, Err(Error::InvalidRegion(_))), "{wrong:?}");
    assert!(!scheduler.is_bootstrapped());
}

/// ask_split hands out fresh ids for a known region and refuses unknown or stale ones.
#[test]
fn ask_split_allocates_ids() {
    let (_dir, scheduler) = bootstrapped();
    let three = region(1, (b"", b""), 1, 3, &[(101, 1), (102, 2), (103, 3)]);
    scheduler.region_heartbeat(heartbeat(&three)).unwrap();
    let (new_region_id, new_peer_ids) = scheduler.ask_split(&three).unwrap();
    assert_eq!(new_peer_ids.len(), 3);
    let (second_region_id, _) = scheduler.ask_split(&three).unwrap();
    assert_ne!(new_region_id, second_region_id);
    assert!(!new_peer_ids.contains(&new_region_id));

    let stale = region(1, (b"", b""), 1, 1, &[(101, 1)]);
    assert!(matches!(
        scheduler.ask_split(&stale),
        Err(Error::StaleRegion { .. })
    ));
    // After a split only the left half is reported: "m" and above are unknown.
    let peers = [(101, 1), (102, 2), (103, 3)];
    let left = region(1, (b"", b"m"), 2, 3, &peers);
    scheduler.region_heartbeat(heartbeat(&left)).unwrap();
    assert!(scheduler.ask_split(&left).is_ok());
    let right = region(2, (b"m", b""), 2, 3, &[(201, 1), (202, 2), (203, 3)]);
    let result = scheduler.ask_split(&right);
    assert!(
        matches!(result, Err(Error::RegionNotFound(_))),
        "{result:?}"
    );
    let bad = region(1, (b"", b""), 5, 5, &[]);
    assert!(matches!(
        scheduler.ask_split(&bad),
        Err(Error::InvalidRegion(_))
    ));
}

/// report_split accepts adjacent halves and rejects halves that do not meet.
#[test]
fn report_split_checks_adjacency() {
    let (_dir, scheduler) = bootstrapped();
    let left = region(1, (b"", b"m"), 2, 1, &[(101, 1)]);
    let right = region(2, (b"m", b""), 2, 1, &[(201, 1)]);
    scheduler.report_split(left.clone(), right).unwrap();
    let apart = region(2, (b"n", b""), 2, 1, &[(201, 1)]);
    assert!(matches!(
        scheduler.report_split(left, apart),
        Err(Error::InvalidRegion(_))
    ));
}

/// Store heartbeats record statistics; unknown stores get StoreNotFound.
#[test]
fn store_heartbeat_records_stats() {
    let (_dir, scheduler) = bootstrapped();
    let mut stats = StoreStats::new();
    stats.store_id = 2;
    stats.capacity = 1000;
    stats.available = 400;
    scheduler.store_heartbeat(stats.clone()).unwrap();
    let info = scheduler.get_store(2).unwrap();
    assert_eq!((info.capacity(), info.available()), (1000, 400));
    assert!(info.last_heartbeat_ms.is_some());
    stats.store_id = 42;
    assert!(matches!(
        scheduler.store_heartbeat(stats),
        Err(Error::StoreNotFound(42))
    ));
    assert!(matches!(
        scheduler.get_store(42),
        Err(Error::StoreNotFound(42))
    ));
}

/// Stores, regions, bootstrap, cluster id, ids and timestamps survive a reopen.
#[test]
fn persistence_round_trip() {
    let (dir, scheduler) = bootstrapped();
    let (left, right) = split_at_m(&scheduler);
    let cluster_id = scheduler.cluster_id();
    let last_id = scheduler.alloc_id().unwrap();
    let last_tso = scheduler.tso().unwrap();
    drop(scheduler);

    let reopened = Scheduler::open(dir.path()).unwrap();
    assert!(reopened.is_bootstrapped());
    assert_eq!(reopened.cluster_id(), cluster_id);
    for store_id in 1..=3 {
        assert_eq!(reopened.get_store(store_id).unwrap().store, store(store_id));
    }
    assert_eq!(
        reopened.get_region_by_id(1),
        Some((left, None)),
        "leaders are not persisted"
    );
    assert_eq!(
        reopened.get_region_by_id(2).map(|(region, _)| region),
        Some(right)
    );
    assert_eq!(region_id_at(&reopened, b"n"), Some(2));
    assert_eq!(reopened.get_store(1).unwrap().region_count, 2);
    assert!(reopened.alloc_id().unwrap() > last_id);
    assert!(reopened.tso().unwrap() > last_tso);
}

/// An epoch far ahead of the known one is accepted (the leader may have missed heartbeats); the old epoch is then refused as stale.
#[test]
fn future_epoch_accepted_then_older_refused() {
    let (_dir, scheduler) = bootstrapped();
    let future = region(1, (b"", b""), u64::MAX, u64::MAX, &[(101, 1)]);
    scheduler
        .region_heartbeat(heartbeat(&future))
        .expect("a newer epoch is accepted");
    let (known, _) = scheduler.get_region_by_id(1).expect("region 1");
    assert_eq!(known.region_epoch().version, u64::MAX);
    let result = scheduler.region_heartbeat(heartbeat(&region(1, (b"", b""), 1, 1, &[(101, 1)])));
    assert!(
        matches!(result, Err(Error::StaleRegion { .. })),
        "{result:?}"
    );
}

/// A split asked for a region the scheduler does not know, or with an older epoch than it knows, is refused with a typed error.
#[test]
fn ask_split_of_unknown_or_stale_region_refused() {
    let (_dir, scheduler) = bootstrapped();
    split_at_m(&scheduler);
    // Region 1 is now ["", "m") at version 2: its old version is stale.
    let stale = region(1, (b"", b""), 1, 1, &[(101, 1)]);
    let result = scheduler.ask_split(&stale);
    assert!(
        matches!(result, Err(Error::StaleRegion { .. })),
        "{result:?}"
    );
    let malformed = region(9, (b"x", b"a"), 1, 1, &[(901, 1)]);
    let result = scheduler.ask_split(&malformed);
    assert!(matches!(result, Err(Error::InvalidRegion(_))), "{result:?}");
}
