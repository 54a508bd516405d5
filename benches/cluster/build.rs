//! Compiles the bench's own minimal etcd `.proto` (proto/etcd_kv.proto)
//! with rust-protobuf's pure-Rust parser, like the `proto` crate does for
//! the project's messages. It stays here: etcd's messages are no part of
//! the course's protocol.

fn main() {
    let input = "proto/etcd_kv.proto";
    println!("cargo:rerun-if-changed={input}");
    protobuf_codegen::Codegen::new()
        .pure()
        .include("proto")
        .input(input)
        .cargo_out_dir("etcd_protos")
        .run_from_script();
}
