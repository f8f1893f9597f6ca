//! How a write treats an existing file, shared by the writer and the target file.

use std::str::FromStr;

use crate::error::{Error, Result};

/// How `write` treats an existing file (CONTRACT.md's file modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileMode {
    /// `ow`: create, or replace an existing file once the new one is complete.
    #[default]
    Overwrite,
    /// `rw`: add this run's Block beside those already in the file (create if missing).
    Append,
}

impl FromStr for FileMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "ow" => Ok(FileMode::Overwrite),
            "rw" => Ok(FileMode::Append),
            other => Err(Error::invalid("file mode", format!("{other:?} is not one of 'ow', 'rw'"))),
        }
    }
}
