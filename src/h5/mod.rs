//! The small unsafe part: raw HDF5 calls through `hdf5-sys`, behind safe handles.
//!
//! `hdf5-metno`'s high-level writes use HDF5's default transfer list, whose 1 MiB
//! conversion buffer makes every variable-length string write 20× slower (HDF5_SPEED.md),
//! so the hot paths call HDF5 directly. Every return code is checked. Objects borrow
//! their [`File`], so the borrow checker guarantees that every object handle is closed
//! before the file is.

mod batch;
mod cache;
mod dense;
mod encode;
mod kit;
mod overlay;
mod read;
mod tail;

use std::ffi::{CStr, CString, c_char};
use std::path::{Path, PathBuf};

use hdf5_sys::h5::{hsize_t, hbool_t};
use hdf5_sys::h5f::{H5F_ACC_RDONLY, H5F_ACC_RDWR, H5F_ACC_TRUNC, H5Fclose, H5Fcreate, H5Fopen};
use hdf5_sys::h5i::{H5Iget_name, hid_t};
use hdf5_sys::h5o::{H5Oclose, H5Oopen};
use hdf5_sys::h5p::{H5P_CLS_FILE_ACCESS, H5P_DEFAULT, H5Pclose, H5Pcreate, H5Pset_file_locking};
use hdf5_sys::h5s::H5Sclose;
use hdf5_sys::h5t::H5Tclose;

pub(crate) use kit::{COMPACT_LIMIT, GroupKind, Kit, NumType, Nums};
#[cfg(test)]
pub(crate) use overlay::Page;
pub(crate) use overlay::{Pending, Session, fapl as overlay_fapl};
pub(crate) use read::{Attr, Data, Link, find};
pub(crate) use batch::{Batch, Container, set_file_space};
pub(crate) use encode::{Elem, GroupInfo, Header, Storage, UNDEF};

/// Creates `path` through the crash-safe driver, as a layout does (for tests of what is
/// written in it); the file keeps its session alive.
#[cfg(test)]
pub(crate) fn create_for_test(path: &Path, kit: &Kit) -> File {
    let fapl = overlay_fapl(&Session::new(0), kit.fapl()).expect("a driver list");
    File::open(path, Mode::Create, Some(kit), Some(fapl.id())).expect("a new file")
}

use crate::error::{Error, Result};

/// Runs `f` holding `hdf5-metno`'s library lock, which also initializes HDF5 once and
/// turns off its automatic error printing (errors are reported through [`Error`]).
pub(crate) fn locked<T>(f: impl FnOnce() -> T) -> T {
    hdf5::sync::sync(f)
}

/// A return value that signals failure when negative.
pub(crate) trait Ret: Copy {
    fn failed(self) -> bool;
}
impl Ret for hid_t {
    fn failed(self) -> bool {
        self < 0
    }
}
impl Ret for i32 {
    fn failed(self) -> bool {
        self < 0
    }
}
impl Ret for isize {
    fn failed(self) -> bool {
        self < 0
    }
}

/// HDF5's description of the error stack of the call that just failed.
fn stack_message() -> String {
    hdf5::Error::query().map_or_else(|e| e.to_string(), |e| e.to_string())
}

/// A C string for a name; names with NUL bytes are rejected by validation long before.
pub(crate) fn cstr(s: &str) -> CString {
    CString::new(s).unwrap_or_else(|_| CString::new(s.replace('\0', "\u{fffd}")).expect("no NUL left"))
}

/// An open HDF5 file.
#[derive(Debug)]
pub(crate) struct File {
    id: hid_t,
    path: PathBuf,
}

/// How to open a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Create (or truncate) for writing.
    Create,
    /// Open an existing file for writing.
    ReadWrite,
    /// Open read-only.
    ReadOnly,
}

impl File {
    /// Opens or creates `path` with the file-access list `fapl` (`None`: [`read_fapl`]'s,
    /// the serial sec2 driver).
    pub(crate) fn open(path: &Path, mode: Mode, kit: Option<&Kit>, fapl: Option<hid_t>) -> Result<File> {
        let c = cstr(&path.to_string_lossy());
        let default;
        let fapl = match fapl {
            Some(f) => f,
            None => {
                default = read_fapl(None)?;
                default.id()
            }
        };
        // SAFETY: valid NUL-terminated path and property lists (or H5P_DEFAULT).
        let id = unsafe {
            match mode {
                Mode::Create => H5Fcreate(c.as_ptr(), H5F_ACC_TRUNC, kit.map_or(H5P_DEFAULT, Kit::fcpl), fapl),
                Mode::ReadWrite => H5Fopen(c.as_ptr(), H5F_ACC_RDWR, fapl),
                Mode::ReadOnly => H5Fopen(c.as_ptr(), H5F_ACC_RDONLY, fapl),
            }
        };
        if id < 0 {
            let op = if mode == Mode::Create { "create file" } else { "open file" };
            return Err(Error::Hdf5 { op, object: "/".into(), path: path.into(), message: stack_message() });
        }
        Ok(File { id, path: path.into() })
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The root group.
    pub(crate) fn root(&self) -> Result<Obj<'_>> {
        self.open_path(".", None)
    }

    /// Opens the object at absolute or root-relative `path`.
    pub(crate) fn open_path(&self, path: &str, what: Option<&str>) -> Result<Obj<'_>> {
        let c = cstr(path);
        // SAFETY: open file id and NUL-terminated path.
        let id = unsafe { H5Oopen(self.id, c.as_ptr(), H5P_DEFAULT) };
        self.check(id, "open", || what.unwrap_or(path).to_owned()).map(|id| Obj::new(id, self))
    }

    /// Closes the file, reporting any error of the final flush.
    ///
    /// Takes `self`, and objects borrow the file, so nothing can still be open.
    pub(crate) fn close(self) -> Result<()> {
        let id = self.id;
        let path = self.path.clone();
        std::mem::forget(self);
        // SAFETY: the id is open and no object handle of this file remains.
        let ret = locked(|| unsafe { H5Fclose(id) });
        if ret < 0 {
            return Err(Error::Hdf5 { op: "close file", object: "/".into(), path, message: stack_message() });
        }
        Ok(())
    }

    /// Turns a failed return value into an error naming `what` in this file.
    pub(crate) fn check<T: Ret>(&self, ret: T, op: &'static str, what: impl FnOnce() -> String) -> Result<T> {
        if ret.failed() {
            return Err(Error::Hdf5 { op, object: what(), path: self.path.clone(), message: stack_message() });
        }
        Ok(ret)
    }
}

/// Handles are closed under the library lock: a drop may run outside [`locked`], while
/// another thread of the application uses HDF5.
impl Drop for File {
    fn drop(&mut self) {
        // SAFETY: the id is open; errors cannot be reported from drop, and `close` is the
        // path that reports them.
        locked(|| unsafe {
            H5Fclose(self.id);
        });
    }
}

/// An open group or dataset of a file.
#[derive(Debug)]
pub(crate) struct Obj<'f> {
    id: hid_t,
    file: &'f File,
    /// Its path for messages, where HDF5 knows none (an object opened by address, and
    /// what is opened below it).
    label: Option<Box<str>>,
}

impl<'f> Obj<'f> {
    /// Wraps an open object id of `file`.
    fn new(id: hid_t, file: &'f File) -> Obj<'f> {
        Obj { id, file, label: None }
    }

    pub(crate) fn id(&self) -> hid_t {
        self.id
    }
    pub(crate) fn file(&self) -> &'f File {
        self.file
    }

    /// This object's path in the file (for messages).
    pub(crate) fn name(&self) -> String {
        if let Some(label) = &self.label {
            return label.to_string();
        }
        let mut buf = vec![0 as c_char; 512];
        // SAFETY: buffer of the given size; H5Iget_name NUL-terminates within it.
        let n = unsafe { H5Iget_name(self.id, buf.as_mut_ptr(), buf.len()) };
        if n < 0 {
            return "?".into();
        }
        // SAFETY: NUL-terminated by H5Iget_name.
        unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned()
    }

    /// `self`'s path joined with `child` (for messages).
    pub(crate) fn child_name(&self, child: &str) -> String {
        let parent = self.name();
        if parent.ends_with('/') { format!("{parent}{child}") } else { format!("{parent}/{child}") }
    }

    /// Opens the child object `name`.
    pub(crate) fn open(&self, name: &str) -> Result<Obj<'f>> {
        let c = cstr(name);
        // SAFETY: open location id and NUL-terminated name.
        let id = unsafe { H5Oopen(self.id, c.as_ptr(), H5P_DEFAULT) };
        self.wrap(id, "open", name)
    }

    /// Wraps an id this object's file just handed out for its child `name`; below an
    /// object HDF5 knows no path of, the child is labelled with its path.
    fn wrap(&self, id: hid_t, op: &'static str, name: &str) -> Result<Obj<'f>> {
        let mut obj = self.file.check(id, op, || self.child_name(name)).map(|id| Obj::new(id, self.file))?;
        if self.label.is_some() {
            obj.label = Some(self.child_name(name).into());
        }
        Ok(obj)
    }
}

impl Drop for Obj<'_> {
    fn drop(&mut self) {
        // SAFETY: the id is an open object of a file that outlives it.
        locked(|| unsafe {
            H5Oclose(self.id);
        });
    }
}

/// An owned property list, datatype or dataspace id, closed on drop.
#[derive(Debug)]
pub(crate) struct Owned {
    id: hid_t,
    close: unsafe extern "C" fn(hid_t) -> i32,
}

impl Owned {
    fn plist(id: hid_t) -> Result<Owned> {
        Self::checked(id, H5Pclose, "create property list")
    }
    fn datatype(id: hid_t) -> Result<Owned> {
        Self::checked(id, H5Tclose, "create datatype")
    }
    fn dataspace(id: hid_t) -> Result<Owned> {
        Self::checked(id, H5Sclose, "create dataspace")
    }
    fn checked(id: hid_t, close: unsafe extern "C" fn(hid_t) -> i32, op: &'static str) -> Result<Owned> {
        if id < 0 {
            return Err(Error::Hdf5 { op, object: String::new(), path: PathBuf::new(), message: stack_message() });
        }
        Ok(Owned { id, close })
    }
    pub(crate) fn id(&self) -> hid_t {
        self.id
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: the id is open and owned by this value.
        locked(|| unsafe {
            (self.close)(self.id);
        });
    }
}

/// A file-access list to read with: HDF5's file locks where the file system has them
/// (best effort, unless `HDF5_USE_FILE_LOCKING` says otherwise; HDF5 reads it), through
/// the overlay driver when `view` gives the committed state of a file being changed.
pub(crate) fn read_fapl(view: Option<&std::sync::Arc<Session>>) -> Result<Owned> {
    // SAFETY: initializes the library (idempotent; the class ids below are valid only
    // after it), then creates and sets up a list this function owns.
    let fapl = unsafe {
        setup(hdf5_sys::h5::H5open(), "initialize HDF5")?;
        let fapl = Owned::plist(H5Pcreate(*H5P_CLS_FILE_ACCESS))?;
        setup(H5Pset_file_locking(fapl.id(), TRUE, TRUE), "set file locking")?;
        cache::fixed(fapl.id(), cache::READ)?;
        fapl
    };
    match view {
        Some(session) => overlay_fapl(session, fapl.id()),
        None => Ok(fapl),
    }
}

/// Checks the return of a call that sets up a property list or type (no file involved).
fn setup(ret: i32, op: &'static str) -> Result<()> {
    if ret < 0 {
        return Err(Error::Hdf5 { op, object: String::new(), path: PathBuf::new(), message: stack_message() });
    }
    Ok(())
}

/// HDF5's `true`.
const TRUE: hbool_t = 1;
/// HDF5's `false`.
const FALSE: hbool_t = 0;

/// Converts a length to an HDF5 size.
fn hsize(n: usize) -> hsize_t {
    n as hsize_t
}
