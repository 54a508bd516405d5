//! Bootstrap: give a fresh store its identity, and create the cluster's
//! first region.
//!
//! Runs on the caller's thread before the store starts. Every store of a
//! new cluster is bootstrapped with the same first region (id, peers, the
//! whole key space), so they all start as members of one raft group whose
//! log begins at `RAFT_INIT_LOG_INDEX`.

use proto::metapb::Region;
use proto::raft_serverpb::{
    PeerState, RaftApplyState, RaftLocalState, RegionLocalState, StoreIdent,
};
use storage::{keys, Engines, WriteBatch};

use crate::errors::{Error, Result};
use crate::peer::peer_storage::{RAFT_INIT_LOG_INDEX, RAFT_INIT_LOG_TERM};

/// The store ident written at bootstrap, if any.
pub fn load_store_ident(engines: &Engines) -> Result<Option<StoreIdent>> {
    Ok(engines.kv.get_msg::<StoreIdent>(keys::STORE_IDENT_KEY)?)
}

/// Writes the store ident of a fresh store. Fails if the store was already
/// bootstrapped with another id (two stores must never share engines).
pub fn bootstrap_store(engines: &Engines, cluster_id: u64, store_id: u64) -> Result<()> {
    if let Some(ident) = load_store_ident(engines)? {
        if ident.store_id == store_id && ident.cluster_id == cluster_id {
            return Ok(());
        }
        return Err(Error::InvalidRequest(format!(
            "engines already belong to store {} of cluster {}",
            ident.store_id, ident.cluster_id
        )));
    }
    let mut ident = StoreIdent::new();
    ident.cluster_id = cluster_id;
    ident.store_id = store_id;
    let mut batch = WriteBatch::new();
    batch.put_msg(keys::STORE_IDENT_KEY, &ident)?;
    engines.kv.write(batch, true)?;
    Ok(())
}

/// Writes the initial state of `region` on this store: raft state and log
/// position in the raft engine, region state and apply state in the kv
/// engine.
///
/// Crash safety: the raft engine is written first, the kv engine (whose
/// region state is what startup looks for) second. A crash in between
/// leaves raft state that no region state points to: startup ignores it,
/// and bootstrapping again overwrites it.
pub fn bootstrap_first_region(engines: &Engines, region: &Region) -> Result<()> {
    write_first_region(engines, region, false)
}

/// Like [`bootstrap_first_region`], for a store that bootstraps a new
/// cluster through a remote scheduler: the region is also recorded under
/// `PREPARE_BOOTSTRAP_KEY` in the same kv batch, until the scheduler has
/// confirmed it ([`finish_prepared_bootstrap`]) or another store's first
/// region won ([`clear_prepared_bootstrap`]). A crash in between finds the
/// record at restart ([`load_prepared_bootstrap`]) and settles it then.
pub fn prepare_bootstrap_cluster(engines: &Engines, region: &Region) -> Result<()> {
    write_first_region(engines, region, true)
}

/// The first region recorded by [`prepare_bootstrap_cluster`] and not yet
/// settled, if any.
pub fn load_prepared_bootstrap(engines: &Engines) -> Result<Option<Region>> {
    Ok(engines.kv.get_msg::<Region>(keys::PREPARE_BOOTSTRAP_KEY)?)
}

/// The scheduler confirmed the prepared first region: drop the record.
pub fn finish_prepared_bootstrap(engines: &Engines) -> Result<()> {
    let mut batch = WriteBatch::new();
    batch.delete(keys::PREPARE_BOOTSTRAP_KEY);
    engines.kv.write(batch, true)?;
    Ok(())
}

/// Another store bootstrapped the cluster first: remove the prepared first
/// region. The kv engine goes first (its region state is what startup looks
/// for; the record goes in the same batch), the raft state second: a crash
/// in between leaves raft state no region points to, which startup ignores.
pub fn clear_prepared_bootstrap(engines: &Engines, region_id: u64) -> Result<()> {
    let mut kv_batch = WriteBatch::new();
    kv_batch.delete(&keys::region_state_key(region_id));
    kv_batch.delete(&keys::apply_state_key(region_id));
    kv_batch.delete(keys::PREPARE_BOOTSTRAP_KEY);
    engines.kv.write(kv_batch, true)?;
    let mut raft_batch = WriteBatch::new();
    raft_batch.delete(&keys::raft_state_key(region_id));
    engines.raft.write(raft_batch, true)?;
    Ok(())
}

fn write_first_region(engines: &Engines, region: &Region, prepare: bool) -> Result<()> {
    let region_id = region.id;
    if engines
        .kv
        .get_msg::<RegionLocalState>(&keys::region_state_key(region_id))?
        .is_some()
    {
        return Err(Error::InvalidRequest(format!(
            "region {region_id} is already bootstrapped"
        )));
    }
    let mut raft_state = RaftLocalState::new();
    raft_state.last_index = RAFT_INIT_LOG_INDEX;
    raft_state.last_term = RAFT_INIT_LOG_TERM;
    let hard_state = raft_state.mut_hard_state();
    hard_state.term = RAFT_INIT_LOG_TERM;
    hard_state.commit = RAFT_INIT_LOG_INDEX;
    let mut raft_batch = WriteBatch::new();
    raft_batch.put_msg(&keys::raft_state_key(region_id), &raft_state)?;
    engines.raft.write(raft_batch, true)?;

    let mut apply_state = RaftApplyState::new();
    apply_state.applied_index = RAFT_INIT_LOG_INDEX;
    let truncated = apply_state.mut_truncated_state();
    truncated.index = RAFT_INIT_LOG_INDEX;
    truncated.term = RAFT_INIT_LOG_TERM;
    let mut region_state = RegionLocalState::new();
    region_state.set_state(PeerState::Normal);
    region_state.region = Some(region.clone()).into();
    let mut kv_batch = WriteBatch::new();
    kv_batch.put_msg(&keys::apply_state_key(region_id), &apply_state)?;
    kv_batch.put_msg(&keys::region_state_key(region_id), &region_state)?;
    if prepare {
        kv_batch.put_msg(keys::PREPARE_BOOTSTRAP_KEY, region)?;
    }
    engines.kv.write(kv_batch, true)?;
    Ok(())
}
