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

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use proto::metapb::{Cluster, Peer, Region, Store};
use proto::schedulerpb::{RegionHeartbeatRequest, RegionHeartbeatResponse, StoreStats};
use storage::WriteBatch;

use crate::cluster_meta::{ClusterMeta, RegionChange};
use crate::errors::{Error, Result};
use crate::id_allocator::IdAllocator;
use crate::meta_storage::MetaStorage;
use crate::options::SchedulerOptions;
use crate::region_info::{validate_region, RegionInfo};
use crate::service::SchedulerService;
use crate::store_info::StoreInfo;
use crate::tso::Tso;

/// The in-process scheduler. See the module docs.
#[derive(Debug)]
pub struct Scheduler {
    cluster_id: u64,
    max_peer_count: u32,
    storage: MetaStorage,
    id_allocator: IdAllocator,
    tso: Tso,
    cluster: Mutex<ClusterMeta>,
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
            tso: Tso::open(storage.clone(), options.clock, options.tso_save_window_ms)?,
            storage,
            cluster: Mutex::new(cluster),
        })
    }

    /// The cluster id, chosen when the directory was first opened.
    pub fn cluster_id(&self) -> u64 {
        self.cluster_id
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

    fn store_heartbeat(&self, stats: StoreStats) -> Result<()> {
        let mut cluster = self.cluster();
        cluster.ensure_bootstrapped()?;
        cluster.store_heartbeat(stats, Instant::now())
    }

    fn region_heartbeat(
        &self,
        request: RegionHeartbeatRequest,
    ) -> Result<Option<RegionHeartbeatResponse>> {
        let mut cluster = self.cluster();
        cluster.ensure_bootstrapped()?;
        let reported = RegionInfo::from_heartbeat(&request);
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
        cluster.apply_region_change(reported, &change);
        Ok(None)
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
