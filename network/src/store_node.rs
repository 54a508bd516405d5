//! [`StoreNode`]: one store as a process of its own — its engines, its
//! raftstore, its `TinyKv` gRPC service, its gRPC transport and its remote
//! scheduler. `tinykv server` runs one; the network tests run them
//! in-process.
//!
//! `StoreNode::start` runs on the caller's thread (it blocks; never call it
//! on a runtime thread):
//! 1. binds the listen address (port 0 picks a free port), so the address
//!    the store registers is the one it serves;
//! 2. waits for the scheduler to answer;
//! 3. opens the engines and, for a fresh data directory, bootstraps the
//!    store: a store id from the scheduler, and if the cluster is new, the
//!    first region (see [`StoreNode::bootstrap`]);
//! 4. registers the store's address with the scheduler (`PutStore`, also
//!    after a restart: the address may have changed);
//! 5. starts the raftstore with a [`GrpcTransport`] and a
//!    [`RemoteScheduler`], then serves [`TinyKvService`] and the
//!    [`DebugService`] (one port, [`StoreServices`]) on the runtime.
//!
//! `StoreNode::stop` (also on drop) stops serving first (no new requests;
//! peers' raft streams are cut after a short grace), then stops the
//! raftstore, whose threads are joined and whose engines close.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::info;
use proto::metapb::{Peer, Region, Store};
use proto::schedulerpb::ErrorType;
use raftstore::bootstrap::{
    bootstrap_store, clear_prepared_bootstrap, finish_prepared_bootstrap, load_prepared_bootstrap,
    load_store_ident, prepare_bootstrap_cluster,
};
use raftstore::{Config, RaftStore};
use server::{RaftStorage, Server};
use storage::Engines;
use tokio::runtime::Handle;

use crate::codec::DEFAULT_MAX_MESSAGE_SIZE;
use crate::debug_service::{DebugService, DebugServiceParts};
use crate::errors::{Error, Result};
use crate::grpc_server::GrpcServer;
use crate::grpc_transport::GrpcTransport;
use crate::remote_scheduler::RemoteScheduler;
use crate::store_services::StoreServices;
use crate::tinykv_service::TinyKvService;

/// How long a starting store waits for the scheduler to answer: the
/// processes of a cluster start together, the scheduler may be a moment
/// behind.
pub const SCHEDULER_WAIT: Duration = Duration::from_secs(30);

/// What a store node needs to start.
#[derive(Debug, Clone)]
pub struct StoreNodeOptions {
    /// Where to serve, `host:port`; port 0 picks a free one. The bound
    /// address is what the store registers, so other stores and clients
    /// must be able to reach it (not `0.0.0.0`).
    pub address: String,
    /// The store's data directory (engines in `kv/` and `raft/`, snapshots
    /// in `snap/`); created when missing.
    pub data_dir: PathBuf,
    /// The scheduler's address, `host:port`.
    pub scheduler_address: String,
    /// The raftstore's settings.
    pub config: Config,
    /// The largest gRPC message, in bytes.
    pub max_message_size: usize,
}

impl StoreNodeOptions {
    /// Options with the default raftstore settings and message size.
    pub fn new(address: &str, data_dir: PathBuf, scheduler_address: &str) -> StoreNodeOptions {
        StoreNodeOptions {
            address: address.to_string(),
            data_dir,
            scheduler_address: scheduler_address.to_string(),
            config: Config::default(),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        }
    }
}

/// A running store process (see the module docs).
pub struct StoreNode {
    store_id: u64,
    address: SocketAddr,
    data_dir: PathBuf,
    store: Option<RaftStore>,
    server: Option<GrpcServer>,
}

impl StoreNode {
    /// Starts a store (see the module docs); its tasks run on `runtime`.
    pub fn start(runtime: Handle, options: StoreNodeOptions) -> Result<StoreNode> {
        let listener = runtime.block_on(tokio::net::TcpListener::bind(&options.address))?;
        let address = listener.local_addr()?;
        let scheduler = RemoteScheduler::new(
            runtime.clone(),
            &options.scheduler_address,
            options.max_message_size,
        )?;
        let cluster_id = wait_for_scheduler(&scheduler, &options.scheduler_address)?;
        std::fs::create_dir_all(&options.data_dir)?;
        let engines = Engines::open(&options.data_dir)?;
        let store_id = StoreNode::bootstrap(&engines, &scheduler, cluster_id)?;
        let mut store = Store::new();
        store.id = store_id;
        store.address = address.to_string();
        scheduler.put_store(store)?;
        info!(
            "store {store_id}: registered at {address} with the scheduler at {}",
            options.scheduler_address
        );

        let transport = Arc::new(GrpcTransport::new(
            store_id,
            runtime.clone(),
            scheduler.client().clone(),
            options.max_message_size,
        ));
        let config = options.config;
        let scheduler_client = scheduler.client().clone();
        let raft_store = RaftStore::start(
            store_id,
            engines,
            config.clone(),
            transport,
            Arc::new(scheduler),
            options.data_dir.join("snap"),
        )?;
        let storage = RaftStorage::routed(
            raft_store.router().clone(),
            Arc::clone(raft_store.store_meta()),
            config.command_timeout,
        );
        let service = TinyKvService::new(
            store_id,
            Server::over_raft(storage),
            raft_store.router().clone(),
            raft_store.snapshot_receiver().clone(),
            config.snapshot_transfer_timeout,
            options.max_message_size,
        );
        let debug = DebugService::new(DebugServiceParts {
            store_id,
            router: raft_store.router().clone(),
            store_meta: Arc::clone(raft_store.store_meta()),
            kv: raft_store.engines().kv.clone(),
            scheduler: scheduler_client,
            command_timeout: config.command_timeout,
            snapshot_timeout: config.snapshot_transfer_timeout,
            export_root: options.data_dir.join("export"),
            chunk_size: config.snapshot_chunk_size,
            max_message_size: options.max_message_size,
        });
        let server = GrpcServer::spawn(
            &runtime,
            &format!("store {store_id}"),
            listener,
            StoreServices::new(service, debug),
        );
        info!("store {store_id}: serving TinyKv and Debug on {address}");
        Ok(StoreNode {
            store_id,
            address,
            data_dir: options.data_dir,
            store: Some(raft_store),
            server: Some(server),
        })
    }

    /// Gives a fresh data directory its store id and, when the cluster is
    /// new, the cluster's first region; returns the store id. Safe to run
    /// again after a crash at any step:
    ///
    /// - no store ident yet: a new id from the scheduler, written to the
    ///   engines (an id allocated by a run that crashed before writing it
    ///   is simply never used);
    /// - the cluster not bootstrapped: a first region with one peer on this
    ///   store is written locally, marked "prepared", then offered to the
    ///   scheduler. Several stores may race; the scheduler takes one. The
    ///   scheduler's region with that id tells whose region won: the
    ///   winner drops the mark, a loser deletes its region and joins the
    ///   cluster empty (the scheduler adds its peers later).
    pub fn bootstrap(
        engines: &Engines,
        scheduler: &RemoteScheduler,
        cluster_id: u64,
    ) -> Result<u64> {
        let store_id = match load_store_ident(engines)? {
            Some(ident) if ident.cluster_id != cluster_id => {
                return Err(Error::Store(raftstore::Error::InvalidRequest(format!(
                    "the data directory belongs to store {} of cluster {}, but the scheduler runs cluster {cluster_id}",
                    ident.store_id, ident.cluster_id
                ))))
            }
            Some(ident) => ident.store_id,
            None => {
                let store_id = scheduler.alloc_id()?;
                bootstrap_store(engines, cluster_id, store_id)?;
                info!("store {store_id}: new store of cluster {cluster_id}");
                store_id
            }
        };
        let prepared = match load_prepared_bootstrap(engines)? {
            Some(region) => Some(region),
            None if !scheduler.is_bootstrapped()?.0 => {
                let region = first_region(scheduler, store_id)?;
                prepare_bootstrap_cluster(engines, &region)?;
                Some(region)
            }
            None => None,
        };
        let Some(region) = prepared else {
            return Ok(store_id);
        };
        let mut store = Store::new();
        store.id = store_id;
        match scheduler.bootstrap(store, region.clone()) {
            Ok(()) => {}
            Err(Error::Scheduler {
                error_type: ErrorType::ALREADY_BOOTSTRAPPED,
                ..
            }) => {}
            Err(error) => return Err(error),
        }
        let won = scheduler
            .get_region_by_id(region.id)?
            .is_some_and(|(known, _)| known.peers.iter().any(|peer| peer.store_id == store_id));
        if won {
            finish_prepared_bootstrap(engines)?;
            info!(
                "store {store_id}: bootstrapped cluster {cluster_id} with region {}",
                region.id
            );
        } else {
            clear_prepared_bootstrap(engines, region.id)?;
            info!(
                "store {store_id}: another store bootstrapped the cluster; region {} dropped",
                region.id
            );
        }
        Ok(store_id)
    }

    /// This store's id.
    pub fn store_id(&self) -> u64 {
        self.store_id
    }

    /// The address the store serves on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The store's data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// The running raftstore (until `stop`).
    pub fn raft_store(&self) -> Option<&RaftStore> {
        self.store.as_ref()
    }

    /// Stops serving, then stops the raftstore (see the module docs).
    pub fn stop(mut self) {
        self.shutdown_and_join();
    }

    fn shutdown_and_join(&mut self) {
        // Serving stops first: no request may reach a stopping raftstore.
        if let Some(mut server) = self.server.take() {
            server.stop();
        }
        if let Some(store) = self.store.take() {
            store.stop();
        }
        info!("store {}: node stopped", self.store_id);
    }
}

impl Drop for StoreNode {
    fn drop(&mut self) {
        if self.store.is_some() || self.server.is_some() {
            self.shutdown_and_join();
        }
    }
}

/// Asks the scheduler until it answers (or [`SCHEDULER_WAIT`] passed);
/// returns the cluster id.
fn wait_for_scheduler(scheduler: &RemoteScheduler, address: &str) -> Result<u64> {
    let deadline = Instant::now() + SCHEDULER_WAIT;
    loop {
        match scheduler.is_bootstrapped() {
            Ok((_, cluster_id)) => return Ok(cluster_id),
            Err(error) if Instant::now() < deadline => {
                info!("waiting for the scheduler at {address}: {error}");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(error) => return Err(error),
        }
    }
}

/// A new cluster's first region: the whole key space, one peer on this
/// store, ids from the scheduler.
fn first_region(scheduler: &RemoteScheduler, store_id: u64) -> Result<Region> {
    let mut region = Region::new();
    region.id = scheduler.alloc_id()?;
    region.mut_region_epoch().conf_ver = 1;
    region.mut_region_epoch().version = 1;
    let mut peer = Peer::new();
    peer.id = scheduler.alloc_id()?;
    peer.store_id = store_id;
    region.peers.push(peer);
    Ok(region)
}
