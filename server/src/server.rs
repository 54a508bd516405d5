//! [`Server`]: holds the storage that the request handlers run on, and the
//! latches of the transactional commands.

use std::sync::Arc;

use storage::Storage;

use crate::txn::latches::{Latches, DEFAULT_SLOTS};

/// The request handlers' shared state: the storage, and the latches that
/// keep two transactional commands off the same keys. The raw API handlers
/// are methods on it (`raw_api.rs`), and so are the transactional commands
/// (`txn/`). Clones share both.
#[derive(Clone)]
pub struct Server {
    storage: Arc<dyn Storage>,
    latches: Arc<Latches>,
}

impl Server {
    /// A server over `storage` (standalone or raft-replicated), with
    /// latches of its own. Make one per store and clone it: two servers
    /// built over one store do not see each other's latches, so their
    /// transactional commands on one key would not serialise.
    pub fn new(storage: Arc<dyn Storage>) -> Server {
        Server {
            storage,
            latches: Arc::new(Latches::new(DEFAULT_SLOTS)),
        }
    }

    /// The storage the handlers use.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// The latches of the transactional commands (see `txn/latches.rs`).
    pub(crate) fn latches(&self) -> &Latches {
        &self.latches
    }
}
