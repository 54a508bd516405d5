//! # scheduler: the cluster's placement driver
//!
//! A later lab fills this crate: it will keep the metadata of every store and
//! region (from store and region heartbeats, `schedulerpb`), allocate ids,
//! answer "which region holds this key, and who leads it", and balance
//! regions and leaders across stores by sending operators (add peer, remove
//! peer, transfer leader) in heartbeat responses.
//!
//! Until then the test cluster uses a mock scheduler (in the `tests` crate)
//! that reads region metadata directly from the stores.
