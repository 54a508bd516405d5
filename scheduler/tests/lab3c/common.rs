//! Builders shared by the scheduler's test files.

use proto::metapb::{Peer, Store};

/// Store `id`, with an address made from its id.
pub fn store(id: u64) -> Store {
    let mut store = Store::new();
    store.id = id;
    store.address = format!("store-{id}");
    store
}

/// Peer `id` on store `store_id`.
pub fn peer(id: u64, store_id: u64) -> Peer {
    let mut peer = Peer::new();
    peer.id = id;
    peer.store_id = store_id;
    peer
}
