//! The local multi-store test cluster.
//!
//! [`Cluster`] runs n stores in one process, each on its own engines in its
//! own temp dir, connected by the simulated [`Network`]. Tests (and the
//! playground) stop, start and restart stores with their engines really
//! closed and reopened, cut the network with [`Filter`]s, and talk to the
//! cluster through client helpers (`must_put`, `must_get`, `must_delete`,
//! `scan`) that find the leader through the [`RegionDirectory`], retry with
//! backoff, and fail with a message carrying the seed. The stores' scheduler
//! is the real one (`scheduler::Scheduler`, in-process, in the cluster's
//! directory): ids, heartbeats, operators, and (when [`ClusterOptions`] ask
//! for it) the schedule tick that balances regions and leaders.
//!
//! ```text
//!   test ──must_put──▶ Cluster::request ──send_command──▶ RaftStore (leader) ──Transport──▶ Network ──▶ other stores
//! ```
//!
//! Temp dirs are `tempfile::TempDir`s owned by the cluster: dropping the
//! cluster (also while a failing test unwinds) stops every store first and
//! then removes the directories.

mod admin;
mod bulk_load;
mod filter;
mod network;
mod options;
mod region_directory;
mod requests;
mod schedule_ticker;
mod scheduler_client;
mod seed;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proto::metapb::{Peer, Region, Store};
use proto::raft_cmdpb::{RaftCmdRequest, RaftCmdResponse, Request};
use raftstore::bootstrap::{bootstrap_first_region, bootstrap_store};
use raftstore::{CmdResponse, Config, RaftStore, RegionStatus};
use scheduler::{Scheduler, SchedulerService};
use server::{RaftStorage, Server};
use storage::{keys, Engines, ALL_CFS, CF_DEFAULT};

pub use filter::Filter;
pub use network::{Endpoint, Network, NetworkStats, StoreTransport};
pub use options::ClusterOptions;
pub use region_directory::RegionDirectory;
pub use requests::{
    delete_request, get_request, get_request_cf, put_request, put_request_cf, snap_request,
};
pub use schedule_ticker::ScheduleTicker;
pub use scheduler_client::ClusterSchedulerClient;
pub use seed::{test_seed, test_seed_or};

/// A key and its value, as scans return them.
pub type KvPair = (Vec<u8>, Vec<u8>);

/// How long a store's request handlers wait for one raft command.
const SERVER_TIMEOUT: Duration = Duration::from_secs(2);

/// How often a waiting request checks whether the leader changed.
const LEADER_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// The id of the region every cluster starts with (the whole key space).
pub const FIRST_REGION_ID: u64 = 1;

/// A running store and where its files are.
struct StoreSlot {
    data_dir: PathBuf,
    running: Option<RaftStore>,
    /// The store's request handlers (raw and transactional API) over
    /// `RaftStorage`, as its gRPC service would hold them: one per running
    /// store, so the transactional latches are the store's.
    server: Option<Arc<Server>>,
}

/// n stores in one process. See the module docs.
pub struct Cluster {
    /// The seed of this test run (printed at creation).
    pub seed: u64,
    config: Config,
    network: Network,
    /// The tests' routing table (see its docs: not the stores' scheduler).
    directory: Mutex<RegionDirectory>,
    /// The real scheduler (ids, heartbeats, operators, balancing).
    scheduler: Arc<Scheduler>,
    /// What the stores see as their scheduler: the real one, counted.
    scheduler_client: Arc<ClusterSchedulerClient>,
    /// The schedule tick, when the options ask for one.
    ticker: Mutex<Option<ScheduleTicker>>,
    stores: Mutex<BTreeMap<u64, StoreSlot>>,
    /// Keeps the data directories until the cluster is dropped (after the stores stop).
    _root: Option<tempfile::TempDir>,
    root_path: PathBuf,
}

impl Cluster {
    /// Creates and starts a cluster of `store_count` stores (ids 1..=n),
    /// bootstrapped with one region (id 1) with a peer on every store.
    /// The seed comes from `TINYKV_SEED` or the clock and is printed.
    pub fn new(test_name: &str, store_count: u64, config: Config) -> Cluster {
        Cluster::build(test_name, ClusterOptions::new(store_count, config))
    }

    /// Like [`Cluster::new`], with every option spelled out.
    pub fn build(test_name: &str, options: ClusterOptions) -> Cluster {
        let seed = test_seed(test_name);
        Cluster::with_options(seed, options)
    }

    /// Like [`Cluster::new`] with an explicit seed and, optionally, a data
    /// directory to keep (the playground's `--data-dir`).
    pub fn with_seed(
        seed: u64,
        store_count: u64,
        config: Config,
        data_dir: Option<PathBuf>,
    ) -> Cluster {
        let mut options = ClusterOptions::new(store_count, config);
        options.data_dir = data_dir;
        Cluster::with_options(seed, options)
    }

    /// Like [`Cluster::with_seed`], with the first region covering only
    /// `[start_key, end_key)` (empty = unbounded), so tests can send keys
    /// outside every region.
    pub fn with_first_region(
        seed: u64,
        store_count: u64,
        config: Config,
        data_dir: Option<PathBuf>,
        start_key: &[u8],
        end_key: &[u8],
    ) -> Cluster {
        let mut options = ClusterOptions::new(store_count, config);
        options.data_dir = data_dir;
        options.first_region_range = (start_key.to_vec(), end_key.to_vec());
        Cluster::with_options(seed, options)
    }

    /// Creates and starts a cluster as `options` say: the scheduler first
    /// (bootstrapped with store 1 and the first region, then every other
    /// store put), then the stores' engines (bootstrapped when new), then
    /// the stores, then the schedule tick if asked for.
    pub fn with_options(seed: u64, options: ClusterOptions) -> Cluster {
        crate::chain_log::init();
        let (root, root_path) = match options.data_dir {
            Some(path) => (None, path),
            None => {
                let root = tempfile::Builder::new()
                    .prefix("tinykv-cluster-")
                    .tempdir()
                    .expect("creating a temp dir for the cluster (is /tmp writable?)");
                let path = root.path().to_path_buf();
                (Some(root), path)
            }
        };
        let mut config = options.config;
        if config.raft_random_seed.is_none() {
            config.raft_random_seed = Some(seed);
        }
        let store_count = options.store_count;
        let scheduler =
            match Scheduler::open_with(root_path.join("scheduler"), options.scheduler.clone()) {
                Ok(scheduler) => Arc::new(scheduler),
                Err(error) => panic!(
                "open the scheduler in {}: {error} [seed {seed} — replay with TINYKV_SEED={seed}]",
                root_path.display()
            ),
            };
        let cluster = Cluster {
            seed,
            config,
            network: Network::new(seed),
            directory: Mutex::new(RegionDirectory::default()),
            scheduler_client: Arc::new(ClusterSchedulerClient::new(Arc::clone(&scheduler))),
            scheduler,
            ticker: Mutex::new(None),
            stores: Mutex::new(BTreeMap::new()),
            _root: root,
            root_path,
        };
        let first_region_stores = options
            .first_region_stores
            .unwrap_or(store_count)
            .clamp(1, store_count.max(1));
        let mut region = Region::new();
        region.id = FIRST_REGION_ID;
        region.start_key = options.first_region_range.0.clone();
        region.end_key = options.first_region_range.1.clone();
        region.mut_region_epoch().conf_ver = 1;
        region.mut_region_epoch().version = 1;
        for store_id in 1..=first_region_stores {
            let mut peer = Peer::new();
            peer.id = store_id;
            peer.store_id = store_id;
            region.peers.push(peer);
        }
        cluster.bootstrap_scheduler(&region, store_count);
        for store_id in 1..=store_count {
            let data_dir = cluster.root_path.join(format!("store-{store_id}"));
            let fresh = !data_dir.join("kv").exists();
            let engines = cluster.open_engines(&data_dir);
            if fresh {
                bootstrap_store(&engines, cluster.scheduler.cluster_id(), store_id).unwrap_or_else(
                    |error| cluster.fail(&format!("bootstrap store {store_id}: {error}")),
                );
                if store_id <= first_region_stores {
                    bootstrap_first_region(&engines, &region).unwrap_or_else(|error| {
                        cluster.fail(&format!("bootstrap region on store {store_id}: {error}"))
                    });
                }
            }
            drop(engines);
            cluster
                .stores
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(
                    store_id,
                    StoreSlot {
                        data_dir,
                        running: None,
                        server: None,
                    },
                );
        }
        for store_id in 1..=store_count {
            cluster.start_store(store_id);
        }
        if let Some(interval) = options.schedule_interval {
            cluster.start_schedule_tick(interval);
        }
        cluster
    }

    /// Bootstraps the scheduler with store 1 and the first region (unless a
    /// kept data directory already did), then puts every store: a store's
    /// heartbeats are refused until the scheduler knows it.
    fn bootstrap_scheduler(&self, region: &Region, store_count: u64) {
        let store = |store_id: u64| {
            let mut store = Store::new();
            store.id = store_id;
            store.address = format!("store-{store_id}");
            store
        };
        if !self.scheduler.is_bootstrapped() {
            if let Err(error) = self.scheduler.bootstrap(store(1), region.clone()) {
                self.fail(&format!("bootstrap the scheduler: {error}"));
            }
        }
        for store_id in 1..=store_count {
            if let Err(error) = self.scheduler.put_store(store(store_id)) {
                self.fail(&format!("put store {store_id} in the scheduler: {error}"));
            }
        }
    }

    /// Starts the schedule tick (replica checker and, if enabled,
    /// balancing) every `interval`, replacing a running one.
    pub fn start_schedule_tick(&self, interval: Duration) {
        let ticker = ScheduleTicker::start(Arc::clone(&self.scheduler), interval);
        // The old ticker (if any) is stopped and joined when dropped here.
        let _old = self
            .ticker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(ticker);
    }

    /// Whether the schedule tick runs.
    pub fn is_schedule_tick_running(&self) -> bool {
        self.ticker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Stops the schedule tick (operators in flight still finish).
    pub fn stop_schedule_tick(&self) {
        let _old = self.ticker.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// Panics with the seed in the message.
    pub fn fail(&self, message: &str) -> ! {
        panic!(
            "{message} [seed {} — replay with TINYKV_SEED={}]",
            self.seed, self.seed
        )
    }

    fn open_engines(&self, data_dir: &std::path::Path) -> Engines {
        // A store that just stopped may still be releasing RocksDB's lock
        // (a client can hold a region snapshot for a moment): retry briefly.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match Engines::open(data_dir) {
                Ok(engines) => return engines,
                Err(error) if Instant::now() < deadline => {
                    log::debug!("reopening {}: {error}; retrying", data_dir.display());
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(error) => self.fail(&format!(
                    "cannot open engines in {}: {error}",
                    data_dir.display()
                )),
            }
        }
    }

    /// The cluster's raftstore settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The simulated network.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// Ids of all stores, running or not.
    pub fn store_ids(&self) -> Vec<u64> {
        self.stores
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .copied()
            .collect()
    }

    /// Ids of the running stores.
    pub fn running_store_ids(&self) -> Vec<u64> {
        self.stores
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, slot)| slot.running.is_some())
            .map(|(id, _)| *id)
            .collect()
    }

    /// The request handlers of a running store (see `StoreSlot::server`):
    /// what a client calls for the transactional API.
    pub fn server(&self, store_id: u64) -> Option<Arc<Server>> {
        self.stores
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&store_id)
            .and_then(|slot| slot.server.clone())
    }

    /// Whether store `store_id` is running.
    pub fn is_running(&self, store_id: u64) -> bool {
        self.running_store_ids().contains(&store_id)
    }

    /// Starts a stopped store: reopens its engines and its threads.
    pub fn start_store(&self, store_id: u64) {
        let data_dir = {
            let stores = self.stores.lock().unwrap_or_else(|e| e.into_inner());
            let Some(slot) = stores.get(&store_id) else {
                self.fail(&format!("no store {store_id}"));
            };
            if slot.running.is_some() {
                return;
            }
            slot.data_dir.clone()
        };
        let engines = self.open_engines(&data_dir);
        let transport = Arc::new(self.network.transport(store_id));
        let store = RaftStore::start(
            store_id,
            engines,
            self.config.clone(),
            transport,
            Arc::clone(&self.scheduler_client) as Arc<dyn raftstore::SchedulerClient>,
            data_dir.join("snap"),
        )
        .unwrap_or_else(|error| self.fail(&format!("start store {store_id}: {error}")));
        self.network.connect(
            store_id,
            Endpoint {
                router: store.router().clone(),
                receiver: store.snapshot_receiver().clone(),
            },
        );
        self.directory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add_store(store_id, Arc::clone(store.store_meta()));
        let mut stores = self.stores.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = stores.get_mut(&store_id) {
            let storage = RaftStorage::new(store.router().clone(), SERVER_TIMEOUT);
            slot.server = Some(Arc::new(Server::new(Arc::new(storage))));
            slot.running = Some(store);
        }
        log::info!("--- store {store_id} started");
    }

    /// Stops a store: it disappears from the network, its threads are
    /// joined and its engines closed (everything not synced is as lost as
    /// in a crash of the process, except what RocksDB already wrote).
    pub fn stop_store(&self, store_id: u64) {
        self.network.disconnect(store_id);
        self.directory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove_store(store_id);
        let store = {
            let mut stores = self.stores.lock().unwrap_or_else(|e| e.into_inner());
            stores.get_mut(&store_id).and_then(|slot| {
                slot.server = None;
                slot.running.take()
            })
        };
        if let Some(store) = store {
            store.stop();
            log::info!("--- store {store_id} stopped");
        }
    }

    /// Stops a store (see [`Cluster::stop_store`]) and returns the last
    /// status it published for `region_id`. Its threads are joined by then,
    /// and a status is published only after what it says was persisted, so
    /// this is the state the store stopped with: what a restart must recover.
    pub fn stop_store_with_status(&self, store_id: u64, region_id: u64) -> Option<RegionStatus> {
        let meta = self.with_store(store_id, |store| Arc::clone(store.store_meta()))?;
        self.stop_store(store_id);
        meta.get(region_id)
    }

    /// Stops and starts a store.
    pub fn restart_store(&self, store_id: u64) {
        self.stop_store(store_id);
        self.start_store(store_id);
    }

    /// Runs `f` on a running store.
    pub fn with_store<T>(&self, store_id: u64, f: impl FnOnce(&RaftStore) -> T) -> Option<T> {
        let stores = self.stores.lock().unwrap_or_else(|e| e.into_inner());
        stores
            .get(&store_id)
            .and_then(|slot| slot.running.as_ref())
            .map(f)
    }

    /// Splits the stores into groups that cannot talk to each other.
    pub fn partition(&self, groups: &[&[u64]]) {
        let groups = groups
            .iter()
            .map(|group| group.iter().copied().collect())
            .collect();
        log::info!("--- partition {groups:?}");
        self.network.add_filter(Filter::Partition(groups));
    }

    /// Cuts one store off from all others.
    pub fn isolate(&self, store_id: u64) {
        log::info!("--- isolate store {store_id}");
        self.network.add_filter(Filter::Isolate(store_id));
    }

    /// Removes every network fault.
    pub fn heal(&self) {
        log::info!("--- heal the network");
        self.network.clear_filters();
    }

    /// The running stores' current view of the leader of `region_id` (the
    /// highest-term claimant; see [`RegionDirectory`]).
    pub fn leader_of(&self, region_id: u64) -> Option<Peer> {
        self.directory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .leader_of(region_id)
    }

    /// Waits (up to `timeout`) until region `region_id` has a leader.
    pub fn wait_leader(&self, region_id: u64, timeout: Duration) -> Peer {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(leader) = self.leader_of(region_id) {
                return leader;
            }
            if Instant::now() > deadline {
                self.fail(&format!(
                    "region {region_id} has no leader after {timeout:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The newest view of the region holding `key`.
    pub fn region_for_key(&self, key: &[u8]) -> Option<Region> {
        self.directory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .region_for_key(key)
    }

    /// The newest view (highest epoch) of region `region_id` among the
    /// running stores.
    pub fn region(&self, region_id: u64) -> Option<Region> {
        self.directory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .region(region_id)
    }

    /// The newest view of every region known to a running store, sorted
    /// by start key.
    pub fn regions(&self) -> Vec<Region> {
        self.directory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .regions()
    }

    /// A new unique id (for a peer or region a test creates), from the
    /// scheduler's allocator like every id the stores ask for.
    pub fn alloc_id(&self) -> u64 {
        self.scheduler
            .alloc_id()
            .unwrap_or_else(|error| self.fail(&format!("alloc id: {error}")))
    }

    /// The stores' scheduler (in-process).
    pub fn scheduler(&self) -> &Arc<Scheduler> {
        &self.scheduler
    }

    /// The stores' view of the scheduler: heartbeat counters.
    pub fn scheduler_client(&self) -> &ClusterSchedulerClient {
        &self.scheduler_client
    }

    /// Every running store's status for `region_id`, by store id.
    pub fn region_statuses(&self, region_id: u64) -> Vec<(u64, RegionStatus)> {
        self.directory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .region_statuses(region_id)
    }

    /// Sends `requests` for `key`'s region to its leader and waits for the
    /// answer, for at most `timeout`, retrying (with backoff) on region
    /// errors. While it waits it keeps asking who leads: when a different
    /// store claims leadership with a newer term (the one it sent to was cut
    /// off and replaced), it sends the request there too, instead of waiting
    /// out a deposed leader. The abandoned attempt may still be applied:
    /// that is why workload writes are full-value Puts, which change nothing
    /// when applied twice. (It cannot be applied after a later write of the
    /// same client: its entry has an older term than the new leader's, so it
    /// is either already in the log before the retry, or overwritten.)
    pub fn request(
        &self,
        key: &[u8],
        requests: Vec<Request>,
        timeout: Duration,
    ) -> Result<CmdResponse, String> {
        let deadline = Instant::now() + timeout;
        let mut leader_hint: Option<u64> = None;
        let mut round_robin = 0usize;
        let mut last_error = String::from("no attempt made");
        // The store the current attempt went to, and where its answer arrives.
        let mut in_flight: Option<(u64, raftstore::CallbackReceiver)> = None;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "request for key {:?} gave up after {timeout:?}; last error: {last_error}",
                    String::from_utf8_lossy(key)
                ));
            }
            let Some(region) = self.region_for_key(key) else {
                last_error = "no running store knows a region for the key".to_string();
                std::thread::sleep(LEADER_CHECK_INTERVAL.min(deadline - now));
                continue;
            };
            let leader = self.leader_of(region.id).map(|peer| peer.store_id);
            let Some((store_id, receiver)) = in_flight.take() else {
                let store_id = match (leader_hint.take(), leader) {
                    (Some(hint), _) => hint,
                    (None, Some(leader)) => leader,
                    (None, None) => {
                        round_robin += 1;
                        region.peers[round_robin % region.peers.len()].store_id
                    }
                };
                let Some(peer) = region.peers.iter().find(|peer| peer.store_id == store_id) else {
                    last_error = format!("store {store_id} has no peer of region {}", region.id);
                    continue;
                };
                let mut request = RaftCmdRequest::new();
                request.mut_header().region_id = region.id;
                request.mut_header().peer = Some(peer.clone()).into();
                request.mut_header().region_epoch = Some(region.region_epoch().clone()).into();
                request.requests = requests.clone();
                match self.with_store(store_id, |store| store.send_command(request)) {
                    Some(Ok(receiver)) => in_flight = Some((store_id, receiver)),
                    Some(Err(error)) => last_error = format!("store {store_id}: {error}"),
                    None => last_error = format!("store {store_id} is not running"),
                }
                if in_flight.is_none() {
                    std::thread::sleep(Duration::from_millis(10).min(deadline - now));
                }
                continue;
            };
            let slice = LEADER_CHECK_INTERVAL.min(deadline - now);
            match receiver.wait(slice) {
                Some(response) => {
                    let header = response.response.header();
                    if !header.error.is_some() {
                        return Ok(response);
                    }
                    let error = header.error();
                    if error.not_leader.is_some() && error.not_leader().leader.is_some() {
                        leader_hint = Some(error.not_leader().leader().store_id);
                    }
                    last_error = format!("store {store_id}: {}", error.message);
                    // A region error is a definite "not done here": try again
                    // shortly (the cluster may be between leaders).
                    std::thread::sleep(Duration::from_millis(10).min(deadline - now));
                }
                None if now.elapsed() < slice => {
                    // The callback was dropped unanswered (its store stopped):
                    // the outcome is unknown; try again.
                    last_error = format!("store {store_id} dropped the request");
                    std::thread::sleep(Duration::from_millis(10).min(deadline - now));
                }
                None => {
                    last_error = format!("store {store_id} has not answered yet");
                    // Keep waiting, unless another store now leads the region.
                    if leader.is_none() || leader == Some(store_id) {
                        in_flight = Some((store_id, receiver));
                    }
                }
            }
        }
    }

    fn request_or_fail(&self, key: &[u8], request: Request, timeout: Duration) -> RaftCmdResponse {
        match self.request(key, vec![request], timeout) {
            Ok(response) => response.response,
            Err(error) => self.fail(&error),
        }
    }

    /// Puts `key` = `value` (default CF), retrying until it succeeds; panics
    /// after 20 s.
    pub fn must_put(&self, key: &[u8], value: &[u8]) {
        self.must_put_cf(CF_DEFAULT, key, value);
    }

    /// Puts in a column family.
    pub fn must_put_cf(&self, cf: &str, key: &[u8], value: &[u8]) {
        let request = put_request_cf(cf, key, value);
        self.request_or_fail(key, request, Duration::from_secs(20));
    }

    /// Reads `key` (default CF) through raft; panics after 20 s.
    pub fn must_get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.get_cf(CF_DEFAULT, key, Duration::from_secs(20))
            .unwrap_or_else(|error| self.fail(&error))
    }

    /// Reads `key` in `cf` through raft.
    pub fn get_cf(
        &self,
        cf: &str,
        key: &[u8],
        timeout: Duration,
    ) -> Result<Option<Vec<u8>>, String> {
        let request = get_request_cf(cf, key);
        let response = self.request(key, vec![request], timeout)?;
        let value = response
            .response
            .responses
            .first()
            .map(|response| response.get().value.clone())
            .unwrap_or_default();
        // The raft command carries no "not found" flag: an empty value is absent.
        Ok(if value.is_empty() { None } else { Some(value) })
    }

    /// Asserts that a read through raft returns `value`.
    pub fn must_get_equal(&self, key: &[u8], value: &[u8]) {
        let got = self.must_get(key);
        if got.as_deref() != Some(value) {
            self.fail(&format!(
                "key {:?}: expected {:?}, got {:?}",
                String::from_utf8_lossy(key),
                String::from_utf8_lossy(value),
                got.map(|v| String::from_utf8_lossy(&v).to_string())
            ));
        }
    }

    /// Asserts that a read through raft finds nothing.
    pub fn must_get_none(&self, key: &[u8]) {
        if let Some(value) = self.must_get(key) {
            self.fail(&format!(
                "key {:?}: expected none, got {:?}",
                String::from_utf8_lossy(key),
                String::from_utf8_lossy(&value)
            ));
        }
    }

    /// Deletes `key` (default CF), retrying; panics after 20 s.
    pub fn must_delete(&self, key: &[u8]) {
        let request = delete_request(key);
        self.request_or_fail(key, request, Duration::from_secs(20));
    }

    /// Scans `[start, end)` (empty end = unbounded) through a Snap command:
    /// a linearizable point-in-time view of the region holding `start`.
    pub fn scan(&self, start: &[u8], end: &[u8]) -> Vec<KvPair> {
        self.try_scan(start, end, Duration::from_secs(20))
            .unwrap_or_else(|error| self.fail(&error))
    }

    /// Like [`Cluster::scan`], returning the error instead of panicking.
    pub fn try_scan(
        &self,
        start: &[u8],
        end: &[u8],
        timeout: Duration,
    ) -> Result<Vec<KvPair>, String> {
        use storage::StorageReader;
        let request = snap_request();
        let response = self.request(start, vec![request], timeout)?;
        let snapshot = response
            .snapshot
            .ok_or("Snap answered without a snapshot")?;
        let mut iterator = snapshot
            .iter_cf(CF_DEFAULT)
            .map_err(|error| error.to_string())?;
        iterator.seek(start);
        let mut pairs = Vec::new();
        while iterator.valid().map_err(|error| error.to_string())? {
            if !end.is_empty() && iterator.key() >= end {
                break;
            }
            pairs.push((iterator.key().to_vec(), iterator.value().to_vec()));
            iterator.next();
        }
        Ok(pairs)
    }

    /// Reads `key` straight from store `store_id`'s kv engine (no raft):
    /// what that replica has applied.
    pub fn get_from_store(&self, store_id: u64, key: &[u8]) -> Option<Vec<u8>> {
        self.with_store(store_id, |store| {
            store
                .engines()
                .kv
                .get_value_cf(CF_DEFAULT, &keys::data_key(key))
        })
        .and_then(|result| result.ok())
        .flatten()
    }

    /// Waits until store `store_id` has applied `key` = `value` (None: deleted).
    pub fn must_store_have(
        &self,
        store_id: u64,
        key: &[u8],
        value: Option<&[u8]>,
        timeout: Duration,
    ) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.get_from_store(store_id, key).as_deref() == value {
                return;
            }
            if Instant::now() > deadline {
                self.fail(&format!(
                    "store {store_id} does not have key {:?} = {:?} after {timeout:?} (it has {:?})",
                    String::from_utf8_lossy(key),
                    value.map(String::from_utf8_lossy),
                    self.get_from_store(store_id, key).map(|v| String::from_utf8_lossy(&v).to_string())
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A digest of every key and value of region `region_id`'s range in all
    /// column families on store `store_id` (compare replicas, as etcd's
    /// robustness tests compare hashes).
    pub fn region_data_hash(&self, store_id: u64, region_id: u64) -> Option<u64> {
        use std::hash::{Hash, Hasher};
        let region = self
            .directory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .region(region_id)?;
        self.with_store(store_id, |store| {
            let snapshot = store.engines().kv.snapshot();
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            let start = keys::data_key(&region.start_key);
            let end = keys::data_end_key(&region.end_key);
            for cf in ALL_CFS {
                cf.hash(&mut hasher);
                let scanned = snapshot.scan_cf(cf, &start, &end, |key, value| {
                    key.hash(&mut hasher);
                    value.hash(&mut hasher);
                    Ok(true)
                });
                if scanned.is_err() {
                    return None;
                }
            }
            Some(hasher.finish())
        })
        .flatten()
    }

    /// Waits until every running store that holds a peer of `region_id`
    /// (in its newest known membership) holds identical data in the
    /// region's range (the same [`Cluster::region_data_hash`]); returns
    /// that hash. Applied indexes are not compared: replicas may differ by
    /// entries that change no data (an election's empty entry).
    pub fn must_replicas_converge(&self, region_id: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            let members: Vec<u64> = self
                .region(region_id)
                .map(|region| region.peers.iter().map(|peer| peer.store_id).collect())
                .unwrap_or_default();
            let hashes: HashMap<u64, Option<u64>> = self
                .running_store_ids()
                .into_iter()
                .filter(|store_id| members.contains(store_id))
                .map(|store_id| (store_id, self.region_data_hash(store_id, region_id)))
                .collect();
            let distinct: std::collections::HashSet<_> = hashes.values().collect();
            if distinct.len() == 1 {
                if let Some(Some(hash)) = hashes.values().next() {
                    return *hash;
                }
            }
            if Instant::now() > deadline {
                self.fail(&format!(
                    "region {region_id} replicas differ after {timeout:?}: {hashes:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The data directory of a store.
    pub fn store_dir(&self, store_id: u64) -> PathBuf {
        self.root_path.join(format!("store-{store_id}"))
    }

    /// Stops every store (the directories are removed when the cluster is dropped).
    pub fn shutdown(&self) {
        // The tick first: it must not schedule moves for stopping stores.
        self.stop_schedule_tick();
        for store_id in self.store_ids() {
            self.stop_store(store_id);
        }
        self.network.shutdown();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Stores first: their engines must close before the temp dir goes.
        self.shutdown();
    }
}
