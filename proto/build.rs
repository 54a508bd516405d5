//! Compiles `proto/*.proto` into Rust with rust-protobuf's pure-Rust parser,
//! so no `protoc` binary is needed on the machine.

use protobuf::reflect::FieldDescriptor;
use protobuf_codegen::{Customize, CustomizeCallback};

/// Raft's own messages (`eraftpb.proto`) get `bytes::Bytes` for their
/// `bytes` fields (entry data, snapshot data, message and conf-change
/// context): an entry's payload is cloned at every hop inside raft (into
/// the Ready, into each follower's MsgAppend, back out of storage as a
/// committed entry), and with `Bytes` each clone is a reference-count bump
/// instead of a copy. Only this file: the client API and raftstore's own
/// messages are built once and moved, and keeping them `Vec<u8>` spares
/// every handler a conversion.
struct SharedRaftPayloads;

impl CustomizeCallback for SharedRaftPayloads {
    // Per field: rust-protobuf applies a file's customization to the file
    // alone, not to the messages in it.
    fn field(&self, field: &FieldDescriptor) -> Customize {
        let message = field.containing_message();
        let in_eraftpb = message.file_descriptor().proto().name() == "eraftpb.proto";
        Customize::default().tokio_bytes(in_eraftpb)
    }
}

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
        .customize(Customize::default().generate_accessors(true))
        .customize_callback(SharedRaftPayloads)
        .cargo_out_dir("protos")
        .run_from_script();
}
