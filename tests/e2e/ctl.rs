//! `tinykv ctl` end to end: one scheduler and three stores as child
//! processes (the scheduler's own tick slowed to once an hour, so only the
//! operators the test asks for change the cluster), and every ctl command
//! run through the real binary with `--json`, its output parsed and
//! checked.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cluster_processes::Cluster;

/// How long a change asked for by an operator may take to show.
const CHANGE_DEADLINE: Duration = Duration::from_secs(20);

/// Runs `tinykv ctl --json ARGS...`; its JSON, or its error line.
fn run_ctl(cluster: &Cluster, args: &[&str]) -> Result<Value, String> {
    let output = Command::new(env!("CARGO_BIN_EXE_tinykv"))
        .args(["ctl", "--json", "--scheduler", &cluster.scheduler_address])
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("running tinykv ctl {args:?}: {error}"));
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    serde_json::from_slice(&output.stdout).map_err(|error| {
        format!(
            "ctl {args:?} printed no JSON ({error}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn must_ctl(cluster: &mut Cluster, args: &[&str]) -> Value {
    run_ctl(cluster, args).unwrap_or_else(|error| {
        cluster.processes.check_alive();
        panic!("ctl {args:?}: {error}")
    })
}

/// Runs `ctl ARGS` until it succeeds and its JSON satisfies `done`
/// (a command refused for now — an operator still in flight — is run
/// again), or the deadline passes.
fn ctl_until(
    cluster: &mut Cluster,
    args: &[&str],
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + CHANGE_DEADLINE;
    loop {
        let last = match run_ctl(cluster, args) {
            Ok(json) if done(&json) => return json,
            Ok(json) => json.to_string(),
            Err(error) => error,
        };
        cluster.processes.check_alive();
        assert!(
            Instant::now() < deadline,
            "{what}: never happened; last: {last}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The region with `region_id` in `regions --json` output.
fn region_in(regions: &Value, region_id: u64) -> Option<&Value> {
    regions["regions"]
        .as_array()?
        .iter()
        .find(|region| region["id"].as_u64() == Some(region_id))
}

fn has_peer_on(regions: &Value, region_id: u64, store_id: u64) -> bool {
    region_in(regions, region_id).is_some_and(|region| {
        region["peers"]
            .as_array()
            .is_some_and(|peers| peers.iter().any(|peer| peer["store_id"] == store_id))
    })
}

fn number(json: &Value, field: &str) -> u64 {
    json[field]
        .as_u64()
        .unwrap_or_else(|| panic!("no number {field} in {json}"))
}

/// Every ctl command against a running cluster, through the binary and
/// its `--json` output: raw and transactional reads and writes, stores and
/// regions, operators (add-peer, transfer-leader, remove-peer) until the
/// scheduler shows them, a split, a log compaction that moves the
/// truncated index, a snapshot export whose files verify, equal digests,
/// and a typed failure for an unknown region.
#[test]
fn ctl_commands_against_a_running_cluster() {
    let mut cluster = Cluster::start(&["--schedule-interval-ms", "3600000"], &["--test-timers"]);
    cluster.wait_until_serving();

    // Raw commands.
    must_ctl(&mut cluster, &["put", "apple", "1"]);
    must_ctl(&mut cluster, &["put", "banana", "2"]);
    must_ctl(&mut cluster, &["put", "nut", "3"]);
    let got = must_ctl(&mut cluster, &["get", "apple"]);
    assert_eq!(got["value"], "1", "{got}");
    // Also "first", the key `wait_until_serving` wrote.
    let scanned = must_ctl(&mut cluster, &["scan", "a", "o"]);
    assert_eq!(
        scanned["pairs"].as_array().map(Vec::len),
        Some(4),
        "{scanned}"
    );
    must_ctl(&mut cluster, &["delete", "banana"]);
    let deleted = must_ctl(&mut cluster, &["get", "banana"]);
    assert_eq!(deleted["found"], false, "{deleted}");

    // Transactional commands.
    let committed = must_ctl(&mut cluster, &["txn", "put", "account", "100"]);
    assert!(
        number(&committed, "commit_ts") > number(&committed, "start_ts"),
        "{committed}"
    );
    let read = must_ctl(&mut cluster, &["txn", "get", "account"]);
    assert_eq!(read["value"], "100", "{read}");

    // The cluster's view.
    let stores = must_ctl(&mut cluster, &["stores"]);
    let store_ids: Vec<u64> = stores["stores"]
        .as_array()
        .map(|stores| {
            stores
                .iter()
                .filter_map(|store| store["id"].as_u64())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(store_ids.len(), 3, "{stores}");
    let region = must_ctl(&mut cluster, &["region", "apple"]);
    let region_id = number(&region, "id");
    let first_store = number(&region["leader"], "store_id");
    let others: Vec<u64> = store_ids
        .iter()
        .copied()
        .filter(|id| *id != first_store)
        .collect();
    let (second, third) = (others[0], others[1]);
    let (region_arg, second_arg, third_arg) =
        (region_id.to_string(), second.to_string(), third.to_string());

    // Operators: two peers added, leadership moved, a peer removed.
    for store in [&second_arg, &third_arg] {
        ctl_until(
            &mut cluster,
            &["add-peer", &region_arg, store],
            "add-peer accepted",
            |_| true,
        );
        let store_id: u64 = store.parse().expect("a store id");
        ctl_until(&mut cluster, &["regions"], "the added peer", |regions| {
            has_peer_on(regions, region_id, store_id)
        });
    }
    ctl_until(
        &mut cluster,
        &["transfer-leader", &region_arg, &second_arg],
        "transfer-leader accepted",
        |_| true,
    );
    ctl_until(&mut cluster, &["regions"], "the new leader", |regions| {
        region_in(regions, region_id).is_some_and(|region| region["leader"]["store_id"] == second)
    });
    ctl_until(
        &mut cluster,
        &["remove-peer", &region_arg, &third_arg],
        "remove-peer accepted",
        |_| true,
    );
    ctl_until(&mut cluster, &["regions"], "the removed peer", |regions| {
        !has_peer_on(regions, region_id, third)
    });

    // Split, then both halves are listed.
    let split = must_ctl(&mut cluster, &["split", &region_arg, "m"]);
    assert_eq!(split["right"]["start_key"], "m", "{split}");
    ctl_until(&mut cluster, &["regions"], "two regions", |regions| {
        regions["regions"].as_array().map(Vec::len) == Some(2)
    });

    // Compaction moves the leader's truncated index.
    let compacted = must_ctl(&mut cluster, &["compact", &region_arg]);
    assert!(
        number(&compacted, "truncated_index_after") > number(&compacted, "truncated_index_before"),
        "{compacted}"
    );

    // Snapshot export: files on disk whose sizes and CRCs match the meta.
    let export_dir = cluster.processes.path("export");
    let export_arg = export_dir.to_string_lossy().into_owned();
    let exported = must_ctl(
        &mut cluster,
        &["snapshot", "export", &region_arg, &export_arg],
    );
    assert_eq!(exported["verified"], true, "{exported}");
    assert!(
        Path::new(exported["meta"].as_str().unwrap_or_default()).is_file(),
        "{exported}"
    );
    let files = exported["files"].as_array().cloned().unwrap_or_default();
    assert!(!files.is_empty(), "{exported}");
    for file in files {
        let path = file["path"].as_str().unwrap_or_default();
        let (checksum, size) = raftstore::snap_manager::file_checksum(Path::new(path))
            .unwrap_or_else(|error| panic!("reading {path}: {error}"));
        assert_eq!(size, number(&file, "size"), "{file}");
        assert_eq!(format!("{checksum:08x}"), file["crc32"], "{file}");
    }

    // Both replicas of the region hold the same data.
    let digests = ctl_until(
        &mut cluster,
        &["digest", &region_arg],
        "equal applied indexes",
        |json| {
            let replicas = json["replicas"].as_array().cloned().unwrap_or_default();
            replicas.len() == 2 && replicas[0]["applied_index"] == replicas[1]["applied_index"]
        },
    );
    assert_eq!(
        digests["replicas"][0]["digest"], digests["replicas"][1]["digest"],
        "{digests}"
    );

    // An unknown region: a typed refusal, and the cluster goes on serving.
    let refused = run_ctl(&cluster, &["add-peer", "999999", &second_arg])
        .expect_err("no region 999999 exists");
    assert!(refused.contains("REGION_NOT_FOUND"), "{refused}");
    let got = must_ctl(&mut cluster, &["get", "nut"]);
    assert_eq!(got["value"], "3", "{got}");
    cluster.processes.check_alive();
}
