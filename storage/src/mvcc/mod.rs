//! # mvcc: multi-version keys over the three column families (lab 4A)
//!
//! Transactions (labs 4B/4C) never overwrite a value: every committed
//! write is a new version, so a reader at timestamp `ts` sees the database
//! as it was at `ts` while later transactions go on writing. This module
//! turns "key at version" into plain RocksDB keys and values:
//!
//! | column family | key | value | written by |
//! |---|---|---|---|
//! | `lock` | [`encode_user_key`]`(user_key)` | [`Lock`] | prewrite; removed by commit and rollback |
//! | `default` | [`encode_key`]`(user_key, start_ts)` | the value | prewrite of a Put |
//! | `write` | [`encode_key`]`(user_key, commit_ts)` | [`Write`] | commit, rollback |
//!
//! | item | file | what it is |
//! |---|---|---|
//! | [`encode_key`], [`decode_key`], ... | `key.rs` | the key layout: memcomparable user key, then the timestamp inverted so the newest version sorts first |
//! | [`physical_time`], [`LOGICAL_BITS`] | `timestamp.rs` | the physical (milliseconds) and logical parts of a timestamp |
//! | [`Lock`] | `lock.rs` | the lock record and its byte encoding |
//! | [`Write`], [`WriteKind`] | `write.rs` | the write record and its byte encoding |
//! | [`MvccTxn`] | `txn.rs` | one transaction's reads at its start_ts, and its buffered writes |
//! | [`Scanner`] | `scanner.rs` | the pairs visible at a timestamp, in key order |
//! | [`Error`], [`Defect`] | `errors.rs` | what can be wrong with bytes read from disk |
//!
//! Nothing here runs on a thread of its own or holds a lock: every
//! function runs on its caller's thread, over a [`crate::StorageReader`]
//! the caller took. The handout is `docs/labs/lab4a.md`.

mod errors;
mod key;
mod lock;
mod scanner;
mod timestamp;
mod txn;
mod write;

pub use errors::{Defect, Error, Result};
pub use key::{
    decode_key, decode_timestamp, decode_user_key, decode_user_key_without_ts, encode_key,
    encode_user_key, key_after_all_versions, TS_MAX,
};
pub use lock::Lock;
pub use scanner::Scanner;
pub use timestamp::{compose_ts, physical_time, LOGICAL_BITS};
pub use txn::MvccTxn;
pub use write::{Write, WriteKind};
