//! Timestamps: what their bits mean.
//!
//! A timestamp from the scheduler's oracle (`scheduler::Tso`) is
//! `(physical_ms << LOGICAL_BITS) | logical`: wall-clock milliseconds, then
//! a counter for the timestamps handed out within one millisecond. A lock's
//! time to live is in milliseconds of that physical part, so deciding
//! whether a lock expired (KvCheckTxnStatus, lab 4C) compares physical
//! times, never raw timestamps. Defined here, below both `server` and the
//! transactional client, so that every side splits a timestamp the same
//! way; `scheduler` checks at compile time that its oracle uses the same
//! number of logical bits. Pure functions, on the caller's thread.

/// Bits of a timestamp that hold the logical counter (TinyKV's and TiKV's 18).
pub const LOGICAL_BITS: u32 = 18;

/// The physical part of `ts`: milliseconds of wall-clock time.
pub fn physical_time(ts: u64) -> u64 {
    ts >> LOGICAL_BITS
}

/// The timestamp made of `physical_ms` and the counter `logical` (only its
/// low [`LOGICAL_BITS`] bits are kept).
pub fn compose_ts(physical_ms: u64, logical: u64) -> u64 {
    (physical_ms << LOGICAL_BITS) | (logical & ((1 << LOGICAL_BITS) - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A composed timestamp splits back into its physical part, and the logical counter never reaches it.
    #[test]
    fn physical_time_of_composed_ts() {
        assert_eq!(
            physical_time(compose_ts(1_700_000_000_000, 5)),
            1_700_000_000_000
        );
        assert_eq!(physical_time(compose_ts(7, (1 << LOGICAL_BITS) - 1)), 7);
        assert_eq!(compose_ts(7, 1 << LOGICAL_BITS), compose_ts(7, 0));
        assert_eq!(physical_time(0x0000_0500_0000_0000), 0x0500_0000_0000 >> 18);
    }
}
