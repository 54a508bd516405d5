//! The project's raft and raft-rs 0.7 side by side (`make bench`).
//!
//! The same workload on both: 3 in-memory nodes, the leader proposes, every
//! Ready is fully handled (persist to `MemStorage`, deliver messages,
//! advance), entries applied on the leader per second of the bench
//! thread's CPU time. Four variants:
//! {1, 64} proposals per Ready × {128 B, 4 KiB} entries. Both get the same
//! message size limit, in-flight window and append batching setting.
//!
//! Interleaved, not one after the other: each round measures every variant
//! on both implementations for a short window, alternating which goes
//! first, so a noisy neighbour (a build, a loaded grading box) slows both
//! alike; the table shows the median of the rounds and the ratio. Rates
//! are per CPU-second, not per wall-clock second: on a loaded machine the
//! bench gets a share of a core that changes from one window to the next
//! (a third of one is common while other builds run), and that share is
//! not raft's doing. (Caches shared with the neighbours still make a loaded
//! machine's figures lower.) This is
//! a plain harness (no criterion): criterion measures one function at a
//! time and cannot interleave two.
//!
//! Options: `--rounds N` (default 7), `--window-ms M` (default 300). For a
//! profiler (`valgrind --tool=callgrind`, whose instruction counts do not
//! depend on the machine's load): `--only ours` or `--only raft-rs` runs one
//! implementation, `--variant I` (0 to 3, in table order) one variant.
//! `--batch-append` turns append batching on for both (each has the
//! option, off by default).

mod ours;
mod raft_rs;

use std::time::{Duration, Instant};

use ours::OurCluster;
use raft_rs::RaftRsCluster;

/// Both implementations batch up to this many bytes into one MsgAppend.
pub const MAX_SIZE_PER_MESSAGE: u64 = 1 << 20;
/// Both implementations keep up to this many MsgAppend in flight per peer.
pub const MAX_INFLIGHT_MESSAGES: usize = 256;
/// Logs are compacted after this many applied entries, so memory stays flat.
pub const COMPACT_EVERY: u64 = 8192;

/// One variant of the workload.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    /// Both merge new entries into a MsgAppend still queued for the same
    /// peer (each has this option, off by default): with 64 proposals per
    /// Ready a peer then gets one MsgAppend per Ready rather than 64. Off
    /// (both defaults) unless `--batch-append`.
    pub batch_append: bool,
    /// Proposals made before the leader's next Ready.
    pub proposals_per_ready: usize,
    /// Bytes per entry.
    pub entry_size: usize,
}

/// The CPU time this thread has used so far.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec; clock_gettime only
    // writes to it.
    let result = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(result, 0, "Linux always has the thread CPU clock");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Entries per CPU-second over a wall-clock `window`, with a fresh cluster.
fn measure<C>(
    mut new_cluster: impl FnMut(&Workload) -> C,
    mut round: impl FnMut(&mut C, &Workload, &[u8]) -> u64,
    workload: &Workload,
    window: Duration,
) -> f64 {
    let payload = vec![0xab; workload.entry_size];
    let mut cluster = new_cluster(workload);
    // Warm up: the first rounds grow the logs' buffers.
    for _ in 0..16 {
        round(&mut cluster, workload, &payload);
    }
    let started = Instant::now();
    let cpu_started = thread_cpu_time();
    let mut entries = 0u64;
    // The window is wall-clock (cheap to read every round); the CPU clock,
    // a system call, is read twice per window only.
    while started.elapsed() < window {
        entries += round(&mut cluster, workload, &payload);
    }
    entries as f64 / (thread_cpu_time() - cpu_started).as_secs_f64()
}

/// The median, or NaN for a variant that was not run.
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The word after `name` on the command line, if any.
fn argument_text(name: &str) -> Option<String> {
    let arguments: Vec<String> = std::env::args().collect();
    let position = arguments.iter().position(|argument| argument == name)?;
    arguments.get(position + 1).cloned()
}

fn argument(name: &str, default: u64) -> u64 {
    argument_text(name)
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rounds = argument("--rounds", 7).max(1) as usize;
    let window = Duration::from_millis(argument("--window-ms", 300));
    let batch_append = std::env::args().any(|argument| argument == "--batch-append");
    let workloads = [
        Workload {
            batch_append,
            proposals_per_ready: 1,
            entry_size: 128,
        },
        Workload {
            batch_append,
            proposals_per_ready: 64,
            entry_size: 128,
        },
        Workload {
            batch_append,
            proposals_per_ready: 1,
            entry_size: 4096,
        },
        Workload {
            batch_append,
            proposals_per_ready: 64,
            entry_size: 4096,
        },
    ];
    let only = argument_text("--only");
    let run_ours = only.as_deref() != Some("raft-rs");
    let run_theirs = only.as_deref() != Some("ours");
    let variant = argument_text("--variant").and_then(|value| value.parse::<usize>().ok());
    let mut ours: Vec<Vec<f64>> = vec![Vec::new(); workloads.len()];
    let mut theirs: Vec<Vec<f64>> = vec![Vec::new(); workloads.len()];
    println!(
        "raft vs raft-rs 0.7: {rounds} interleaved rounds of {} ms per variant, append batching {}",
        window.as_millis(),
        if batch_append { "on" } else { "off" }
    );
    for round_number in 0..rounds {
        for (index, workload) in workloads.iter().enumerate() {
            if variant.is_some_and(|wanted| wanted != index) {
                continue;
            }
            let mut ours_now = || {
                if run_ours {
                    let rate = measure(OurCluster::new, OurCluster::round, workload, window);
                    ours[index].push(rate);
                }
            };
            let mut theirs_now = || {
                if run_theirs {
                    let rate = measure(RaftRsCluster::new, RaftRsCluster::round, workload, window);
                    theirs[index].push(rate);
                }
            };
            // Alternate who goes first, so neither always gets the warmer cache.
            if round_number % 2 == 0 {
                ours_now();
                theirs_now();
            } else {
                theirs_now();
                ours_now();
            }
        }
    }
    println!(
        "\n{:<28} {:>20} {:>22} {:>8}",
        "variant (median)", "ours entries/cpu-s", "raft-rs entries/cpu-s", "ratio"
    );
    for (index, workload) in workloads.iter().enumerate() {
        let ours_median = median(&mut ours[index]);
        let theirs_median = median(&mut theirs[index]);
        println!(
            "{:<28} {:>20.0} {:>22.0} {:>7.2}x",
            format!(
                "{} per Ready, {} B",
                workload.proposals_per_ready, workload.entry_size
            ),
            ours_median,
            theirs_median,
            ours_median / theirs_median
        );
    }
}
