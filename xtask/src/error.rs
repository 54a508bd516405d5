//! Everything that stops the generator. A problem in the tree names the
//! file and line, so the author of a broken marker can go straight to it.

use std::fmt;
use std::path::{Path, PathBuf};

/// A place in the source tree: a file (relative to the tree's root) and a
/// 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file, relative to the root of the tree being read.
    pub file: PathBuf,
    /// The 1-based line.
    pub line: usize,
}

impl Location {
    pub fn new(file: &Path, line: usize) -> Location {
        Location {
            file: file.to_path_buf(),
            line,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}:{}", self.file.display(), self.line)
    }
}

/// Why the generator refuses a tree or a command line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A comment starting with `// lab ` or `// staff-only` that is not a
    /// well-formed begin or end marker (a typo would otherwise leave a
    /// solution in the students' tree).
    #[error("{location}: malformed marker: {reason}\n    {text}")]
    MalformedMarker {
        location: Location,
        reason: String,
        text: String,
    },

    /// A marker names a lab the course does not have, or spells it
    /// differently from the handouts (`2aa` instead of `2AA`).
    #[error("{location}: unknown lab '{name}' (the labs are {known})")]
    UnknownLab {
        location: Location,
        name: String,
        known: String,
    },

    /// An end marker with no open region.
    #[error("{location}: '{what}: end' without a matching begin")]
    EndWithoutBegin { location: Location, what: String },

    /// A begin marker whose region is never closed.
    #[error("{location}: '{what}: begin' is never closed by '{what}: end'")]
    BeginWithoutEnd { location: Location, what: String },

    /// An end marker that closes a region of another lab.
    #[error("{location}: '{found}: end' closes the region of '{open}' opened at line {open_line}")]
    MismatchedEnd {
        location: Location,
        found: String,
        open: String,
        open_line: usize,
    },

    /// A begin marker inside an open region: regions do not nest.
    #[error("{location}: '{inner}: begin' inside the region of '{outer}' opened at line {outer_line}: regions do not nest")]
    Nested {
        location: Location,
        inner: String,
        outer: String,
        outer_line: usize,
    },

    /// A marker's handout link names a file or `{#anchor}` heading that
    /// does not exist.
    #[error("{location}: the hint links to {link}, but {reason}")]
    BrokenLink {
        location: Location,
        link: String,
        reason: String,
    },

    /// A handout that does not name a function its lab's stubs leave to
    /// the student (as `Type::function` or `function()`), so a student
    /// would meet a stub the handout never mentions.
    #[error("{location}: {handout} does not name `{function}`, which the region stubs (add it to the handout's \"Your stubs\" list)")]
    UnnamedStub {
        location: Location,
        function: String,
        handout: String,
    },

    /// A region that does not wrap whole items, statements or match arms
    /// of one block (it cuts one in half, or holds none).
    #[error("{location}: the region of {lab} {reason}")]
    BadRegion {
        location: Location,
        lab: String,
        reason: String,
    },

    /// A file with markers that is not valid Rust.
    #[error("{location}: cannot parse the file: {message}")]
    Parse { location: Location, message: String },

    /// A marked file outside a crate's `src/`: the generator does not know
    /// which crate root to give the skeleton's `allow` attribute.
    #[error("{location}: stubs are only supported under a crate's src/ directory")]
    OutsideCrate { location: Location },

    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    /// The command line is wrong; the message says how.
    #[error("{0}")]
    Usage(String),

    /// Several problems in the tree, all reported at once so an author
    /// fixes them in one pass.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Many(Vec<Error>),
}

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// One error if there is one, else `Many`; `Ok` for none.
    pub fn from_list(mut errors: Vec<Error>) -> Result<(), Error> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(Error::Many(errors)),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
