//! Building blocks shared by the snapshot tests (lab 2C), in the lab
//! suite, the chain-order tests and the failpoint crash tests.

use std::time::{Duration, Instant};

use raftstore::{Config, RegionStatus};

use crate::cluster::{Cluster, FIRST_REGION_ID};

/// Test timers with a raft log compacted after `limit` applied entries, so
/// a follower that misses a few writes needs a snapshot.
pub fn small_log_config(limit: u64) -> Config {
    let mut config = Config::for_tests();
    config.raft_log_gc_count_limit = limit;
    config.raft_log_gc_tick_interval = Duration::from_millis(20);
    config
}

/// The key written by [`write_keys`] number `i`.
pub fn key(i: usize) -> Vec<u8> {
    format!("key-{i:05}").into_bytes()
}

/// The value written by [`write_keys`] for key `i` in round `round`.
pub fn value(round: usize, i: usize) -> Vec<u8> {
    format!("value-{round}-{i}").into_bytes()
}

/// Writes keys `range` (values of `round`) through raft, each acknowledged.
pub fn write_keys(cluster: &Cluster, round: usize, range: std::ops::Range<usize>) {
    for i in range {
        cluster.must_put(&key(i), &value(round, i));
    }
}

/// A running store other than the leader of region 1.
pub fn pick_follower(cluster: &Cluster) -> u64 {
    let leader = cluster.wait_leader(FIRST_REGION_ID, Duration::from_secs(10));
    cluster
        .running_store_ids()
        .into_iter()
        .find(|id| *id != leader.store_id)
        .unwrap_or_else(|| cluster.fail("no follower store is running"))
}

/// The first log index of the newest-term leader among `statuses`. A
/// deposed leader may not have republished yet: the newest term's leader is
/// the one a lagging follower will hear from.
fn newest_leader_first_index(statuses: &[(u64, RegionStatus)]) -> Option<u64> {
    statuses
        .iter()
        .filter(|(_, status)| status.is_leader)
        .max_by_key(|(_, status)| status.term)
        .map(|(_, status)| status.first_index)
}

/// Waits until the leader's log starts after the end of `follower`'s log:
/// from then on the follower can only catch up by snapshot (the leader no
/// longer has the term of the follower's last entry to probe with).
pub fn wait_leader_compacted_past(cluster: &Cluster, follower: u64, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let statuses = cluster.region_statuses(FIRST_REGION_ID);
        let Some(follower_last) = statuses
            .iter()
            .find(|(id, _)| *id == follower)
            .map(|(_, status)| status.last_index)
        else {
            cluster.fail(&format!(
                "store {follower} publishes no status for region {FIRST_REGION_ID}: {statuses:?}"
            ));
        };
        if newest_leader_first_index(&statuses).is_some_and(|first| first > follower_last + 1) {
            return;
        }
        if Instant::now() > deadline {
            cluster.fail(&format!(
                "the leader never compacted past store {follower}'s last index {follower_last}: {statuses:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Like [`wait_leader_compacted_past`] for a follower that is stopped (and
/// so publishes nothing): `follower_last` is the last index it stopped with.
pub fn wait_leader_compacted_past_index(cluster: &Cluster, follower_last: u64, timeout: Duration) {
    wait_until(
        cluster,
        &format!("the leader compacts its log past index {follower_last}"),
        timeout,
        || {
            let statuses = cluster.region_statuses(FIRST_REGION_ID);
            newest_leader_first_index(&statuses).is_some_and(|first| first > follower_last + 1)
        },
    );
}

/// Waits until `condition` holds, failing the test (with the seed) after
/// `timeout`.
pub fn wait_until(
    cluster: &Cluster,
    what: &str,
    timeout: Duration,
    mut condition: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        if Instant::now() > deadline {
            cluster.fail(&format!("{what}: not reached after {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Isolates `follower`, writes keys `range` until the leader's log has moved
/// past it, and heals the network: the follower now needs a snapshot.
pub fn make_follower_need_snapshot(
    cluster: &Cluster,
    follower: u64,
    round: usize,
    range: std::ops::Range<usize>,
) {
    cluster.isolate(follower);
    write_keys(cluster, round, range);
    wait_leader_compacted_past(cluster, follower, Duration::from_secs(10));
    cluster.heal();
}

/// Checks that every running store has keys `range` with `round`'s values
/// and that all replicas of region 1 hold identical data.
pub fn assert_all_replicas_have(cluster: &Cluster, round: usize, range: std::ops::Range<usize>) {
    for store in cluster.running_store_ids() {
        for i in range.clone() {
            cluster.must_store_have(
                store,
                &key(i),
                Some(&value(round, i)),
                Duration::from_secs(20),
            );
        }
    }
    cluster.must_replicas_converge(FIRST_REGION_ID, Duration::from_secs(20));
}
