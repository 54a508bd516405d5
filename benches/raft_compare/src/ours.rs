//! [`OurCluster`]: three in-memory nodes of this project's raft crate,
//! driven the way a store drives them (every node handles its Ready fully:
//! persist to `MemStorage`, collect messages, advance; then every message
//! is delivered), all on the bench thread.

use proto::eraftpb::{ConfState, Message};
use tinykv_raft::{Config, MemStorage, RawNode, StateRole};

use crate::{Workload, COMPACT_EVERY};

/// Three nodes of this project's raft. See the module docs.
pub struct OurCluster {
    nodes: Vec<RawNode<MemStorage>>,
    storages: Vec<MemStorage>,
    mailbox: Vec<Message>,
    /// The messages being delivered; swapped with `mailbox` so that
    /// neither Vec is regrown per delivery round (the harness's own costs
    /// stay out of the measurement).
    delivering: Vec<Message>,
    last_compaction: u64,
}

impl OurCluster {
    /// Builds the cluster and elects node 1.
    pub fn new(workload: &Workload) -> OurCluster {
        let ids = [1u64, 2, 3];
        let mut conf_state = ConfState::new();
        conf_state.nodes = ids.to_vec();
        let mut nodes = Vec::new();
        let mut storages = Vec::new();
        for id in ids {
            let storage = MemStorage::new_with_conf_state(conf_state.clone());
            let mut config = Config::new(id);
            config.random_seed = Some(id);
            config.max_size_per_msg = crate::MAX_SIZE_PER_MESSAGE;
            config.max_inflight_msgs = crate::MAX_INFLIGHT_MESSAGES;
            config.batch_append = workload.batch_append;
            nodes.push(RawNode::new(&config, storage.clone()).expect("a valid config"));
            storages.push(storage);
        }
        let mut cluster = OurCluster {
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
            let mut ready = self.nodes[position].ready();
            let storage = &self.storages[position];
            if !ready.entries.is_empty() {
                storage
                    .wl()
                    .append(&ready.entries)
                    .expect("append to memory");
            }
            if let Some(hard_state) = &ready.hard_state {
                storage.wl().set_hardstate(hard_state.clone());
            }
            self.mailbox.append(&mut ready.messages);
            // Applying is a no-op: only raft's own cost is measured.
            self.nodes[position].advance(ready);
        }
    }

    /// One round of the workload: propose, then drive the cluster until
    /// the leader applied every proposal. Returns the entries committed.
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
