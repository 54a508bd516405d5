//! Failpoints on the snapshot, destroy and split paths (the `fail` crate).
//!
//! They compile to nothing unless the `failpoints` cargo feature is on
//! (only tests turn it on: `cargo test --features failpoints`). All stores
//! of the test cluster share one process, so every failpoint name ends in
//! the store id: `region_task_before_ingest_2` fires on store 2 only.
//!
//! | failpoint | where | when it returns an error |
//! |---|---|---|
//! | `region_task_before_generate_N` | `RegionWorker::generate` | generation fails before the region is scanned |
//! | `region_task_after_generate_N` | `RegionWorker::generate` | snapshot kept in memory, but not handed over |
//! | `snap_runner_before_send_N` | `SnapSender::send` | the stream is never opened |
//! | `snap_runner_after_receive_N` | `SnapshotReceiver::receive` | SST files built, checked and durable, MsgSnapshot not delivered |
//! | `peer_after_persist_applying_N` | `Peer::persist_snapshot` | kv engine says Applying, raft engine not yet updated |
//! | `region_task_before_ingest_N` | `RegionWorker::apply` | verified, nothing ingested |
//! | `region_task_after_ingest_N` | `RegionWorker::apply` | ingested, region not yet marked Normal |
//! | `peer_after_tombstone_N` | `Peer::destroy` | region state is Tombstone, raft state and data not yet deleted |
//! | `peer_after_split_applied_N` | `Peer::apply_committed_entries` | a split is on disk, its new peer not yet created |
//! | `raft_worker_before_readies_N` | `RaftWorker::handle_readies` | (pause only) the raft worker stops before handling its Readies |
//!
//! A test configures one with `fail::cfg("region_task_before_ingest_2", "return")`
//! (or `"pause"`, `"1*return"`, ...) and removes it with `fail::remove`.

use std::collections::HashMap;
use std::sync::Mutex;

/// How many times each failpoint returned an error (tests wait on this to
/// know a fault really happened before they "crash" the store).
static HITS: Mutex<Option<HashMap<String, u64>>> = Mutex::new(None);

/// Records that failpoint `name` fired. Called by [`failpoint!`].
pub fn record_hit(name: &str) {
    let mut hits = HITS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    *hits
        .get_or_insert_with(HashMap::new)
        .entry(name.to_string())
        .or_default() += 1;
}

/// How many times failpoint `name` (with its store suffix, e.g.
/// `region_task_before_ingest_2`) returned an error in this process.
pub fn hits(name: &str) -> u64 {
    let hits = HITS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    hits.as_ref()
        .and_then(|hits| hits.get(name).copied())
        .unwrap_or(0)
}

/// `failpoint!("name", store_id)`: if the failpoint `name_<store_id>` is
/// configured to `return`, the enclosing function returns
/// `Err(Error::Snapshot("failpoint name"))` (and the hit is counted).
macro_rules! failpoint {
    ($name:literal, $store_id:expr) => {{
        let _store_id = $store_id;
        fail::fail_point!(&format!("{}_{}", $name, _store_id), |_| {
            let full_name = format!("{}_{}", $name, _store_id);
            $crate::failpoints::record_hit(&full_name);
            Err($crate::errors::Error::Snapshot(format!(
                "failpoint {full_name}"
            )))
        });
    }};
}

pub(crate) use failpoint;
