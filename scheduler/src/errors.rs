//! The scheduler's error type.
//!
//! Every fallible function of this crate returns [`Result`]. The variants
//! separate what a caller reacts to differently: the cluster's lifecycle
//! (not yet / already bootstrapped), an unknown or removed store, a stale
//! heartbeat (the reporter is behind: drop it), malformed input (the
//! reporter's bug: log and report it), and the disk (retry or give up).
//! Callers: the [`crate::SchedulerService`] implementation and, later, the
//! gRPC service that turns these into `schedulerpb::Error` headers.

/// Why a scheduler operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The cluster has not been bootstrapped yet; only `bootstrap`,
    /// `alloc_id`, `tso` and the read-only lookups work before it is.
    #[error("cluster is not bootstrapped")]
    NotBootstrapped,

    /// `bootstrap` was called on a cluster that already has a first store
    /// and region.
    #[error("cluster is already bootstrapped")]
    AlreadyBootstrapped,

    /// No store with this id has been put.
    #[error("store {0} not found")]
    StoreNotFound(u64),

    /// The store was removed for good (state `Tombstone`); it may not come
    /// back or report anything.
    #[error("store {0} is a tombstone")]
    StoreTombstone(u64),

    /// The reported region's epoch is older than what the scheduler knows,
    /// for the same region id or for a region overlapping its range. The
    /// reporter has not applied a split or conf change yet; its report is
    /// dropped.
    #[error(
        "stale region {region_id} (version {reported_version}, conf_ver {reported_conf_ver}): \
         region {known_region_id} is known at version {known_version}, conf_ver {known_conf_ver}"
    )]
    StaleRegion {
        /// The id of the reported region.
        region_id: u64,
        /// The reported epoch's version.
        reported_version: u64,
        /// The reported epoch's conf_ver.
        reported_conf_ver: u64,
        /// The known region that makes the report stale (the same id or an
        /// overlapping one).
        known_region_id: u64,
        /// That region's version.
        known_version: u64,
        /// That region's conf_ver.
        known_conf_ver: u64,
    },

    /// The region (or split) in a request is malformed: zero id, no epoch,
    /// no peers, duplicated peer ids or stores, an empty or inverted key
    /// range, a leader that is not one of its peers. The message says which.
    #[error("invalid region: {0}")]
    InvalidRegion(String),

    /// The store in a request is malformed (zero id, duplicated address).
    #[error("invalid store: {0}")]
    InvalidStore(String),

    /// No known region matches the request (for example `ask_split` on a
    /// region the scheduler has never heard of).
    #[error("region not found: {0}")]
    RegionNotFound(String),

    /// The region already has an operator in flight; a second one would
    /// race it with conflicting conf changes. Wait for it to finish, time
    /// out or be cancelled.
    #[error("region {0} already has an operator")]
    OperatorExists(u64),

    /// An operator asked for by hand (`Scheduler::create_manual_operator`)
    /// makes no sense for the region as the scheduler knows it: a peer
    /// added where one exists, removed or made leader where none is, or
    /// the region's last peer removed. The message says which.
    #[error("invalid operator: {0}")]
    InvalidOperator(String),

    /// A value persisted by this crate could not be decoded: the directory
    /// is corrupt or was written by an incompatible version.
    #[error("corrupt scheduler metadata at {key:?}: {reason}")]
    CorruptMeta {
        /// The key whose value is bad.
        key: Vec<u8>,
        /// What was wrong with it.
        reason: String,
    },

    /// The storage engine failed (I/O, RocksDB, encoding).
    #[error("storage: {0}")]
    Storage(#[from] storage::Error),
}

/// The scheduler's result type.
pub type Result<T> = std::result::Result<T, Error>;
