//! [`RaftStorage`] (lab 2B): the `Storage` trait on a raft-replicated store.
//!
//! A write becomes one `RaftCmdRequest` (a Put or Delete per `Modify`),
//! proposed to the region's leader through the store's `Router`; it is
//! acknowledged once the command is applied. A reader is a Snap command:
//! it goes through the raft log like a write, so the `RegionSnapshot` it
//! returns reflects every write acknowledged before the read began (reads
//! are linearizable through the log, not through ReadIndex).
//!
//! Region errors (NotLeader, EpochNotMatch, ...) come back as
//! `storage::Error::Region`, which the handlers put in `region_error`: the
//! client retries on another store or with a fresh region. A command that
//! gets no answer in time is `storage::Error::Timeout`: its outcome is
//! unknown.
//!
//! Routing (lab 3B): a storage made with [`RaftStorage::routed`] accepts a
//! context without a region (`region_id` 0) and finds the region itself:
//! the one of this store holding the command's key. It retries on the errors
//! a re-route fixes (EpochNotMatch, KeyNotInRegion, RegionNotFound,
//! StaleCommand: the region was split or changed meanwhile) until its
//! timeout; NotLeader goes back to the client, which must ask another store.
//! A reader has no key to route by (and must be one point-in-time view, so
//! it cannot span regions): without a region in its context it is served
//! only while this store's one region covers every key, and refused with
//! `InvalidRequest` once the key space is split.
//!
//! Two ways to wait: the `Storage` trait blocks its thread until raft
//! answers (the labs, the in-process cluster); [`RaftStorage::write_async`]
//! awaits the answer instead, so the gRPC service keeps thousands of writes
//! in flight without a thread each. Both build the same command.

use std::sync::Arc;
use std::time::{Duration, Instant};

use proto::errorpb;
use proto::kvrpcpb::Context;
use proto::raft_cmdpb::{CmdType, RaftCmdRequest, RaftCmdResponse, Request};
use raftstore::{Callback, CmdResponse, RaftCommand, Router, StoreMeta};
use storage::{Error, Modify, Result, Storage, StorageReader};

/// A `Storage` that replicates through the raftstore behind `router`.
#[derive(Clone)]
pub struct RaftStorage {
    router: Router,
    timeout: Duration,
    /// This store's regions, for routing a context without a region.
    store_meta: Option<Arc<StoreMeta>>,
}

/// Whether a region error means "look the key's region up again".
fn reroute_fixes(error: &errorpb::Error) -> bool {
    error.epoch_not_match.is_some()
        || error.key_not_in_region.is_some()
        || error.region_not_found.is_some()
        || error.stale_command.is_some()
}

impl RaftStorage {
    /// A storage proposing through `router`, waiting at most `timeout` per
    /// command; every context must name its region.
    pub fn new(router: Router, timeout: Duration) -> RaftStorage {
        RaftStorage {
            router,
            timeout,
            store_meta: None,
        }
    }

    /// Like [`RaftStorage::new`], and a context without a region is routed
    /// by key to the region of this store that holds it (see the module docs).
    pub fn routed(router: Router, store_meta: Arc<StoreMeta>, timeout: Duration) -> RaftStorage {
        RaftStorage {
            router,
            timeout,
            store_meta: Some(store_meta),
        }
    }

    /// The store's regions when `context` names no region and this storage
    /// routes by key; `None` when the context is used as it is.
    fn routing(&self, context: &Context) -> Option<&Arc<StoreMeta>> {
        self.store_meta.as_ref().filter(|_| context.region_id == 0)
    }

    /// The context of the region of this store that holds `key` now.
    fn routed_context(&self, store_meta: &StoreMeta, key: &[u8]) -> Result<Context> {
        let status = store_meta.region_for_key(key).ok_or_else(|| {
            Error::Closed(format!(
                "store {} has no region for key {key:?}",
                self.router.store_id()
            ))
        })?;
        let mut routed = Context::new();
        routed.region_id = status.region.id;
        routed.peer = status
            .region
            .peers
            .iter()
            .find(|peer| peer.store_id == self.router.store_id())
            .cloned()
            .into();
        routed.region_epoch = Some(status.region.region_epoch().clone()).into();
        Ok(routed)
    }

    /// Sends `requests` for `key` and waits for the answer, routing and
    /// re-routing when the context names no region.
    fn execute(
        &self,
        context: &Context,
        key: &[u8],
        requests: Vec<Request>,
    ) -> Result<CmdResponse> {
        let Some(store_meta) = self.routing(context) else {
            return self.execute_once(context, requests);
        };
        let deadline = Instant::now() + self.timeout;
        loop {
            let routed = self.routed_context(store_meta, key)?;
            match self.execute_once(&routed, requests.clone()) {
                Err(Error::Region(error)) if reroute_fixes(&error) && Instant::now() < deadline => {
                    std::thread::sleep(REROUTE_PAUSE);
                }
                outcome => return outcome,
            }
        }
    }

    /// [`RaftStorage::execute`] for an async caller: the same routing, the
    /// answer awaited.
    async fn execute_async(
        &self,
        context: &Context,
        key: &[u8],
        requests: Vec<Request>,
    ) -> Result<CmdResponse> {
        let Some(store_meta) = self.routing(context) else {
            return self.execute_once_async(context, requests).await;
        };
        let deadline = Instant::now() + self.timeout;
        loop {
            let routed = self.routed_context(store_meta, key)?;
            match self.execute_once_async(&routed, requests.clone()).await {
                Err(Error::Region(error)) if reroute_fixes(&error) && Instant::now() < deadline => {
                    tokio::time::sleep(REROUTE_PAUSE).await;
                }
                outcome => return outcome,
            }
        }
    }

    /// Sends `requests` to the region `context` names and waits for the answer.
    fn execute_once(&self, context: &Context, requests: Vec<Request>) -> Result<CmdResponse> {
        let (callback, receiver) = Callback::new();
        self.propose(context, requests, callback)?;
        self.answer(context, receiver.wait(self.timeout))
    }

    /// [`RaftStorage::execute_once`] for an async caller.
    async fn execute_once_async(
        &self,
        context: &Context,
        requests: Vec<Request>,
    ) -> Result<CmdResponse> {
        let (callback, receiver) = Callback::new_async();
        self.propose(context, requests, callback)?;
        let answer = tokio::time::timeout(self.timeout, receiver)
            .await
            .ok()
            .flatten();
        self.answer(context, answer)
    }

    /// Proposes `requests` to the region `context` names; `callback` gets
    /// the answer.
    fn propose(&self, context: &Context, requests: Vec<Request>, callback: Callback) -> Result<()> {
        let mut request = RaftCmdRequest::new();
        let header = request.mut_header();
        header.region_id = context.region_id;
        header.peer = context.peer.clone();
        header.region_epoch = context.region_epoch.clone();
        request.requests = requests;
        self.router
            .send_command(RaftCommand { request, callback })
            .map_err(|error| Error::Closed(error.to_string()))
    }

    /// The outcome of a command: its answer, or a timeout when none came.
    fn answer(&self, context: &Context, answer: Option<CmdResponse>) -> Result<CmdResponse> {
        let response = answer.ok_or_else(|| {
            Error::Timeout(format!(
                "region {} did not answer in {:?}",
                context.region_id, self.timeout
            ))
        })?;
        check_response(&response.response)?;
        Ok(response)
    }

    // lab 2B: begin [stub: tokio::task::block_in_place(|| Storage::write(self, &context, batch))] — optional: what write does, the answer awaited instead of waited for (docs/labs/lab2b.md#raft-storage)
    /// [`Storage::write`] for an async caller (the gRPC service): the same
    /// command, its answer awaited, so no thread is parked while raft
    /// replicates it. Runs on tokio's multi-thread runtime.
    pub async fn write_async(&self, context: Context, batch: Vec<Modify>) -> Result<()> {
        let (key, requests) = RaftStorage::write_command(batch);
        self.execute_async(&context, &key, requests)
            .await
            .map(|_| ())
    }
    // lab 2B: end

    // lab 2B: begin — one Put or Delete request per Modify, routed by the first key (docs/labs/lab2b.md#raft-storage)
    /// The requests of one write command (a Put or Delete per `Modify`,
    /// in order) and the key that routes it (the first one's: a batch
    /// stays within one region). Shared by `write` and `write_async`.
    pub fn write_command(batch: Vec<Modify>) -> (Vec<u8>, Vec<Request>) {
        let key = batch
            .first()
            .map(|modify| match modify {
                Modify::Put { key, .. } | Modify::Delete { key, .. } => key.clone(),
            })
            .unwrap_or_default();
        let requests = batch
            .into_iter()
            .map(|modify| {
                let mut request = Request::new();
                match modify {
                    Modify::Put { cf, key, value } => {
                        request.set_cmd_type(CmdType::Put);
                        let put = request.mut_put();
                        put.cf = cf;
                        put.key = key;
                        put.value = value;
                    }
                    Modify::Delete { cf, key } => {
                        request.set_cmd_type(CmdType::Delete);
                        let delete = request.mut_delete();
                        delete.cf = cf;
                        delete.key = key;
                    }
                }
                request
            })
            .collect();
        (key, requests)
    }
    // lab 2B: end
}

/// How long a routed command waits before looking its key's region up
/// again: the region changed (split, epoch), and the store's view of it
/// catches up within a few raft ticks.
const REROUTE_PAUSE: Duration = Duration::from_millis(10);

fn check_response(response: &RaftCmdResponse) -> Result<()> {
    if response.header().error.is_some() {
        return Err(Error::Region(Box::new(response.header().error().clone())));
    }
    Ok(())
}

impl Storage for RaftStorage {
    // lab 2B: begin — a write is one command of Puts and Deletes; a reader is the snapshot a Snap command answers (docs/labs/lab2b.md#raft-storage)
    fn write(&self, context: &Context, batch: Vec<Modify>) -> Result<()> {
        let (key, requests) = RaftStorage::write_command(batch);
        self.execute(context, &key, requests).map(|_| ())
    }

    fn reader(&self, context: &Context) -> Result<Box<dyn StorageReader>> {
        let mut request = Request::new();
        request.set_cmd_type(CmdType::Snap);
        request.mut_snap();
        if context.region_id == 0 {
            if let Some(store_meta) = &self.store_meta {
                let whole = store_meta.region_for_key(b"").is_some_and(|status| {
                    status.region.start_key.is_empty() && status.region.end_key.is_empty()
                });
                if !whole {
                    return Err(Error::InvalidRequest(
                        "a read needs its region in the context once the key space is split"
                            .to_string(),
                    ));
                }
            }
        }
        let response = self.execute(context, b"", vec![request])?;
        match response.snapshot {
            Some(snapshot) => Ok(Box::new(snapshot)),
            None => Err(Error::Closed(
                "Snap command answered without a snapshot".to_string(),
            )),
        }
    }
    // lab 2B: end
}
