//! The crate's one error type.

use std::path::PathBuf;

/// What went wrong, in a form that can cross ranks.
///
/// When one rank fails inside a collective call, every rank returns
/// [`Error::OnRank`] carrying this kind, so callers can match on it on any rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ErrorKind {
    /// Bad input: a value, name, key or size that the file cannot hold.
    Validation,
    /// The operating system refused a file operation.
    Io,
    /// The HDF5 library reported an error.
    Hdf5,
    /// The file is not a NIX file this crate can read.
    Format,
    /// The ranks were not at the same collective step.
    Collective,
    /// A file is in use or the operation is not allowed in this state.
    Usage,
    /// A figure could not be drawn.
    Draw,
}

/// Every error of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that cannot be recorded or written; `what` says which object.
    #[error("invalid {what}: {problem}")]
    Validation {
        /// The object, with enough context to find it (device, cell, segment).
        what: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A file-system operation failed.
    #[error("{op} '{path}': {source}")]
    Io {
        /// What was attempted (`create`, `rename`, ...).
        op: &'static str,
        /// The path it was attempted on.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// An HDF5 call failed.
    #[error("HDF5 could not {op} '{object}' in '{path}': {message}")]
    Hdf5 {
        /// The operation (`create group`, `write dataset`, ...).
        op: &'static str,
        /// The HDF5 object path or name.
        object: String,
        /// The file.
        path: PathBuf,
        /// HDF5's own description of the error stack.
        message: String,
    },
    /// The file is not a NIX file we can read.
    #[error("'{path}' is not a readable NIX file: {problem}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is missing or malformed, naming the object.
        problem: String,
    },
    /// A state or usage error (file in use, name already taken, ...).
    #[error("{0}")]
    Usage(String),
    /// The ranks were not at the same collective step (for example, flushed a different
    /// number of times), so they cannot go on together.
    #[error("ranks out of step: {0}")]
    Collective(String),
    /// A figure of a results file could not be drawn.
    #[error("cannot draw the figure of '{path}': {problem}")]
    Draw {
        /// The results file.
        path: PathBuf,
        /// What the drawing library reported.
        problem: String,
    },
    /// An error that one rank hit inside a collective call, as every rank reports it.
    #[error("rank {rank} failed: {message}")]
    OnRank {
        /// The lowest rank that failed.
        rank: i32,
        /// The kind of its error.
        kind: ErrorKind,
        /// Its error message.
        message: String,
    },
}

impl Error {
    /// The kind of this error, also for errors that came from another rank.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Validation { .. } => ErrorKind::Validation,
            Error::Io { .. } => ErrorKind::Io,
            Error::Hdf5 { .. } => ErrorKind::Hdf5,
            Error::Format { .. } => ErrorKind::Format,
            Error::Usage(_) => ErrorKind::Usage,
            Error::Collective(_) => ErrorKind::Collective,
            Error::Draw { .. } => ErrorKind::Draw,
            Error::OnRank { kind, .. } => *kind,
        }
    }

    /// A validation error about `what`.
    pub(crate) fn invalid(what: impl Into<String>, problem: impl Into<String>) -> Self {
        Error::Validation { what: what.into(), problem: problem.into() }
    }

    /// An I/O error of `op` on `path`.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { op, path: path.into(), source }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
