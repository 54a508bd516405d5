//! The playground (`make run`) works: its demo script runs to the end on a
//! real 3-store cluster, and the binary exits 0 with no terminal on stdin.

use std::process::{Command, Stdio};

use tinykv_tests::cluster::test_seed;
use tinykv_tests::playground::{Playground, DEMO_SCRIPT};

/// Every command of the built-in demo succeeds, and the restarted store catches up.
#[test]
fn demo_script_runs() {
    let playground = Playground::start(3, None, test_seed("playground::demo_script_runs"));
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
}

/// The admin commands work from the prompt: move leadership, remove and
/// add a peer, and `regions` lists every region with its range and epoch.
#[test]
fn admin_commands_work() {
    let playground = Playground::start(3, None, test_seed("playground::admin_commands_work"));
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
    let playground = Playground::start(3, None, test_seed("playground::bad_commands_are_errors"));
    for line in [
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
    ] {
        assert!(
            playground.execute(line).is_err(),
            "{line:?} should be an error"
        );
    }
    assert_eq!(playground.execute("quit"), Ok(None));
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
