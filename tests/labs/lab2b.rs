//! Lab 2B: a fault-tolerant key-value store on raft.

use std::time::Duration;

use raftstore::Config;
use tinykv_tests::cluster::Cluster;

/// Basic: a put on a 3-store cluster is readable and replicated to every store.
#[test]
fn basic_put_get() {
    let cluster = Cluster::new("lab2b::basic_put_get", 3, Config::for_tests());
    cluster.must_put(b"k1", b"v1");
    cluster.must_get_equal(b"k1", b"v1");
    for store_id in 1..=3 {
        cluster.must_store_have(store_id, b"k1", Some(b"v1"), Duration::from_secs(5));
    }
    cluster.must_delete(b"k1");
    cluster.must_get_none(b"k1");
}
