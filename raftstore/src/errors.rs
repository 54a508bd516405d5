//! The raftstore error type, and its translation into `errorpb` region
//! errors for clients.

use proto::errorpb;
use proto::metapb;

/// Why a raftstore operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// This peer is not the leader; `leader` is its best guess, if any.
    #[error("region {region_id}: not leader (leader hint: {leader:?})")]
    NotLeader {
        /// The region asked.
        region_id: u64,
        /// The peer this store believes leads the region.
        leader: Option<metapb::Peer>,
    },
    /// The store has no peer of this region.
    #[error("region {0} not found")]
    RegionNotFound(u64),
    /// The key is outside the region's range.
    #[error("key {key:?} is not in region {region_id} [{start_key:?}, {end_key:?})")]
    KeyNotInRegion {
        /// The offending key.
        key: Vec<u8>,
        /// The region asked.
        region_id: u64,
        /// The region's start key.
        start_key: Vec<u8>,
        /// The region's end key (empty = unbounded).
        end_key: Vec<u8>,
    },
    /// The request was made against a stale view of the region.
    #[error("epoch not match: {message}")]
    EpochNotMatch {
        /// What differed.
        message: String,
        /// The store's current view of the region.
        current_regions: Vec<metapb::Region>,
    },
    /// The command's log entry was overwritten or dropped; it was not applied.
    #[error("stale command")]
    StaleCommand,
    /// The request was sent to the wrong store.
    #[error(
        "store not match: request for store {request_store_id}, this is store {actual_store_id}"
    )]
    StoreNotMatch {
        /// The store the request named.
        request_store_id: u64,
        /// This store.
        actual_store_id: u64,
    },
    /// The raft library refused the operation.
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
    /// The engines failed.
    #[error("storage: {0}")]
    Storage(#[from] storage::Error),
    /// A message could not be encoded or decoded.
    #[error("codec: {0}")]
    Codec(#[from] protobuf::Error),
    /// A message could not be delivered to another store.
    #[error("transport: {0}")]
    Transport(String),
    /// A file-system operation (snapshot files, directories) failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// A snapshot file or transfer failed (bad checksum, missing file, timeout).
    #[error("snapshot: {0}")]
    Snapshot(String),
    /// The target mailbox is closed: the peer or store is shutting down.
    #[error("{0} is closed")]
    Closed(String),
    /// A request was not valid (for example an unsupported command).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A membership change was proposed while another one is not applied
    /// yet (raft changes membership one peer at a time).
    #[error("region {region_id}: a membership change is already in progress")]
    ConfChangeInProgress {
        /// The region asked.
        region_id: u64,
    },
    /// A ChangePeer that cannot be applied to the region as it is: adding a
    /// peer the region already has, removing one it does not have, or
    /// removing its last voter. The string says which.
    #[error("invalid membership change: {0}")]
    InvalidConfChange(String),
    /// A TransferLeader the leader refused (target unknown or lagging, a
    /// membership change pending). The string says why.
    #[error("leader transfer refused: {0}")]
    TransferLeaderRefused(String),
    /// A Split whose key is empty, outside the region, or at one of its
    /// bounds, or whose new ids do not match the region's peers.
    #[error("invalid split: {0}")]
    InvalidSplit(String),
    /// The scheduler could not answer (unreachable, or it refused).
    #[error("scheduler: {0}")]
    Scheduler(String),
}

/// raftstore's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The `errorpb::Error` a client receives for this error.
    pub fn to_region_error(&self) -> errorpb::Error {
        let mut error = errorpb::Error::new();
        error.message = self.to_string();
        match self {
            Error::NotLeader { region_id, leader } => {
                let not_leader = error.mut_not_leader();
                not_leader.region_id = *region_id;
                if let Some(leader) = leader {
                    not_leader.leader = Some(leader.clone()).into();
                }
            }
            Error::RegionNotFound(region_id) => error.mut_region_not_found().region_id = *region_id,
            Error::KeyNotInRegion {
                key,
                region_id,
                start_key,
                end_key,
            } => {
                let detail = error.mut_key_not_in_region();
                detail.key = key.clone();
                detail.region_id = *region_id;
                detail.start_key = start_key.clone();
                detail.end_key = end_key.clone();
            }
            Error::EpochNotMatch {
                current_regions, ..
            } => error.mut_epoch_not_match().current_regions = current_regions.clone(),
            Error::StaleCommand => {
                error.mut_stale_command();
            }
            Error::StoreNotMatch {
                request_store_id,
                actual_store_id,
            } => {
                let detail = error.mut_store_not_match();
                detail.request_store_id = *request_store_id;
                detail.actual_store_id = *actual_store_id;
            }
            _ => {}
        }
        error
    }
}
