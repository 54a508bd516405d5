//! The **scheduler_task** worker: the store's side of the conversation
//! with the scheduler (lab 3C).
//!
//! In: [`SchedulerTask`]s on its own mailbox — a region heartbeat from a
//! leader (on its heartbeat tick, when it becomes leader, and right after
//! it applied a conf change or split), a split report from a leader that
//! applied a split, a store heartbeat from the store worker's tick. Out: the
//! heartbeats through `SchedulerClient`, and the operator steps the
//! scheduler answers with, executed as admin commands (ChangePeer,
//! TransferLeader) sent to the region's peer through the router, exactly
//! as a client would send them. An operator step refused by the peer (a
//! stale epoch, a change in progress) is simply asked for again by the
//! scheduler at the next heartbeat.
//!
//! Talking to the scheduler may take a network round trip, so it never
//! happens on the raft worker.
//!
//! Lifecycle: started by `RaftStore::start`; ends when every sender (the
//! raft and store workers' contexts) is dropped.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::Receiver;
use log::{debug, info, warn};
use proto::metapb::{Peer, Region};
use proto::raft_cmdpb::{AdminCmdType, AdminRequest, RaftCmdRequest};
use proto::schedulerpb::{RegionHeartbeatRequest, RegionHeartbeatResponse, StoreStats};

use crate::chain::chain;
use crate::msg::{Callback, RaftCommand};
use crate::router::Router;
use crate::scheduler_client::SchedulerClient;

/// A report for the scheduler.
#[derive(Debug, Clone)]
pub enum SchedulerTask {
    /// A region this store leads.
    RegionHeartbeat {
        /// The region as the leader knows it.
        region: Region,
        /// The leader (this store's peer).
        leader: Peer,
        /// Peers the leader's log is far ahead of.
        pending_peers: Vec<Peer>,
        /// The region's size as split_check last measured it (0: unknown).
        approximate_size: u64,
    },
    /// A split this store's leader applied: the left (old) region and the
    /// new right one.
    ReportSplit {
        /// The region that was split, as it is now.
        left: Region,
        /// The new region.
        right: Region,
    },
    /// This store's statistics.
    StoreHeartbeat {
        /// Region count, sizes.
        stats: StoreStats,
    },
}

/// The scheduler_task worker's state.
pub struct SchedulerRunner {
    store_id: u64,
    router: Router,
    client: Arc<dyn SchedulerClient>,
}

impl SchedulerRunner {
    /// A runner for one store.
    pub fn new(store_id: u64, router: Router, client: Arc<dyn SchedulerClient>) -> SchedulerRunner {
        SchedulerRunner {
            store_id,
            router,
            client,
        }
    }

    /// Starts the `scheduler_task-N` thread over `mailbox`.
    pub fn start(self, mailbox: Receiver<SchedulerTask>) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name(format!("scheduler_task-{}", self.store_id))
            .spawn(move || {
                for task in mailbox {
                    self.handle(task);
                }
            })
    }

    fn handle(&self, task: SchedulerTask) {
        match task {
            SchedulerTask::RegionHeartbeat {
                region,
                leader,
                pending_peers,
                approximate_size,
            } => {
                let mut heartbeat = RegionHeartbeatRequest::new();
                heartbeat.region = Some(region.clone()).into();
                heartbeat.leader = Some(leader.clone()).into();
                heartbeat.pending_peers = pending_peers;
                heartbeat.approximate_size = approximate_size;
                match self.client.region_heartbeat(heartbeat) {
                    Ok(Some(step)) => self.execute(&region, &leader, step),
                    Ok(None) => {}
                    Err(error) => debug!(
                        "store {}: [region {}] region heartbeat refused: {error}",
                        self.store_id, region.id
                    ),
                }
            }
            SchedulerTask::ReportSplit { left, right } => {
                if let Err(error) = self.client.report_split(&left, &right) {
                    debug!(
                        "store {}: [region {}] split report refused: {error}",
                        self.store_id, left.id
                    );
                }
            }
            SchedulerTask::StoreHeartbeat { stats } => {
                if let Err(error) = self.client.store_heartbeat(stats) {
                    debug!("store {}: store heartbeat refused: {error}", self.store_id);
                }
            }
        }
    }

    /// Sends an operator step to the region's leader as an admin command
    /// made against the epoch the heartbeat reported.
    fn execute(&self, region: &Region, leader: &Peer, step: RegionHeartbeatResponse) {
        let mut admin = AdminRequest::new();
        if step.change_peer.is_some() {
            let change = step.change_peer();
            admin.set_cmd_type(AdminCmdType::ChangePeer);
            admin
                .mut_change_peer()
                .set_change_type(change.change_type());
            admin.mut_change_peer().peer = change.peer.clone();
        } else if step.transfer_leader.is_some() {
            admin.set_cmd_type(AdminCmdType::TransferLeader);
            admin.mut_transfer_leader().peer = step.transfer_leader().peer.clone();
        } else {
            warn!(
                "store {}: [region {}] scheduler answered an empty operator step",
                self.store_id, region.id
            );
            return;
        }
        info!(
            "store {}: [region {}] executing operator step {:?}",
            self.store_id,
            region.id,
            admin.cmd_type()
        );
        chain!(
            "SchedulerRunner::execute",
            region.id,
            0,
            "store {}: operator step {:?} sent to the leader",
            self.store_id,
            admin.cmd_type()
        );
        let mut request = RaftCmdRequest::new();
        request.mut_header().region_id = region.id;
        request.mut_header().peer = Some(leader.clone()).into();
        request.mut_header().region_epoch = Some(region.region_epoch().clone()).into();
        request.admin_request = Some(admin).into();
        // Nobody waits: the next heartbeat shows whether the step took effect.
        let (callback, _receiver) = Callback::new();
        if let Err(error) = self.router.send_command(RaftCommand { request, callback }) {
            debug!(
                "store {}: [region {}] operator step not delivered: {error}",
                self.store_id, region.id
            );
        }
    }
}
