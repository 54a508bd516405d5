//! [`LocalClusterError`]: what can go wrong when `tinykv cluster` starts,
//! stops or inspects the processes of a local cluster.
//!
//! Every failure of the commands is one of these, with the directory,
//! process or address it concerns, so the command line can print it and
//! exit non-zero instead of panicking.

use std::path::PathBuf;
use std::time::Duration;

/// A failure of a local-cluster command.
#[derive(Debug, thiserror::Error)]
pub enum LocalClusterError {
    /// A file or directory operation failed (creating the data directory,
    /// a log file, reading or writing the state file).
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the path.
        what: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The state file exists but does not parse, or cannot be written.
    #[error("the state file {path} is unusable: {reason}")]
    StateFile {
        /// The state file.
        path: PathBuf,
        /// Why it is unusable.
        reason: String,
    },
    /// The directory holds no cluster (no state file): `cluster up` first.
    #[error("no cluster in {0} (no state file; start one with `tinykv cluster up --dir {0}`)", .dir.display())]
    NoCluster {
        /// The directory looked in.
        dir: PathBuf,
    },
    /// `cluster up` found processes of the directory's cluster still alive.
    #[error("the cluster in {} is already running ({}); stop it with `tinykv cluster down`", .dir.display(), .names.join(", "))]
    AlreadyRunning {
        /// The cluster's directory.
        dir: PathBuf,
        /// The processes found alive.
        names: Vec<String>,
    },
    /// The command named a process the cluster does not have.
    #[error("no process {name} in this cluster (it has: {})", .known.join(", "))]
    UnknownProcess {
        /// The name asked for.
        name: String,
        /// The names the cluster has.
        known: Vec<String>,
    },
    /// `cluster start` named a process that is still alive.
    #[error("{name} is still running (pid {pid})")]
    StillRunning {
        /// The process.
        name: String,
        /// Its pid.
        pid: u32,
    },
    /// The command line was unusable (a store count of 0, a base port
    /// that leaves no room for the stores' ports).
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// Starting a process failed (the binary is missing or not executable).
    #[error("cannot start {name} ({}): {source}", .binary.display())]
    Spawn {
        /// The process's name.
        name: String,
        /// The binary that was run.
        binary: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A process exited while the cluster was starting.
    #[error("{name} exited during startup; see its log {}", .log.display())]
    ExitedEarly {
        /// The process.
        name: String,
        /// Its log file.
        log: PathBuf,
    },
    /// Signalling a process failed for another reason than its being gone.
    #[error("cannot signal {name} (pid {pid}): {source}")]
    Signal {
        /// The process.
        name: String,
        /// Its pid.
        pid: u32,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The cluster did not reach a state in time (a leader, a write, a
    /// process gone after SIGKILL).
    #[error("timed out after {after:?} waiting for {what} (last: {last})")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long it waited.
        after: Duration,
        /// The last answer or error seen.
        last: String,
    },
    /// A gRPC client could not be created (an address that does not parse).
    #[error(transparent)]
    Network(#[from] network::Error),
}

/// The result of a local-cluster command.
pub type Result<T> = std::result::Result<T, LocalClusterError>;
