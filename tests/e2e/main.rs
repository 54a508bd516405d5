//! End-to-end: the real `tinykv` binary as child processes — one scheduler
//! and three stores on free loopback ports — and a client talking gRPC to
//! them.
//!
//! Every child process and the data directory belong to a [`Processes`]
//! guard: when the test ends, also by a panic, its `Drop` kills and reaps
//! every child and removes the directory, and on a failure prints the tail
//! of each process's log (`<data>/<name>.log`).
//!
//! Run alone: `cargo test -p tinykv-tests --test e2e`.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use network::{AnyStoreClient, DEFAULT_MAX_MESSAGE_SIZE};

/// How long the cluster may take to serve its first write: the scheduler
/// starts, the stores register, the first store elects itself.
const STARTUP_DEADLINE: Duration = Duration::from_secs(15);

/// The children of one test, killed and reaped on drop (see the module docs).
struct Processes {
    children: Vec<(String, Child)>,
    dir: tempfile::TempDir,
}

impl Processes {
    fn new() -> Processes {
        Processes {
            children: Vec::new(),
            dir: tempfile::Builder::new()
                .prefix("tinykv-e2e-")
                .tempdir()
                .expect("creating a temp dir for the cluster (is /tmp writable?)"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts `tinykv ARGS...` as `name`, its output in `<name>.log`.
    fn spawn(&mut self, name: &str, args: &[&str]) {
        let log_path = self.path(&format!("{name}.log"));
        let log = File::create(&log_path).expect("creating a log file in the temp dir");
        let log_for_stderr = log
            .try_clone()
            .expect("duplicating a file handle (out of descriptors?)");
        let child = Command::new(env!("CARGO_BIN_EXE_tinykv"))
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_for_stderr)
            .spawn()
            .unwrap_or_else(|error| panic!("starting {name} ({args:?}): {error}"));
        self.children.push((name.to_string(), child));
    }

    /// Panics if a child has exited: the test would only time out later.
    fn check_alive(&mut self) {
        for (name, child) in &mut self.children {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{name} exited early with {status}");
            }
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            // Already exited is fine; kill then reap, so no zombie is left.
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            for (name, _) in &self.children {
                print_log_tail(name, &self.dir.path().join(format!("{name}.log")));
            }
        }
        // The TempDir removes the directory after this.
    }
}

fn print_log_tail(name: &str, path: &Path) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(40)..];
    eprintln!("--- last lines of {name} ({}):", path.display());
    for line in tail {
        eprintln!("{line}");
    }
}

/// A loopback port that was free a moment ago (the OS picks it; the child
/// binds it right after, the usual small race).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("binding a loopback port")
}

/// One scheduler and three stores as processes: raw puts, gets and a scan
/// through gRPC, then every process is killed and the directory removed.
#[test]
fn three_stores_serve_raw_requests_over_grpc() {
    let mut processes = Processes::new();
    let scheduler_address = format!("127.0.0.1:{}", free_port());
    let scheduler_dir = processes.path("scheduler");
    processes.spawn(
        "scheduler",
        &[
            "scheduler",
            "--addr",
            &scheduler_address,
            "--data-dir",
            &scheduler_dir.to_string_lossy(),
        ],
    );
    let mut store_addresses = Vec::new();
    for index in 1..=3 {
        let address = format!("127.0.0.1:{}", free_port());
        let data_dir = processes.path(&format!("store-{index}"));
        processes.spawn(
            &format!("store-{index}"),
            &[
                "server",
                "--addr",
                &address,
                "--data-dir",
                &data_dir.to_string_lossy(),
                "--scheduler",
                &scheduler_address,
            ],
        );
        store_addresses.push(address);
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("building the client's tokio runtime");
    let client = {
        let _entered = runtime.enter();
        AnyStoreClient::new(
            &store_addresses,
            DEFAULT_MAX_MESSAGE_SIZE,
            Duration::from_secs(3),
        )
        .expect("loopback addresses parse")
    };

    let started = Instant::now();
    let first = runtime.block_on(client.raw_put(b"first", b"1", started + STARTUP_DEADLINE));
    if let Err(error) = first {
        // A crashed child explains a timeout better than the timeout does.
        processes.check_alive();
        panic!("the cluster did not serve its first write: {error}");
    }
    eprintln!("first write served after {:?}", started.elapsed());

    let deadline = Instant::now() + Duration::from_secs(10);
    for index in 0..20 {
        let key = format!("key-{index:02}");
        runtime
            .block_on(client.raw_put(key.as_bytes(), key.as_bytes(), deadline))
            .unwrap_or_else(|error| panic!("put {key}: {error}"));
    }
    for index in 0..20 {
        let key = format!("key-{index:02}");
        let value = runtime
            .block_on(client.raw_get(key.as_bytes(), deadline))
            .unwrap_or_else(|error| panic!("get {key}: {error}"));
        assert_eq!(value, Some(key.clone().into_bytes()), "{key}");
    }
    let missing = runtime
        .block_on(client.raw_get(b"missing", deadline))
        .unwrap_or_else(|error| panic!("get missing: {error}"));
    assert_eq!(missing, None);
    let scanned = runtime
        .block_on(client.raw_scan(b"key-", b"key-~", 100, deadline))
        .unwrap_or_else(|error| panic!("scan: {error}"));
    assert_eq!(scanned.len(), 20, "{scanned:?}");
    processes.check_alive();
}
