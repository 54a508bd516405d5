//! The **split_check** worker: measures a region and, when it is too big,
//! finds its split key and asks the scheduler for the new region's ids.
//!
//! In: [`SplitCheckTask`]s on its own mailbox, from a leader's split-check
//! tick (`PeerMsgHandler::on_split_region_check_tick`) once its region
//! grew by `region_split_check_diff` bytes. Out: `PeerMsg::ApproximateSize`
//! (the measured size, for heartbeats) and, when the region is over
//! `region_max_size`, `PeerMsg::ProposeSplit` with the split key and the
//! ids from `SchedulerClient::ask_split`, both through the router.
//!
//! Measuring scans the region's keys in every column family on a
//! point-in-time engine snapshot; it runs on its own thread so the raft
//! worker never scans, and so waiting for the scheduler holds up nothing
//! else. The split key is the first key of the default column family at
//! which the region's first `region_split_size` bytes are reached.
//!
//! Lifecycle: started by `RaftStore::start`; ends when every sender (the
//! raft worker's context) is dropped.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::Receiver;
use log::{debug, info, warn};
use proto::metapb::Region;
use storage::{keys, Engines, CF_DEFAULT};

use crate::chain::chain;
use crate::errors::Result;
use crate::msg::PeerMsg;
use crate::router::Router;
use crate::scheduler_client::SchedulerClient;

/// Measure `region` (and split it if it is too big).
#[derive(Debug, Clone)]
pub struct SplitCheckTask {
    /// The region as the leader knows it now.
    pub region: Region,
}

/// The split_check worker's state.
pub struct SplitChecker {
    store_id: u64,
    engines: Engines,
    router: Router,
    scheduler: Arc<dyn SchedulerClient>,
    region_max_size: u64,
    region_split_size: u64,
}

/// What a scan of a region found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionSize {
    /// Bytes of keys and values in every column family.
    pub total: u64,
    /// The split key, if the region is over its maximum size.
    pub split_key: Option<Vec<u8>>,
}

impl SplitChecker {
    /// A checker for one store.
    pub fn new(
        store_id: u64,
        engines: Engines,
        router: Router,
        scheduler: Arc<dyn SchedulerClient>,
        region_max_size: u64,
        region_split_size: u64,
    ) -> SplitChecker {
        SplitChecker {
            store_id,
            engines,
            router,
            scheduler,
            region_max_size,
            region_split_size,
        }
    }

    /// Starts the `split_check-N` thread over `mailbox`.
    pub fn start(self, mailbox: Receiver<SplitCheckTask>) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name(format!("split_check-{}", self.store_id))
            .spawn(move || {
                for task in mailbox {
                    self.handle(task);
                }
            })
    }

    fn handle(&self, task: SplitCheckTask) {
        let region = task.region;
        let size = match self.measure(&region) {
            Ok(size) => size,
            Err(error) => {
                warn!(
                    "store {}: [region {}] split check failed: {error}",
                    self.store_id, region.id
                );
                return;
            }
        };
        debug!(
            "store {}: [region {}] measured {} bytes",
            self.store_id, region.id, size.total
        );
        let _ = self
            .router
            .send(region.id, PeerMsg::ApproximateSize { size: size.total });
        let Some(split_key) = size.split_key else {
            return;
        };
        chain!(
            "SplitChecker::handle",
            region.id,
            0,
            "store {}: region is {} bytes (max {}); split key {:?}",
            self.store_id,
            size.total,
            self.region_max_size,
            String::from_utf8_lossy(&split_key)
        );
        let ids = match self.scheduler.ask_split(&region) {
            Ok(ids) => ids,
            Err(error) => {
                warn!(
                    "store {}: [region {}] ask_split failed: {error}; retried at the next check",
                    self.store_id, region.id
                );
                return;
            }
        };
        info!(
            "store {}: [region {}] splitting at {:?} into new region {}",
            self.store_id,
            region.id,
            String::from_utf8_lossy(&split_key),
            ids.new_region_id
        );
        let message = PeerMsg::ProposeSplit {
            region_epoch: region.region_epoch().clone(),
            split_key,
            ids,
        };
        let _ = self.router.send(region.id, message);
    }

    /// Scans the region's data and finds its size and, if it is over the
    /// maximum, its split key (strictly inside the region).
    pub fn measure(&self, region: &Region) -> Result<RegionSize> {
        let snapshot = self.engines.kv.snapshot();
        let start = keys::data_key(&region.start_key);
        let end = keys::data_end_key(&region.end_key);
        let mut total = 0u64;
        for cf in storage::ALL_CFS {
            if cf == CF_DEFAULT {
                continue;
            }
            snapshot.scan_cf(cf, &start, &end, |key, value| {
                total += (key.len() + value.len()) as u64;
                Ok(true)
            })?;
        }
        let mut default_size = 0u64;
        let mut split_key = None;
        snapshot.scan_cf(CF_DEFAULT, &start, &end, |key, value| {
            default_size += (key.len() + value.len()) as u64;
            if split_key.is_none() && total + default_size >= self.region_split_size {
                let user_key = keys::origin_key(key).unwrap_or(key);
                let candidate = without_mvcc_timestamp(user_key);
                if candidate > region.start_key.as_slice() {
                    split_key = Some(candidate.to_vec());
                }
            }
            Ok(true)
        })?;
        total += default_size;
        if total <= self.region_max_size {
            split_key = None;
        }
        Ok(RegionSize { total, split_key })
    }
}

/// The split key to use at `key`: an MVCC key (lab 4: encoded user key +
/// 8-byte timestamp) loses its timestamp, so the split falls between two
/// user keys and never between the versions of one (or between a key's
/// lock, stored at the encoded user key, and its versions). A raw key
/// stays as it is; should one happen to parse as an MVCC key, the shorter
/// key is still a valid split point inside the region.
fn without_mvcc_timestamp(key: &[u8]) -> &[u8] {
    match storage::mvcc::decode_key(key) {
        Ok(_) => &key[..key.len() - std::mem::size_of::<u64>()],
        Err(_) => key,
    }
}

#[cfg(test)]
mod tests {
    use super::without_mvcc_timestamp;
    use storage::mvcc::{encode_key, encode_user_key};

    /// An MVCC key splits at its encoded user key; a raw key splits where it is.
    #[test]
    fn split_keys_drop_mvcc_timestamps_only() {
        let versioned = encode_key(b"account-0042", 7);
        assert_eq!(
            without_mvcc_timestamp(&versioned),
            encode_user_key(b"account-0042").as_slice()
        );
        assert_eq!(without_mvcc_timestamp(b"key000074"), b"key000074");
        assert_eq!(without_mvcc_timestamp(b""), b"");
    }
}
