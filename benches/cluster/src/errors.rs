//! [`BenchError`]: why a phase of the cluster benchmark could not run.
//! The bench prints it, skips the phase when it can (etcd missing), and
//! otherwise exits non-zero.

use std::path::PathBuf;

/// A failure of the cluster benchmark.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A file, directory or port operation failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A binary could not be started.
    #[error("cannot start {what}: {source}")]
    Spawn {
        /// Which binary.
        what: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A process exited while it was awaited.
    #[error("{what} exited; see {}", .log.display())]
    Exited {
        /// Which process, and how it ended.
        what: String,
        /// Its log.
        log: PathBuf,
    },
    /// Something awaited did not happen in time.
    #[error("timed out waiting for {what}")]
    Timeout {
        /// What was awaited, with the last answer.
        what: String,
    },
    /// A gRPC client could not be made.
    #[error(transparent)]
    Network(#[from] network::Error),
    /// The tinykv cluster of processes did not start or stop.
    #[error(transparent)]
    LocalCluster(#[from] tinykv_tests::local_cluster::LocalClusterError),
}

/// The result of a bench step.
pub type Result<T> = std::result::Result<T, BenchError>;
