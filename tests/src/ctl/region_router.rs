//! [`RegionRouter`]: finds the store to ask for a key or a region, the
//! way a TiKV client does — the scheduler's region and leader first, then
//! what the stores' region errors say.
//!
//! Runs on the ctl's thread (its calls block on the ctl's runtime). In: a
//! key or region id; the region errors and failed calls of earlier tries.
//! Out: the region, the peer to ask, and clients of that peer's store.
//!
//! What it remembers between tries (nothing survives the process):
//! - **leader hints**, region id → peer, from `NotLeader` errors that name
//!   the new leader; dropped on any other region error of the region and
//!   when a call to the hinted store fails;
//! - **store clients**, store id → address and clients, from `GetStore`;
//!   dropped when a call to the store fails (it may have restarted on
//!   another address).
//!
//! Without a hint, the first try goes to the scheduler's leader and later
//! tries walk the region's peers, so a stale leader in the scheduler (its
//! heartbeats lag a leader change) costs a try, not the command.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use network::{DebugClient, RemoteScheduler, TinyKvClient, DEFAULT_MAX_MESSAGE_SIZE};
use proto::errorpb;
use proto::kvrpcpb::Context;
use proto::metapb::{Peer, Region};
use tokio::runtime::Handle;

use super::ctl_error::CtlError;

/// How long one call to a store may take before the router tries another.
pub const STORE_CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The clients of one store.
#[derive(Clone)]
pub struct StoreClients {
    /// The store's id.
    pub store_id: u64,
    /// Its `TinyKv` service.
    pub tinykv: TinyKvClient,
    /// Its `Debug` service.
    pub debug: DebugClient,
}

/// Where to send a region's command now: the region, the peer, its store.
pub struct Route {
    /// The region as the scheduler knows it.
    pub region: Region,
    /// The peer to ask (the leader as far as anyone knows).
    pub peer: Peer,
    /// Clients of the peer's store.
    pub store: StoreClients,
}

impl Route {
    /// A request context addressed to this route's region and peer.
    pub fn context(&self) -> Context {
        let mut context = Context::new();
        context.region_id = self.region.id;
        context.region_epoch = Some(self.region.region_epoch().clone()).into();
        context.peer = Some(self.peer.clone()).into();
        context
    }
}

/// See the module docs.
pub struct RegionRouter {
    runtime: Handle,
    scheduler: RemoteScheduler,
    leader_hints: Mutex<HashMap<u64, Peer>>,
    stores: Mutex<HashMap<u64, StoreClients>>,
}

impl RegionRouter {
    /// A router asking `scheduler`, whose calls (and the store clients')
    /// run on `runtime`.
    pub fn new(runtime: Handle, scheduler: RemoteScheduler) -> RegionRouter {
        RegionRouter {
            runtime,
            scheduler,
            leader_hints: Mutex::new(HashMap::new()),
            stores: Mutex::new(HashMap::new()),
        }
    }

    /// The scheduler client.
    pub fn scheduler(&self) -> &RemoteScheduler {
        &self.scheduler
    }

    /// The runtime the clients' calls run on.
    pub fn runtime(&self) -> &Handle {
        &self.runtime
    }

    /// Clients of `store_id`, its address from the scheduler.
    pub fn store(&self, store_id: u64) -> Result<StoreClients, CtlError> {
        if let Some(clients) = self.stores_lock().get(&store_id) {
            return Ok(clients.clone());
        }
        let address = self.scheduler.get_store(store_id)?.store.address;
        let clients = {
            let _entered = self.runtime.enter();
            StoreClients {
                store_id,
                tinykv: TinyKvClient::new(&address, DEFAULT_MAX_MESSAGE_SIZE)?
                    .with_timeout(STORE_CALL_TIMEOUT),
                debug: DebugClient::new(&address, DEFAULT_MAX_MESSAGE_SIZE, STORE_CALL_TIMEOUT)?,
            }
        };
        self.stores_lock().insert(store_id, clients.clone());
        Ok(clients)
    }

    /// The route for the region holding `key` on try number `attempt`
    /// (1 for the first).
    pub fn route_key(&self, key: &[u8], attempt: usize) -> Result<Route, CtlError> {
        let (region, leader) = self
            .scheduler
            .get_region(key)?
            .ok_or_else(|| CtlError::NoRegion(String::from_utf8_lossy(key).into_owned()))?;
        self.route(region, leader, attempt)
    }

    /// The route for region `region_id` on try number `attempt`.
    pub fn route_region(&self, region_id: u64, attempt: usize) -> Result<Route, CtlError> {
        let (region, leader) = self
            .scheduler
            .get_region_by_id(region_id)?
            .ok_or(CtlError::RegionNotFound(region_id))?;
        self.route(region, leader, attempt)
    }

    fn route(
        &self,
        region: Region,
        scheduler_leader: Option<Peer>,
        attempt: usize,
    ) -> Result<Route, CtlError> {
        let is_member = |peer: &Peer| region.peers.iter().any(|member| member.id == peer.id);
        let hint = self
            .hints_lock()
            .get(&region.id)
            .filter(|peer| is_member(peer))
            .cloned();
        let peer = match (hint, scheduler_leader.filter(|peer| is_member(peer))) {
            (Some(hint), _) => hint,
            (None, Some(leader)) if attempt <= 1 => leader,
            _ => region
                .peers
                .get(attempt % region.peers.len().max(1))
                .cloned()
                .ok_or_else(|| {
                    CtlError::InvalidResponse(format!("region {} has no peers", region.id))
                })?,
        };
        let store = self.store(peer.store_id)?;
        Ok(Route {
            region,
            peer,
            store,
        })
    }

    /// A store answered a command for `region_id` with `error`.
    pub fn learn(&self, region_id: u64, error: &errorpb::Error) {
        let mut hints = self.hints_lock();
        match error
            .not_leader
            .as_ref()
            .and_then(|not_leader| not_leader.leader.as_ref())
        {
            Some(leader) if leader.id != 0 => {
                hints.insert(region_id, leader.clone());
            }
            _ => {
                hints.remove(&region_id);
            }
        }
    }

    /// A store refused a debug call as not the leader, naming `leader`.
    pub fn learn_leader(&self, region_id: u64, leader: Option<Peer>) {
        let mut hints = self.hints_lock();
        match leader.filter(|leader| leader.id != 0) {
            Some(leader) => hints.insert(region_id, leader),
            None => hints.remove(&region_id),
        };
    }

    /// A call to `store_id` failed on the wire: forget its clients and the
    /// hints that point at it.
    pub fn store_failed(&self, store_id: u64) {
        self.stores_lock().remove(&store_id);
        self.hints_lock()
            .retain(|_, peer| peer.store_id != store_id);
    }

    fn hints_lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Peer>> {
        // A hint map is valid after any single insert or remove.
        self.leader_hints
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn stores_lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, StoreClients>> {
        self.stores
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
