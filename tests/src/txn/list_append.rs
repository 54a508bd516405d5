//! The list-append workload, checked by `txn_checker` (Elle's model).
//!
//! Every key holds a list of numbers (stored as `1,2,3`). Each transaction
//! does a few micro-operations on random keys: a **read** of a list, or an
//! **append** of a number never used before (read the list at the start
//! timestamp, write it back one element longer). Every transaction's ops
//! and outcome (committed, aborted, unknown) go into a history; after the
//! rounds, one last transaction reads every key so that each acknowledged
//! append is observed, and the checker looks for G0, G1a, G1b, G1c and
//! G-single: all forbidden under snapshot isolation.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::client::{TxnClient, TxnError};
use super::driver::{build_cluster, run_rounds, TxnWorkloadOptions};
use crate::txn_checker::{check_transactions, HistoryRecorder, PendingTxn, TxnStatus};

/// The list-append workload's options.
#[derive(Debug, Clone)]
pub struct ListAppendOptions {
    /// The cluster, faults and rounds.
    pub workload: TxnWorkloadOptions,
    /// How many keys (few keys: more conflicts, more dependencies).
    pub keys: usize,
    /// At most this many micro-operations per transaction.
    pub max_ops: usize,
}

impl Default for ListAppendOptions {
    fn default() -> ListAppendOptions {
        ListAppendOptions {
            workload: TxnWorkloadOptions::default(),
            keys: 8,
            max_ops: 4,
        }
    }
}

/// What a list-append run did.
#[derive(Debug, Clone, Default)]
pub struct ListAppendReport {
    /// The seed of the run.
    pub seed: u64,
    /// Transactions in the history.
    pub txns: usize,
    /// Of which committed.
    pub committed: u64,
    /// Wall time of the workload.
    pub duration: Duration,
    /// Wall time of the check.
    pub check_duration: Duration,
    /// The evidence the checker had: dependencies inferred between
    /// transactions (write-write, write-read, read-write).
    pub dependencies: (usize, usize, usize),
    /// Regions at the end (splits happened if more than one).
    pub regions: usize,
}

fn key_name(index: usize) -> String {
    format!("list-{index:02}")
}

fn parse_list(value: Option<Vec<u8>>) -> Result<Vec<u64>, String> {
    let Some(bytes) = value else {
        return Ok(Vec::new());
    };
    let text = String::from_utf8(bytes).map_err(|_| "a list is not UTF-8".to_string())?;
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|item| {
            item.parse()
                .map_err(|_| format!("list element {item:?} is not a number"))
        })
        .collect()
}

fn format_list(list: &[u64]) -> String {
    list.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// One micro-operation of a planned transaction.
enum Plan {
    Read(usize),
    Append(usize, u64),
}

/// Runs a planned transaction, recording its ops in `record` as they are
/// observed. A list that does not parse is a broken store: `Err(Err(..))`.
fn run_txn(
    client: &TxnClient<'_>,
    plan: &[Plan],
    record: &PendingTxn,
) -> Result<Result<(), TxnError>, String> {
    let mut txn = match client.begin() {
        Ok(txn) => txn,
        Err(error) => return Ok(Err(error)),
    };
    for step in plan {
        match step {
            Plan::Read(index) => {
                let key = key_name(*index);
                let value = match txn.get(key.as_bytes()) {
                    Ok(value) => value,
                    Err(error) => return Ok(Err(error)),
                };
                record.read(key, Some(parse_list(value)?));
            }
            Plan::Append(index, element) => {
                let key = key_name(*index);
                let value = match txn.get(key.as_bytes()) {
                    Ok(value) => value,
                    Err(error) => return Ok(Err(error)),
                };
                let mut list = parse_list(value)?;
                list.push(*element);
                txn.put(key.as_bytes(), format_list(&list).as_bytes());
                record.append(key, *element);
            }
        }
    }
    Ok(txn.commit().map(|_| ()))
}

/// Runs the list-append workload on a fresh cluster and checks its
/// history; fails the test (with the seed and the offending cycle) on any
/// anomaly.
pub fn run_list_append_workload(test_name: &str, options: ListAppendOptions) -> ListAppendReport {
    let started = Instant::now();
    let cluster = build_cluster(test_name, &options.workload);
    let scheduler = cluster.scheduler().clone();
    let client = TxnClient::new(&cluster, scheduler.as_ref());
    let recorder = HistoryRecorder::new();
    let next_element = AtomicU64::new(1);
    let garbled: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    let seed = cluster.seed;
    let body = |id: usize, stop: &AtomicBool, committed: &AtomicU64| {
        let mut rng = StdRng::seed_from_u64(seed ^ (id as u64 + 1));
        while !stop.load(Ordering::SeqCst) {
            let plan: Vec<Plan> = (0..rng.gen_range(1..=options.max_ops))
                .map(|_| {
                    let index = rng.gen_range(0..options.keys);
                    if rng.gen_bool(0.5) {
                        Plan::Read(index)
                    } else {
                        Plan::Append(index, next_element.fetch_add(1, Ordering::SeqCst))
                    }
                })
                .collect();
            let record = recorder.begin();
            match run_txn(&client, &plan, &record) {
                Ok(Ok(())) => {
                    record.finish(TxnStatus::Committed);
                    committed.fetch_add(1, Ordering::SeqCst);
                }
                // Rolled back before its primary committed: nothing of it
                // may ever be seen (G1a otherwise).
                Ok(Err(TxnError::Conflict(_) | TxnError::Aborted(_))) => {
                    record.finish(TxnStatus::Aborted)
                }
                // A read or prewrite that timed out never reached its
                // commit point: no primary commit record can exist, so its
                // locks can only be rolled back. Aborted, for the checker.
                Ok(Err(TxnError::Timeout(_))) => record.finish(TxnStatus::Aborted),
                // The primary's commit may have happened.
                Ok(Err(TxnError::Unknown(_))) => record.finish(TxnStatus::Unknown),
                Err(broken) => {
                    garbled
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get_or_insert(format!("client {id}: {broken}"));
                    stop.store(true, Ordering::SeqCst);
                }
            }
        }
    };
    run_rounds(&cluster, &options.workload, &body);
    if let Some(broken) = garbled.into_inner().unwrap_or_else(|e| e.into_inner()) {
        cluster.fail(&broken);
    }
    // One last read of every key, so every acknowledged append is seen.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let plan: Vec<Plan> = (0..options.keys).map(Plan::Read).collect();
        let record = recorder.begin();
        match run_txn(&client, &plan, &record) {
            Ok(Ok(())) => {
                record.finish(TxnStatus::Committed);
                break;
            }
            Ok(Err(error)) if Instant::now() < deadline => {
                log::debug!("final read: {error}; retrying");
                record.finish(TxnStatus::Aborted);
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok(Err(error)) => cluster.fail(&format!("the final read failed: {error}")),
            Err(broken) => cluster.fail(&broken),
        }
    }
    let workload_duration = started.elapsed();
    let history = recorder.history();
    let check_started = Instant::now();
    let result = check_transactions(&history);
    let check_duration = check_started.elapsed();
    if !result.is_ok() {
        cluster.fail(&format!("the history has anomalies:\n{result}"));
    }
    let report = ListAppendReport {
        seed: cluster.seed,
        txns: history.len(),
        committed: history
            .txns()
            .iter()
            .filter(|txn| txn.status == TxnStatus::Committed)
            .count() as u64,
        duration: workload_duration,
        check_duration,
        dependencies: (
            result.stats.write_write,
            result.stats.write_read,
            result.stats.read_write,
        ),
        regions: cluster.regions().len(),
    };
    eprintln!("[{test_name}] passed: {report:?}");
    report
}
