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
