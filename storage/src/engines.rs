//! [`Engines`]: the two databases of one store.
//!
//! | engine | path | column families | holds |
//! |---|---|---|---|
//! | `kv` | `<dir>/kv` | default, lock, write | user data (`z`-prefixed), region state, apply state, store ident |
//! | `raft` | `<dir>/raft` | default | raft log entries, raft state (hard state, last index) |
//!
//! Why two: the raft log is written on every proposal and deleted in bulk
//! by log GC; user data is written on apply. Separate databases let each be
//! synced on its own schedule and compacted without disturbing the other.
//! The price is that no write batch spans both, so every place that writes
//! to both states the order it uses and why a crash between the two writes
//! is safe.

use std::path::{Path, PathBuf};

use crate::engine::Engine;
use crate::errors::Result;

/// The kv and raft engines of one store.
#[derive(Clone, Debug)]
pub struct Engines {
    /// User data and region metadata (see the module table).
    pub kv: Engine,
    /// The raft log and raft state.
    pub raft: Engine,
}

impl Engines {
    /// Opens (creating if missing) both engines under `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Engines> {
        let dir = dir.as_ref();
        Ok(Engines {
            kv: Engine::open_kv(dir.join("kv"))?,
            raft: Engine::open_raft(dir.join("raft"))?,
        })
    }

    /// The directory that holds the kv engine (the store's data directory is its parent).
    pub fn kv_path(&self) -> PathBuf {
        self.kv.path().to_path_buf()
    }
}
