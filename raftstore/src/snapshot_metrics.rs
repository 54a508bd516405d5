//! [`SnapshotMetrics`]: where one store's snapshot time goes, phase by
//! phase, so a benchmark (or an operator) can see which step of the
//! pipeline to make faster instead of guessing.
//!
//! Written by the threads that run each phase: `region_task_gen`
//! (generate), `snap_runner` (send, read), the transport's receiving
//! thread (receive, verify), its `snap_receive` writer thread (write) and
//! `region_task_apply` (verify, ingest). Read by
//! anyone holding the store's `SnapManager` (`SnapManager::metrics`); the
//! snapshot benchmark prints them. Counters only: lock-free atomics, nothing
//! on the hot path waits for a reader.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// One step of the snapshot pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotPhase {
    /// Leader, `region_task_gen`: scanning the region in the pinned engine
    /// snapshot to hash each column family's pairs into the meta
    /// (`RegionWorker::generate`).
    Generate,
    /// Leader, `snap_runner`: the whole stream, from opening it to the
    /// receiver's answer (`SnapSender::send`). In the test cluster the
    /// receiver runs on this same thread, so this includes Receive.
    Send,
    /// Leader, `snap_runner`: scanning the pinned engine snapshot and
    /// encoding its pairs for the stream, chunk by chunk
    /// (`PairChunkStream`); part of Send, and it runs while the receiver
    /// writes the chunk before, so Read and Write overlap.
    Read,
    /// Receiving side: turning the chunks into durable `rev_` SST files
    /// and checking them (`SnapshotReceiver::write_files`); part of Send
    /// when the transport receives on the sender's thread.
    Receive,
    /// Receiving side, the `snap_receive` writer thread: decoding the
    /// chunks' pairs into the SST writer, chunk by chunk, and finishing
    /// (syncing) each file (`SnapshotReceiver::write_chunks`); part of
    /// Receive, which also counts the writer's waits for the next chunk.
    Write,
    /// Any side: re-reading files to compare them with their meta (sizes
    /// and CRC32s, `SnapManager::verify`); part of Receive or Ingest.
    Verify,
    /// Follower, `region_task_apply`: the whole apply of a received
    /// snapshot, verification included: clearing the range, ingesting the
    /// files, marking the region Normal (`RegionWorker::apply`).
    Ingest,
}

impl SnapshotPhase {
    /// Every phase, in pipeline order.
    pub const ALL: [SnapshotPhase; 7] = [
        SnapshotPhase::Generate,
        SnapshotPhase::Send,
        SnapshotPhase::Read,
        SnapshotPhase::Receive,
        SnapshotPhase::Write,
        SnapshotPhase::Verify,
        SnapshotPhase::Ingest,
    ];

    /// A short lowercase name, for tables.
    pub fn name(self) -> &'static str {
        match self {
            SnapshotPhase::Generate => "generate",
            SnapshotPhase::Send => "stream",
            SnapshotPhase::Read => "read",
            SnapshotPhase::Receive => "receive",
            SnapshotPhase::Write => "write",
            SnapshotPhase::Verify => "verify",
            SnapshotPhase::Ingest => "ingest",
        }
    }

    fn position(self) -> usize {
        self as usize
    }
}

/// The counters of one phase.
#[derive(Debug, Default)]
struct PhaseCounters {
    /// How many times the phase ran (successfully or not).
    count: AtomicU64,
    /// Their total duration, in nanoseconds.
    total_nanos: AtomicU64,
    /// When the phase first started on this store, so a reader can tell
    /// how long the pipeline waited before it began.
    first_start: OnceLock<Instant>,
}

/// What one phase did on one store so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhaseReport {
    /// How many times it ran.
    pub count: u64,
    /// Its total duration.
    pub total: Duration,
    /// When it first started (None: never).
    pub first_start: Option<Instant>,
}

/// Per-phase timers of one store (cheap to clone; clones share them).
#[derive(Debug, Clone, Default)]
pub struct SnapshotMetrics {
    phases: Arc<[PhaseCounters; SnapshotPhase::ALL.len()]>,
}

impl SnapshotMetrics {
    /// Starts timing one run of `phase`; the time is recorded when the
    /// returned guard is dropped, so an early `?` return counts too.
    pub fn time(&self, phase: SnapshotPhase) -> PhaseTimer {
        let start = Instant::now();
        let _ = self.phases[phase.position()].first_start.set(start);
        PhaseTimer {
            metrics: self.clone(),
            phase,
            start,
        }
    }

    /// What `phase` did on this store so far.
    pub fn report(&self, phase: SnapshotPhase) -> PhaseReport {
        let counters = &self.phases[phase.position()];
        PhaseReport {
            count: counters.count.load(Ordering::Relaxed),
            total: Duration::from_nanos(counters.total_nanos.load(Ordering::Relaxed)),
            first_start: counters.first_start.get().copied(),
        }
    }

    fn record(&self, phase: SnapshotPhase, elapsed: Duration) {
        let counters = &self.phases[phase.position()];
        counters.count.fetch_add(1, Ordering::Relaxed);
        // u64 nanoseconds hold 584 years: no saturation worth handling.
        counters
            .total_nanos
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
    }
}

/// Times one run of a phase until dropped (see [`SnapshotMetrics::time`]).
#[must_use = "the phase is timed until the guard is dropped"]
pub struct PhaseTimer {
    metrics: SnapshotMetrics,
    phase: SnapshotPhase,
    start: Instant,
}

impl Drop for PhaseTimer {
    fn drop(&mut self) {
        self.metrics.record(self.phase, self.start.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A timed phase counts once, with its duration, and remembers its first start.
    #[test]
    fn timer_records_count_duration_and_first_start() {
        let metrics = SnapshotMetrics::default();
        assert_eq!(
            metrics.report(SnapshotPhase::Ingest),
            PhaseReport::default()
        );
        let before = Instant::now();
        {
            let _timer = metrics.time(SnapshotPhase::Ingest);
        }
        {
            let _timer = metrics.clone().time(SnapshotPhase::Ingest);
        }
        let report = metrics.report(SnapshotPhase::Ingest);
        assert_eq!(report.count, 2);
        assert!(report.first_start.is_some_and(|start| start >= before));
        assert!(report.total <= before.elapsed());
        assert_eq!(metrics.report(SnapshotPhase::Generate).count, 0);
    }
}
