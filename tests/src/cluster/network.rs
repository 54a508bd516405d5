//! [`Network`]: the simulated network between the stores of a test cluster.
//!
//! Each store gets a [`StoreTransport`] (its `raftstore::Transport`); all of
//! them share one `Network`, which knows the running stores and the active
//! [`Filter`]s. A raft message is encoded to bytes and decoded again on
//! delivery, as on a real wire, then handed to the target store's router.
//! Delayed messages wait in a heap on the `network_delay` thread.
//!
//! Snapshots travel through the same network: `send_snapshot` applies the
//! filters to the whole stream (drop, cut, delay, corrupt), then feeds the
//! chunks to the target store's `SnapshotReceiver` on the sending store's
//! snap_runner thread, with the stream's deadline enforced chunk by chunk.
//!
//! Every random choice comes from one `StdRng` seeded with the test seed.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use log::debug;
use proto::raft_serverpb::{RaftMessage, SnapshotChunk};
use protobuf::Message as _;
use raftstore::snap_runner::SnapshotReceiver;
use raftstore::{Error, Result, Router, Transport};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::filter::Filter;

/// How a running store is reached.
#[derive(Clone)]
pub struct Endpoint {
    /// Delivers raft messages.
    pub router: Router,
    /// Accepts snapshot streams.
    pub receiver: SnapshotReceiver,
}

/// Message counters, for tests that check what the network did.
#[derive(Debug, Default)]
pub struct NetworkStats {
    /// Raft messages delivered.
    pub delivered: AtomicU64,
    /// Raft messages dropped by filters or because the target was down.
    pub dropped: AtomicU64,
    /// Snapshot streams delivered and accepted.
    pub snapshots_delivered: AtomicU64,
    /// Snapshot streams dropped, cut or refused.
    pub snapshots_failed: AtomicU64,
    /// Snapshot streams a [`Filter::CorruptSnapshots`] corrupted and the
    /// receiver refused (also counted in `snapshots_failed`).
    pub corrupted_snapshots_refused: AtomicU64,
}

struct Delayed {
    deliver_at: Instant,
    sequence: u64,
    to_store: u64,
    bytes: Vec<u8>,
}

impl PartialEq for Delayed {
    fn eq(&self, other: &Self) -> bool {
        (self.deliver_at, self.sequence) == (other.deliver_at, other.sequence)
    }
}
impl Eq for Delayed {}
impl PartialOrd for Delayed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Delayed {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.deliver_at, self.sequence).cmp(&(other.deliver_at, other.sequence))
    }
}

struct NetworkInner {
    endpoints: RwLock<HashMap<u64, Endpoint>>,
    filters: Mutex<Vec<Filter>>,
    rng: Mutex<StdRng>,
    delay_sender: Mutex<Option<Sender<Delayed>>>,
    sequence: AtomicU64,
    stats: NetworkStats,
}

/// The simulated network (cheap to clone; clones share everything).
#[derive(Clone)]
pub struct Network {
    inner: Arc<NetworkInner>,
    delay_thread: Arc<Mutex<Option<JoinHandle<()>>>>,
}

/// What the filters decided for one message.
enum Verdict {
    Deliver,
    Drop,
    DelayBy(Duration),
}

impl Network {
    /// A network whose random choices come from `seed`.
    pub fn new(seed: u64) -> Network {
        let (delay_sender, delay_receiver) = crossbeam_channel::unbounded();
        let inner = Arc::new(NetworkInner {
            endpoints: RwLock::new(HashMap::new()),
            filters: Mutex::new(Vec::new()),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            delay_sender: Mutex::new(Some(delay_sender)),
            sequence: AtomicU64::new(0),
            stats: NetworkStats::default(),
        });
        let thread_inner = Arc::clone(&inner);
        let handle = std::thread::Builder::new()
            .name("network_delay".to_string())
            .spawn(move || run_delay_thread(thread_inner, delay_receiver))
            .expect("spawning the network delay thread (a test environment without threads cannot run clusters)");
        Network {
            inner,
            delay_thread: Arc::new(Mutex::new(Some(handle))),
        }
    }

    /// The transport store `store_id` sends through.
    pub fn transport(&self, store_id: u64) -> StoreTransport {
        StoreTransport {
            store_id,
            network: self.clone(),
        }
    }

    /// Makes a running store reachable.
    pub fn connect(&self, store_id: u64, endpoint: Endpoint) {
        self.inner
            .endpoints
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(store_id, endpoint);
    }

    /// Makes a stopped store unreachable.
    pub fn disconnect(&self, store_id: u64) {
        self.inner
            .endpoints
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&store_id);
    }

    /// Adds a fault.
    pub fn add_filter(&self, filter: Filter) {
        self.inner
            .filters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(filter);
    }

    /// Removes every fault: the network is healthy again.
    pub fn clear_filters(&self) {
        self.inner
            .filters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Removes the faults matching `predicate`.
    pub fn remove_filters(&self, predicate: impl Fn(&Filter) -> bool) {
        self.inner
            .filters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|filter| !predicate(filter));
    }

    /// The active faults.
    pub fn filters(&self) -> Vec<Filter> {
        self.inner
            .filters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Message counters.
    pub fn stats(&self) -> &NetworkStats {
        &self.inner.stats
    }

    /// Hands raw bytes to a store as if they came off the wire: a message
    /// that does not decode is dropped with a log line (and an error here).
    pub fn deliver_bytes(&self, to_store: u64, bytes: &[u8]) -> Result<()> {
        deliver(&self.inner, to_store, bytes)
    }

    fn verdict(&self, from: u64, to: u64, message_type: proto::eraftpb::MessageType) -> Verdict {
        let filters = self.inner.filters.lock().unwrap_or_else(|e| e.into_inner());
        let mut rng = self.inner.rng.lock().unwrap_or_else(|e| e.into_inner());
        let mut delay = Duration::ZERO;
        for filter in filters.iter() {
            if filter.cuts(from, to) {
                return Verdict::Drop;
            }
            match filter {
                Filter::DropPercent(percent) if rng.gen_range(0..100) < *percent => {
                    return Verdict::Drop
                }
                Filter::DropType(dropped) if *dropped == message_type => return Verdict::Drop,
                Filter::Delay { min, max } => delay += random_duration(&mut rng, *min, *max),
                Filter::Reorder { percent, max } if rng.gen_range(0..100) < *percent => {
                    delay += random_duration(&mut rng, Duration::ZERO, *max)
                }
                _ => {}
            }
        }
        if delay.is_zero() {
            Verdict::Deliver
        } else {
            Verdict::DelayBy(delay)
        }
    }

    /// Stops the delay thread (messages still waiting are dropped).
    pub fn shutdown(&self) {
        drop(
            self.inner
                .delay_sender
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
        if let Some(handle) = self
            .delay_thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = handle.join();
        }
    }
}

fn random_duration(rng: &mut StdRng, min: Duration, max: Duration) -> Duration {
    if max <= min {
        return min;
    }
    let span = (max - min).as_micros() as u64;
    min + Duration::from_micros(rng.gen_range(0..=span))
}

fn deliver(inner: &NetworkInner, to_store: u64, bytes: &[u8]) -> Result<()> {
    let message = match RaftMessage::parse_from_bytes(bytes) {
        Ok(message) => message,
        Err(error) => {
            log::warn!("network: store {to_store} got a raft message that does not decode ({error}); dropped");
            inner.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return Err(Error::Codec(error));
        }
    };
    let router = inner
        .endpoints
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(&to_store)
        .map(|endpoint| endpoint.router.clone());
    match router {
        Some(router) => {
            inner.stats.delivered.fetch_add(1, Ordering::Relaxed);
            router.send_raft_message(message)
        }
        None => {
            inner.stats.dropped.fetch_add(1, Ordering::Relaxed);
            Err(Error::Transport(format!("store {to_store} is down")))
        }
    }
}

fn run_delay_thread(inner: Arc<NetworkInner>, receiver: Receiver<Delayed>) {
    let mut heap: BinaryHeap<Reverse<Delayed>> = BinaryHeap::new();
    loop {
        let timeout = heap
            .peek()
            .map(|Reverse(next)| next.deliver_at.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_secs(3600));
        match receiver.recv_timeout(timeout) {
            Ok(delayed) => heap.push(Reverse(delayed)),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        while heap
            .peek()
            .is_some_and(|Reverse(next)| next.deliver_at <= now)
        {
            let Reverse(due) = heap.pop().expect("peek() just returned Some");
            let _ = deliver(&inner, due.to_store, &due.bytes);
        }
    }
}

/// One store's view of the network: its `raftstore::Transport`.
#[derive(Clone)]
pub struct StoreTransport {
    store_id: u64,
    network: Network,
}

impl Transport for StoreTransport {
    fn send(&self, message: RaftMessage) -> Result<()> {
        let to = message.to_peer().store_id;
        let message_type = message.message().msg_type();
        let bytes = message.write_to_bytes()?;
        match self.network.verdict(self.store_id, to, message_type) {
            Verdict::Drop => {
                self.network
                    .inner
                    .stats
                    .dropped
                    .fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Verdict::Deliver => deliver(&self.network.inner, to, &bytes),
            Verdict::DelayBy(delay) => {
                let delayed = Delayed {
                    deliver_at: Instant::now() + delay,
                    sequence: self.network.inner.sequence.fetch_add(1, Ordering::Relaxed),
                    to_store: to,
                    bytes,
                };
                let sender = self
                    .network
                    .inner
                    .delay_sender
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                match sender.as_ref() {
                    Some(sender) => sender
                        .send(delayed)
                        .map_err(|_| Error::Transport("network is shut down".to_string())),
                    None => Err(Error::Transport("network is shut down".to_string())),
                }
            }
        }
    }

    fn send_snapshot(
        &self,
        to_store_id: u64,
        chunks: &mut dyn Iterator<Item = Result<SnapshotChunk>>,
        timeout: Duration,
    ) -> Result<()> {
        let inner = &self.network.inner;
        let deadline = Instant::now() + timeout;
        let mut corrupt = false;
        let mut delay = Duration::ZERO;
        {
            let mut filters = inner.filters.lock().unwrap_or_else(|e| e.into_inner());
            let mut rng = inner.rng.lock().unwrap_or_else(|e| e.into_inner());
            for filter in filters.iter_mut() {
                let dropped = filter.cuts(self.store_id, to_store_id)
                    || matches!(filter, Filter::DropSnapshots)
                    || matches!(filter, Filter::DropPercent(percent) if rng.gen_range(0..100) < *percent)
                    || matches!(
                        filter,
                        Filter::DropType(proto::eraftpb::MessageType::MsgSnapshot)
                    );
                if dropped {
                    inner.stats.snapshots_failed.fetch_add(1, Ordering::Relaxed);
                    return Err(Error::Transport(format!(
                        "snapshot stream {} -> {to_store_id} dropped by the network",
                        self.store_id
                    )));
                }
                match filter {
                    Filter::Delay { min, max } => delay += random_duration(&mut rng, *min, *max),
                    Filter::CorruptSnapshots { count } if *count > 0 => {
                        *count -= 1;
                        corrupt = true;
                    }
                    _ => {}
                }
            }
        }
        if !delay.is_zero() {
            // Runs on the sender's snap_runner thread: a slow link makes the
            // whole stream slow, exactly what a delay filter means.
            std::thread::sleep(delay.min(deadline.saturating_duration_since(Instant::now())));
        }
        let endpoint = inner
            .endpoints
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&to_store_id)
            .cloned()
            .ok_or_else(|| Error::Transport(format!("store {to_store_id} is down")))?;
        let mut failure = None;
        let mut corrupted = false;
        let mut stream = chunks.map_while(|chunk| {
            if Instant::now() > deadline {
                failure = Some(Error::Transport(format!(
                    "snapshot stream timed out after {timeout:?}"
                )));
                return None;
            }
            match chunk {
                Ok(mut chunk) => {
                    if corrupt && !corrupted && !chunk.data.is_empty() {
                        let middle = chunk.data.len() / 2;
                        chunk.data[middle] ^= 0xff;
                        corrupted = true;
                        debug!("network: corrupted a snapshot chunk for store {to_store_id}");
                    }
                    Some(chunk)
                }
                Err(error) => {
                    failure = Some(error);
                    None
                }
            }
        });
        let received = endpoint.receiver.receive(&mut stream);
        drop(stream);
        // Refused by the receiver itself, not cut short on the way.
        let corrupted_and_refused = corrupted && failure.is_none() && received.is_err();
        let result = match (failure, received) {
            (Some(error), _) => Err(error),
            (None, result) => result,
        };
        match &result {
            Ok(()) => inner
                .stats
                .snapshots_delivered
                .fetch_add(1, Ordering::Relaxed),
            Err(_) => {
                if corrupted_and_refused {
                    inner
                        .stats
                        .corrupted_snapshots_refused
                        .fetch_add(1, Ordering::Relaxed);
                }
                inner.stats.snapshots_failed.fetch_add(1, Ordering::Relaxed)
            }
        };
        result
    }
}
