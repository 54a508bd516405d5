//! Compiles `proto/*.proto` into Rust with rust-protobuf's pure-Rust parser,
//! so no `protoc` binary is needed on the machine.

fn main() {
    let inputs = [
        "proto/eraftpb.proto",
        "proto/metapb.proto",
        "proto/errorpb.proto",
        "proto/raft_serverpb.proto",
        "proto/raft_cmdpb.proto",
        "proto/kvrpcpb.proto",
        "proto/schedulerpb.proto",
        "proto/tinykvpb.proto",
        "proto/debugpb.proto",
    ];
    for input in inputs {
        println!("cargo:rerun-if-changed={input}");
    }
    protobuf_codegen::Codegen::new()
        .pure()
        .include("proto")
        .inputs(inputs)
        // Accessors (`msg.msg_type()`, `msg.set_msg_type(..)`, `msg.mut_snapshot()`)
        // read better in the raft and raftstore code than the raw public fields,
        // especially for enums (`EnumOrUnknown`) and nested messages (`MessageField`).
        .customize(protobuf_codegen::Customize::default().generate_accessors(true))
        .cargo_out_dir("protos")
        .run_from_script();
}
