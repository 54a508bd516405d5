//! The protocol buffer messages of tinykv-rs.
//!
//! The `.proto` files in `proto/proto/` are the source of truth; `build.rs`
//! compiles them at build time with rust-protobuf 3 (pure-Rust parser, no
//! `protoc`). Package and field names follow TinyKV/TiKV so that course
//! material maps one to one:
//!
//! | module | what it holds | used by |
//! |---|---|---|
//! | [`eraftpb`] | raft's entries, messages, hard state, snapshots, conf changes | `raft`, `raftstore` |
//! | [`metapb`] | stores, regions (key range, epoch, peers) | everyone |
//! | [`raft_serverpb`] | what raftstore persists per region; RaftMessage; snapshot files and chunks | `raftstore`, `storage` |
//! | [`raft_cmdpb`] | commands proposed to raft (Get/Put/Delete/Snap, admin commands) | `raftstore`, `server` |
//! | [`errorpb`] | region errors (NotLeader, EpochNotMatch, ...) | `raftstore`, `server`, clients |
//! | [`kvrpcpb`] | the client API: raw and transactional requests | `server` |
//! | [`schedulerpb`] | heartbeats, operators, ids, timestamps; the `Scheduler` service | `scheduler`, `network` |
//! | [`tinykvpb`] | the `TinyKv` service (client API, raft and snapshot streams); no messages of its own | `network` |
//!
//! rust-protobuf generates messages, not services: the `service` blocks in
//! `tinykvpb.proto` and `schedulerpb.proto` are the contract, and the
//! `network` crate implements them by hand (method paths
//! `/tinykvpb.TinyKv/RawGet`, `/schedulerpb.Scheduler/AllocID`, ...).
//!
//! rust-protobuf 3 generates plain structs with public fields; an enum field
//! is an `EnumOrUnknown<T>` (read it with `.enum_value()`, or the
//! `enum_value_or_default()` helper), and a message field is a
//! `MessageField<T>` (`.is_some()`, `.as_ref()`, `.mut_or_insert_default()`).

#![allow(
    missing_docs,
    reason = "generated code carries the .proto comments, not rustdoc"
)]

include!(concat!(env!("OUT_DIR"), "/protos/mod.rs"));

pub use protobuf;
