//! [`CtlError`]: why a `tinykv ctl` command failed.

use std::time::Duration;

/// Why a ctl command failed; the binary prints it and exits non-zero.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// A call to the scheduler or a store failed, or was refused with a
    /// typed error (see `network::Error`).
    #[error("{0}")]
    Network(#[from] network::Error),
    /// The scheduler knows no region holding the key (not bootstrapped?).
    #[error("no region holds key {0:?}")]
    NoRegion(String),
    /// The scheduler knows no region with this id.
    #[error("no region {0}")]
    RegionNotFound(u64),
    /// Every try failed until the deadline; the last failure says why.
    #[error("{what}: gave up after {after:?}: {last_error}")]
    GaveUp {
        /// The command.
        what: String,
        /// How long it tried.
        after: Duration,
        /// The last try's failure.
        last_error: String,
    },
    /// A store answered something that cannot be right.
    #[error("invalid response: {0}")]
    InvalidResponse(String),
    /// A transaction did not commit (or may not have: see the variant).
    #[error("transaction: {0}")]
    Txn(#[from] crate::txn::TxnError),
    /// Writing the exported snapshot failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// An exported file does not match its meta (size or CRC32).
    #[error("snapshot does not verify: {0}")]
    SnapshotCorrupt(String),
    /// The ctl could not start its tokio runtime.
    #[error("cannot start the runtime: {0}")]
    Runtime(String),
}
