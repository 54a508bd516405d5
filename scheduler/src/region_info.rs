//! [`RegionInfo`]: what the scheduler knows about one region, and the
//! checks every reported region must pass.
//!
//! Built from region heartbeats and from the persisted regions at open;
//! held in [`crate::RegionTree`]. [`validate_region`] is called on every
//! region that arrives from outside (bootstrap, heartbeats, splits) so that
//! malformed input becomes a typed error before it touches any state.

use std::collections::HashSet;

use proto::metapb::{Peer, Region};
use proto::schedulerpb::RegionHeartbeatRequest;

use crate::errors::{Error, Result};

/// One region as the scheduler sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionInfo {
    /// The region's range, epoch and peers.
    pub region: Region,
    /// The peer that last reported itself leader; `None` until a heartbeat
    /// arrives (leaders are not persisted).
    pub leader: Option<Peer>,
    /// Peers the leader reports as lagging behind its log.
    pub pending_peers: Vec<Peer>,
    /// The leader's estimate of the region's size, in bytes.
    pub approximate_size: u64,
}

impl RegionInfo {
    /// A region with no leader and no statistics (bootstrap, loading).
    pub fn new(region: Region) -> RegionInfo {
        RegionInfo {
            region,
            leader: None,
            pending_peers: Vec::new(),
            approximate_size: 0,
        }
    }

    /// The region described by a heartbeat (not validated: see
    /// [`validate_region`]).
    pub fn from_heartbeat(request: &RegionHeartbeatRequest) -> RegionInfo {
        RegionInfo {
            region: request.region.clone().unwrap_or_default(),
            leader: request.leader.clone().into_option(),
            pending_peers: request.pending_peers.clone(),
            approximate_size: request.approximate_size,
        }
    }

    /// The region's id.
    pub fn id(&self) -> u64 {
        self.region.id
    }

    /// The epoch's version (bumped by splits).
    pub fn version(&self) -> u64 {
        self.region.region_epoch.version
    }

    /// The epoch's conf_ver (bumped by membership changes).
    pub fn conf_ver(&self) -> u64 {
        self.region.region_epoch.conf_ver
    }

    /// True when this region's epoch is older than `known`'s in either
    /// counter: TinyKV's staleness rule. A split bumps version and a conf
    /// change bumps conf_ver, so a region behind in either has missed one.
    pub fn is_older_than(&self, known: &RegionInfo) -> bool {
        self.version() < known.version() || self.conf_ver() < known.conf_ver()
    }

    /// True when both epochs are equal.
    pub fn same_epoch(&self, known: &RegionInfo) -> bool {
        self.version() == known.version() && self.conf_ver() == known.conf_ver()
    }

    /// True when `key` is in `[start_key, end_key)` (empty end: unbounded).
    pub fn contains_key(&self, key: &[u8]) -> bool {
        key >= self.region.start_key.as_slice()
            && (self.region.end_key.is_empty() || key < self.region.end_key.as_slice())
    }

    /// The `StaleRegion` error saying that this region is behind `known`.
    pub fn stale_error(&self, known: &RegionInfo) -> Error {
        Error::StaleRegion {
            region_id: self.id(),
            reported_version: self.version(),
            reported_conf_ver: self.conf_ver(),
            known_region_id: known.id(),
            known_version: known.version(),
            known_conf_ver: known.conf_ver(),
        }
    }
}

/// Checks that `region` is well formed: a non-zero id, an epoch, at least
/// one peer, no zero or duplicated peer id, no two peers on one store, and
/// `start_key < end_key` unless `end_key` is empty (unbounded).
pub fn validate_region(region: &Region) -> Result<()> {
    let invalid = |reason: String| Error::InvalidRegion(format!("region {}: {reason}", region.id));
    if region.id == 0 {
        return Err(Error::InvalidRegion("region id is 0".to_string()));
    }
    if region.region_epoch.is_none() {
        return Err(invalid("no region epoch".to_string()));
    }
    if !region.end_key.is_empty() && region.start_key >= region.end_key {
        return Err(invalid(format!(
            "empty or inverted range [{:?}, {:?})",
            region.start_key, region.end_key
        )));
    }
    if region.peers.is_empty() {
        return Err(invalid("no peers".to_string()));
    }
    let mut peer_ids = HashSet::new();
    let mut store_ids = HashSet::new();
    for peer in &region.peers {
        if peer.id == 0 || peer.store_id == 0 {
            return Err(invalid(format!("peer {peer:?} has a zero id")));
        }
        if !peer_ids.insert(peer.id) {
            return Err(invalid(format!("duplicated peer id {}", peer.id)));
        }
        if !store_ids.insert(peer.store_id) {
            return Err(invalid(format!("two peers on store {}", peer.store_id)));
        }
    }
    Ok(())
}
