//! The seed of a test run: one number that decides every random choice the
//! harness makes (which messages to drop, how long to delay, which client
//! does what), so a failing run can be replayed.
//!
//! `TINYKV_SEED=<seed>` replays a seed; otherwise a fresh one is drawn from
//! the clock. Either way it is printed at the start of the test and
//! included in every failure message of the cluster helpers. (Thread
//! scheduling is not under the seed's control, so a replay repeats the
//! fault schedule, not every interleaving.)

use std::time::{SystemTime, UNIX_EPOCH};

/// The seed for this test: `TINYKV_SEED` if set, else drawn from the clock.
/// Prints it, with the command line that replays it.
pub fn test_seed(test_name: &str) -> u64 {
    let seed = seed_from_environment().unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos() as u64)
            .unwrap_or(0x5eed)
    });
    eprintln!("[{test_name}] seed = {seed} (replay with TINYKV_SEED={seed})");
    seed
}

/// The seed for a test of a pure function (a checker fed random histories):
/// `TINYKV_SEED` if set, else `default`, so every run checks the same
/// histories unless asked for others. Prints it.
pub fn test_seed_or(default: u64) -> u64 {
    let seed = seed_from_environment().unwrap_or(default);
    println!("seed {seed} (replay with TINYKV_SEED={seed})");
    seed
}

fn seed_from_environment() -> Option<u64> {
    let value = std::env::var("TINYKV_SEED").ok()?;
    match value.trim().parse() {
        Ok(seed) => Some(seed),
        Err(_) => panic!("TINYKV_SEED={value:?} is not a number"),
    }
}
