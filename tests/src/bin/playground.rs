//! The playground: what `make run` starts.
//!
//! For now it opens a standalone store (lab 1) in a temporary directory
//! (or `--data-dir DIR` to keep it), writes, reads, deletes and scans a few
//! keys through the raw API handlers, and prints every request and answer.
//! Run it with `make run` or `cargo run -p tinykv-tests --bin playground`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use proto::kvrpcpb::{RawDeleteRequest, RawGetRequest, RawPutRequest, RawScanRequest};
use server::Server;
use storage::StandaloneStorage;

fn parse_data_dir() -> Result<Option<PathBuf>, String> {
    let mut args = std::env::args().skip(1);
    let mut data_dir = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data-dir" => {
                let dir = args.next().ok_or("--data-dir needs a directory")?;
                data_dir = Some(PathBuf::from(dir));
            }
            "-h" | "--help" => {
                println!("usage: playground [--data-dir DIR]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(data_dir)
}

fn run() -> Result<(), String> {
    let data_dir = parse_data_dir()?;
    // The temp dir (if any) lives until the end of run(), then is removed.
    let temp_dir;
    let dir = match data_dir {
        Some(dir) => dir,
        None => {
            temp_dir = tempfile::Builder::new()
                .prefix("tinykv-playground-")
                .tempdir()
                .map_err(|error| format!("cannot create a temp dir: {error}"))?;
            temp_dir.path().to_path_buf()
        }
    };
    println!(
        "tinykv-rs playground: standalone store in {}",
        dir.display()
    );
    let storage = StandaloneStorage::open(&dir).map_err(|error| error.to_string())?;
    let server = Server::new(Arc::new(storage));

    for (key, value) in [
        ("apple", "red"),
        ("banana", "yellow"),
        ("cherry", "dark red"),
    ] {
        let mut request = RawPutRequest::new();
        request.key = key.into();
        request.value = value.into();
        let response = server.raw_put(&request);
        println!("put {key} = {value:<9} -> {}", outcome(&response.error));
    }
    for key in ["banana", "durian"] {
        let mut request = RawGetRequest::new();
        request.key = key.into();
        let response = server.raw_get(&request);
        if response.not_found {
            println!("get {key:<16} -> not found");
        } else {
            println!(
                "get {key:<16} -> {}",
                String::from_utf8_lossy(&response.value)
            );
        }
    }
    let mut request = RawDeleteRequest::new();
    request.key = "apple".into();
    println!(
        "delete apple         -> {}",
        outcome(&server.raw_delete(&request).error)
    );
    let mut request = RawScanRequest::new();
    request.start_key = "a".into();
    request.limit = 10;
    let response = server.raw_scan(&request);
    println!("scan from a, limit 10 -> {} pairs", response.kvs.len());
    for pair in &response.kvs {
        println!(
            "    {} = {}",
            String::from_utf8_lossy(&pair.key),
            String::from_utf8_lossy(&pair.value)
        );
    }
    if !response.error.is_empty() {
        return Err(response.error);
    }
    println!("done");
    Ok(())
}

fn outcome(error: &str) -> &str {
    if error.is_empty() {
        "ok"
    } else {
        error
    }
}

fn main() -> ExitCode {
    env_logger::init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("playground: {error}");
            ExitCode::FAILURE
        }
    }
}
