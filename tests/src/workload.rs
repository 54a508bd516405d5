//! The generic workload of the lab 2B and 2C suites: concurrent clients
//! against a [`Cluster`] while a nemesis breaks the network and the stores
//! crash, then checks that nothing acknowledged was lost and that every
//! answer the clients saw is linearizable.
//!
//! This is TinyKV's `GenericTest`, with two changes that make a failure say
//! more:
//! * Clients write with full-value Puts instead of Appends. A client keeps
//!   the value it expects locally and sends the whole new value, so a
//!   request that timed out can be sent again unchanged: landing twice
//!   changes nothing. A lost or doubled append then shows up as a value that
//!   differs from the client's own record, naming the exact write.
//! * Every client operation is recorded in a linearizability [`History`] and
//!   checked at the end, which also catches stale reads (a deposed leader
//!   answering from old data) that value checks alone would miss.
//!
//! Clients follow leader changes while they wait (`Cluster::request`):
//! a request stuck on a leader that was cut off is sent again to the new
//! leader as soon as one is known, instead of waiting out the whole
//! request timeout, so partition tests make progress in short rounds.
//!
//! One test run:
//!
//! ```text
//! for each round:
//!     clients ─┬─ Put (own keys, full value) / Get (own and others' keys) / Scan (own prefix)
//!     nemesis ─┘  unreliable: drop + reorder messages; partitions: a new random split every few hundred ms
//!     after round_duration: stop the nemesis, heal; crash: stop and restart every store under the clients;
//!                           keep the clients going until a write is acknowledged after that; stop them
//!     verify: every client's keys hold exactly its acknowledged writes (plus at most the one unknown write)
//! after the last round: replicas converge, the raft log was trimmed (max_raft_log), the history is linearizable
//! ```
//!
//! Every random choice (client operations, partitions) comes from one
//! `StdRng` seeded with the cluster's seed, so `TINYKV_SEED=<seed>` replays
//! the same schedule (thread timing is not under the seed's control).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use raftstore::{CmdResponse, Config};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use storage::{StorageReader, CF_DEFAULT};

use crate::cluster::{get_request, put_request, snap_request, Cluster, Filter, FIRST_REGION_ID};
use crate::linearizability::{check_history, CheckResult, History, KvInput, KvOutput};

/// What the workload does; start from `WorkloadOptions::default()` and set
/// the faults a test is about.
#[derive(Debug, Clone)]
pub struct WorkloadOptions {
    /// Stores in the cluster (TinyKV's generic test uses 5).
    pub stores: u64,
    /// Concurrent clients; each writes only its own keys.
    pub clients: usize,
    /// Keys each client writes (`"{client:02}:{index}"`). Few keys make the
    /// per-key histories longer; many keys make them short and the checker fast.
    pub keys_per_client: usize,
    /// Drop 10 % of the raft messages and hold some back so they arrive out of order.
    pub unreliable: bool,
    /// Stop and restart every store at the end of each round, while the
    /// clients are still sending requests.
    pub crash: bool,
    /// Split the stores into two random groups every few hundred
    /// milliseconds while the clients run.
    pub partitions: bool,
    /// Move peers while the clients run (lab 3B): every 100–300 ms a random
    /// region gets a peer added on a store without one, or loses one (never
    /// below three peers).
    pub conf_change: bool,
    /// Split regions as they grow (lab 3B): a region over
    /// [`SPLIT_REGION_MAX_SIZE`] bytes is split, so the clients' writes
    /// multiply the regions.
    pub split: bool,
    /// How many rounds to run.
    pub rounds: usize,
    /// How long the clients run in each round.
    pub round_duration: Duration,
    /// If set, the raft log GC limit (`raft_log_gc_count_limit`); the
    /// workload then also checks that every store trimmed its log (lab 2C).
    pub max_raft_log: Option<u64>,
    /// How long one client request may take before its outcome counts as
    /// unknown (the client then sends the same request again).
    pub request_timeout: Duration,
    /// How long the linearizability checker may search. Running out of time
    /// fails the test: an undecided history is never a pass. The search is
    /// CPU-bound, so this is generous: a loaded machine slows it down many
    /// times, and a decided history returns long before.
    pub check_timeout: Duration,
}

impl Default for WorkloadOptions {
    /// One client, a healthy network, 3 rounds of 1 s on 5 stores.
    fn default() -> WorkloadOptions {
        WorkloadOptions {
            stores: 5,
            clients: 1,
            keys_per_client: 4,
            unreliable: false,
            crash: false,
            partitions: false,
            conf_change: false,
            split: false,
            rounds: 3,
            round_duration: Duration::from_secs(1),
            max_raft_log: None,
            request_timeout: Duration::from_secs(1),
            check_timeout: Duration::from_secs(60),
        }
    }
}

/// What the clients did in one round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Puts the cluster acknowledged.
    pub acknowledged_writes: u64,
    /// Puts that timed out or failed: outcome unknown, sent again.
    pub unknown_writes: u64,
    /// Gets and scans that returned data.
    pub reads: u64,
    /// Gets and scans that timed out or failed.
    pub failed_reads: u64,
}

impl RoundReport {
    fn add(&mut self, other: &RoundReport) {
        self.acknowledged_writes += other.acknowledged_writes;
        self.unknown_writes += other.unknown_writes;
        self.reads += other.reads;
        self.failed_reads += other.failed_reads;
    }
}

/// The outcome of a workload that passed every check.
#[derive(Debug, Clone)]
pub struct WorkloadReport {
    /// The seed of the run.
    pub seed: u64,
    /// One entry per round.
    pub rounds: Vec<RoundReport>,
    /// Operations in the linearizability history.
    pub operations: usize,
    /// How long the linearizability check took.
    pub check_duration: Duration,
    /// How many regions there were at the end (more than one after splits).
    pub regions: usize,
    /// How many membership changes the conf-change thread got applied.
    pub conf_changes: u64,
}

/// Runs the workload described by `options` on a fresh cluster; panics (with
/// the seed) on lost or doubled writes, a stale read, a non-linearizable or
/// undecidable history, or a healed cluster that acknowledges no write
/// within [`PROGRESS_TIMEOUT`].
pub fn run_generic_workload(test_name: &str, options: WorkloadOptions) -> WorkloadReport {
    let mut config = Config::for_tests();
    if let Some(limit) = options.max_raft_log {
        config.raft_log_gc_count_limit = limit;
    }
    if options.split {
        config.region_max_size = SPLIT_REGION_MAX_SIZE;
        config.region_split_size = SPLIT_REGION_MAX_SIZE * 2 / 3;
        config.region_split_check_diff = SPLIT_REGION_MAX_SIZE / 8;
        config.split_region_check_tick_interval = Duration::from_millis(50);
    }
    let cluster = Cluster::new(test_name, options.stores, config);
    run_workload_on(&cluster, test_name, &options, None)
}

/// A fault drill run alongside the clients in each round (its argument is
/// the round number): the round lasts until both the drill returned and
/// `round_duration` passed. Lab 3C stops a store and waits for the
/// scheduler to rebuild its replicas this way.
pub type Drill<'a> = &'a (dyn Fn(&Cluster, usize) + Sync);

/// Runs the workload on a cluster the caller built (with the split
/// settings and store count it wants), with an optional drill in every
/// round. Checks as [`run_generic_workload`] does.
pub fn run_workload_on(
    cluster: &Cluster,
    test_name: &str,
    options: &WorkloadOptions,
    drill: Option<Drill<'_>>,
) -> WorkloadReport {
    let started = Instant::now();
    let options = options.clone();
    eprintln!(
        "[{test_name}] workload (seed {}): {options:?}",
        cluster.seed
    );
    let mut rng = StdRng::seed_from_u64(cluster.seed);
    let history = History::new();
    let mut clients: Vec<Client> = (0..options.clients)
        .map(|id| Client::new(id, &options, StdRng::seed_from_u64(rng.gen()), &history))
        .collect();
    let all_keys: Vec<Vec<Vec<u8>>> = clients
        .iter()
        .map(|client| client.keys.iter().map(|key| key.key.clone()).collect())
        .collect();

    let conf_changes = AtomicU64::new(0);
    let mut rounds = Vec::new();
    for round in 0..options.rounds {
        log::info!("--- round {round}: {} clients start", options.clients);
        let nemesis = Nemesis {
            rng: StdRng::seed_from_u64(rng.gen()),
            unreliable: options.unreliable,
            partitions: options.partitions,
        };
        let conf_changer = options.conf_change.then(|| ConfChanger {
            rng: StdRng::seed_from_u64(rng.gen()),
            applied: &conf_changes,
        });
        let report = run_round(
            cluster,
            &options,
            &mut clients,
            &all_keys,
            nemesis,
            conf_changer,
            drill.map(|drill| (drill, round)),
        );
        log::info!("--- round {round}: verify every client's acknowledged writes");
        for client in clients.iter_mut() {
            if let Err(error) = client.verify_keys(cluster) {
                cluster.fail(&format!("round {round}: client {}: {error}", client.id));
            }
        }
        log::info!("--- round {round} done: {report:?}");
        rounds.push(report);
    }

    log::info!("--- every replica of every region holds the same data");
    let regions = cluster.regions();
    for region in &regions {
        cluster.must_replicas_converge(region.id, Duration::from_secs(20));
    }
    if options.split {
        must_tile_key_space(cluster, &regions);
    }
    if let Some(limit) = options.max_raft_log {
        log::info!("--- every store trimmed its raft log");
        must_trim_raft_log(cluster, limit);
    }

    log::info!("--- the history is linearizable");
    let check_started = Instant::now();
    let operations = history.operations().len();
    let result = check_history(&history, options.check_timeout);
    let check_duration = check_started.elapsed();
    match result {
        CheckResult::Ok => {}
        CheckResult::Illegal { .. } => cluster.fail(&format!("{result}")),
        CheckResult::Unknown { .. } => cluster.fail(&format!(
            "{result} (an undecided history is not a pass; lower the operations per key)"
        )),
    }
    let report = WorkloadReport {
        seed: cluster.seed,
        rounds,
        operations,
        check_duration,
        regions: regions.len(),
        conf_changes: conf_changes.load(Ordering::SeqCst),
    };
    eprintln!(
        "[{test_name}] passed in {:?}: {operations} operations checked in {check_duration:?}; rounds: {:?}",
        started.elapsed(),
        report.rounds
    );
    report
}

/// The region size at which the `split` workload splits regions (TinyKV's
/// split tests use a few hundred bytes too).
pub const SPLIT_REGION_MAX_SIZE: u64 = 600;

/// The regions start at the empty key, end unbounded, and each starts
/// where the previous one ends.
fn must_tile_key_space(cluster: &Cluster, regions: &[proto::metapb::Region]) {
    let tiles = regions
        .first()
        .is_some_and(|first| first.start_key.is_empty())
        && regions.last().is_some_and(|last| last.end_key.is_empty())
        && regions
            .windows(2)
            .all(|pair| pair[0].end_key == pair[1].start_key);
    if !tiles {
        cluster.fail(&format!(
            "the regions do not tile the key space: {regions:?}"
        ));
    }
}

/// How long a healed (and restarted) cluster may take to acknowledge a
/// write before the round fails for lack of progress.
pub const PROGRESS_TIMEOUT: Duration = Duration::from_secs(30);

/// One round: clients and nemesis run for `round_duration`; then the
/// nemesis stops, the network heals, the stores crash if asked (under the
/// running clients), the clients go on until the healed cluster acknowledged
/// a write, and finish their last requests.
fn run_round(
    cluster: &Cluster,
    options: &WorkloadOptions,
    clients: &mut [Client],
    all_keys: &[Vec<Vec<u8>>],
    mut nemesis: Nemesis,
    conf_changer: Option<ConfChanger<'_>>,
    drill: Option<(Drill<'_>, usize)>,
) -> RoundReport {
    let stop = AtomicBool::new(false);
    let nemesis_stop = AtomicBool::new(false);
    let acknowledged = AtomicU64::new(0);
    let mut failures = Vec::new();
    let mut report = RoundReport::default();
    std::thread::scope(|scope| {
        // If this thread panics below (a store fails to restart), the scope
        // still joins every thread: tell them to stop, or it waits forever.
        let _stop_on_unwind = StopOnDrop(&[&stop, &nemesis_stop]);
        let nemesis_thread = scope.spawn(|| nemesis.run(cluster, &nemesis_stop));
        // The conf changer runs as long as the clients: through the faults,
        // the crash and the healed phase.
        let conf_changer = conf_changer.map(|mut changer| {
            let stop = &stop;
            scope.spawn(move || changer.run(cluster, stop))
        });
        let client_threads: Vec<_> = clients
            .iter_mut()
            .map(|client| {
                let stop = &stop;
                let acknowledged = &acknowledged;
                scope.spawn(move || client.run(cluster, all_keys, stop, acknowledged))
            })
            .collect();
        let drill_thread = drill.map(|(drill, round)| scope.spawn(move || drill(cluster, round)));
        // Let the round run, but end it early if a client already failed.
        let deadline = Instant::now() + options.round_duration;
        while Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
        }
        // The drill has its own deadlines (and fails the test past them).
        if drill_thread.is_some_and(|thread| thread.join().is_err()) {
            failures.push("the drill failed (see its panic above)".to_string());
        }
        nemesis_stop.store(true, Ordering::SeqCst);
        if nemesis_thread.join().is_err() {
            failures.push("the nemesis thread panicked".to_string());
        }
        cluster.heal();
        if options.crash {
            // The clients are still running: their requests in flight die
            // with the stores, and the next ones meet freshly restarted
            // stores that must recover everything acknowledged so far.
            log::info!("--- crash: stop every store while clients run, then start them again");
            for store_id in cluster.store_ids() {
                cluster.stop_store(store_id);
            }
            for store_id in cluster.store_ids() {
                cluster.start_store(store_id);
            }
        }
        // Progress is asserted on the healed cluster only: during the round
        // a loaded machine may not commit anything at all, and that is no
        // bug. After the heal it must.
        let healed_at = acknowledged.load(Ordering::SeqCst);
        let deadline = Instant::now() + PROGRESS_TIMEOUT;
        while acknowledged.load(Ordering::SeqCst) == healed_at && !stop.load(Ordering::SeqCst) {
            if Instant::now() > deadline {
                failures.push(format!(
                    "no write was acknowledged within {PROGRESS_TIMEOUT:?} after the network healed{}: the cluster made no progress",
                    if options.crash { " and the stores restarted" } else { "" }
                ));
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        stop.store(true, Ordering::SeqCst);
        if conf_changer.is_some_and(|thread| thread.join().is_err()) {
            failures.push("the conf-change thread panicked".to_string());
        }
        for (client_id, thread) in client_threads.into_iter().enumerate() {
            match thread.join() {
                Ok(Ok(client_report)) => report.add(&client_report),
                Ok(Err(error)) => failures.push(format!("client {client_id}: {error}")),
                Err(_) => failures.push(format!("client {client_id} panicked")),
            }
        }
    });
    if !failures.is_empty() {
        cluster.fail(&failures.join("; "));
    }
    report
}

/// Sets every flag when dropped, also during a panic.
pub(crate) struct StopOnDrop<'a>(pub(crate) &'a [&'a AtomicBool]);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        for flag in self.0 {
            flag.store(true, Ordering::SeqCst);
        }
    }
}

/// Sleeps until `deadline`, waking early when `stop` is set.
fn sleep_until(deadline: Instant, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(10)));
    }
}

/// The fault injector of one round (also the transaction workloads').
pub(crate) struct Nemesis {
    rng: StdRng,
    unreliable: bool,
    partitions: bool,
}

impl Nemesis {
    /// A nemesis drawing its choices from `rng`.
    pub(crate) fn new(rng: StdRng, unreliable: bool, partitions: bool) -> Nemesis {
        Nemesis {
            rng,
            unreliable,
            partitions,
        }
    }

    /// Installs the round's faults and, with partitions, keeps re-splitting
    /// the stores until `stop` is set. The caller heals the network after.
    pub(crate) fn run(&mut self, cluster: &Cluster, stop: &AtomicBool) {
        if self.unreliable {
            log::info!("--- nemesis: unreliable network (drop 10%, reorder 20%)");
            cluster.network().add_filter(Filter::DropPercent(10));
            cluster.network().add_filter(Filter::Reorder {
                percent: 20,
                max: Duration::from_millis(25),
            });
        }
        if !self.partitions {
            return;
        }
        while !stop.load(Ordering::SeqCst) {
            // Each store lands on a random side; a side may be empty (a
            // healthy network for this period). With 5 stores one side
            // always has a majority, which must make progress.
            let (left, right): (Vec<u64>, Vec<u64>) = cluster
                .store_ids()
                .into_iter()
                .partition(|_| self.rng.gen_bool(0.5));
            cluster
                .network()
                .remove_filters(|filter| matches!(filter, Filter::Partition(_)));
            cluster.partition(&[&left, &right]);
            // Longer than an election timeout (100–200 ms in tests), so a
            // majority side has time to elect a leader and serve.
            let hold = Duration::from_millis(self.rng.gen_range(200..=500));
            sleep_until(Instant::now() + hold, stop);
        }
    }
}

/// Moves peers between stores while the clients run (lab 3B).
struct ConfChanger<'a> {
    rng: StdRng,
    /// Counts the changes that were applied (answered without error).
    applied: &'a AtomicU64,
}

impl ConfChanger<'_> {
    /// Every 100–300 ms: pick a random region, and add a peer on a random
    /// store without one or remove a random peer (keeping at least three).
    /// Refusals and timeouts are expected (an election, a change in
    /// progress, a partition): the next step simply tries again.
    fn run(&mut self, cluster: &Cluster, stop: &AtomicBool) {
        use proto::eraftpb::ConfChangeType;
        while !stop.load(Ordering::SeqCst) {
            let pause = Duration::from_millis(self.rng.gen_range(100..=300));
            sleep_until(Instant::now() + pause, stop);
            let regions = cluster.regions();
            if regions.is_empty() {
                continue;
            }
            let region = &regions[self.rng.gen_range(0..regions.len())];
            let holders: Vec<u64> = region.peers.iter().map(|peer| peer.store_id).collect();
            let free: Vec<u64> = cluster
                .store_ids()
                .into_iter()
                .filter(|store_id| !holders.contains(store_id))
                .collect();
            let add = !free.is_empty() && (holders.len() <= 3 || self.rng.gen_bool(0.5));
            let admin = if add {
                let mut peer = proto::metapb::Peer::new();
                peer.id = cluster.alloc_id();
                peer.store_id = free[self.rng.gen_range(0..free.len())];
                log::info!(
                    "--- conf change: add a peer of region {} on store {}",
                    region.id,
                    peer.store_id
                );
                Cluster::change_peer_request(ConfChangeType::AddNode, &peer)
            } else if holders.len() > 3 {
                let peer = &region.peers[self.rng.gen_range(0..region.peers.len())];
                log::info!(
                    "--- conf change: remove the peer of region {} on store {}",
                    region.id,
                    peer.store_id
                );
                Cluster::change_peer_request(ConfChangeType::RemoveNode, peer)
            } else {
                continue;
            };
            match cluster.admin_request(region.id, admin, Duration::from_secs(1)) {
                Ok(response) if !response.header().error.is_some() => {
                    self.applied.fetch_add(1, Ordering::SeqCst);
                }
                Ok(response) => log::debug!(
                    "conf change of region {} refused: {}",
                    region.id,
                    response.header().error().message
                ),
                Err(error) => {
                    log::debug!("conf change of region {} not answered: {error}", region.id)
                }
            }
        }
    }
}

/// One of a client's keys and what the client knows about it.
struct TrackedKey {
    key: Vec<u8>,
    /// The value after every acknowledged write (empty: never written).
    acknowledged: Vec<u8>,
    /// A full-value Put whose outcome is unknown: the client sends it again
    /// before anything else, and the round's verification settles it.
    pending: Option<Vec<u8>>,
}

/// A client: owns `keys_per_client` keys and appends to them with
/// idempotent full-value Puts.
struct Client {
    id: usize,
    rng: StdRng,
    keys: Vec<TrackedKey>,
    /// The sequence number of the client's next write (unique per client).
    next_sequence: u64,
    history: History,
    request_timeout: Duration,
}

impl Client {
    fn new(id: usize, options: &WorkloadOptions, rng: StdRng, history: &History) -> Client {
        let keys = (0..options.keys_per_client)
            .map(|index| TrackedKey {
                key: format!("{id:02}:{index}").into_bytes(),
                acknowledged: Vec::new(),
                pending: None,
            })
            .collect();
        Client {
            id,
            rng,
            keys,
            next_sequence: 0,
            history: history.clone(),
            request_timeout: options.request_timeout,
        }
    }

    fn history_id(&self) -> u64 {
        self.id as u64
    }

    /// The client's keys are `"{id:02}:{index}"`: this prefix range holds
    /// exactly them.
    fn key_range(&self) -> (Vec<u8>, Vec<u8>) {
        (
            format!("{:02}:", self.id).into_bytes(),
            // ';' is the byte after ':'.
            format!("{:02};", self.id).into_bytes(),
        )
    }

    /// Runs operations until `stop` is set. An error is a wrong answer the
    /// client can prove on its own (it also stops the round).
    fn run(
        &mut self,
        cluster: &Cluster,
        all_keys: &[Vec<Vec<u8>>],
        stop: &AtomicBool,
        acknowledged: &AtomicU64,
    ) -> Result<RoundReport, String> {
        let mut report = RoundReport::default();
        while !stop.load(Ordering::SeqCst) {
            let before = report.acknowledged_writes;
            let result = if let Some(index) = self.keys.iter().position(|key| key.pending.is_some())
            {
                self.put(cluster, index, &mut report);
                Ok(())
            } else {
                let index = self.rng.gen_range(0..self.keys.len());
                match self.rng.gen_range(0..10) {
                    0..=5 => {
                        let segment = format!("x {} {} y", self.id, self.next_sequence);
                        self.next_sequence += 1;
                        let mut value = self.keys[index].acknowledged.clone();
                        value.extend_from_slice(segment.as_bytes());
                        self.keys[index].pending = Some(value);
                        self.put(cluster, index, &mut report);
                        Ok(())
                    }
                    6..=7 => self.get_own(cluster, index, &mut report),
                    8 => {
                        self.get_other(cluster, all_keys, &mut report);
                        Ok(())
                    }
                    _ => self.scan_own(cluster, &mut report),
                }
            };
            if let Err(error) = result {
                stop.store(true, Ordering::SeqCst);
                return Err(error);
            }
            acknowledged.fetch_add(report.acknowledged_writes - before, Ordering::SeqCst);
        }
        Ok(report)
    }

    /// Sends the key's pending full value. Acknowledged: it becomes the
    /// expected value. Otherwise it stays pending, to be sent again.
    fn put(&mut self, cluster: &Cluster, index: usize, report: &mut RoundReport) {
        let key = self.keys[index].key.clone();
        let Some(value) = self.keys[index].pending.clone() else {
            return;
        };
        let operation = self.history.call(
            self.history_id(),
            KvInput::Put {
                key: key.clone(),
                value: value.clone(),
            },
        );
        let requests = vec![put_request(&key, &value)];
        match cluster.request(&key, requests, self.request_timeout) {
            Ok(_) => {
                operation.finish(KvOutput::Done);
                self.keys[index].acknowledged = value;
                self.keys[index].pending = None;
                report.acknowledged_writes += 1;
            }
            Err(error) => {
                operation.finish(KvOutput::Unknown);
                report.unknown_writes += 1;
                log::debug!("client {}: put outcome unknown: {error}", self.id);
            }
        }
    }

    /// Reads one of its own keys: with no write pending, the answer must be
    /// exactly the acknowledged value (read-your-writes).
    fn get_own(
        &mut self,
        cluster: &Cluster,
        index: usize,
        report: &mut RoundReport,
    ) -> Result<(), String> {
        let key = self.keys[index].key.clone();
        let Some(value) = self.get(cluster, &key, report) else {
            return Ok(());
        };
        let expected = as_value(&self.keys[index].acknowledged);
        if value != expected {
            return Err(format!(
                "Get {:?} returned {:?} but the acknowledged value is {:?}",
                text(&key),
                value.as_deref().map(text),
                expected.as_deref().map(text)
            ));
        }
        Ok(())
    }

    /// Reads another client's key: only the linearizability checker can
    /// judge the answer (the other client may be writing it right now).
    fn get_other(
        &mut self,
        cluster: &Cluster,
        all_keys: &[Vec<Vec<u8>>],
        report: &mut RoundReport,
    ) {
        let others: Vec<usize> = (0..all_keys.len()).filter(|&id| id != self.id).collect();
        if others.is_empty() {
            return;
        }
        let owner = others[self.rng.gen_range(0..others.len())];
        let key = all_keys[owner][self.rng.gen_range(0..all_keys[owner].len())].clone();
        let _ = self.get(cluster, &key, report);
    }

    /// A recorded Get; `None` when its outcome is unknown.
    fn get(
        &mut self,
        cluster: &Cluster,
        key: &[u8],
        report: &mut RoundReport,
    ) -> Option<Option<Vec<u8>>> {
        let operation = self
            .history
            .call(self.history_id(), KvInput::Get { key: key.to_vec() });
        let response = cluster.request(key, vec![get_request(key)], self.request_timeout);
        match response.and_then(|response| value_of_get(&response)) {
            Ok(value) => {
                operation.finish(KvOutput::Value(value.clone()));
                report.reads += 1;
                Some(value)
            }
            Err(error) => {
                operation.finish(KvOutput::Unknown);
                report.failed_reads += 1;
                log::debug!("client {}: get failed: {error}", self.id);
                None
            }
        }
    }

    /// Scans its own key range: a point-in-time view that must hold exactly
    /// the acknowledged values. Recorded as one Get per key over the scan's
    /// interval (a snapshot is a read of every key at one moment).
    fn scan_own(&mut self, cluster: &Cluster, report: &mut RoundReport) -> Result<(), String> {
        let (start, end) = self.key_range();
        let operations: Vec<_> = self
            .keys
            .iter()
            .map(|key| {
                self.history.call(
                    self.history_id(),
                    KvInput::Get {
                        key: key.key.clone(),
                    },
                )
            })
            .collect();
        let response = cluster.request(&start, vec![snap_request()], self.request_timeout);
        let scanned = response.and_then(|response| scan_snapshot(response, &start, &end));
        let (found, covered) = match scanned {
            Ok(scanned) => scanned,
            Err(error) => {
                for operation in operations {
                    operation.finish(KvOutput::Unknown);
                }
                report.failed_reads += 1;
                log::debug!("client {}: scan failed: {error}", self.id);
                return Ok(());
            }
        };
        report.reads += 1;
        // After a split the snapshot covers only its region's part of the
        // range: a key outside it was not read at all.
        for (operation, key) in operations.into_iter().zip(&self.keys) {
            if covered.contains(&key.key) {
                operation.finish(KvOutput::Value(found.get(&key.key).cloned()));
            } else {
                operation.finish(KvOutput::Unknown);
            }
        }
        for (key, value) in &found {
            let Some(tracked) = self.keys.iter().find(|tracked| &tracked.key == key) else {
                return Err(format!(
                    "Scan [{:?}, {:?}) returned key {:?} that no client wrote",
                    text(&start),
                    text(&end),
                    text(key)
                ));
            };
            if *value != tracked.acknowledged {
                return Err(format!(
                    "Scan returned {:?} = {:?} but the acknowledged value is {:?}",
                    text(key),
                    text(value),
                    text(&tracked.acknowledged)
                ));
            }
        }
        if let Some(missing) = self.keys.iter().find(|tracked| {
            !tracked.acknowledged.is_empty()
                && covered.contains(&tracked.key)
                && !found.contains_key(&tracked.key)
        }) {
            return Err(format!(
                "Scan did not return {:?}, acknowledged as {:?}",
                text(&missing.key),
                text(&missing.acknowledged)
            ));
        }
        Ok(())
    }

    /// After a round (network healed, clients stopped): every key must hold
    /// exactly the acknowledged writes in order, or those plus the one write
    /// whose outcome was unknown, which this read settles.
    fn verify_keys(&mut self, cluster: &Cluster) -> Result<(), String> {
        for index in 0..self.keys.len() {
            let key = self.keys[index].key.clone();
            let operation = self
                .history
                .call(self.history_id(), KvInput::Get { key: key.clone() });
            let value = cluster
                .request(&key, vec![get_request(&key)], Duration::from_secs(20))
                .and_then(|response| value_of_get(&response))
                .map_err(|error| format!("the healed cluster did not answer a Get: {error}"))?;
            operation.finish(KvOutput::Value(value.clone()));
            let tracked = &mut self.keys[index];
            let actual = value.unwrap_or_default();
            if actual == tracked.acknowledged {
                // The unknown write never took effect, and never will: this
                // read went through the log after it.
                tracked.pending = None;
            } else if tracked.pending.as_ref() == Some(&actual) {
                tracked.acknowledged = actual;
                tracked.pending = None;
            } else {
                return Err(describe_mismatch(
                    &key,
                    &tracked.acknowledged,
                    tracked.pending.as_deref(),
                    &actual,
                ));
            }
        }
        Ok(())
    }
}

/// A message that says which acknowledged write is missing, doubled or out
/// of order.
fn describe_mismatch(
    key: &[u8],
    acknowledged: &[u8],
    pending: Option<&[u8]>,
    actual: &[u8],
) -> String {
    let expected = segments(acknowledged);
    let found = segments(actual);
    let first_difference = expected
        .iter()
        .zip(&found)
        .position(|(expected, found)| expected != found)
        .unwrap_or(expected.len().min(found.len()));
    format!(
        "key {:?} lost, doubled or reordered acknowledged writes: expected the writes {:?}{}, \
         the store has {:?}; they first differ at write #{first_difference} \
         (expected {:?}, found {:?})",
        text(key),
        expected,
        match pending {
            Some(pending) => format!(" (or {:?} if the unknown write landed)", segments(pending)),
            None => String::new(),
        },
        found,
        expected.get(first_difference),
        found.get(first_difference),
    )
}

/// Splits a value into its appended segments `"x {client} {sequence} y"`.
fn segments(value: &[u8]) -> Vec<String> {
    text(value)
        .split_inclusive(" y")
        .map(|segment| segment.trim().to_string())
        .filter(|segment| !segment.is_empty())
        .collect()
}

/// An empty tracked value means the key was never written.
fn as_value(value: &[u8]) -> Option<Vec<u8>> {
    if value.is_empty() {
        None
    } else {
        Some(value.to_vec())
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The value a Get answered; a raft Get has no "not found" flag, so an
/// empty value is a missing key (the workload never writes empty values).
fn value_of_get(response: &CmdResponse) -> Result<Option<Vec<u8>>, String> {
    let value = response
        .response
        .responses
        .first()
        .ok_or("a Get answered without a response")?
        .get()
        .value
        .clone();
    Ok(as_value(&value))
}

/// Keys and values a scan returned, in key order.
type ScannedPairs = BTreeMap<Vec<u8>, Vec<u8>>;

/// The part of a key range one region's snapshot covers.
struct Covered {
    start: Vec<u8>,
    /// Empty: unbounded.
    end: Vec<u8>,
}

impl Covered {
    fn contains(&self, key: &[u8]) -> bool {
        key >= self.start.as_slice() && (self.end.is_empty() || key < self.end.as_slice())
    }
}

/// The keys and values in `[start, end)` of the snapshot a Snap command
/// answered, and the part of `[start, end)` the snapshot's region covers
/// (all of it unless the range crosses a split).
fn scan_snapshot(
    response: CmdResponse,
    start: &[u8],
    end: &[u8],
) -> Result<(ScannedPairs, Covered), String> {
    let region = response
        .response
        .responses
        .first()
        .map(|single| single.snap().region().clone())
        .ok_or("a Snap answered without its region")?;
    let covered = Covered {
        start: start.max(region.start_key.as_slice()).to_vec(),
        end: if region.end_key.is_empty() || region.end_key.as_slice() >= end {
            end.to_vec()
        } else {
            region.end_key.clone()
        },
    };
    let snapshot = response
        .snapshot
        .ok_or("a Snap answered without a snapshot")?;
    let mut iterator = snapshot
        .iter_cf(CF_DEFAULT)
        .map_err(|error| error.to_string())?;
    iterator.seek(start);
    let mut found = BTreeMap::new();
    while iterator.valid().map_err(|error| error.to_string())? {
        if iterator.key() >= end {
            break;
        }
        found.insert(iterator.key().to_vec(), iterator.value().to_vec());
        iterator.next();
    }
    Ok((found, covered))
}

/// Waits until every running store keeps at most `2 * limit` applied
/// entries in its raft log (TinyKV's "logs were not trimmed" check).
fn must_trim_raft_log(cluster: &Cluster, limit: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let statuses = cluster.region_statuses(FIRST_REGION_ID);
        let untrimmed: Vec<_> = statuses
            .iter()
            .filter(|(_, status)| {
                // TinyKV's applied − truncated, with truncated = first − 1.
                (status.applied_index + 1).saturating_sub(status.first_index) > 2 * limit
            })
            .map(|(store_id, status)| (*store_id, status.first_index, status.applied_index))
            .collect();
        if untrimmed.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            cluster.fail(&format!(
                "raft logs were not trimmed to 2 * {limit} entries: (store, first index, applied index) {untrimmed:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value splits into its appended segments.
    #[test]
    fn segments_split_a_value_into_writes() {
        assert_eq!(
            segments(b"x 1 0 yx 1 1 yx 1 2 y"),
            vec!["x 1 0 y", "x 1 1 y", "x 1 2 y"]
        );
        assert!(segments(b"").is_empty());
    }

    /// A lost write is named by its position and content.
    #[test]
    fn mismatch_names_the_first_lost_write() {
        let message = describe_mismatch(b"01:0", b"x 1 0 yx 1 1 yx 1 2 y", None, b"x 1 0 yx 1 2 y");
        assert!(message.contains("write #1"), "{message}");
        assert!(message.contains("expected Some(\"x 1 1 y\")"), "{message}");
    }
}
