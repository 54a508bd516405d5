//! Course tooling for tinykv-rs, run as `cargo xtask <command>` (the alias
//! is in `.cargo/config.toml`).
//!
//! ```text
//! cargo xtask skeleton --labs 2b,2c --out DIR   stub those labs (earlier labs stay solved)
//! cargo xtask skeleton --from 2b --out DIR      stub 2B and every later lab
//! cargo xtask skeleton --all --out DIR          stub every lab: the course's starting point
//! cargo xtask check-markers                     validate every marker, write nothing
//! ```
//!
//! The marker convention is in ARCHITECTURE.md ("Lab markers"); how staff
//! use the skeletons is in docs/labs/README.md.

mod error;
mod lab;
mod markers;
mod rewrite;
mod skeleton;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use error::{Error, Result};
use lab::Lab;

const USAGE: &str = "\
usage:
  cargo xtask skeleton (--labs LAB[,LAB...] | --from LAB | --all) --out DIR [--root DIR]
  cargo xtask check-markers [--root DIR]

Labs: 1, 2aa, 2ab, 2ac, 2b, 2c, 3a, 3b, 3c, 4a, 4b, 4c (course order).
--labs stubs exactly those labs, --from a lab and every later one, --all every lab.
--root is the tree to read (default: the workspace this command belongs to).";

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    match run(&arguments) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error}");
            if matches!(error, Error::Usage(_)) {
                eprintln!("\n{USAGE}");
            }
            ExitCode::FAILURE
        }
    }
}

/// The parsed command line.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Skeleton {
        labs: BTreeSet<Lab>,
        out: PathBuf,
        root: PathBuf,
    },
    CheckMarkers {
        root: PathBuf,
    },
    Help,
}

fn run(arguments: &[String]) -> Result<()> {
    match parse_arguments(arguments, &default_root())? {
        Command::Help => {
            println!("{USAGE}");
            Ok(())
        }
        Command::CheckMarkers { root } => {
            let summary = skeleton::check(&root)?;
            let counts: Vec<String> = summary
                .regions_per_lab
                .iter()
                .map(|(lab, count)| format!("{} {count}", lab.name()))
                .collect();
            println!("markers ok; regions per lab: {}", counts.join(", "));
            if !summary.staff_files.is_empty() {
                println!("staff-only files: {}", display_paths(&summary.staff_files));
            }
            Ok(())
        }
        Command::Skeleton { labs, out, root } => {
            let summary = skeleton::generate(&root, &out, &labs)?;
            let names: Vec<&str> = labs.iter().map(|lab| lab.name()).collect();
            println!(
                "skeleton for lab {} in {}: {} stubs, {} helpers removed, {} staff-only files left out; see {}",
                names.join(", "),
                out.display(),
                summary.stubs.len(),
                summary.removed.len(),
                summary.staff_files.len(),
                out.join("LABS.md").display()
            );
            Ok(())
        }
    }
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|path| path.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The workspace root: xtask lives one level below it. `cargo run` (what
/// `cargo xtask` is) tells the running binary where its manifest is;
/// that is preferred over the path compiled in, because a build cache
/// shared between checkouts can hand this checkout a binary compiled in
/// another one (see scripts/claim-target.sh).
fn default_root() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

fn parse_labs(list: &str) -> Result<BTreeSet<Lab>> {
    list.split(',')
        .filter(|name| !name.trim().is_empty())
        .map(|name| {
            Lab::from_argument(name).ok_or_else(|| {
                Error::Usage(format!(
                    "unknown lab '{name}' (the labs are {})",
                    Lab::all_names()
                ))
            })
        })
        .collect()
}

fn parse_arguments(arguments: &[String], default_root: &Path) -> Result<Command> {
    let Some((command, options)) = arguments.split_first() else {
        return Ok(Command::Help);
    };
    let mut labs: Option<BTreeSet<Lab>> = None;
    let mut out = None;
    let mut root = default_root.to_path_buf();
    let mut index = 0;
    let value = |index: usize, option: &str| {
        options
            .get(index + 1)
            .cloned()
            .ok_or_else(|| Error::Usage(format!("{option} needs a value")))
    };
    let mut set_labs = |chosen: BTreeSet<Lab>| {
        if labs.replace(chosen).is_some() {
            return Err(Error::Usage(
                "give one of --labs, --from and --all".to_string(),
            ));
        }
        Ok(())
    };
    while index < options.len() {
        match options[index].as_str() {
            "--labs" => {
                set_labs(parse_labs(&value(index, "--labs")?)?)?;
                index += 1;
            }
            "--from" => {
                let first = value(index, "--from")?;
                let lab = Lab::from_argument(&first).ok_or_else(|| {
                    Error::Usage(format!(
                        "unknown lab '{first}' (the labs are {})",
                        Lab::all_names()
                    ))
                })?;
                set_labs(Lab::ALL.into_iter().filter(|later| *later >= lab).collect())?;
                index += 1;
            }
            "--all" => set_labs(Lab::ALL.into_iter().collect())?,
            "--out" => {
                out = Some(PathBuf::from(value(index, "--out")?));
                index += 1;
            }
            "--root" => {
                root = PathBuf::from(value(index, "--root")?);
                index += 1;
            }
            "-h" | "--help" => return Ok(Command::Help),
            other => return Err(Error::Usage(format!("unknown option '{other}'"))),
        }
        index += 1;
    }
    match command.as_str() {
        "skeleton" => {
            let labs = labs.filter(|labs| !labs.is_empty()).ok_or_else(|| {
                Error::Usage("skeleton needs --labs, --from or --all".to_string())
            })?;
            let out = out.ok_or_else(|| Error::Usage("skeleton needs --out DIR".to_string()))?;
            Ok(Command::Skeleton { labs, out, root })
        }
        "check-markers" => {
            if labs.is_some() || out.is_some() {
                return Err(Error::Usage("check-markers takes only --root".to_string()));
            }
            Ok(Command::CheckMarkers { root })
        }
        "help" | "-h" | "--help" => Ok(Command::Help),
        other => Err(Error::Usage(format!("unknown command '{other}'"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Command> {
        let arguments: Vec<String> = line.split_whitespace().map(String::from).collect();
        parse_arguments(&arguments, Path::new("/repo"))
    }

    #[test]
    fn labs_from_and_all_choose_the_stubbed_labs() {
        let Command::Skeleton { labs, out, root } =
            parse("skeleton --labs 2b,2C --out /tmp/s").unwrap()
        else {
            panic!("not a skeleton command");
        };
        assert_eq!(labs, BTreeSet::from([Lab::TwoB, Lab::TwoC]));
        assert_eq!(out, PathBuf::from("/tmp/s"));
        assert_eq!(root, PathBuf::from("/repo"));
        let Command::Skeleton { labs, .. } = parse("skeleton --from 4b --out x").unwrap() else {
            panic!("not a skeleton command");
        };
        assert_eq!(labs, BTreeSet::from([Lab::FourB, Lab::FourC]));
        let Command::Skeleton { labs, .. } = parse("skeleton --all --out x").unwrap() else {
            panic!("not a skeleton command");
        };
        assert_eq!(labs.len(), Lab::ALL.len());
    }

    #[test]
    fn bad_command_lines_are_usage_errors() {
        for line in [
            "skeleton --labs 2b",
            "skeleton --out x",
            "skeleton --labs 9z --out x",
            "skeleton --labs 2b --all --out x",
            "skeleton --labs",
            "check-markers --all",
            "frobnicate",
        ] {
            assert!(matches!(parse(line), Err(Error::Usage(_))), "{line}");
        }
        assert_eq!(parse("").unwrap(), Command::Help);
    }
}
