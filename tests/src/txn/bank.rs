//! The bank workload: accounts whose total never changes.
//!
//! One transaction opens the accounts with equal balances. Then each
//! client repeats, at random, a **transfer** (read two accounts, move an
//! amount between them, commit) or an **audit** (read every account at one
//! start timestamp). Under snapshot isolation every audit sees the opening
//! total: a lost update, a torn commit (the primary committed, a secondary
//! lost) or a read of half a transaction changes it. The last audit runs
//! after the rounds, on the healed cluster, and must resolve every lock a
//! crashed transaction left.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::client::{TxnClient, TxnError};
use super::driver::{build_cluster, run_rounds, TxnWorkloadOptions};
use crate::cluster::Cluster;

/// The bank workload's options.
#[derive(Debug, Clone)]
pub struct BankOptions {
    /// The cluster, faults and rounds.
    pub workload: TxnWorkloadOptions,
    /// How many accounts.
    pub accounts: usize,
    /// Each account's opening balance.
    pub opening_balance: i64,
}

impl Default for BankOptions {
    fn default() -> BankOptions {
        BankOptions {
            workload: TxnWorkloadOptions::default(),
            accounts: 8,
            opening_balance: 100,
        }
    }
}

/// What a bank run did.
#[derive(Debug, Clone, Default)]
pub struct BankReport {
    /// The seed of the run.
    pub seed: u64,
    /// Transfers committed.
    pub transfers: u64,
    /// Audits that read every account (each saw the opening total).
    pub audits: u64,
    /// Transactions that did not commit (conflicts, aborts, timeouts).
    pub failed: u64,
    /// Commits whose outcome stayed unknown.
    pub unknown: u64,
    /// Wall time of the run.
    pub duration: Duration,
    /// Regions at the end (splits happened if more than one).
    pub regions: usize,
}

fn account(index: usize) -> Vec<u8> {
    format!("account-{index:03}").into_bytes()
}

fn parse_balance(value: Option<Vec<u8>>) -> Result<i64, String> {
    let bytes = value.ok_or("an account disappeared")?;
    let text = String::from_utf8(bytes).map_err(|_| "a balance is not UTF-8".to_string())?;
    text.parse()
        .map_err(|_| format!("balance {text:?} is not a number"))
}

/// Reads every account in one transaction: its start timestamp and the
/// balances, or why the reads failed. A missing or garbled balance is not
/// a failed read but a broken bank: it is an `Err` inside the `Ok`.
fn audit(
    client: &TxnClient<'_>,
    accounts: usize,
) -> Result<(u64, Result<Vec<i64>, String>), TxnError> {
    let txn = client.begin()?;
    let mut values = Vec::with_capacity(accounts);
    for index in 0..accounts {
        values.push(txn.get(&account(index))?);
    }
    let balances = values.into_iter().map(parse_balance).collect();
    Ok((txn.start_ts(), balances))
}

/// Why an audit's balances break the bank, if they do.
fn audit_violation(balances: &Result<Vec<i64>, String>, total: i64) -> Option<String> {
    match balances {
        Err(error) => Some(error.clone()),
        Ok(balances) => {
            let sum: i64 = balances.iter().sum();
            (sum != total).then(|| format!("total {sum}, not {total}: {balances:?}"))
        }
    }
}

/// Runs the bank workload on a fresh cluster; fails the test (with the
/// seed) on any audit whose total differs from the opening total.
pub fn run_bank_workload(test_name: &str, options: BankOptions) -> BankReport {
    let started = Instant::now();
    let cluster = build_cluster(test_name, &options.workload);
    let scheduler = cluster.scheduler().clone();
    let client = TxnClient::new(&cluster, scheduler.as_ref());
    let total = options.opening_balance * options.accounts as i64;
    open_accounts(&cluster, &client, &options);

    let transfers = AtomicU64::new(0);
    let audits = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let unknown = AtomicU64::new(0);
    let violation: Mutex<Option<String>> = Mutex::new(None);
    let seed = cluster.seed;
    let body = |id: usize, stop: &AtomicBool, committed: &AtomicU64| {
        let mut rng = StdRng::seed_from_u64(seed ^ (id as u64 + 1));
        while !stop.load(Ordering::SeqCst) {
            if rng.gen_bool(0.3) {
                match audit(&client, options.accounts) {
                    Ok((start_ts, balances)) => {
                        if let Some(broken) = audit_violation(&balances, total) {
                            let mut slot = violation.lock().unwrap_or_else(|e| e.into_inner());
                            slot.get_or_insert(format!(
                                "client {id}: the audit at ts {start_ts} saw {broken}"
                            ));
                            stop.store(true, Ordering::SeqCst);
                        }
                        audits.fetch_add(1, Ordering::SeqCst);
                        committed.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => {
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                }
                continue;
            }
            let from = rng.gen_range(0..options.accounts);
            let to = (from + rng.gen_range(1..options.accounts)) % options.accounts;
            let amount = rng.gen_range(1..=10);
            match transfer(&client, from, to, amount) {
                Ok(()) => {
                    transfers.fetch_add(1, Ordering::SeqCst);
                    committed.fetch_add(1, Ordering::SeqCst);
                }
                Err(TxnError::Unknown(_)) => {
                    unknown.fetch_add(1, Ordering::SeqCst);
                }
                Err(_) => {
                    failed.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    };
    run_rounds(&cluster, &options.workload, &body);
    if let Some(violation) = violation.into_inner().unwrap_or_else(|e| e.into_inner()) {
        cluster.fail(&violation);
    }
    // The final audit on the healed cluster resolves whatever was left.
    let deadline = Instant::now() + Duration::from_secs(30);
    let final_balances = loop {
        match audit(&client, options.accounts) {
            Ok((_, balances)) => break balances,
            Err(error) if Instant::now() < deadline => {
                log::debug!("final audit: {error}; retrying");
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(error) => cluster.fail(&format!("the final audit failed: {error}")),
        }
    };
    if let Some(broken) = audit_violation(&final_balances, total) {
        cluster.fail(&format!("the final audit saw {broken}"));
    }
    let report = BankReport {
        seed: cluster.seed,
        transfers: transfers.load(Ordering::SeqCst),
        audits: audits.load(Ordering::SeqCst) + 1,
        failed: failed.load(Ordering::SeqCst),
        unknown: unknown.load(Ordering::SeqCst),
        duration: started.elapsed(),
        regions: cluster.regions().len(),
    };
    eprintln!("[{test_name}] passed: {report:?}");
    report
}

/// Writes the opening balances, retrying until it commits.
fn open_accounts(cluster: &Cluster, client: &TxnClient<'_>, options: &BankOptions) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let result = client.begin().and_then(|mut txn| {
            for index in 0..options.accounts {
                txn.put(
                    &account(index),
                    options.opening_balance.to_string().as_bytes(),
                );
            }
            txn.commit()
        });
        match result {
            Ok(_) => return,
            Err(error) if Instant::now() < deadline => {
                log::debug!("opening the accounts: {error}; retrying");
            }
            Err(error) => cluster.fail(&format!("opening the accounts failed: {error}")),
        }
    }
}

/// Moves `amount` from one account to another (nothing if it would go
/// below zero), in one transaction.
fn transfer(client: &TxnClient<'_>, from: usize, to: usize, amount: i64) -> Result<(), TxnError> {
    let mut txn = client.begin()?;
    let from_balance = parse_balance(txn.get(&account(from))?).map_err(TxnError::Aborted)?;
    let to_balance = parse_balance(txn.get(&account(to))?).map_err(TxnError::Aborted)?;
    if from_balance < amount {
        txn.rollback();
        return Ok(());
    }
    txn.put(
        &account(from),
        (from_balance - amount).to_string().as_bytes(),
    );
    txn.put(&account(to), (to_balance + amount).to_string().as_bytes());
    txn.commit().map(|_| ())
}
