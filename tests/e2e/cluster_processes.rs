//! The child processes of an end-to-end test: [`Processes`] (spawn, kill,
//! restart, and the `Drop` that kills and reaps every child and removes the
//! directory, also when the test panics) and [`Cluster`] (one scheduler and
//! three stores of the `tinykv` binary on free loopback ports, with a raw
//! client of them). Shared by every test module of the `e2e` target.

use std::fs::OpenOptions;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use network::{AnyStoreClient, RemoteScheduler, DEFAULT_MAX_MESSAGE_SIZE};

/// How long the cluster may take to serve its first write: the scheduler
/// starts, the stores register, the first store elects itself.
pub const STARTUP_DEADLINE: Duration = Duration::from_secs(15);

/// One child: its name, how it was started, and the process while it runs.
pub struct ChildProcess {
    name: String,
    args: Vec<String>,
    running: Option<Child>,
}

/// The children of one test, killed and reaped on drop (see the module docs).
pub struct Processes {
    children: Vec<ChildProcess>,
    dir: tempfile::TempDir,
}

impl Processes {
    pub fn new() -> Processes {
        Processes {
            children: Vec::new(),
            dir: tempfile::Builder::new()
                .prefix("tinykv-e2e-")
                .tempdir()
                .expect("creating a temp dir for the cluster (is /tmp writable?)"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts `tinykv ARGS...` as `name`, its output appended to
    /// `<name>.log`.
    pub fn spawn(&mut self, name: &str, args: Vec<String>) {
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
    pub fn kill(&mut self, name: &str) {
        if let Some(mut running) = self.child(name).running.take() {
            let _ = running.kill();
            let _ = running.wait();
        }
    }

    /// Starts a killed child again with the same arguments.
    pub fn restart(&mut self, name: &str) {
        let args = self.child(name).args.clone();
        let process = self.start_process(name, &args);
        self.child(name).running = Some(process);
    }

    /// Panics if a running child has exited: the test would only time out
    /// later.
    pub fn check_alive(&mut self) {
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
pub fn free_address() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("binding a loopback port");
    format!("127.0.0.1:{port}")
}

/// A scheduler and three stores as children, and a client of them.
pub struct Cluster {
    pub processes: Processes,
    pub runtime: tokio::runtime::Runtime,
    pub scheduler_address: String,
    /// Store `i + 1`'s address (children `store-1`..`store-3`).
    pub store_addresses: Vec<String>,
    pub client: AnyStoreClient,
}

impl Cluster {
    /// Starts the children; `store_flags` go to every `tinykv server`.
    pub fn start(scheduler_flags: &[&str], store_flags: &[&str]) -> Cluster {
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

    pub fn put(&mut self, key: &[u8], value: &[u8], deadline: Instant) {
        if let Err(error) = self
            .runtime
            .block_on(self.client.raw_put(key, value, deadline))
        {
            // A crashed child explains a timeout better than the timeout does.
            self.processes.check_alive();
            panic!("put {key:?}: {error}");
        }
    }

    pub fn get(&mut self, key: &[u8], deadline: Instant) -> Option<Vec<u8>> {
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
    pub fn wait_for_three_replicas(&mut self) -> String {
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
    pub fn wait_until_serving(&mut self) {
        let started = Instant::now();
        self.put(b"first", b"1", started + STARTUP_DEADLINE);
        eprintln!("first write served after {:?}", started.elapsed());
    }
}
