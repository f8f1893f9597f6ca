//! The file one collective write changes, and its one owner: rank 0 opens it (checks the
//! path, takes the locks, rolls back a killed writer's journal), lays out into it and
//! commits it. A new file is written beside its final name and renamed into place when
//! complete; an existing file is changed through its rollback journal ([`crate::journal`]).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::h5::{Owned, Session, overlay_fapl};
use crate::journal::{self, Journal, NewFile, parent_dir};
use crate::lock::{self, Got, Kind};
use crate::nix::runs;
use crate::file_mode::FileMode;

/// The file one collective write changes, held by rank 0 from layout to commit. Dropped
/// uncommitted, it leaves the target as it was: a new file is removed, a change to an
/// existing file is rolled back.
pub(crate) struct Target {
    /// The final name.
    path: PathBuf,
    /// Shared with the overlay driver, which keeps it alive while HDF5 holds the file.
    session: Arc<Session>,
    /// Set while the file is a new one beside `path`; removed if dropped.
    temp: Option<NewFile>,
    /// Set while an existing file changes.
    journal: Option<Journal>,
    /// A shared lock on the existing file: readers are welcome, other writers refused.
    held: Option<File>,
    committed: bool,
}

impl Target {
    /// Checks `path` and starts the change: `ow` (or `rw` on a missing file) writes a new
    /// file beside it; `rw` on an existing file starts a journaled change to it. A journal
    /// a killed writer left is rolled back first (here, once per write).
    ///
    /// # Errors
    /// [`Error::Io`] for a missing directory or a path that is a directory;
    /// [`Error::Format`] when `rw` finds a file that is not NIX; [`Error::Usage`] when
    /// another program has the file open for writing.
    pub(crate) fn open(path: &Path, mode: FileMode) -> Result<Target> {
        Target::open_checking(path, mode, &runs::check_nix)
    }

    /// [`Target::open`] with the check an existing file must pass before `rw` changes it.
    fn open_checking(path: &Path, mode: FileMode, is_nix: &dyn Fn(&Path) -> Result<()>) -> Result<Target> {
        check(path)?;
        let held = hold(path)?;
        let exists = path.exists();
        if exists {
            journal::recover(path)?;
        }
        match mode {
            FileMode::Append if exists => {
                is_nix(path)?;
                let meta = std::fs::metadata(path).map_err(|e| Error::io("stat", path, e))?;
                let journal = Journal::begin(path, &meta)?;
                let session = Session::new(meta.len());
                Ok(Target { path: path.to_owned(), session, temp: None, journal: Some(journal), held, committed: false })
            }
            _ => {
                let temp = NewFile::beside(path)?;
                Ok(Target { path: path.to_owned(), session: Session::new(0), temp: Some(temp), journal: None, held, committed: false })
            }
        }
    }

    /// Whether the file is new (no Block in it yet).
    pub(crate) fn is_new(&self) -> bool {
        self.temp.is_some()
    }

    /// The file the ranks write into now.
    pub(crate) fn write_path(&self) -> &Path {
        self.temp.as_ref().map_or(&self.path, NewFile::path)
    }

    /// A file-access list based on `base` that opens the file crash-safely.
    pub(crate) fn fapl(&self, base: hdf5_sys::h5i::hid_t) -> Result<Owned> {
        overlay_fapl(&self.session, base)
    }

    /// `result` of HDF5's work on the file, failed if a write of the driver failed (HDF5
    /// reports only that a call failed, and after the first failed write the driver drops
    /// the rest, so that HDF5's clean-up cannot fail again): the operating system's error,
    /// naming the file, is preferred to HDF5's summary.
    pub(crate) fn settle<T>(&self, result: Result<T>) -> Result<T> {
        let io = self.session.take_error().map(|e| Error::io("write", self.write_path(), e));
        match (result, io) {
            (Err(_), Some(io)) => Err(io),
            (Ok(_), Some(io)) if self.session.is_poisoned() => Err(io),
            (Ok(_), None) if self.session.is_poisoned() => {
                Err(Error::Usage(format!("the write to '{}' was abandoned; nothing was changed", self.path.display())))
            }
            (result, _) => result,
        }
    }

    /// Checks that the ranks' data go past the committed end, where writing cannot harm
    /// the committed file (HDF5 may reuse space it freed during this write).
    pub(crate) fn check_offset(&self, offset: u64, what: &dyn Fn() -> String) -> Result<()> {
        if offset < self.session.committed_end() {
            return Err(Error::Usage(format!(
                "HDF5 placed {} inside the committed part of '{}'; nothing was changed",
                what(),
                self.path.display()
            )));
        }
        Ok(())
    }

    /// Refuses, before anything is written, a write whose data alone (`bytes`) need more
    /// space than the file system has free.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file, with both figures.
    pub(crate) fn check_space(&self, bytes: u64) -> Result<()> {
        let dir = parent_dir(&self.path);
        let Some(free) = free_bytes(dir) else { return Ok(()) };
        if bytes <= free {
            return Ok(());
        }
        let mb = |b: u64| b as f64 / 1e6;
        let problem = format!("not enough free space: the write needs at least {:.1} MB for its data, and the file system has {:.1} MB free; nothing was changed", mb(bytes), mb(free));
        Err(Error::io("write", &self.path, std::io::Error::new(std::io::ErrorKind::StorageFull, problem)))
    }

    /// Commits the change and, for a new file, moves it to its final name (replacing an
    /// older file only now). Returns the file's size. `halfway` runs in the middle of the
    /// commit: after the sync of a new file, or when half of the changed pages of an
    /// existing one are written (fault-injection tests hook in there). An error anywhere
    /// leaves the target as it was.
    pub(crate) fn commit(mut self, halfway: &dyn Fn() -> Result<()>) -> Result<u64> {
        self.settle(Ok(()))?;
        let pending = self.session.take_pending().ok_or_else(|| {
            Error::Usage(format!("HDF5 did not close '{}', so its last changes are unknown; nothing was committed", self.write_path().display()))
        })?;
        let path = self.write_path().to_owned();
        let file = OpenOptions::new().write(true).open(&path).map_err(|e| Error::io("open", &path, e))?;
        file.sync_all().map_err(|e| Error::io("sync", &path, e))?;
        if let Some(mut journal) = self.journal.take() {
            journal.seal(&pending)?;
            for (i, (offset, page)) in pending.pages.iter().enumerate() {
                if i == pending.pages.len() / 2 {
                    halfway()?;
                }
                file.write_all_at(&page.new, *offset).map_err(|e| Error::io("write", &path, e))?;
            }
            if pending.len != file.metadata().map_err(|e| Error::io("stat", &path, e))?.len() {
                file.set_len(pending.len).map_err(|e| Error::io("truncate", &path, e))?;
            }
            file.sync_all().map_err(|e| Error::io("sync", &path, e))?;
            journal.finish()?;
        }
        if let Some(temp) = self.temp.take() {
            halfway()?;
            if self.held.is_none() {
                // A file that appeared under the final name since: refused if written.
                hold(&self.path)?;
            }
            temp.persist(&self.path)?;
            let stale = journal::journal_path(&self.path);
            if stale.exists() {
                std::fs::remove_file(&stale).map_err(|e| Error::io("remove stale journal", &stale, e))?;
            }
            // The replaced file's last handle: closing it frees its blocks, which for a
            // large file takes a while (18 ms for 85 MB here), so it is closed beside
            // the caller's work. Its lock guards a file no name leads to any more.
            if let Some(replaced) = self.held.take() {
                std::thread::spawn(move || drop(replaced));
            }
        }
        self.committed = true;
        file.metadata().map(|m| m.len()).map_err(|e| Error::io("stat", &self.path, e))
    }
}

impl Drop for Target {
    /// An uncommitted write is abandoned: the driver drops what HDF5 still writes (for
    /// example while closing at library exit); the journal and the new file, dropped
    /// after this, roll back and remove.
    fn drop(&mut self) {
        if !self.committed {
            self.session.abandon();
        }
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

/// A shared lock on the existing file `path` (`None` when there is none): readers are
/// welcome, a writer of another program (an exclusive lock, as HDF5 takes) is refused.
fn hold(path: &Path) -> Result<Option<File>> {
    let file = match File::open(path) {
        Ok(f) => f,
        // Nothing to lock: no file, or one this user may replace but not read.
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied) => return Ok(None),
        Err(e) => return Err(Error::io("open", path, e)),
    };
    match lock::try_lock(&file, Kind::Shared, path)? {
        Got::Held | Got::Unlocked => Ok(Some(file)),
        Got::Busy => Err(Error::Usage(format!("'{}' is open for writing in another program; nothing was changed", path.display()))),
    }
}

/// Bytes an unprivileged writer may still use on the file system of `dir` (`statvfs`).
fn free_bytes(dir: &Path) -> Option<u64> {
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: statvfs fills the zeroed struct it is given from a NUL-terminated path.
    let stat = unsafe {
        let mut stat: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &raw mut stat) != 0 {
            return None;
        }
        stat
    };
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::h5::{Page, Pending};

    fn pending(pages: &[(u64, &[u8], &[u8])], len: u64) -> Pending {
        let pages = pages.iter().map(|(o, old, new)| (*o, Page { old: old.to_vec(), new: new.to_vec() })).collect();
        Pending { pages, len }
    }

    /// A journaled change to the plain file `content` (no NIX check).
    fn change(content: &[u8]) -> (tempfile::TempDir, PathBuf, Target) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.nio");
        std::fs::write(&path, content).unwrap();
        let t = Target::open_checking(&path, FileMode::Append, &|_| Ok(())).unwrap();
        (dir, path, t)
    }

    #[test]
    fn commit_applies_pages_and_removes_the_journal() {
        let (_dir, path, t) = change(b"aaaabbbb");
        assert!(journal::journal_path(&path).exists());
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"cccc").unwrap();
        t.session.set_pending(pending(&[(0, b"aaaa", b"AAAA")], 12));
        assert_eq!(t.commit(&|| Ok(())).unwrap(), 12);
        assert_eq!(std::fs::read(&path).unwrap(), b"AAAAbbbbcccc");
        assert!(!journal::journal_path(&path).exists());
    }

    #[test]
    fn a_commit_without_the_drivers_close_fails_and_changes_nothing() {
        let (_dir, path, t) = change(b"aaaabbbb");
        let err = t.commit(&|| Ok(())).unwrap_err();
        assert!(err.to_string().contains("did not close"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"aaaabbbb", "not truncated");
        assert!(!journal::journal_path(&path).exists());
    }

    #[test]
    fn a_failed_write_of_the_driver_fails_the_commit() {
        let (_dir, path, t) = change(b"aaaabbbb");
        t.session.set_pending(pending(&[(0, b"aaaa", b"AAAA")], 8));
        t.session.abandon();
        assert!(t.commit(&|| Ok(())).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"aaaabbbb");
    }

    #[test]
    fn a_commit_failing_halfway_is_rolled_back() {
        let (_dir, path, t) = change(b"aaaabbbb");
        t.session.set_pending(pending(&[(0, b"aaaa", b"AAAA"), (4, b"bbbb", b"BBBB")], 8));
        let failed = t.commit(&|| Err(Error::Usage("boom".into())));
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"aaaabbbb", "the page applied before the failure is restored");
        assert!(!journal::journal_path(&path).exists());
    }

    #[test]
    fn dropping_an_uncommitted_change_rolls_back() {
        let (_dir, path, t) = change(b"aaaa");
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"garbage").unwrap();
        drop(t);
        assert_eq!(std::fs::read(&path).unwrap(), b"aaaa");
        assert!(!journal::journal_path(&path).exists());
    }

    #[test]
    fn a_new_file_replaces_the_old_one_only_at_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.nio");
        std::fs::write(&path, b"old").unwrap();
        let t = Target::open(&path, FileMode::Overwrite).unwrap();
        std::fs::write(t.write_path(), b"new").unwrap();
        t.session.set_pending(Pending::default());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(t.commit(&|| Ok(())).unwrap(), 3);
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no .partial left");
        let dropped = Target::open(&path, FileMode::Overwrite).unwrap();
        std::fs::write(dropped.write_path(), b"newer").unwrap();
        drop(dropped);
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no .partial left");
        let killed = Target::open(&path, FileMode::Overwrite).unwrap();
        std::fs::write(killed.write_path(), b"half").unwrap();
        assert!(!journal::recover(&path).unwrap(), "a live writer's new file is no leftover");
        std::mem::forget(killed);
    }

    #[test]
    fn a_second_writer_is_refused() {
        let (_dir, path, _t) = change(b"aaaa");
        let err = Target::open_checking(&path, FileMode::Append, &|_| Ok(())).err().unwrap();
        assert!(err.to_string().contains("being written by another process"), "{err}");
        let err = Target::open(&path, FileMode::Overwrite).err().unwrap();
        assert!(err.to_string().contains("being written by another process"), "{err}");
    }

    #[test]
    fn a_writer_of_another_program_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.nio");
        std::fs::write(&path, b"aaaa").unwrap();
        let other = OpenOptions::new().write(true).open(&path).unwrap();
        assert_eq!(lock::try_lock(&other, Kind::Exclusive, &path).unwrap(), Got::Held);
        for mode in [FileMode::Append, FileMode::Overwrite] {
            let err = Target::open_checking(&path, mode, &|_| Ok(())).err().unwrap();
            assert!(err.to_string().contains("open for writing in another program"), "{err}");
        }
        assert!(!journal::journal_path(&path).exists(), "nothing was changed");
    }

    #[test]
    fn free_space_is_checked_against_the_data() {
        let dir = tempfile::tempdir().unwrap();
        let t = Target::open(&dir.path().join("f.nio"), FileMode::Overwrite).unwrap();
        assert!(t.check_space(1).is_ok());
        let err = t.check_space(u64::MAX).unwrap_err().to_string();
        assert!(err.contains("f.nio") && err.contains("MB free"), "{err}");
    }
}
