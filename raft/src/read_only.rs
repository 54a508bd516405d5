//! Linearizable reads without a log append: the ReadIndex protocol (Raft
//! thesis §6.4).
//!
//! To serve a read, the leader records its commit index as the read index,
//! then confirms it is still the leader by a round of heartbeats carrying
//! the request's context. Once a quorum acknowledges, every read queued up
//! to that request may be served as soon as the application has applied up
//! to the read index. [`ReadOnly`] tracks the requests waiting for their
//! quorum; the results come out of [`Ready`](crate::Ready) as [`ReadState`]s.

use std::collections::{HashMap, HashSet, VecDeque};

use bytes::Bytes;
use proto::eraftpb::Message;

/// A read that may be served once the application applied up to `index`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReadState {
    /// The commit index when the read was requested.
    pub index: u64,
    /// The context the application gave to `read_index`, to match the answer.
    pub request_ctx: Bytes,
}

/// A read request waiting for a quorum of heartbeat acknowledgements.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadIndexStatus {
    /// The MsgReadIndex (local, or forwarded by a follower).
    pub req: Message,
    /// The leader's commit index when the request arrived.
    pub index: u64,
    /// The peers that acknowledged the heartbeat carrying this request's context.
    pub acks: HashSet<u64>,
}

/// The read requests a leader is confirming, in arrival order.
#[derive(Debug, Default, Clone)]
pub struct ReadOnly {
    pending_read_index: HashMap<Bytes, ReadIndexStatus>,
    read_index_queue: VecDeque<Bytes>,
}

impl ReadOnly {
    /// No pending reads.
    pub fn new() -> ReadOnly {
        ReadOnly::default()
    }

    /// Queues the read request `req` (its context is `req.entries[0].data`)
    /// with read index `index`. A duplicate context is ignored.
    pub fn add_request(&mut self, index: u64, req: Message) {
        let Some(ctx) = req.entries.first().map(|e| e.data.clone()) else {
            return;
        };
        if self.pending_read_index.contains_key(&ctx) {
            return;
        }
        let status = ReadIndexStatus {
            req,
            index,
            acks: HashSet::new(),
        };
        self.pending_read_index.insert(ctx.clone(), status);
        self.read_index_queue.push_back(ctx);
    }

    /// Records that peer `from` acknowledged the heartbeat with context
    /// `ctx`; returns everyone who acknowledged it so far, or `None` when
    /// no request has that context.
    pub fn recv_ack(&mut self, from: u64, ctx: &[u8]) -> Option<&HashSet<u64>> {
        let status = self.pending_read_index.get_mut(ctx)?;
        status.acks.insert(from);
        Some(&status.acks)
    }

    /// The request with context `ctx` reached its quorum: removes it and
    /// every request queued before it (they are confirmed by the same
    /// heartbeat round) and returns them in order.
    pub fn advance(&mut self, ctx: &[u8]) -> Vec<ReadIndexStatus> {
        let Some(position) = self.read_index_queue.iter().position(|c| c == ctx) else {
            return Vec::new();
        };
        self.read_index_queue
            .drain(..=position)
            .filter_map(|c| self.pending_read_index.remove(&c))
            .collect()
    }

    /// The context of the latest pending request whose acks satisfy
    /// `is_confirmed` (used when the membership shrinks: a smaller quorum
    /// may already be reached).
    pub fn latest_request_ctx_matching(
        &self,
        is_confirmed: impl Fn(&HashSet<u64>) -> bool,
    ) -> Option<Bytes> {
        self.read_index_queue
            .iter()
            .rev()
            .find(|ctx| {
                self.pending_read_index
                    .get(*ctx)
                    .is_some_and(|status| is_confirmed(&status.acks))
            })
            .cloned()
    }

    /// The context of the latest pending request, if any.
    pub fn last_pending_request_ctx(&self) -> Option<Bytes> {
        self.read_index_queue.back().cloned()
    }

    /// How many reads are waiting.
    pub fn pending_read_count(&self) -> usize {
        self.read_index_queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::eraftpb::Entry;

    fn request(ctx: &[u8]) -> Message {
        let mut m = Message::new();
        let mut e = Entry::new();
        e.data = Bytes::copy_from_slice(ctx);
        m.entries.push(e);
        m
    }

    /// Requests are confirmed in order: advancing one confirms all before it.
    #[test]
    fn test_read_only_advance_in_order() {
        let mut ro = ReadOnly::new();
        ro.add_request(1, request(b"a"));
        ro.add_request(2, request(b"b"));
        ro.add_request(3, request(b"c"));
        ro.add_request(4, request(b"b"));
        assert_eq!(ro.pending_read_count(), 3, "duplicate context ignored");
        assert_eq!(ro.recv_ack(2, b"b").map(|a| a.len()), Some(1));
        assert!(ro.recv_ack(2, b"zz").is_none());
        let done = ro.advance(b"b");
        assert_eq!(done.iter().map(|s| s.index).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(
            ro.last_pending_request_ctx(),
            Some(Bytes::from_static(b"c"))
        );
        assert!(ro.advance(b"zz").is_empty());
    }
}
