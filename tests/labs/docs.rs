//! Keeps `docs/` true to the code: every function a document names must
//! exist in the source.
//!
//! A name counts as a function reference when it is written in backticks as
//! `Type::function` or `function()`. For `Type::function` the type must be
//! defined too (a Rust struct/enum/trait/type, or a protobuf message).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives one level below the repository root")
        .to_path_buf()
}

/// Every file under `dir` with the given extension, skipping build output.
fn files_with_extension(dir: &Path, extension: &str, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "target" && name != ".git" {
                files_with_extension(&path, extension, found);
            }
        } else if path.extension().is_some_and(|e| e == extension) {
            found.push(path);
        }
    }
}

fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// (type, function) pairs named in backticks; type is empty for `function()`.
fn function_references(markdown: &str) -> Vec<(String, String)> {
    let mut references = Vec::new();
    for (index, span) in markdown.split('`').enumerate() {
        // Odd pieces are inside backticks.
        if index % 2 == 0 || span.contains(' ') {
            continue;
        }
        let had_parens = span.ends_with("()");
        let span = span.trim_end_matches("()");
        let parts: Vec<&str> = span.split("::").collect();
        if !parts.iter().all(|part| is_identifier(part)) {
            continue;
        }
        let function = parts[parts.len() - 1];
        if !function.starts_with(|c: char| c.is_ascii_lowercase() || c == '_') {
            continue;
        }
        if parts.len() >= 2 && parts[parts.len() - 2].starts_with(|c: char| c.is_ascii_uppercase())
        {
            references.push((parts[parts.len() - 2].to_string(), function.to_string()));
        } else if had_parens {
            references.push((String::new(), function.to_string()));
        }
    }
    references
}

/// The functions a generated student tree left out (LABS.md's
/// "Solution-only helpers left out" lines name them as `Type::function`);
/// empty in the full tree, which has no LABS.md.
fn left_out_helpers(root: &Path) -> BTreeSet<String> {
    let Ok(labs) = std::fs::read_to_string(root.join("LABS.md")) else {
        return BTreeSet::new();
    };
    labs.lines()
        .filter(|line| line.starts_with("Solution-only helpers left out"))
        .flat_map(|line| line.split('`').skip(1).step_by(2))
        .filter_map(|name| name.rsplit("::").next())
        .map(str::to_string)
        .collect()
}

/// Every function named in docs/*.md (and the README and ARCHITECTURE) exists in the source.
#[test]
fn function_names_exist() {
    let root = repository_root();
    let mut sources = Vec::new();
    for crate_dir in [
        "proto",
        "raft",
        "storage",
        "raftstore",
        "scheduler",
        "server",
        "network",
        "tests",
    ] {
        files_with_extension(&root.join(crate_dir), "rs", &mut sources);
        files_with_extension(&root.join(crate_dir), "proto", &mut sources);
    }
    let source: String = sources
        .iter()
        .map(|path| std::fs::read_to_string(path).expect("read a source file"))
        .collect::<Vec<_>>()
        .join("\n");
    let defines_type = |name: &str| {
        ["struct", "enum", "trait", "type", "message"]
            .iter()
            .any(|keyword| {
                source.contains(&format!("{keyword} {name} "))
                    || source.contains(&format!("{keyword} {name}<"))
                    || source.contains(&format!("{keyword} {name}:"))
                    || source.contains(&format!("{keyword} {name};"))
                    || source.contains(&format!("{keyword} {name} {{"))
            })
    };
    // In a student tree, the solution-only helpers a handout mentions are
    // gone: LABS.md lists them as the student's to write.
    let left_out_helpers = left_out_helpers(&root);
    let defines_function = |name: &str| {
        source.contains(&format!("fn {name}("))
            || source.contains(&format!("fn {name}<"))
            || left_out_helpers.contains(name)
    };

    let mut documents = Vec::new();
    files_with_extension(&root.join("docs"), "md", &mut documents);
    documents.push(root.join("README.md"));
    documents.push(root.join("ARCHITECTURE.md"));
    let mut missing = BTreeSet::new();
    let mut checked = 0;
    for document in &documents {
        let text = std::fs::read_to_string(document).expect("read a document");
        for (type_name, function) in function_references(&text) {
            checked += 1;
            let type_ok = type_name.is_empty() || defines_type(&type_name);
            if !type_ok || !defines_function(&function) {
                let shown = if type_name.is_empty() {
                    format!("{function}()")
                } else {
                    format!("{type_name}::{function}")
                };
                missing.insert(format!(
                    "{}: {shown}",
                    document.strip_prefix(&root).unwrap_or(document).display()
                ));
            }
        }
    }
    assert!(
        checked > 0,
        "no function references found in the docs: is the parser broken?"
    );
    assert!(
        missing.is_empty(),
        "documents name functions that do not exist in the source:\n  {}",
        missing.into_iter().collect::<Vec<_>>().join("\n  ")
    );
}

/// The reference parser finds `Type::function` and `function()` and skips plain words and paths.
#[test]
fn reference_parser_recognizes_function_names() {
    let text = "call `Server::raw_put` then `advance()`; not `lab1` nor `storage/src` nor `a b`";
    assert_eq!(
        function_references(text),
        vec![
            ("Server".to_string(), "raw_put".to_string()),
            (String::new(), "advance".to_string()),
        ]
    );
}
