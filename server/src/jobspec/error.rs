//! The one error type of the job spec parser, and the path that makes its
//! messages useful: every error names where in the file it happened, in the
//! shape users write it (`job.group["cache"].restart.interval`), because a
//! job file has many `restart` blocks and "invalid duration" alone would
//! send them hunting.

use std::fmt;

use super::DurationError;

/// A job spec could not be turned into a job.
///
/// Displays as `path: problem`, e.g.
/// `job.group["cache"].count: expected a number, got a string`; errors that
/// belong to the whole file (syntax, a missing job block) have an empty path
/// and display the problem alone.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{kind}", PathPrefix(.path))]
pub struct JobspecError {
    /// Where: `job.group["cache"].task["redis"].config.args[1]`; empty for
    /// file-level errors.
    pub path: String,
    pub kind: JobspecErrorKind,
}

/// What went wrong, without the where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum JobspecErrorKind {
    /// The file is not valid HCL. Positions are one-based, as editors count.
    #[error("HCL syntax error at line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("no job block found; a job file needs exactly one `job \"<id>\" {{ ... }}` block")]
    MissingJob,
    #[error("only one job block is allowed per file (job {first:?} came first)")]
    DuplicateJob { first: String },
    #[error("expected {expected} block label(s), got {got}")]
    LabelCount { expected: usize, got: usize },
    /// An attribute this block does not have (often a typo: `cout = 3`).
    #[error("unknown attribute")]
    UnknownAttribute,
    /// A block this block does not have.
    #[error("unknown block")]
    UnknownBlock,
    /// A block that may appear once appeared again, or an attribute was
    /// given both as `name = {..}` and as a `name {..}` block.
    #[error("defined more than once")]
    Duplicate,
    /// `expected` and `got` read as English: "expected a number, got a string".
    #[error("expected {expected}, got {got}")]
    Type {
        expected: &'static str,
        got: &'static str,
    },
    #[error("expected a whole number, got {0}")]
    NotWholeNumber(String),
    #[error("number {0} is out of range")]
    OutOfRange(String),
    #[error("invalid duration {value:?}")]
    InvalidDuration {
        value: String,
        #[source]
        reason: DurationError,
    },
    /// Valid HCL that this parser does not evaluate (function calls, `for`
    /// expressions, template directives, `dynamic` blocks).
    #[error("{0}")]
    Unsupported(String),
    /// A variable is unset, undeclared or unknown.
    #[error("{0}")]
    Variable(String),
    /// A lone unquoted word where a value belongs (`driver = raw_exec`).
    /// HCL reads it as a variable, and the only variables here are `var.*`,
    /// `local.*` and dotted runtime references such as `meta.rack`; the
    /// writer almost always meant a string. `at` is where the word stands
    /// (line and column, one-based), when the source could be searched.
    #[error("{}variables not allowed: `{word}` is not a string; quote it as \"{word}\"", AtPrefix(.at))]
    BareWord {
        word: String,
        at: Option<(usize, usize)>,
    },
    /// Any other invalid value, described in the message.
    #[error("{0}")]
    Invalid(String),
}

impl JobspecError {
    pub(super) fn new(path: &Path, kind: JobspecErrorKind) -> Self {
        JobspecError {
            path: path.0.clone(),
            kind,
        }
    }

    /// A file-level error, with no path.
    pub(super) fn file(kind: JobspecErrorKind) -> Self {
        JobspecError {
            path: String::new(),
            kind,
        }
    }
}

struct AtPrefix<'a>(&'a Option<(usize, usize)>);

impl fmt::Display for AtPrefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some((line, column)) => write!(f, "line {line}, column {column}: "),
            None => Ok(()),
        }
    }
}

struct PathPrefix<'a>(&'a str);

impl fmt::Display for PathPrefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            Ok(())
        } else {
            write!(f, "{}: ", self.0)
        }
    }
}

/// Where the decoder is in the file, printed as users write it. Built by
/// appending as the decoder descends; cheap enough to clone per attribute
/// because job files are small.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Path(String);

impl Path {
    pub(super) fn root(name: &str) -> Path {
        Path(name.to_owned())
    }

    /// `.name` for an attribute or unlabelled block; `name` at the root.
    pub(super) fn attr(&self, name: &str) -> Path {
        if self.0.is_empty() {
            Path(name.to_owned())
        } else {
            Path(format!("{}.{name}", self.0))
        }
    }

    /// `.kind["label"]` for a labelled block.
    pub(super) fn labelled(&self, kind: &str, label: &str) -> Path {
        let mut path = self.attr(kind);
        path.0.push_str(&format!("[{label:?}]"));
        path
    }

    /// `[i]` for a list element or the i-th unlabelled block of a kind.
    pub(super) fn index(&self, i: usize) -> Path {
        Path(format!("{}[{i}]", self.0))
    }

    /// An object key: `.key` when it reads as an identifier, `["key"]`
    /// otherwise (`env["key.with.dots"]`).
    pub(super) fn key(&self, key: &str) -> Path {
        let is_ident = key
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            && key
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
        if is_ident {
            self.attr(key)
        } else {
            Path(format!("{}[{key:?}]", self.0))
        }
    }

    /// An error at this path.
    pub(super) fn err(&self, kind: JobspecErrorKind) -> JobspecError {
        JobspecError::new(self, kind)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
