//! [`Scheduler`]: the in-process placement driver.
//!
//! Ties the pieces together and implements [`SchedulerService`]:
//! [`ClusterMeta`] (behind one mutex) for bootstrap, stores and regions,
//! [`IdAllocator`] and [`Tso`] (each with its own lock, so ids and
//! timestamps never wait for heartbeat processing), all persisted in one
//! engine through [`MetaStorage`]. Callers: the test cluster today, the
//! gRPC service later.
//!
//! Order of a change: check it against the in-memory state, persist it
//! (synced), then apply it in memory, all under the cluster lock. A crash
//! after the write loses nothing; a failed write changes nothing. The disk
//! is always at least as new as memory, which is what `open` reloads.
//!
//! Operators: every accepted region heartbeat is then shown to the
//! [`OperatorController`], whose answer (the region's next operator step)
//! is the heartbeat's response. [`Scheduler::schedule`], the schedule tick
//! the caller runs periodically, creates operators: the replica checker on
//! every region, then (if enabled) balance-region and balance-leader moves,
//! at most `max_operators_per_tick` in all. Operators
//! live in memory only: after a restart the ticks make new ones. Lock
//! order: the cluster lock, then the operator lock.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use proto::metapb::{Cluster, Peer, Region, Store};
use proto::schedulerpb::{RegionHeartbeatRequest, RegionHeartbeatResponse, StoreStats};
use storage::WriteBatch;

use crate::balance_leader::BalanceLeader;
use crate::balance_region::BalanceRegion;
use crate::clock::Clock;
use crate::cluster_meta::{ClusterMeta, RegionChange};
use crate::errors::{Error, Result};
use crate::id_allocator::IdAllocator;
use crate::meta_storage::MetaStorage;
use crate::operator::{Operator, OperatorKind, OperatorStep};
use crate::operator_controller::OperatorController;
use crate::options::SchedulerOptions;
use crate::region_info::{validate_region, RegionInfo};
use crate::replica_checker::ReplicaChecker;
use crate::schedule_context::{ScheduleContext, ScheduleLimits};
use crate::service::SchedulerService;
use crate::store_info::StoreInfo;
use crate::tso::Tso;

/// The in-process scheduler. See the module docs.
pub struct Scheduler {
    cluster_id: u64,
    max_peer_count: u32,
    storage: MetaStorage,
    id_allocator: IdAllocator,
    tso: Tso,
    clock: Arc<dyn Clock>,
    started_at_ms: u64,
    max_store_down_ms: u64,
    operator_timeout_ms: u64,
    /// Switched at run time (the playground's `balance on|off`), read by
    /// each schedule tick: atomics, so switching never waits for a tick.
    enable_balance_leader: AtomicBool,
    enable_balance_region: AtomicBool,
    max_operators_per_tick: usize,
    cluster: Mutex<ClusterMeta>,
    operators: Mutex<OperatorController>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("cluster_id", &self.cluster_id)
            .field("max_peer_count", &self.max_peer_count)
            .field("enable_balance_leader", &self.enable_balance_leader)
            .field("enable_balance_region", &self.enable_balance_region)
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    /// Opens (creating if missing) a scheduler in `dir` with the default
    /// options, reloading the cluster id, bootstrap state, stores and regions.
    pub fn open(dir: impl AsRef<Path>) -> Result<Scheduler> {
        Scheduler::open_with(dir, SchedulerOptions::default())
    }

    /// Like [`Scheduler::open`], with explicit options.
    pub fn open_with(dir: impl AsRef<Path>, options: SchedulerOptions) -> Result<Scheduler> {
        let storage = MetaStorage::open(dir)?;
        let cluster_id = match storage.load_cluster_id()? {
            Some(id) => id,
            None => {
                let id = new_cluster_id();
                storage.save_cluster_id(id)?;
                log::info!("scheduler: new cluster id {id}");
                id
            }
        };
        let mut cluster = ClusterMeta::new();
        if let Some(record) = storage.load_bootstrap()? {
            cluster.set_bootstrapped(record);
        }
        for store in storage.load_stores()? {
            cluster.put_store(store);
        }
        for region in storage.load_regions()? {
            cluster.insert_region(RegionInfo::new(region));
        }
        log::info!(
            "scheduler: cluster {cluster_id} opened (bootstrapped: {}, {} regions)",
            cluster.is_bootstrapped(),
            cluster.region_count()
        );
        Ok(Scheduler {
            cluster_id,
            max_peer_count: options.max_peer_count,
            id_allocator: IdAllocator::open(storage.clone(), options.id_batch)?,
            tso: Tso::open(
                storage.clone(),
                Arc::clone(&options.clock),
                options.tso_save_window_ms,
            )?,
            storage,
            started_at_ms: options.clock.now_ms(),
            clock: options.clock,
            max_store_down_ms: duration_ms(options.max_store_down_time),
            operator_timeout_ms: duration_ms(options.operator_timeout),
            enable_balance_leader: AtomicBool::new(options.enable_balance_leader),
            enable_balance_region: AtomicBool::new(options.enable_balance_region),
            max_operators_per_tick: options.max_operators_per_tick,
            cluster: Mutex::new(cluster),
            operators: Mutex::new(OperatorController::new()),
        })
    }

    /// The cluster id, chosen when the directory was first opened.
    pub fn cluster_id(&self) -> u64 {
        self.cluster_id
    }

    /// The schedule tick: runs the replica checker over every region, then
    /// balance-region and balance-leader if enabled (as many moves as pay
    /// off), and adds the operators they create, at most
    /// `max_operators_per_tick` in all.
    /// Returns how many were added. The operators' steps go out with the
    /// regions' next heartbeats. Before bootstrap there is nothing to do.
    pub fn schedule(&self) -> Result<usize> {
        let cluster = self.cluster();
        if !cluster.is_bootstrapped() {
            return Ok(0);
        }
        let mut operators = self.operators();
        let limits = ScheduleLimits {
            now_ms: self.clock.now_ms(),
            started_at_ms: self.started_at_ms,
            max_store_down_ms: self.max_store_down_ms,
            max_replicas: cluster
                .bootstrap_record()
                .map_or(self.max_peer_count, |record| record.max_peer_count)
                as usize,
            operator_timeout_ms: self.operator_timeout_ms,
        };
        let mut added = 0;
        let region_ids: Vec<u64> = cluster.regions().iter().map(|info| info.id()).collect();
        for region_id in region_ids {
            if added >= self.max_operators_per_tick {
                return Ok(added);
            }
            // A new context per decision: it counts the operators added so
            // far, so two regions do not both pick the same emptiest store.
            let operator = {
                let context = ScheduleContext::new(&cluster, &operators, limits);
                match cluster.region_by_id(region_id) {
                    Some(region) if context.is_schedulable(region) => {
                        ReplicaChecker.check(&context, region, &self.id_allocator)?
                    }
                    _ => None,
                }
            };
            added += add(&mut operators, operator);
        }
        // Balancing fills what is left of the tick's budget, one decision at
        // a time: each new context counts the operators just added, so the
        // next decision sees their effect and does not overshoot.
        while self.enable_balance_region.load(Ordering::Relaxed)
            && added < self.max_operators_per_tick
        {
            let operator = {
                let context = ScheduleContext::new(&cluster, &operators, limits);
                BalanceRegion.schedule(&context, &self.id_allocator)?
            };
            // Nothing pays off, or the operator was refused: either way a
            // second try would decide the same.
            match add(&mut operators, operator) {
                0 => break,
                count => added += count,
            }
        }
        while self.enable_balance_leader.load(Ordering::Relaxed)
            && added < self.max_operators_per_tick
        {
            let operator = {
                let context = ScheduleContext::new(&cluster, &operators, limits);
                BalanceLeader.schedule(&context)
            };
            // Nothing pays off, or the operator was refused: either way a
            // second try would decide the same.
            match add(&mut operators, operator) {
                0 => break,
                count => added += count,
            }
        }
        Ok(added)
    }

    /// The operator in flight for this region, if any (for tests and
    /// diagnostics).
    pub fn operator(&self, region_id: u64) -> Option<Operator> {
        self.operators().operator(region_id).cloned()
    }

    /// Adds an operator by hand (tests, tools). Fails with
    /// `OperatorExists` if the region already has one.
    pub fn add_operator(&self, operator: Operator) -> Result<()> {
        self.operators().add_operator(operator)
    }

    /// Adds an operator for a known region from its steps, stamped with the
    /// region's current epoch and the scheduler's clock (tests and tools ask
    /// for a move this way; the schedulers build theirs the same way).
    /// Fails with `RegionNotFound` for an unknown region and with
    /// `OperatorExists` if the region already has one.
    pub fn create_operator(
        &self,
        region_id: u64,
        kind: OperatorKind,
        steps: Vec<OperatorStep>,
    ) -> Result<()> {
        let cluster = self.cluster();
        let region = cluster
            .region_by_id(region_id)
            .ok_or_else(|| Error::RegionNotFound(format!("no region {region_id}")))?;
        let operator = Operator::new(
            region,
            kind,
            steps,
            self.clock.now_ms(),
            self.operator_timeout_ms,
        );
        self.operators().add_operator(operator)
    }

    /// Adds the operator a tool asks for (`tinykv ctl add-peer`,
    /// `remove-peer`, `transfer-leader`): one step of `kind` (`AddPeer`,
    /// `RemovePeer` or `TransferLeader`) on `store_id`, checked against the
    /// region as the scheduler knows it. An added peer gets a fresh id.
    /// Fails with `RegionNotFound`, `StoreNotFound`/`StoreTombstone` for an
    /// unusable store, `InvalidOperator` for a step that makes no sense
    /// (see the variant) and `OperatorExists` if one is in flight.
    pub fn create_manual_operator(
        &self,
        region_id: u64,
        kind: OperatorKind,
        store_id: u64,
    ) -> Result<()> {
        let store = self.get_store(store_id)?;
        if store.store.state() == proto::metapb::StoreState::Tombstone {
            return Err(Error::StoreTombstone(store_id));
        }
        let (region, _leader) = self
            .get_region_by_id(region_id)
            .ok_or_else(|| Error::RegionNotFound(format!("no region {region_id}")))?;
        let existing = region
            .peers
            .iter()
            .find(|peer| peer.store_id == store_id)
            .cloned();
        let step = match (kind, existing) {
            (OperatorKind::AddPeer, None) => {
                let mut peer = Peer::new();
                peer.id = self.alloc_id()?;
                peer.store_id = store_id;
                OperatorStep::AddPeer { peer }
            }
            (OperatorKind::RemovePeer, Some(_)) if region.peers.len() == 1 => {
                return Err(Error::InvalidOperator(format!(
                    "region {region_id} has only its peer on store {store_id}; removing it would lose the region"
                )))
            }
            (OperatorKind::RemovePeer, Some(peer)) => OperatorStep::RemovePeer { peer },
            (OperatorKind::TransferLeader, Some(peer)) => OperatorStep::TransferLeader { peer },
            (OperatorKind::AddPeer, Some(peer)) => {
                return Err(Error::InvalidOperator(format!(
                    "region {region_id} already has peer {} on store {store_id}",
                    peer.id
                )))
            }
            (OperatorKind::RemovePeer | OperatorKind::TransferLeader, None) => {
                return Err(Error::InvalidOperator(format!(
                    "region {region_id} has no peer on store {store_id}"
                )))
            }
            (OperatorKind::MoveRegion, _) => {
                return Err(Error::InvalidOperator(
                    "a move is two steps; ask for add-peer, then remove-peer".to_string(),
                ))
            }
        };
        self.create_operator(region_id, kind, vec![step])?;
        log::info!(
            "scheduler: [region {region_id}] {kind:?} on store {store_id} asked for by hand"
        );
        Ok(())
    }

    /// The regions overlapping `[start_key, end_key)` (an empty `end_key`:
    /// to the end of the key space) with their leaders, in key order, at
    /// most `limit` of them (0: all).
    pub fn scan_regions(
        &self,
        start_key: &[u8],
        end_key: &[u8],
        limit: usize,
    ) -> Vec<(Region, Option<Peer>)> {
        let overlaps = |region: &Region| {
            (region.end_key.is_empty() || region.end_key.as_slice() > start_key)
                && (end_key.is_empty() || region.start_key.as_slice() < end_key)
        };
        let limit = if limit == 0 { usize::MAX } else { limit };
        self.regions()
            .into_iter()
            .filter(|(region, _)| overlaps(region))
            .take(limit)
            .collect()
    }

    /// Switches balance-leader and balance-region on or off for the next
    /// schedule ticks. The replica checker always runs: a missing replica
    /// is a safety problem, not a balance one. Operators in flight finish.
    pub fn set_balance(&self, leader: bool, region: bool) {
        self.enable_balance_leader.store(leader, Ordering::Relaxed);
        self.enable_balance_region.store(region, Ordering::Relaxed);
        log::info!("scheduler: balance-leader {leader}, balance-region {region}");
    }

    /// Whether balance-leader and balance-region are on, in that order.
    pub fn balance_enabled(&self) -> (bool, bool) {
        (
            self.enable_balance_leader.load(Ordering::Relaxed),
            self.enable_balance_region.load(Ordering::Relaxed),
        )
    }

    /// Every known region with its leader, in key order.
    pub fn regions(&self) -> Vec<(Region, Option<Peer>)> {
        let mut regions: Vec<(Region, Option<Peer>)> = self
            .cluster()
            .regions()
            .into_iter()
            .map(region_and_leader)
            .collect();
        regions.sort_by(|(a, _), (b, _)| a.start_key.cmp(&b.start_key));
        regions
    }

    /// The scheduler's clock, in ms: what operator creation times and
    /// store heartbeat times are measured in.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    fn operators(&self) -> MutexGuard<'_, OperatorController> {
        self.operators.lock().unwrap_or_else(|poisoned| {
            // Every controller method leaves the map consistent between
            // statements (one insert or remove each), so a panicking holder
            // cannot have left half an operator behind.
            poisoned.into_inner()
        })
    }

    fn cluster(&self) -> MutexGuard<'_, ClusterMeta> {
        self.cluster.lock().unwrap_or_else(|poisoned| {
            // ClusterMeta is changed only after checks and the disk write
            // succeeded, by infallible map updates: a panicking holder cannot
            // have left a half-applied change behind.
            poisoned.into_inner()
        })
    }
}

/// A cluster id unlikely to collide with another cluster's: seconds since
/// the epoch in the high half, random low half (PD does the same), so a
/// store that reaches the wrong cluster can tell.
fn new_cluster_id() -> u64 {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0);
    (seconds << 32) | u64::from(rand::random::<u32>())
}

/// Adds `operator` if there is one; returns how many were added (0 or 1).
fn add(operators: &mut OperatorController, operator: Option<Operator>) -> usize {
    let Some(operator) = operator else {
        return 0;
    };
    match operators.add_operator(operator) {
        Ok(()) => 1,
        Err(error) => {
            // The schedulers skip regions with an operator, so this is a
            // bug in them; skipping the operator is safe.
            log::warn!("schedule: operator not added: {error}");
            0
        }
    }
}

fn duration_ms(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn region_and_leader(info: &RegionInfo) -> (Region, Option<Peer>) {
    (info.region.clone(), info.leader.clone())
}

impl SchedulerService for Scheduler {
    fn bootstrap(&self, store: Store, region: Region) -> Result<()> {
        let mut cluster = self.cluster();
        if cluster.is_bootstrapped() {
            return Err(Error::AlreadyBootstrapped);
        }
        cluster.check_put_store(&store)?;
        validate_region(&region)?;
        if !region.peers.iter().any(|peer| peer.store_id == store.id) {
            return Err(Error::InvalidRegion(format!(
                "bootstrap region {} has no peer on store {}",
                region.id, store.id
            )));
        }
        // The bootstrap ids were chosen by the store, not allocated here:
        // make sure they never come out of the allocator too.
        let highest_id = region
            .peers
            .iter()
            .map(|peer| peer.id)
            .chain([store.id, region.id])
            .max()
            .unwrap_or(0);
        self.id_allocator.reserve_through(highest_id)?;
        let mut record = Cluster::new();
        record.id = self.cluster_id;
        record.max_peer_count = self.max_peer_count;
        let mut batch = WriteBatch::new();
        MetaStorage::put_store(&mut batch, &store)?;
        MetaStorage::put_region(&mut batch, &region)?;
        MetaStorage::put_bootstrap(&mut batch, &record)?;
        self.storage.write(batch, true)?;
        log::info!(
            "cluster {} bootstrapped with store {} and region {}",
            self.cluster_id,
            store.id,
            region.id
        );
        cluster.put_store(store);
        cluster.insert_region(RegionInfo::new(region));
        cluster.set_bootstrapped(record);
        Ok(())
    }

    fn is_bootstrapped(&self) -> bool {
        self.cluster().is_bootstrapped()
    }

    fn alloc_id(&self) -> Result<u64> {
        self.id_allocator.alloc()
    }

    fn put_store(&self, store: Store) -> Result<()> {
        let mut cluster = self.cluster();
        cluster.ensure_bootstrapped()?;
        cluster.check_put_store(&store)?;
        self.id_allocator.reserve_through(store.id)?;
        let mut batch = WriteBatch::new();
        MetaStorage::put_store(&mut batch, &store)?;
        self.storage.write(batch, true)?;
        log::info!("store {} put: {:?}", store.id, store);
        cluster.put_store(store);
        Ok(())
    }

    fn get_store(&self, store_id: u64) -> Result<StoreInfo> {
        self.cluster()
            .store(store_id)
            .ok_or(Error::StoreNotFound(store_id))
    }

    fn get_all_stores(&self) -> Vec<StoreInfo> {
        self.cluster().stores()
    }

    fn store_heartbeat(&self, stats: StoreStats) -> Result<()> {
        let mut cluster = self.cluster();
        cluster.ensure_bootstrapped()?;
        cluster.store_heartbeat(stats, self.clock.now_ms())
    }

    fn region_heartbeat(
        &self,
        request: RegionHeartbeatRequest,
    ) -> Result<Option<RegionHeartbeatResponse>> {
        let mut cluster = self.cluster();
        cluster.ensure_bootstrapped()?;
        let mut reported = RegionInfo::from_heartbeat(&request);
        if reported.approximate_size == 0 {
            // 0 means "not measured yet" (a new leader): keep the size we
            // know, unless a split since then made it wrong.
            if let Some(known) = cluster.region_by_id(reported.id()) {
                if known.region.region_epoch().version == reported.region.region_epoch().version {
                    reported.approximate_size = known.approximate_size;
                }
            }
        }
        let change = cluster.check_region_heartbeat(&reported)?;
        if let RegionChange::Replace { removed } = &change {
            let mut batch = WriteBatch::new();
            for region_id in removed {
                MetaStorage::delete_region(&mut batch, *region_id);
            }
            MetaStorage::put_region(&mut batch, &reported.region)?;
            self.storage.write(batch, true)?;
            log::info!(
                "region {} updated to {:?}, removing {removed:?}",
                reported.id(),
                reported.region
            );
        }
        let region_id = reported.id();
        cluster.apply_region_change(reported, &change);
        let mut operators = self.operators();
        if let RegionChange::Replace { removed } = &change {
            for removed_id in removed {
                operators.remove_operator(
                    *removed_id,
                    &format!("region replaced by overlapping region {region_id}"),
                );
            }
        }
        // The region as now known: a same-epoch report with a different
        // shape is ignored by the heartbeat rules, and so it is here.
        let Some(known) = cluster.region_by_id(region_id) else {
            return Ok(None);
        };
        Ok(operators.on_region_heartbeat(known, self.clock.now_ms()))
    }

    fn get_region(&self, key: &[u8]) -> Option<(Region, Option<Peer>)> {
        self.cluster().region_by_key(key).map(region_and_leader)
    }

    fn get_region_by_id(&self, region_id: u64) -> Option<(Region, Option<Peer>)> {
        self.cluster()
            .region_by_id(region_id)
            .map(region_and_leader)
    }

    fn ask_split(&self, region: &Region) -> Result<(u64, Vec<u64>)> {
        {
            let cluster = self.cluster();
            cluster.ensure_bootstrapped()?;
            validate_region(region)?;
            let known = cluster.region_by_key(&region.start_key).ok_or_else(|| {
                Error::RegionNotFound(format!("no region holds {:?}", region.start_key))
            })?;
            let asking = RegionInfo::new(region.clone());
            if asking.is_older_than(known) {
                return Err(asking.stale_error(known));
            }
        }
        // Ids are allocated outside the cluster lock: they need no metadata,
        // and the allocator may block on a synced write.
        let new_region_id = self.id_allocator.alloc()?;
        let new_peer_ids = region
            .peers
            .iter()
            .map(|_| self.id_allocator.alloc())
            .collect::<Result<Vec<u64>>>()?;
        log::info!(
            "region {} asks to split: new region {new_region_id}, peers {new_peer_ids:?}",
            region.id
        );
        Ok((new_region_id, new_peer_ids))
    }

    fn report_split(&self, left: Region, right: Region) -> Result<()> {
        self.cluster().ensure_bootstrapped()?;
        validate_region(&left)?;
        validate_region(&right)?;
        if left.end_key.is_empty() || left.end_key != right.start_key {
            return Err(Error::InvalidRegion(format!(
                "split of region {} into {}: left ends at {:?}, right starts at {:?}",
                left.id, right.id, left.end_key, right.start_key
            )));
        }
        log::info!(
            "region {} split at {:?}: right region {}",
            left.id,
            left.end_key,
            right.id
        );
        Ok(())
    }

    fn tso(&self) -> Result<u64> {
        self.tso.next()
    }
}
