//! The cluster's admin helpers (lab 3B): transfer a region's leadership,
//! add or remove a peer, split a region. Each `must_*` helper sends the
//! admin command to the region's current leader and retries (new leader,
//! stale epoch, change in progress) until the cluster shows the effect, or
//! fails the test after its deadline with the seed in the message.
//!
//! TinyKV's test cluster does the same through its mock scheduler's
//! operators; here the helpers talk to the leader directly and read the
//! result from the stores' published regions, so a test never waits for a
//! heartbeat ("find no region").

use std::time::{Duration, Instant};

use proto::eraftpb::ConfChangeType;
use proto::errorpb;
use proto::metapb::{Peer, Region};
use proto::raft_cmdpb::{AdminCmdType, AdminRequest, RaftCmdRequest, RaftCmdResponse};
use proto::raft_serverpb::RegionLocalState;
use raftstore::CmdResponse;
use storage::keys;

use super::Cluster;

/// How long a `must_*` admin helper keeps trying.
const ADMIN_DEADLINE: Duration = Duration::from_secs(20);
/// How long one attempt waits for its answer.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// Pause between attempts.
const RETRY_PAUSE: Duration = Duration::from_millis(20);

impl Cluster {
    /// Sends `admin` to the leader of `region_id`, made against the newest
    /// known epoch of the region, and waits up to `timeout` for the answer
    /// (which may carry a region error). `Err` when there is no leader or
    /// no answer.
    pub fn admin_request(
        &self,
        region_id: u64,
        admin: AdminRequest,
        timeout: Duration,
    ) -> Result<RaftCmdResponse, String> {
        let leader = self
            .leader_of(region_id)
            .ok_or_else(|| format!("region {region_id} has no leader"))?;
        // The leader's own view of the region: the epoch it checks against.
        let region = self
            .region_statuses(region_id)
            .into_iter()
            .find(|(store_id, _)| *store_id == leader.store_id)
            .map(|(_, status)| status.region)
            .ok_or_else(|| format!("store {} published no region {region_id}", leader.store_id))?;
        let mut request = RaftCmdRequest::new();
        request.mut_header().region_id = region_id;
        request.mut_header().peer = Some(leader.clone()).into();
        request.mut_header().region_epoch = Some(region.region_epoch().clone()).into();
        request.admin_request = Some(admin).into();
        let receiver = self
            .with_store(leader.store_id, |store| store.send_command(request))
            .ok_or_else(|| format!("store {} is not running", leader.store_id))?
            .map_err(|error| error.to_string())?;
        receiver
            .wait(timeout)
            .map(|response| response.response)
            .ok_or_else(|| {
                format!(
                    "no answer from store {} within {timeout:?}",
                    leader.store_id
                )
            })
    }

    /// Proposes a prepared `request` directly on `store_id` and waits up
    /// to `timeout` for its answer; fails the test if there is none.
    pub fn send_request_to(
        &self,
        store_id: u64,
        request: RaftCmdRequest,
        timeout: Duration,
    ) -> CmdResponse {
        let receiver = self
            .with_store(store_id, |store| store.send_command(request))
            .unwrap_or_else(|| self.fail(&format!("store {store_id} is not running")))
            .unwrap_or_else(|error| self.fail(&format!("store {store_id} refused: {error}")));
        receiver.wait(timeout).unwrap_or_else(|| {
            self.fail(&format!("store {store_id} did not answer in {timeout:?}"))
        })
    }

    /// The region error of a response; fails the test if there is none.
    pub fn region_error_of(&self, response: &CmdResponse) -> errorpb::Error {
        let header = response.response.header();
        if !header.error.is_some() {
            self.fail(&format!(
                "expected a region error, got a success: {:?}",
                response.response
            ));
        }
        header.error().clone()
    }

    /// The region state store `store_id` keeps on disk for `region_id`.
    pub fn region_state(&self, store_id: u64, region_id: u64) -> Option<RegionLocalState> {
        self.with_store(store_id, |store| {
            store
                .engines()
                .kv
                .get_msg::<RegionLocalState>(&keys::region_state_key(region_id))
        })
        .and_then(|result| result.ok())
        .flatten()
    }

    /// The peer of `region_id` on `store_id` in the newest known
    /// membership, as an error message when there is none.
    fn peer_on_store(&self, region_id: u64, store_id: u64) -> Result<Peer, String> {
        self.region(region_id)
            .and_then(|region| {
                region
                    .peers
                    .iter()
                    .find(|peer| peer.store_id == store_id)
                    .cloned()
            })
            .ok_or_else(|| format!("region {region_id} has no peer on store {store_id}"))
    }

    /// Retries `attempt` until `done` holds, failing the test after the
    /// admin deadline with `what` and the last error.
    fn retry_admin(
        &self,
        what: &str,
        mut done: impl FnMut() -> bool,
        mut attempt: impl FnMut() -> Result<RaftCmdResponse, String>,
    ) {
        let deadline = Instant::now() + ADMIN_DEADLINE;
        let mut last_error = String::from("no attempt made");
        loop {
            if done() {
                return;
            }
            if Instant::now() > deadline {
                self.fail(&format!(
                    "{what}: not done after {ADMIN_DEADLINE:?}; last error: {last_error}"
                ));
            }
            match attempt() {
                Ok(response) if response.header().error.is_some() => {
                    last_error = response.header().error().message.clone();
                }
                Ok(_) => last_error = "accepted, waiting for the effect".to_string(),
                Err(error) => last_error = error,
            }
            std::thread::sleep(RETRY_PAUSE);
        }
    }

    /// Makes the peer of `region_id` on `store_id` its leader.
    pub fn must_transfer_leader(&self, region_id: u64, store_id: u64) {
        let what = format!("transfer leadership of region {region_id} to store {store_id}");
        self.retry_admin(
            &what,
            || self.leader_of(region_id).map(|peer| peer.store_id) == Some(store_id),
            || {
                let target = self.peer_on_store(region_id, store_id)?;
                let mut admin = AdminRequest::new();
                admin.set_cmd_type(AdminCmdType::TransferLeader);
                admin.mut_transfer_leader().peer = Some(target).into();
                self.admin_request(region_id, admin, ATTEMPT_TIMEOUT)
            },
        );
    }

    /// A ChangePeer admin request.
    pub fn change_peer_request(change_type: ConfChangeType, peer: &Peer) -> AdminRequest {
        let mut admin = AdminRequest::new();
        admin.set_cmd_type(AdminCmdType::ChangePeer);
        let change = admin.mut_change_peer();
        change.set_change_type(change_type);
        change.peer = Some(peer.clone()).into();
        admin
    }

    /// Adds a peer of `region_id` on `store_id` (a fresh peer id) and waits
    /// until the region's newest membership has it; returns the peer.
    pub fn must_add_peer(&self, region_id: u64, store_id: u64) -> Peer {
        let mut peer = Peer::new();
        peer.id = self.alloc_id();
        peer.store_id = store_id;
        let what = format!(
            "add peer {} on store {store_id} to region {region_id}",
            peer.id
        );
        self.retry_admin(
            &what,
            || self.region_has_peer_on(region_id, store_id),
            || {
                let admin = Cluster::change_peer_request(ConfChangeType::AddNode, &peer);
                self.admin_request(region_id, admin, ATTEMPT_TIMEOUT)
            },
        );
        self.peer_on_store(region_id, store_id).unwrap_or(peer)
    }

    /// Removes the peer of `region_id` on `store_id` and waits until the
    /// region's newest membership no longer has it.
    pub fn must_remove_peer(&self, region_id: u64, store_id: u64) {
        let what = format!("remove the peer on store {store_id} from region {region_id}");
        self.retry_admin(
            &what,
            || !self.region_has_peer_on(region_id, store_id),
            || {
                let peer = self.peer_on_store(region_id, store_id)?;
                let admin = Cluster::change_peer_request(ConfChangeType::RemoveNode, &peer);
                self.admin_request(region_id, admin, ATTEMPT_TIMEOUT)
            },
        );
    }

    /// Whether the newest known membership of `region_id` has a peer on `store_id`.
    pub fn region_has_peer_on(&self, region_id: u64, store_id: u64) -> bool {
        self.region(region_id)
            .is_some_and(|region| region.peers.iter().any(|peer| peer.store_id == store_id))
    }

    /// A Split admin request of `region` at `split_key`, with fresh ids.
    pub fn split_request(&self, region: &Region, split_key: &[u8]) -> AdminRequest {
        // Ids straight from the scheduler's allocator: a split a test asks
        // for needs no check of the region by the scheduler.
        let new_region_id = self.alloc_id();
        let new_peer_ids = region.peers.iter().map(|_| self.alloc_id()).collect();
        let mut admin = AdminRequest::new();
        admin.set_cmd_type(AdminCmdType::Split);
        let split = admin.mut_split();
        split.split_key = split_key.to_vec();
        split.new_region_id = new_region_id;
        split.new_peer_ids = new_peer_ids;
        admin
    }

    /// Splits the region holding `split_key` so that a region starts at
    /// it, and waits until both halves are known; returns (left, right).
    pub fn must_split(&self, split_key: &[u8]) -> (Region, Region) {
        let what = format!("split at {:?}", String::from_utf8_lossy(split_key));
        let split_done = || {
            self.region_for_key(split_key)
                .is_some_and(|region| region.start_key == split_key)
        };
        self.retry_admin(&what, split_done, || {
            let region = self
                .region_for_key(split_key)
                .ok_or_else(|| "no region holds the key".to_string())?;
            let admin = self.split_request(&region, split_key);
            self.admin_request(region.id, admin, ATTEMPT_TIMEOUT)
        });
        let right = self
            .region_for_key(split_key)
            .unwrap_or_else(|| self.fail("the split's right half vanished"));
        let left_key = self
            .regions()
            .into_iter()
            .find(|region| region.end_key == right.start_key)
            .unwrap_or_else(|| self.fail("the split's left half is not known yet"));
        (left_key, right)
    }
}
