//! Small helpers shared by the log, the storage and the state machine.

use proto::eraftpb::{Entry, MessageType, Snapshot};
use protobuf::Message as _;

/// How many of `entries` (a prefix) can follow the already `taken` ones
/// with a total encoded size within `max_size`; at least one entry overall:
/// a single entry larger than the limit must still be able to make
/// progress. Callers count before cloning, so nothing cut is ever cloned.
pub(crate) fn count_within_size(
    taken: &[Entry],
    entries: &[Entry],
    max_size: Option<u64>,
) -> usize {
    let Some(max_size) = max_size else {
        return entries.len();
    };
    if taken.is_empty() && entries.len() <= 1 {
        // At least one entry is always kept: no sizes to compute.
        return entries.len();
    }
    let mut total: u64 = taken.iter().map(|entry| entry.compute_size()).sum();
    let mut count = 0;
    for entry in entries {
        total += entry.compute_size();
        if (count > 0 || !taken.is_empty()) && total > max_size {
            break;
        }
        count += 1;
    }
    count
}

/// Whether a snapshot is the empty placeholder (no snapshot at all).
pub fn is_empty_snapshot(snapshot: &Snapshot) -> bool {
    snapshot.metadata.as_ref().is_none_or(|m| m.index == 0)
}

/// Messages that only the application itself may step (they never cross the
/// network).
pub(crate) fn is_local_message(t: MessageType) -> bool {
    matches!(
        t,
        MessageType::MsgHup
            | MessageType::MsgBeat
            | MessageType::MsgUnreachable
            | MessageType::MsgSnapStatus
            | MessageType::MsgCheckQuorum
    )
}

/// Messages that answer a request; they are only meaningful from a member.
pub(crate) fn is_response_message(t: MessageType) -> bool {
    matches!(
        t,
        MessageType::MsgAppendResponse
            | MessageType::MsgRequestVoteResponse
            | MessageType::MsgHeartbeatResponse
            | MessageType::MsgUnreachable
            | MessageType::MsgRequestPreVoteResponse
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, data_len: usize) -> Entry {
        let mut e = Entry::new();
        e.index = index;
        e.term = 1;
        e.data = vec![b'x'; data_len].into();
        e
    }

    /// The size limit keeps whole entries and never returns an empty batch.
    #[test]
    fn test_count_within_size() {
        let all: Vec<Entry> = (1..=5).map(|i| entry(i, 100)).collect();
        let one = all[0].compute_size();
        assert_eq!(count_within_size(&[], &all, None), 5);
        assert_eq!(
            count_within_size(&[], &all, Some(0)),
            1,
            "at least one entry even over the limit"
        );
        assert_eq!(count_within_size(&[], &all, Some(one * 2)), 2);
        assert_eq!(count_within_size(&[], &all, Some(one * 2 + one / 2)), 2);
        assert_eq!(count_within_size(&[], &all, Some(u64::MAX)), 5);
        // Entries already taken count towards the limit, and then the
        // next entry must fit.
        assert_eq!(count_within_size(&all[..1], &all[1..], Some(one * 3)), 2);
        assert_eq!(count_within_size(&all[..1], &all[1..], Some(0)), 0);
    }
}
