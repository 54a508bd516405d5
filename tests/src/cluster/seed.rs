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
    let seed = match std::env::var("TINYKV_SEED") {
        Ok(value) => match value.trim().parse() {
            Ok(seed) => seed,
            Err(_) => panic!("TINYKV_SEED={value:?} is not a number"),
        },
        Err(_) => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos() as u64)
            .unwrap_or(0x5eed),
    };
    eprintln!("[{test_name}] seed = {seed} (replay with TINYKV_SEED={seed})");
    seed
}
