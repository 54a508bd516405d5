//! # storage: the engine layer
//!
//! The only crate of tinykv-rs that talks to RocksDB. Everything above it
//! (raftstore, server, tests) uses these types:
//!
//! | type | file | what it is |
//! |---|---|---|
//! | [`Engine`] | `engine.rs` | one RocksDB instance: get, write a batch, iterate, snapshot, ingest SST files |
//! | [`Engines`] | `engines.rs` | a store's two engines: `kv` (user data + region metadata) and `raft` (raft log + raft state) |
//! | [`WriteBatch`] | `write_batch.rs` | puts and deletes across column families, applied atomically |
//! | [`CfIterator`], [`IterOptions`] | `iterator.rs` | a bounded iterator over one column family |
//! | [`EngineSnapshot`] | `snapshot.rs` | a consistent point-in-time view that can cross threads |
//! | [`SstWriter`] | `sst_writer.rs` | builds an SST file for snapshot transfer |
//! | [`keys`] | `keys.rs` | the byte layout of every key (a table in its docs) |
//! | [`Storage`], [`Modify`] | `kv_storage.rs` | what request handlers need from a store |
//! | [`StorageReader`], [`KvIterator`] | `reader.rs` | the read side of `Storage` |
//! | [`StandaloneStorage`] | `standalone_storage.rs` | lab 1: `Storage` on one RocksDB |
//! | [`mvcc`] | `mvcc/` | lab 4A: versioned keys over the lock/write/default column families: [`mvcc::MvccTxn`], [`mvcc::Scanner`], the [`mvcc::Lock`] and [`mvcc::Write`] records |
//! | [`Error`] | `errors.rs` | the error type of all of the above |
//!
//! No thread lives here: every function runs on its caller's thread.
//! RocksDB is internally synchronized, so engines are shared by cloning.

#![deny(missing_docs)]

mod engine;
mod engines;
mod errors;
mod iterator;
pub mod keys;
mod kv_storage;
pub mod mvcc;
mod reader;
mod snapshot;
mod sst_writer;
mod standalone_storage;
mod write_batch;

pub use engine::{Engine, WriteStatistics, ALL_CFS, CF_DEFAULT, CF_LOCK, CF_WRITE};
pub use engines::Engines;
pub use errors::{Error, Result};
pub use iterator::{CfIterator, IterOptions};
pub use kv_storage::{Modify, Storage};
pub use reader::{KvIterator, StorageReader};
pub use snapshot::EngineSnapshot;
pub use sst_writer::SstWriter;
pub use standalone_storage::StandaloneStorage;
pub use write_batch::WriteBatch;
