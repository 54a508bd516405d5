//! Builders for the single requests of a `RaftCmdRequest` (Get, Put,
//! Delete, Snap), shared by the cluster's client helpers, the workload,
//! the playground and the tests.

use proto::raft_cmdpb::{CmdType, Request};
use storage::CF_DEFAULT;

/// A Put of `key` = `value` in column family `cf`.
pub fn put_request_cf(cf: &str, key: &[u8], value: &[u8]) -> Request {
    let mut request = Request::new();
    request.set_cmd_type(CmdType::Put);
    let put = request.mut_put();
    put.cf = cf.to_string();
    put.key = key.to_vec();
    put.value = value.to_vec();
    request
}

/// A Put in the default column family.
pub fn put_request(key: &[u8], value: &[u8]) -> Request {
    put_request_cf(CF_DEFAULT, key, value)
}

/// A Get of `key` in column family `cf`.
pub fn get_request_cf(cf: &str, key: &[u8]) -> Request {
    let mut request = Request::new();
    request.set_cmd_type(CmdType::Get);
    let get = request.mut_get();
    get.cf = cf.to_string();
    get.key = key.to_vec();
    request
}

/// A Get in the default column family.
pub fn get_request(key: &[u8]) -> Request {
    get_request_cf(CF_DEFAULT, key)
}

/// A Delete of `key` in the default column family.
pub fn delete_request(key: &[u8]) -> Request {
    let mut request = Request::new();
    request.set_cmd_type(CmdType::Delete);
    let delete = request.mut_delete();
    delete.cf = CF_DEFAULT.to_string();
    delete.key = key.to_vec();
    request
}

/// A Snap: a consistent view of the region, taken at apply time.
pub fn snap_request() -> Request {
    let mut request = Request::new();
    request.set_cmd_type(CmdType::Snap);
    request.mut_snap();
    request
}
