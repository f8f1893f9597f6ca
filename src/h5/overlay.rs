//! A file driver that leaves the committed part of a file untouched until commit.
//!
//! Every write below the *committed end* (the file's size when a transaction began) is
//! kept in memory, page by page, with the page's old contents; writes at or past it go to
//! the file directly. So while rank 0 lays out a checkpoint, and while the ranks write
//! their data past the committed end, the bytes on disk below it are exactly the previous,
//! complete file: Neo and our reader can open it at any moment. The transaction then
//! journals the old pages and applies the new ones ([`crate::journal`]).
//!
//! The same driver gives readers the committed state of a file whose commit is under way
//! (or was killed): opened read-only with the journal's old pages, it reads those instead
//! of the disk (see [`Session::view`]).
//!
//! After the first failed write (a full disk, a quota, an I/O error) the session is
//! *poisoned*: HDF5 is told the write worked, and from then on metadata stays in memory
//! and raw data is dropped, so that HDF5's own clean-up (flushing its caches while it
//! closes the file) cannot fail: HDF5 1.10 leaves a file whose close failed half torn
//! down, and crashes at library exit. The transaction sees the recorded error and never
//! commits; a transaction that gives up poisons its session too ([`Session::abandon`]).
//!
//! The structs mirror HDF5 1.10's `H5FDpublic.h`; `hdf5-sys` describes another version's
//! layout, so they are declared here and the library's version is checked at registration.

use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_uint, c_ulong, c_void};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use hdf5_sys::h5::{H5get_libversion, haddr_t, herr_t, hsize_t};
use hdf5_sys::h5f::{H5F_ACC_CREAT, H5F_ACC_EXCL, H5F_ACC_RDWR, H5F_ACC_TRUNC, H5F_close_degree_t};
use hdf5_sys::h5i::hid_t;
use hdf5_sys::h5p::H5Pset_driver;

use super::tail::{self, Tail};
use super::{Owned, setup};
use crate::error::{Error, Result};

/// The granularity of deferred writes.
pub(crate) const PAGE: u64 = 4096;

/// HDF5's `H5FD_mem_t` (an `enum` of `int`).
type MemType = c_int;
const MEM_SUPER: MemType = 1;
const MEM_DRAW: MemType = 3;

/// `H5FD_class_t` of HDF5 1.10.
#[repr(C)]
struct Class {
    name: *const c_char,
    maxaddr: haddr_t,
    fc_degree: H5F_close_degree_t,
    terminate: Option<unsafe extern "C" fn() -> herr_t>,
    sb_size: Option<unsafe extern "C" fn(*mut Base) -> hsize_t>,
    sb_encode: Option<unsafe extern "C" fn(*mut Base, *mut c_char, *mut u8) -> herr_t>,
    sb_decode: Option<unsafe extern "C" fn(*mut Base, *const c_char, *const u8) -> herr_t>,
    fapl_size: usize,
    fapl_get: Option<unsafe extern "C" fn(*mut Base) -> *mut c_void>,
    fapl_copy: Option<unsafe extern "C" fn(*const c_void) -> *mut c_void>,
    fapl_free: Option<unsafe extern "C" fn(*mut c_void) -> herr_t>,
    dxpl_size: usize,
    dxpl_copy: Option<unsafe extern "C" fn(*const c_void) -> *mut c_void>,
    dxpl_free: Option<unsafe extern "C" fn(*mut c_void) -> herr_t>,
    open: Option<unsafe extern "C" fn(*const c_char, c_uint, hid_t, haddr_t) -> *mut Base>,
    close: Option<unsafe extern "C" fn(*mut Base) -> herr_t>,
    cmp: Option<unsafe extern "C" fn(*const Base, *const Base) -> c_int>,
    query: Option<unsafe extern "C" fn(*const Base, *mut c_ulong) -> herr_t>,
    get_type_map: Option<unsafe extern "C" fn(*const Base, *mut MemType) -> herr_t>,
    alloc: Option<unsafe extern "C" fn(*mut Base, MemType, hid_t, hsize_t) -> haddr_t>,
    free: Option<unsafe extern "C" fn(*mut Base, MemType, hid_t, haddr_t, hsize_t) -> herr_t>,
    get_eoa: Option<unsafe extern "C" fn(*const Base, MemType) -> haddr_t>,
    set_eoa: Option<unsafe extern "C" fn(*mut Base, MemType, haddr_t) -> herr_t>,
    get_eof: Option<unsafe extern "C" fn(*const Base, MemType) -> haddr_t>,
    get_handle: Option<unsafe extern "C" fn(*mut Base, hid_t, *mut *mut c_void) -> herr_t>,
    read: Option<unsafe extern "C" fn(*mut Base, MemType, hid_t, haddr_t, usize, *mut c_void) -> herr_t>,
    write: Option<unsafe extern "C" fn(*mut Base, MemType, hid_t, haddr_t, usize, *const c_void) -> herr_t>,
    flush: Option<unsafe extern "C" fn(*mut Base, hid_t, bool) -> herr_t>,
    truncate: Option<unsafe extern "C" fn(*mut Base, hid_t, bool) -> herr_t>,
    lock: Option<unsafe extern "C" fn(*mut Base, bool) -> herr_t>,
    unlock: Option<unsafe extern "C" fn(*mut Base) -> herr_t>,
    fl_map: [MemType; 7],
}

// SAFETY: the class is immutable static data; its one pointer is to a static C string.
unsafe impl Sync for Class {}

/// `struct H5FD_t` of HDF5 1.10: the part of an open file HDF5 owns.
#[repr(C)]
struct Base {
    driver_id: hid_t,
    cls: *const Class,
    fileno: c_ulong,
    access_flags: c_uint,
    feature_flags: c_ulong,
    maxaddr: haddr_t,
    base_addr: haddr_t,
    threshold: hsize_t,
    alignment: hsize_t,
    paged_aggr: bool,
}

/// An open file: HDF5's part first, then ours.
#[repr(C)]
struct Open {
    base: Base,
    file: File,
    dev: u64,
    ino: u64,
    eoa: u64,
    /// The file's size on disk.
    eof: u64,
    /// The length HDF5 truncated to, when that lies below the committed end.
    truncated: Option<u64>,
    pages: BTreeMap<u64, Page>,
    /// Writes past the committed end, not yet on disk.
    tail: Tail,
    /// Kept alive by every file open on it, whatever happens to the transaction.
    session: Arc<Session>,
}

/// One deferred page: its contents on disk (below the committed end) and the new ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Page {
    pub old: Vec<u8>,
    pub new: Vec<u8>,
}

/// What a closed file leaves for the commit.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// Deferred pages by file offset.
    pub pages: BTreeMap<u64, Page>,
    /// The length the file must have once committed.
    pub len: u64,
}

/// What the driver shares with the transaction (or reader) that opened a file with it.
#[derive(Debug, Default)]
pub(crate) struct Session {
    /// Bytes below this offset are only changed at commit.
    committed_end: u64,
    /// A reader's view: the journal's old pages, read instead of the disk.
    rollback: BTreeMap<u64, Vec<u8>>,
    /// Left by the driver's `close`: what the commit applies.
    pending: Mutex<Option<Pending>>,
    /// The first I/O error of a write (HDF5 only learns that the call failed), or the
    /// error of the last failed open.
    error: Mutex<Option<std::io::Error>>,
    /// Set by the first failed write and by [`Session::abandon`]: writes are dropped.
    poisoned: AtomicBool,
}

impl Session {
    /// A session for a transaction on a file whose committed part ends at `committed_end`.
    pub(crate) fn new(committed_end: u64) -> Arc<Session> {
        Arc::new(Session { committed_end, ..Session::default() })
    }

    /// A reader's session: the file as committed at `committed_end`, with `rollback`'s
    /// old pages (by offset) in place of what a commit under way wrote there.
    pub(crate) fn view(committed_end: u64, rollback: BTreeMap<u64, Vec<u8>>) -> Arc<Session> {
        Arc::new(Session { committed_end, rollback, ..Session::default() })
    }

    /// Bytes below this offset are only changed at commit.
    pub(crate) fn committed_end(&self) -> u64 {
        self.committed_end
    }

    /// What the driver's `close` left; `None` when HDF5 never closed the file.
    pub(crate) fn take_pending(&self) -> Option<Pending> {
        lock(&self.pending).take()
    }

    /// Sets what `close` would leave (tests of the commit).
    #[cfg(test)]
    pub(crate) fn set_pending(&self, pending: Pending) {
        *lock(&self.pending) = Some(pending);
    }

    /// The I/O error a callback met, if any.
    pub(crate) fn take_error(&self) -> Option<std::io::Error> {
        lock(&self.error).take()
    }

    /// Whether a write failed (or the session was abandoned): nothing may be committed.
    pub(crate) fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::SeqCst)
    }

    /// Drops every later write: the transaction gave up, and a file HDF5 still holds
    /// (closed later, at the latest at library exit) must not change the disk.
    pub(crate) fn abandon(&self) {
        self.poisoned.store(true, Ordering::SeqCst);
    }

    /// Records a failed write and poisons the session.
    fn fail_write(&self, e: std::io::Error) {
        lock(&self.error).get_or_insert(e);
        self.abandon();
    }

    /// Records a failed read (nothing on disk changed, so no poison).
    fn fail_read(&self, e: std::io::Error) -> herr_t {
        lock(&self.error).get_or_insert(e);
        -1
    }
}

/// Locks a mutex, also one a panicking thread left poisoned (the data is plain).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The driver information passed through the file-access list. Each copy HDF5 keeps owns
/// one strong count of the session (see `fapl_copy` and `fapl_free`).
#[repr(C)]
#[derive(Clone, Copy)]
struct Config {
    session: *const Session,
}

static CLASS: Class = Class {
    name: c"bsb_overlay".as_ptr(),
    maxaddr: (1u64 << 63) - 1,
    fc_degree: H5F_close_degree_t::H5F_CLOSE_WEAK,
    terminate: None,
    sb_size: None,
    sb_encode: None,
    sb_decode: None,
    fapl_size: std::mem::size_of::<Config>(),
    fapl_get: None,
    fapl_copy: Some(fapl_copy),
    fapl_free: Some(fapl_free),
    dxpl_size: 0,
    dxpl_copy: None,
    dxpl_free: None,
    open: Some(open),
    close: Some(close),
    cmp: Some(cmp),
    query: Some(query),
    get_type_map: None,
    alloc: None,
    free: None,
    get_eoa: Some(get_eoa),
    set_eoa: Some(set_eoa),
    get_eof: Some(get_eof),
    get_handle: Some(get_handle),
    read: Some(read),
    write: Some(write),
    flush: Some(flush),
    truncate: Some(truncate),
    lock: None,
    unlock: None,
    fl_map: [MEM_SUPER, MEM_SUPER, MEM_SUPER, MEM_DRAW, MEM_DRAW, MEM_SUPER, MEM_SUPER],
};

unsafe extern "C" {
    fn H5FDregister(cls: *const Class) -> hid_t;
    fn H5Pget_driver_info(plist: hid_t) -> *const c_void;
}

/// Registers the driver once (under the HDF5 lock); checks HDF5 is 1.10.
fn driver() -> Result<hid_t> {
    static ID: OnceLock<std::result::Result<hid_t, String>> = OnceLock::new();
    let id = ID.get_or_init(|| {
        let (mut major, mut minor, mut release) = (0, 0, 0);
        // SAFETY: plain out-parameters; the class is static and laid out as 1.10 expects.
        unsafe {
            H5get_libversion(&raw mut major, &raw mut minor, &raw mut release);
            if (major, minor) != (1, 10) {
                return Err(format!("the crash-safe file driver is built for HDF5 1.10, found {major}.{minor}.{release}"));
            }
            let id = H5FDregister(&raw const CLASS);
            if id < 0 { Err("HDF5 refused to register the crash-safe file driver".into()) } else { Ok(id) }
        }
    });
    id.clone().map_err(|message| Error::Hdf5 { op: "register driver", object: String::new(), path: Default::default(), message })
}

/// A file-access list that opens files through this driver for `session`; the list and
/// every file opened with it keep the session alive.
pub(crate) fn fapl(session: &Arc<Session>, base: hid_t) -> Result<Owned> {
    let driver = driver()?;
    let config = Config { session: Arc::as_ptr(session) };
    // SAFETY: copies a valid list and sets our driver; HDF5 copies the config through
    // `fapl_copy`, which takes its own count of the session, alive here through `session`.
    unsafe {
        let fapl = Owned::plist(hdf5_sys::h5p::H5Pcopy(base))?;
        setup(H5Pset_driver(fapl.id(), driver, (&raw const config).cast()), "set crash-safe driver")?;
        Ok(fapl)
    }
}

/// HDF5 copies a list's driver information: the copy owns one more count of the session.
unsafe extern "C" fn fapl_copy(info: *const c_void) -> *mut c_void {
    // SAFETY: HDF5 passes a config of ours (from `fapl` or an earlier copy), whose
    // session is alive: the caller of `fapl` or the copy being copied holds a count.
    let config = unsafe { *info.cast::<Config>() };
    // SAFETY: as above, `session` came from `Arc::as_ptr` of a live `Arc`.
    unsafe { Arc::increment_strong_count(config.session) };
    Box::into_raw(Box::new(config)).cast()
}

/// HDF5 frees a copy made by `fapl_copy`, with its count of the session.
unsafe extern "C" fn fapl_free(info: *mut c_void) -> herr_t {
    // SAFETY: `info` is a box `fapl_copy` made, freed once by HDF5; it owns one count.
    let config = unsafe { Box::from_raw(info.cast::<Config>()) };
    // SAFETY: the count taken in `fapl_copy` is given back here, once.
    unsafe { Arc::decrement_strong_count(config.session) };
    0
}

/// The state of an open file, to read.
///
/// # Safety
/// `file` is a pointer this driver's `open` returned and `close` has not freed, and no
/// `&mut` to it is alive (HDF5 calls a file's callbacks one at a time, under its lock).
unsafe fn state<'a>(file: *const Base) -> &'a Open {
    // SAFETY: `Open` starts with `Base` (repr(C)), and HDF5 hands back our pointer.
    unsafe { &*file.cast::<Open>() }
}

/// The state of an open file, to change.
///
/// # Safety
/// As [`state`], and no other reference to it is alive: each callback makes one.
unsafe fn state_mut<'a>(file: *mut Base) -> &'a mut Open {
    // SAFETY: `Open` starts with `Base` (repr(C)), and HDF5 hands back our pointer.
    unsafe { &mut *file.cast::<Open>() }
}

unsafe extern "C" fn open(name: *const c_char, flags: c_uint, fapl: hid_t, _maxaddr: haddr_t) -> *mut Base {
    // SAFETY: HDF5 passes a NUL-terminated name and a list holding a config of ours, whose
    // copy in the list owns a count of the session (see `fapl_copy`).
    let (path, session) = unsafe {
        let config = H5Pget_driver_info(fapl).cast::<Config>();
        if config.is_null() {
            return std::ptr::null_mut();
        }
        let session = (*config).session;
        Arc::increment_strong_count(session);
        (std::ffi::CStr::from_ptr(name).to_string_lossy().into_owned(), Arc::from_raw(session))
    };
    let mut options = OpenOptions::new();
    options.read(true).write(flags & H5F_ACC_RDWR != 0);
    if flags & H5F_ACC_CREAT != 0 {
        options.create(true);
    }
    if flags & H5F_ACC_TRUNC != 0 {
        options.truncate(true);
    }
    if flags & H5F_ACC_EXCL != 0 {
        options.create_new(true);
    }
    // HDF5 tries an open without creating first: only the last open's error counts.
    let opened = options.open(&path).and_then(|file| file.metadata().map(|m| (file, m)));
    let (file, meta) = match opened {
        Ok(x) => x,
        Err(e) => {
            *lock(&session.error) = Some(e);
            return std::ptr::null_mut();
        }
    };
    lock(&session.error).take();
    let pages = session.rollback.iter().map(|(at, old)| (*at, Page { old: old.clone(), new: old.clone() })).collect();
    // SAFETY: a zeroed `Base` is what HDF5 expects a driver to hand over; HDF5 fills it.
    let base: Base = unsafe { std::mem::zeroed() };
    let open = Open { base, file, dev: meta.dev(), ino: meta.ino(), eoa: 0, eof: meta.len(), truncated: None, pages, tail: Tail::default(), session };
    Box::into_raw(Box::new(open)).cast::<Base>()
}

unsafe extern "C" fn close(file: *mut Base) -> herr_t {
    // SAFETY: `file` came from `open` and HDF5 closes it once.
    let mut open = unsafe { Box::from_raw(file.cast::<Open>()) };
    open.write_tail();
    let len = open.truncated.unwrap_or(open.eof);
    *lock(&open.session.pending) = Some(Pending { pages: open.pages, len });
    0
}

unsafe extern "C" fn cmp(a: *const Base, b: *const Base) -> c_int {
    // SAFETY: both come from `open`; shared references, so `a == b` is fine.
    let (a, b) = unsafe { (state(a), state(b)) };
    match (a.dev, a.ino).cmp(&(b.dev, b.ino)) {
        std::cmp::Ordering::Less => -1,
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Greater => 1,
    }
}

unsafe extern "C" fn query(_file: *const Base, flags: *mut c_ulong) -> herr_t {
    // Aggregate and accumulate metadata, sieve raw data, aggregate small data: as sec2.
    // SAFETY: HDF5 passes a valid out-pointer.
    unsafe {
        *flags = 0x01 | 0x02 | 0x04 | 0x08 | 0x10;
    }
    0
}

unsafe extern "C" fn get_eoa(file: *const Base, _type: MemType) -> haddr_t {
    // SAFETY: from `open`.
    unsafe { state(file) }.eoa
}

unsafe extern "C" fn set_eoa(file: *mut Base, _type: MemType, addr: haddr_t) -> herr_t {
    // SAFETY: from `open`; the only reference in this callback.
    unsafe { state_mut(file) }.eoa = addr;
    0
}

/// The "handle" of a file of this driver is its state (for [`append`]).
unsafe extern "C" fn get_handle(file: *mut Base, _fapl: hid_t, handle: *mut *mut c_void) -> herr_t {
    // SAFETY: HDF5 passes a valid out-pointer.
    unsafe { *handle = file.cast() };
    0
}

/// The state of the open file `file_id`, when it is open with this driver.
///
/// # Safety
/// No driver callback of this file runs (the caller holds the HDF5 lock and is not inside
/// an HDF5 call), and the state is not used past the next HDF5 call on the file.
unsafe fn open_state<'a>(file_id: hid_t, path: &std::path::Path) -> Result<&'a mut Open> {
    let fail = |op, message: &str| Error::Hdf5 { op, object: "/".into(), path: path.into(), message: message.into() };
    // SAFETY: plain queries of an open file id; the access list is closed here.
    unsafe {
        let fapl = hdf5_sys::h5f::H5Fget_access_plist(file_id);
        if fapl < 0 {
            return Err(fail("append to", "no file-access list"));
        }
        let ours = hdf5_sys::h5p::H5Pget_driver(fapl) == driver()?;
        let mut handle: *mut c_void = std::ptr::null_mut();
        let ret = if ours { hdf5_sys::h5f::H5Fget_vfd_handle(file_id, fapl, &raw mut handle) } else { -1 };
        hdf5_sys::h5p::H5Pclose(fapl);
        if !ours || ret < 0 || handle.is_null() {
            return Err(fail("append to", "the file is not open with the crash-safe driver"));
        }
        // `get_handle` returned the `Open` this driver's `open` made; no callback holds
        // a reference to it now (the caller's contract).
        Ok(state_mut(handle.cast()))
    }
}

/// The end of allocation of the file `file_id` (open with this driver).
pub(crate) fn end_of_allocation(file_id: hid_t, path: &std::path::Path) -> Result<u64> {
    // SAFETY: called between HDF5 calls, under the HDF5 lock (the layout's).
    Ok(unsafe { open_state(file_id, path) }?.eoa)
}

/// Whether the writes buffered for `file_id` (open with this driver) are half way to a
/// write-out.
pub(crate) fn tail_half_full(file_id: hid_t, path: &std::path::Path) -> Result<bool> {
    // SAFETY: called between HDF5 calls, under the HDF5 lock (the layout's).
    Ok(unsafe { open_state(file_id, path) }?.tail.is_half_full())
}

/// Allocates `bytes.len()` bytes at the end of allocation of `file_id`, which must be
/// `at`, and writes `bytes` there: object headers encoded outside libhdf5, or space the
/// ranks fill (`bytes` empty, `len` given). libhdf5 allocates its own metadata past them.
pub(crate) fn append(file_id: hid_t, path: &std::path::Path, at: u64, bytes: &[u8], len: u64) -> Result<()> {
    // SAFETY: called between HDF5 calls, under the HDF5 lock (the layout's).
    let open = unsafe { open_state(file_id, path) }?;
    if open.eoa != at {
        return Err(Error::Hdf5 {
            op: "append to",
            object: "/".into(),
            path: path.into(),
            message: format!("HDF5 allocated space at {} while encoded objects were prepared for {at}", open.eoa),
        });
    }
    open.eoa = at + len.max(bytes.len() as u64);
    if bytes.is_empty() {
        return Ok(());
    }
    open.write_metadata(at, bytes);
    Ok(())
}

unsafe extern "C" fn get_eof(file: *const Base, _type: MemType) -> haddr_t {
    // SAFETY: from `open`.
    unsafe { state(file) }.eof
}

unsafe extern "C" fn read(file: *mut Base, _type: MemType, _dxpl: hid_t, addr: haddr_t, size: usize, buf: *mut c_void) -> herr_t {
    // SAFETY: from `open`; HDF5 passes a buffer of `size` bytes that nothing else refers
    // to during the call (it is not the file's state).
    let (open, buf) = unsafe { (state(file), std::slice::from_raw_parts_mut(buf.cast::<u8>(), size)) };
    match open.read(addr, buf) {
        Ok(()) => 0,
        Err(e) => open.session.fail_read(e),
    }
}

unsafe extern "C" fn write(file: *mut Base, kind: MemType, _dxpl: hid_t, addr: haddr_t, size: usize, buf: *const c_void) -> herr_t {
    // SAFETY: from `open`, the only reference in this callback; HDF5 passes a buffer of
    // `size` bytes.
    let (open, buf) = unsafe { (state_mut(file), std::slice::from_raw_parts(buf.cast::<u8>(), size)) };
    // A failed write is recorded and the session poisoned, but HDF5 is told it worked:
    // HDF5 1.10 cannot recover from a failed write while it closes a file (it leaves the
    // file half torn down and crashes at library exit). From then on metadata stays in
    // memory, raw data is dropped, and the transaction, which sees the error, never
    // commits.
    if open.session.is_poisoned() && kind == MEM_DRAW {
        return 0;
    }
    if kind != MEM_DRAW {
        open.write_metadata(addr, buf);
    } else if let Err(e) = open.write(addr, buf) {
        open.session.fail_write(e);
    }
    0
}

unsafe extern "C" fn flush(file: *mut Base, _dxpl: hid_t, _closing: bool) -> herr_t {
    // SAFETY: from `open`, the only reference in this callback.
    unsafe { state_mut(file) }.write_tail();
    0
}

unsafe extern "C" fn truncate(file: *mut Base, _dxpl: hid_t, _closing: bool) -> herr_t {
    // SAFETY: from `open`, the only reference in this callback.
    let open = unsafe { state_mut(file) };
    if open.session.is_poisoned() {
        return 0;
    }
    if open.eoa < open.session.committed_end {
        open.truncated = Some(open.eoa);
        return 0;
    }
    open.truncated = None;
    open.write_tail();
    if open.session.is_poisoned() {
        return 0;
    }
    if open.eoa != open.eof {
        if let Err(e) = open.file.set_len(open.eoa) {
            // As for writes: recorded, and HDF5 goes on (see `write`).
            open.session.fail_write(e);
            return 0;
        }
        open.eof = open.eoa;
    }
    0
}

impl Open {
    /// Bytes below this offset are kept in memory: the committed end, or every byte once
    /// the session is poisoned (nothing reaches the disk any more, and HDF5 reads back
    /// what it wrote, so that its clean-up finds consistent metadata).
    fn limit(&self) -> u64 {
        if self.session.is_poisoned() { u64::MAX } else { self.session.committed_end }
    }

    /// Reads `[addr, addr + buf.len())`: deferred pages from memory, the rest from disk,
    /// zeros past the end of the file.
    fn read(&self, addr: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let limit = self.limit();
        let mut done = 0usize;
        while done < buf.len() {
            let pos = addr + done as u64;
            let page = pos / PAGE * PAGE;
            let end = if pos < limit { page + PAGE } else { u64::MAX };
            let n = usize::try_from((end - pos).min((buf.len() - done) as u64)).unwrap_or(usize::MAX);
            let out = &mut buf[done..done + n];
            let at = usize::try_from(pos - page).unwrap_or(usize::MAX);
            // A page may stop short of the page size (at the committed end): the rest of
            // it is on disk.
            let have = match self.pages.get(&page).filter(|_| pos < limit) {
                Some(p) => {
                    let have = p.new.len().saturating_sub(at).min(n);
                    out[..have].copy_from_slice(&p.new[at..at + have]);
                    have
                }
                None => 0,
            };
            if have < n {
                read_disk(&self.file, &self.tail, pos + have as u64, &mut out[have..])?;
            }
            done += n;
        }
        Ok(())
    }

    /// Writes `buf` at `addr`: bytes below [`Open::limit`] into deferred pages, the rest
    /// straight to the file.
    fn write(&mut self, addr: u64, buf: &[u8]) -> std::io::Result<()> {
        let limit = self.limit();
        let mut done = 0usize;
        while done < buf.len() {
            let pos = addr + done as u64;
            if pos >= limit {
                let rest = &buf[done..];
                self.eof = self.eof.max(addr + buf.len() as u64);
                if rest.len() >= tail::LIMIT {
                    // Large raw data goes straight to disk, after what was buffered before
                    // it (which it may overwrite).
                    self.tail.write_out(&self.file)?;
                    return self.file.write_all_at(rest, pos);
                }
                self.tail.put(pos, rest);
                return if self.tail.is_full() { self.tail.write_out(&self.file) } else { Ok(()) };
            }
            let page = pos / PAGE * PAGE;
            let page_end = (page + PAGE).min(limit);
            let n = usize::try_from((page_end - pos).min((buf.len() - done) as u64)).unwrap_or(usize::MAX);
            let at = usize::try_from(pos - page).unwrap_or(usize::MAX);
            let p = match self.pages.entry(page) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    let mut old = vec![0u8; usize::try_from(page_end - page).unwrap_or(0)];
                    read_disk(&self.file, &self.tail, page, &mut old)?;
                    e.insert(Page { new: old.clone(), old })
                }
            };
            if p.new.len() < at + n {
                // A page cut at the committed end, written past it after a failure.
                let from = p.new.len();
                let mut more = vec![0u8; at + n - from];
                read_disk(&self.file, &self.tail, page + from as u64, &mut more)?;
                p.new.extend_from_slice(&more);
            }
            p.new[at..at + n].copy_from_slice(&buf[done..done + n]);
            self.eof = self.eof.max(pos + n as u64);
            done += n;
        }
        Ok(())
    }

    /// Writes metadata at `addr`: a failure poisons the session (see the `write`
    /// callback), and the bytes then stay in memory, where reads find them.
    fn write_metadata(&mut self, addr: u64, buf: &[u8]) {
        if let Err(e) = self.write(addr, buf) {
            self.session.fail_write(e);
            let _ = self.write(addr, buf);
        }
    }

    /// Writes the buffered writes out, unless the session is poisoned (then they stay in
    /// memory, where reads find them); a failure poisons it (see `write`).
    fn write_tail(&mut self) {
        if !self.session.is_poisoned() {
            if let Err(e) = self.tail.write_out(&self.file) {
                self.session.fail_write(e);
            }
        }
    }
}

/// Reads what `file` holds at `pos` apart from deferred pages: `tail`'s buffered writes
/// over the disk.
fn read_disk(file: &File, tail: &Tail, pos: u64, out: &mut [u8]) -> std::io::Result<()> {
    if !tail.read(pos, out) {
        read_or_zero(file, pos, out)?;
        tail.apply(pos, out);
    }
    Ok(())
}

/// Reads at `pos`, filling with zeros what lies past the end of the file.
fn read_or_zero(file: &File, pos: u64, out: &mut [u8]) -> std::io::Result<()> {
    let mut done = 0;
    while done < out.len() {
        match file.read_at(&mut out[done..], pos + done as u64)? {
            0 => {
                out[done..].fill(0);
                return Ok(());
            }
            n => done += n,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_file(content: &[u8], committed_end: u64) -> (tempfile::TempDir, Open) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, content).unwrap();
        let file = OpenOptions::new().read(true).write(true).open(&path).unwrap();
        // SAFETY: a zeroed Base, as HDF5 would receive it.
        let base: Base = unsafe { std::mem::zeroed() };
        let open = Open { base, file, dev: 0, ino: 0, eoa: 0, eof: content.len() as u64, truncated: None, pages: BTreeMap::new(), tail: Tail::default(), session: Session::new(committed_end) };
        (dir, open)
    }

    #[test]
    fn writes_below_the_committed_end_stay_in_memory() {
        let (dir, mut f) = open_file(&[1u8; 10_000], 8192);
        f.write(4090, &[7u8; 20]).unwrap();
        assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), vec![1u8; 10_000], "disk untouched");
        let mut back = [0u8; 30];
        f.read(4085, &mut back).unwrap();
        assert_eq!(&back[..5], &[1; 5]);
        assert_eq!(&back[5..25], &[7; 20]);
        assert_eq!(&back[25..], &[1; 5]);
        assert_eq!(f.pages.len(), 2, "the write spans two pages");
        assert_eq!(f.pages[&0].old, vec![1u8; 4096]);
    }

    #[test]
    fn writes_past_the_committed_end_go_to_disk_and_split_at_it() {
        let (dir, mut f) = open_file(&[1u8; 8192], 8100);
        f.write(8000, &[9u8; 400]).unwrap();
        assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), vec![1u8; 8192], "buffered until written out");
        let mut back = [0u8; 500];
        f.read(8000, &mut back).unwrap();
        assert_eq!(&back[..400], &[9u8; 400], "reads see the buffered bytes");
        f.write_tail();
        let disk = std::fs::read(dir.path().join("f")).unwrap();
        assert_eq!(disk.len(), 8400);
        assert_eq!(&disk[8000..8100], &[1u8; 100], "below the committed end: deferred");
        assert_eq!(&disk[8100..8400], &[9u8; 300], "past it: written");
        assert_eq!(f.pages[&4096].new.len(), 8100 - 4096, "the last page stops at the committed end");
        let mut back = [0u8; 500];
        f.read(8000, &mut back).unwrap();
        assert_eq!(&back[..400], &[9u8; 400]);
        assert_eq!(&back[400..], &[0u8; 100], "zeros past the end of the file");
    }

    #[test]
    fn a_large_write_past_the_committed_end_goes_to_disk_after_what_was_buffered() {
        let (dir, mut f) = open_file(&[], 0);
        f.write(10, &[1u8; 100]).unwrap();
        let big = vec![2u8; tail::LIMIT];
        f.write(50, &big).unwrap();
        let disk = std::fs::read(dir.path().join("f")).unwrap();
        assert_eq!(disk.len(), 50 + tail::LIMIT, "written at once");
        assert_eq!(&disk[10..50], &[1u8; 40], "the buffered bytes first");
        assert!(disk[50..].iter().all(|b| *b == 2), "then the large write, over them");
    }

    #[test]
    fn after_a_failure_nothing_reaches_the_disk_and_reads_see_what_was_written() {
        let (dir, mut f) = open_file(&[1u8; 8192], 6000);
        f.write(5000, &[2u8; 100]).unwrap();
        f.session.abandon();
        f.write(5900, &[3u8; 300]).unwrap();
        f.write(20_000, &[4u8; 10]).unwrap();
        assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), vec![1u8; 8192], "disk untouched");
        let mut back = [0u8; 400];
        f.read(5800, &mut back).unwrap();
        assert_eq!(&back[..100], &[1u8; 100]);
        assert_eq!(&back[100..400], &[3u8; 300], "the page cut at the committed end grew in memory");
        let mut tail = [9u8; 12];
        f.read(19_999, &mut tail).unwrap();
        assert_eq!(tail, [0, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 0]);
    }
}
