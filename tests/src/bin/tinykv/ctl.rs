//! `tinykv ctl`: the command line of the cluster's client. Parses the
//! arguments (clap) and runs one `tinykv_tests::ctl::CtlClient` method per
//! command; the commands, their hops and their JSON are described in
//! `tests/src/ctl/` and `docs/ctl.md`.
//!
//! ```text
//! tinykv ctl --scheduler 127.0.0.1:2379 put k v
//! tinykv ctl get k --json
//! tinykv ctl regions
//! tinykv ctl split 2 m
//! ```
//!
//! Output: human-readable lines by default; `--json` prints one JSON
//! document on stdout, for scripts and the end-to-end tests. A failure is
//! one line on stderr and exit status 1.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use tinykv_tests::ctl::{CtlClient, CtlError, Output};

/// `tinykv ctl [--scheduler ADDR] [--json] COMMAND`.
#[derive(Args, Debug)]
pub struct CtlArgs {
    /// The scheduler's address (host:port).
    #[arg(long, global = true, default_value = "127.0.0.1:2379")]
    scheduler: String,
    /// Print one JSON document instead of human-readable lines.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: CtlCommand,
}

#[derive(Subcommand, Debug)]
enum CtlCommand {
    /// Read a raw key.
    Get {
        /// The key.
        key: String,
    },
    /// Write a raw key.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Delete a raw key.
    Delete {
        /// The key.
        key: String,
    },
    /// The raw pairs in [START, END).
    Scan {
        /// The first key.
        start: String,
        /// The end (exclusive); empty or absent: to the end of the keys.
        #[arg(default_value = "")]
        end: String,
        /// At most this many pairs.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Transactional commands (Percolator, through the lab 4 client).
    #[command(subcommand)]
    Txn(TxnCommand),
    /// Every region, in key order, with its peers and leader.
    Regions,
    /// Every store, with its address and region counts.
    Stores,
    /// The region holding a key.
    Region {
        /// The key.
        key: String,
    },
    /// Ask the scheduler to move a region's leadership to a store.
    TransferLeader {
        /// The region id.
        region: u64,
        /// The store that should lead.
        store: u64,
    },
    /// Ask the scheduler to add a peer of a region on a store.
    AddPeer {
        /// The region id.
        region: u64,
        /// The store to add a peer on.
        store: u64,
    },
    /// Ask the scheduler to remove a region's peer from a store.
    RemovePeer {
        /// The region id.
        region: u64,
        /// The store whose peer goes.
        store: u64,
    },
    /// Split a region so that a new region starts at KEY.
    Split {
        /// The region id.
        region: u64,
        /// The first key of the new region.
        key: String,
    },
    /// Snapshot commands.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Compact a region's raft log up to its applied index.
    Compact {
        /// The region id.
        region: u64,
    },
    /// Every replica's applied index and data digest of a region.
    Digest {
        /// The region id.
        region: u64,
    },
}

#[derive(Subcommand, Debug)]
enum TxnCommand {
    /// Read a key in a new transaction.
    Get {
        /// The key.
        key: String,
    },
    /// Write a key in a new transaction and commit it.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
}

#[derive(Subcommand, Debug)]
enum SnapshotCommand {
    /// Write a fresh snapshot of a region to DIR (SST files, meta, a JSON
    /// description) and verify the files' CRCs.
    Export {
        /// The region id.
        region: u64,
        /// The directory to write to (created if missing).
        dir: PathBuf,
    },
}

/// Runs one ctl command and prints its output.
pub fn run(args: CtlArgs) -> ExitCode {
    match execute(&args) {
        Ok(output) => {
            if args.json {
                println!("{}", output.json);
            } else {
                println!("{}", output.human);
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn execute(args: &CtlArgs) -> Result<Output, CtlError> {
    let client = CtlClient::new(&args.scheduler)?;
    match &args.command {
        CtlCommand::Get { key } => client.get(key.as_bytes()),
        CtlCommand::Put { key, value } => client.put(key.as_bytes(), value.as_bytes()),
        CtlCommand::Delete { key } => client.delete(key.as_bytes()),
        CtlCommand::Scan { start, end, limit } => {
            client.scan(start.as_bytes(), end.as_bytes(), *limit)
        }
        CtlCommand::Txn(TxnCommand::Get { key }) => client.txn_get(key.as_bytes()),
        CtlCommand::Txn(TxnCommand::Put { key, value }) => {
            client.txn_put(key.as_bytes(), value.as_bytes())
        }
        CtlCommand::Regions => client.regions(),
        CtlCommand::Stores => client.stores(),
        CtlCommand::Region { key } => client.region(key.as_bytes()),
        CtlCommand::TransferLeader { region, store } => client.transfer_leader(*region, *store),
        CtlCommand::AddPeer { region, store } => client.add_peer(*region, *store),
        CtlCommand::RemovePeer { region, store } => client.remove_peer(*region, *store),
        CtlCommand::Split { region, key } => client.split(*region, key.as_bytes()),
        CtlCommand::Snapshot(SnapshotCommand::Export { region, dir }) => {
            client.snapshot_export(*region, dir)
        }
        CtlCommand::Compact { region } => client.compact(*region),
        CtlCommand::Digest { region } => client.digest(*region),
    }
}
