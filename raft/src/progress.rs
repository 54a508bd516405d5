//! What the leader knows about one follower's log.
//!
//! The leader keeps a [`Progress`] per peer (Raft paper §5.3: `nextIndex`
//! and `matchIndex`) and a small state machine deciding how to replicate:
//!
//! - **Probe**: the leader does not know where the follower's log matches;
//!   it sends one MsgAppend and waits for the answer (paused) before the next.
//! - **Replicate**: the logs match up to `matched`; the leader streams
//!   entries optimistically, bounded by the [`Inflights`] window.
//! - **Snapshot**: the follower needs compacted entries; a snapshot is in
//!   flight and replication to that peer waits until it is reported.

use crate::inflights::Inflights;

/// How the leader currently replicates to a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressState {
    /// One MsgAppend at a time, to find where the logs match.
    #[default]
    Probe,
    /// Stream entries, limited by the inflight window.
    Replicate,
    /// A snapshot is being sent; nothing else is.
    Snapshot,
}

/// The leader's view of one peer.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// The highest index known to be replicated on the peer.
    pub matched: u64,
    /// The index of the next entry to send.
    pub next_idx: u64,
    /// How the leader replicates to this peer.
    pub state: ProgressState,
    /// In Probe: a MsgAppend was sent and not answered yet.
    pub paused: bool,
    /// In Snapshot: the index of the snapshot in flight.
    pub pending_snapshot: u64,
    /// The peer was heard from since the last CheckQuorum round.
    pub recent_active: bool,
    /// Unacknowledged MsgAppend messages (used in Replicate).
    pub ins: Inflights,
}

impl Progress {
    /// A Probe progress that will first send the entry at `next_idx`, with an
    /// inflight window of `ins_size` messages.
    pub fn new(next_idx: u64, ins_size: usize) -> Progress {
        Progress {
            matched: 0,
            next_idx,
            state: ProgressState::Probe,
            paused: false,
            pending_snapshot: 0,
            recent_active: false,
            ins: Inflights::new(ins_size),
        }
    }

    fn reset_state(&mut self, state: ProgressState) {
        self.paused = false;
        self.pending_snapshot = 0;
        self.state = state;
        self.ins.reset();
    }

    /// Go back to probing. After a snapshot, probing starts after the
    /// snapshot's index (the follower has everything up to it).
    pub fn become_probe(&mut self) {
        if self.state == ProgressState::Snapshot {
            let pending_snapshot = self.pending_snapshot;
            self.reset_state(ProgressState::Probe);
            self.next_idx = std::cmp::max(self.matched + 1, pending_snapshot + 1);
        } else {
            self.reset_state(ProgressState::Probe);
            self.next_idx = self.matched + 1;
        }
    }

    /// The logs match up to `matched`: start streaming after it.
    pub fn become_replicate(&mut self) {
        self.reset_state(ProgressState::Replicate);
        self.next_idx = self.matched + 1;
    }

    /// A snapshot at `snap_idx` was sent: wait for it.
    pub fn become_snapshot(&mut self, snap_idx: u64) {
        self.reset_state(ProgressState::Snapshot);
        self.pending_snapshot = snap_idx;
    }

    /// The snapshot in flight failed: forget it, so probing restarts from `matched`.
    pub fn snapshot_failure(&mut self) {
        self.pending_snapshot = 0;
    }

    /// In Snapshot state: whether the peer already caught up past the
    /// snapshot (so it is no longer needed).
    pub fn maybe_snapshot_abort(&self) -> bool {
        self.state == ProgressState::Snapshot && self.matched >= self.pending_snapshot
    }

    /// The peer acknowledged entries up to `n`. Returns false if that is old
    /// news (`n <= matched`).
    pub fn maybe_update(&mut self, n: u64) -> bool {
        let updated = self.matched < n;
        if updated {
            self.matched = n;
            self.resume();
        }
        if self.next_idx < n + 1 {
            self.next_idx = n + 1;
        }
        updated
    }

    /// Entries up to `n` were sent in Replicate state: the next one is `n + 1`.
    pub fn optimistic_update(&mut self, n: u64) {
        self.next_idx = n + 1;
    }

    /// The peer rejected a MsgAppend whose previous entry was `rejected`;
    /// its last index is `match_hint`. Moves `next_idx` back and returns
    /// true, or returns false if the rejection is stale (answers an older
    /// MsgAppend than the one outstanding).
    pub fn maybe_decr_to(&mut self, rejected: u64, match_hint: u64) -> bool {
        if self.state == ProgressState::Replicate {
            // In Replicate everything up to `matched` is known to match, so
            // a rejection at or below it is stale.
            if rejected <= self.matched {
                return false;
            }
            self.next_idx = self.matched + 1;
            return true;
        }
        // In Probe only the last MsgAppend sent (at next_idx - 1) counts.
        if self.next_idx == 0 || self.next_idx - 1 != rejected {
            return false;
        }
        // A late rejection may carry a hint from before the peer caught up
        // to `matched`: never probe below matched + 1, or the leader would
        // re-send entries the peer has (and might fall back to a snapshot).
        self.next_idx = std::cmp::max(std::cmp::min(rejected, match_hint + 1), self.matched + 1);
        self.resume();
        true
    }

    /// Whether the leader must not send MsgAppend to this peer right now.
    pub fn is_paused(&self) -> bool {
        match self.state {
            ProgressState::Probe => self.paused,
            ProgressState::Replicate => self.ins.full(),
            ProgressState::Snapshot => true,
        }
    }

    /// Stop sending until the peer answers (Probe).
    pub fn pause(&mut self) {
        self.paused = true;
    }

    /// The peer answered: sending may continue.
    pub fn resume(&mut self) {
        self.paused = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(state: ProgressState, matched: u64, next_idx: u64) -> Progress {
        let mut p = Progress::new(next_idx, 256);
        p.state = state;
        p.matched = matched;
        p
    }

    /// Acknowledgements move matched and next forward only.
    #[test]
    fn test_progress_maybe_update() {
        let (prev_m, prev_n) = (3, 5);
        // (update, want matched, want next, want updated)
        let cases = [
            (prev_m - 1, prev_m, prev_n, false),
            (prev_m, prev_m, prev_n, false),
            (prev_m + 1, prev_m + 1, prev_n, true),
            (prev_m + 2, prev_m + 2, prev_n + 1, true),
        ];
        for (i, &(update, wm, wn, wok)) in cases.iter().enumerate() {
            let mut p = progress(ProgressState::Probe, prev_m, prev_n);
            assert_eq!(p.maybe_update(update), wok, "case {i}");
            assert_eq!((p.matched, p.next_idx), (wm, wn), "case {i}");
        }
    }

    /// A late rejection to a Probe peer never moves next below matched + 1: the peer has those entries (Raft paper §5.3).
    #[test]
    fn test_probe_late_rejection_keeps_next_above_matched() {
        // The peer matched 5; a probe at 8 is rejected with a hint from
        // when its log ended at 3.
        let mut p = progress(ProgressState::Probe, 5, 9);
        assert!(p.maybe_decr_to(8, 3));
        assert_eq!(p.next_idx, 6, "next is matched + 1, not hint + 1");
        // A rejection of matched itself (stale) leaves next at matched + 1.
        let mut p = progress(ProgressState::Probe, 5, 6);
        p.maybe_decr_to(5, 2);
        assert_eq!(p.next_idx, 6);
    }

    /// Rejections move next back, and stale ones are ignored (Raft paper §5.3).
    #[test]
    fn test_progress_maybe_decr_to() {
        // (state, matched, next, rejected, hint, want ok, want next)
        let cases = [
            // Replicate: stale rejection at or below matched.
            (ProgressState::Replicate, 5, 10, 5, 5, false, 10),
            (ProgressState::Replicate, 5, 10, 4, 4, false, 10),
            // Replicate: real rejection goes back to matched + 1.
            (ProgressState::Replicate, 5, 10, 9, 9, true, 6),
            // Probe: a rejection not of next - 1 is stale.
            (ProgressState::Probe, 0, 0, 0, 0, false, 0),
            (ProgressState::Probe, 0, 10, 5, 5, false, 10),
            // Probe: back off by one, or to the hint if smaller.
            (ProgressState::Probe, 0, 10, 9, 9, true, 9),
            (ProgressState::Probe, 0, 2, 1, 1, true, 1),
            (ProgressState::Probe, 0, 1, 0, 0, true, 1),
            (ProgressState::Probe, 0, 10, 9, 2, true, 3),
            (ProgressState::Probe, 0, 10, 9, 0, true, 1),
        ];
        for (i, &(state, m, n, rejected, hint, wok, wn)) in cases.iter().enumerate() {
            let mut p = progress(state, m, n);
            assert_eq!(p.maybe_decr_to(rejected, hint), wok, "case {i}");
            assert_eq!(p.matched, m, "case {i}");
            assert_eq!(p.next_idx, wn, "case {i}");
        }
    }

    /// Probe pauses after a send, Replicate when the window is full,
    /// Snapshot always.
    #[test]
    fn test_progress_is_paused() {
        let mut p = progress(ProgressState::Probe, 0, 1);
        assert!(!p.is_paused());
        p.pause();
        assert!(p.is_paused());
        p.maybe_update(1);
        assert!(!p.is_paused(), "an acknowledgement resumes");

        let mut p = Progress::new(1, 1);
        p.become_replicate();
        assert!(!p.is_paused());
        p.ins.add(1);
        assert!(p.is_paused());

        let mut p = progress(ProgressState::Probe, 0, 1);
        p.become_snapshot(10);
        assert!(p.is_paused());
    }

    /// Leaving Snapshot state probes after the snapshot, or after matched on failure.
    #[test]
    fn test_progress_become_probe() {
        let mut p = progress(ProgressState::Replicate, 1, 5);
        p.become_probe();
        assert_eq!((p.state, p.next_idx), (ProgressState::Probe, 2));

        let mut p = progress(ProgressState::Probe, 1, 5);
        p.become_snapshot(10);
        p.become_probe();
        assert_eq!((p.state, p.next_idx), (ProgressState::Probe, 11));

        let mut p = progress(ProgressState::Probe, 1, 5);
        p.become_snapshot(10);
        p.snapshot_failure();
        p.become_probe();
        assert_eq!((p.state, p.next_idx), (ProgressState::Probe, 2));
    }
}
