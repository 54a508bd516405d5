//! # network: tinykv-rs across processes (gRPC)
//!
//! The services, clients and transport that let stores, the scheduler and
//! clients run as separate processes, on tonic (gRPC over HTTP/2) and
//! tokio. The messages are the project's rust-protobuf 3 types, carried by
//! a codec of our own ([`ProtobufCodec`]); rust-protobuf generates no
//! service code, so the services' plumbing is written here by hand
//! (`method_handler.rs` says why and how).
//!
//! Threads: tokio runs only at this edge. The gRPC servers, the clients and
//! the transport's connections are tasks on one tokio runtime per process;
//! raftstore keeps its own threads and crossbeam channels. Where the two
//! meet: a service hands raft messages to the store's `Router` (never
//! blocks) and runs request handlers and the snapshot receiver on tokio's
//! blocking pool; raftstore's threads call the transport (queues a message,
//! never blocks the raft worker) and the scheduler client (blocks its
//! worker thread on the runtime, as a network call must).
//!
//! ```text
//!             ┌───────────── store process ──────────────┐
//!  client ──▶ │ TinyKvService ──▶ server::Server ──▶ raftstore ──Transport──▶ GrpcTransport ──▶ other stores' TinyKvService
//!             │      └─ Raft/Snapshot streams ──▶ Router / SnapshotReceiver
//!             │ raftstore ──SchedulerClient──▶ RemoteScheduler ──▶ SchedulerGrpcService (scheduler process)
//!             └──────────────────────────────────────────┘
//! ```
//!
//! | type | file | runs on | what it is |
//! |---|---|---|---|
//! | [`ProtobufCodec`] | `codec.rs` | runtime | rust-protobuf messages in gRPC frames; size limit; decode errors as statuses |
//! | [`MethodHandler`] and helpers | `method_handler.rs` | runtime | the server side of unary, client-streaming and bidirectional methods |
//! | [`TinyKvService`] | `tinykv_service.rs` | runtime (+ blocking pool) | a store's `TinyKv` service: raw/txn requests, raft and snapshot streams |
//! | [`DebugService`] | `debug_service.rs` | runtime (+ blocking pool) | a store's `Debug` service: region digests, log compaction, splits, snapshot export |
//! | [`StoreServices`] | `store_services.rs` | runtime | a store's port: `Debug` paths to [`DebugService`], the rest to [`TinyKvService`] |
//! | [`SchedulerGrpcService`] | `scheduler_service.rs` | runtime (+ blocking pool) | the `Scheduler` service over `scheduler::Scheduler` |
//! | [`GrpcServer`] | `grpc_server.rs` | runtime | one service served on a listener; graceful, bounded stop |
//! | [`GrpcChannel`] | `grpc_channel.rs` | runtime | the client side: one connection, three ways to call |
//! | [`LockstepStream`] | `lockstep_stream.rs` | runtime | request/answer pairs over one bidirectional stream (heartbeats, tso) |
//! | [`TinyKvClient`] | `tinykv_client.rs` | runtime | calls one store |
//! | [`DebugClient`] | `debug_client.rs` | runtime | calls one store's `Debug` service |
//! | [`AnyStoreClient`] | `any_store_client.rs` | runtime | the raw API over several stores without routing: the first store that serves (smoke tests) |
//! | [`SchedulerGrpcClient`] | `scheduler_grpc_client.rs` | runtime | every scheduler call, async, typed errors |
//! | [`RemoteScheduler`] | `remote_scheduler.rs` | caller's thread (blocks on the runtime) | raftstore's `SchedulerClient`; blocking calls for tools |
//! | [`GrpcTransport`] | `grpc_transport.rs` | raft worker / snap_runner threads | raftstore's `Transport` |
//! | [`RaftConnection`] | `raft_connection.rs` | runtime | one peer store's raft stream: connect, forward, back off |
//! | [`StoreNode`] | `store_node.rs` | caller + runtime | a store process: bootstrap, raftstore, service |
//! | [`SchedulerNode`] | `scheduler_node.rs` | caller + runtime | the scheduler process: service and schedule tick |
//! | [`Error`] | `errors.rs` | — | this crate's errors |
//!
//! The `tinykv` binary (`tests/src/bin/tinykv.rs`) runs a [`StoreNode`] or
//! a [`SchedulerNode`] until SIGINT/SIGTERM.

#![deny(missing_docs)]

mod any_store_client;
mod codec;
mod debug_client;
mod debug_service;
mod errors;
mod grpc_channel;
mod grpc_server;
mod grpc_transport;
mod lockstep_stream;
mod method_handler;
mod raft_connection;
mod remote_scheduler;
mod scheduler_grpc_client;
mod scheduler_node;
mod scheduler_service;
mod store_node;
mod store_services;
mod tinykv_client;
mod tinykv_service;

pub use any_store_client::AnyStoreClient;
pub use codec::{ProtobufCodec, ProtobufDecoder, ProtobufEncoder, DEFAULT_MAX_MESSAGE_SIZE};
pub use debug_client::DebugClient;
pub use debug_service::{DebugService, DebugServiceParts, DEBUG_SERVICE_PREFIX};
pub use errors::{Error, Result};
pub use grpc_channel::{GrpcChannel, CONNECT_TIMEOUT};
pub use grpc_server::GrpcServer;
pub use grpc_transport::{GrpcTransport, RAFT_QUEUE_SIZE};
pub use lockstep_stream::LockstepStream;
pub use method_handler::{
    answer_each, blocking, client_streaming, server_streaming, streaming, unary, unimplemented,
    MethodFuture, MethodHandler,
};
pub use raft_connection::RaftConnection;
pub use remote_scheduler::RemoteScheduler;
pub use scheduler_grpc_client::{store_info, SchedulerGrpcClient, SCHEDULER_REQUEST_TIMEOUT};
pub use scheduler_node::{SchedulerNode, SchedulerNodeOptions};
pub use scheduler_service::{error_type, store_summary, SchedulerGrpcService, MAX_TSO_COUNT};
pub use store_node::{StoreNode, StoreNodeOptions, SCHEDULER_WAIT};
pub use store_services::StoreServices;
pub use tinykv_client::{TinyKvClient, STORE_REQUEST_TIMEOUT};
pub use tinykv_service::TinyKvService;
