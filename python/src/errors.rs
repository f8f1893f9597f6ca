//! Errors as Python exceptions: the library's [`Error`] becomes an instance of the
//! `bsb_results` hierarchy (`bsb_results/_errors.py`), whose classes also derive from the
//! matching built-ins (`ValueError` for bad input, `OSError` for I/O, ...).

use bsb_results::{Error, ErrorKind};
use pyo3::prelude::*;

/// The exception class of each error kind, in `bsb_results._errors`.
fn class_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Validation => "ValidationError",
        ErrorKind::Io => "ResultsOSError",
        ErrorKind::Hdf5 => "HDF5Error",
        ErrorKind::Format => "FormatError",
        ErrorKind::Collective => "CollectiveError",
        ErrorKind::Usage => "UsageError",
        ErrorKind::Draw => "DrawError",
    }
}

/// The Python exception of `error`, with its message, `kind` and (for an error another
/// rank hit) `rank`.
pub(crate) fn to_py(error: Error) -> PyErr {
    Python::attach(|py| {
        let kind = error.kind();
        let rank = match &error {
            Error::OnRank { rank, .. } => Some(*rank),
            _ => None,
        };
        let made = py.import("bsb_results._errors").and_then(|m| m.getattr(class_name(kind))).and_then(|class| {
            let exception = class.call1((error.to_string(),))?;
            exception.setattr("kind", format!("{kind:?}").to_lowercase())?;
            exception.setattr("rank", rank)?;
            Ok(exception)
        });
        match made {
            Ok(exception) => PyErr::from_value(exception),
            Err(e) => e,
        }
    })
}

/// `?` for the library's results inside Python methods.
pub(crate) trait Raise<T> {
    /// The value, or the error as a Python exception.
    fn or_raise(self) -> PyResult<T>;
}

impl<T> Raise<T> for bsb_results::Result<T> {
    fn or_raise(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

/// A `ValidationError` (a `ValueError`) about `what`.
pub(crate) fn invalid(what: impl Into<String>, problem: impl Into<String>) -> PyErr {
    to_py(Error::Validation { what: what.into(), problem: problem.into() })
}

/// A `UsageError` (a `RuntimeError`): the call does not fit the object's state.
pub(crate) fn usage(message: impl Into<String>) -> PyErr {
    to_py(Error::Usage(message.into()))
}
