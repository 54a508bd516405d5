//! # local_cluster: a scheduler and N stores as real processes on one machine
//!
//! What `tinykv cluster up|down|kill|start|status` (and `make cluster`) run,
//! and what the cluster benchmark starts. [`LocalCluster`] owns one
//! directory:
//!
//! ```text
//! DIR/cluster.toml      the state file (ClusterState): binary, addresses, pids, arguments
//! DIR/scheduler/        the scheduler's data;   DIR/scheduler.log its log
//! DIR/store-N/          store N's engines;      DIR/store-N.log   its log
//! ```
//!
//! Every process is the `tinykv` binary (`tinykv scheduler`, `tinykv
//! server`), started detached (its own process group, logs in files) so it
//! outlives the command that started it; the state file is how the next
//! command finds it. Ports are loopback ports chosen free at start (or
//! consecutive from a base port), and a process always restarts on the
//! address and data directory it had, so a store recovers from its data
//! after any kill.
//!
//! Runs on the caller's thread; the readiness checks are gRPC calls on a
//! tokio runtime the caller provides (`RemoteScheduler` blocks on it, so
//! never call from a runtime thread).
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`LocalCluster`]: up, down, kill, start, status, readiness |
//! | `state.rs` | [`ClusterState`]: the state file |
//! | `process.rs` | detached spawn, liveness through `/proc`, signals |
//! | `errors.rs` | [`LocalClusterError`] |

mod errors;
mod process;
mod state;

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use network::{AnyStoreClient, RemoteScheduler, DEFAULT_MAX_MESSAGE_SIZE};
use tokio::runtime::Handle;

pub use errors::{LocalClusterError, Result};
pub use state::{ClusterState, ProcessRecord, STATE_FILE_NAME};

/// How long `cluster up` waits for a leader with its replicas and a
/// served write (generous: the machine may be busy compiling).
pub const STARTUP_DEADLINE: Duration = Duration::from_secs(60);

/// How long `cluster down` waits after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// How long a process may take to vanish after SIGKILL.
const KILL_DEADLINE: Duration = Duration::from_secs(10);

/// How often the waits look again.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The key `cluster up` writes to prove the cluster serves (left in
/// place: a scan shows it, which is how a user can see the check ran).
pub const READY_CHECK_KEY: &[u8] = b"tinykv-cluster-ready-check";

/// How `cluster up` starts a new cluster.
#[derive(Debug, Clone)]
pub struct LocalClusterOptions {
    /// The `tinykv` binary every process runs.
    pub binary: PathBuf,
    /// The cluster's directory (created when missing).
    pub dir: PathBuf,
    /// How many stores.
    pub stores: usize,
    /// The scheduler's port; store N gets `base_port + N`. None: free
    /// ports chosen at start.
    pub base_port: Option<u16>,
    /// Give the stores the test cluster's fast raft timers and the
    /// scheduler a 100 ms schedule tick (`tinykv server --test-timers`):
    /// a local cluster is for drills, where fast failover matters more
    /// than idle CPU.
    pub fast_timers: bool,
    /// How long to wait until the cluster serves.
    pub startup_deadline: Duration,
}

impl LocalClusterOptions {
    /// Three stores with fast timers on free ports, in `dir`.
    pub fn new(binary: PathBuf, dir: PathBuf) -> LocalClusterOptions {
        LocalClusterOptions {
            binary,
            dir,
            stores: 3,
            base_port: None,
            fast_timers: true,
            startup_deadline: STARTUP_DEADLINE,
        }
    }
}

/// What `cluster up` found once the cluster served.
#[derive(Debug, Clone)]
pub struct ServingReport {
    /// The process running the first region's leader.
    pub leader: String,
    /// How many replicas the first region has.
    pub replicas: usize,
    /// How long it took from the start of the wait.
    pub elapsed: Duration,
}

/// One line of `cluster status`.
#[derive(Debug, Clone)]
pub struct ProcessStatus {
    /// The process as recorded.
    pub record: ProcessRecord,
    /// Whether it runs now.
    pub alive: bool,
}

/// How `cluster down` ended a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopOutcome {
    /// It was not running.
    AlreadyStopped,
    /// It stopped after SIGTERM.
    Stopped,
    /// It outlived the grace period and got SIGKILL.
    Killed,
}

/// A local multi-process cluster (see the module docs).
pub struct LocalCluster {
    dir: PathBuf,
    state: ClusterState,
    /// The processes this value started itself, reaped once they end so
    /// that none stays a zombie of a long-lived caller (the benchmark).
    children: HashMap<String, Child>,
}

impl LocalCluster {
    /// The cluster recorded in `dir` (`NoCluster` when there is none).
    pub fn open(dir: &Path) -> Result<LocalCluster> {
        Ok(LocalCluster {
            dir: dir.to_path_buf(),
            state: ClusterState::load(dir)?,
            children: HashMap::new(),
        })
    }

    /// Starts the cluster and waits until it serves (see
    /// [`LocalCluster::wait_until_serving`]). A directory with a stopped
    /// cluster restarts it from its data, on its addresses (the store
    /// count of `options` is then ignored); one with live processes is
    /// refused. If the cluster does not come up in time, every process
    /// started is killed and the error returned; the directory stays for
    /// its logs.
    pub fn up(
        options: &LocalClusterOptions,
        runtime: &Handle,
    ) -> Result<(LocalCluster, ServingReport)> {
        if options.stores == 0 {
            return Err(LocalClusterError::InvalidOption(
                "a cluster needs at least one store".to_string(),
            ));
        }
        std::fs::create_dir_all(&options.dir).map_err(|source| LocalClusterError::Io {
            what: format!("creating {}", options.dir.display()),
            source,
        })?;
        let mut cluster = match LocalCluster::open(&options.dir) {
            Ok(mut existing) => {
                let alive: Vec<String> = existing
                    .status()
                    .into_iter()
                    .filter(|status| status.alive)
                    .map(|status| status.record.name)
                    .collect();
                if !alive.is_empty() {
                    return Err(LocalClusterError::AlreadyRunning {
                        dir: options.dir.clone(),
                        names: alive,
                    });
                }
                existing.state.binary = options.binary.clone();
                existing
            }
            Err(LocalClusterError::NoCluster { .. }) => LocalCluster {
                dir: options.dir.clone(),
                state: LocalCluster::new_state(options)?,
                children: HashMap::new(),
            },
            Err(error) => return Err(error),
        };
        for name in cluster.state.names() {
            cluster.spawn(&name)?;
        }
        let deadline = Instant::now() + options.startup_deadline;
        match cluster.wait_until_serving(runtime, deadline) {
            Ok(report) => Ok((cluster, report)),
            Err(error) => {
                for name in cluster.state.names() {
                    let _ = cluster.kill(&name);
                }
                Err(error)
            }
        }
    }

    /// The records of a new cluster: addresses, data directories, arguments.
    fn new_state(options: &LocalClusterOptions) -> Result<ClusterState> {
        let addresses = match options.base_port {
            Some(base) => (0..=options.stores)
                .map(|offset| {
                    u16::try_from(offset)
                        .ok()
                        .and_then(|offset| base.checked_add(offset))
                        .map(|port| format!("127.0.0.1:{port}"))
                        .ok_or_else(|| {
                            LocalClusterError::InvalidOption(format!(
                                "base port {base} leaves no room for {} stores",
                                options.stores
                            ))
                        })
                })
                .collect::<Result<Vec<_>>>()?,
            None => free_addresses(options.stores + 1)?,
        };
        let dir = &options.dir;
        let path_argument = |name: &str| dir.join(name).to_string_lossy().into_owned();
        let mut scheduler_args = vec![
            "scheduler".to_string(),
            "--addr".to_string(),
            addresses[0].clone(),
            "--data-dir".to_string(),
            path_argument("scheduler"),
        ];
        if options.fast_timers {
            scheduler_args.extend(["--schedule-interval-ms".to_string(), "100".to_string()]);
        }
        let mut processes = vec![ProcessRecord {
            name: "scheduler".to_string(),
            address: addresses[0].clone(),
            pid: 0,
            args: scheduler_args,
        }];
        for (index, address) in addresses.iter().enumerate().skip(1) {
            let name = format!("store-{index}");
            let mut args = vec![
                "server".to_string(),
                "--addr".to_string(),
                address.clone(),
                "--data-dir".to_string(),
                path_argument(&name),
                "--scheduler".to_string(),
                addresses[0].clone(),
            ];
            if options.fast_timers {
                args.push("--test-timers".to_string());
            }
            processes.push(ProcessRecord {
                name,
                address: address.clone(),
                pid: 0,
                args,
            });
        }
        Ok(ClusterState {
            binary: options.binary.clone(),
            scheduler_address: addresses[0].clone(),
            processes,
        })
    }

    /// The cluster's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The recorded state.
    pub fn state(&self) -> &ClusterState {
        &self.state
    }

    /// The log file of the process `name`.
    pub fn log_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.log"))
    }

    /// The stores' addresses, in order.
    pub fn store_addresses(&self) -> Vec<String> {
        self.state
            .stores()
            .map(|record| record.address.clone())
            .collect()
    }

    /// Starts the process `name` from its record and saves its new pid.
    fn spawn(&mut self, name: &str) -> Result<()> {
        let record = self.state.process(name)?.clone();
        let child = process::spawn_detached(
            &self.state.binary,
            &record.name,
            &record.args,
            &self.log_path(&record.name),
        )?;
        self.state.process_mut(&record.name)?.pid = child.id();
        self.children.insert(record.name.clone(), child);
        self.state.save(&self.dir)
    }

    /// Every process with whether it runs now.
    pub fn status(&mut self) -> Vec<ProcessStatus> {
        self.reap();
        self.state
            .processes
            .iter()
            .map(|record| ProcessStatus {
                record: record.clone(),
                alive: process::is_alive(record),
            })
            .collect()
    }

    /// Reaps the children of this value that have ended, so `/proc` stops
    /// showing them.
    fn reap(&mut self) {
        self.children
            .retain(|_, child| !matches!(child.try_wait(), Ok(Some(_)) | Err(_)));
    }

    /// `kill -9` of the process `name`, waiting until it is gone; returns
    /// its record. A process already stopped is fine.
    pub fn kill(&mut self, name: &str) -> Result<ProcessRecord> {
        let record = self.state.process(name)?.clone();
        process::signal(&record, process::KILL)?;
        self.wait_gone(
            std::slice::from_ref(&record),
            Instant::now() + KILL_DEADLINE,
        )?;
        Ok(record)
    }

    /// Starts the stopped process `name` again on its address and data
    /// directory, and waits until it answers gRPC calls (a store: the
    /// `TinyKv` service; the scheduler: its own). Refused while it runs.
    pub fn start(&mut self, name: &str, runtime: &Handle, deadline: Instant) -> Result<()> {
        self.reap();
        let record = self.state.process(name)?.clone();
        if process::is_alive(&record) {
            return Err(LocalClusterError::StillRunning {
                name: record.name,
                pid: record.pid,
            });
        }
        self.spawn(&record.name)?;
        let record = self.state.process(&record.name)?.clone();
        let started = Instant::now();
        loop {
            self.check_alive(&record)?;
            let answered = if record.name == "scheduler" {
                RemoteScheduler::new(runtime.clone(), &record.address, DEFAULT_MAX_MESSAGE_SIZE)?
                    .is_bootstrapped()
                    .map(|_| ())
            } else {
                let client = {
                    let _entered = runtime.enter();
                    network::TinyKvClient::new(&record.address, DEFAULT_MAX_MESSAGE_SIZE)?
                        .with_timeout(Duration::from_secs(2))
                };
                runtime
                    .block_on(client.raw_get(proto::kvrpcpb::RawGetRequest::new()))
                    .map(|_| ())
            };
            let last = match answered {
                Ok(()) => return Ok(()),
                Err(error) => error.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(LocalClusterError::Timeout {
                    what: format!("{} to serve on {}", record.name, record.address),
                    after: started.elapsed(),
                    last,
                });
            }
            std::thread::sleep(POLL_INTERVAL * 4);
        }
    }

    /// Stops every process: SIGTERM to the stores, then (once they are
    /// gone, or after `grace`) to the scheduler; whatever still runs after
    /// `grace` gets SIGKILL. Stores go first because a stopping store may
    /// still talk to the scheduler. Returns how each process ended.
    pub fn down(&mut self, grace: Duration) -> Result<Vec<(String, StopOutcome)>> {
        let deadline = Instant::now() + grace;
        let mut outcomes = Vec::new();
        let stores: Vec<ProcessRecord> = self.state.stores().cloned().collect();
        let scheduler: Vec<ProcessRecord> = self
            .state
            .processes
            .iter()
            .filter(|record| record.name == "scheduler")
            .cloned()
            .collect();
        for group in [stores, scheduler] {
            let mut signalled = Vec::new();
            for record in &group {
                if process::signal(record, process::TERMINATE)? {
                    signalled.push(record.clone());
                } else {
                    outcomes.push((record.name.clone(), StopOutcome::AlreadyStopped));
                }
            }
            // Past the grace period the scheduler still gets its SIGTERM
            // and a moment to use it.
            let group_deadline = deadline.max(Instant::now() + Duration::from_secs(1));
            let _ = self.wait_gone(&signalled, group_deadline);
            for record in signalled {
                if process::signal(&record, process::KILL)? {
                    outcomes.push((record.name.clone(), StopOutcome::Killed));
                } else {
                    outcomes.push((record.name.clone(), StopOutcome::Stopped));
                }
            }
        }
        let everyone = self.state.processes.clone();
        self.wait_gone(&everyone, Instant::now() + KILL_DEADLINE)?;
        Ok(outcomes)
    }

    /// Waits until none of `records` runs.
    fn wait_gone(&mut self, records: &[ProcessRecord], deadline: Instant) -> Result<()> {
        let started = Instant::now();
        loop {
            self.reap();
            let running: Vec<String> = records
                .iter()
                .filter(|record| process::is_alive(record))
                .map(|record| format!("{} (pid {})", record.name, record.pid))
                .collect();
            if running.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(LocalClusterError::Timeout {
                    what: "processes to exit".to_string(),
                    after: started.elapsed(),
                    last: format!("still running: {}", running.join(", ")),
                });
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// `ExitedEarly` if the process has exited.
    fn check_alive(&mut self, record: &ProcessRecord) -> Result<()> {
        self.reap();
        if process::is_alive(record) {
            Ok(())
        } else {
            Err(LocalClusterError::ExitedEarly {
                name: record.name.clone(),
                log: self.log_path(&record.name),
            })
        }
    }

    /// Waits until the cluster serves: the scheduler knows the first
    /// region with a leader and as many replicas as it will place
    /// (`min(stores, 3)`), and a write through the stores succeeds (the
    /// key [`READY_CHECK_KEY`] is put). Fails early when a
    /// process exits.
    pub fn wait_until_serving(
        &mut self,
        runtime: &Handle,
        deadline: Instant,
    ) -> Result<ServingReport> {
        let started = Instant::now();
        let scheduler = RemoteScheduler::new(
            runtime.clone(),
            &self.state.scheduler_address,
            DEFAULT_MAX_MESSAGE_SIZE,
        )?;
        let wanted_replicas = self.state.stores().count().min(3);
        let (leader_store_id, replicas) = loop {
            for record in self.state.processes.clone() {
                self.check_alive(&record)?;
            }
            let last = match scheduler.get_region(b"") {
                Ok(Some((region, Some(leader)))) if region.peers.len() >= wanted_replicas => {
                    break (leader.store_id, region.peers.len())
                }
                Ok(Some((region, leader))) => format!(
                    "first region has {} of {wanted_replicas} replicas, leader {:?}",
                    region.peers.len(),
                    leader.map(|peer| peer.store_id)
                ),
                Ok(None) => "the cluster is not bootstrapped yet".to_string(),
                Err(error) => error.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(LocalClusterError::Timeout {
                    what: "the first region's leader and replicas".to_string(),
                    after: started.elapsed(),
                    last,
                });
            }
            std::thread::sleep(POLL_INTERVAL * 2);
        };
        let client = {
            let _entered = runtime.enter();
            AnyStoreClient::new(
                &self.store_addresses(),
                DEFAULT_MAX_MESSAGE_SIZE,
                Duration::from_secs(3),
            )?
        };
        if let Err(error) = runtime.block_on(client.raw_put(READY_CHECK_KEY, b"ok", deadline)) {
            return Err(LocalClusterError::Timeout {
                what: "a write to be served".to_string(),
                after: started.elapsed(),
                last: error.to_string(),
            });
        }
        let leader_address = scheduler
            .get_store(leader_store_id)
            .map(|info| info.store.address)
            .unwrap_or_default();
        let leader = self
            .state
            .stores()
            .find(|record| record.address == leader_address)
            .map(|record| record.name.clone())
            .unwrap_or_else(|| format!("store id {leader_store_id}"));
        Ok(ServingReport {
            leader,
            replicas,
            elapsed: started.elapsed(),
        })
    }
}

/// `count` loopback addresses whose ports were free a moment ago: all
/// bound at once (so no two are the same), then released for the
/// processes to bind, the usual small race.
fn free_addresses(count: usize) -> Result<Vec<String>> {
    let listeners = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|source| LocalClusterError::Io {
            what: "binding a free loopback port".to_string(),
            source,
        })?;
    listeners
        .iter()
        .map(|listener| {
            listener
                .local_addr()
                .map(|address| address.to_string())
                .map_err(|source| LocalClusterError::Io {
                    what: "reading a bound port".to_string(),
                    source,
                })
        })
        .collect()
}
