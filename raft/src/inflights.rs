//! The inflight window of one peer: flow control for MsgAppend.
//!
//! In the Replicate state the leader sends MsgAppend without waiting for
//! each answer. [`Inflights`] remembers the last index of every MsgAppend
//! sent and not yet acknowledged; when it is full the leader stops sending
//! to that peer until acknowledgements free slots. The capacity is
//! [`Config::max_inflight_msgs`](crate::Config::max_inflight_msgs).

/// A bounded FIFO of the last indexes of unacknowledged MsgAppend messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Inflights {
    /// Ring buffer; the live part starts at `start` and has `count` items.
    buffer: Vec<u64>,
    start: usize,
    count: usize,
    cap: usize,
}

impl Inflights {
    /// An empty window holding at most `cap` messages.
    pub fn new(cap: usize) -> Inflights {
        Inflights {
            buffer: Vec::with_capacity(cap),
            start: 0,
            count: 0,
            cap,
        }
    }

    /// Whether no more messages may be sent.
    pub fn full(&self) -> bool {
        self.count >= self.cap
    }

    /// How many messages are in flight.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The capacity of the window.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Records a MsgAppend whose last entry is `inflight`. Indexes must be
    /// added in increasing order. Adding to a full window is refused with
    /// an error log (the caller checks [`full`](Self::full) first).
    pub fn add(&mut self, inflight: u64) {
        if self.full() {
            log::error!("cannot add index {} to a full inflight window", inflight);
            return;
        }
        let next = (self.start + self.count) % self.cap;
        if next < self.buffer.len() {
            self.buffer[next] = inflight;
        } else {
            // The buffer grows lazily up to `cap`, so idle peers cost little.
            self.buffer.push(inflight);
        }
        self.count += 1;
    }

    /// The peer acknowledged everything up to `to`: free those messages.
    pub fn free_to(&mut self, to: u64) {
        if self.count == 0 || to < self.buffer[self.start] {
            return;
        }
        let mut freed = 0;
        let mut idx = self.start;
        while freed < self.count {
            if to < self.buffer[idx] {
                break;
            }
            freed += 1;
            idx = (idx + 1) % self.cap;
        }
        self.count -= freed;
        self.start = idx;
        if self.count == 0 {
            self.start = 0;
        }
    }

    /// Frees the oldest message (a heartbeat response showed the peer is
    /// alive, so the window must not stay stuck).
    pub fn free_first_one(&mut self) {
        if self.count == 0 {
            return;
        }
        let first = self.buffer[self.start];
        self.free_to(first);
    }

    /// Forgets every message in flight.
    pub fn reset(&mut self) {
        self.count = 0;
        self.start = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The window fills up to its capacity, wrapping around the ring.
    #[test]
    fn test_inflights_add_and_full() {
        let mut ins = Inflights::new(4);
        for i in 1..=4 {
            assert!(!ins.full());
            ins.add(i);
        }
        assert!(ins.full());
        ins.add(5);
        assert_eq!(ins.count(), 4, "adding to a full window is refused");
        ins.free_to(2);
        assert_eq!(ins.count(), 2);
        ins.add(5);
        ins.add(6);
        assert!(ins.full());
        ins.free_to(5);
        assert_eq!(ins.count(), 1);
        ins.free_to(6);
        assert_eq!(ins.count(), 0);
    }

    /// Freeing stops at the first index above the acknowledged one.
    #[test]
    fn test_inflights_free_to() {
        let mut ins = Inflights::new(10);
        for i in 0..10 {
            ins.add(i);
        }
        ins.free_to(0);
        assert_eq!(ins.count(), 9);
        ins.free_to(4);
        assert_eq!(ins.count(), 5);
        ins.free_to(3);
        assert_eq!(ins.count(), 5, "an old acknowledgement frees nothing");
        ins.free_to(100);
        assert_eq!(ins.count(), 0);
    }

    /// free_first_one drops exactly the oldest message; reset drops all.
    #[test]
    fn test_inflights_free_first_one_and_reset() {
        let mut ins = Inflights::new(10);
        for i in 0..10 {
            ins.add(i);
        }
        ins.free_first_one();
        assert_eq!(ins.count(), 9);
        ins.reset();
        assert_eq!(ins.count(), 0);
        assert!(!ins.full());
    }
}
