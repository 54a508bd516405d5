//! End-to-end: the real `tinykv` binary as child processes — one scheduler
//! and three stores on free loopback ports — and a client talking gRPC to
//! them.
//!
//! Every child process and the data directory belong to a [`Processes`]
//! guard: when the test ends, also by a panic, its `Drop` kills and reaps
//! every child and removes the directory, and on a failure prints the tail
//! of each process's log (`<data>/<name>.log`).
//!
//! `cluster_commands.rs` drives the same binary through its `tinykv
//! cluster` commands instead.
//!
//! Run alone: `cargo test -p tinykv-tests --test e2e`.

mod cluster_commands;

// needs labs 1, 2AA, 2AB, 2AC, 2B, 2C, 3A, 3B, 3C: begin — these tests run a multi-process cluster: every store lab is on their path
use std::fs::OpenOptions;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use network::{AnyStoreClient, RemoteScheduler, DEFAULT_MAX_MESSAGE_SIZE};
use tinykv_tests::linearizability::{check_history, History, KvInput, KvOutput};

/// How long the cluster may take to serve its first write: the scheduler
/// starts, the stores register, the first store elects itself.
const STARTUP_DEADLINE: Duration = Duration::from_secs(15);

/// One child: its name, how it was started, and the process while it runs.
struct ChildProcess {
    name: String,
    args: Vec<String>,
    running: Option<Child>,
}

/// The children of one test, killed and reaped on drop (see the module docs).
struct Processes {
    children: Vec<ChildProcess>,
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

    /// Starts `tinykv ARGS...` as `name`, its output appended to
    /// `<name>.log`.
    fn spawn(&mut self, name: &str, args: Vec<String>) {
        let child = self.start_process(name, &args);
        self.children.push(ChildProcess {
            name: name.to_string(),
            args,
            running: Some(child),
        });
    }

    fn start_process(&self, name: &str, args: &[String]) -> Child {
        let log_path = self.path(&format!("{name}.log"));
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("opening a log file in the temp dir");
        let log_for_stderr = log
            .try_clone()
            .expect("duplicating a file handle (out of descriptors?)");
        Command::new(env!("CARGO_BIN_EXE_tinykv"))
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_for_stderr)
            .spawn()
            .unwrap_or_else(|error| panic!("starting {name} ({args:?}): {error}"))
    }

    fn child(&mut self, name: &str) -> &mut ChildProcess {
        self.children
            .iter_mut()
            .find(|child| child.name == name)
            .unwrap_or_else(|| panic!("no child named {name}"))
    }

    /// `kill -9`: SIGKILL (what `Child::kill` sends on Unix), then reap.
    fn kill(&mut self, name: &str) {
        if let Some(mut running) = self.child(name).running.take() {
            let _ = running.kill();
            let _ = running.wait();
        }
    }

    /// Starts a killed child again with the same arguments.
    fn restart(&mut self, name: &str) {
        let args = self.child(name).args.clone();
        let process = self.start_process(name, &args);
        self.child(name).running = Some(process);
    }

    /// Panics if a running child has exited: the test would only time out
    /// later.
    fn check_alive(&mut self) {
        for child in &mut self.children {
            if let Some(running) = &mut child.running {
                if let Ok(Some(status)) = running.try_wait() {
                    panic!("{} exited early with {status}", child.name);
                }
            }
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.children {
            if let Some(running) = &mut child.running {
                // Already exited is fine; kill then reap, so no zombie is left.
                let _ = running.kill();
                let _ = running.wait();
            }
        }
        if std::thread::panicking() {
            for child in &self.children {
                print_log_tail(
                    &child.name,
                    &self.dir.path().join(format!("{}.log", child.name)),
                );
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

/// A loopback address whose port was free a moment ago (the OS picks it;
/// the child binds it right after, the usual small race).
fn free_address() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("binding a loopback port");
    format!("127.0.0.1:{port}")
}

/// A scheduler and three stores as children, and a client of them.
struct Cluster {
    processes: Processes,
    runtime: tokio::runtime::Runtime,
    scheduler_address: String,
    /// Store `i + 1`'s address (children `store-1`..`store-3`).
    store_addresses: Vec<String>,
    client: AnyStoreClient,
}

impl Cluster {
    /// Starts the children; `store_flags` go to every `tinykv server`.
    fn start(scheduler_flags: &[&str], store_flags: &[&str]) -> Cluster {
        let mut processes = Processes::new();
        let scheduler_address = free_address();
        let mut args = vec![
            "scheduler".to_string(),
            "--addr".to_string(),
            scheduler_address.clone(),
            "--data-dir".to_string(),
            processes.path("scheduler").to_string_lossy().into_owned(),
        ];
        args.extend(scheduler_flags.iter().map(|flag| flag.to_string()));
        processes.spawn("scheduler", args);
        let mut store_addresses = Vec::new();
        for index in 1..=3 {
            let address = free_address();
            let mut args = vec![
                "server".to_string(),
                "--addr".to_string(),
                address.clone(),
                "--data-dir".to_string(),
                processes
                    .path(&format!("store-{index}"))
                    .to_string_lossy()
                    .into_owned(),
                "--scheduler".to_string(),
                scheduler_address.clone(),
            ];
            args.extend(store_flags.iter().map(|flag| flag.to_string()));
            processes.spawn(&format!("store-{index}"), args);
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
        Cluster {
            processes,
            runtime,
            scheduler_address,
            store_addresses,
            client,
        }
    }

    fn put(&mut self, key: &[u8], value: &[u8], deadline: Instant) {
        if let Err(error) = self
            .runtime
            .block_on(self.client.raw_put(key, value, deadline))
        {
            // A crashed child explains a timeout better than the timeout does.
            self.processes.check_alive();
            panic!("put {key:?}: {error}");
        }
    }

    fn get(&mut self, key: &[u8], deadline: Instant) -> Option<Vec<u8>> {
        match self.runtime.block_on(self.client.raw_get(key, deadline)) {
            Ok(value) => value,
            Err(error) => {
                self.processes.check_alive();
                panic!("get {key:?}: {error}");
            }
        }
    }

    /// Waits until the scheduler reports three replicas of the first region
    /// (it adds a peer on each other store) and returns the name of the
    /// child that runs the leader's store.
    fn wait_for_three_replicas(&mut self) -> String {
        let scheduler = RemoteScheduler::new(
            self.runtime.handle().clone(),
            &self.scheduler_address,
            DEFAULT_MAX_MESSAGE_SIZE,
        )
        .expect("a loopback address parses");
        let deadline = Instant::now() + Duration::from_secs(15);
        let leader_store_id = loop {
            let found = scheduler.get_region(b"").ok().flatten();
            if let Some((region, Some(leader))) = found {
                if region.peers.len() == 3 {
                    break leader.store_id;
                }
            }
            self.processes.check_alive();
            assert!(Instant::now() < deadline, "the region never got 3 replicas");
            std::thread::sleep(Duration::from_millis(100));
        };
        let leader_address = scheduler
            .get_store(leader_store_id)
            .expect("the leader's store is known")
            .store
            .address;
        let leader_index = self
            .store_addresses
            .iter()
            .position(|address| *address == leader_address)
            .expect("the leader is one of our stores");
        format!("store-{}", leader_index + 1)
    }

    /// Waits for the first write: a leader exists and serves.
    fn wait_until_serving(&mut self) {
        let started = Instant::now();
        self.put(b"first", b"1", started + STARTUP_DEADLINE);
        eprintln!("first write served after {:?}", started.elapsed());
    }
}

/// One scheduler and three stores as processes: raw puts, gets and a scan
/// through gRPC, then every process is killed and the directory removed.
#[test]
fn three_stores_serve_raw_requests_over_grpc() {
    let mut cluster = Cluster::start(&[], &[]);
    cluster.wait_until_serving();
    let deadline = Instant::now() + Duration::from_secs(10);
    for index in 0..20 {
        let key = format!("key-{index:02}");
        cluster.put(key.as_bytes(), key.as_bytes(), deadline);
    }
    for index in 0..20 {
        let key = format!("key-{index:02}");
        assert_eq!(
            cluster.get(key.as_bytes(), deadline),
            Some(key.clone().into_bytes()),
            "{key}"
        );
    }
    assert_eq!(cluster.get(b"missing", deadline), None);
    let scanned = cluster
        .runtime
        .block_on(cluster.client.raw_scan(b"key-", b"key-~", 100, deadline))
        .unwrap_or_else(|error| panic!("scan: {error}"));
    assert_eq!(scanned.len(), 20, "{scanned:?}");
    cluster.processes.check_alive();
}

/// The leader's store is killed with SIGKILL once the region has three
/// replicas: the two others elect a leader and keep serving every write
/// acknowledged before; the killed store restarts on its data directory
/// and rejoins; nothing acknowledged is lost.
#[test]
fn leader_killed_with_sigkill_and_restarted() {
    let mut cluster = Cluster::start(&["--schedule-interval-ms", "100"], &["--test-timers"]);
    cluster.wait_until_serving();
    let leader_name = cluster.wait_for_three_replicas();
    let deadline = Instant::now() + Duration::from_secs(15);
    for index in 0..20 {
        let key = format!("before-{index:02}");
        cluster.put(key.as_bytes(), b"v", deadline);
    }
    eprintln!("--- kill -9 {leader_name} (the leader)");
    cluster.processes.kill(&leader_name);

    let deadline = Instant::now() + Duration::from_secs(15);
    for index in 0..10 {
        let key = format!("during-{index:02}");
        cluster.put(key.as_bytes(), b"v", deadline);
    }
    eprintln!("--- restart {leader_name}");
    cluster.processes.restart(&leader_name);
    for index in 0..10 {
        let key = format!("after-{index:02}");
        cluster.put(key.as_bytes(), b"v", deadline);
    }
    for prefix in ["before", "during", "after"] {
        let count = if prefix == "before" { 20 } else { 10 };
        for index in 0..count {
            let key = format!("{prefix}-{index:02}");
            assert_eq!(
                cluster.get(key.as_bytes(), deadline),
                Some(b"v".to_vec()),
                "{key}"
            );
        }
    }
    cluster.processes.check_alive();
}

/// What one client thread of [`linearizable_history_across_sigkills`] does.
fn run_client(
    client_id: u64,
    client: AnyStoreClient,
    runtime: tokio::runtime::Handle,
    history: History,
    stop: Arc<AtomicBool>,
) -> usize {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(client_id);
    let mut operations = 0;
    let mut sequence = 0u64;
    while !stop.load(Ordering::Relaxed) {
        // Writes go to this client's own keys with a value never written
        // before, so a put applied twice (sent again to another store after
        // a timeout) cannot be told apart from once; reads go to anyone's.
        let deadline = Instant::now() + Duration::from_secs(5);
        if rng.gen_bool(0.5) {
            sequence += 1;
            let key = format!("c{client_id}-{}", rng.gen_range(0..3)).into_bytes();
            let value = format!("c{client_id}-{sequence}").into_bytes();
            let pending = history.call(
                client_id,
                KvInput::Put {
                    key: key.clone(),
                    value: value.clone(),
                },
            );
            match runtime.block_on(client.raw_put(&key, &value, deadline)) {
                Ok(()) => pending.finish(KvOutput::Done),
                // It may have been applied: an unknown outcome.
                Err(_) => pending.finish(KvOutput::Unknown),
            }
        } else {
            let key = format!("c{}-{}", rng.gen_range(0..3), rng.gen_range(0..3)).into_bytes();
            let pending = history.call(client_id, KvInput::Get { key: key.clone() });
            match runtime.block_on(client.raw_get(&key, deadline)) {
                Ok(value) => pending.finish(KvOutput::Value(value)),
                Err(_) => pending.finish(KvOutput::Unknown),
            }
        }
        operations += 1;
    }
    operations
}

/// Three clients read and write over gRPC while the leader's store is
/// killed with SIGKILL and restarted, then a follower's: the history the
/// clients saw is linearizable (Wing & Gong checker, the one the lab
/// workloads use), and writes are served again at the end.
#[test]
fn linearizable_history_across_sigkills() {
    let mut cluster = Cluster::start(&["--schedule-interval-ms", "100"], &["--test-timers"]);
    cluster.wait_until_serving();
    let leader_name = cluster.wait_for_three_replicas();

    let history = History::new();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..3)
        .map(|client_id| {
            let client = cluster.client.clone();
            let runtime = cluster.runtime.handle().clone();
            let history = history.clone();
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || run_client(client_id, client, runtime, history, stop))
        })
        .collect();

    std::thread::sleep(Duration::from_millis(500));
    eprintln!("--- kill -9 {leader_name} (the leader)");
    cluster.processes.kill(&leader_name);
    std::thread::sleep(Duration::from_millis(1500));
    eprintln!("--- restart {leader_name}");
    cluster.processes.restart(&leader_name);
    std::thread::sleep(Duration::from_millis(1000));
    let follower_name = (1..=3)
        .map(|index| format!("store-{index}"))
        .find(|name| *name != leader_name)
        .expect("three stores");
    eprintln!("--- kill -9 {follower_name}");
    cluster.processes.kill(&follower_name);
    std::thread::sleep(Duration::from_millis(1000));
    eprintln!("--- restart {follower_name}");
    cluster.processes.restart(&follower_name);
    std::thread::sleep(Duration::from_millis(1000));
    stop.store(true, Ordering::Relaxed);
    let operations: usize = clients
        .into_iter()
        .map(|client| client.join().expect("a client thread panicked"))
        .sum();
    eprintln!("--- {operations} client operations recorded");

    let verdict = check_history(&history, Duration::from_secs(10));
    assert!(verdict.is_ok(), "{verdict}");
    let deadline = Instant::now() + Duration::from_secs(10);
    cluster.put(b"last", b"1", deadline);
    assert_eq!(cluster.get(b"last", deadline), Some(b"1".to_vec()));
    cluster.processes.check_alive();
}
// needs labs: end
