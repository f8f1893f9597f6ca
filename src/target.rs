//! Where a write's bytes go: a new file written beside its final name and renamed into
//! place when complete, or a journaled change to an existing file (rank 0 only).

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::h5::Owned;
use crate::journal::{self, Transaction};
use crate::nix::runs;
use crate::writer::FileMode;

/// The file one collective write changes, held by rank 0 from layout to commit.
pub(crate) struct Target {
    txn: Transaction,
    /// Set while the file is a temporary one beside `path`; removed if dropped.
    temp: Option<TempFile>,
    /// The final name.
    path: PathBuf,
}

impl Target {
    /// Checks `path` and starts the change: `ow` (or `rw` on a missing file) writes a new
    /// file beside it; `rw` on an existing file starts a journaled transaction on it.
    ///
    /// # Errors
    /// [`Error::Io`] for a missing directory or a path that is a directory;
    /// [`Error::Format`] when `rw` finds a file that is not NIX; [`Error::Usage`] when
    /// another program has the file open for writing.
    pub(crate) fn open(path: &Path, mode: FileMode) -> Result<Target> {
        check(path)?;
        if mode == FileMode::Append && path.exists() {
            journal::recover(path)?;
            refuse_if_written(path)?;
            runs::check_nix(path)?;
            return Ok(Target { txn: Transaction::begin(path)?, temp: None, path: path.to_owned() });
        }
        refuse_if_written(path)?;
        let temp = TempFile::beside(path);
        Ok(Target { txn: Transaction::fresh(&temp.0), temp: Some(temp), path: path.to_owned() })
    }

    /// Whether the file is new (no Block in it yet).
    pub(crate) fn is_new(&self) -> bool {
        self.temp.is_some()
    }

    /// The file the ranks write into now.
    pub(crate) fn write_path(&self) -> &Path {
        self.txn.path()
    }

    /// A file-access list based on `base` that opens the file crash-safely.
    pub(crate) fn fapl(&self, base: hdf5_sys::h5i::hid_t) -> Result<Owned> {
        self.txn.fapl(base)
    }

    /// `result` of HDF5's work on the file, failed with the operating system's error if a
    /// write of the driver failed (see [`Transaction::settle`]).
    pub(crate) fn settle<T>(&self, result: Result<T>) -> Result<T> {
        self.txn.settle(result)
    }

    /// Checks that the ranks' data go past the committed end, where writing cannot harm
    /// the committed file (HDF5 may reuse space it freed during this write).
    pub(crate) fn check_offset(&self, offset: u64, what: &dyn Fn() -> String) -> Result<()> {
        if offset < self.txn.committed_end() {
            return Err(Error::Usage(format!(
                "HDF5 placed {} inside the committed part of '{}'; nothing was changed",
                what(),
                self.path.display()
            )));
        }
        Ok(())
    }

    /// Commits the change and, for a new file, moves it to its final name (replacing an
    /// older file only now). Returns the file's size. `halfway` runs in the middle of the
    /// commit (fault-injection tests hook in there).
    pub(crate) fn commit(mut self, halfway: &dyn Fn() -> Result<()>) -> Result<u64> {
        let size = self.txn.commit(halfway)?;
        if let Some(temp) = self.temp.take() {
            refuse_if_written(&self.path)?;
            temp.persist(&self.path)?;
            let stale = journal::journal_path(&self.path);
            if stale.exists() {
                std::fs::remove_file(&stale).map_err(|e| Error::io("remove stale journal", &stale, e))?;
            }
        }
        Ok(size)
    }
}

/// Checks that `path` can name a results file: its directory exists and it is no directory.
///
/// # Errors
/// [`Error::Io`] naming the path.
pub(crate) fn check(path: &Path) -> Result<()> {
    let dir = parent_dir(path);
    if !dir.is_dir() {
        let e = std::io::Error::new(std::io::ErrorKind::NotFound, format!("directory '{}' does not exist", dir.display()));
        return Err(Error::io("create", path, e));
    }
    if path.is_dir() {
        return Err(Error::io("create", path, std::io::Error::new(std::io::ErrorKind::IsADirectory, "the path is a directory")));
    }
    Ok(())
}

/// Refuses a file that another program holds open for writing (an exclusive lock).
fn refuse_if_written(path: &Path) -> Result<()> {
    match OpenOptions::new().read(true).open(path) {
        Ok(f) if f.try_lock_shared().is_err() => {
            Err(Error::Usage(format!("'{}' is open for writing in another program; nothing was changed", path.display())))
        }
        _ => Ok(()),
    }
}

/// The directory of `path` (`.` for a bare name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A new file beside its final name; removed when dropped unless persisted.
struct TempFile(PathBuf);

impl TempFile {
    /// A hidden name beside `target`: `.run.nio.1a2b3c4d.partial`.
    fn beside(target: &Path) -> TempFile {
        let name = target.file_name().map_or_else(|| "results.nio".into(), |n| n.to_string_lossy().into_owned());
        let tag = &Uuid::new_v4().simple().to_string()[..8];
        TempFile(parent_dir(target).join(format!(".{name}.{tag}.partial")))
    }

    /// Renames the (synced) file to `target` and syncs the directory.
    fn persist(self, target: &Path) -> Result<()> {
        std::fs::rename(&self.0, target).map_err(|e| Error::io("rename into place", target, e))?;
        std::mem::forget(self);
        if let Ok(dir) = std::fs::File::open(parent_dir(target)) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
