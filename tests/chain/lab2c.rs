//! Lab 2C, observed through the call-chain log: the snapshot flow's hops
//! happen in the order docs/snapshot.md documents, and the first
//! `PeerStorage::snapshot` call answers "temporarily unavailable".

use std::path::Path;
use std::time::Duration;
use tinykv_tests::chain_log::{function_of, index_of, Capture};
use tinykv_tests::cluster::Cluster;
use tinykv_tests::scenarios::{
    assert_all_replicas_have, make_follower_need_snapshot, pick_follower, small_log_config,
};

/// The hop order documented in docs/snapshot.md, between the markers
/// `<!-- chain-order:start -->` and `<!-- chain-order:end -->`: one
/// backticked `Type::function` per numbered line.
fn documented_order() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/snapshot.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
    let start = text
        .find("<!-- chain-order:start -->")
        .expect("docs/snapshot.md has a chain-order:start marker");
    let end = text
        .find("<!-- chain-order:end -->")
        .expect("docs/snapshot.md has a chain-order:end marker");
    text[start..end]
        .lines()
        .filter(|line| {
            line.trim_start()
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
        })
        .filter_map(|line| line.split('`').nth(1).map(str::to_string))
        .collect()
}

/// Runs one snapshot to a lagging follower, capturing the chain lines.
fn one_snapshot_with_capture(test_name: &str) -> (Capture, u64) {
    let capture = Capture::start();
    let cluster = Cluster::new(test_name, 3, small_log_config(10));
    cluster.must_put(b"warm-up", b"1");
    let follower = pick_follower(&cluster);
    make_follower_need_snapshot(&cluster, follower, 0, 0..40);
    assert_all_replicas_have(&cluster, 0, 0..40);
    // The data is visible on the follower at ingest, one hop before the
    // chain ends: wait for the last hop itself before stopping the cluster.
    let last_hop = format!("store {follower}:");
    if capture
        .wait_for_line(Duration::from_secs(20), |line| {
            function_of(line) == Some("Peer::finish_snapshot_apply") && line.contains(&last_hop)
        })
        .is_none()
    {
        cluster.fail(&format!(
            "store {follower} never logged Peer::finish_snapshot_apply; chain lines:\n{}",
            capture.lines().join("\n")
        ));
    }
    drop(cluster);
    (capture, follower)
}

/// One snapshot's chain lines appear in the order docs/snapshot.md documents.
#[test]
fn chain_lines_follow_documented_order() {
    let (capture, _) = one_snapshot_with_capture("lab2c::chain_lines_follow_documented_order");
    let documented = documented_order();
    assert!(
        documented.len() >= 8,
        "docs/snapshot.md lists too few hops: {documented:?}"
    );
    let lines = capture.lines();
    // The snapshot that was applied: the index of the last finished apply.
    let index = lines
        .iter()
        .rev()
        .find(|line| function_of(line) == Some("Peer::finish_snapshot_apply"))
        .and_then(|line| index_of(line))
        .unwrap_or_else(|| {
            panic!(
                "no snapshot was applied; chain lines:\n{}",
                lines.join("\n")
            )
        });
    let hops: Vec<&str> = lines
        .iter()
        .filter(|line| index_of(line) == Some(index))
        .filter_map(|line| function_of(line))
        .collect();
    // The documented hops must appear as a subsequence of what happened.
    let mut position = 0;
    for hop in &documented {
        match hops[position..].iter().position(|seen| seen == hop) {
            Some(offset) => position += offset + 1,
            None => panic!(
                "hop {hop} does not appear (in order) for the snapshot at index {index}.\ndocumented: {documented:?}\nseen: {hops:?}"
            ),
        }
    }
}

/// The first PeerStorage::snapshot call answers temporarily-unavailable, and the follower still catches up.
#[test]
fn first_snapshot_call_is_temporarily_unavailable() {
    let (capture, _) =
        one_snapshot_with_capture("lab2c::first_snapshot_call_is_temporarily_unavailable");
    let lines = capture.lines();
    let first_call = lines
        .iter()
        .position(|line| function_of(line) == Some("PeerStorage::snapshot"))
        .unwrap_or_else(|| {
            panic!(
                "PeerStorage::snapshot was never called:\n{}",
                lines.join("\n")
            )
        });
    assert!(
        lines[first_call].contains("temporarily unavailable"),
        "the first call should answer temporarily unavailable: {}",
        lines[first_call]
    );
    let handed = lines
        .iter()
        .position(|line| line.contains("generated snapshot handed to raft"))
        .expect("a generated snapshot reached raft");
    assert!(first_call < handed);
    let generated = lines
        .iter()
        .position(|line| function_of(line) == Some("RegionWorker::handle_generate"))
        .expect("the region worker generated the snapshot");
    assert!(first_call < generated && generated < handed, "{lines:#?}");
}
