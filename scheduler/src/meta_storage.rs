//! [`MetaStorage`]: the scheduler's persisted state, in one engine.
//!
//! Owns the key layout below; every other module reads and writes the
//! engine through it. Called by [`crate::IdAllocator`], [`crate::Tso`] and
//! [`crate::Scheduler`] (open, bootstrap, put_store, region heartbeats).
//!
//! | key | value | written by |
//! |---|---|---|
//! | `meta/cluster_id` | u64, big-endian | the first `Scheduler::open` of a directory |
//! | `meta/bootstrap` | `metapb::Cluster` | `bootstrap`, with the first store and region in the same batch |
//! | `meta/id` | u64, big-endian: no id at or above it was handed out | the id allocator, synced, before a new batch is used |
//! | `meta/tso` | u64, big-endian ms: no timestamp's physical part exceeds it | the timestamp oracle, synced, before passing the old bound |
//! | `s/` + store id (u64 BE) | `metapb::Store` | `bootstrap`, `put_store` |
//! | `r/` + region id (u64 BE) | `metapb::Region` | `bootstrap`, region heartbeats that change a region's epoch or range |
//!
//! Big-endian ids keep the `s/` and `r/` scans in id order. Leaders,
//! pending peers, sizes and store statistics are not persisted: they are
//! volatile and the next heartbeats bring them back.

use protobuf::Message;
use storage::{Engine, WriteBatch, CF_DEFAULT};

use proto::metapb::{Cluster, Region, Store};

use crate::errors::{Error, Result};

const CLUSTER_ID_KEY: &[u8] = b"meta/cluster_id";
const BOOTSTRAP_KEY: &[u8] = b"meta/bootstrap";
const ID_KEY: &[u8] = b"meta/id";
const TSO_KEY: &[u8] = b"meta/tso";
const STORE_PREFIX: &[u8] = b"s/";
const REGION_PREFIX: &[u8] = b"r/";

/// The scheduler's view of its engine. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MetaStorage {
    engine: Engine,
}

impl MetaStorage {
    /// Opens (creating if missing) the scheduler's engine in `dir`.
    pub fn open(dir: impl AsRef<std::path::Path>) -> Result<MetaStorage> {
        Ok(MetaStorage {
            engine: Engine::open(dir, &[CF_DEFAULT])?,
        })
    }

    /// The cluster id, if one was chosen.
    pub fn load_cluster_id(&self) -> Result<Option<u64>> {
        self.load_u64(CLUSTER_ID_KEY)
    }

    /// Records the cluster id (synced: stores will be told this id).
    pub fn save_cluster_id(&self, cluster_id: u64) -> Result<()> {
        self.save_u64(CLUSTER_ID_KEY, cluster_id, true)
    }

    /// The id allocator's mark: no id at or above it was handed out.
    pub fn load_id_mark(&self) -> Result<Option<u64>> {
        self.load_u64(ID_KEY)
    }

    /// Records the id allocator's mark, synced.
    pub fn save_id_mark(&self, mark: u64) -> Result<()> {
        self.save_u64(ID_KEY, mark, true)
    }

    /// The timestamp oracle's bound: no physical time above it was handed out.
    pub fn load_tso_bound(&self) -> Result<Option<u64>> {
        self.load_u64(TSO_KEY)
    }

    /// Records the timestamp oracle's bound, synced.
    pub fn save_tso_bound(&self, bound_ms: u64) -> Result<()> {
        self.save_u64(TSO_KEY, bound_ms, true)
    }

    fn load_u64(&self, key: &[u8]) -> Result<Option<u64>> {
        match self.engine.get_value(key)? {
            None => Ok(None),
            Some(bytes) => decode_u64(key, &bytes).map(Some),
        }
    }

    fn save_u64(&self, key: &[u8], value: u64, sync: bool) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put(key, &value.to_be_bytes());
        self.write(batch, sync)
    }

    /// The bootstrap record, if the cluster was bootstrapped.
    pub fn load_bootstrap(&self) -> Result<Option<Cluster>> {
        Ok(self.engine.get_msg(BOOTSTRAP_KEY)?)
    }

    /// Every persisted store, in id order.
    pub fn load_stores(&self) -> Result<Vec<Store>> {
        self.load_all(STORE_PREFIX)
    }

    /// Every persisted region, in id order.
    pub fn load_regions(&self) -> Result<Vec<Region>> {
        self.load_all(REGION_PREFIX)
    }

    /// Writes `batch` atomically (see the `put_*` helpers to fill it).
    pub fn write(&self, batch: WriteBatch, sync: bool) -> Result<()> {
        Ok(self.engine.write(batch, sync)?)
    }

    fn load_all<M: Message>(&self, prefix: &[u8]) -> Result<Vec<M>> {
        let end = prefix_end(prefix);
        let mut messages = Vec::new();
        let mut failure = None;
        self.engine.scan_cf(
            CF_DEFAULT,
            prefix,
            &end,
            |key, value| match M::parse_from_bytes(value) {
                Ok(message) => {
                    messages.push(message);
                    Ok(true)
                }
                Err(error) => {
                    failure = Some(Error::CorruptMeta {
                        key: key.to_vec(),
                        reason: error.to_string(),
                    });
                    Ok(false)
                }
            },
        )?;
        match failure {
            Some(error) => Err(error),
            None => Ok(messages),
        }
    }

    /// Adds "put this store" to `batch`.
    pub fn put_store(batch: &mut WriteBatch, store: &Store) -> Result<()> {
        Ok(batch.put_msg(&store_key(store.id), store)?)
    }

    /// Adds "put this region" to `batch`.
    pub fn put_region(batch: &mut WriteBatch, region: &Region) -> Result<()> {
        Ok(batch.put_msg(&region_key(region.id), region)?)
    }

    /// Adds "delete region `region_id`" to `batch`.
    pub fn delete_region(batch: &mut WriteBatch, region_id: u64) {
        batch.delete(&region_key(region_id));
    }

    /// Adds "the cluster is bootstrapped" to `batch`.
    pub fn put_bootstrap(batch: &mut WriteBatch, cluster: &Cluster) -> Result<()> {
        Ok(batch.put_msg(BOOTSTRAP_KEY, cluster)?)
    }
}

fn store_key(store_id: u64) -> Vec<u8> {
    [STORE_PREFIX, &store_id.to_be_bytes()].concat()
}

fn region_key(region_id: u64) -> Vec<u8> {
    [REGION_PREFIX, &region_id.to_be_bytes()].concat()
}

/// The smallest key above every key that starts with `prefix` (the
/// prefixes here end in `/`, so bumping the last byte cannot overflow).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

fn decode_u64(key: &[u8], bytes: &[u8]) -> Result<u64> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| Error::CorruptMeta {
        key: key.to_vec(),
        reason: format!("expected 8 bytes, found {}", bytes.len()),
    })?;
    Ok(u64::from_be_bytes(array))
}
