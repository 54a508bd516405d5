//! [`RaftRsCluster`]: the same three in-memory nodes and the same driver as
//! `ours.rs`, on raft-rs 0.7 (the baseline). Its Ready cycle has two parts
//! (Ready, then the LightReady `advance` returns), both handled fully.

use raft_rs::eraftpb::{ConfState, Message};
use raft_rs::storage::MemStorage;
use raft_rs::{Config, RawNode, StateRole};

use crate::{Workload, COMPACT_EVERY};

/// Three nodes of raft-rs. See the module docs.
pub struct RaftRsCluster {
    nodes: Vec<RawNode<MemStorage>>,
    storages: Vec<MemStorage>,
    mailbox: Vec<Message>,
    /// The messages being delivered; swapped with `mailbox` so that
    /// neither Vec is regrown per delivery round (the harness's own costs
    /// stay out of the measurement).
    delivering: Vec<Message>,
    last_compaction: u64,
}

impl RaftRsCluster {
    /// Builds the cluster and elects node 1.
    pub fn new(workload: &Workload) -> RaftRsCluster {
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let ids = [1u64, 2, 3];
        let conf_state = ConfState::from((ids.to_vec(), vec![]));
        let mut nodes = Vec::new();
        let mut storages = Vec::new();
        for id in ids {
            let storage = MemStorage::new_with_conf_state(conf_state.clone());
            let config = Config {
                id,
                election_tick: 10,
                heartbeat_tick: 1,
                max_size_per_msg: crate::MAX_SIZE_PER_MESSAGE,
                max_inflight_msgs: crate::MAX_INFLIGHT_MESSAGES,
                batch_append: workload.batch_append,
                ..Config::default()
            };
            nodes.push(RawNode::new(&config, storage.clone(), &logger).expect("a valid config"));
            storages.push(storage);
        }
        let mut cluster = RaftRsCluster {
            nodes,
            storages,
            mailbox: Vec::new(),
            delivering: Vec::new(),
            last_compaction: 0,
        };
        cluster.nodes[0].campaign().expect("node 1 can campaign");
        cluster.pump();
        assert_eq!(cluster.nodes[0].raft.state, StateRole::Leader);
        cluster
    }

    fn pump(&mut self) {
        loop {
            for position in 0..self.nodes.len() {
                self.handle_ready(position);
            }
            if self.mailbox.is_empty() {
                return;
            }
            std::mem::swap(&mut self.mailbox, &mut self.delivering);
            for message in self.delivering.drain(..) {
                let position = (message.to - 1) as usize;
                self.nodes[position]
                    .step(message)
                    .expect("messages between members are accepted");
            }
        }
    }

    fn handle_ready(&mut self, position: usize) {
        while self.nodes[position].has_ready() {
            let node = &mut self.nodes[position];
            let storage = &self.storages[position];
            let mut ready = node.ready();
            self.mailbox.extend(ready.take_messages());
            let _ = ready.take_committed_entries();
            if !ready.entries().is_empty() {
                storage
                    .wl()
                    .append(ready.entries())
                    .expect("append to memory");
            }
            if let Some(hard_state) = ready.hs() {
                storage.wl().set_hardstate(hard_state.clone());
            }
            self.mailbox.extend(ready.take_persisted_messages());
            let mut light = node.advance(ready);
            if let Some(commit) = light.commit_index() {
                storage.wl().mut_hard_state().commit = commit;
            }
            self.mailbox.extend(light.take_messages());
            let _ = light.take_committed_entries();
            node.advance_apply();
        }
    }

    /// One round of the workload, as `OurCluster::round`.
    // Never inlined: profiles count entries by the calls to `round`.
    #[inline(never)]
    pub fn round(&mut self, workload: &Workload, payload: &[u8]) -> u64 {
        let target = self.nodes[0].raft.raft_log.last_index() + workload.proposals_per_ready as u64;
        for _ in 0..workload.proposals_per_ready {
            self.nodes[0]
                .propose(Vec::new(), payload.to_vec())
                .expect("the leader accepts proposals");
        }
        self.pump();
        let applied = self.nodes[0].raft.raft_log.applied;
        assert!(applied >= target, "applied {applied} short of {target}");
        if applied - self.last_compaction >= COMPACT_EVERY {
            for (node, storage) in self.nodes.iter().zip(&self.storages) {
                storage
                    .wl()
                    .compact(node.raft.raft_log.applied)
                    .expect("applied entries are in the log");
            }
            self.last_compaction = applied;
        }
        workload.proposals_per_ready as u64
    }
}
