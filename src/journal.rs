//! Crash-safe changes to a results file: a new file is written beside its final name and
//! renamed into place ([`NewFile`]); an existing file is changed through a rollback
//! journal beside it ([`Journal`]).
//!
//! HDF5 has no journal: a writer killed while it changes a file can leave the whole file
//! unreadable. The writer ([`crate::target`], which owns the file's state) avoids that in
//! the way of SQLite's rollback journal:
//!
//! 1. [`Journal::begin`] writes the journal header (the file's committed size) and syncs it.
//! 2. Rank 0 lays out through the overlay driver ([`crate::h5`]): writes below the
//!    committed size stay in memory; new objects and the ranks' data go past it. The
//!    bytes on disk below the committed size are untouched, so the file stays a complete
//!    earlier version that Neo reads as it is.
//! 3. The commit syncs the new bytes, appends the old contents of every page about to
//!    change to the journal ([`Journal::seal`]), syncs it, writes the new pages, syncs,
//!    and deletes the journal ([`Journal::finish`]). Deleting the journal is the commit
//!    point.
//!
//! A journal (or a new file) left by a killed writer is rolled back (removed) by
//! [`recover`] (`bsb-results recover`) or by the next writer, never by a reader: readers open the committed state through
//! [`committed_view`] (the journal's old pages in place of the disk's), with read
//! permission only and without waiting for a writer.

use std::collections::BTreeMap;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::h5::{Pending, Session};
use crate::lock::{self, Got, Kind};

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

/// The refusal when a live writer holds the journal of `path`.
fn in_use(path: &Path) -> Error {
    Error::Usage(format!("'{}' is being written by another process (it holds '{}'); nothing was changed", path.display(), journal_path(path).display()))
}

/// Rolls back what a killed writer left of a change to `path`: returns `true` if there
/// was anything.
///
/// A sealed journal's pages are written back and the file is cut to its committed size;
/// a journal that was never sealed means the file's committed bytes were never touched,
/// so only the tail past the committed size is cut. A journal that belongs to another
/// file (another inode) is removed. New files of killed writers beside `path`
/// (`.NAME.*.partial`, which no live writer holds) are removed.
///
/// # Errors
/// [`Error::Usage`] when another process is writing the file (it holds the journal);
/// [`Error::Io`] when the file cannot be restored, for example without write permission.
pub fn recover(path: &Path) -> Result<bool> {
    let partials = NewFile::remove_stale(path)?;
    Ok(roll_back_journal(path)? || partials > 0)
}

/// Rolls back the journal of `path`, if there is one.
fn roll_back_journal(path: &Path) -> Result<bool> {
    let jpath = journal_path(path);
    let mut journal = match OpenOptions::new().read(true).write(true).open(&jpath) {
        Ok(j) => j,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io("open journal", &jpath, e)),
    };
    if lock::try_lock(&journal, Kind::Exclusive, &jpath)? == Got::Busy {
        return Err(in_use(path));
    }
    roll_back(&mut journal, path)?;
    std::fs::remove_file(&jpath).map_err(|e| Error::io("remove journal", &jpath, e))?;
    sync_dir(path);
    Ok(true)
}

/// Restores `path` from its (locked) journal: the old pages of a sealed journal, and the
/// committed size.
fn roll_back(journal: &mut File, path: &Path) -> Result<()> {
    let jpath = journal_path(path);
    let mut bytes = Vec::new();
    journal.read_to_end(&mut bytes).map_err(|e| Error::io("read journal", &jpath, e))?;
    let Some(header) = Header::parse(&bytes) else { return Ok(()) };
    match OpenOptions::new().write(true).open(path) {
        Ok(file) => {
            let meta = file.metadata().map_err(|e| Error::io("stat", path, e))?;
            if (meta.dev(), meta.ino()) == (header.dev, header.ino) {
                restore(&file, path, &header, &bytes[HEADER..])?;
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("open for recovery", path, e)),
    }
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

/// How a reader sees `path` while a journal is beside it (a writer at work, or one that
/// was killed): the committed state, as a driver session that reads the journal's old
/// pages instead of the disk's. `None` when there is no journal of this file. Reads the
/// journal only (no lock, no write), so it needs only read permission and never waits.
///
/// A commit that starts after this call may change pages under a reader that keeps the
/// file open; what the reader opened was committed.
///
/// # Errors
/// [`Error::Io`] when the journal exists but cannot be read.
pub(crate) fn committed_view(path: &Path) -> Result<Option<Arc<Session>>> {
    let jpath = journal_path(path);
    let bytes = match std::fs::read(&jpath) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read journal", &jpath, e)),
    };
    let Some(header) = Header::parse(&bytes) else { return Ok(None) };
    let meta = std::fs::metadata(path).map_err(|e| Error::io("stat", path, e))?;
    if (meta.dev(), meta.ino()) != (header.dev, header.ino) {
        return Ok(None);
    }
    let pages: BTreeMap<u64, Vec<u8>> = sealed_pages(&bytes[HEADER..]).unwrap_or_default().into_iter().map(|(at, old)| (at, old.to_vec())).collect();
    Ok(Some(Session::view(header.committed, pages)))
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

/// Syncs the directory of `path`, so that a created, renamed or removed name is durable.
fn sync_dir(path: &Path) {
    if let Ok(d) = File::open(parent_dir(path)) {
        let _ = d.sync_all();
    }
}

/// The directory of `path` (`.` for a bare name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A new file beside its final name, created and locked (exclusively) by its writer;
/// removed when dropped unless persisted. A killed writer's is removed by [`recover`].
pub(crate) struct NewFile {
    path: PathBuf,
    lock: File,
    persisted: bool,
}

impl NewFile {
    /// Creates a hidden file beside `target`: `.run.nio.1a2b3c4d.partial`.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub(crate) fn beside(target: &Path) -> Result<NewFile> {
        let tag = &Uuid::new_v4().simple().to_string()[..8];
        let path = parent_dir(target).join(format!("{}{tag}.partial", Self::prefix(target)));
        let file = OpenOptions::new().write(true).create_new(true).open(&path).map_err(|e| Error::io("create", &path, e))?;
        let new = NewFile { path, lock: file, persisted: false };
        if lock::try_lock(&new.lock, Kind::Exclusive, &new.path)? == Got::Busy {
            return Err(in_use(target));
        }
        Ok(new)
    }

    /// `.run.nio.`: how the new files of `target` begin.
    fn prefix(target: &Path) -> String {
        format!(".{}.", target.file_name().map_or_else(|| "results.nio".into(), |n| n.to_string_lossy().into_owned()))
    }

    /// The file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the (synced) file to `target` and syncs the directory; the writer's lock
    /// goes with this value.
    ///
    /// # Errors
    /// [`Error::Io`] naming `target`; the new file is then removed.
    pub(crate) fn persist(mut self, target: &Path) -> Result<()> {
        std::fs::rename(&self.path, target).map_err(|e| Error::io("rename into place", target, e))?;
        self.persisted = true;
        sync_dir(target);
        Ok(())
    }

    /// Removes the new files of `target` that no live writer holds; returns how many.
    fn remove_stale(target: &Path) -> Result<usize> {
        let dir = parent_dir(target);
        let prefix = Self::prefix(target);
        let Ok(entries) = std::fs::read_dir(dir) else { return Ok(0) };
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with(&prefix) || !name.ends_with(".partial") {
                continue;
            }
            let path = entry.path();
            let Ok(file) = File::open(&path) else { continue };
            if lock::try_lock(&file, Kind::Exclusive, &path)? == Got::Held {
                std::fs::remove_file(&path).map_err(|e| Error::io("remove unfinished new file", &path, e))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

impl Drop for NewFile {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The journal of one change to an existing file, held (locked) while the change lasts.
/// Dropped before [`Journal::finish`], it rolls the file back.
pub(crate) struct Journal {
    file: File,
    /// The file it protects.
    path: PathBuf,
    finished: bool,
}

impl Journal {
    /// Starts the journal of `path`, whose state is `meta`, before anything changes.
    ///
    /// # Errors
    /// [`Error::Usage`] when another process holds a journal of the file; [`Error::Io`]
    /// when the journal cannot be written.
    pub(crate) fn begin(path: &Path, meta: &Metadata) -> Result<Journal> {
        let jpath = journal_path(path);
        let file = match OpenOptions::new().read(true).write(true).create_new(true).open(&jpath) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(in_use(path)),
            Err(e) => return Err(Error::io("create journal", &jpath, e)),
        };
        if lock::try_lock(&file, Kind::Exclusive, &jpath)? == Got::Busy {
            return Err(in_use(path));
        }
        let header = Header { committed: meta.len(), dev: meta.dev(), ino: meta.ino() };
        let mut journal = Journal { file, path: path.to_owned(), finished: false };
        let written = journal.file.write_all(&header.encode()).and_then(|()| journal.file.sync_all());
        written.map_err(|e| Error::io("write journal", &jpath, e))?;
        sync_dir(path);
        Ok(journal)
    }

    /// Appends the old contents of the pages about to change, seals and syncs the journal.
    ///
    /// # Errors
    /// [`Error::Io`] naming the journal.
    pub(crate) fn seal(&mut self, pending: &Pending) -> Result<()> {
        seal(&mut self.file, pending).map_err(|e| Error::io("write journal", journal_path(&self.path), e))
    }

    /// Deletes the journal: the commit point.
    ///
    /// # Errors
    /// [`Error::Io`] naming the journal (the change is then rolled back).
    pub(crate) fn finish(mut self) -> Result<()> {
        let jpath = journal_path(&self.path);
        std::fs::remove_file(&jpath).map_err(|e| Error::io("remove journal", &jpath, e))?;
        self.finished = true;
        sync_dir(&self.path);
        Ok(())
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

impl Drop for Journal {
    /// An unfinished change is rolled back as [`recover`] would, with the journal this
    /// writer holds locked.
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let jpath = journal_path(&self.path);
        let rolled = std::io::Seek::rewind(&mut self.file)
            .map_err(|e| Error::io("read journal", &jpath, e))
            .and_then(|()| roll_back(&mut self.file, &self.path))
            .and_then(|()| std::fs::remove_file(&jpath).map_err(|e| Error::io("remove journal", &jpath, e)));
        match rolled {
            Ok(()) => sync_dir(&self.path),
            Err(e) => eprintln!("warning: could not roll back the unfinished change to '{}' ({e}); `bsb-results recover` will", self.path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h5::Page;

    /// `(offset, old bytes, new bytes)` of changed pages.
    type Pages<'a> = &'a [(u64, &'a [u8], &'a [u8])];

    fn pending(pages: Pages<'_>, len: u64) -> Pending {
        let pages = pages.iter().map(|(o, old, new)| (*o, Page { old: old.to_vec(), new: new.to_vec() })).collect();
        Pending { pages, len }
    }

    /// A journal of `path` as a killed writer leaves it: sealed with `pages`, or not.
    fn killed_writer(path: &Path, committed: u64, pages: Option<Pages<'_>>) {
        let meta = std::fs::metadata(path).unwrap();
        let mut journal = File::create(journal_path(path)).unwrap();
        journal.write_all(&Header { committed, dev: meta.dev(), ino: meta.ino() }.encode()).unwrap();
        if let Some(pages) = pages {
            seal(&mut journal, &pending(pages, committed)).unwrap();
        }
    }

    #[test]
    fn recovery_restores_a_sealed_journal_and_cuts_the_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.nio");
        std::fs::write(&path, b"aaaabbbb").unwrap();
        killed_writer(&path, 8, Some(&[(4, b"bbbb", b"")]));
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
        assert!(committed_view(&path).unwrap().is_none(), "a stranger's journal is no view");
        assert!(recover(&path).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"aaaatail", "a stranger's journal changes nothing");
    }

    #[test]
    fn a_held_journal_is_not_recovered_but_can_be_viewed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.nio");
        std::fs::write(&path, b"aaaabbbb").unwrap();
        let mut journal = Journal::begin(&path, &std::fs::metadata(&path).unwrap()).unwrap();
        journal.seal(&pending(&[(4, b"bbbb", b"BBBB")], 8)).unwrap();
        std::fs::write(&path, b"aaaaBBBBtail").unwrap();
        let err = recover(&path).unwrap_err();
        assert!(err.to_string().contains("being written by another process"), "{err}");
        let view = committed_view(&path).unwrap().expect("a view of the committed state");
        assert_eq!(view.committed_end(), 8);
        drop(journal);
        assert_eq!(std::fs::read(&path).unwrap(), b"aaaabbbb", "the writer's drop rolled back");
    }

    #[test]
    fn viewing_needs_only_read_permission_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.nio");
        std::fs::write(&path, b"aaaabbbb").unwrap();
        killed_writer(&path, 8, Some(&[(0, b"aaaa", b"")]));
        std::fs::write(&path, b"AAAAbbbbtail").unwrap();
        let before = std::fs::read(journal_path(&path)).unwrap();
        assert!(committed_view(&path).unwrap().is_some());
        assert_eq!(std::fs::read(&path).unwrap(), b"AAAAbbbbtail");
        assert_eq!(std::fs::read(journal_path(&path)).unwrap(), before);
    }
}
