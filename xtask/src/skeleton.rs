//! Generating a student tree: copy the repository, stub the chosen labs,
//! leave out the staff-only material, and write `LABS.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, Location, Result};
use crate::lab::Lab;
use crate::markers::{self, Owner};
use crate::rewrite::{self, LeftOutTests, RemovedHelper, Stub};

/// The file a generated tree has at its top, listing its stubs; its
/// presence is what marks a tree as generated.
const LABS_FILE: &str = "LABS.md";

/// Directories never copied: version control and build output.
const SKIPPED_DIRECTORIES: [&str; 2] = [".git", "target"];

/// Top-level directories whose files are never scanned for markers: the
/// generator's own tests hold broken markers on purpose.
const UNSCANNED_DIRECTORIES: [&str; 1] = ["xtask"];

/// The lints a crate with stubs would trip until its labs are done: the
/// solution's helpers and imports look unused, a stub ignores its
/// parameters, and code after a `todo!()` statement is unreachable.
const SKELETON_ALLOW: &str = "\
// Added by `cargo xtask skeleton`: until this crate's lab stubs are filled
// in, the code they leave unused would fail `clippy -D warnings`. Remove
// this attribute once your labs are done, to see those warnings again.
#![allow(dead_code, unused_imports, unused_variables, unused_mut, unreachable_code)]
";

/// One file of the tree with its markers.
struct MarkedFile {
    /// Relative to the root.
    path: PathBuf,
    text: String,
    regions: Vec<markers::Region>,
}

/// What `check` and `generate` learn about a tree.
#[derive(Debug, Default)]
pub struct Summary {
    /// Stubs written (empty for `check`).
    pub stubs: Vec<(PathBuf, Stub)>,
    /// Helpers removed.
    pub removed: Vec<(PathBuf, RemovedHelper)>,
    /// Staff-only files left out.
    pub staff_files: Vec<PathBuf>,
    /// Tests left out because they need a stubbed lab.
    pub left_out: Vec<(PathBuf, LeftOutTests)>,
    /// Lab regions per lab, in the whole tree.
    pub regions_per_lab: Vec<(Lab, usize)>,
}

/// Validates every marker of the tree at `root` without writing anything:
/// balanced, known labs, no nesting, links to anchored headings, regions
/// that wrap whole items, statements or arms, and handouts that name every
/// function a stub leaves to the student.
pub fn check(root: &Path) -> Result<Summary> {
    let (files, staff_files) = read_marked_files(root)?;
    let mut summary = Summary {
        staff_files,
        ..Summary::default()
    };
    summary.regions_per_lab = count_regions(&files);
    if root.join(LABS_FILE).is_file() {
        // A generated tree: its regions hold stubs (some empty) or a
        // student's work in progress, which need not be stub-able again.
        // The markers themselves were checked above.
        return Ok(summary);
    }
    let mut errors = Vec::new();
    for file in &files {
        match rewrite::rewrite(&file.path, &file.text, &file.regions, &|_| true) {
            Ok(rewritten) => {
                for stub in &rewritten.stubs {
                    errors.extend(unnamed_stubs(root, &file.path, stub));
                }
            }
            Err(error) => errors.push(error),
        }
    }
    Error::from_list(errors)?;
    Ok(summary)
}

/// Writes the skeleton of the tree at `root` into `out` with the labs in
/// `chosen` stubbed, and `out/LABS.md` listing the stubs.
///
/// An earlier skeleton in `out` is updated in place: a file whose contents
/// are already right is not written again, so its modification time (and
/// cargo's build of it) survives, and a rebuild after switching labs only
/// recompiles the crates that changed.
pub fn generate(root: &Path, out: &Path, chosen: &BTreeSet<Lab>) -> Result<Summary> {
    let (files, staff_files) = read_marked_files(root)?;
    let root = root
        .canonicalize()
        .map_err(|error| Error::io(root, error))?;
    prepare_output(&root, out)?;
    let out = out.canonicalize().map_err(|error| Error::io(out, error))?;

    let mut summary = Summary {
        staff_files,
        regions_per_lab: count_regions(&files),
        ..Summary::default()
    };
    // The files whose skeleton differs from the tree's, by relative path.
    let mut changed: BTreeMap<PathBuf, String> = BTreeMap::new();
    let mut errors = Vec::new();
    let mut crate_roots = BTreeSet::new();
    for file in &files {
        let rewritten = match rewrite::rewrite(&file.path, &file.text, &file.regions, &|lab| {
            chosen.contains(&lab)
        }) {
            Ok(rewritten) => rewritten,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        if !rewritten.stubs.is_empty() {
            match crate_root(&root, &file.path) {
                Some(crate_root) => {
                    crate_roots.insert(crate_root);
                }
                None => errors.push(Error::OutsideCrate {
                    location: Location::new(&file.path, 1),
                }),
            }
        }
        if rewritten.text != file.text {
            changed.insert(file.path.clone(), rewritten.text);
        }
        summary.stubs.extend(
            rewritten
                .stubs
                .into_iter()
                .map(|stub| (file.path.clone(), stub)),
        );
        summary.removed.extend(
            rewritten
                .removed
                .into_iter()
                .map(|helper| (file.path.clone(), helper)),
        );
        summary.left_out.extend(
            rewritten
                .left_out
                .into_iter()
                .map(|left_out| (file.path.clone(), left_out)),
        );
    }
    Error::from_list(errors)?;
    for crate_root in &crate_roots {
        compile_only_doc_examples(&root, crate_root, &mut changed)?;
    }
    for crate_root in crate_roots {
        let text = match changed.get(&crate_root) {
            Some(text) => text.clone(),
            None => {
                let path = root.join(&crate_root);
                std::fs::read_to_string(&path).map_err(|error| Error::io(&path, error))?
            }
        };
        changed.insert(crate_root, with_skeleton_allow(&text));
    }
    for (path, text) in changed.iter_mut() {
        if path.extension().is_some_and(|extension| extension == "rs") {
            *text = format_source(&root, path, text);
        }
    }

    let mut kept = BTreeSet::new();
    sync_tree(
        &root,
        &root,
        &out,
        &changed,
        &summary.staff_files,
        &mut kept,
    )?;
    kept.insert(PathBuf::from(LABS_FILE));
    remove_stale_files(&out, &out, &kept)?;
    write_if_changed(
        &out.join(LABS_FILE),
        labs_markdown(chosen, &summary).as_bytes(),
    )?;
    Ok(summary)
}

/// Makes the doc examples of the crate whose root file is `crate_root`
/// compile-only (`no_run`): in a crate with stubs they would call a
/// stub, and a skeleton's `make test` must fail only in the labs' graded
/// suites. They still compile, so they stay true to the API. Reads every
/// source file of the crate (from `changed` when already rewritten).
fn compile_only_doc_examples(
    root: &Path,
    crate_root: &Path,
    changed: &mut BTreeMap<PathBuf, String>,
) -> Result<()> {
    let Some(source_dir) = crate_root.parent() else {
        return Ok(());
    };
    let mut paths = Vec::new();
    list_rust_files(root, &root.join(source_dir), &mut paths)?;
    for path in paths {
        let text = match changed.get(&path) {
            Some(text) => text.clone(),
            None => {
                let absolute = root.join(&path);
                std::fs::read_to_string(&absolute).map_err(|error| Error::io(&absolute, error))?
            }
        };
        let compile_only = compile_only_fences(&text);
        if compile_only != text {
            changed.insert(path, compile_only);
        }
    }
    Ok(())
}

/// `text` with each doc-comment code fence that rustdoc would run
/// (```` ``` ```` or ```` ```rust ````) opened as ```` ```no_run ````.
fn compile_only_fences(text: &str) -> String {
    let mut output = String::with_capacity(text.len() + 64);
    let mut inside_fence = false;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let comment = ["//! ", "/// ", "//!", "///"]
            .into_iter()
            .find_map(|prefix| trimmed.strip_prefix(prefix));
        let Some(content) = comment else {
            output.push_str(line);
            continue;
        };
        let content = content.trim();
        if !content.starts_with("```") {
            output.push_str(line);
            continue;
        }
        let runs = matches!(content, "```" | "```rust");
        if !inside_fence && runs {
            let fence_at = line.find("```").unwrap_or(line.len());
            output.push_str(&line[..fence_at]);
            output.push_str("```no_run");
            output.push_str(&line[fence_at + content.len()..]);
        } else {
            output.push_str(line);
        }
        inside_fence = !inside_fence;
    }
    output
}

/// Every `.rs` file of the tree with its markers (staff-only files apart),
/// or every marker problem of the tree.
fn read_marked_files(root: &Path) -> Result<(Vec<MarkedFile>, Vec<PathBuf>)> {
    let mut paths = Vec::new();
    list_rust_files(root, root, &mut paths)?;
    paths.sort();
    let mut files = Vec::new();
    let mut staff_files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let absolute = root.join(&path);
        let text =
            std::fs::read_to_string(&absolute).map_err(|error| Error::io(&absolute, error))?;
        if markers::is_staff_only_file(&text) {
            staff_files.push(path);
            continue;
        }
        let regions = match markers::scan(&path, &text) {
            Ok(regions) => regions,
            Err(found) => {
                errors.extend(found);
                continue;
            }
        };
        for region in &regions {
            if !matches!(region.owner, Owner::Lab(_)) {
                continue;
            }
            if let Err(reason) = markers::check_link(root, &region.link) {
                errors.push(Error::BrokenLink {
                    location: Location::new(&path, region.begin_line),
                    link: region.link.clone(),
                    reason,
                });
            }
        }
        if !regions.is_empty() {
            files.push(MarkedFile {
                path,
                text,
                regions,
            });
        }
    }
    Error::from_list(errors)?;
    Ok((files, staff_files))
}

/// The functions of `stub` its handout does not name. A method must
/// appear as `Type::function`, a free function as `function()`.
fn unnamed_stubs(root: &Path, file: &Path, stub: &Stub) -> Vec<Error> {
    let handout_file = stub.link.split('#').next().unwrap_or_default();
    // The link was checked already; an unreadable handout names nothing.
    let handout = std::fs::read_to_string(root.join(handout_file)).unwrap_or_default();
    let location = Location::new(file, stub.original_line);
    stub.function
        .split(", ")
        .filter(|function| {
            let named = if function.contains("::") {
                handout.contains(function)
            } else {
                handout.contains(&format!("{function}()"))
            };
            !named
        })
        .map(|function| Error::UnnamedStub {
            location: location.clone(),
            function: function.to_string(),
            handout: handout_file.to_string(),
        })
        .collect()
}

fn list_rust_files(root: &Path, dir: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|error| Error::io(dir, error))?;
    for entry in entries {
        let entry = entry.map_err(|error| Error::io(dir, error))?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(|error| Error::io(&path, error))?;
        let name = entry.file_name();
        if file_type.is_dir() {
            let unscanned = dir == root && UNSCANNED_DIRECTORIES.iter().any(|skip| name == *skip);
            if !unscanned && !SKIPPED_DIRECTORIES.iter().any(|skipped| name == *skipped) {
                list_rust_files(root, &path, found)?;
            }
        } else if file_type.is_file() && path.extension().is_some_and(|e| e == "rs") {
            if let Ok(relative) = path.strip_prefix(root) {
                found.push(relative.to_path_buf());
            }
        }
    }
    Ok(())
}

fn count_regions(files: &[MarkedFile]) -> Vec<(Lab, usize)> {
    Lab::ALL
        .into_iter()
        .map(|lab| {
            let count = files
                .iter()
                .flat_map(|file| &file.regions)
                .filter(|region| region.owner == Owner::Lab(lab))
                .count();
            (lab, count)
        })
        .collect()
}

/// Makes sure `out` is a directory the skeleton may go into: new, empty,
/// or an earlier skeleton (it holds a LABS.md), so a typo in `--out`
/// cannot overwrite a directory of the user's. Inside the tree it must be
/// under `target/`, which is never read as source.
fn prepare_output(root: &Path, out: &Path) -> Result<()> {
    let existed = out.exists();
    std::fs::create_dir_all(out).map_err(|error| Error::io(out, error))?;
    let canonical = out.canonicalize().map_err(|error| Error::io(out, error))?;
    let refuse = |reason: String| {
        if !existed {
            // Leave nothing behind for a refused command line.
            let _ = std::fs::remove_dir(out);
        }
        Err(Error::Usage(format!("--out {}: {reason}", out.display())))
    };
    if root.starts_with(&canonical) {
        return refuse("it contains the source tree".to_string());
    }
    if canonical.starts_with(root) && !canonical.starts_with(root.join("target")) {
        return refuse(
            "inside the source tree it must be under target/ (the skeleton would be read as source)"
                .to_string(),
        );
    }
    let mut entries = std::fs::read_dir(out).map_err(|error| Error::io(out, error))?;
    if entries.next().is_some() && !out.join(LABS_FILE).is_file() {
        return refuse(
            "it exists and is not an earlier skeleton (no LABS.md); choose an empty or new directory"
                .to_string(),
        );
    }
    Ok(())
}

/// Copies the tree into `out`, skipping `.git`, `target`, the output
/// itself (when it is inside the tree) and the staff-only files; a file in
/// `changed` gets its skeleton contents instead. Records every relative
/// path written or already right in `kept`.
fn sync_tree(
    root: &Path,
    from: &Path,
    out: &Path,
    changed: &BTreeMap<PathBuf, String>,
    staff_files: &[PathBuf],
    kept: &mut BTreeSet<PathBuf>,
) -> Result<()> {
    let entries = std::fs::read_dir(from).map_err(|error| Error::io(from, error))?;
    for entry in entries {
        let entry = entry.map_err(|error| Error::io(from, error))?;
        let source = entry.path();
        let name = entry.file_name();
        let file_type = entry
            .file_type()
            .map_err(|error| Error::io(&source, error))?;
        let Ok(relative) = source.strip_prefix(root) else {
            continue;
        };
        if file_type.is_dir() {
            // The output may sit inside the tree: never copy it into itself.
            if SKIPPED_DIRECTORIES.iter().any(|skipped| name == *skipped) || source == out {
                continue;
            }
            sync_tree(root, &source, out, changed, staff_files, kept)?;
        } else if file_type.is_file() {
            if staff_files.iter().any(|staff| staff == relative) {
                continue;
            }
            let target = out.join(relative);
            match changed.get(relative) {
                Some(text) => write_if_changed(&target, text.as_bytes())?,
                None => {
                    let bytes =
                        std::fs::read(&source).map_err(|error| Error::io(&source, error))?;
                    write_if_changed(&target, &bytes)?;
                }
            }
            // Scripts stay executable.
            let permissions = entry
                .metadata()
                .map_err(|error| Error::io(&source, error))?
                .permissions();
            std::fs::set_permissions(&target, permissions)
                .map_err(|error| Error::io(&target, error))?;
            kept.insert(relative.to_path_buf());
        }
        // Symlinks and other special files are not part of a course tree.
    }
    Ok(())
}

/// Writes `bytes` to `path` unless it already holds exactly them.
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<()> {
    if std::fs::read(path).is_ok_and(|existing| existing == bytes) {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|error| Error::io(parent, error))?;
    }
    std::fs::write(path, bytes).map_err(|error| Error::io(path, error))
}

/// Deletes the files under `dir` (inside the skeleton `out`) that the new
/// skeleton does not have: an earlier skeleton's staff-only or renamed
/// files. `target` directories are a build's, not the skeleton's.
fn remove_stale_files(out: &Path, dir: &Path, kept: &BTreeSet<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|error| Error::io(dir, error))?;
    for entry in entries {
        let entry = entry.map_err(|error| Error::io(dir, error))?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(|error| Error::io(&path, error))?;
        let Ok(relative) = path.strip_prefix(out) else {
            continue;
        };
        if file_type.is_dir() {
            if SKIPPED_DIRECTORIES
                .iter()
                .any(|skipped| entry.file_name() == *skipped)
            {
                continue;
            }
            remove_stale_files(out, &path, kept)?;
        } else if !kept.contains(relative) {
            std::fs::remove_file(&path).map_err(|error| Error::io(&path, error))?;
        }
    }
    Ok(())
}

/// The root file (`src/lib.rs` or `src/main.rs`) of the crate whose `src/`
/// holds `file`, relative to `root`.
fn crate_root(root: &Path, file: &Path) -> Option<PathBuf> {
    let mut directory = file.parent();
    while let Some(current) = directory {
        if current.file_name().is_some_and(|name| name == "src") {
            for candidate in ["lib.rs", "main.rs"] {
                let path = current.join(candidate);
                if root.join(&path).is_file() {
                    return Some(path);
                }
            }
            return None;
        }
        directory = current.parent();
    }
    None
}

/// `text` (a crate root) with the skeleton's `allow` after its leading
/// inner doc comment, where inner attributes may go.
fn with_skeleton_allow(text: &str) -> String {
    let mut insert_at = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with("//!") {
            insert_at += line.len();
        } else {
            break;
        }
    }
    let (head, tail) = text.split_at(insert_at);
    let separator = if head.is_empty() { "" } else { "\n" };
    format!("{head}{separator}{SKELETON_ALLOW}{tail}")
}

/// `text` as rustfmt formats it, so the skeleton passes `cargo fmt
/// --check` (a long `todo!` message wraps as rustfmt wants). Without
/// rustfmt, or if it fails, the text stays as written, with a warning.
fn format_source(root: &Path, path: &Path, text: &str) -> String {
    let child = Command::new("rustfmt")
        .args(["--edition", "2021", "--emit", "stdout"])
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) => {
            eprintln!(
                "xtask: cannot run rustfmt ({error}); {} is not formatted",
                path.display()
            );
            return text.to_string();
        }
    };
    // Write from another thread: rustfmt may fill its stdout pipe before
    // it has read all of its input.
    let input = text.to_string();
    let writer = child.stdin.take().map(|mut stdin| {
        std::thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
        })
    });
    let output = child.wait_with_output();
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    match output {
        Ok(output) if output.status.success() => match String::from_utf8(output.stdout) {
            Ok(formatted) => formatted,
            Err(_) => text.to_string(),
        },
        Ok(output) => {
            eprintln!(
                "xtask: rustfmt failed on {}; left as written:\n{}",
                path.display(),
                String::from_utf8_lossy(&output.stderr)
            );
            text.to_string()
        }
        Err(error) => {
            eprintln!(
                "xtask: rustfmt failed on {} ({error}); left as written",
                path.display()
            );
            text.to_string()
        }
    }
}

/// The skeleton's LABS.md: every stub by lab, file and function.
fn labs_markdown(chosen: &BTreeSet<Lab>, summary: &Summary) -> String {
    let mut text = String::new();
    let names: Vec<&str> = chosen.iter().map(|lab| lab.name()).collect();
    let _ = writeln!(text, "# Your labs: {}\n", names.join(", "));
    text.push_str(
        "This tree was generated by `cargo xtask skeleton`. The code of the labs\n\
         below was replaced by stubs; every place to fill in sits between\n\
         `// lab N: begin` and `// lab N: end` comments, whose hint links to the\n\
         handout section that teaches it. Grade your work with\n\
         `make grade LAB=<lab>` (see the handouts in docs/labs/).\n",
    );
    for lab in chosen {
        let stubs: Vec<&(PathBuf, Stub)> = summary
            .stubs
            .iter()
            .filter(|(_, stub)| stub.lab == *lab)
            .collect();
        let _ = writeln!(text, "\n## Lab {}\n", lab.name());
        if stubs.is_empty() {
            text.push_str("No stubs (nothing of this lab is marked yet).\n");
            continue;
        }
        text.push_str("| where | function | stub | hint |\n|---|---|---|---|\n");
        for (path, stub) in stubs {
            let _ = writeln!(
                text,
                "| `{}:{}` | {} `{}` | `{}` | {} ([handout]({})) |",
                path.display(),
                stub.line,
                stub.kind,
                stub.function,
                stub.code.replace('|', "\\|"),
                stub.hint.replace('|', "\\|"),
                stub.link
            );
        }
        let removed: Vec<String> = summary
            .removed
            .iter()
            .filter(|(_, helper)| helper.lab == *lab)
            .map(|(path, helper)| format!("`{}` ({})", helper.function, path.display()))
            .collect();
        if !removed.is_empty() {
            let _ = writeln!(
                text,
                "\nSolution-only helpers left out (write your own if you want them): {}.",
                removed.join(", ")
            );
        }
    }
    if !summary.left_out.is_empty() {
        text.push_str(
            "\n## Tests left out until their labs are done\n\n\
             These tests exercise code outside the labs that calls the labs' code,\n\
             so they cannot pass while those labs are stubs. The full course tree\n\
             has them; a comment marks where each group was.\n\n\
             | where | needs labs | what |\n|---|---|---|\n",
        );
        for (path, left_out) in &summary.left_out {
            let _ = writeln!(
                text,
                "| `{}:{}` | {} | {} |",
                path.display(),
                left_out.line,
                left_out.labs,
                left_out.why.replace('|', "\\|")
            );
        }
    }
    if !summary.stubs.is_empty() {
        text.push_str(
            "\nDoc examples of the crates with stubs are compiled but not run here\n\
             (`no_run`): they would call your stubs.\n",
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch tree under the system temp directory, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            // Tests run in parallel threads of one process: a counter keeps
            // their directories apart.
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let serial = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path =
                std::env::temp_dir().join(format!("xtask-{name}-{}-{serial}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            Scratch(path)
        }

        fn write(&self, relative: &str, text: &str) {
            let path = self.0.join(relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn tree() -> Scratch {
        let tree = Scratch::new("tree");
        tree.write(
            "docs/labs/lab1.md",
            "# Lab 1\n\n## Storage {#storage}\n\nYour stubs: `Store::get`.\n",
        );
        tree.write("kv/src/lib.rs", "//! The kv crate.\n\nmod store;\n");
        tree.write(
            "kv/src/store.rs",
            "pub struct Store;\n\nimpl Store {\n    // lab 1: begin — read it (docs/labs/lab1.md#storage)\n    pub fn get(&self) -> u64 {\n        42\n    }\n    // lab 1: end\n}\n",
        );
        tree.write(
            "kv/tests/hidden.rs",
            "//! staff-only: held-out tests\n#[test]\nfn t() {}\n",
        );
        tree.write(".git/HEAD", "ref: x\n");
        tree
    }

    #[test]
    fn generates_stubs_allow_and_labs_md_and_leaves_staff_files_out() {
        let tree = tree();
        let out = Scratch::new("out");
        let chosen = BTreeSet::from([Lab::One]);
        let summary = generate(&tree.0, &out.0, &chosen).unwrap();
        assert_eq!(summary.stubs.len(), 1);
        let store = std::fs::read_to_string(out.0.join("kv/src/store.rs")).unwrap();
        assert!(store.contains("todo!(\"lab 1: read it\")"), "{store}");
        let lib = std::fs::read_to_string(out.0.join("kv/src/lib.rs")).unwrap();
        assert!(lib.starts_with("//! The kv crate.\n\n// Added by `cargo xtask skeleton`"));
        assert!(!out.0.join("kv/tests/hidden.rs").exists());
        assert!(!out.0.join(".git").exists());
        let labs = std::fs::read_to_string(out.0.join("LABS.md")).unwrap();
        assert!(
            labs.contains("| `kv/src/store.rs:4` | body `Store::get` |"),
            "{labs}"
        );
    }

    #[test]
    fn a_second_run_updates_the_skeleton_in_place() {
        let tree = tree();
        let out = Scratch::new("again");
        generate(&tree.0, &out.0, &BTreeSet::from([Lab::One])).unwrap();
        let store = out.0.join("kv/src/store.rs");
        let readme_time = || {
            std::fs::metadata(out.0.join("docs/labs/lab1.md"))
                .unwrap()
                .modified()
                .unwrap()
        };
        let before = readme_time();
        out.write("kv/src/leftover.rs", "// from an older skeleton\n");
        // Lab 1 solved again: the stub goes, unchanged files are not
        // rewritten, files the tree no longer has are removed.
        generate(&tree.0, &out.0, &BTreeSet::from([Lab::FourC])).unwrap();
        assert!(std::fs::read_to_string(&store).unwrap().contains("42"));
        assert_eq!(readme_time(), before);
        assert!(!out.0.join("kv/src/leftover.rs").exists());
        assert!(!std::fs::read_to_string(out.0.join("kv/src/lib.rs"))
            .unwrap()
            .contains("xtask skeleton"));
    }

    #[test]
    fn refuses_to_overwrite_a_directory_that_is_not_a_skeleton() {
        let tree = tree();
        let out = Scratch::new("not-a-skeleton");
        out.write("precious.txt", "keep me");
        let error = generate(&tree.0, &out.0, &BTreeSet::from([Lab::One])).unwrap_err();
        assert!(matches!(error, Error::Usage(_)), "{error}");
        assert!(out.0.join("precious.txt").exists());
    }

    #[test]
    fn refuses_an_output_inside_the_tree_outside_target() {
        let tree = tree();
        let inside = tree.0.join("skeleton");
        let error = generate(&tree.0, &inside, &BTreeSet::from([Lab::One])).unwrap_err();
        assert!(matches!(error, Error::Usage(_)), "{error}");
        assert!(!inside.exists());
        generate(
            &tree.0,
            &tree.0.join("target/skeleton"),
            &BTreeSet::from([Lab::One]),
        )
        .unwrap();
    }

    #[test]
    fn a_handout_must_name_every_stubbed_function() {
        let tree = tree();
        assert!(check(&tree.0).is_ok());
        tree.write("docs/labs/lab1.md", "# Lab 1\n\n## Storage {#storage}\n");
        let message = check(&tree.0).unwrap_err().to_string();
        assert!(
            message.starts_with("kv/src/store.rs:4: docs/labs/lab1.md does not name `Store::get`"),
            "{message}"
        );
    }

    /// Tests in a needs-labs region leave a skeleton that stubs one of
    /// their labs (with a note, and a LABS.md row) and stay in one that
    /// does not.
    #[test]
    fn needs_labs_regions_leave_only_skeletons_that_stub_their_labs() {
        let tree = tree();
        tree.write(
            "kv/tests/whole.rs",
            "//! Whole-store tests.\n\n// needs labs 1: begin — reads through the store\n#[test]\nfn reads() {}\n// needs labs: end\n",
        );
        let out = Scratch::new("needs");
        let summary = generate(&tree.0, &out.0, &BTreeSet::from([Lab::One])).unwrap();
        let whole = std::fs::read_to_string(out.0.join("kv/tests/whole.rs")).unwrap();
        assert_eq!(
            whole,
            "//! Whole-store tests.\n\n// (left out of this skeleton until labs 1 are done: reads through the store)\n"
        );
        assert_eq!(summary.left_out.len(), 1);
        assert_eq!(summary.left_out[0].1.line, 3);
        let labs = std::fs::read_to_string(out.0.join("LABS.md")).unwrap();
        assert!(
            labs.contains("| `kv/tests/whole.rs:3` | 1 | reads through the store |"),
            "{labs}"
        );
        // The skeleton's own marker check accepts the note.
        check(&out.0).unwrap();

        generate(&tree.0, &out.0, &BTreeSet::from([Lab::FourC])).unwrap();
        let whole = std::fs::read_to_string(out.0.join("kv/tests/whole.rs")).unwrap();
        assert!(whole.contains("fn reads() {}"), "{whole}");
    }

    /// Doc examples that rustdoc would run become `no_run` in a crate with
    /// stubs; `text` and already compile-only fences stay as they are.
    #[test]
    fn doc_examples_of_crates_with_stubs_only_compile() {
        let text = "//! ```\n//! run();\n//! ```\n//!\n//! ```text\n//! a\n//! ```\n/// ```rust\n/// b();\n/// ```\nfn c() {}\n";
        assert_eq!(
            compile_only_fences(text),
            "//! ```no_run\n//! run();\n//! ```\n//!\n//! ```text\n//! a\n//! ```\n/// ```no_run\n/// b();\n/// ```\nfn c() {}\n"
        );
        let tree = tree();
        tree.write(
            "kv/src/lib.rs",
            "//! The kv crate.\n//! ```\n//! kv::run();\n//! ```\n\nmod store;\n",
        );
        let out = Scratch::new("doc-examples");
        generate(&tree.0, &out.0, &BTreeSet::from([Lab::One])).unwrap();
        let lib = std::fs::read_to_string(out.0.join("kv/src/lib.rs")).unwrap();
        assert!(lib.contains("//! ```no_run\n//! kv::run();"), "{lib}");
    }

    /// A generated tree's regions hold stubs (an empty one among them) or
    /// a student's work: its marker check does not ask them to be stub-able.
    #[test]
    fn a_generated_tree_passes_its_own_marker_check() {
        let tree = tree();
        tree.write(
            "kv/src/empty.rs",
            "fn f() {\n    // lab 1: begin [stub: ] — do it (docs/labs/lab1.md#storage)\n    let _x = 1;\n    // lab 1: end\n}\n",
        );
        let out = Scratch::new("generated-check");
        generate(&tree.0, &out.0, &BTreeSet::from([Lab::One])).unwrap();
        check(&out.0).unwrap();
        // A broken marker is still found there.
        out.write("kv/src/broken.rs", "// lab 1: end\n");
        assert!(check(&out.0).is_err());
    }

    /// The markers of this repository: what `make test` checks on every
    /// change, so a broken marker or a handout missing a stub fails CI.
    #[test]
    fn the_repository_markers_are_valid() {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = manifest.parent().unwrap_or(manifest);
        if let Err(error) = check(root) {
            panic!("{error}");
        }
    }

    #[test]
    fn a_broken_link_fails_the_check_with_file_and_line() {
        let tree = tree();
        tree.write(
            "kv/src/other.rs",
            "// lab 1: begin — x (docs/labs/lab1.md#missing)\nfn f() {}\n// lab 1: end\n",
        );
        let message = check(&tree.0).unwrap_err().to_string();
        assert!(
            message.starts_with("kv/src/other.rs:1: the hint links to"),
            "{message}"
        );
    }
}
