//! [`ClusterState`]: the small TOML file (`cluster.toml`) in a local
//! cluster's directory that remembers its processes between commands.
//!
//! `tinykv cluster up` writes it, `kill` and `start` update a process's pid,
//! `down` and `status` read it: each command is a separate run of the
//! binary, and the file is all they share. It records, per process, the
//! name (`scheduler`, `store-1`, ...), the address, the pid and the exact
//! arguments, so a store restarts on the same address and data directory,
//! and a pid is only signalled while `/proc/PID/cmdline` still shows those
//! arguments (a pid reused by another program is left alone).
//!
//! Runs on the caller's thread. In: the directory. Out: the parsed state,
//! or a typed error naming the file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::errors::{LocalClusterError, Result};

/// The state file's name inside the cluster directory.
pub const STATE_FILE_NAME: &str = "cluster.toml";

/// One process of the cluster, as started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRecord {
    /// `scheduler` or `store-N` (N from 1): the name commands take.
    pub name: String,
    /// The address it serves on (`127.0.0.1:PORT`).
    pub address: String,
    /// The pid of its latest start (it may have exited since).
    pub pid: u32,
    /// The arguments it was started with, after the binary.
    pub args: Vec<String>,
}

/// Everything the cluster commands remember about a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    /// The `tinykv` binary every process runs.
    pub binary: PathBuf,
    /// The scheduler's address (also in its record), for clients.
    pub scheduler_address: String,
    /// The scheduler first, then the stores in order.
    pub processes: Vec<ProcessRecord>,
}

impl ClusterState {
    /// The state file of the cluster in `dir`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(STATE_FILE_NAME)
    }

    /// Reads the state of the cluster in `dir`; `NoCluster` when the file
    /// does not exist.
    pub fn load(dir: &Path) -> Result<ClusterState> {
        let path = ClusterState::path(dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(LocalClusterError::NoCluster {
                    dir: dir.to_path_buf(),
                })
            }
            Err(source) => {
                return Err(LocalClusterError::Io {
                    what: format!("reading {}", path.display()),
                    source,
                })
            }
        };
        toml::from_str(&text).map_err(|error| LocalClusterError::StateFile {
            path,
            reason: error.to_string(),
        })
    }

    /// Writes the state to `dir`: a temporary file renamed over the old
    /// one, so a command interrupted halfway leaves the previous state, not
    /// half a file.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = ClusterState::path(dir);
        let text = toml::to_string(self).map_err(|error| LocalClusterError::StateFile {
            path: path.clone(),
            reason: error.to_string(),
        })?;
        let temporary = dir.join(format!("{STATE_FILE_NAME}.tmp"));
        std::fs::write(&temporary, text)
            .and_then(|()| std::fs::rename(&temporary, &path))
            .map_err(|source| LocalClusterError::Io {
                what: format!("writing {}", path.display()),
                source,
            })
    }

    /// The record named `name`; `store-2`, `2` and `scheduler` are accepted.
    pub fn process(&self, name: &str) -> Result<&ProcessRecord> {
        let index = self.index_of(name)?;
        Ok(&self.processes[index])
    }

    /// The mutable record named `name` (see [`ClusterState::process`]).
    pub fn process_mut(&mut self, name: &str) -> Result<&mut ProcessRecord> {
        let index = self.index_of(name)?;
        Ok(&mut self.processes[index])
    }

    fn index_of(&self, name: &str) -> Result<usize> {
        let wanted = canonical_name(name);
        self.processes
            .iter()
            .position(|record| record.name == wanted)
            .ok_or_else(|| LocalClusterError::UnknownProcess {
                name: name.to_string(),
                known: self.names(),
            })
    }

    /// The stores' records, in order.
    pub fn stores(&self) -> impl Iterator<Item = &ProcessRecord> {
        self.processes
            .iter()
            .filter(|record| record.name.starts_with("store-"))
    }

    /// Every process's name.
    pub fn names(&self) -> Vec<String> {
        self.processes
            .iter()
            .map(|record| record.name.clone())
            .collect()
    }
}

/// `2` means `store-2`: stores are numbered in the order they were
/// started, which is what a user sees in `cluster status`.
fn canonical_name(name: &str) -> String {
    if name.parse::<u32>().is_ok() {
        format!("store-{name}")
    } else {
        name.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ClusterState {
        ClusterState {
            binary: PathBuf::from("/bin/tinykv"),
            scheduler_address: "127.0.0.1:1".to_string(),
            processes: vec![
                ProcessRecord {
                    name: "scheduler".to_string(),
                    address: "127.0.0.1:1".to_string(),
                    pid: 10,
                    args: vec!["scheduler".to_string()],
                },
                ProcessRecord {
                    name: "store-1".to_string(),
                    address: "127.0.0.1:2".to_string(),
                    pid: 11,
                    args: vec!["server".to_string(), "--addr".to_string()],
                },
            ],
        }
    }

    /// A saved state loads back equal, and a store is found by number or name.
    #[test]
    fn state_round_trips_and_names_resolve() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let state = sample();
        state.save(dir.path()).expect("saving");
        let loaded = ClusterState::load(dir.path()).expect("loading");
        assert_eq!(loaded, state);
        assert_eq!(loaded.process("1").expect("store 1").pid, 11);
        assert_eq!(loaded.process("store-1").expect("store 1").pid, 11);
        assert!(matches!(
            loaded.process("7"),
            Err(LocalClusterError::UnknownProcess { .. })
        ));
    }

    /// A missing file is `NoCluster`, a garbled one a `StateFile` error.
    #[test]
    fn missing_or_garbled_state_is_a_typed_error() {
        let dir = tempfile::tempdir().expect("a temp dir");
        assert!(matches!(
            ClusterState::load(dir.path()),
            Err(LocalClusterError::NoCluster { .. })
        ));
        std::fs::write(ClusterState::path(dir.path()), "processes = 3").expect("writing");
        assert!(matches!(
            ClusterState::load(dir.path()),
            Err(LocalClusterError::StateFile { .. })
        ));
    }
}
