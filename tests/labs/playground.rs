//! The playground (`make run`) works: its demo script runs to the end on a
//! real 3-store cluster, and the binary exits 0 with no terminal on stdin.

// needs labs 1, 2AA, 2AB, 2AC, 2B, 2C, 3A, 3B, 3C, 4A, 4B, 4C: begin — the playground runs a whole cluster with transactions: every lab is on its path
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use proto::kvrpcpb::{Context, KvPrewriteRequest, Mutation, Op};
use scheduler::SchedulerService;
use storage::mvcc::encode_user_key;
use tinykv_tests::cluster::test_seed;
use tinykv_tests::playground::{Playground, DEMO_SCRIPT};
use tinykv_tests::txn::TxnClient;

/// A 3-store playground for the test `name` (its seed printed under `playground::name`).
fn start(name: &str) -> Playground {
    Playground::start(3, None, test_seed(&format!("playground::{name}")))
}

/// Runs `line`, failing the test if it is an error.
fn run(playground: &Playground, line: &str) -> String {
    playground
        .execute(line)
        .unwrap_or_else(|error| panic!("{line:?} failed: {error}"))
        .unwrap_or_default()
}

/// Every line is an error (with a hint), not a panic.
fn assert_errors(playground: &Playground, lines: &[&str]) {
    for line in lines {
        assert!(
            playground.execute(line).is_err(),
            "{line:?} should be an error"
        );
    }
}

/// Prewrites `keys` (the first is the primary; all in one region) for a
/// transaction that then dies: its locks stay, with a TTL of 0 ms, so they are expired at
/// once. Returns its start_ts.
fn crashed_prewrite(playground: &Playground, keys: &[&str]) -> u64 {
    let cluster = playground.cluster();
    let start_ts = cluster.scheduler().tso().expect("a timestamp");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let region = cluster
            .region_for_key(&encode_user_key(keys[0].as_bytes()))
            .expect("a region holds the key");
        let leader = cluster.wait_leader(region.id, Duration::from_secs(10));
        let server = cluster.server(leader.store_id).expect("the leader runs");
        let mut context = Context::new();
        context.region_id = region.id;
        context.region_epoch = Some(region.region_epoch().clone()).into();
        context.peer = Some(leader).into();
        let mut request = KvPrewriteRequest::new();
        request.context = Some(context).into();
        request.primary_lock = keys[0].as_bytes().to_vec();
        request.start_version = start_ts;
        request.lock_ttl = 0;
        request.mutations = keys
            .iter()
            .map(|key| {
                let mut mutation = Mutation::new();
                mutation.set_op(Op::Put);
                mutation.key = key.as_bytes().to_vec();
                mutation.value = b"from a crashed transaction".to_vec();
                mutation
            })
            .collect();
        let response = server.kv_prewrite(&request);
        if response.region_error.is_none() {
            assert!(response.errors.is_empty(), "{:?}", response.errors);
            return start_ts;
        }
        assert!(Instant::now() < deadline, "{:?}", response.region_error);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every command of the built-in demo succeeds, and the restarted store catches up.
#[test]
fn demo_script_runs() {
    let playground = start("demo_script_runs");
    let mut outputs = Vec::new();
    for line in DEMO_SCRIPT.lines() {
        match playground.execute(line) {
            Ok(Some(output)) => outputs.push(output),
            Ok(None) => break,
            Err(error) => panic!("demo command {line:?} failed: {error}"),
        }
    }
    let all = outputs.join("\n");
    assert!(all.contains("apple = red"), "{all}");
    assert!(all.contains("cherry = dark red"), "{all}");
    assert!(
        all.contains("store 3 caught up: cherry = dark red"),
        "{all}"
    );
    assert!(all.contains("split: region 1 [-, c) and region"), "{all}");
    assert!(all.contains("ok: date = brown"), "{all}");
    assert!(all.contains("at commit_ts"), "{all}");
    assert!(all.contains("kiwi = brown (at start_ts"), "{all}");
    assert!(all.contains("kiwi not found"), "{all}");
    assert!(all.contains("0 locks"), "{all}");
}

/// The admin commands work from the prompt: move leadership, remove and
/// add a peer, and `regions` lists every region with its range and epoch.
#[test]
fn admin_commands_work() {
    let playground = start("admin_commands_work");
    let run = |line: &str| {
        playground
            .execute(line)
            .unwrap_or_else(|error| panic!("{line:?} failed: {error}"))
            .unwrap_or_default()
    };
    run("put a 1");
    run("transfer-leader 1 2");
    run("remove-peer 1 3");
    run("add-peer 1 3");
    run("split m");
    let regions = run("regions");
    assert!(regions.contains("[-, m)"), "{regions}");
    assert!(regions.contains("[m, -)"), "{regions}");
    assert!(regions.contains("conf_ver 3"), "{regions}");
    assert!(playground.execute("split").is_err());
    assert!(playground.execute("add-peer 1 9").is_err());
    assert!(playground.execute("remove-peer x 1").is_err());
}

/// Bad commands are errors with a hint, never panics.
#[test]
fn bad_commands_are_errors() {
    let playground = start("bad_commands_are_errors");
    assert_errors(
        &playground,
        &[
            "frobnicate",
            "put",
            "get",
            "stop 9",
            "stop x",
            "partition a,b",
            "scan a",
            "log maybe",
            "split",
            "compact",
            "transfer-leader 1",
            "add-peer one 2",
        ],
    );
    assert_eq!(playground.execute("quit"), Ok(None));
}

/// Bad transaction commands are errors: usage, no open transaction, a second `begin`.
#[test]
fn bad_transaction_commands_are_errors() {
    let playground = start("bad_transaction_commands_are_errors");
    assert_errors(
        &playground,
        &[
            "tput k v",
            "tget k",
            "commit",
            "rollback",
            "begin now",
            "locks a",
        ],
    );
    run(&playground, "begin");
    let second = playground.execute("begin");
    assert!(
        matches!(&second, Err(error) if error.contains("still open")),
        "{second:?}"
    );
    assert_errors(
        &playground,
        &["tput", "tput k", "tget", "tget a b", "commit now"],
    );
    run(&playground, "rollback");
}

/// A transaction from the prompt: reads its own writes, commits both keys at one commit_ts, and sees no raw data (nor raw reads its data).
#[test]
fn transaction_commands_commit_and_read() {
    let playground = start("transaction_commands_commit_and_read");
    run(&playground, "put raw 1");
    assert!(run(&playground, "begin").starts_with("begin: transaction"));
    run(&playground, "tput apple green");
    run(&playground, "tput kiwi green and fuzzy");
    let own = run(&playground, "tget apple");
    assert_eq!(own, "apple = green (this transaction's own write)");
    let raw = run(&playground, "tget raw");
    assert!(raw.starts_with("raw not found (at start_ts"), "{raw}");
    let committed = run(&playground, "commit");
    assert!(
        committed.contains("at commit_ts") && committed.contains("(2 keys)"),
        "{committed}"
    );
    assert!(
        playground.execute("commit").is_err(),
        "the transaction is over"
    );

    run(&playground, "begin");
    let read = run(&playground, "tget kiwi");
    assert!(
        read.starts_with("kiwi = green and fuzzy (at start_ts"),
        "{read}"
    );
    run(&playground, "tput kiwi brown");
    assert!(run(&playground, "rollback").starts_with("rolled back transaction"));
    assert!(
        playground.execute("tget kiwi").is_err(),
        "rolled back: no open transaction"
    );

    run(&playground, "begin");
    let after_rollback = run(&playground, "tget kiwi");
    assert!(
        after_rollback.starts_with("kiwi = green and fuzzy (at start_ts"),
        "the rolled-back write never happened: {after_rollback}"
    );
    assert!(run(&playground, "commit").contains("read-only"));
    assert_eq!(run(&playground, "get apple"), "apple not found");
}

/// `make run` with stdin not a terminal runs the demo and exits 0.
#[test]
fn binary_runs_demo_without_terminal() {
    let output = Command::new(env!("CARGO_BIN_EXE_playground"))
        .stdin(Stdio::null())
        .output()
        .expect("run the playground binary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("store 3 caught up"), "{stdout}");
}

/// An interactive transaction reads at its start timestamp, and loses a write conflict to a transaction that committed after it began.
#[test]
fn transaction_conflict_does_not_commit() {
    let playground = start("transaction_conflict_does_not_commit");
    run(&playground, "begin");
    let cluster = playground.cluster();
    let client = TxnClient::new(cluster, cluster.scheduler().as_ref());
    let mut other = client.begin().expect("begin");
    other.put(b"k", b"other");
    other.commit().expect("the other transaction commits");

    let read = run(&playground, "tget k");
    assert!(read.starts_with("k not found (at start_ts"), "{read}");
    run(&playground, "tput k mine");
    let commit = playground.execute("commit");
    assert!(
        matches!(&commit, Err(error) if error.contains("write conflict") && error.contains("did not commit")),
        "{commit:?}"
    );
    run(&playground, "begin");
    let read = run(&playground, "tget k");
    assert!(read.starts_with("k = other (at start_ts"), "{read}");
    run(&playground, "rollback");
}

/// `locks` shows a crashed transaction's locks (key, primary, start_ts, ttl, kind); `tget` resolves them and reads the old value.
#[test]
fn locks_shows_crashed_locks_and_tget_resolves_them() {
    let playground = start("locks_shows_crashed_locks_and_tget_resolves_them");
    run(&playground, "begin");
    run(&playground, "tput k old");
    run(&playground, "commit");
    assert_eq!(run(&playground, "locks"), "0 locks");

    let start_ts = crashed_prewrite(&playground, &["k", "m"]);
    let locks = run(&playground, "locks");
    assert!(locks.starts_with("2 locks"), "{locks}");
    assert!(
        locks.contains(&format!(
            "k: primary k, start_ts {start_ts}, ttl 0 ms (expired), kind Put"
        )),
        "{locks}"
    );
    assert!(locks.contains("m: primary k,"), "{locks}");
    let range = run(&playground, "locks a l");
    assert!(
        range.starts_with("1 lock\n") && !range.contains("m: "),
        "{range}"
    );
    assert!(run(&playground, "locks l -").starts_with("1 lock\n"));

    run(&playground, "begin");
    let read = run(&playground, "tget k");
    assert!(read.starts_with("k = old (at start_ts"), "{read}");
    run(&playground, "rollback");
    assert_eq!(
        run(&playground, "locks"),
        "0 locks",
        "resolving the primary's transaction cleared its locks in the region"
    );
}
// needs labs: end
