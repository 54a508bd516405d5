//! The configuration of one raft node.
//!
//! The application fills a [`Config`] and passes it to
//! [`RawNode::new`](crate::RawNode::new) (or [`Raft::new`](crate::Raft::new),
//! which calls [`Config::validate`] first).

use crate::errors::{Error, Result};
use crate::INVALID_ID;

/// Parameters of a raft node. Times are counted in ticks: the application
/// calls `tick()` at a fixed interval and decides how long one tick is.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// This node's id. Must not be 0 ([`INVALID_ID`]).
    pub id: u64,
    /// The ids of the group's members when the group starts from an empty
    /// storage. Ignored when the storage has a
    /// [`ConfState`](proto::eraftpb::ConfState) (a restart): leave it empty then.
    pub peers: Vec<u64>,
    /// A follower or candidate that hears nothing from a leader for a random
    /// number of ticks in `[election_tick, 2 * election_tick)` starts an
    /// election (Raft paper §5.2). Must be greater than `heartbeat_tick`.
    pub election_tick: usize,
    /// A leader sends heartbeats every `heartbeat_tick` ticks.
    pub heartbeat_tick: usize,
    /// The last index the application has applied. Set it when restarting so
    /// that already-applied entries are not handed out again.
    pub applied: u64,
    /// The largest total size in bytes of the entries in one MsgAppend (at
    /// least one entry is always sent). Bounds the cost of catching up a peer.
    pub max_size_per_msg: u64,
    /// How many MsgAppend may be in flight to one peer in the Replicate
    /// state before the leader waits for acknowledgements (flow control).
    pub max_inflight_msgs: usize,
    /// The leader steps down when it has not heard from a quorum within an
    /// election timeout, and followers that heard from a leader recently
    /// ignore vote requests (the leader lease, Raft thesis §6.2).
    pub check_quorum: bool,
    /// Run a pre-vote round before a real election so a partitioned node
    /// does not disrupt the group when it rejoins (Raft thesis §9.6).
    pub pre_vote: bool,
    /// Seeds the randomized election timeout; `None` = from OS entropy.
    /// Tests and the simulation always set it, so runs are reproducible.
    pub random_seed: Option<u64>,
    /// New entries (and a new commit index) for a peer that still has a
    /// MsgAppend queued in this batch of messages extend that message
    /// instead of making another, within `max_size_per_msg`: an application
    /// proposing many commands between two Readys sends one MsgAppend per
    /// peer, not one per command. Off by default (as in raft-rs): it changes
    /// how many messages a step produces, which the lab tests count.
    pub batch_append: bool,
}

impl Config {
    /// A configuration for node `id` with the defaults: election after 10
    /// ticks, a heartbeat every tick, 1 MiB per MsgAppend, 256 in-flight
    /// MsgAppend per peer, CheckQuorum and PreVote off.
    pub fn new(id: u64) -> Config {
        Config {
            id,
            ..Config::default()
        }
    }

    /// Checks that the configuration can run: a valid id, positive ticks,
    /// an election timeout longer than the heartbeat, a non-empty inflight
    /// window.
    pub fn validate(&self) -> Result<()> {
        if self.id == INVALID_ID {
            return Err(Error::ConfigInvalid("invalid node id 0".to_string()));
        }
        if self.heartbeat_tick == 0 {
            return Err(Error::ConfigInvalid(
                "heartbeat tick must be greater than 0".to_string(),
            ));
        }
        if self.election_tick <= self.heartbeat_tick {
            return Err(Error::ConfigInvalid(
                "election tick must be greater than heartbeat tick".to_string(),
            ));
        }
        if self.max_inflight_msgs == 0 {
            return Err(Error::ConfigInvalid(
                "max inflight messages must be greater than 0".to_string(),
            ));
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            id: INVALID_ID,
            peers: Vec::new(),
            election_tick: 10,
            heartbeat_tick: 1,
            applied: 0,
            max_size_per_msg: 1024 * 1024,
            max_inflight_msgs: 256,
            check_quorum: false,
            pre_vote: false,
            random_seed: None,
            batch_append: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults are valid once an id is set; each broken field is reported.
    #[test]
    fn test_validate() {
        assert!(Config::new(1).validate().is_ok());
        assert!(Config::default().validate().is_err());
        let mut c = Config::new(1);
        c.heartbeat_tick = 0;
        assert!(c.validate().is_err());
        let mut c = Config::new(1);
        c.election_tick = c.heartbeat_tick;
        assert!(c.validate().is_err());
        let mut c = Config::new(1);
        c.max_inflight_msgs = 0;
        assert!(c.validate().is_err());
    }
}
