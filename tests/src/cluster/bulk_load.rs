//! `Cluster::must_put_many`: loads many keys fast, for tests that need a lot
//! of data (lab 3C writes 10 000 keys to get dozens of regions).
//!
//! One command per region carries up to [`BATCH`] Puts, sent to the
//! region's leader with the region's epoch. A split or leader change while
//! a batch is in flight answers with a region error at once (the epoch or
//! the leader no longer match); the batch is then cut again along the new
//! region boundaries and resent. Resending is safe: a Put of the same
//! value twice changes nothing.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use proto::raft_cmdpb::RaftCmdRequest;

use super::{put_request, Cluster, KvPair};

/// Puts per command.
const BATCH: usize = 128;
/// How long a whole load may take.
const LOAD_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one batch may wait for its answer before it is resent.
const BATCH_TIMEOUT: Duration = Duration::from_secs(2);

impl Cluster {
    /// Puts every pair (default CF), in batches routed by region; panics
    /// (with the seed) if the load takes over a minute.
    pub fn must_put_many(&self, pairs: &[KvPair]) {
        let deadline = Instant::now() + LOAD_TIMEOUT;
        // Sorted, so that a batch cut at a region's end key leaves the rest
        // for the regions after it.
        let mut sorted = pairs.to_vec();
        sorted.sort();
        let mut pending: VecDeque<&[KvPair]> = sorted.chunks(BATCH).collect();
        while let Some(batch) = pending.pop_front() {
            if Instant::now() > deadline {
                self.fail(&format!(
                    "loading {} keys took over {LOAD_TIMEOUT:?}",
                    pairs.len()
                ));
            }
            let Some((first_key, _)) = batch.first() else {
                continue;
            };
            let region = self.region_for_key(first_key);
            let leader = region.as_ref().and_then(|region| self.leader_of(region.id));
            let (Some(region), Some(leader)) = (region, leader) else {
                pending.push_front(batch);
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            // The part of the batch inside the region; the rest waits its turn.
            let inside = batch
                .iter()
                .take_while(|(key, _)| region.end_key.is_empty() || *key < region.end_key)
                .count();
            let (now, later) = batch.split_at(inside);
            if !later.is_empty() {
                pending.push_front(later);
            }
            let mut request = RaftCmdRequest::new();
            request.mut_header().region_id = region.id;
            request.mut_header().peer = Some(leader.clone()).into();
            request.mut_header().region_epoch = Some(region.region_epoch().clone()).into();
            request.requests = now
                .iter()
                .map(|(key, value)| put_request(key, value))
                .collect();
            let answer = self
                .with_store(leader.store_id, |store| store.send_command(request))
                .and_then(|sent| sent.ok())
                .and_then(|receiver| receiver.wait(BATCH_TIMEOUT));
            let done = answer.is_some_and(|answer| !answer.response.header().error.is_some());
            if !done {
                log::debug!(
                    "bulk load: batch of {} keys for region {} not done; resending",
                    now.len(),
                    region.id
                );
                pending.push_front(now);
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}
