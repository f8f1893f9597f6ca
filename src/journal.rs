//! Crash-safe changes to an existing results file: a rollback journal beside it.
//!
//! HDF5 has no journal: a writer killed while it changes a file can leave the whole file
//! unreadable. A [`Transaction`] avoids that in the way of SQLite's rollback journal:
//!
//! 1. `begin` writes the journal header (the file's committed size) and syncs it.
//! 2. Rank 0 lays out through the overlay driver ([`crate::h5`]): writes below the
//!    committed size stay in memory; new objects and the ranks' data go past it. The
//!    bytes on disk below the committed size are untouched, so the file stays a complete
//!    earlier version that Neo reads as it is.
//! 3. `commit` syncs the new bytes, appends the old contents of every page about to change
//!    to the journal, seals and syncs it, writes the new pages, syncs, and deletes the
//!    journal. Deleting the journal is the commit point.
//!
//! [`recover`] (run by every open of this crate, and by `bsb-results recover`) rolls an
//! unfinished transaction back: it restores the journaled pages if the journal was sealed
//! and truncates the file to its committed size.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::h5::{Owned, Pending, Session, overlay_fapl};

const MAGIC: &[u8; 8] = b"BSBJRNL1";
const SEAL: &[u8; 4] = b"SEAL";
/// Header: magic, committed size, device, inode.
const HEADER: usize = 8 + 8 + 8 + 8;

/// The journal of `path`: `run.nio` → `run.nio-journal`.
pub fn journal_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push("-journal");
    path.with_file_name(name)
}

/// Rolls back an unfinished transaction on `path`: returns `true` if there was one.
///
/// A sealed journal's pages are written back and the file is cut to its committed size;
/// a journal that was never sealed means the file's committed bytes were never touched,
/// so only the tail past the committed size is cut. A journal that belongs to another
/// file (another inode) is removed.
///
/// # Errors
/// [`Error::Usage`] when another process is writing the file (it holds the journal);
/// [`Error::Io`] when the file cannot be restored, for example without write permission.
pub fn recover(path: &Path) -> Result<bool> {
    let jpath = journal_path(path);
    let mut journal = match OpenOptions::new().read(true).write(true).open(&jpath) {
        Ok(j) => j,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io("open journal", &jpath, e)),
    };
    if journal.try_lock().is_err() {
        return Err(Error::Usage(format!("'{}' is being written by another process (it holds '{}')", path.display(), jpath.display())));
    }
    let mut bytes = Vec::new();
    journal.read_to_end(&mut bytes).map_err(|e| Error::io("read journal", &jpath, e))?;
    if let Some(header) = Header::parse(&bytes) {
        match OpenOptions::new().write(true).open(path) {
            Ok(file) => {
                let meta = file.metadata().map_err(|e| Error::io("stat", path, e))?;
                if (meta.dev(), meta.ino()) == (header.dev, header.ino) {
                    restore(&file, path, &header, &bytes[HEADER..])?;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("open for recovery", path, e)),
        }
    }
    std::fs::remove_file(&jpath).map_err(|e| Error::io("remove journal", &jpath, e))?;
    sync_dir(path);
    Ok(true)
}

/// Writes back the old pages of a sealed journal and truncates to the committed size.
fn restore(file: &File, path: &Path, header: &Header, records: &[u8]) -> Result<()> {
    if let Some(pages) = sealed_pages(records) {
        for (offset, old) in pages {
            file.write_all_at(old, offset).map_err(|e| Error::io("restore page of", path, e))?;
        }
    }
    file.set_len(header.committed).map_err(|e| Error::io("truncate", path, e))?;
    file.sync_all().map_err(|e| Error::io("sync", path, e))
}

struct Header {
    committed: u64,
    dev: u64,
    ino: u64,
}

impl Header {
    fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        for v in [self.committed, self.dev, self.ino] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    fn parse(bytes: &[u8]) -> Option<Header> {
        if bytes.len() < HEADER || &bytes[..8] != MAGIC {
            return None;
        }
        let word = |i: usize| u64::from_le_bytes(bytes[8 + 8 * i..16 + 8 * i].try_into().expect("8 bytes"));
        Some(Header { committed: word(0), dev: word(1), ino: word(2) })
    }
}

/// The page records of a sealed journal: `(offset u64, len u32, old bytes)*`, then
/// `SEAL`, the record count (u64) and a CRC-32 of the records.
fn sealed_pages(records: &[u8]) -> Option<Vec<(u64, &[u8])>> {
    let body = records.len().checked_sub(16)?;
    let (body, trailer) = records.split_at(body);
    if &trailer[..4] != SEAL || crc32fast::hash(body).to_le_bytes() != trailer[12..16] {
        return None;
    }
    let count = u64::from_le_bytes(trailer[4..12].try_into().ok()?);
    let mut pages = Vec::new();
    let mut at = 0usize;
    while at < body.len() {
        let offset = u64::from_le_bytes(body.get(at..at + 8)?.try_into().ok()?);
        let len = u32::from_le_bytes(body.get(at + 8..at + 12)?.try_into().ok()?) as usize;
        pages.push((offset, body.get(at + 12..at + 12 + len)?));
        at += 12 + len;
    }
    (pages.len() as u64 == count).then_some(pages)
}

fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// One crash-safe change to a file (see the module docs). Dropped without `commit`, it
/// rolls back.
pub(crate) struct Transaction {
    path: PathBuf,
    /// Shared with the overlay driver, which keeps it alive while HDF5 holds a file.
    session: Arc<Session>,
    /// Held (locked) while the transaction lives; `None` for a file made by this write.
    journal: Option<File>,
    /// A shared lock on the file: readers are welcome, other writers are refused.
    _lock: Option<File>,
    done: bool,
}

impl Transaction {
    /// Starts a change to the existing file `path`, rolling back an unfinished earlier one.
    ///
    /// # Errors
    /// [`Error::Usage`] when another program has the file open for writing, or another
    /// process of this crate is writing it; [`Error::Io`] for file-system failures.
    pub(crate) fn begin(path: &Path) -> Result<Transaction> {
        recover(path)?;
        let jpath = journal_path(path);
        let lock = OpenOptions::new().read(true).open(path).map_err(|e| Error::io("open", path, e))?;
        if lock.try_lock_shared().is_err() {
            return Err(Error::Usage(format!("'{}' is open for writing in another program; nothing was changed", path.display())));
        }
        let meta = lock.metadata().map_err(|e| Error::io("stat", path, e))?;
        let mut journal = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&jpath)
            .map_err(|e| Error::io("create journal", &jpath, e))?;
        if journal.try_lock().is_err() {
            return Err(Error::Usage(format!("'{}' is being written by another process", path.display())));
        }
        let header = Header { committed: meta.len(), dev: meta.dev(), ino: meta.ino() };
        journal.write_all(&header.encode()).and_then(|()| journal.sync_all()).map_err(|e| Error::io("write journal", &jpath, e))?;
        sync_dir(path);
        let session = Session::new(meta.len());
        Ok(Transaction { path: path.to_owned(), session, journal: Some(journal), _lock: Some(lock), done: false })
    }

    /// Starts writing a new file at `path` (nothing to protect, so no journal).
    pub(crate) fn fresh(path: &Path) -> Transaction {
        Transaction { path: path.to_owned(), session: Session::new(0), journal: None, _lock: None, done: false }
    }

    /// The file this transaction changes.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes below this offset change only at commit.
    pub(crate) fn committed_end(&self) -> u64 {
        self.session.committed_end()
    }

    /// A file-access list (based on `base`) that opens the file through the overlay driver.
    pub(crate) fn fapl(&self, base: hdf5_sys::h5i::hid_t) -> Result<Owned> {
        overlay_fapl(&self.session, base)
    }

    /// `result` of HDF5's work on the file, failed if a write of the driver failed (HDF5
    /// reports only that a call failed, and after the first failed write the driver drops
    /// the rest, so that HDF5's clean-up cannot fail again): the operating system's error
    /// is preferred to HDF5's summary.
    pub(crate) fn settle<T>(&self, result: Result<T>) -> Result<T> {
        let io = self.session.take_error().map(|e| Error::io("write", &self.path, e));
        match (result, io) {
            (Err(_), Some(io)) => Err(io),
            (Ok(_), Some(io)) if self.session.is_poisoned() => Err(io),
            (Ok(_), None) if self.session.is_poisoned() => Err(Error::Usage(format!("the write to '{}' was abandoned", self.path.display()))),
            (result, _) => result,
        }
    }

    /// Commits: syncs the new bytes, journals and applies the deferred pages, deletes the
    /// journal. Returns the file's size. `halfway` runs when half of the pages are applied,
    /// or after the sync of a new file (fault-injection tests hook in there); an error
    /// there, or any other, rolls back.
    pub(crate) fn commit(mut self, halfway: &dyn Fn() -> Result<()>) -> Result<u64> {
        let path = self.path.clone();
        self.settle(Ok(()))?;
        let pending = self.session.take_pending().ok_or_else(|| {
            Error::Usage(format!("HDF5 did not close '{}', so its last changes are unknown; nothing was committed", path.display()))
        })?;
        let file = OpenOptions::new().write(true).open(&path).map_err(|e| Error::io("open", &path, e))?;
        file.sync_all().map_err(|e| Error::io("sync", &path, e))?;
        if self.journal.is_none() {
            halfway()?;
        }
        if let Some(journal) = &mut self.journal {
            seal(journal, &pending).map_err(|e| Error::io("write journal", journal_path(&path), e))?;
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
            std::fs::remove_file(journal_path(&path)).map_err(|e| Error::io("remove journal", journal_path(&path), e))?;
            sync_dir(&path);
        }
        self.done = true;
        file.metadata().map(|m| m.len()).map_err(|e| Error::io("stat", &path, e))
    }
}

/// Appends the old contents of the pages about to change and seals the journal.
fn seal(journal: &mut File, pending: &Pending) -> std::io::Result<()> {
    let mut records = Vec::new();
    for (offset, page) in &pending.pages {
        records.extend_from_slice(&offset.to_le_bytes());
        records.extend_from_slice(&u32::try_from(page.old.len()).unwrap_or(u32::MAX).to_le_bytes());
        records.extend_from_slice(&page.old);
    }
    let mut trailer = SEAL.to_vec();
    trailer.extend_from_slice(&(pending.pages.len() as u64).to_le_bytes());
    trailer.extend_from_slice(&crc32fast::hash(&records).to_le_bytes());
    journal.write_all(&records)?;
    journal.write_all(&trailer)?;
    journal.sync_all()
}

impl Drop for Transaction {
    /// An uncommitted change is rolled back as [`recover`] would: journaled pages are
    /// restored if the journal was sealed, and the file is cut to its committed size.
    fn drop(&mut self) {
        if !self.done {
            self.session.abandon();
        }
        if self.done || self.journal.take().is_none() {
            return;
        }
        if let Err(e) = recover(&self.path) {
            eprintln!("warning: could not roll back the unfinished change to '{}': {e}", self.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h5::Page;

    fn pending(pages: &[(u64, &[u8], &[u8])], len: u64) -> Pending {
        let pages = pages.iter().map(|(o, old, new)| (*o, Page { old: old.to_vec(), new: new.to_vec() })).collect();
        Pending { pages, len }
    }

    #[test]
    fn commit_applies_pages_and_removes_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.nio");
        std::fs::write(&path, b"aaaabbbb").unwrap();
        let t = Transaction::begin(&path).unwrap();
        assert!(journal_path(&path).exists());
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"cccc").unwrap();
        t.session.set_pending(pending(&[(0, b"aaaa", b"AAAA")], 12));
        assert_eq!(t.commit(&|| Ok(())).unwrap(), 12);
        assert_eq!(std::fs::read(&path).unwrap(), b"AAAAbbbbcccc");
        assert!(!journal_path(&path).exists());
    }

    #[test]
    fn a_commit_without_the_drivers_close_fails_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.nio");
        std::fs::write(&path, b"aaaabbbb").unwrap();
        let t = Transaction::begin(&path).unwrap();
        let err = t.commit(&|| Ok(())).unwrap_err();
        assert!(err.to_string().contains("did not close"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"aaaabbbb", "not truncated");
        assert!(!journal_path(&path).exists());
    }

    #[test]
    fn a_failed_write_of_the_driver_fails_the_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.nio");
        std::fs::write(&path, b"aaaabbbb").unwrap();
        let t = Transaction::begin(&path).unwrap();
        t.session.set_pending(pending(&[(0, b"aaaa", b"AAAA")], 8));
        t.session.abandon();
        assert!(t.commit(&|| Ok(())).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"aaaabbbb");
    }

    #[test]
    fn a_commit_failing_halfway_is_rolled_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.nio");
        std::fs::write(&path, b"aaaabbbb").unwrap();
        let t = Transaction::begin(&path).unwrap();
        t.session.set_pending(pending(&[(0, b"aaaa", b"AAAA"), (4, b"bbbb", b"BBBB")], 8));
        let failed = t.commit(&|| Err(Error::Usage("boom".into())));
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"aaaabbbb", "the page applied before the failure is restored");
        assert!(!journal_path(&path).exists());
    }

    #[test]
    fn dropping_an_uncommitted_transaction_rolls_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.nio");
        std::fs::write(&path, b"aaaa").unwrap();
        let t = Transaction::begin(&path).unwrap();
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"garbage").unwrap();
        drop(t);
        assert_eq!(std::fs::read(&path).unwrap(), b"aaaa");
        assert!(!journal_path(&path).exists());
    }

    #[test]
    fn recovery_restores_a_sealed_journal_and_cuts_the_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.nio");
        std::fs::write(&path, b"aaaabbbb").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        let mut journal = File::create(journal_path(&path)).unwrap();
        journal.write_all(&Header { committed: 8, dev: meta.dev(), ino: meta.ino() }.encode()).unwrap();
        seal(&mut journal, &pending(&[(4, b"bbbb", b"")], 8)).unwrap();
        drop(journal);
        std::fs::write(&path, b"aaaaXXXXtail").unwrap();
        assert!(recover(&path).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"aaaabbbb");
        assert!(!recover(&path).unwrap(), "nothing left to recover");
    }

    #[test]
    fn an_unsealed_journal_only_cuts_the_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.nio");
        std::fs::write(&path, b"aaaa").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        let mut header = Header { committed: 4, dev: meta.dev(), ino: meta.ino() }.encode();
        header.extend_from_slice(b"\x00\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00XX");
        std::fs::write(journal_path(&path), header).unwrap();
        std::fs::write(&path, b"aaaatail").unwrap();
        assert!(recover(&path).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"aaaa");
    }

    #[test]
    fn a_journal_of_another_file_is_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.nio");
        std::fs::write(&path, b"aaaatail").unwrap();
        std::fs::write(journal_path(&path), Header { committed: 4, dev: 1, ino: 2 }.encode()).unwrap();
        assert!(recover(&path).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"aaaatail", "a stranger's journal changes nothing");
    }

    #[test]
    fn a_second_writer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.nio");
        std::fs::write(&path, b"aaaa").unwrap();
        let _t = Transaction::begin(&path).unwrap();
        let err = Transaction::begin(&path).err().unwrap();
        assert!(err.to_string().contains("another process"), "{err}");
    }

    #[test]
    fn a_writer_of_another_program_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.nio");
        std::fs::write(&path, b"aaaa").unwrap();
        let other = OpenOptions::new().write(true).open(&path).unwrap();
        other.lock().unwrap();
        let err = Transaction::begin(&path).err().unwrap();
        assert!(err.to_string().contains("open for writing in another program"), "{err}");
        assert!(!journal_path(&path).exists(), "nothing was changed");
    }
}
