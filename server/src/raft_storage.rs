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

use std::time::Duration;

use proto::kvrpcpb::Context;
use proto::raft_cmdpb::{CmdType, RaftCmdRequest, RaftCmdResponse, Request};
use raftstore::{Callback, CmdResponse, RaftCommand, Router};
use storage::{Error, Modify, Result, Storage, StorageReader};

/// A `Storage` that replicates through the raftstore behind `router`.
#[derive(Clone)]
pub struct RaftStorage {
    router: Router,
    timeout: Duration,
}

impl RaftStorage {
    /// A storage proposing through `router`, waiting at most `timeout` per command.
    pub fn new(router: Router, timeout: Duration) -> RaftStorage {
        RaftStorage { router, timeout }
    }

    /// Sends `request` and waits for its answer.
    fn execute(&self, context: &Context, requests: Vec<Request>) -> Result<CmdResponse> {
        let mut request = RaftCmdRequest::new();
        let header = request.mut_header();
        header.region_id = context.region_id;
        header.peer = context.peer.clone();
        header.region_epoch = context.region_epoch.clone();
        request.requests = requests;
        let (callback, receiver) = Callback::new();
        self.router
            .send_command(RaftCommand { request, callback })
            .map_err(|error| Error::Closed(error.to_string()))?;
        let response = receiver.wait(self.timeout).ok_or_else(|| {
            Error::Timeout(format!(
                "region {} did not answer in {:?}",
                context.region_id, self.timeout
            ))
        })?;
        check_response(&response.response)?;
        Ok(response)
    }
}

fn check_response(response: &RaftCmdResponse) -> Result<()> {
    if response.header().error.is_some() {
        return Err(Error::Region(Box::new(response.header().error().clone())));
    }
    Ok(())
}

impl Storage for RaftStorage {
    fn write(&self, context: &Context, batch: Vec<Modify>) -> Result<()> {
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
        self.execute(context, requests).map(|_| ())
    }

    fn reader(&self, context: &Context) -> Result<Box<dyn StorageReader>> {
        let mut request = Request::new();
        request.set_cmd_type(CmdType::Snap);
        request.mut_snap();
        let response = self.execute(context, vec![request])?;
        match response.snapshot {
            Some(snapshot) => Ok(Box::new(snapshot)),
            None => Err(Error::Closed(
                "Snap command answered without a snapshot".to_string(),
            )),
        }
    }
}
