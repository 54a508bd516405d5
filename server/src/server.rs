//! [`Server`]: holds the storage that the request handlers run on.

use std::sync::Arc;

use storage::Storage;

/// The request handlers' shared state: for now only the storage. The raw
/// API handlers are methods on it (see `raw_api.rs`).
#[derive(Clone)]
pub struct Server {
    storage: Arc<dyn Storage>,
}

impl Server {
    /// A server over `storage` (standalone or raft-replicated).
    pub fn new(storage: Arc<dyn Storage>) -> Server {
        Server { storage }
    }

    /// The storage the handlers use.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }
}
