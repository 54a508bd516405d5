//! `tinykv cluster up|kill|start|status|down` through the real binary, as a
//! user types them: the commands' own processes start and stop the
//! cluster, the test only reads the state file and talks gRPC to the
//! stores.
//!
//! The cluster's processes are not this test's children (they outlive the
//! `cluster up` that started them), so [`ClusterDirectory`]'s `Drop` runs
//! `cluster down` and then SIGKILLs every pid the state file names that
//! still runs, before the temp dir goes; on a failure it prints the tail
//! of every log.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use network::{AnyStoreClient, DEFAULT_MAX_MESSAGE_SIZE};
use tinykv_tests::local_cluster::{ClusterState, LocalCluster};

/// A temp dir holding one `tinykv cluster`, torn down on drop (see the
/// module docs).
struct ClusterDirectory {
    dir: tempfile::TempDir,
}

impl ClusterDirectory {
    fn new() -> ClusterDirectory {
        ClusterDirectory {
            dir: tempfile::Builder::new()
                .prefix("tinykv-cluster-e2e-")
                .tempdir()
                .expect("creating a temp dir for the cluster (is /tmp writable?)"),
        }
    }

    /// Runs `tinykv cluster ARGS... --dir DIR` and returns its output.
    fn run(&self, args: &[&str]) -> Output {
        let output = Command::new(env!("CARGO_BIN_EXE_tinykv"))
            .arg("cluster")
            .args(args)
            .arg("--dir")
            .arg(self.dir.path())
            .output()
            .unwrap_or_else(|error| panic!("running tinykv cluster {args:?}: {error}"));
        eprintln!(
            "--- tinykv cluster {}: {}\n{}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Runs the command and panics unless it succeeded.
    fn must_run(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(output.status.success(), "tinykv cluster {args:?} failed");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Which processes run now, by name.
    fn alive(&self) -> Vec<(String, bool)> {
        let mut cluster = LocalCluster::open(self.dir.path()).expect("the state file loads");
        cluster
            .status()
            .into_iter()
            .map(|status| (status.record.name, status.alive))
            .collect()
    }

    fn is_alive(&self, name: &str) -> bool {
        self.alive()
            .into_iter()
            .any(|(process, alive)| process == name && alive)
    }
}

impl Drop for ClusterDirectory {
    fn drop(&mut self) {
        let _ = Command::new(env!("CARGO_BIN_EXE_tinykv"))
            .args(["cluster", "down", "--grace-secs", "2", "--dir"])
            .arg(self.dir.path())
            .output();
        if let Ok(mut cluster) = LocalCluster::open(self.dir.path()) {
            for name in cluster.state().names() {
                // A no-op for a process already gone (or a pid reused by
                // another program: its command line differs).
                let _ = cluster.kill(&name);
            }
            if std::thread::panicking() {
                for name in cluster.state().names() {
                    let path = cluster.log_path(&name);
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    let lines: Vec<&str> = text.lines().collect();
                    eprintln!("--- last lines of {}:", path.display());
                    for line in &lines[lines.len().saturating_sub(30)..] {
                        eprintln!("{line}");
                    }
                }
            }
        }
    }
}

/// `cluster up` starts 3 stores that serve; `kill 2` and `start 2` take
/// store-2 down and back on its data (a second `start` and a second `up`
/// are refused while it runs); with store-3 then killed, a write needs
/// store-2's vote, so it caught up; `down` stops every process cleanly.
#[test]
fn cluster_commands_drill_a_store_kill_and_restart() {
    let cluster = ClusterDirectory::new();
    let printed = cluster.must_run(&["up", "--stores", "3"]);
    assert!(printed.contains("ctl --scheduler"), "{printed}");
    let state = ClusterState::load(cluster.dir.path()).expect("up wrote the state file");
    assert_eq!(state.stores().count(), 3);
    assert!(cluster.alive().iter().all(|(_, alive)| *alive));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("building the client's tokio runtime");
    let addresses: Vec<String> = state
        .stores()
        .map(|record| record.address.clone())
        .collect();
    let client = {
        let _entered = runtime.enter();
        AnyStoreClient::new(&addresses, DEFAULT_MAX_MESSAGE_SIZE, Duration::from_secs(3))
            .expect("loopback addresses parse")
    };
    let put = |key: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        runtime
            .block_on(client.raw_put(key.as_bytes(), b"v", deadline))
            .unwrap_or_else(|error| panic!("put {key}: {error}"));
    };

    put("before");
    cluster.must_run(&["kill", "2"]);
    assert!(!cluster.is_alive("store-2"), "kill 2 left store-2 running");
    put("while-store-2-is-down");

    cluster.must_run(&["start", "2"]);
    assert!(cluster.is_alive("store-2"));
    assert!(
        !cluster.run(&["start", "2"]).status.success(),
        "a second start must be refused"
    );
    assert!(
        !cluster.run(&["up"]).status.success(),
        "up on a running cluster must be refused"
    );
    cluster.must_run(&["status"]);

    cluster.must_run(&["kill", "store-3"]);
    // Only store-1 and store-2 run: this write commits only with
    // store-2's acknowledgement, so its log holds everything before it.
    put("after-restart");
    let deadline = Instant::now() + Duration::from_secs(20);
    for key in ["before", "while-store-2-is-down", "after-restart"] {
        let value = runtime
            .block_on(client.raw_get(key.as_bytes(), deadline))
            .unwrap_or_else(|error| panic!("get {key}: {error}"));
        assert_eq!(value, Some(b"v".to_vec()), "{key}");
    }

    let printed = cluster.must_run(&["down", "--grace-secs", "20"]);
    assert!(
        !printed.contains("killed"),
        "a process needed SIGKILL: {printed}"
    );
    assert!(
        cluster.alive().iter().all(|(_, alive)| !alive),
        "processes survived down: {:?}",
        cluster.alive()
    );
}
