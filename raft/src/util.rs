//! Small helpers shared by the log, the storage and the state machine.

use proto::eraftpb::{Entry, MessageType, Snapshot};
use protobuf::Message as _;

/// Truncates `entries` so that their total encoded size stays within
/// `max_size`, but always keeps at least one entry: a single entry larger
/// than the limit must still be able to make progress.
pub(crate) fn limit_size(entries: &mut Vec<Entry>, max_size: Option<u64>) {
    let Some(max_size) = max_size else {
        return;
    };
    if entries.len() <= 1 {
        return;
    }
    let mut total: u64 = 0;
    let mut keep = 0;
    for entry in entries.iter() {
        total += entry.compute_size();
        if keep > 0 && total > max_size {
            break;
        }
        keep += 1;
    }
    entries.truncate(keep);
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
    fn test_limit_size() {
        let all: Vec<Entry> = (1..=5).map(|i| entry(i, 100)).collect();
        let one = all[0].compute_size();

        let mut ents = all.clone();
        limit_size(&mut ents, None);
        assert_eq!(ents.len(), 5);

        let mut ents = all.clone();
        limit_size(&mut ents, Some(0));
        assert_eq!(ents.len(), 1, "at least one entry even over the limit");

        let mut ents = all.clone();
        limit_size(&mut ents, Some(one * 2));
        assert_eq!(ents.len(), 2);

        let mut ents = all.clone();
        limit_size(&mut ents, Some(one * 2 + one / 2));
        assert_eq!(ents.len(), 2);

        let mut ents = all;
        limit_size(&mut ents, Some(u64::MAX));
        assert_eq!(ents.len(), 5);
    }
}
