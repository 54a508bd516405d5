//! [`Server`]: holds the storage that the request handlers run on, and the
//! latches of the transactional commands.

use std::sync::Arc;

use storage::Storage;

use crate::raft_storage::RaftStorage;
use crate::txn::latches::{Latches, DEFAULT_SLOTS};

/// The request handlers' shared state: the storage, and the latches that
/// keep two transactional commands off the same keys. The raw API handlers
/// are methods on it (`raw_api.rs`), and so are the transactional commands
/// (`txn/`). Clones share both.
#[derive(Clone)]
pub struct Server {
    storage: Arc<dyn Storage>,
    latches: Arc<Latches>,
    /// The same storage when it is a `RaftStorage`, for the handlers'
    /// async twins (`raw_put_async`): they await raft instead of blocking.
    raft_storage: Option<RaftStorage>,
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
            raft_storage: None,
        }
    }

    /// A server over a raft-replicated store, whose async handlers
    /// (`raw_put_async`, `raw_delete_async`) await raft without a thread.
    pub fn over_raft(storage: RaftStorage) -> Server {
        Server {
            storage: Arc::new(storage.clone()),
            latches: Arc::new(Latches::new(DEFAULT_SLOTS)),
            raft_storage: Some(storage),
        }
    }

    /// The storage as a `RaftStorage`, when the server was made with
    /// [`Server::over_raft`].
    pub(crate) fn raft_storage(&self) -> Option<&RaftStorage> {
        self.raft_storage.as_ref()
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
