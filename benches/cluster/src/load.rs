//! The load generator: N clients, each putting fresh keys with values of V
//! bytes back to back (one request in flight per client) for a fixed time,
//! and what came of it: writes per second and latency percentiles.
//!
//! Two drivers with one accounting: [`drive_async`] runs each client as a
//! task on the caller's tokio runtime (the gRPC targets: tinykv and etcd,
//! so neither pays for a thread per client), [`drive_threads`] as an OS
//! thread (the in-process cluster, whose handlers block). A warm-up period
//! runs first and is not counted: connections open, the leader's caches
//! fill.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Set by Ctrl-C: every client stops at its next request.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// One measurement's shape.
#[derive(Debug, Clone, Copy)]
pub struct LoadSpec {
    /// Concurrent clients.
    pub clients: usize,
    /// Bytes per value.
    pub value_size: usize,
    /// Uncounted time before the measurement.
    pub warmup: Duration,
    /// Counted time.
    pub duration: Duration,
}

/// What one measurement found.
#[derive(Debug, Clone, Copy)]
pub struct LoadReport {
    /// Acknowledged writes within the counted time.
    pub writes: u64,
    /// Failed writes within the counted time (timeouts, errors).
    pub errors: u64,
    /// The counted time.
    pub elapsed: Duration,
    /// Median latency of the acknowledged writes.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
}

impl LoadReport {
    /// Acknowledged writes per second.
    pub fn writes_per_second(&self) -> f64 {
        self.writes as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// One client's record: latencies of the writes completed in the counted
/// window, and its failures there.
#[derive(Default)]
struct ClientRecord {
    latencies: Vec<Duration>,
    errors: u64,
}

/// The key of a client's `sequence`-th put: unique, so every put is a new
/// key for both systems.
fn key(client: usize, sequence: u64) -> Vec<u8> {
    format!("bench-{client:03}-{sequence:012}").into_bytes()
}

/// When counting starts and when everything stops.
fn window(spec: &LoadSpec) -> (Instant, Instant) {
    let counted_from = Instant::now() + spec.warmup;
    (counted_from, counted_from + spec.duration)
}

/// Records one finished put if it started in the counted window.
fn record(
    record: &mut ClientRecord,
    started: Instant,
    counted_from: Instant,
    result: Result<(), String>,
) {
    if started < counted_from {
        return;
    }
    match result {
        Ok(()) => record.latencies.push(started.elapsed()),
        Err(_) => record.errors += 1,
    }
}

/// Runs `spec.clients` tasks calling `put(key, value)` in a loop.
pub async fn drive_async<Put, Fut>(spec: LoadSpec, put: Put) -> LoadReport
where
    Put: Fn(Vec<u8>, Vec<u8>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let (counted_from, until) = window(&spec);
    let tasks: Vec<_> = (0..spec.clients)
        .map(|client| {
            let put = put.clone();
            tokio::spawn(async move {
                let mut result = ClientRecord::default();
                let value = vec![b'v'; spec.value_size];
                let mut sequence = 0;
                while Instant::now() < until && !INTERRUPTED.load(Ordering::Relaxed) {
                    sequence += 1;
                    let started = Instant::now();
                    let outcome = put(key(client, sequence), value.clone()).await;
                    record(&mut result, started, counted_from, outcome);
                }
                result
            })
        })
        .collect();
    let mut records = Vec::new();
    for task in tasks {
        // A client task that panicked counts as no writes.
        records.push(task.await.unwrap_or_default());
    }
    summarize(records, counted_from, until)
}

/// Runs `spec.clients` threads calling `put(key, value)` in a loop.
pub fn drive_threads<Put>(spec: LoadSpec, put: Put) -> LoadReport
where
    Put: Fn(Vec<u8>, Vec<u8>) -> Result<(), String> + Clone + Send + 'static,
{
    let (counted_from, until) = window(&spec);
    let threads: Vec<_> = (0..spec.clients)
        .map(|client| {
            let put = put.clone();
            std::thread::spawn(move || {
                let mut result = ClientRecord::default();
                let value = vec![b'v'; spec.value_size];
                let mut sequence = 0;
                while Instant::now() < until && !INTERRUPTED.load(Ordering::Relaxed) {
                    sequence += 1;
                    let started = Instant::now();
                    let outcome = put(key(client, sequence), value.clone());
                    record(&mut result, started, counted_from, outcome);
                }
                result
            })
        })
        .collect();
    let records = threads
        .into_iter()
        .map(|thread| thread.join().unwrap_or_default())
        .collect();
    summarize(records, counted_from, until)
}

fn summarize(records: Vec<ClientRecord>, counted_from: Instant, until: Instant) -> LoadReport {
    let errors = records.iter().map(|record| record.errors).sum();
    let mut latencies: Vec<Duration> = records
        .into_iter()
        .flat_map(|record| record.latencies)
        .collect();
    latencies.sort_unstable();
    let percentile = |fraction: f64| {
        if latencies.is_empty() {
            return Duration::ZERO;
        }
        let index = ((latencies.len() as f64 * fraction).ceil() as usize).saturating_sub(1);
        latencies[index.min(latencies.len() - 1)]
    };
    // Requests started before `until` may end after it and are counted:
    // so is the time until the last client stopped, not to inflate the rate.
    let elapsed = Instant::now().max(until) - counted_from;
    LoadReport {
        writes: latencies.len() as u64,
        errors,
        elapsed,
        p50: percentile(0.50),
        p99: percentile(0.99),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A put that always succeeds at once is counted, with a rate and
    /// percentiles that make sense.
    #[test]
    fn threads_driver_counts_writes() {
        let spec = LoadSpec {
            clients: 2,
            value_size: 8,
            warmup: Duration::from_millis(10),
            duration: Duration::from_millis(50),
        };
        let report = drive_threads(spec, |_key, value| {
            assert_eq!(value.len(), 8);
            std::thread::sleep(Duration::from_millis(1));
            Ok(())
        });
        assert!(report.writes > 0, "{report:?}");
        assert_eq!(report.errors, 0);
        assert!(report.p50 >= Duration::from_millis(1) && report.p99 >= report.p50);
        assert!(report.writes_per_second() > 0.0);
    }
}
