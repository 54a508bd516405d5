//! The **raftlog_gc** worker: deletes compacted raft log entries from the
//! raft engine.
//!
//! In: [`RaftLogGcTask`]s from the raft worker, sent when a CompactLog
//! command is applied (the truncated state has already moved in the apply
//! state). Out: nothing; deletions happen in the background so the raft
//! worker never waits on them.
//!
//! Before deleting, the worker syncs the kv engine's write-ahead log: apply
//! writes to the kv engine are not synced one by one, so until this sync a
//! crash could lose applied data whose entries are the only other copy.
//! After the sync the applied data (and the apply state recording the
//! truncation) is durable, and the entries are no longer needed.
//!
//! Entries are deleted in batches of at most `BATCH_SIZE` keys.
//!
//! Lifecycle: started by `RaftStore::start`; ends when every sender (the
//! raft worker's context) is dropped.

use std::thread::JoinHandle;

use crossbeam_channel::Receiver;
use log::{debug, error};
use storage::{keys, Engines, WriteBatch, CF_DEFAULT};

use crate::chain::chain;

/// How many log entries one write batch deletes.
pub const BATCH_SIZE: usize = 512;

/// Delete the entries of a region's log below `end_index`.
#[derive(Debug, Clone)]
pub struct RaftLogGcTask {
    /// The region whose log to trim.
    pub region_id: u64,
    /// Delete every entry with index < end_index.
    pub end_index: u64,
    /// The peer's log tag.
    pub tag: String,
}

/// Starts the raftlog_gc thread over `mailbox`.
pub fn start(
    store_id: u64,
    engines: Engines,
    mailbox: Receiver<RaftLogGcTask>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("raftlog_gc-{store_id}"))
        .spawn(move || {
            for task in mailbox {
                match gc_raft_log(&engines, &task) {
                    Ok(deleted) => {
                        chain!(
                            "raftlog_gc::gc_raft_log",
                            task.region_id,
                            task.end_index.saturating_sub(1),
                            "store {store_id}: deleted {deleted} compacted entries"
                        );
                    }
                    Err(error) => error!("{} raft log GC failed: {error}", task.tag),
                }
            }
        })
}

// lab 2C: begin [stub: Ok(0)] — sync the kv engine's WAL first, then delete the entries in batches (docs/labs/lab2c.md#log-gc)
/// Syncs the kv engine, then deletes the region's log entries below
/// `task.end_index`. Returns how many entries it deleted.
pub fn gc_raft_log(engines: &Engines, task: &RaftLogGcTask) -> storage::Result<usize> {
    engines.kv.sync_wal()?;
    let start = keys::raft_log_key(task.region_id, 0);
    let end = keys::raft_log_key(task.region_id, task.end_index);
    let mut doomed = Vec::new();
    engines.raft.scan_cf(CF_DEFAULT, &start, &end, |key, _| {
        doomed.push(key.to_vec());
        Ok(true)
    })?;
    for keys_chunk in doomed.chunks(BATCH_SIZE) {
        let mut batch = WriteBatch::new();
        for key in keys_chunk {
            batch.delete(key);
        }
        // Not synced: losing a deletion in a crash only leaves garbage that
        // the next GC deletes again.
        engines.raft.write(batch, false)?;
    }
    debug!(
        "{} deleted {} log entries below {}",
        task.tag,
        doomed.len(),
        task.end_index
    );
    Ok(doomed.len())
}
// lab 2C: end
