//! [`Filter`]: one fault the simulated network applies to messages.
//!
//! Filters are added to and removed from the [`super::Network`] while a
//! test runs; every message (and every snapshot stream) passes through all
//! active filters. Randomness (which message to drop, how long to delay)
//! comes from the network's seeded RNG.

use std::collections::HashSet;
use std::time::Duration;

use proto::eraftpb::MessageType;

/// A fault on the simulated network.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Only stores in the same group can talk; all traffic between groups
    /// is dropped. Stores in no group are cut off from everyone.
    Partition(Vec<HashSet<u64>>),
    /// Everything to and from this store is dropped.
    Isolate(u64),
    /// Drop each message (and each snapshot stream) with this probability, in percent.
    DropPercent(u32),
    /// Delay each message by a random duration in `[min, max]`.
    Delay {
        /// Shortest delay.
        min: Duration,
        /// Longest delay.
        max: Duration,
    },
    /// Delay this percentage of messages by up to `max`, so messages
    /// overtake each other.
    Reorder {
        /// Share of messages held back, in percent.
        percent: u32,
        /// Longest hold-back.
        max: Duration,
    },
    /// Drop every message of this type (on any link).
    DropType(MessageType),
    /// Drop messages from `from` to `to` (the other direction still works).
    OneWay {
        /// Sending store.
        from: u64,
        /// Receiving store.
        to: u64,
    },
    /// Drop every snapshot stream.
    DropSnapshots,
    /// Flip a byte in the next `count` snapshot streams' file data.
    CorruptSnapshots {
        /// How many streams still to corrupt.
        count: u32,
    },
}

impl Filter {
    /// Whether this filter cuts the link from `from` to `to` entirely.
    pub fn cuts(&self, from: u64, to: u64) -> bool {
        match self {
            Filter::Partition(groups) => !groups
                .iter()
                .any(|group| group.contains(&from) && group.contains(&to)),
            Filter::Isolate(store) => *store == from || *store == to,
            Filter::OneWay {
                from: cut_from,
                to: cut_to,
            } => *cut_from == from && *cut_to == to,
            _ => false,
        }
    }
}
