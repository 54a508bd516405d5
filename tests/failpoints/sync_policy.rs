//! One disk wait per raft-worker batch, across regions: the raft worker
//! writes the staged Readies of every region it handled in one iteration
//! as a single raft-engine write (`RaftWorker::handle_readies`). A
//! failpoint holds the worker while two regions' proposals queue up, so
//! both are certainly in the same batch. Not a graded lab: this checks
//! the store's write path, which the labs' suites exercise only for
//! correctness.

// needs labs 1, 2AA, 2AB, 2AC, 2B, 2C, 3A, 3B, 3C: begin — a split cluster with transferred leaders: every store lab is on it
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use proto::raft_cmdpb::RaftCmdRequest;
use raftstore::{CallbackReceiver, Config};
use tinykv_tests::cluster::{put_request, Cluster, FIRST_REGION_ID};
use tinykv_tests::scenarios::wait_until;

/// How long the cluster may take to reach a state the test waits for.
const WAIT: Duration = Duration::from_secs(30);
/// The store that leads both regions.
const LEADER_STORE: u64 = 1;

/// Synced raft-engine writes so far on `store_id`.
fn synced_writes(cluster: &Cluster, store_id: u64) -> u64 {
    cluster
        .with_store(store_id, |store| {
            store.engines().raft.write_statistics().synced_batches
        })
        .unwrap_or_else(|| panic!("store {store_id} is running"))
}

/// The terms of both regions' leaders, to notice an election.
fn terms(cluster: &Cluster, region_ids: [u64; 2]) -> Vec<u64> {
    region_ids
        .iter()
        .map(|&region_id| {
            cluster
                .region_statuses(region_id)
                .iter()
                .map(|(_, status)| status.term)
                .max()
                .unwrap_or(0)
        })
        .collect()
}

/// Queues a put of `key` on the leader store's raft worker (the mailbox
/// holds it when this returns) and gives back its answer's receiver.
fn queue_put(cluster: &Cluster, key: &[u8]) -> CallbackReceiver {
    let region = cluster
        .region_for_key(key)
        .expect("a region holds every key");
    let peer = region
        .peers
        .iter()
        .find(|peer| peer.store_id == LEADER_STORE)
        .expect("the leader store has a peer of every region")
        .clone();
    let mut request = RaftCmdRequest::new();
    request.mut_header().region_id = region.id;
    request.mut_header().peer = Some(peer).into();
    request.mut_header().region_epoch = Some(region.region_epoch().clone()).into();
    request.requests.push(put_request(key, b"value"));
    cluster
        .with_store(LEADER_STORE, |store| store.send_command(request))
        .expect("the leader store is running")
        .expect("the raft worker takes commands")
}

/// Two regions' proposals that reach their leader's raft worker in one batch cost that store one synced raft write, not one per region.
#[test]
fn proposals_of_two_regions_in_one_batch_share_one_synced_write() {
    let _scenario = fail::FailScenario::setup();
    let cluster = Cluster::new("sync_policy::shared_write", 3, Config::for_tests());
    cluster.wait_leader(FIRST_REGION_ID, WAIT);
    cluster.must_put(b"a", b"1");
    let (left, right) = cluster.must_split(b"m");
    cluster.must_transfer_leader(left.id, LEADER_STORE);
    cluster.must_transfer_leader(right.id, LEADER_STORE);
    let failpoint = format!("raft_worker_before_readies_{LEADER_STORE}");
    // An election in the middle (a loaded machine can delay heartbeats)
    // adds synced writes for its term and vote: measure again then.
    for attempt in 0..3 {
        cluster.must_put(format!("a-{attempt}").as_bytes(), b"v");
        cluster.must_put(format!("z-{attempt}").as_bytes(), b"v");
        cluster.must_replicas_converge(left.id, WAIT);
        cluster.must_replicas_converge(right.id, WAIT);
        let terms_before = terms(&cluster, [left.id, right.id]);
        let before = synced_writes(&cluster, LEADER_STORE);

        // Hold the leader store's raft worker before its next Readies.
        let held = Arc::new(AtomicBool::new(false));
        let release = Arc::new(AtomicBool::new(false));
        {
            let (held, release) = (held.clone(), release.clone());
            fail::cfg_callback(failpoint.clone(), move || {
                if release.load(Ordering::SeqCst) {
                    return;
                }
                held.store(true, Ordering::SeqCst);
                while !release.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
            .expect("the failpoint takes a callback");
        }
        wait_until(&cluster, "the raft worker is held", WAIT, || {
            held.load(Ordering::SeqCst)
        });
        // Both proposals are in the mailbox before the worker goes on, so
        // its next iteration takes them together.
        let answers = [
            queue_put(&cluster, format!("b-{attempt}").as_bytes()),
            queue_put(&cluster, format!("y-{attempt}").as_bytes()),
        ];
        release.store(true, Ordering::SeqCst);
        fail::remove(&failpoint);
        for answer in &answers {
            let response = answer.wait(WAIT).expect("the put is answered").response;
            assert!(
                !response.header().error.is_some(),
                "the put failed: {:?}",
                response.header().error
            );
        }
        let after = synced_writes(&cluster, LEADER_STORE);
        if terms(&cluster, [left.id, right.id]) != terms_before {
            continue;
        }
        assert_eq!(
            after - before,
            1,
            "two regions' proposals in one batch: one synced raft write on their leader's store"
        );
        return;
    }
    panic!("three elections during three attempts: the cluster never stayed quiet");
}
// needs labs: end
