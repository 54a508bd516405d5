//! The operating-system side of `tinykv cluster`: starting a detached
//! process with its log file, asking whether a recorded process still
//! runs, and signalling it.
//!
//! Runs on the caller's thread. Linux only, as the course machines are: a
//! process counts as alive when `/proc/PID/stat` shows it not a zombie and
//! `/proc/PID/cmdline` still shows the recorded arguments. Both checks
//! matter: a killed child of an exited `cluster up` may linger as a zombie
//! until something reaps it, and a pid may be reused by another program,
//! which `cluster down` must never signal.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use rustix::process::{kill_process, Pid, Signal};

use super::errors::{LocalClusterError, Result};
use super::state::ProcessRecord;

/// Starts `binary ARGS...` as `name`, its stdout and stderr appended to
/// `log`, in a process group of its own: a Ctrl-C in the terminal that ran
/// `cluster up` reaches `cluster up`, not the cluster, and the process
/// outlives its parent. `RUST_LOG` is passed on, `info` by default.
pub fn spawn_detached(binary: &Path, name: &str, args: &[String], log: &Path) -> Result<Child> {
    let open_log = || {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|source| LocalClusterError::Io {
                what: format!("opening the log {}", log.display()),
                source,
            })
    };
    let stdout = open_log()?;
    let stderr = open_log()?;
    let log_level = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_string());
    Command::new(binary)
        .args(args)
        .env("RUST_LOG", log_level)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        .spawn()
        .map_err(|source| LocalClusterError::Spawn {
            name: name.to_string(),
            binary: binary.to_path_buf(),
            source,
        })
}

/// Whether the recorded process still runs (see the module docs).
pub fn is_alive(record: &ProcessRecord) -> bool {
    let proc_dir = Path::new("/proc").join(record.pid.to_string());
    let Ok(stat) = std::fs::read_to_string(proc_dir.join("stat")) else {
        return false;
    };
    // "PID (COMM) STATE ...": COMM may hold spaces and parentheses, so the
    // state is the first field after the last ')'.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    if matches!(state, None | Some("Z") | Some("X")) {
        return false;
    }
    let Ok(command_line) = std::fs::read(proc_dir.join("cmdline")) else {
        return false;
    };
    let arguments: Vec<&[u8]> = command_line
        .split(|byte| *byte == 0)
        .filter(|argument| !argument.is_empty())
        .skip(1)
        .collect();
    arguments.len() == record.args.len()
        && arguments
            .iter()
            .zip(&record.args)
            .all(|(running, recorded)| *running == recorded.as_bytes())
}

/// Sends `signal` to the recorded process if it is alive; returns whether
/// it was (a process that exited in between counts as gone, not an error).
pub fn signal(record: &ProcessRecord, signal: Signal) -> Result<bool> {
    if !is_alive(record) {
        return Ok(false);
    }
    let Some(pid) = i32::try_from(record.pid).ok().and_then(Pid::from_raw) else {
        return Ok(false);
    };
    match kill_process(pid, signal) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::SRCH) => Ok(false),
        Err(error) => Err(LocalClusterError::Signal {
            name: record.name.clone(),
            pid: record.pid,
            source: error.into(),
        }),
    }
}

/// SIGTERM: stop cleanly.
pub const TERMINATE: Signal = Signal::TERM;
/// SIGKILL: `kill -9`.
pub const KILL: Signal = Signal::KILL;
