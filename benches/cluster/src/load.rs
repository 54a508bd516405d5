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

/// One client's run: what it puts next, and what came of its puts.
struct ClientRun {
    client: usize,
    sequence: u64,
    value: Vec<u8>,
    counted_from: Instant,
    until: Instant,
    /// Latencies of the writes started in the counted window.
    latencies: Vec<Duration>,
    /// Failures among them.
    errors: u64,
}

impl ClientRun {
    fn new(client: usize, spec: &LoadSpec, (counted_from, until): (Instant, Instant)) -> ClientRun {
        ClientRun {
            client,
            sequence: 0,
            value: vec![b'v'; spec.value_size],
            counted_from,
            until,
            latencies: Vec::new(),
            errors: 0,
        }
    }

    /// The next put's key (fresh: every put is a new key for both systems)
    /// and value, and its start; None once the time is up or on Ctrl-C.
    fn next(&mut self) -> Option<(Vec<u8>, Vec<u8>, Instant)> {
        if Instant::now() >= self.until || INTERRUPTED.load(Ordering::Relaxed) {
            return None;
        }
        self.sequence += 1;
        let key = format!("bench-{:03}-{:012}", self.client, self.sequence).into_bytes();
        Some((key, self.value.clone(), Instant::now()))
    }

    /// Records a finished put if it started in the counted window.
    fn finish(&mut self, started: Instant, outcome: Result<(), String>) {
        if started < self.counted_from {
            return;
        }
        match outcome {
            Ok(()) => self.latencies.push(started.elapsed()),
            Err(_) => self.errors += 1,
        }
    }
}

/// When counting starts and when everything stops.
fn window(spec: &LoadSpec) -> (Instant, Instant) {
    let counted_from = Instant::now() + spec.warmup;
    (counted_from, counted_from + spec.duration)
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
            let mut run = ClientRun::new(client, &spec, (counted_from, until));
            tokio::spawn(async move {
                while let Some((key, value, started)) = run.next() {
                    let outcome = put(key, value).await;
                    run.finish(started, outcome);
                }
                run
            })
        })
        .collect();
    let mut runs = Vec::new();
    for task in tasks {
        // A client task that panicked counts as no writes.
        if let Ok(run) = task.await {
            runs.push(run);
        }
    }
    summarize(runs, counted_from, until)
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
            let mut run = ClientRun::new(client, &spec, (counted_from, until));
            std::thread::spawn(move || {
                while let Some((key, value, started)) = run.next() {
                    let outcome = put(key, value);
                    run.finish(started, outcome);
                }
                run
            })
        })
        .collect();
    let runs = threads
        .into_iter()
        .filter_map(|thread| thread.join().ok())
        .collect();
    summarize(runs, counted_from, until)
}

fn summarize(runs: Vec<ClientRun>, counted_from: Instant, until: Instant) -> LoadReport {
    let errors = runs.iter().map(|run| run.errors).sum();
    let mut latencies: Vec<Duration> = runs.into_iter().flat_map(|run| run.latencies).collect();
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
