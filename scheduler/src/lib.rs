//! # scheduler: the cluster's placement driver
//!
//! Owns the cluster's metadata and its two sources of uniqueness, as an
//! in-process library: the stores and regions (from bootstrap and from
//! store and region heartbeats, `schedulerpb`), unique ids, and timestamps.
//! It answers "which region holds this key, and who leads it", hands out
//! the ids a split needs, and persists everything in one engine (through
//! the `storage` crate) so that a restarted scheduler has the same stores
//! and regions, never reissues an id and never gives a lower timestamp.
//!
//! Callers use the [`SchedulerService`] trait; [`Scheduler`] implements it.
//! It also places replicas (TinyKV lab 3C): [`Scheduler::schedule`], a
//! tick the caller runs periodically, creates [`Operator`]s (replica
//! checker, balance-region, balance-leader), and each region heartbeat's
//! response carries that region's next operator step. The test cluster
//! and the playground run it in-process (see `docs/scheduler.md`);
//! `tinykv scheduler` serves it over gRPC (the `network` crate's
//! `SchedulerNode`, which also runs the schedule tick).
//!
//! | type | file | what it is |
//! |---|---|---|
//! | [`SchedulerService`] | `service.rs` | the API: bootstrap, ids, stores, heartbeats, lookups, splits, tso |
//! | [`Scheduler`] | `scheduler.rs` | the in-process implementation: check, persist, apply |
//! | [`SchedulerOptions`] | `options.rs` | id batch, tso window, clock, replica count, store down time, operator timeout, balancing switches |
//! | [`Operator`] | `operator.rs` | a planned change to one region: steps, when each is done, when it is stale |
//! | [`OperatorController`] | `operator_controller.rs` | operators in flight, one per region; the step for each heartbeat |
//! | [`ScheduleContext`] | `schedule_context.rs` | one decision's view of stores and regions, operators in flight included |
//! | [`ReplicaChecker`] | `replica_checker.rs` | adds missing replicas, replaces peers on lost stores |
//! | [`BalanceRegion`] | `balance_region.rs` | moves a replica from the fullest store to the emptiest (TinyKV's rules) |
//! | [`BalanceLeader`] | `balance_leader.rs` | moves a leader from the store leading most to the one leading fewest |
//! | [`ClusterMeta`] | `cluster_meta.rs` | bootstrap state, stores, regions, the heartbeat rules |
//! | [`RegionTree`] | `region_tree.rs` | regions by id and by key range (a `BTreeMap` index), per-store totals |
//! | [`RegionInfo`] | `region_info.rs` | one region with leader, pending peers, size; input validation |
//! | [`StoreInfo`] | `store_info.rs` | one store with its statistics and region totals |
//! | [`IdAllocator`] | `id_allocator.rs` | ids in persisted batches |
//! | [`Tso`] | `tso.rs` | `(physical_ms << 18) \| logical` timestamps with a persisted bound |
//! | [`Clock`], [`SystemClock`] | `clock.rs` | the injectable wall clock of the tso |
//! | [`MetaStorage`] | `meta_storage.rs` | the persisted key layout (a table in its docs) |
//! | [`Error`] | `errors.rs` | the error type of all of the above |
//!
//! No thread lives here: every method runs on its caller's thread and may
//! block on a synced disk write.

#![deny(missing_docs)]

mod balance_leader;
mod balance_region;
mod clock;
mod cluster_meta;
mod errors;
mod id_allocator;
mod meta_storage;
mod operator;
mod operator_controller;
mod options;
mod region_info;
mod region_tree;
mod replica_checker;
mod schedule_context;
mod scheduler;
mod service;
mod store_info;
mod tso;

pub use balance_leader::BalanceLeader;
pub use balance_region::BalanceRegion;
pub use clock::{Clock, SystemClock};
pub use cluster_meta::{ClusterMeta, RegionChange};
pub use errors::{Error, Result};
pub use id_allocator::{IdAllocator, DEFAULT_ID_BATCH};
pub use meta_storage::MetaStorage;
pub use operator::{Operator, OperatorKind, OperatorStatus, OperatorStep};
pub use operator_controller::OperatorController;
pub use options::SchedulerOptions;
pub use region_info::{validate_region, RegionInfo};
pub use region_tree::{RegionTree, StoreRegionTotals};
pub use replica_checker::ReplicaChecker;
pub use schedule_context::{ScheduleContext, ScheduleLimits};
pub use scheduler::Scheduler;
pub use service::SchedulerService;
pub use store_info::StoreInfo;
pub use tso::{Tso, DEFAULT_SAVE_WINDOW_MS, LOGICAL_BITS};
