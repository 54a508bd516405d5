//! The playground: a local 3-store cluster driven by a small command
//! language. `src/bin/playground.rs` (what `make run` starts) reads
//! commands from the terminal, from a script file, or runs
//! [`DEMO_SCRIPT`] when stdin is not a terminal.
//!
//! | command | what it does |
//! |---|---|
//! | `put KEY VALUE...` | write (the value is the rest of the line) |
//! | `get KEY` | linearizable read through raft |
//! | `delete KEY` | delete |
//! | `scan START END` | keys in `[START, END)` (`-` for an open end) |
//! | `stop N` / `start N` | stop / start store N (engines really closed and reopened) |
//! | `partition 1,2 3` | only stores in the same group can talk |
//! | `heal` | remove every network fault |
//! | `regions` | every store's view of every region (range, epoch, role), then regions and leaders per store |
//! | `stores` | each store as the scheduler sees it: state, last heartbeat, disk, regions, leaders |
//! | `balance on` / `balance off` | run / stop the scheduler's schedule tick (replica checker, balance-region, balance-leader); off at start |
//! | `leader [REGION]` | the current leader of a region (default 1) |
//! | `split KEY` | split the region holding KEY so a region starts at KEY |
//! | `add-peer REGION STORE` / `remove-peer REGION STORE` | membership change |
//! | `transfer-leader REGION STORE` | move the region's leadership |
//! | `compact REGION` | compact the region's log now (a stopped store then needs a snapshot) |
//! | `wait N KEY` | wait until store N has applied KEY (shows a restarted store catching up) |
//! | `snapshot [DIR]` | generate a snapshot of region 1 now (optionally export its files to DIR) |
//! | `log on` / `log off` | show / hide the call-chain log lines (`tinykv::chain`) |
//! | `begin` | start the interactive transaction (one at a time): a start timestamp from the scheduler's TSO |
//! | `tput KEY VALUE...` | buffer a write in it (nothing reaches a store before `commit`) |
//! | `tget KEY` | read in it: its own buffered write, else the value committed before its start timestamp (resolving locks it meets) |
//! | `commit` | two-phase commit of its writes: the commit timestamp, or why it did not commit |
//! | `rollback` | drop it (nothing was written) |
//! | `locks [START END]` | the transaction locks on user keys in `[START, END)` (`-` for an open end), read from each region's leader |
//! | `help`, `quit` | |
//!
//! Raw and transactional data do not mix: `put`/`get` store a key as it is
//! in the default column family, while transactions store it MVCC-encoded
//! (`storage::mvcc`) across the lock, default and write column families.
//! `tget` only sees what `tput` + `commit` wrote, and `get` never sees it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use proto::kvrpcpb::Context;
use raftstore::Config;
use scheduler::SchedulerService;
use storage::mvcc::{decode_user_key_without_ts, encode_user_key, physical_time, Lock};
use storage::CF_LOCK;

use crate::cluster::{
    delete_request, put_request, Cluster, ClusterOptions, Filter, FIRST_REGION_ID,
};
use crate::txn::{Transaction, TxnClient, TxnError};

/// The built-in demo: write, lose a store, keep writing, compact the log,
/// bring the store back and watch it catch up by snapshot; then split, and
/// commit a transaction across the two regions.
pub const DEMO_SCRIPT: &str = "\
# A 3-store cluster keeps serving while one store is down.
leader
put apple red
put banana yellow
get apple
scan a z
stop 3
# Store 3 is down: a quorum (stores 1 and 2) still accepts writes.
put cherry dark red
get cherry
# Compact the log: store 3 can only catch up by snapshot now.
compact 1
log on
start 3
# Store 3 restarts from its own disk and catches up from the leader.
wait 3 cherry
log off
# Split region 1 at \"c\": keys from c on live in a new region.
log on
split c
log off
put date brown
regions
# A transaction: writes buffered, then committed together by two-phase
# commit, here across both regions. Its keys are MVCC-encoded: tget sees
# only what tput wrote, get only what put wrote.
begin
tput apple green
tput kiwi brown
tget apple
commit
begin
tget kiwi
get kiwi
rollback
locks
";

/// Whether call-chain lines are printed (`log on` / `log off`).
static CHAIN_LOG_ENABLED: AtomicBool = AtomicBool::new(false);

/// The playground's logger: warnings and errors always; `tinykv::chain`
/// lines when `log on`; anything else only when `RUST_LOG` asks for it.
struct PlaygroundLogger {
    fallback: env_logger::Logger,
}

impl log::Log for PlaygroundLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Warn
            || (metadata.target() == raftstore::chain::CHAIN_TARGET
                && CHAIN_LOG_ENABLED.load(Ordering::Relaxed))
            || self.fallback.enabled(metadata)
    }

    fn log(&self, record: &log::Record) {
        if record.target() == raftstore::chain::CHAIN_TARGET
            && CHAIN_LOG_ENABLED.load(Ordering::Relaxed)
        {
            eprintln!("  {}", record.args());
        } else if record.level() <= log::Level::Warn || self.fallback.enabled(record.metadata()) {
            self.fallback.log(record);
        }
    }

    fn flush(&self) {}
}

/// Installs the playground's logger (once per process).
pub fn init_logging() {
    let fallback =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("off")).build();
    if log::set_boxed_logger(Box::new(PlaygroundLogger { fallback })).is_ok() {
        log::set_max_level(log::LevelFilter::Trace);
    }
}

/// The interactive transaction between `begin` and `commit`/`rollback`:
/// its start timestamp and buffered writes, as
/// [`Transaction::into_parts`] gives them (a [`Transaction`] itself
/// borrows a client of the cluster, so the playground cannot keep one).
type OpenTxn = (u64, BTreeMap<Vec<u8>, Option<Vec<u8>>>);

/// One record of the lock column family, as `locks` shows it.
struct LockRow {
    /// The user key (the raw record key if it does not decode).
    key: Vec<u8>,
    /// The lock, or why its record does not parse.
    lock: Result<Lock, String>,
    /// The region it was read in.
    region_id: u64,
    /// The store of that region's leader, where it was read.
    store_id: u64,
}

/// The error of a transaction command when no transaction is open.
const NO_OPEN_TXN: &str = "no open transaction (begin first)";

/// A cluster and the interpreter of playground commands.
pub struct Playground {
    cluster: Cluster,
    /// The interactive transaction, if one is open.
    open_txn: Mutex<Option<OpenTxn>>,
}

impl Playground {
    /// Starts a cluster of `stores` stores (data in `data_dir`, or a temp dir).
    pub fn start(stores: u64, data_dir: Option<std::path::PathBuf>, seed: u64) -> Playground {
        let mut config = Config::for_tests();
        // Human pace: 50 ms ticks, so leaders settle calmly.
        config.raft_base_tick_interval = Duration::from_millis(50);
        config.raft_log_gc_count_limit = 1000;
        let mut options = ClusterOptions::new(stores, config);
        options.data_dir = data_dir;
        // Three replicas, as a real cluster keeps: with more stores, the
        // others start empty and `balance on` moves regions to them.
        options.first_region_stores = Some(stores.min(3));
        options.scheduler.enable_balance_leader = true;
        options.scheduler.enable_balance_region = true;
        // Human pace: a store stopped for 30 s counts as down, and with
        // `balance on` its replicas are rebuilt on the other stores.
        options.scheduler.max_store_down_time = Duration::from_secs(30);
        let cluster = Cluster::with_options(seed, options);
        Playground {
            cluster,
            open_txn: Mutex::new(None),
        }
    }

    /// The cluster behind the playground.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Runs one command line; `Ok(None)` means "quit".
    pub fn execute(&self, line: &str) -> Result<Option<String>, String> {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return Ok(Some(String::new()));
        }
        let mut words = line.split_whitespace();
        let command = words.next().unwrap_or_default();
        let arguments: Vec<&str> = words.collect();
        let timeout = Duration::from_secs(10);
        let store_argument = |index: usize| -> Result<u64, String> {
            let text = arguments.get(index).ok_or("which store? (a number)")?;
            let store: u64 = text
                .parse()
                .map_err(|_| format!("{text:?} is not a store id"))?;
            if !self.cluster.store_ids().contains(&store) {
                return Err(format!("there is no store {store}"));
            }
            Ok(store)
        };
        let output = match command {
            "put" => {
                let (key, value) = key_and_value(&arguments, "usage: put KEY VALUE")?;
                self.put(key, &value, timeout)?;
                format!("ok: {key} = {value}")
            }
            "get" => {
                let [key] = arguments[..] else {
                    return Err("usage: get KEY".to_string());
                };
                match self
                    .cluster
                    .get_cf(storage::CF_DEFAULT, key.as_bytes(), timeout)?
                {
                    Some(value) => format!("{key} = {}", String::from_utf8_lossy(&value)),
                    None => format!("{key} not found"),
                }
            }
            "delete" => {
                let [key] = arguments[..] else {
                    return Err("usage: delete KEY".to_string());
                };
                self.delete(key, timeout)?;
                format!("ok: {key} deleted")
            }
            "scan" => {
                let [start, end] = arguments[..] else {
                    return Err("usage: scan START END (- for open end)".to_string());
                };
                let end = if end == "-" { "" } else { end };
                let pairs = self
                    .cluster
                    .try_scan(start.as_bytes(), end.as_bytes(), timeout)?;
                let mut text = format!("{} pairs", pairs.len());
                for (key, value) in pairs {
                    text.push_str(&format!(
                        "\n  {} = {}",
                        String::from_utf8_lossy(&key),
                        String::from_utf8_lossy(&value)
                    ));
                }
                text
            }
            "stop" => {
                let store = store_argument(0)?;
                self.cluster.stop_store(store);
                format!("store {store} stopped")
            }
            "start" => {
                let store = store_argument(0)?;
                self.cluster.start_store(store);
                format!("store {store} started")
            }
            "partition" => {
                if arguments.is_empty() {
                    return Err("usage: partition 1,2 3".to_string());
                }
                let mut groups = Vec::new();
                for group in &arguments {
                    let ids: Result<std::collections::HashSet<u64>, _> =
                        group.split(',').map(str::parse).collect();
                    groups.push(ids.map_err(|_| format!("{group:?} is not a list of store ids"))?);
                }
                self.cluster.network().add_filter(Filter::Partition(groups));
                format!("partitioned: {}", arguments.join(" | "))
            }
            "heal" => {
                self.cluster.heal();
                "network healed".to_string()
            }
            "regions" => self.regions(),
            "stores" => self.stores(),
            "balance" => match arguments.first().copied() {
                Some("on") => {
                    self.cluster.start_schedule_tick(SCHEDULE_INTERVAL);
                    "balance on: the scheduler's schedule tick runs (replica checker, balance-region, balance-leader)".to_string()
                }
                Some("off") => {
                    self.cluster.stop_schedule_tick();
                    "balance off: the schedule tick stopped (operators in flight finish)"
                        .to_string()
                }
                _ => return Err("balance on|off".to_string()),
            },
            "leader" => {
                let region_id = match arguments.first() {
                    Some(text) => parse_region(text)?,
                    None => FIRST_REGION_ID,
                };
                let peer = self.wait_leader(region_id, timeout)?;
                format!(
                    "region {region_id}: leader is peer {} on store {}",
                    peer.id, peer.store_id
                )
            }
            "split" => {
                let [key] = arguments[..] else {
                    return Err("usage: split KEY".to_string());
                };
                self.split(key.as_bytes(), timeout)?
            }
            "add-peer" | "remove-peer" | "transfer-leader" => {
                let [region, _] = arguments[..] else {
                    return Err(format!("usage: {command} REGION STORE"));
                };
                let region_id = parse_region(region)?;
                let store = store_argument(1)?;
                self.admin(command, region_id, store, timeout)?
            }
            "compact" => {
                let [region] = arguments[..] else {
                    return Err("usage: compact REGION".to_string());
                };
                let region_id = parse_region(region)?;
                let leader = self.wait_leader(region_id, timeout)?;
                self.cluster
                    .with_store(leader.store_id, |store| {
                        store.compact_log_now(region_id, timeout)
                    })
                    .ok_or("the leader's store is not running")??
            }
            "wait" => {
                let store = store_argument(0)?;
                let key = arguments.get(1).ok_or("usage: wait STORE KEY")?;
                let value = self.wait_for(store, key.as_bytes(), timeout)?;
                format!(
                    "store {store} caught up: {key} = {}",
                    String::from_utf8_lossy(&value)
                )
            }
            "snapshot" => {
                let export = arguments.first().map(std::path::PathBuf::from);
                let leader = self.cluster.wait_leader(FIRST_REGION_ID, timeout);
                self.cluster
                    .with_store(leader.store_id, |store| {
                        store.request_snapshot(FIRST_REGION_ID, export, timeout)
                    })
                    .ok_or("the leader's store is not running")??
            }
            "log" => match arguments.first().copied() {
                Some("on") => {
                    CHAIN_LOG_ENABLED.store(true, Ordering::Relaxed);
                    "call-chain logging on (target tinykv::chain)".to_string()
                }
                Some("off") => {
                    CHAIN_LOG_ENABLED.store(false, Ordering::Relaxed);
                    "call-chain logging off".to_string()
                }
                _ => return Err("usage: log on|off".to_string()),
            },
            "begin" => {
                if !arguments.is_empty() {
                    return Err("usage: begin".to_string());
                }
                self.begin()?
            }
            "tput" => {
                let (key, value) = key_and_value(&arguments, "usage: tput KEY VALUE")?;
                self.with_open_txn(|txn| txn.put(key.as_bytes(), value.as_bytes()))?;
                format!("buffered: {key} = {value} (written at commit)")
            }
            "tget" => {
                let [key] = arguments[..] else {
                    return Err("usage: tget KEY".to_string());
                };
                self.tget(key)?
            }
            "commit" => {
                if !arguments.is_empty() {
                    return Err("usage: commit".to_string());
                }
                self.commit()?
            }
            "rollback" => {
                if !arguments.is_empty() {
                    return Err("usage: rollback".to_string());
                }
                let (start_ts, writes) = self.open_txn().take().ok_or(NO_OPEN_TXN)?;
                let count = writes.len();
                self.txn_client().resume(start_ts, writes).rollback();
                format!(
                    "rolled back transaction {start_ts}: {count} buffered writes dropped (none had reached a store)"
                )
            }
            "locks" => {
                let bound = |text: &str| {
                    if text == "-" {
                        String::new()
                    } else {
                        text.to_string()
                    }
                };
                let (start, end) = match arguments[..] {
                    [] => (String::new(), String::new()),
                    [start, end] => (bound(start), bound(end)),
                    _ => return Err("usage: locks [START END] (- for an open end)".to_string()),
                };
                self.locks(start.as_bytes(), end.as_bytes(), timeout)?
            }
            "help" => HELP.to_string(),
            "quit" | "exit" => return Ok(None),
            other => return Err(format!("unknown command {other:?} (try help)")),
        };
        Ok(Some(output))
    }

    /// The interactive transaction's slot.
    fn open_txn(&self) -> MutexGuard<'_, Option<OpenTxn>> {
        self.open_txn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A transactional client of the cluster, with the scheduler's TSO as
    /// its timestamp oracle.
    fn txn_client(&self) -> TxnClient<'_> {
        TxnClient::new(&self.cluster, self.cluster.scheduler().as_ref())
    }

    /// Runs `f` on the open transaction, resumed from its parts, and keeps
    /// its parts again afterwards (whatever `f` returned).
    fn with_open_txn<T>(&self, f: impl FnOnce(&mut Transaction<'_, '_>) -> T) -> Result<T, String> {
        let mut open = self.open_txn();
        let (start_ts, writes) = open.take().ok_or(NO_OPEN_TXN)?;
        let client = self.txn_client();
        let mut txn = client.resume(start_ts, writes);
        let result = f(&mut txn);
        *open = Some(txn.into_parts());
        Ok(result)
    }

    /// `begin`: a new interactive transaction, unless one is open.
    fn begin(&self) -> Result<String, String> {
        let mut open = self.open_txn();
        if let Some((start_ts, _)) = open.as_ref() {
            return Err(format!(
                "transaction {start_ts} is still open: commit or rollback first"
            ));
        }
        let client = self.txn_client();
        let txn = client.begin().map_err(|error| error.to_string())?;
        let start_ts = txn.start_ts();
        *open = Some(txn.into_parts());
        Ok(format!(
            "begin: transaction {start_ts} (its start_ts: it reads what committed before it)"
        ))
    }

    /// `tget`: the open transaction's read of `key`.
    fn tget(&self, key: &str) -> Result<String, String> {
        let own_write = self
            .open_txn()
            .as_ref()
            .is_some_and(|(_, writes)| writes.contains_key(key.as_bytes()));
        let (start_ts, read) =
            self.with_open_txn(|txn| (txn.start_ts(), txn.get(key.as_bytes())))?;
        let source = if own_write {
            "this transaction's own write".to_string()
        } else {
            format!("at start_ts {start_ts}")
        };
        match read.map_err(|error| format!("tget {key}: {error} (the transaction stays open)"))? {
            Some(value) => Ok(format!(
                "{key} = {} ({source})",
                String::from_utf8_lossy(&value)
            )),
            None => Ok(format!("{key} not found ({source})")),
        }
    }

    /// `commit`: two-phase commit of the open transaction, which is over
    /// afterwards whatever the outcome.
    fn commit(&self) -> Result<String, String> {
        let (start_ts, writes) = self.open_txn().take().ok_or(NO_OPEN_TXN)?;
        let count = writes.len();
        let client = self.txn_client();
        match client.resume(start_ts, writes).commit() {
            Ok(_) if count == 0 => Ok(format!(
                "committed transaction {start_ts}: read-only, nothing to write"
            )),
            Ok(commit_ts) => Ok(format!(
                "committed transaction {start_ts} at commit_ts {commit_ts} ({count} keys)"
            )),
            Err(error @ TxnError::Unknown(_)) => Err(format!(
                "{error}: transaction {start_ts} may or may not have committed; \
                 a later reader resolves its locks (see `locks`)"
            )),
            Err(error) => Err(format!(
                "{error}: transaction {start_ts} did not commit (begin again)"
            )),
        }
    }

    /// `locks`: the locks on user keys in `[start, end)` (`end` empty:
    /// no end), retrying region errors until `timeout`.
    fn locks(&self, start: &[u8], end: &[u8], timeout: Duration) -> Result<String, String> {
        let lower = encode_user_key(start);
        let upper = (!end.is_empty()).then(|| encode_user_key(end));
        let deadline = std::time::Instant::now() + timeout;
        let locks = loop {
            match self.read_locks(&lower, upper.as_deref()) {
                Ok(locks) => break locks,
                Err(error) if std::time::Instant::now() > deadline => return Err(error),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        // The oracle's clock, as KvCheckTxnStatus would compare it.
        let now_ms = self.cluster.scheduler().tso().ok().map(physical_time);
        let plural = if locks.len() == 1 { "" } else { "s" };
        let mut text = format!("{} lock{plural}", locks.len());
        for LockRow {
            key,
            lock,
            region_id,
            store_id,
        } in locks
        {
            let Ok(lock) = lock else {
                text.push_str(&format!(
                    "\n  {}: malformed lock record (region {region_id} on store {store_id})",
                    String::from_utf8_lossy(&key)
                ));
                continue;
            };
            let expires_at = physical_time(lock.start_ts).saturating_add(lock.ttl);
            let life = match now_ms {
                Some(now) if now >= expires_at => "expired".to_string(),
                Some(now) => format!("expires in {} ms", expires_at - now),
                None => "expiry unknown".to_string(),
            };
            text.push_str(&format!(
                "\n  {}: primary {}, start_ts {}, ttl {} ms ({life}), kind {:?} (region {region_id} on store {store_id})",
                String::from_utf8_lossy(&key),
                String::from_utf8_lossy(&lock.primary),
                lock.start_ts,
                lock.ttl,
                lock.kind,
            ));
        }
        Ok(text)
    }

    /// The lock column family records with encoded keys in `[lower,
    /// upper)`, region by region, each read through a Snap of the region
    /// on its leader's store.
    fn read_locks(&self, lower: &[u8], upper: Option<&[u8]>) -> Result<Vec<LockRow>, String> {
        let mut locks = Vec::new();
        for region in self.cluster.regions() {
            let ends_before = !region.end_key.is_empty() && region.end_key.as_slice() <= lower;
            let starts_after = upper.is_some_and(|upper| region.start_key.as_slice() >= upper);
            if ends_before || starts_after {
                continue;
            }
            let leader = self
                .cluster
                .leader_of(region.id)
                .ok_or_else(|| format!("region {} has no leader", region.id))?;
            let server = self
                .cluster
                .server(leader.store_id)
                .ok_or_else(|| format!("store {} is not running", leader.store_id))?;
            let mut context = Context::new();
            context.region_id = region.id;
            context.region_epoch = Some(region.region_epoch().clone()).into();
            context.peer = Some(leader.clone()).into();
            let failed = |error: storage::Error| format!("region {}: {error}", region.id);
            let reader = server.storage().reader(&context).map_err(failed)?;
            let mut cursor = reader.iter_cf(CF_LOCK).map_err(failed)?;
            cursor.seek(lower.max(region.start_key.as_slice()));
            while cursor.valid().map_err(failed)? {
                if upper.is_some_and(|upper| cursor.key() >= upper) {
                    break;
                }
                let key = decode_user_key_without_ts(cursor.key())
                    .unwrap_or_else(|_| cursor.key().to_vec());
                let lock = Lock::parse(cursor.value()).map_err(|error| error.to_string());
                locks.push(LockRow {
                    key,
                    lock,
                    region_id: region.id,
                    store_id: leader.store_id,
                });
                cursor.next();
            }
        }
        Ok(locks)
    }

    fn put(&self, key: &str, value: &str, timeout: Duration) -> Result<(), String> {
        let request = put_request(key.as_bytes(), value.as_bytes());
        self.cluster
            .request(key.as_bytes(), vec![request], timeout)
            .map(|_| ())
    }

    fn delete(&self, key: &str, timeout: Duration) -> Result<(), String> {
        let request = delete_request(key.as_bytes());
        self.cluster
            .request(key.as_bytes(), vec![request], timeout)
            .map(|_| ())
    }

    fn wait_for(&self, store: u64, key: &[u8], timeout: Duration) -> Result<Vec<u8>, String> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(value) = self.cluster.get_from_store(store, key) {
                return Ok(value);
            }
            if std::time::Instant::now() > deadline {
                return Err(format!(
                    "store {store} still lacks {:?} after {timeout:?}",
                    String::from_utf8_lossy(key)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every region on every store: range, epoch, role, log position.
    fn regions(&self) -> String {
        let mut text = String::new();
        let mut region_counts: BTreeMap<u64, usize> = BTreeMap::new();
        let mut leader_counts: BTreeMap<u64, usize> = BTreeMap::new();
        for store in self.cluster.store_ids() {
            if !self.cluster.is_running(store) {
                text.push_str(&format!("store {store}: stopped\n"));
                continue;
            }
            let statuses = self
                .cluster
                .with_store(store, |running| running.store_meta().all())
                .unwrap_or_default();
            if statuses.is_empty() {
                text.push_str(&format!("store {store}: no regions\n"));
            }
            for status in statuses {
                let region = &status.region;
                if !region.peers.is_empty() {
                    *region_counts.entry(store).or_insert(0) += 1;
                    if status.is_leader {
                        *leader_counts.entry(store).or_insert(0) += 1;
                    }
                }
                text.push_str(&format!(
                    "store {store}: region {} [{}, {}) epoch (conf_ver {}, version {}) peer {} {} term {} applied {} first log index {}\n",
                    region.id,
                    display_key(&region.start_key),
                    display_key(&region.end_key),
                    region.region_epoch().conf_ver,
                    region.region_epoch().version,
                    status.peer_id,
                    if status.is_leader { "LEADER" } else { "follower" },
                    status.term,
                    status.applied_index,
                    status.first_index
                ));
            }
        }
        let per_store = |counts: &BTreeMap<u64, usize>| {
            self.cluster
                .store_ids()
                .iter()
                .map(|store| format!("store {store}: {}", counts.get(store).copied().unwrap_or(0)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        text.push_str(&format!(
            "regions per store: {}\n",
            per_store(&region_counts)
        ));
        text.push_str(&format!("leaders per store: {}", per_store(&leader_counts)));
        text
    }

    /// Every store as the scheduler knows it, from the store heartbeats
    /// and the region heartbeats.
    fn stores(&self) -> String {
        let scheduler = self.cluster.scheduler();
        let now_ms = scheduler.now_ms();
        let mut text = String::new();
        for store in scheduler.get_all_stores() {
            let heard = match store.last_heartbeat_ms {
                Some(at) => format!("{} ms ago", now_ms.saturating_sub(at)),
                None => "never".to_string(),
            };
            text.push_str(&format!(
                "store {} ({}, {:?}): last heartbeat {heard}; disk {} of {} free; {} regions ({} bytes), {} leaders\n",
                store.id(),
                if self.cluster.is_running(store.id()) { "running" } else { "stopped" },
                store.store.state(),
                human_bytes(store.available()),
                human_bytes(store.capacity()),
                store.region_count,
                store.region_size,
                store.leader_count,
            ));
        }
        let (leader, region) = scheduler.balance_enabled();
        let ticking = self.cluster.is_schedule_tick_running();
        text.push_str(&format!(
            "schedule tick {}; balance-leader {}, balance-region {}",
            if ticking {
                "running"
            } else {
                "stopped (balance off)"
            },
            if leader { "enabled" } else { "disabled" },
            if region { "enabled" } else { "disabled" },
        ));
        text
    }

    /// Waits up to `timeout` for a leader of `region_id`.
    fn wait_leader(
        &self,
        region_id: u64,
        timeout: Duration,
    ) -> Result<proto::metapb::Peer, String> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(peer) = self.cluster.leader_of(region_id) {
                return Ok(peer);
            }
            if std::time::Instant::now() > deadline {
                return Err(format!(
                    "region {region_id} has no leader after {timeout:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Splits the region holding `key` at `key`.
    fn split(&self, key: &[u8], timeout: Duration) -> Result<String, String> {
        let region = self
            .cluster
            .region_for_key(key)
            .ok_or("no region holds that key")?;
        if region.start_key == key {
            return Err(format!("region {} already starts at that key", region.id));
        }
        let response = self.admin_until_answered(region.id, timeout, || {
            self.cluster.split_request(&region, key)
        })?;
        let regions = &response.admin_response().split().regions;
        let described: Vec<String> = regions
            .iter()
            .map(|region| {
                format!(
                    "region {} [{}, {})",
                    region.id,
                    display_key(&region.start_key),
                    display_key(&region.end_key)
                )
            })
            .collect();
        Ok(format!("split: {}", described.join(" and ")))
    }

    /// add-peer / remove-peer / transfer-leader of `region_id` on `store`.
    fn admin(
        &self,
        command: &str,
        region_id: u64,
        store: u64,
        timeout: Duration,
    ) -> Result<String, String> {
        use proto::eraftpb::ConfChangeType;
        use proto::raft_cmdpb::{AdminCmdType, AdminRequest};
        let region = self
            .cluster
            .region(region_id)
            .ok_or_else(|| format!("no running store knows region {region_id}"))?;
        let existing = region
            .peers
            .iter()
            .find(|peer| peer.store_id == store)
            .cloned();
        let admin = match command {
            "add-peer" => {
                if existing.is_some() {
                    return Err(format!(
                        "region {region_id} already has a peer on store {store}"
                    ));
                }
                let mut peer = proto::metapb::Peer::new();
                peer.id = self.cluster.alloc_id();
                peer.store_id = store;
                Cluster::change_peer_request(ConfChangeType::AddNode, &peer)
            }
            "remove-peer" => {
                let peer = existing
                    .ok_or_else(|| format!("region {region_id} has no peer on store {store}"))?;
                Cluster::change_peer_request(ConfChangeType::RemoveNode, &peer)
            }
            _ => {
                let peer = existing
                    .ok_or_else(|| format!("region {region_id} has no peer on store {store}"))?;
                let mut admin = AdminRequest::new();
                admin.set_cmd_type(AdminCmdType::TransferLeader);
                admin.mut_transfer_leader().peer = Some(peer).into();
                admin
            }
        };
        self.admin_until_answered(region_id, timeout, || admin.clone())?;
        Ok(format!(
            "ok: {command} region {region_id} store {store} (see `regions`)"
        ))
    }

    /// Sends the admin command built by `admin` to the region's leader
    /// until a leader answers (no leader yet, or NotLeader during an
    /// election, are retried); a region error in that answer is an `Err`.
    fn admin_until_answered(
        &self,
        region_id: u64,
        timeout: Duration,
        admin: impl Fn() -> proto::raft_cmdpb::AdminRequest,
    ) -> Result<proto::raft_cmdpb::RaftCmdResponse, String> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let outcome = self.cluster.admin_request(region_id, admin(), left);
            let retry = match &outcome {
                Err(_) => true,
                Ok(response) => {
                    response.header().error.is_some()
                        && response.header().error().not_leader.is_some()
                }
            };
            if !retry || std::time::Instant::now() > deadline {
                let response = outcome?;
                region_result(&response)?;
                return Ok(response);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The arguments of `put` and `tput`: a key, and the rest of the line as
/// the value (not empty); else `usage` as the error.
fn key_and_value<'a>(arguments: &[&'a str], usage: &str) -> Result<(&'a str, String), String> {
    match arguments {
        [key, value @ ..] if !value.is_empty() => Ok((key, value.join(" "))),
        _ => Err(usage.to_string()),
    }
}

/// A region id argument.
fn parse_region(text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| format!("{text:?} is not a region id"))
}

/// A key for display: empty bounds show as "-".
fn display_key(key: &[u8]) -> String {
    if key.is_empty() {
        "-".to_string()
    } else {
        String::from_utf8_lossy(key).to_string()
    }
}

/// The region error of an admin response, as an `Err`.
fn region_result(response: &proto::raft_cmdpb::RaftCmdResponse) -> Result<(), String> {
    if response.header().error.is_some() {
        return Err(response.header().error().message.clone());
    }
    Ok(())
}

const HELP: &str =
    "commands: put KEY VALUE | get KEY | delete KEY | scan START END | stop N | start N | \
partition 1,2 3 | heal | regions | stores | balance on|off | leader [REGION] | wait N KEY | snapshot [DIR] | \
split KEY | add-peer REGION STORE | remove-peer REGION STORE | transfer-leader REGION STORE | \
compact REGION | log on|off | begin | tput KEY VALUE | tget KEY | commit | rollback | \
locks [START END] | help | quit\n\
(one interactive transaction at a time; tget only sees data written by tput + commit: \
put/get use another key encoding)";

/// How often the schedule tick runs after `balance on`.
const SCHEDULE_INTERVAL: Duration = Duration::from_millis(200);

/// `bytes` as B, KiB, MiB, GiB or TiB, one decimal.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
