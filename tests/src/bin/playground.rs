//! The playground: what `make run` starts — a local 3-store cluster in one
//! process, driven by typed commands (see `tests/src/playground.rs`).
//!
//! ```text
//! make run                                  # interactive if stdin is a terminal, else the demo
//! make run ARGS="--script my.txt"           # run a command file
//! make run ARGS="--data-dir /tmp/cluster"   # keep the stores' data
//! cargo run -p tinykv-tests --bin playground -- --help
//! ```

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use tinykv_tests::cluster::test_seed;
use tinykv_tests::playground::{init_logging, Playground, DEMO_SCRIPT};

struct Options {
    data_dir: Option<PathBuf>,
    script: Option<PathBuf>,
    stores: u64,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        data_dir: None,
        script: None,
        stores: 3,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data-dir" => {
                options.data_dir = Some(PathBuf::from(
                    args.next().ok_or("--data-dir needs a directory")?,
                ))
            }
            "--script" => {
                options.script = Some(PathBuf::from(args.next().ok_or("--script needs a file")?))
            }
            "--stores" => {
                let text = args.next().ok_or("--stores needs a number")?;
                options.stores = text
                    .parse()
                    .map_err(|_| format!("--stores {text:?} is not a number"))?;
                if !(1..=7).contains(&options.stores) {
                    return Err("--stores must be between 1 and 7".to_string());
                }
            }
            "-h" | "--help" => {
                println!("usage: playground [--stores N] [--data-dir DIR] [--script FILE]");
                println!("With no terminal on stdin (and no --script) it runs a built-in demo and exits.");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(options)
}

/// Runs script lines, echoing each; stops at the first failing command.
fn run_script(playground: &Playground, script: &str) -> Result<(), String> {
    for line in script.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with('#') {
            println!("{trimmed}");
            continue;
        }
        println!("> {trimmed}");
        match playground.execute(trimmed) {
            Ok(Some(output)) => println!("{output}"),
            Ok(None) => return Ok(()),
            Err(error) => return Err(format!("{trimmed:?} failed: {error}")),
        }
    }
    Ok(())
}

fn run() -> Result<(), String> {
    let options = parse_options()?;
    init_logging();
    let seed = test_seed("playground");
    println!(
        "tinykv-rs playground: {} stores in one process",
        options.stores
    );
    let playground = Playground::start(options.stores, options.data_dir.clone(), seed);
    if let Some(dir) = &options.data_dir {
        println!("data in {}", dir.display());
    }
    if let Some(script) = options.script {
        let text = std::fs::read_to_string(&script)
            .map_err(|error| format!("{}: {error}", script.display()))?;
        return run_script(&playground, &text);
    }
    if !std::io::stdin().is_terminal() {
        println!("(stdin is not a terminal: running the built-in demo)");
        return run_script(&playground, DEMO_SCRIPT);
    }
    println!("type `help` for commands, `quit` to leave");
    let stdin = std::io::stdin();
    loop {
        print!("tinykv> ");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        if stdin
            .lock()
            .read_line(&mut line)
            .map_err(|error| error.to_string())?
            == 0
        {
            return Ok(());
        }
        match playground.execute(&line) {
            Ok(Some(output)) if !output.is_empty() => println!("{output}"),
            Ok(Some(_)) => {}
            Ok(None) => return Ok(()),
            Err(error) => println!("error: {error}"),
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("playground: {error}");
            ExitCode::FAILURE
        }
    }
}
