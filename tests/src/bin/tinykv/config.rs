//! `--config FILE`: the optional TOML file of `tinykv scheduler` and
//! `tinykv server`. Its keys are the subcommand's flags without the
//! dashes in front (`addr`, `data-dir`, `scheduler`, `test-timers`,
//! `schedule-interval-ms`); a flag given on the command line wins over the
//! file, and the file over the built-in default.
//!
//! ```toml
//! # store-1.toml: tinykv server --config store-1.toml
//! addr = "127.0.0.1:20160"
//! data-dir = "/var/lib/tinykv/store-1"
//! scheduler = "127.0.0.1:2379"
//! test-timers = false
//! ```
//!
//! Runs on the main thread before anything starts. In: the file's path.
//! Out: the settings it names, or a [`ConfigError`] naming the file; an
//! unknown key is an error, so a typo is not silently ignored.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read the config file {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, has a key of the wrong type, or a key
    /// the subcommand does not know.
    #[error("the config file {} is invalid: {reason}", .path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (with line and column).
        reason: String,
    },
    /// A setting without a default is neither a flag nor in the file.
    #[error("--{0} is required (as a flag or in the config file)")]
    Missing(&'static str),
}

/// `tinykv scheduler`'s keys.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SchedulerFile {
    /// See `--addr`.
    pub addr: Option<String>,
    /// See `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// See `--schedule-interval-ms`.
    pub schedule_interval_ms: Option<u64>,
}

/// `tinykv server`'s keys.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServerFile {
    /// See `--addr`.
    pub addr: Option<String>,
    /// See `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// See `--scheduler`.
    pub scheduler: Option<String>,
    /// See `--test-timers`.
    pub test_timers: Option<bool>,
}

/// Reads `path` as `File`'s keys; no path: every key unset.
pub fn load<File: DeserializeOwned + Default>(path: Option<&Path>) -> Result<File, ConfigError> {
    let Some(path) = path else {
        return Ok(File::default());
    };
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

fn parse<File: DeserializeOwned>(path: &Path, text: &str) -> Result<File, ConfigError> {
    toml::from_str(text).map_err(|error| ConfigError::Parse {
        path: path.to_path_buf(),
        reason: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every server key parses; a flag-less run gets the file's values.
    #[test]
    fn server_file_parses_every_key() {
        let file: ServerFile = parse(
            Path::new("store.toml"),
            "addr = \"127.0.0.1:1\"\ndata-dir = \"/d\"\nscheduler = \"127.0.0.1:2\"\ntest-timers = true\n",
        )
        .expect("a valid file");
        assert_eq!(
            file,
            ServerFile {
                addr: Some("127.0.0.1:1".to_string()),
                data_dir: Some(PathBuf::from("/d")),
                scheduler: Some("127.0.0.1:2".to_string()),
                test_timers: Some(true),
            }
        );
    }

    /// A misspelt key, a wrong type and broken TOML are typed errors.
    #[test]
    fn bad_files_are_typed_errors() {
        for text in [
            "adress = \"x\"",
            "schedule-interval-ms = \"soon\"",
            "addr = ",
        ] {
            let result: Result<SchedulerFile, _> = parse(Path::new("s.toml"), text);
            assert!(matches!(result, Err(ConfigError::Parse { .. })), "{text}");
        }
        let missing: Result<SchedulerFile, _> = load(Some(Path::new("/nonexistent/s.toml")));
        assert!(matches!(missing, Err(ConfigError::Read { .. })));
    }

    /// No `--config`: every key unset, so flags and defaults decide.
    #[test]
    fn no_file_sets_nothing() {
        let file: ServerFile = load(None).expect("no file is fine");
        assert_eq!(file, ServerFile::default());
    }
}
