//! raftstore's worker threads other than the per-store context: one file
//! per worker, each named after the thread it runs on (`raft_worker-N`,
//! `store_worker-N`, ...). Every file's header says what comes in on which
//! channel and what goes out. `RaftStore::start` starts them all.
//!
//! | file | thread | role |
//! |---|---|---|
//! | `raft_worker.rs` | `raft_worker` | drain peer messages in batches, handle Readies |
//! | `store_worker.rs` | `store_worker` | create peers for new regions; snapshot GC |
//! | `region_task.rs` | `region_task` (routes), `region_task_apply`, `region_task_gen` | generate / apply / destroy snapshots and region data |
//! | `raftlog_gc.rs` | `raftlog_gc` | delete compacted log entries |
//! | `snap_runner.rs` | `snap_runner` (+ transport's thread) | stream snapshots in chunks; receive them |
//! | `split_check.rs` | `split_check` | measure a region, find its split key, ask for ids |
//! | `scheduler_task.rs` | `scheduler_task` | region and store heartbeats; execute operator steps |

pub(crate) mod raft_worker;
pub mod raftlog_gc;
pub mod region_task;
pub mod scheduler_task;
pub mod snap_runner;
pub mod split_check;
pub(crate) mod store_worker;
